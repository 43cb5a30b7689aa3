"""Which kernel backends this installation has, and how a name picks one.

A backend is a namespace with one module per cell family (``bptt._families``
lists them), each with the same kernel names; ``family(name)`` returns one.
Backends are probed lazily, the first time anyone asks, so ``import bptt``
stays cheap and a missing or broken numba or Cython build only removes that
backend.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import warnings
from types import SimpleNamespace

from ._families import FAMILIES

#: Fastest first: what ``backend="auto"`` prefers.
BACKEND_ORDER = ("cython", "numba", "numpy")
ENV_VAR = "BPTT_BACKEND"

_loaded: dict[str, SimpleNamespace] = {}
_failed: dict[str, str] = {}

#: What to do about each missing backend.
FIXES = {
    "cython": "install a C compiler (gcc or clang; MSVC Build Tools on Windows) and reinstall "
              "bptt from source (pip install --force-reinstall --no-deps --no-binary bptt bptt, "
              "or pip install . in a clone); set BPTT_NO_CYTHON=1 to run without it quietly",
    "numba": 'pip install "bptt[numba]" (or pip install numba)',
    "numpy": "reinstall bptt: its NumPy backend is plain Python",
}


def _probe(name: str) -> None:
    if name in _loaded or name in _failed:
        return
    try:
        # every family, so that a backend is either whole or absent
        modules = {f: importlib.import_module(f"bptt._{name}.{f}") for f in FAMILIES}
    except Exception as exc:  # noqa: BLE001 - any import failure means "not here"
        _failed[name] = f"{type(exc).__name__}: {exc}"
    else:
        _loaded[name] = SimpleNamespace(name=name, family=modules.__getitem__)


def backends() -> tuple[str, ...]:
    """The backends that import here, fastest first, e.g. ``("cython", "numba", "numpy")``."""
    for name in BACKEND_ORDER:
        _probe(name)
    return tuple(name for name in BACKEND_ORDER if name in _loaded)


def unavailable() -> dict[str, str]:
    """Why each missing backend is missing and how to get it (backend name ->
    "import error. Fix: ...")."""
    backends()
    return {name: f"{why}. Fix: {FIXES[name]}" for name, why in _failed.items()}


def simd() -> str | None:
    """The instruction set of the Cython backend's float32 recurrent-product
    kernel: "avx512", "avx2" or "none" (BLAS), as the CPU and the BPTT_SIMD
    environment variable (read once, on first use) allow; None without the
    Cython backend."""
    if "cython" not in backends():
        return None
    return _loaded["cython"].family("gru").simd()


def _findable(module: str) -> bool:
    """Whether ``module`` is installed, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def warn_without_cython() -> None:
    """Say once, at import, that the compiled backend is missing: everything
    still works, on Numba or 10-60x slower on NumPy. ``BPTT_NO_CYTHON=1``
    silences it. Only looks for the compiled files (importing them would pull
    in scipy.linalg at ``import bptt``); one that is there but fails to load
    shows in ``unavailable()``."""
    if os.environ.get("BPTT_NO_CYTHON", "") == "1":
        return
    missing = [f for f in FAMILIES if not _findable(f"bptt._cython.{f}")]
    if missing:
        fallback = "Numba" if _findable("numba") else "NumPy (10-60x slower)"
        warnings.warn(
            f"bptt's compiled Cython backend is not available (no compiled module "
            f"bptt._cython.{missing[0]}), so bptt runs on {fallback}. Fix: {FIXES['cython']}.",
            RuntimeWarning, stacklevel=3)


def get_backend(backend: str | None = "auto") -> SimpleNamespace:
    """Resolve a backend name to its kernel namespace.

    ``"auto"`` (or ``None``) means the ``BPTT_BACKEND`` environment variable if
    it is set, else the fastest backend available.
    """
    if backend is None:
        backend = "auto"
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a str, got {type(backend).__name__}")
    name = backend.strip().lower()
    source = "backend"
    if name == "auto":
        env = os.environ.get(ENV_VAR, "").strip().lower()
        if env and env != "auto":
            name, source = env, f"the {ENV_VAR} environment variable"
        else:
            return _loaded[backends()[0]]
    if name not in BACKEND_ORDER:
        raise ValueError(
            f"{source} must be one of 'auto', {', '.join(repr(b) for b in BACKEND_ORDER)}; "
            f"got {backend if source == 'backend' else name!r}"
        )
    _probe(name)
    if name not in _loaded:
        raise ValueError(
            f"{source} asks for {name!r}, which is not available here "
            f"({_failed[name]}); available: {backends()}"
        )
    return _loaded[name]
