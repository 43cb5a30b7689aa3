"""One harness for every cell class: build it, draw its inputs, run it.

A cell is named by its *kind*:

    "gru_seed"     bptt.GRU_Cell (seed 000 / 001 equations)
    "gru"          bptt.GRUCell (torch's equations)
    "rnn_tanh", "rnn_relu", "rnn_sigmoid"   bptt.RNNCell
    "lstm"         bptt.LSTMCell

``run`` does one forward and one backward with the upstream gradients from
``draw`` and returns every output and gradient in one dict, keyed so that
results from two sources line up: "h_next" (and "c_next"), "dx", "dh" (and
"dc"), then "d" + parameter name ("dweight_ih", ..., or "dWzh", ... for
GRU_Cell). The scalar loss behind those gradients is

    L = sum(h_next * g_h) [+ sum(c_next * g_c)]

and ``loss`` evaluates it with a forward pass only (for finite differences).
"""

from __future__ import annotations

import numpy as np

import bptt

KINDS = ("gru_seed", "gru", "rnn_tanh", "rnn_relu", "rnn_sigmoid", "lstm")
TORCH_KINDS = ("gru", "rnn_tanh", "rnn_relu", "lstm")  # those torch.nn has a cell for

#: A relu pre-activation closer to 0 than this is redrawn: near the kink two
#: correct implementations may disagree on the side, and finite differences
#: straddle it.
RELU_MARGIN = 1e-3


def make_cell(kind, input_size, hidden_size, *, bias=True, backend="numpy", dtype=np.float64,
              seed=0):
    kwargs = {"backend": backend, "dtype": dtype, "seed": seed}
    if kind == "gru_seed":
        return bptt.GRU_Cell(input_size, hidden_size, bias=bias, **kwargs)
    if kind == "gru":
        return bptt.GRUCell(input_size, hidden_size, bias=bias, **kwargs)
    if kind.startswith("rnn_"):
        return bptt.RNNCell(input_size, hidden_size, bias=bias, nonlinearity=kind[4:], **kwargs)
    if kind == "lstm":
        return bptt.LSTMCell(input_size, hidden_size, bias=bias, **kwargs)
    raise ValueError(f"unknown cell kind {kind!r}")


def _relu_preactivation(cell, x, h) -> np.ndarray:
    p = {k: np.asarray(v, dtype=np.float64) for k, v in cell.parameters().items()}
    a = np.atleast_2d(x) @ p["weight_ih"].T + np.atleast_2d(h) @ p["weight_hh"].T
    if cell.bias:
        a = a + p["bias_ih"] + p["bias_hh"]
    return a


def draw(rng, kind, cell, batch=None, dtype=None, upstream_shape=None) -> dict:
    """Inputs x, h (and c) and upstream gradients g_h (and g_c) for ``cell``.

    ``batch=None`` draws unbatched (1-D) arrays. ``upstream_shape`` overrides
    g_h's shape (GRU_Cell also takes delta as (1, H)). For "rnn_relu" the
    inputs are redrawn until every pre-activation is clear of the kink.
    """
    dtype = np.dtype(cell.dtype if dtype is None else dtype)
    I, H = cell.input_size, cell.hidden_size
    lead = () if batch is None else (batch,)
    for _ in range(1000):
        x = rng.standard_normal(lead + (I,)).astype(dtype)
        h = rng.uniform(-0.9, 0.9, lead + (H,)).astype(dtype)
        if kind != "rnn_relu" or np.abs(_relu_preactivation(cell, x, h)).min() > RELU_MARGIN:
            break
    else:  # pragma: no cover - astronomically unlikely
        raise RuntimeError("could not draw relu inputs clear of the kink")
    data = {"x": x, "h": h}
    if kind == "lstm":
        data["c"] = rng.standard_normal(lead + (H,)).astype(dtype)
    data["g_h"] = rng.standard_normal(upstream_shape or lead + (H,)).astype(dtype)
    if kind == "lstm":
        data["g_c"] = rng.standard_normal(lead + (H,)).astype(dtype)
    return data


def forward(cell, kind, data) -> dict:
    if kind == "lstm":
        h_next, c_next = cell.forward(data["x"], (data["h"], data["c"]))
        return {"h_next": h_next, "c_next": c_next}
    return {"h_next": cell.forward(data["x"], data["h"])}


def backward(cell, kind, data) -> dict:
    if kind == "lstm":
        dx, (dh, dc) = cell.backward(data["g_h"], data["g_c"])
        return {"dx": dx, "dh": dh, "dc": dc}
    dx, dh = cell.backward(data["g_h"])
    return {"dx": dx, "dh": dh}


def param_grads(cell) -> dict:
    """A copy of every accumulated parameter gradient, keyed "d" + name."""
    return {"d" + name: np.array(g, copy=True) for name, g in cell.grads.items()}


def run(cell, kind, data) -> dict:
    """Forward, then backward with the upstream gradients; everything in one dict."""
    out = forward(cell, kind, data)
    out.update(backward(cell, kind, data))
    out.update(param_grads(cell))
    return out


def loss(cell, kind, data) -> float:
    """L = sum(h_next * g_h) [+ sum(c_next * g_c)], forward only, in float64."""
    out = forward(cell, kind, data)
    g_h = np.reshape(data["g_h"], np.shape(out["h_next"]))
    total = np.sum(np.asarray(out["h_next"], np.float64) * g_h)
    if kind == "lstm":
        total += np.sum(np.asarray(out["c_next"], np.float64) * data["g_c"])
    return float(total)
