"""The backend registry: what is available, what "auto" picks, how a name is refused.

``test_all_backends_are_built`` is how CI proves the compiled build is really
there: with BPTT_REQUIRE_ALL_BACKENDS=1 it fails (never skips) unless
``bptt.backends() == ("cython", "numba", "numpy")``.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import bptt
from bptt import _backend
from bptt._families import FAMILIES
from conftest import REQUIRE_ALL_BACKENDS, require_backend

ORDER = ("cython", "numba", "numpy")


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv("BPTT_BACKEND", raising=False)


@pytest.fixture
def only_numpy(monkeypatch):
    """Pretend the compiled backends failed to import."""
    numpy_ns = bptt.get_backend("numpy")
    monkeypatch.setattr(_backend, "_loaded", {"numpy": numpy_ns})
    monkeypatch.setattr(_backend, "_failed", {
        "cython": "ImportError: simulated missing build",
        "numba": "ModuleNotFoundError: simulated missing numba",
    })


def test_backends_are_ordered_fastest_first_and_include_numpy():
    names = bptt.backends()
    assert isinstance(names, tuple)
    assert "numpy" in names
    assert names[-1] == "numpy"
    assert list(names) == [n for n in ORDER if n in names]
    assert set(names) | set(bptt.unavailable()) == set(ORDER)
    assert not set(names) & set(bptt.unavailable())


def test_all_backends_are_built():
    if not REQUIRE_ALL_BACKENDS:
        pytest.skip("set BPTT_REQUIRE_ALL_BACKENDS=1 to require the compiled backends")
    assert bptt.backends() == ORDER, f"missing backends: {bptt.unavailable()}"


def test_cython_backend_is_compiled_code():
    require_backend("cython")
    bptt.GRUCell(2, 3, backend="cython", seed=0)  # imports the kernels
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    compiled = [name for name, module in list(sys.modules.items())
                if name.startswith("bptt._cython.")
                and str(getattr(module, "__file__", "")).endswith(suffixes)]
    assert compiled, "no bptt._cython module is an extension module"


def test_numba_backend_is_jitted():
    require_backend("numba")
    from numba.core.registry import CPUDispatcher

    ns = bptt.get_backend("numba")
    for family in FAMILIES:
        for kernel in ("seq_forward", "seq_infer", "seq_backward", "step_forward",
                       "step_backward"):
            function = getattr(ns.family(family), kernel)
            # seq_forward and seq_infer may choose between two jitted kernels
            # by the call's shape (_one_row in bptt._numba._sequence)
            for jitted in getattr(function, "kernels", (function,)):
                assert isinstance(jitted, CPUDispatcher), (family, kernel)



def test_numba_gets_lengths_read_only_with_or_without_lengths():
    """numba compiles a kernel once per argument type, and a read-only array is
    another type than a writeable one: the layers hand the sequence kernels a
    read-only lengths array whether the caller gave lengths or not, so that
    each loop compiles once per dtype (twice cost CI minutes)."""
    require_backend("numba")
    layer = bptt.GRU(3, 4, backend="numba", seed=0)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    layer(x, lengths=[5, 3])
    layer.backward(np.ones((5, 2, 4)))
    layer(x)
    layer.backward(np.ones((5, 2, 4)))
    layer.eval()
    layer(x, lengths=np.array([2, 5]))
    layer(x)
    kernels = bptt.get_backend("numba").family("gru")
    for name, at in (("seq_forward", 11), ("seq_infer", 10), ("seq_backward", 15)):
        function = getattr(kernels, name)
        signatures = [s for jitted in getattr(function, "kernels", (function,))
                      for s in jitted.signatures]
        assert signatures, name
        assert all(not s[at].mutable for s in signatures), (name, signatures)

def test_every_backend_has_every_family():
    """A family is its description plus its kernels in each backend: all three
    must be there, with the same sequence entry points."""
    for name in bptt.backends():
        ns = bptt.get_backend(name)
        for family in FAMILIES:
            module = ns.family(family)
            assert callable(module.seq_forward) and callable(module.seq_backward), (name, family)


def test_auto_picks_the_fastest(no_env):
    assert bptt.get_backend("auto").name == bptt.backends()[0]
    assert bptt.get_backend(None).name == bptt.backends()[0]
    assert bptt.GRUCell(2, 3, seed=0).backend == bptt.backends()[0]
    assert bptt.LSTMCell(2, 3, backend="auto", seed=0).backend == bptt.backends()[0]


def test_explicit_backend_is_used(backend, no_env):
    for cls in (bptt.GRU_Cell, bptt.GRUCell, bptt.RNNCell, bptt.LSTMCell):
        cell = cls(2, 3, backend=backend, seed=0)
        assert cell.backend == backend
        assert cell._kernels.__name__.startswith(f"bptt._{backend}.")
    assert bptt.GRUCell(2, 3, backend=f" {backend.upper()} ", seed=0).backend == backend


def test_environment_variable_sets_the_default(backend, monkeypatch):
    monkeypatch.setenv("BPTT_BACKEND", backend)
    assert bptt.GRUCell(2, 3, seed=0).backend == backend
    assert bptt.get_backend("auto").name == backend
    # an explicit argument still wins over the environment
    assert bptt.GRUCell(2, 3, backend="numpy", seed=0).backend == "numpy"


def test_environment_variable_auto_means_fastest(monkeypatch):
    monkeypatch.setenv("BPTT_BACKEND", "auto")
    assert bptt.RNNCell(2, 3, seed=0).backend == bptt.backends()[0]


def test_unknown_backend_in_environment(monkeypatch):
    monkeypatch.setenv("BPTT_BACKEND", "gpu")
    message = ("the BPTT_BACKEND environment variable must be one of "
               "'auto', 'cython', 'numba', 'numpy'; got 'gpu'")
    with pytest.raises(ValueError, match=message):
        bptt.GRUCell(2, 3, seed=0)


def test_unknown_backend(no_env):
    with pytest.raises(ValueError, match="backend must be one of 'auto', 'cython', 'numba', "
                                         "'numpy'; got 'torch'"):
        bptt.get_backend("torch")


@pytest.mark.usefixtures("only_numpy", "no_env")
def test_simulated_missing_backends():
    assert bptt.backends() == ("numpy",)
    missing = bptt.unavailable()
    assert set(missing) == {"cython", "numba"}
    assert missing["cython"].startswith("ImportError: simulated missing build. Fix: install a C")
    assert missing["numba"].startswith("ModuleNotFoundError: simulated missing numba. Fix: pip")
    assert bptt.GRUCell(2, 3, seed=0).backend == "numpy"
    with pytest.raises(ValueError, match=(
        r"backend asks for 'cython', which is not available here "
        r"\(ImportError: simulated missing build\); available: \('numpy',\)"
    )):
        bptt.GRUCell(2, 3, backend="cython", seed=0)
    with pytest.raises(ValueError,
                       match=r"'numba', which is not available.*available: \('numpy',\)"):
        bptt.LSTMCell(2, 3, backend="numba", seed=0)


@pytest.mark.usefixtures("only_numpy")
def test_simulated_missing_backend_from_environment(monkeypatch):
    monkeypatch.setenv("BPTT_BACKEND", "numba")
    with pytest.raises(ValueError, match=(
        r"the BPTT_BACKEND environment variable asks for 'numba', which is not available "
        r"here .*; available: \('numpy',\)"
    )):
        bptt.RNNCell(2, 3, seed=0)


_CACHE_SCRIPT = textwrap.dedent("""
    import json, os
    import numpy as np
    import numba
    import bptt

    cell = bptt.GRUCell(3, 4, backend="numba", seed=0)
    cell.forward(np.ones((2, 3)), np.zeros((2, 4)))
    cell.backward(np.ones((2, 4)))
    print(json.dumps({
        "cache_dir": numba.config.CACHE_DIR,
        "backend": cell.backend,
        "kernel_file": cell._kernels.__file__,
        # the family's one-call step pair (exact arrays take it), bound copies
        # of bptt/_numba/_sequence.py's
        "drivers": [cell._kernels.cell_fast_forward.py_func.__qualname__,
                    cell._kernels.cell_fast_backward.py_func.__qualname__],
    }))
