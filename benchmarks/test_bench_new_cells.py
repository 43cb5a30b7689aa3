"""The cells added on the shared time loop, T = 100, float32, one thread:
bptt's backends against torch, forward + backward and forward alone.

torch's side is ``torch.nn.LSTM(proj_size=H // 2)`` for the projected LSTM
and a per-step autograd graph of the same equations for the others
(_torch_formulations.py), since torch has no fused kernel for them.

    python -m pytest benchmarks/test_bench_new_cells.py --benchmark-only
"""

import numpy as np
import pytest

import bptt

torch = pytest.importorskip("torch")

from _torch_formulations import LayerNormGRU, LayerNormLSTM, PeepholeLSTM  # noqa: E402

T = 100
SHAPES = [(1, 6, 1), (65, 128, 1), (65, 128, 32), (256, 256, 32)]  # (input, hidden, batch)
KINDS = ["LSTMP", "PeepholeLSTM", "LayerNormGRU", "LayerNormLSTM"]
BACKENDS = ["cython", "numba", "numpy", "torch"]


def _bptt_layer(kind, shape, backend):
    I, H, _ = shape
    kwargs = dict(backend=backend, dtype=np.float32, seed=0)
    if kind == "LSTMP":
        return bptt.LSTM(I, H, proj_size=H // 2, **kwargs)
    if kind == "PeepholeLSTM":
        return bptt.LSTM(I, H, peepholes=True, clip=3.0, **kwargs)
    return getattr(bptt, kind)(I, H, **kwargs)


def _torch_model(kind, shape):
    reference = _bptt_layer(kind, shape, "numpy")
    if kind == "LSTMP":
        model = torch.nn.LSTM(*shape[:2], proj_size=shape[1] // 2)
        model.load_state_dict(reference.state_dict(tensors=True))
        return lambda x: model(x)[0]
    formulation = {"PeepholeLSTM": PeepholeLSTM, "LayerNormGRU": LayerNormGRU,
                   "LayerNormLSTM": LayerNormLSTM}[kind]
    return formulation(reference, torch.float32)


def _setup(kind, shape, backend, describe, pass_):
    I, H, B = shape
    out = H // 2 if kind == "LSTMP" else H
    describe(kind, shape, np.float32, pass_, backend, T=T)
    if backend != "torch" and backend not in bptt.backends():
        pytest.skip(f"{backend} not available")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    d_output = rng.standard_normal((T, B, out)).astype(np.float32)
    return x, d_output


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "I{}-H{}-B{}".format(*s))
@pytest.mark.parametrize("kind", KINDS)
def test_new_cell_forward_backward(benchmark, describe, kind, shape, backend):
    x, d_output = _setup(kind, shape, backend, describe, "fwd+bwd")
    if backend == "torch":
        model = _torch_model(kind, shape)
        tx, td = torch.from_numpy(x).requires_grad_(), torch.from_numpy(d_output)

        def step():
            model(tx).backward(td)
    else:
        layer = _bptt_layer(kind, shape, backend)

        def step():
            layer.forward(x)
            return layer.backward(d_output)

    step()
    benchmark(step)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "I{}-H{}-B{}".format(*s))
@pytest.mark.parametrize("kind", KINDS)
def test_new_cell_forward(benchmark, describe, kind, shape, backend):
    x, _ = _setup(kind, shape, backend, describe, "fwd")
    if backend == "torch":
        model, tx = _torch_model(kind, shape), torch.from_numpy(x)

        def step():
            with torch.no_grad():
                return model(tx)
    else:
        layer = _bptt_layer(kind, shape, backend).eval()

        def step():
            return layer.forward(x)

    step()
    benchmark(step)
