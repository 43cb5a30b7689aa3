"""PyTorch references: every value and gradient comes from torch autograd.

- ``torch.nn.GRUCell``, ``RNNCell`` (tanh, relu) and ``LSTMCell`` for the
  torch formulations;
- ``seed_gru_cell``: the seed 000 / 001 GRU equations written out from basic
  torch ops (reset applied BEFORE the product with W_h, z weighting the
  candidate) -- deliberately not ``torch.nn.GRUCell``, whose equations differ;
- ``sigmoid_rnn_cell``: an Elman cell with sigmoid units, which torch.nn lacks.

Each ``*_reference`` returns a dict keyed like ``_cells.run``: outputs
("h_next", "c_next"), input gradients ("dx", "dh", "dc") and "d" + parameter
name, for the loss L = sum(h_next * g_h) [+ sum(c_next * g_c)].
"""

from __future__ import annotations

import numpy as np
import torch

_TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def _plus(a, b):
    return a if b is None else a + b


def seed_gru_cell(x, h, Wzh, Wrh, Wh, Wzx, Wrx, Wx, bz=None, br=None, bh=None):
    """Seed GRU step. x (d,) or (B, d); h (h,) or (B, h); W* in (out, in) layout."""
    z = torch.sigmoid(_plus(h @ Wzh.T + x @ Wzx.T, bz))
    r = torch.sigmoid(_plus(h @ Wrh.T + x @ Wrx.T, br))
    h_tilde = torch.tanh(_plus((r * h) @ Wh.T + x @ Wx.T, bh))
    return (1 - z) * h + z * h_tilde


def sigmoid_rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """h' = sigmoid(W_ih x + b_ih + W_hh h + b_hh)."""
    return torch.sigmoid(_plus(x @ weight_ih.T, bias_ih) + _plus(h @ weight_hh.T, bias_hh))


def _tensor(a, requires_grad=False):
    return torch.tensor(np.array(a, copy=True), requires_grad=requires_grad)


def torch_dtype(dtype):
    return _TORCH_DTYPES[np.dtype(dtype)]


def make_torch_cell(kind, input_size, hidden_size, bias, dtype):
    """The torch.nn cell for a kind in ``_cells.TORCH_KINDS``, torch's own init."""
    kwargs = {"bias": bias, "dtype": torch_dtype(dtype)}
    if kind == "gru":
        return torch.nn.GRUCell(input_size, hidden_size, **kwargs)
    if kind in ("rnn_tanh", "rnn_relu"):
        return torch.nn.RNNCell(input_size, hidden_size, nonlinearity=kind[4:], **kwargs)
    if kind == "lstm":
        return torch.nn.LSTMCell(input_size, hidden_size, **kwargs)
    raise ValueError(f"torch.nn has no cell for kind {kind!r}")


def _finish(outputs: dict, leaves: dict, data) -> dict:
    loss = 0
    for out_name, g_name in (("h_next", "g_h"), ("c_next", "g_c")):
        if out_name in outputs:
            g = _tensor(data[g_name]).reshape(outputs[out_name].shape)
            loss = loss + (outputs[out_name] * g).sum()
    loss.backward()
    result = {k: v.detach().numpy().copy() for k, v in outputs.items()}
    for name, leaf in leaves.items():
        result["d" + name] = leaf.grad.detach().numpy().copy()
    return result


def torch_cell_reference(torch_cell, kind, data) -> dict:
    """Forward and autograd backward through a torch.nn cell."""
    torch_cell.zero_grad(set_to_none=True)
    x = _tensor(data["x"], requires_grad=True)
    h = _tensor(data["h"], requires_grad=True)
    if kind == "lstm":
        c = _tensor(data["c"], requires_grad=True)
        h_next, c_next = torch_cell(x, (h, c))
        result = _finish({"h_next": h_next, "c_next": c_next}, {"x": x, "h": h, "c": c}, data)
    else:
        result = _finish({"h_next": torch_cell(x, h)}, {"x": x, "h": h}, data)
    for name, p in torch_cell.named_parameters():
        result["d" + name] = p.grad.detach().numpy().copy()
    return result


def _functional_reference(fn, params: dict, data) -> dict:
    leaves = {"x": _tensor(data["x"], True), "h": _tensor(data["h"], True)}
    leaves.update({name: _tensor(p, True) for name, p in params.items()})
    return _finish({"h_next": fn(**leaves)}, leaves, data)


def seed_gru_reference(params: dict, data) -> dict:
    """``params``: Wzh, Wrh, Wh, Wzx, Wrx, Wx (and bz, br, bh) as numpy arrays."""
    return _functional_reference(seed_gru_cell, params, data)


def sigmoid_rnn_reference(params: dict, data) -> dict:
    """``params``: weight_ih, weight_hh (and bias_ih, bias_hh) as numpy arrays."""
    return _functional_reference(sigmoid_rnn_cell, params, data)


def reference(kind, params: dict, data) -> dict:
    """The torch result for any kind, given its parameters as numpy arrays."""
    if kind == "gru_seed":
        return seed_gru_reference(params, data)
    if kind == "rnn_sigmoid":
        return sigmoid_rnn_reference(params, data)
    w = params["weight_ih"]
    torch_cell = make_torch_cell(kind, w.shape[1], params["weight_hh"].shape[1],
                                 "bias_ih" in params, w.dtype)
    torch_cell.load_state_dict({k: _tensor(v) for k, v in params.items()})
    return torch_cell_reference(torch_cell, kind, data)
