"""Shared fixtures for the bptt test suite.

``backend`` runs a test once per backend ("numpy", "numba", "cython"); a
backend this installation lacks is skipped, unless the environment sets
``BPTT_REQUIRE_ALL_BACKENDS=1`` (CI after a full build), which turns every
such skip into a failure. ``dtype`` runs a test in float32 and float64, and
``TOLERANCE`` (the ``tol`` fixture) gives what ``assert_close`` allows for each.

Helpers here are imported by the test modules as ``from conftest import ...``
(tests/ has no ``__init__.py``, so pytest puts it on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import bptt

BACKEND_NAMES = ("numpy", "numba", "cython")
COMPILED_BACKENDS = ("numba", "cython")
REQUIRE_ALL_BACKENDS = os.environ.get("BPTT_REQUIRE_ALL_BACKENDS", "") == "1"

_TINY = np.finfo(np.float64).tiny


@dataclass(frozen=True)
class Tolerance:
    """Allowed error: max|a - b| <= rtol * max(max|b|, floor)."""

    rtol: float
    floor: float = _TINY


#: Per dtype. float64 is the reference: purely relative, 1e-12. float32 keeps
#: 1e-5 relative, but measured against at least 0.1: the data in these tests
#: are O(1), and a gradient that is small because O(1) terms cancel (dx with
#: one input, say) carries float32 rounding of those terms, ~1e-7 absolute.
TOLERANCE = {
    np.dtype(np.float32): Tolerance(1e-5, floor=0.1),
    np.dtype(np.float64): Tolerance(1e-12),
}


def _lock_module():
    """fcntl where the platform has it (not on Windows), else None."""
    try:
        import fcntl
    except ImportError:
        return None
    return fcntl


@contextlib.contextmanager
def _locked(path: Path, fcntl) -> Iterator[None]:
    """An exclusive lock on the file ``path`` while the block runs."""
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_once(tmp_path_factory: pytest.TempPathFactory, name: str,
               build: Callable[[Path], object]) -> Path:
    """A directory that ``build(directory)`` filled, made once per test run.

    README's command runs the tests on pytest-xdist workers, each with its
    own session fixtures; a build that takes a minute (the wheel, the docs)
    would be made once per worker. Here the first worker to ask builds into
    a directory of the run that all its local workers share (the parent of
    their own "popen-gwN" temporary directories), under a file lock, and the
    others wait for it and reuse it. If that build fails, the others fail at
    once with its error instead of trying again. Without xdist, or without
    fcntl to lock with, each process builds in its own temporary directory.
    """
    root = tmp_path_factory.getbasetemp()
    fcntl = _lock_module()
    shared = fcntl is not None and root.name.startswith("popen-")
    if shared:
        root = root.parent  # this run's directory, above each local worker's own
    directory = root / f"built-{name}"
    done, failed = directory / ".complete", root / f"built-{name}.failed"
    with _locked(root / f"built-{name}.lock", fcntl) if shared else contextlib.nullcontext():
        if failed.exists():
            raise RuntimeError(f"building {name} failed in another worker:\n"
                               + failed.read_text(encoding="utf-8"))
        if not done.exists():
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir()
            try:
                build(directory)
            except BaseException as error:
                failed.write_text(f"{type(error).__name__}: {error}", encoding="utf-8")
                raise
            done.touch()
    return directory


class Counter:
    """Wraps a fast-path function and counts the calls it did not decline
    (those that returned something other than None)."""

    def __init__(self, fn):
        self.fn, self.taken, self.declined = fn, 0, 0

    def __call__(self, *args):
        out = self.fn(*args)
        if out is None:
            self.declined += 1
        else:
            self.taken += 1
        return out


def require_backend(name: str) -> str:
    """Skip (or, with BPTT_REQUIRE_ALL_BACKENDS=1, fail) unless ``name`` is available."""
    if name not in bptt.backends():
        why = bptt.unavailable().get(name, "unknown reason")
        message = f"backend {name!r} is not available here: {why}"
        if REQUIRE_ALL_BACKENDS:
            pytest.fail(f"{message} (BPTT_REQUIRE_ALL_BACKENDS=1 requires every backend)")
        pytest.skip(message)
    return name


@pytest.fixture(params=BACKEND_NAMES)
def backend(request) -> str:
    """Every backend, the missing ones skipped (or failed when all are required)."""
    return require_backend(request.param)


@pytest.fixture(params=COMPILED_BACKENDS)
def compiled_backend(request) -> str:
    """The backends that must agree with the NumPy reference."""
    return require_backend(request.param)


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request) -> np.dtype:
    return np.dtype(request.param)


@pytest.fixture
def tol(dtype) -> Tolerance:
    return TOLERANCE[dtype]


def assert_close(actual, expected, rtol: float | Tolerance, name: str = "") -> None:
    """max|actual - expected| <= rtol * max(max|expected|, tiny), same shape, all finite.

    ``rtol`` may be a ``Tolerance`` (from ``TOLERANCE`` / the ``tol`` fixture),
    whose floor then replaces ``tiny``.
    """
    floor = _TINY
    if isinstance(rtol, Tolerance):
        rtol, floor = rtol.rtol, rtol.floor
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    label = f"{name}: " if name else ""
    assert actual.shape == expected.shape, (
        f"{label}shape {actual.shape}, expected {expected.shape}"
    )
    assert np.isfinite(actual).all(), f"{label}non-finite values in {actual!r}"
    if actual.size == 0:
        return
    a = actual.astype(np.float64)
    b = expected.astype(np.float64)
    err = float(np.max(np.abs(a - b)))
    scale = max(float(np.max(np.abs(b))), floor)
    assert err <= rtol * scale, (
        f"{label}max|a-b| = {err:.3e} exceeds {rtol:g} * {scale:.3e} "
        f"(relative error {err / scale:.3e})"
    )
