"""bptt's annotations hold up for its users.

- mypy passes on the package (pyproject.toml's ``[tool.mypy]``: the public
  modules with ``disallow_untyped_defs``) and, in the same run, on
  ``typing_usage.py``, a user's script checked with ``--strict``'s settings;
- that script also runs, so what it type-checks is real usage;
- every public function, method and property of the public API is fully
  annotated (mypy alone would not notice an unannotated public method of a
  module checked without ``disallow_untyped_defs``, such as bptt.layers);
- the package ships ``py.typed``, so that a user's mypy reads all of it.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import bptt
import bptt.losses
import bptt.optim

ROOT = Path(__file__).resolve().parent.parent
USAGE = Path(__file__).with_name("typing_usage.py")

#: Sequence-layer properties written as ``property(lambda self: ...)``, which
#: cannot carry annotations (mypy reads them as Any); each docstring says what
#: it holds. A new public property must be annotated instead.
UNANNOTATED_PROPERTIES = frozenset({
    "input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
    "bidirectional", "dtype", "proj_size", "nonlinearity", "variant", "peepholes", "clip",
})


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                    reason="mypy is not installed (it is in the test extra)")
def test_mypy_is_clean_on_the_package_and_on_a_users_script(tmp_path):
    # a fresh cache: the run a CI machine does (about 30 s on 2 cores)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "pyproject.toml",
         "--cache-dir", str(tmp_path / "mypy_cache"), "src/bptt",
         str(USAGE.relative_to(ROOT))],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout, result.stdout


def test_the_typed_usage_script_runs():
    pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("typing_usage", USAGE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main()


def _public_api() -> dict[str, Any]:
    """Every public class and function by its documented name."""
    objects = {f"bptt.{name}": getattr(bptt, name) for name in bptt.__all__}
    for module in (bptt.losses, bptt.optim):
        for name, obj in vars(module).items():
            if not name.startswith("_") and getattr(obj, "__module__", None) == module.__name__:
                objects[f"{module.__name__}.{name}"] = obj
    if importlib.util.find_spec("torch") is not None:
        torch_api = importlib.import_module("bptt.torch")
        objects.update({f"bptt.torch.{name}": getattr(torch_api, name)
                        for name in torch_api.__all__})
    return {name: obj for name, obj in objects.items()
            if inspect.isclass(obj) or inspect.isfunction(obj)}


def _callables(qualname: str, obj: Any) -> Iterator[tuple[str, Callable[..., Any]]]:
    """The function itself, or a class's public methods and property getters
    that bptt defines (torch.nn's own members are torch's business)."""
    if inspect.isfunction(obj):
        yield qualname, obj
        return
    for name in dir(obj):
        if name.startswith("_") and name not in ("__init__", "__call__"):
            continue
        owner = next((k for k in obj.__mro__ if name in vars(k)), None)
        if owner is None or not owner.__module__.startswith("bptt"):
            continue
        member = vars(owner)[name]
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if isinstance(member, property):
            if owner.__module__ == "bptt.layers" and name in UNANNOTATED_PROPERTIES:
                continue
            member = member.fget
        if inspect.isfunction(member):
            yield f"{qualname}.{name}", member


def _missing_annotations(func: Callable[..., Any]) -> list[str]:
    func = inspect.unwrap(func)
    names = list(inspect.signature(func).parameters)
    if names and names[0] in ("self", "cls"):
        names = names[1:]
    annotations = func.__annotations__
    return [n for n in [*names, "return"] if n not in annotations]


def test_the_public_api_is_fully_annotated():
    api = _public_api()
    assert {"bptt.GRU_Cell", "bptt.GRU", "bptt.losses.nll_loss", "bptt.optim.Adam"} <= set(api)
    gaps = {}
    checked = 0
    for qualname, obj in api.items():
        for name, func in _callables(qualname, obj):
            checked += 1
            missing = _missing_annotations(func)
            if missing:
                gaps[name] = missing
    assert checked > 100
    assert not gaps, f"public callables without annotations (name: what lacks one): {gaps}"


def test_the_package_ships_py_typed():
    assert (Path(bptt.__file__).parent / "py.typed").is_file()
