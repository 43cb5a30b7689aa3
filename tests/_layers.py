"""One harness for the sequence layers (bptt.GRU, RNN, LSTM): build, draw, run, compare.

A layer is named by its *kind*, as the cells are in ``_cells.py``:

    "gru"          bptt.GRU (torch's equations)        torch.nn.GRU
    "gru_seed"     bptt.GRU(variant="seed")            (no torch.nn layer)
    "rnn_tanh", "rnn_relu"                             torch.nn.RNN
    "rnn_sigmoid"                                      (no torch.nn layer)
    "lstm"         bptt.LSTM                           torch.nn.LSTM

Every run returns one dict keyed so that results from two sources line up:
"output", "h_n" (and "c_n"), "dx", "dh0" (and "dc0"), then "d" + parameter
name ("dweight_ih_l0", "dbias_hh_l1_reverse", ...). The scalar loss behind the
gradients is

    L = sum(output * g_out) [+ sum(h_n * g_h)] [+ sum(c_n * g_c)]

with every upstream gradient random (g_h and g_c left out when the config
says so: backward then gets ``d_h_n=None``). ``g_out`` is random on padded
steps too: a layer must ignore it there, as torch's pad_packed_sequence does.

Two references, both differentiated by torch autograd in the layer's dtype:

- ``torch_nn_reference``: torch.nn.GRU / RNN / LSTM itself (through
  pack_padded_sequence / pad_packed_sequence when there are lengths);
- ``loop_reference``: a plain Python time loop over torch's own cell ops
  (``torch.gru_cell``, ``torch.rnn_tanh_cell``, ...), or over the seed GRU
  and sigmoid cells of ``_torch_reference``, with masking for lengths. It is
  checked against torch.nn for the kinds torch has, and is the reference for
  the two it lacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

import bptt
from _torch_reference import seed_gru_cell, sigmoid_rnn_cell, torch_dtype
from conftest import TOLERANCE, Tolerance, assert_close

KINDS = ("gru", "gru_seed", "rnn_tanh", "rnn_relu", "rnn_sigmoid", "lstm")
TORCH_KINDS = ("gru", "rnn_tanh", "rnn_relu", "lstm")  # those torch.nn has a layer for

#: Forward values: the conftest table (float64 1e-12). Gradients: float64 1e-10
#: (a sum over up to 50 steps and 3 layers), float32 as the table (1e-5).
FORWARD_TOLERANCE = TOLERANCE
GRADIENT_TOLERANCE = {
    np.dtype(np.float32): TOLERANCE[np.dtype(np.float32)],
    np.dtype(np.float64): Tolerance(1e-10),
}
FORWARD_KEYS = ("output", "h_n", "c_n")


@dataclass(frozen=True)
class Config:
    """One layer and one batch. ``batch=None``: unbatched (T, I) input."""

    kind: str
    num_layers: int = 1
    bidirectional: bool = False
    batch_first: bool = False
    bias: bool = True
    batch: int | None = 2
    T: int = 5
    input_size: int = 3
    hidden_size: int = 4
    lengths: tuple[int, ...] | None = None
    h0: bool = True  # pass a random initial state (else None: zeros)
    d_h_n: bool = True  # random upstream gradient on h_n (and c_n) (else None)
    seed: int = field(default=0, compare=False)

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def id(self) -> str:
        parts = [self.kind, f"L{self.num_layers}", "bi" if self.bidirectional else "uni"]
        parts.append("bf" if self.batch_first else "tm")
        parts.append("bias" if self.bias else "nobias")
        parts.append("unbatched" if self.batch is None else f"B{self.batch}")
        parts.append(f"T{self.T}")
        parts.append(f"I{self.input_size}H{self.hidden_size}")
        if self.lengths is not None:
            parts.append("len" + "-".join(map(str, self.lengths)))
        if not self.h0:
            parts.append("noh0")
        if not self.d_h_n:
            parts.append("nodhn")
        return "-".join(parts)

    def with_(self, **changes) -> Config:
        return replace(self, **changes)


def random_config(seed: int, kinds=KINDS, max_T: int = 50) -> Config:
    """A reproducible random configuration: sizes, layout, lengths, all drawn from ``seed``."""
    rng = np.random.default_rng(1000 + seed)
    kind = kinds[int(rng.integers(len(kinds)))]
    batch = [None, 1, 2, 3, 4][int(rng.integers(5))]
    T = int(rng.choice([1, 2, 3, int(rng.integers(4, max_T + 1))]))
    lengths = None
    if batch is not None and rng.random() < 0.5:
        lengths = tuple(int(v) for v in rng.integers(1, T + 1, size=batch))
        # half the time make sure both extremes, 1 and T, are there
        if batch >= 2 and rng.random() < 0.5:
            lengths = (1, T) + lengths[2:]
    return Config(
        kind=kind,
        num_layers=int(rng.integers(1, 4)),
        bidirectional=bool(rng.random() < 0.5),
        batch_first=bool(rng.random() < 0.5),
        bias=bool(rng.random() < 0.7),
        batch=batch,
        T=T,
        input_size=int(rng.integers(1, 6)),
        hidden_size=int(rng.integers(1, 6)),
        lengths=lengths,
        h0=bool(rng.random() < 0.7),
        d_h_n=bool(rng.random() < 0.7),
        seed=seed,
    )


# ----------------------------------------------------------------------------
# building
# ----------------------------------------------------------------------------


def make_layer(cfg: Config, *, backend="numpy", dtype=np.float64, seed=0):
    """The bptt layer for ``cfg``, initialised from ``seed``."""
    kwargs = dict(
        num_layers=cfg.num_layers, bias=cfg.bias, batch_first=cfg.batch_first,
        bidirectional=cfg.bidirectional, backend=backend, dtype=dtype, seed=seed,
    )
    I, H = cfg.input_size, cfg.hidden_size
    if cfg.kind == "gru":
        return bptt.GRU(I, H, **kwargs)
    if cfg.kind == "gru_seed":
        return bptt.GRU(I, H, variant="seed", **kwargs)
    if cfg.kind.startswith("rnn_"):
        return bptt.RNN(I, H, nonlinearity=cfg.kind[4:], **kwargs)
    if cfg.kind == "lstm":
        return bptt.LSTM(I, H, **kwargs)
    raise ValueError(f"unknown layer kind {cfg.kind!r}")


def make_torch_layer(cfg: Config, dtype=np.float64):
    """torch.nn's layer for ``cfg`` (torch kinds only), torch's own init."""
    kwargs = dict(
        num_layers=cfg.num_layers, bias=cfg.bias, batch_first=cfg.batch_first,
        bidirectional=cfg.bidirectional, dtype=torch_dtype(dtype),
    )
    I, H = cfg.input_size, cfg.hidden_size
    if cfg.kind == "gru":
        return torch.nn.GRU(I, H, **kwargs)
    if cfg.kind in ("rnn_tanh", "rnn_relu"):
        return torch.nn.RNN(I, H, nonlinearity=cfg.kind[4:], **kwargs)
    if cfg.kind == "lstm":
        return torch.nn.LSTM(I, H, **kwargs)
    raise ValueError(f"torch.nn has no layer for kind {cfg.kind!r}")


def make_pair(cfg: Config, *, backend="numpy", dtype=np.float64, seed=0):
    """(bptt layer, torch layer) with torch's weights loaded into ours."""
    torch.manual_seed(seed)
    reference = make_torch_layer(cfg, dtype)
    layer = make_layer(cfg, backend=backend, dtype=dtype, seed=seed + 1)
    layer.load_state_dict(reference.state_dict())
    return layer, reference


