"""Benchmarks run on one thread, for bptt, torch and onnxruntime alike, so ratios
compare like with like; the default-threads groups (names ending "threads=N")
raise the limit to every core for their own duration.

Run: ``python -m pytest benchmarks --benchmark-only`` (they are skipped by default),
or ``bptt bench`` for the run and its table.
"""

import numpy as np
import pytest

import bptt
from _threads import DEFAULT_THREADS, ONE, limited_threads
from bptt.experiments.bench import flops


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    pytest.importorskip("torch")
    pytest.importorskip("threadpoolctl")
    bptt.backends()  # loads the backends (and scipy's OpenBLAS) first, so the limit reaches it
    with limited_threads(ONE):
        yield


@pytest.fixture
def threads(request):
    """This test's thread count for torch and every BLAS pool: one, or the value given
    by ``@pytest.mark.parametrize("threads", [...], indirect=True)``; one again after.
    Entering the limit again also reaches libraries loaded since the session began."""
    with limited_threads(getattr(request, "param", ONE)) as count:
        yield count


def _blas_threads() -> dict[str, int]:
    """Each BLAS/OpenMP pool's thread count, by library file: proof the limit reached it."""
    from threadpoolctl import threadpool_info

    return {info["filepath"].rsplit("/", 1)[-1]: info["num_threads"]
            for info in threadpool_info()}


@pytest.fixture
def describe(benchmark):
    """``describe(kind, shape, dtype, pass_, backend, T=1)`` names the group and
    fills ``extra_info`` so that report.py and ``--benchmark-compare`` need
    nothing but the JSON. ``shape`` is (input, hidden, batch); a cell call is
    kind "GRU_Cell", T = 1, batch 1. ``pass_`` is "fwd+bwd", "fwd" (a cell's
    forward), "inference" (a layer's forward keeping nothing for backward) or
    "streaming" (a layer's one-step eval forward, its state carried).
    A group run on more than one thread ends in " threads=N"."""
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
        threads = torch.get_num_threads()
        if threads != ONE:
            benchmark.group += f" threads={threads}"
        benchmark.extra_info.update({
            "kind": kind, "shape": list(shape), "T": T, "dtype": dtype, "pass": pass_,
            "backend": backend, "threads": threads, "blas_threads": _blas_threads(),
            "flops": flops(family, *shape, T=T, backward=pass_ == "fwd+bwd"),
        })
        if backend == "onnxruntime":
            benchmark.extra_info["onnxruntime"] = pytest.importorskip("onnxruntime").__version__

    return describe


def pytest_report_header(config):
    return (f"bptt backends: {bptt.backends()}; threads: {ONE} (torch, BLAS and onnxruntime), "
            f"{DEFAULT_THREADS} in the default-threads groups")
