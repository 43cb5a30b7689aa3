"""Which kernel backends this installation has, and how a name picks one.

A backend is a namespace with one module per cell family (``bptt._families``
lists them), each with the same kernel names; ``family(name)`` returns one.
Backends are probed lazily, the first time anyone asks, so ``import bptt``
stays cheap and a missing or broken numba or Cython build only removes that
backend.
"""

from __future__ import annotations

import importlib
import os
from types import SimpleNamespace

from ._families import FAMILIES

#: Fastest first: what ``backend="auto"`` prefers.
BACKEND_ORDER = ("cython", "numba", "numpy")
ENV_VAR = "BPTT_BACKEND"

_loaded: dict[str, SimpleNamespace] = {}
_failed: dict[str, str] = {}


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
    """Why each missing backend is missing (backend name -> import error)."""
    backends()
    return dict(_failed)


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
