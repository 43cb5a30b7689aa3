"""Sequence layers, T = 100: forward (inference) and forward + backward
through time for every bptt backend and torch, in the same run, on the same
seeded data, one thread. Each workload and pass is its own group.

    python -m pytest benchmarks/test_bench_layers.py --benchmark-only
"""

import numpy as np
import pytest

import bptt

torch = pytest.importorskip("torch")

T = 100
KINDS = {
    "GRU": (bptt.GRU, torch.nn.GRU),
    "RNN": (bptt.RNN, torch.nn.RNN),
    "LSTM": (bptt.LSTM, torch.nn.LSTM),
}
SMALL_TO_LARGE = [(1, 6, 1), (65, 128, 1), (65, 128, 32), (256, 256, 32)]  # (input, hidden, batch)
# (kind, (input, hidden, batch), dtype): issue 6's list
WORKLOADS = (
    [("GRU", s, np.float32) for s in [(1, 6, 1), (65, 128, 1), (256, 256, 1), (65, 128, 32),
                                      (256, 256, 32), (1024, 1024, 32)]]
    + [("GRU", (65, 128, 32), np.float64)]
    + [(kind, s, np.float32) for kind in ("RNN", "LSTM") for s in SMALL_TO_LARGE]
)
BACKENDS = ["cython", "numba", "numpy", "torch"]
TORCH_DTYPES = {np.float32: torch.float32, np.float64: torch.float64}


def _id(workload):
    # float32 rows keep the names of earlier runs, for --benchmark-compare
    kind, shape, dtype = workload
    suffix = "" if dtype is np.float32 else f"-{np.dtype(dtype).name}"
    return "{}-I{}-H{}-B{}".format(kind, *shape) + suffix


def _data(shape, dtype):
    input_size, hidden, batch = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, batch, input_size)).astype(dtype)
    d_output = rng.standard_normal((T, batch, hidden)).astype(dtype)
    return x, d_output


def _bptt_layer(kind, shape, dtype, backend):
    if backend not in bptt.backends():
        pytest.skip(f"{backend} not available")
    return KINDS[kind][0](*shape[:2], backend=backend, dtype=dtype, seed=0)


def _torch_layer(kind, shape, dtype):
    torch.manual_seed(0)
    return KINDS[kind][1](*shape[:2]).to(TORCH_DTYPES[dtype])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("workload", WORKLOADS, ids=_id)
def test_layer_forward(benchmark, describe, workload, backend):
    kind, shape, dtype = workload
    describe(kind, shape, dtype, "fwd", backend, T=T)
    x, _ = _data(shape, dtype)
    if backend == "torch":
        layer, tx = _torch_layer(kind, shape, dtype), torch.from_numpy(x)

        def step():
            with torch.no_grad():
                return layer(tx)
    else:
        # inference mode keeps no cache: repeated forwards do not pile up memory
        layer = _bptt_layer(kind, shape, dtype, backend).eval()

        def step():
            return layer.forward(x)

    step()
    benchmark(step)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("workload", WORKLOADS, ids=_id)
def test_layer_forward_backward(benchmark, describe, workload, backend):
    kind, shape, dtype = workload
    describe(kind, shape, dtype, "fwd+bwd", backend, T=T)
    x, d_output = _data(shape, dtype)
    if backend == "torch":
        layer = _torch_layer(kind, shape, dtype)
        # x requires grad so that torch forms dx as bptt does
        tx, td = torch.from_numpy(x).requires_grad_(), torch.from_numpy(d_output)

        def step():
            output, _ = layer(tx)
            output.backward(td)
    else:
        layer = _bptt_layer(kind, shape, dtype, backend)

        def step():
            layer.forward(x)
            return layer.backward(d_output)

    step()
    benchmark(step)
