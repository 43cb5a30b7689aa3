"""onnxruntime as a contender in the inference groups.

``exported`` runs a torch model exported with ``torch.onnx.export(...,
dynamo=False)`` (TorchScript tracing): torch.nn's GRU, RNN and LSTM become
ONNX's GRU, RNN and LSTM operators; a step-by-step formulation
(_torch_formulations.py) becomes its T steps unrolled into plain operators.
``peephole_lstm`` builds ONNX's LSTM operator by hand, peepholes and clip
included, since torch has no such module to export. Either way the session
runs on one thread, and its outputs are checked against torch's (or the
given reference) before any timing: a broken export fails the test instead
of timing garbage.
"""

import copy
import io
import warnings

import numpy as np
import pytest
import torch

from _threads import ONE

# float32 results after T = 100 steps of differently ordered sums
RTOL, ATOL = 1e-4, 1e-5
#: bptt's (torch's) gate blocks i, f, g, o, taken in ONNX's order i, o, f, c
ONNX_GATE_ORDER = (0, 3, 1, 2)


def _session(model: bytes, threads: int):
    ort = pytest.importorskip("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = threads
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _arrays(result) -> list[np.ndarray]:
    """A tensor, or torch's (output, h_n) / (output, (h_n, c_n)), flat in ONNX's output order."""
    if isinstance(result, torch.Tensor):
        return [result.numpy()]
    return [array for item in result for array in _arrays(item)]


def _checked_step(session, feed: dict, expected: list[np.ndarray], atol: float = ATOL):
    """``step()`` running ``session`` on ``feed``, once its outputs match ``expected``."""
    outputs = session.run(None, feed)
    assert len(outputs) == len(expected), (len(outputs), len(expected))
    for got, want in zip(outputs, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=atol)

    def step():
        return session.run(None, feed)

    return step


class _Unrolled(torch.nn.Module):
    """A step-by-step formulation as a module to trace; its weights become constants."""

    def __init__(self, formulation):
        super().__init__()
        self.formulation = copy.copy(formulation)
        # tracing refuses to freeze a tensor that requires grad into a constant
        self.formulation.p = {name: t.detach() for name, t in formulation.p.items()}

    def forward(self, x):
        return self.formulation(x)


def exported(model, x: np.ndarray, threads: int = ONE, atol: float = ATOL):
    """``step()`` running ``model`` (a torch.nn module, or a formulation from
    _torch_formulations.py) on ``x`` through onnxruntime, checked against the model
    to ``atol`` (and RTOL)."""
    module = model if isinstance(model, torch.nn.Module) else _Unrolled(model)
    module.eval()
    tx = torch.from_numpy(x)
    onnx_bytes = io.BytesIO()
    with warnings.catch_warnings():
        # the legacy exporter's deprecation and the tracer's notes on fixed shapes: the
        # shapes are fixed here, and the outputs are checked below
        for category in (DeprecationWarning, UserWarning, torch.jit.TracerWarning):
            warnings.simplefilter("ignore", category)
        torch.onnx.export(module, (tx,), onnx_bytes, dynamo=False, input_names=["x"])
    with torch.inference_mode():
        expected = _arrays(module(tx))
    return _checked_step(_session(onnx_bytes.getvalue(), threads), {"x": x}, expected, atol)


def peephole_lstm(layer, x: np.ndarray, expected: np.ndarray, threads: int = ONE):
    """``step()`` running onnxruntime's LSTM operator with the weights of ``layer`` (a
    one-layer, one-direction float32 ``bptt.LSTM(peepholes=True)``, clip or not) on
    ``x``, checked against ``expected``, the output sequence (T, B, H)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    H = layer.hidden_size
    weights = {name.removesuffix("_l0"): value for name, value in layer.state_dict().items()}

    def onnx_gates(a):  # stacked gate blocks in ONNX's order, with the direction axis
        return np.concatenate([a[g * H:(g + 1) * H] for g in ONNX_GATE_ORDER])[None]

    initializers = {
        "W": onnx_gates(weights["weight_ih"]),
        "R": onnx_gates(weights["weight_hh"]),
        "B": np.concatenate([onnx_gates(weights["bias_ih"]), onnx_gates(weights["bias_hh"])],
                            axis=1),
        "P": weights["weight_peephole"][None],  # bptt keeps ONNX's order p_i, p_o, p_f
    }
    clip = {"clip": float(layer.clip)} if layer.clip is not None else {}
    # inputs X, W, R, B, sequence_lens, initial_h, initial_c, P: "" leaves one out
    node = helper.make_node("LSTM", ["x", "W", "R", "B", "", "", "", "P"], ["y"],
                            hidden_size=H, **clip)
    T, B, _ = x.shape
    graph = helper.make_graph(
        [node], "peephole_lstm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, (T, 1, B, H))],
        [numpy_helper.from_array(np.ascontiguousarray(value, np.float32), name)
         for name, value in initializers.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(model)
    # ONNX's Y is (T, directions, B, H)
    return _checked_step(_session(model.SerializeToString(), threads), {"x": x},
                         [expected[:, None]])