# ----------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------


def _layout(cfg: Config, features: int) -> tuple[int, ...]:
    if cfg.batch is None:
        return (cfg.T, features)
    if cfg.batch_first:
        return (cfg.batch, cfg.T, features)
    return (cfg.T, cfg.batch, features)


def _state_shape(cfg: Config) -> tuple[int, ...]:
    LD, H = cfg.num_layers * cfg.directions, cfg.hidden_size
    return (LD, H) if cfg.batch is None else (LD, cfg.batch, H)


def draw(rng: np.random.Generator, cfg: Config, dtype=np.float64) -> dict:
    """x, h0 (c0), upstream gradients and lengths for ``cfg``.

    Padded steps of x hold random values (a layer must never read them).
    h0 / c0 are None, and g_h / g_c None, when the config says so.
    """
    dtype = np.dtype(dtype)
    H, D = cfg.hidden_size, cfg.directions

    def normal(shape):
        return rng.standard_normal(shape).astype(dtype)

    lstm = cfg.kind == "lstm"
    return {
        "x": normal(_layout(cfg, cfg.input_size)),
        "h0": rng.uniform(-0.9, 0.9, _state_shape(cfg)).astype(dtype) if cfg.h0 else None,
        "c0": normal(_state_shape(cfg)) if cfg.h0 and lstm else None,
        "g_out": normal(_layout(cfg, D * H)),
        "g_h": normal(_state_shape(cfg)) if cfg.d_h_n else None,
        "g_c": normal(_state_shape(cfg)) if cfg.d_h_n and lstm else None,
        "lengths": None if cfg.lengths is None else np.array(cfg.lengths, dtype=np.int64),
    }


