"""Benchmarks run on one thread, for bptt and torch alike, so ratios compare like with like.

Run: ``python -m pytest benchmarks --benchmark-only`` (they are skipped by default).
"""

import pytest

import bptt

THREADS = 1


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    torch = pytest.importorskip("torch")
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(THREADS)
    with threadpool_limits(limits=THREADS):
        yield


def pytest_report_header(config):
    return f"bptt backends: {bptt.backends()}; threads: {THREADS} (torch and BLAS)"
