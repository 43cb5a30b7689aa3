"""The cells added on the shared time loop, T = 100, float32, one thread:
bptt's backends against torch, forward + backward, and inference (a forward
that keeps nothing for backward) with bptt.torch and onnxruntime as well.

torch's side is ``torch.nn.LSTM(proj_size=H // 2)`` for the projected LSTM
and a per-step autograd graph of the same equations for the others
(_torch_formulations.py), since torch has no fused kernel for them.
onnxruntime's (_onnx_contender.py) is its own LSTM operator, peepholes and
clip included, for the peephole LSTM, and the traced formulation, unrolled
over the T steps, for the layer-normalised cells; torch.onnx.export cannot
export an LSTM with proj_size (torch 2.13), so that row is skipped. Only the
projected LSTM has a bptt.torch module (``bptt.torch.LSTM(proj_size=...)``).

    python -m pytest benchmarks/test_bench_new_cells.py --benchmark-only
"""

import numpy as np
import pytest

import bptt

torch = pytest.importorskip("torch")

import bptt.torch as bt  # noqa: E402 - after the importorskip of torch
from _onnx_contender import ATOL, exported, peephole_lstm  # noqa: E402 - imports torch
from _torch_formulations import LayerNormGRU, LayerNormLSTM, PeepholeLSTM  # noqa: E402

T = 100
SHAPES = [(1, 6, 1), (65, 128, 1), (65, 128, 32), (256, 256, 32)]  # (input, hidden, batch)
KINDS = ["LSTMP", "PeepholeLSTM", "LayerNormGRU", "LayerNormLSTM"]
BPTT_BACKENDS = ["cython", "numba", "numpy"]
BACKENDS = [*BPTT_BACKENDS, "torch"]
INFERENCE_BACKENDS = [*BPTT_BACKENDS, "bptt.torch", "torch", "onnxruntime"]
FORMULATIONS = {"PeepholeLSTM": PeepholeLSTM, "LayerNormGRU": LayerNormGRU,
                "LayerNormLSTM": LayerNormLSTM}


def _bptt_layer(kind, shape, backend):
    I, H, _ = shape
    kwargs = dict(backend=backend, dtype=np.float32, seed=0)
    if kind == "LSTMP":
        return bptt.LSTM(I, H, proj_size=H // 2, **kwargs)
    if kind == "PeepholeLSTM":
        return bptt.LSTM(I, H, peepholes=True, clip=3.0, **kwargs)
    return getattr(bptt, kind)(I, H, **kwargs)


def _torch_model(kind, shape, module=torch.nn.LSTM):
    """torch's side, x -> output sequence, with the weights of bptt's numpy layer;
    ``module`` is the LSTM class for the projected LSTM (torch.nn's or bptt.torch's)."""
    reference = _bptt_layer(kind, shape, "numpy")
    if kind == "LSTMP":
        model = module(*shape[:2], proj_size=shape[1] // 2)
        model.load_state_dict(reference.state_dict(tensors=True))
        return lambda x: model(x)[0]
    return FORMULATIONS[kind](reference, torch.float32)


def _onnxruntime_step(kind, shape, x):
    if kind == "LSTMP":
        pytest.skip("torch.onnx.export cannot export an LSTM with proj_size")
    model = _torch_model(kind, shape)
    if kind == "PeepholeLSTM":  # ONNX's own LSTM operator: nothing of torch's to export
        with torch.inference_mode():
            expected = model(torch.from_numpy(x)).numpy()
        return peephole_lstm(_bptt_layer(kind, shape, "numpy"), x, expected)
    # float32 drifts in the LSTM's normalised cell state: at (65, 128, 32) torch's own
    # float32 output is 9e-4 from float64, onnxruntime's 1e-3 (measured)
    return exported(model, x, atol=3e-3 if kind == "LayerNormLSTM" else ATOL)


def _setup(kind, shape, backend, describe, pass_):
    I, H, B = shape
    out = H // 2 if kind == "LSTMP" else H
    describe(kind, shape, np.float32, pass_, backend, T=T)
    if backend in BPTT_BACKENDS and backend not in bptt.backends():
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


@pytest.mark.parametrize("backend", INFERENCE_BACKENDS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "I{}-H{}-B{}".format(*s))
@pytest.mark.parametrize("kind", KINDS)
def test_new_cell_inference(benchmark, describe, kind, shape, backend):
    x, _ = _setup(kind, shape, backend, describe, "inference")
    if backend in BPTT_BACKENDS:
        # eval mode keeps no cache: repeated forwards do not pile up memory
        layer = _bptt_layer(kind, shape, backend).eval()

        def step():
            return layer.forward(x)
    elif backend == "onnxruntime":
        step = _onnxruntime_step(kind, shape, x)
    else:
        if backend == "bptt.torch" and kind != "LSTMP":
            pytest.skip(f"bptt.torch has no {kind} module")
        model = _torch_model(kind, shape, torch.nn.LSTM if backend == "torch" else bt.LSTM)
        tx = torch.from_numpy(x)

        def step():  # the models hold no dropout: eval() would change nothing
            with torch.inference_mode():
                return model(tx)

    step()
    benchmark(step)