def valid_mask(cfg: Config) -> np.ndarray:
    """Boolean, in the caller's layout without the feature axis: step t of row b is real."""
    if cfg.lengths is None:
        return np.ones(_layout(cfg, 1)[:-1], dtype=bool)
    mask = np.arange(cfg.T)[:, None] < np.asarray(cfg.lengths)[None, :]  # (T, B)
    return mask.T if cfg.batch_first else mask


# ----------------------------------------------------------------------------
# running a bptt layer
# ----------------------------------------------------------------------------


def _is_lstm(layer) -> bool:
    return isinstance(layer, bptt.LSTM)


def forward(layer, data, x=None) -> dict:
    x = data["x"] if x is None else x
    if _is_lstm(layer):
        state = None if data["h0"] is None else (data["h0"], data["c0"])
        output, (h_n, c_n) = layer.forward(x, state, lengths=data["lengths"])
        return {"output": output, "h_n": h_n, "c_n": c_n}
    output, h_n = layer.forward(x, data["h0"], lengths=data["lengths"])
    return {"output": output, "h_n": h_n}


def backward(layer, data) -> dict:
    if _is_lstm(layer):
        dx, (dh0, dc0) = layer.backward(data["g_out"], data["g_h"], data["g_c"])
        return {"dx": dx, "dh0": dh0, "dc0": dc0}
    dx, dh0 = layer.backward(data["g_out"], data["g_h"])
    return {"dx": dx, "dh0": dh0}


def param_grads(layer) -> dict:
    """A copy of every accumulated parameter gradient, keyed "d" + name."""
    return {"d" + name: np.array(g, copy=True) for name, g in layer.grads.items()}


def run(layer, data, x=None) -> dict:
    """zero_grad, forward, backward: every output and gradient in one dict."""
    layer.zero_grad()
    result = forward(layer, data, x)
    result.update(backward(layer, data))
    result.update(param_grads(layer))
    return result


def loss(layer, data) -> float:
    """The scalar L behind ``run``'s gradients, forward only, in float64."""
    out = forward(layer, data)
    total = np.sum(np.asarray(out["output"], np.float64) * data["g_out"])
    for key, g in (("h_n", "g_h"), ("c_n", "g_c")):
        if key in out and data[g] is not None:
            total += np.sum(np.asarray(out[key], np.float64) * data[g])
    return float(total)


# ----------------------------------------------------------------------------
# references
# ----------------------------------------------------------------------------


def _leaf(a, dtype):
    return torch.tensor(np.array(a, dtype=dtype, copy=True), requires_grad=True)


