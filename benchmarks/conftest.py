"""Benchmarks run on one thread, for bptt and torch alike, so ratios compare like with like.

Run: ``python -m pytest benchmarks --benchmark-only`` (they are skipped by default),
or ``bptt bench`` for the run and its table.
"""

import numpy as np
import pytest

import bptt
from bptt.experiments.bench import flops

THREADS = 1


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    torch = pytest.importorskip("torch")
    from threadpoolctl import threadpool_limits

    bptt.backends()  # loads the backends (and scipy's OpenBLAS) first, so the limit reaches it
    torch.set_num_threads(THREADS)
    with threadpool_limits(limits=THREADS):
        yield


@pytest.fixture
def describe(benchmark):
    """``describe(kind, shape, dtype, pass_, backend, T=1)`` names the group and
    fills ``extra_info`` so that report.py and ``--benchmark-compare`` need
    nothing but the JSON. ``shape`` is (input, hidden, batch); a cell call is
    kind "GRU_Cell", T = 1, batch 1."""
    torch = pytest.importorskip("torch")

    def describe(kind, shape, dtype, pass_, backend, T=1):
        dtype = np.dtype(dtype).name
        if kind == "GRU_Cell":
            benchmark.group = f"GRU cell {pass_} {shape[:2]} {dtype}"
            family = "GRU"
        elif kind.endswith("Cell"):  # the torch-style cells: GRUCell, RNNCell, LSTMCell
            benchmark.group = f"{kind} {pass_} {shape[:2]} {dtype}"
            family = kind[: -len("Cell")]
        else:
            benchmark.group = f"{kind} T={T} {pass_} {shape} {dtype}"
            family = kind
        benchmark.extra_info.update({
            "kind": kind, "shape": list(shape), "T": T, "dtype": dtype, "pass": pass_,
            "backend": backend, "threads": torch.get_num_threads(),
            "flops": flops(family, *shape, T=T, backward=pass_ == "fwd+bwd"),
        })

    return describe


def pytest_report_header(config):
    return f"bptt backends: {bptt.backends()}; threads: {THREADS} (torch and BLAS)"