""")


def test_numba_writes_its_cache_to_numba_cache_dir(tmp_path):
    """With NUMBA_CACHE_DIR set, the numba kernels cache their machine code there.

    How numba behaves (0.6x, numba/core/caching.py): a ``cache=True`` function
    picks its cache directory once, when its decorator runs (when
    ``bptt._numba.<family>`` is imported), from ``numba.config.CACHE_DIR``;
    numba reads that from NUMBA_CACHE_DIR at its own import and again before
    each compilation. When it is set it wins over the ``__pycache__`` next to
    the source, and the files go to ``<dir>/<source dir name>_<hash>/``.
    Setting the variable inside this already-running process would not move
    the cache of modules imported earlier, so the check runs in one fresh
    interpreter, then looks at what that interpreter wrote.
    """
    pytest.importorskip("numba")
    require_backend("numba")
    cache_dir = tmp_path / "numba-cache"
    src = str(Path(bptt.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env.update(NUMBA_CACHE_DIR=str(cache_dir),
               PYTHONPATH=os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p))
    for var in ("BPTT_BACKEND", "NUMBA_DISABLE_JIT"):
        env.pop(var, None)
    proc = subprocess.run([sys.executable, "-c", _CACHE_SCRIPT], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["cache_dir"] == str(cache_dir)
    assert info["backend"] == "numba"
    kernel_file = Path(info["kernel_file"]).resolve()
    assert kernel_file.parent == Path(bptt.__file__).resolve().parent / "_numba"

    files = sorted(p for p in cache_dir.rglob("*") if p.is_file())
    assert files, f"numba wrote nothing under {cache_dir}"
    for path in files:  # all in the subdirectory numba derives from bptt/_numba/
        assert path.parent.parent == cache_dir and path.parent.name.startswith("_numba_"), path
    # an index (.nbi) and compiled code (.nbc) for both kernels the cell ran
    # (the family's one-call step pair, made from bptt/_numba/_sequence.py;
    # the step functions are inlined into them), named
    # "<module>.<function>-<line>.py<ver>[.<n>].nb?"
    written = {(p.name.split("-")[0], p.suffix) for p in files}
    kernels = [f"_sequence.{name}" for name in info["drivers"]]
    for kernel in kernels:
        for suffix in (".nbi", ".nbc"):
            assert (kernel, suffix) in written, (kernel, suffix, written)


_NO_CACHE_SCRIPT = textwrap.dedent("""
    import numba.core.caching as caching

    # No cache location at all, as with a read-only package and a read-only
    # home: numba then refuses cache=True when a kernel is decorated.
    caching.CacheImpl._locator_classes = []

    import json
    import numpy as np
    import bptt

    cell = bptt.GRUCell(3, 4, backend="numba", seed=0)
    print(json.dumps({"backends": bptt.backends(), "h": cell.forward(np.ones(3)).tolist()}))
""")


def test_numba_works_without_any_cache_location(tmp_path):
    """With nowhere to cache, the numba kernels compile per process instead of
    disappearing from ``bptt.backends()``."""
    pytest.importorskip("numba")
    require_backend("numba")
    src = str(Path(bptt.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    env.pop("BPTT_BACKEND", None)
    proc = subprocess.run([sys.executable, "-c", _NO_CACHE_SCRIPT], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "numba" in info["backends"]
    reference = bptt.GRUCell(3, 4, backend="numpy", seed=0).forward(np.ones(3))
    np.testing.assert_allclose(info["h"], reference, rtol=1e-12)
