"""How many threads bptt's own loops use, and running work on them.

The compiled kernels release the GIL, so Python threads run them in
parallel. bptt splits two kinds of work across threads, and only these:

- the rows of a batch (every row's recurrence is independent of the
  others', through every layer): each thread runs the whole stack on its
  rows, with its own input projection, steps and gradients; and
- the two directions of a bidirectional layer, where the batch is too
  small to split.

How many: ``set_num_threads(n)`` if it was called, else the environment
variable ``BPTT_NUM_THREADS`` if it is set, else what the BLAS libraries
loaded here are allowed (the fewest of them: numpy's and scipy's OpenBLAS),
which follows threadpoolctl's ``threadpool_limits``, ``OMP_NUM_THREADS`` /
``OPENBLAS_NUM_THREADS``, and never more than the cores this process may run
on. (Counting numpy's too means a ``threadpool_limits`` entered before
bptt first loaded scipy's BLAS still holds bptt to it.) While bptt's threads
run, the BLAS its kernels call is held at one thread, so the two pools never
oversubscribe the cores; it gets its count back afterwards.

Without threadpoolctl (a dependency, but one an install may lack) bptt
cannot read or hold the BLAS's count: it then runs on one thread unless
``set_num_threads`` or ``BPTT_NUM_THREADS`` asks for more.

A caller may lend bptt other threads for a while (``running_on``, on the
calling thread only): bptt.torch hands bptt torch's own OpenMP threads,
which keep spinning between torch's operations and would otherwise take
the cores from bptt's. ``get_num_threads`` is then at most their number.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import importlib.util
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

Result = TypeVar("Result")

_requested: int | None = None
_executor: concurrent.futures.ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()
_blas_hold = threading.Lock()      # one parallel region at a time lowers the BLAS count
_holders = 0
_held_count = 1
_lent = threading.local()          # .threads: (count, run) while running_on holds, per thread

#: ``run(work, items)``: ``[work(item) for item in items]``, on someone else's threads
Runner = Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]]


def cores() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def set_num_threads(threads: int | None) -> None:
    """Use ``threads`` threads in bptt's own loops (None: the default, which
    follows the BLAS limit; see ``get_num_threads``)."""
    global _requested
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int):
            raise TypeError(f"threads must be an int or None, got {type(threads).__name__}")
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
    _requested = threads


def get_num_threads() -> int:
    """The threads bptt's loops may use now: ``set_num_threads``'s value, or
    ``BPTT_NUM_THREADS``, or else the fewest threads any loaded BLAS may use
    (as threadpoolctl or the environment limit them), at most the cores
    available; 1 without threadpoolctl. Within ``running_on`` on this
    thread, at most the threads it lends (bptt.torch: torch's count)."""
    lent = getattr(_lent, "threads", None)
    count = _own_num_threads()
    return count if lent is None else max(1, min(count, lent[0]))


def _own_num_threads() -> int:
    """``get_num_threads`` but for ``running_on``'s limit."""
    if _requested is not None:
        return _requested
    from_environment = _from_environment()
    if from_environment is not None:
        return from_environment
    blas = kernels_blas()
    if blas is None:
        return 1
    with _blas_hold:
        counts = [_held_count if _holders and c is blas else c.get_num_threads()
                  for c in all_blas()]
    return max(1, min(*(int(n or 1) for n in counts), cores()))


@contextlib.contextmanager
def running_on(threads: int, run: Runner | None) -> Iterator[None]:
    """On the calling thread, for the duration: bptt's loops use at most
    ``threads`` threads, and ``run_parallel`` hands its items to ``run``
    (which returns each item's result in order, or raises once every item
    has finished) instead of bptt's pool; ``run=None`` keeps bptt's pool,
    with the limit. Other threads are not affected; the previous setting
    comes back on exit (it nests)."""
    previous = getattr(_lent, "threads", None)
    _lent.threads = (threads, run)
    try:
        yield
    finally:
        _lent.threads = previous


@contextlib.contextmanager
def using(threads: int | None) -> Iterator[None]:
    """``set_num_threads(threads)`` for the duration, then the previous setting."""
    previous = _requested
    set_num_threads(threads)
    try:
        yield
    finally:
        set_num_threads(previous)


@functools.cache
def _from_environment() -> int | None:
    """BPTT_NUM_THREADS, read once; None if unset, empty or not a count >= 1."""
    value = os.environ.get("BPTT_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) >= 1 else None


@functools.cache
def kernels_blas() -> Any:
    """threadpoolctl's controller of the BLAS bptt's kernels call, or None
    without threadpoolctl.

    That is scipy's (scipy.linalg.cython_blas: scipy.libs in scipy's wheels);
    numpy's wheels carry a copy of their own in numpy.libs, which only
    numpy's products use. Where one BLAS serves both (conda, a system BLAS),
    it is that one."""
    if importlib.util.find_spec("threadpoolctl") is None:
        return None
    controllers = all_blas()
    scipys = [c for c in controllers if _bundled_by(c.filepath) == "scipy"]
    not_numpys = [c for c in controllers if _bundled_by(c.filepath) != "numpy"]
    return (scipys or not_numpys or controllers or [None])[0]


def _bundled_by(filepath: str) -> str | None:
    """"numpy" or "scipy" for a library their wheels carry (in numpy.libs /
    scipy.libs, or numpy/.dylibs / scipy/.dylibs on macOS), else None. The
    directory tells, not the file's name: numpy's copy of OpenBLAS is called
    libscipy_openblas64_ too."""
    parent = os.path.dirname(filepath)
    folder, package = os.path.basename(parent), os.path.basename(os.path.dirname(parent))
    for name in ("numpy", "scipy"):
        if folder == f"{name}.libs" or (folder == ".dylibs" and package == name):
            return name
    return None


@functools.cache
def all_blas() -> list[Any]:
    """threadpoolctl's controllers of every BLAS loaded once the kernels are
    (only called where threadpoolctl imports)."""
    from threadpoolctl import ThreadpoolController

    from ._backend import backends

    backends()  # loads the kernels, and with them the BLAS they call
    return list(ThreadpoolController().select(user_api="blas").lib_controllers)


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """The kernels' BLAS at one thread for the duration (nested and
    concurrent regions share one hold; the last to leave restores it)."""
    global _holders, _held_count
    blas = kernels_blas()
    if blas is None:
        yield
        return
    with _blas_hold:
        if _holders == 0:
            _held_count = blas.get_num_threads()
            blas.set_num_threads(1)
        _holders += 1
    try:
        yield
    finally:
        with _blas_hold:
            _holders -= 1
            if _holders == 0:
                blas.set_num_threads(_held_count)


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=max(1, cores() - 1), thread_name_prefix="bptt")
        return _executor


def run_parallel(work: Callable[[Any], Result], items: Sequence[Any]) -> list[Result]:
    """``[work(item) for item in items]``, the first item on the calling
    thread and the others on bptt's pool (or on the threads ``running_on``
    lent this thread), with the kernels' BLAS at one thread meanwhile. An
    exception in any item is raised here (after every item has finished, so
    no worker still touches the caller's arrays)."""
    if len(items) < 2:
        return [work(item) for item in items]
    lent = getattr(_lent, "threads", None)
    run = lent[1] if lent is not None else None
    with _one_blas_thread():
        if run is not None:
            return run(work, items)
        futures = [_pool().submit(work, item) for item in items[1:]]
        try:
            first = work(items[0])
        finally:
            concurrent.futures.wait(futures)
        return [first, *(future.result() for future in futures)]


def row_groups(rows: int, threads: int, min_rows: int) -> list[tuple[int, int]] | None:
    """Split ``rows`` into at most ``threads`` contiguous, near-equal groups of
    at least ``min_rows`` each: [(start, stop), ...], or None for one group."""
    n = min(threads, rows // max(1, min_rows))
    if n < 2:
        return None
    bounds = [rows * i // n for i in range(n + 1)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))