def _finish(cfg: Config, outputs: dict, inputs: dict, params: dict, data) -> dict:
    """Backpropagate L from ``outputs``; collect values and every gradient."""
    loss_ = (outputs["output"] * torch.from_numpy(data["g_out"])).sum()
    for key, g in (("h_n", "g_h"), ("c_n", "g_c")):
        if key in outputs and data[g] is not None:
            loss_ = loss_ + (outputs[key] * torch.from_numpy(data[g])).sum()
    loss_.backward()
    result = {k: v.detach().numpy().copy() for k, v in outputs.items()}
    for name, leaf in inputs.items():
        result["d" + name] = leaf.grad.numpy().copy()
    for name, p in params.items():
        grad = p.grad if p.grad is not None else torch.zeros_like(p)  # unused: zero
        result["d" + name] = grad.numpy().copy()
    return result


def _initial_states(cfg: Config, data, dtype) -> dict:
    """h0 (c0) as leaves, zeros where the layer gets None (dh0 is still compared)."""
    names = ("h0", "c0") if cfg.kind == "lstm" else ("h0",)
    return {
        n: _leaf(np.zeros(_state_shape(cfg)) if data[n] is None else data[n], dtype) for n in names
    }


def torch_nn_reference(torch_layer, cfg: Config, data) -> dict:
    """Forward and autograd backward through torch.nn's layer (packed if lengths)."""
    dtype = data["x"].dtype
    torch_layer.zero_grad(set_to_none=True)
    x = _leaf(data["x"], dtype)
    states = _initial_states(cfg, data, dtype)
    state = (states["h0"], states["c0"]) if cfg.kind == "lstm" else states["h0"]
    if data["lengths"] is None:
        output, final = torch_layer(x, state)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            x, torch.from_numpy(data["lengths"]), batch_first=cfg.batch_first,
            enforce_sorted=False,
        )
        packed_output, final = torch_layer(packed, state)
        output, _ = torch.nn.utils.rnn.pad_packed_sequence(
            packed_output, batch_first=cfg.batch_first, total_length=cfg.T
        )
    outputs = {"output": output}
    if cfg.kind == "lstm":
        outputs["h_n"], outputs["c_n"] = final
    else:
        outputs["h_n"] = final
    params = dict(torch_layer.named_parameters())
    return _finish(cfg, outputs, {"x": x, **states}, params, data)


def _step(kind: str, x, state, w_ih, w_hh, b_ih, b_hh):
    """One cell step from torch ops; state is h, or (h, c) for lstm."""
    if kind == "gru":
        return torch.gru_cell(x, state, w_ih, w_hh, b_ih, b_hh)
    if kind == "rnn_tanh":
        return torch.rnn_tanh_cell(x, state, w_ih, w_hh, b_ih, b_hh)
    if kind == "rnn_relu":
        return torch.rnn_relu_cell(x, state, w_ih, w_hh, b_ih, b_hh)
    if kind == "rnn_sigmoid":
        return sigmoid_rnn_cell(x, state, w_ih, w_hh, b_ih, b_hh)
    if kind == "lstm":
        return torch.lstm_cell(x, state, w_ih, w_hh, b_ih, b_hh)
    if kind == "gru_seed":
        # rows of the stacked weights: [r; z; h~]; the two biases add up
        H = w_hh.shape[1]
        Wrx, Wzx, Wx = w_ih[:H], w_ih[H : 2 * H], w_ih[2 * H :]
        Wrh, Wzh, Wh = w_hh[:H], w_hh[H : 2 * H], w_hh[2 * H :]
        bz = br = bh = None
        if b_ih is not None:
            b = b_ih + b_hh
            br, bz, bh = b[:H], b[H : 2 * H], b[2 * H :]
        return seed_gru_cell(x, state, Wzh, Wrh, Wh, Wzx, Wrx, Wx, bz, br, bh)
    raise ValueError(f"unknown layer kind {kind!r}")


def _name(kind: str, layer: int, direction: int) -> str:
    return f"{kind}_l{layer}{'_reverse' if direction else ''}"


