"""Sequence layers, T = 100, on the same seeded data, in the same run. Each
workload, pass and thread count is its own group:

- "inference": a forward that keeps nothing for backward: bptt's backends in
  ``.eval()``, bptt.torch's module and torch.nn's in ``.eval()`` under
  ``torch.inference_mode()``, and onnxruntime running the torch.nn module
  exported to ONNX (_onnx_contender.py); one thread each.
- "streaming": one step a call with the state carried (T = 1, unbatched),
  bptt's backends in ``.eval()`` and torch.nn's module under
  ``torch.inference_mode()``, one thread.
- "fwd+bwd": forward and backward through time, bptt's backends and torch,
  one thread; the batch-32 GRU and LSTM rows again on every core this process
  may use ("... threads=N"): torch against bptt there, and bptt's own gain
  from more cores against the one-thread group of the same workload.

    python -m pytest benchmarks/test_bench_layers.py --benchmark-only
"""

import numpy as np
import pytest

import bptt
from _threads import ONE, THREAD_COUNTS

torch = pytest.importorskip("torch")

import bptt.torch as bt  # noqa: E402 - after the importorskip of torch
from _onnx_contender import exported  # noqa: E402 - imports torch

T = 100
KINDS = {
    "GRU": (bptt.GRU, torch.nn.GRU, bt.GRU),
    "RNN": (bptt.RNN, torch.nn.RNN, bt.RNN),
    "LSTM": (bptt.LSTM, torch.nn.LSTM, bt.LSTM),
}
SMALL_TO_LARGE = [(1, 6, 1), (65, 128, 1), (65, 128, 32), (256, 256, 32)]  # (input, hidden, batch)
# (kind, (input, hidden, batch), dtype): issue 6's list
WORKLOADS = (
    [("GRU", s, np.float32) for s in [(1, 6, 1), (65, 128, 1), (256, 256, 1), (65, 128, 32),
                                      (256, 256, 32), (1024, 1024, 32)]]
    + [("GRU", (65, 128, 32), np.float64)]
    + [(kind, s, np.float32) for kind in ("RNN", "LSTM") for s in SMALL_TO_LARGE]
)
# the training rows run again on every core
THREADED = [(kind, s, np.float32) for kind in ("GRU", "LSTM")
            for s in [(65, 128, 32), (256, 256, 32)]]
BPTT_BACKENDS = ["cython", "numba", "numpy"]
BACKENDS = [*BPTT_BACKENDS, "torch"]
INFERENCE_BACKENDS = [*BPTT_BACKENDS, "bptt.torch", "torch", "onnxruntime"]
TORCH_DTYPES = {np.float32: torch.float32, np.float64: torch.float64}


def _id(workload):
    # float32 rows keep the names of earlier runs, for --benchmark-compare
    kind, shape, dtype = workload
    suffix = "" if dtype is np.float32 else f"-{np.dtype(dtype).name}"
    return "{}-I{}-H{}-B{}".format(kind, *shape) + suffix


# (workload, threads): one thread everywhere (the ids of earlier runs), then every core
TRAIN_CASES = (
    [pytest.param(w, ONE, id=_id(w)) for w in WORKLOADS]
    + [pytest.param(w, n, id=f"{_id(w)}-threads{n}") for w in THREADED
       for n in THREAD_COUNTS if n != ONE]
)


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


def _bptt_torch_layer(kind, shape, dtype):
    """bptt.torch's module with the torch.nn layer's weights."""
    module = KINDS[kind][2](*shape[:2]).to(TORCH_DTYPES[dtype])
    module.load_state_dict(_torch_layer(kind, shape, dtype).state_dict())
    return module


@pytest.mark.parametrize("backend", INFERENCE_BACKENDS)
@pytest.mark.parametrize("workload", WORKLOADS, ids=_id)
def test_layer_inference(benchmark, describe, workload, backend):
    kind, shape, dtype = workload
    describe(kind, shape, dtype, "inference", backend, T=T)
    x, _ = _data(shape, dtype)
    if backend in BPTT_BACKENDS:
        # eval mode keeps no cache: repeated forwards do not pile up memory
        layer = _bptt_layer(kind, shape, dtype, backend).eval()

        def step():
            return layer.forward(x)
    elif backend == "onnxruntime":
        if dtype is not np.float32:
            pytest.skip("onnxruntime's GRU operator has no float64 kernel")
        step = exported(_torch_layer(kind, shape, dtype), x)
    else:
        make = _torch_layer if backend == "torch" else _bptt_torch_layer
        module, tx = make(kind, shape, dtype).eval(), torch.from_numpy(x)

        def step():
            with torch.inference_mode():
                return module(tx)

    step()
    benchmark(step)


# one step a call, the state carried: (kind, (input, hidden, batch 1), dtype)
STREAMING = [(kind, s, np.float32) for kind in KINDS for s in [(1, 6, 1), (65, 128, 1)]]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("workload", STREAMING, ids=_id)
def test_layer_streaming(benchmark, describe, workload, backend):
    """A stream or an agent's policy: one step a call (T = 1) on an unbatched
    x (1, I), each call starting from the last one's final state; bptt in
    .eval(), torch.nn's module in .eval() under torch.inference_mode()."""
    kind, shape, dtype = workload
    describe(kind, shape, dtype, "streaming", backend, T=1)
    x = np.random.default_rng(0).standard_normal((1, shape[0])).astype(dtype)
    state = [None]
    if backend == "torch":
        module, tx = _torch_layer(kind, shape, dtype).eval(), torch.from_numpy(x)

        def step():
            with torch.inference_mode():
                output, state[0] = module(tx, state[0])
            return output
    else:
        layer = _bptt_layer(kind, shape, dtype, backend).eval()

        def step():
            output, state[0] = layer.forward(x, state[0])
            return output

    step()
    benchmark(step)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("workload, threads", TRAIN_CASES, indirect=["threads"])
def test_layer_forward_backward(benchmark, describe, workload, threads, backend):
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
