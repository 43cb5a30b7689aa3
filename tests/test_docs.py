"""The documentation builds with Sphinx, warnings as errors, and has a page for
every public class and function.

The build runs on a copy of docs/ (autosummary writes its stub pages into the
source folder), offline (no intersphinx), in a subprocess that imports the
same bptt as this test.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import bptt
import bptt.losses
import bptt.optim
from conftest import build_once

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("sphinx") is None or importlib.util.find_spec("myst_parser") is None,
    reason="Sphinx and myst-parser are not installed (pip install 'bptt[docs]')",
)


def public_names() -> list[str]:
    """The dotted name of every public class and function, as the API page lists it."""
    import bptt.torch

    names = [f"bptt.{name}" for name in bptt.__all__
             if inspect.isclass(getattr(bptt, name)) or inspect.isfunction(getattr(bptt, name))]
    for module in (bptt.losses, bptt.optim):
        names += [f"{module.__name__}.{name}" for name, obj in vars(module).items()
                  if not name.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
                  and obj.__module__ == module.__name__]
    names += [f"bptt.torch.{name}" for name in bptt.torch.__all__]
    return names


def build_docs(work: Path) -> None:
    """Sphinx on a copy of docs/ into work/html; its outcome into work/result.json."""
    source, output = work / "source", work / "html"
    shutil.copytree(DOCS, source, ignore=shutil.ignore_patterns("_build", "generated"))
    env = dict(os.environ)
    # the bptt this test imported, installed or not
    package_root = str(Path(bptt.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         str(source), str(output)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    outcome = {"returncode": result.returncode, "stdout": result.stdout,
               "stderr": result.stderr, "seconds": time.perf_counter() - start}
    (work / "result.json").write_text(json.dumps(outcome), encoding="utf-8")


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """(Sphinx's outcome, the html directory, seconds), once per test run (build_once)."""
    pytest.importorskip("torch")  # bptt.torch's pages import it
    work = build_once(tmp_path_factory, "docs", build_docs)
    outcome = json.loads((work / "result.json").read_text(encoding="utf-8"))
    result = SimpleNamespace(**{k: outcome[k] for k in ("returncode", "stdout", "stderr")})
    return result, work / "html", outcome["seconds"]


def test_the_docs_build_without_warnings(built):
    result, output, seconds = built
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    assert (output / "index.html").is_file()
    print(f"docs built in {seconds:.1f} s")


def test_every_public_class_and_function_has_a_page(built):
    result, output, _ = built
    assert result.returncode == 0, result.stderr
    names = public_names()
    assert {"bptt.GRU_Cell", "bptt.GRU", "bptt.torch.GRU", "bptt.losses.nll_loss",
            "bptt.optim.Adam"} <= set(names)
    missing = []
    for name in names:
        page = output / "generated" / f"{name}.html"
        if not page.is_file() or f'id="{name}"' not in page.read_text(encoding="utf-8"):
            missing.append(name)
    assert not missing, f"no API page (or no anchor) for {missing}: list them in docs/api.rst"


def test_the_api_pages_show_signatures_and_members(built):
    _, output, _ = built
    gru = (output / "generated" / "bptt.GRU.html").read_text(encoding="utf-8")
    for anchor in ("bptt.GRU.forward", "bptt.GRU.backward", "bptt.GRU.parameters",
                   "bptt.GRU.zero_grad"):
        assert f'id="{anchor}"' in gru, anchor
    assert "TypeAliasForwardRef" not in gru  # aliases print by name
    torch_gru = (output / "generated" / "bptt.torch.GRU.html").read_text(encoding="utf-8")
    assert 'id="bptt.torch.GRU.forward"' in torch_gru
    assert 'id="bptt.torch.GRU.backend"' in torch_gru


def test_the_markdown_pages_are_in_the_site(built):
    _, output, _ = built
    index = (output / "index.html").read_text(encoding="utf-8")
    for page in ("api", "derivations", "performance", "building"):
        assert (output / f"{page}.html").is_file(), page
        assert f'href="{page}.html"' in index, page
    derivations = (output / "derivations.html").read_text(encoding="utf-8")
    # dollarmath handed every formula to MathJax: none is left as raw $$ ... $$ text
    assert 'class="math' in derivations
    assert "$$" not in derivations
