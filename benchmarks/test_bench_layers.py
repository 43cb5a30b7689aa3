"""Sequence layers, T = 100: forward + backward through time for every bptt
backend and torch, in the same run, on the same shapes, one thread.

    python -m pytest benchmarks/test_bench_layers.py --benchmark-only
"""

import numpy as np
import pytest

import bptt

torch = pytest.importorskip("torch")

T = 100
SHAPES = [(1, 6, 1), (65, 128, 1), (65, 128, 32), (256, 256, 32)]  # (input, hidden, batch)
KINDS = {
    "GRU": (bptt.GRU, torch.nn.GRU),
    "RNN": (bptt.RNN, torch.nn.RNN),
    "LSTM": (bptt.LSTM, torch.nn.LSTM),
}
BACKENDS = ["cython", "numba", "numpy", "torch"]


def _data(input_size, hidden, batch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, batch, input_size)).astype(np.float32)
    d_output = rng.standard_normal((T, batch, hidden)).astype(np.float32)
    return x, d_output


def _bptt_step(kind, shape, backend):
    input_size, hidden, _ = shape
    layer = KINDS[kind][0](input_size, hidden, backend=backend, dtype=np.float32, seed=0)
    x, d_output = _data(*shape)

    def step():
        layer.forward(x)
        return layer.backward(d_output)

    return step


def _torch_step(kind, shape):
    input_size, hidden, _ = shape
    layer = KINDS[kind][1](input_size, hidden)
    x, d_output = _data(*shape)
    tx = torch.from_numpy(x).requires_grad_()
    td = torch.from_numpy(d_output)

    def step():
        output, _ = layer(tx)
        output.backward(td)

    return step


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "I{}-H{}-B{}".format(*s))
@pytest.mark.parametrize("kind", list(KINDS))
def test_layer_forward_backward(benchmark, kind, shape, backend):
    benchmark.group = f"{kind} T={T} fwd+bwd {shape} float32"
    if backend == "torch":
        step = _torch_step(kind, shape)
    elif backend in bptt.backends():
        step = _bptt_step(kind, shape, backend)
    else:
        pytest.skip(f"{backend} not available")
    step()
    benchmark(step)