def loop_reference(cfg: Config, state_dict: dict, data) -> dict:
    """The layer written as a Python loop of torch cell steps, differentiated by autograd.

    A step past a row's length keeps that row's state and outputs zero; the
    reverse direction walks t = T-1 .. 0, so each row starts at its last
    valid step: exactly torch's packed-sequence semantics.
    """
    dtype = data["x"].dtype
    params = {k: _leaf(v, dtype) for k, v in state_dict.items()}
    x = _leaf(data["x"], dtype)
    states = _initial_states(cfg, data, dtype)
    lstm = cfg.kind == "lstm"
    T, D = cfg.T, cfg.directions

    seq = x if cfg.batch is not None else x.unsqueeze(1)  # (T, B, I) or (B, T, I)
    if cfg.batch_first:
        seq = seq.transpose(0, 1)
    h0 = states["h0"] if cfg.batch is not None else states["h0"].unsqueeze(1)
    c0 = None
    if lstm:
        c0 = states["c0"] if cfg.batch is not None else states["c0"].unsqueeze(1)
    B = seq.shape[1]
    lengths = torch.full((B,), T) if data["lengths"] is None else torch.from_numpy(data["lengths"])
    valid = [(t < lengths)[:, None] for t in range(T)]  # (B, 1) each
    zero = torch.zeros((), dtype=seq.dtype)

    layer_input = seq
    h_n, c_n = [None] * (cfg.num_layers * D), [None] * (cfg.num_layers * D)
    for layer in range(cfg.num_layers):
        outputs = []
        for direction in range(D):
            k = layer * D + direction
            w = [params.get(_name(n, layer, direction)) for n in
                 ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            state = (h0[k], c0[k]) if lstm else h0[k]
            out = [None] * T
            order = range(T - 1, -1, -1) if direction else range(T)
            for t in order:
                x_t = torch.where(valid[t], layer_input[t], zero)  # padding never read
                new = _step(cfg.kind, x_t, state, *w)
                if lstm:
                    state = tuple(
                        torch.where(valid[t], n, s) for n, s in zip(new, state, strict=True)
                    )
                    out[t] = torch.where(valid[t], new[0], zero)
                else:
                    state = torch.where(valid[t], new, state)
                    out[t] = torch.where(valid[t], new, zero)
            outputs.append(torch.stack(out))
            if lstm:
                h_n[k], c_n[k] = state
            else:
                h_n[k] = state
        layer_input = torch.cat(outputs, dim=2)

    output = layer_input
    if cfg.batch is None:
        output = output[:, 0]
    elif cfg.batch_first:
        output = output.transpose(0, 1)
    result = {"output": output, "h_n": torch.stack(h_n)}
    if lstm:
        result["c_n"] = torch.stack(c_n)
    if cfg.batch is None:
        result = {k: (v if k == "output" else v[:, 0]) for k, v in result.items()}
    return _finish(cfg, result, {"x": x, **states}, params, data)


def reference(cfg: Config, layer, data, torch_layer=None) -> dict:
    """torch.nn's result when there is a torch layer, else the loop reference."""
    if torch_layer is not None:
        return torch_nn_reference(torch_layer, cfg, data)
    return loop_reference(cfg, layer.state_dict(), data)


# ----------------------------------------------------------------------------
# comparing
# ----------------------------------------------------------------------------


def assert_results_close(actual: dict, expected: dict, dtype, label: str = "",
                         forward_tol=None, gradient_tol=None) -> None:
    """Same keys, the layer's dtype, and every value within the dtype's tolerance."""
    dtype = np.dtype(dtype)
    forward_tol = forward_tol or FORWARD_TOLERANCE[dtype]
    gradient_tol = gradient_tol or GRADIENT_TOLERANCE[dtype]
    prefix = f"{label}: " if label else ""
    assert sorted(actual) == sorted(expected), f"{prefix}keys differ"
    for key in expected:
        value = np.asarray(actual[key])
        assert value.dtype == dtype, f"{prefix}{key} has dtype {value.dtype}, expected {dtype}"
        tol = forward_tol if key in FORWARD_KEYS else gradient_tol
        assert_close(value, expected[key], tol, name=f"{prefix}{key}")
