"""Thread counts of the benchmarks. Every group runs on one thread (torch's
pool and every BLAS/OpenMP pool threadpoolctl reaches) unless it says
otherwise: the default-threads groups run on every core this process may use,
for their own duration only (conftest's ``threads`` fixture)."""

from contextlib import contextmanager

from bptt._threads import cores

ONE = 1
DEFAULT_THREADS = cores()  # the cores this process may run on
#: one thread, then all of them (just one entry on a one-core machine)
THREAD_COUNTS = sorted({ONE, DEFAULT_THREADS})


@contextmanager
def limited_threads(count: int):
    """torch and every loaded BLAS/OpenMP pool at ``count`` threads; restored on exit.
    threadpoolctl reaches only libraries already loaded: call ``bptt.backends()`` first
    (it loads scipy's OpenBLAS, which bptt's compiled kernels call)."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        with threadpool_limits(limits=count):
            yield count
    finally:
        torch.set_num_threads(before)
