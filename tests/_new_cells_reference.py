"""References for the four newer sequence cells, from basic torch ops and autograd.

A case is named by its *variant* (``Case.variant``):

    "lstm_proj"          bptt.LSTM(proj_size=P)              torch.nn.LSTM(proj_size=P)
    "lstm_peephole"      bptt.LSTM(peepholes=True)           ONNX LSTM (P input)
    "lstm_peephole_clip" bptt.LSTM(peepholes=True, clip=c)   ONNX LSTM (P input, clip)
    "lstm_clip"          bptt.LSTM(clip=c)                   ONNX LSTM (clip)
    "ln_gru"             bptt.LayerNormGRU                   (none: the loop below)
    "ln_lstm"            bptt.LayerNormLSTM                  (none: the loop below)

The equations, as the layers document them (W's gate order is torch's):

- projected LSTM: torch's, h' = W_hr (o * tanh(c')), h has P features;
- peephole / clip LSTM: ONNX's, P = [p_i | p_o | p_f],
  i = sig(clip(a_i + p_i c)), f = sig(clip(a_f + p_f c)), g = tanh(clip(a_g)),
  c' = f c + i g, o = sig(clip(a_o + p_o c')), h' = o tanh(c');
- LayerNormGRU: u = W_ih x, v = W_hh h, gi = LN(u) gamma_ih + b_ih,
  gh = LN(v) gamma_hh + b_hh, then torch's GRU gates on gi, gh;
- LayerNormLSTM: a = LN(u) gamma_ih + b_ih + LN(v) gamma_hh + b_hh,
  c' = f c + i g, h' = o tanh(LN(c') gamma_c + beta_c).

LN is over the whole last axis, eps 1e-5, biased variance.

``loop_reference`` runs any of them as a Python time loop with torch's
packed-sequence semantics for ``lengths`` (past its length a row keeps its
state and outputs 0; the reverse direction starts at each row's last valid
step) and differentiates L = sum(output g_out) + sum(h_n g_h) [+ sum(c_n g_c)]
by autograd, in float64 whatever the layer's dtype (so a float32 layer is
measured against exact arithmetic). ``torch_nn_reference`` does the same
through torch.nn.LSTM(proj_size=P) for "lstm_proj". ``onnx_lstm`` builds and
runs an onnxruntime LSTM graph (forward only) from bptt's parameters.

Every run returns one dict keyed like ``_layers``: "output", "h_n" (and
"c_n"), "dx", "dh0" (and "dc0"), then "d" + parameter name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch

import bptt

LN_EPS = 1e-5

VARIANTS = ("lstm_proj", "lstm_peephole", "lstm_peephole_clip", "lstm_clip", "ln_gru",
            "ln_lstm")
#: The count_parameters kind of each variant.
COUNT_KIND = {"lstm_proj": "lstm", "lstm_peephole": "lstm", "lstm_peephole_clip": "lstm",
              "lstm_clip": "lstm", "ln_gru": "layernorm_gru", "ln_lstm": "layernorm_lstm"}
#: Clip thresholds: small enough that some gate pre-activations of the
#: randomised layers are clipped and some are not.
CLIPS = {"lstm_peephole_clip": 1.0, "lstm_clip": 0.8}


@dataclass(frozen=True)
class Case:
    """One layer and one batch. ``batch=None``: unbatched (T, I) input."""

    variant: str
    num_layers: int = 1
    bidirectional: bool = False
    batch_first: bool = False
    bias: bool = True
    batch: int | None = 3
    T: int = 5
    input_size: int = 3
    hidden_size: int = 4
    proj: int = 2          # proj_size, used by "lstm_proj" only
    lengths: tuple[int, ...] | None = None
    h0: bool = True        # random initial states (else None: zeros)
    d_h_n: bool = True     # random upstream gradients on h_n (c_n) (else None)

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def has_c(self) -> bool:
        return self.variant != "ln_gru"

    @property
    def proj_size(self) -> int:
        return self.proj if self.variant == "lstm_proj" else 0

    @property
    def peepholes(self) -> bool:
        return self.variant.startswith("lstm_peephole")

    @property
    def clip(self) -> float | None:
        return CLIPS.get(self.variant)

    @property
    def h_width(self) -> int:
        return self.proj_size or self.hidden_size

    @property
    def id(self) -> str:
        parts = [self.variant, f"L{self.num_layers}", "bi" if self.bidirectional else "uni",
                 "bf" if self.batch_first else "tm", "bias" if self.bias else "nobias",
                 "unbatched" if self.batch is None else f"B{self.batch}", f"T{self.T}",
                 f"I{self.input_size}H{self.hidden_size}"]
        if self.proj_size:
            parts.append(f"P{self.proj_size}")
        if self.lengths is not None:
            parts.append("len" + "-".join(map(str, self.lengths)))
        if not self.h0:
            parts.append("noh0")
        if not self.d_h_n:
            parts.append("nodhn")
        return "-".join(parts)

    def with_(self, **changes) -> Case:
        return replace(self, **changes)


# ----------------------------------------------------------------------------
# building
# ----------------------------------------------------------------------------


def layer_kwargs(case: Case) -> dict:
    """The variant's own keyword arguments, only those that differ from the defaults."""
    kwargs = {}
    if case.proj_size:
        kwargs["proj_size"] = case.proj_size
    if case.peepholes:
        kwargs["peepholes"] = True
    if case.clip is not None:
        kwargs["clip"] = case.clip
    return kwargs


def make_layer(case: Case, *, backend="numpy", dtype=np.float64, seed=0):
    """The bptt layer for ``case`` (its own init)."""
    kwargs = dict(num_layers=case.num_layers, bias=case.bias, batch_first=case.batch_first,
                  bidirectional=case.bidirectional, backend=backend, dtype=dtype, seed=seed)
    I, H = case.input_size, case.hidden_size
    if case.variant == "ln_gru":
        return bptt.LayerNormGRU(I, H, **kwargs)
    if case.variant == "ln_lstm":
        return bptt.LayerNormLSTM(I, H, **kwargs)
    return bptt.LSTM(I, H, **kwargs, **layer_kwargs(case))


def parameter_shapes(case: Case) -> dict[str, tuple[int, ...]]:
    """Every parameter's name and shape, in the documented order: layer, direction,
    then weight_ih, weight_hh, bias_ih, bias_hh and the variant's own."""
    H, K, D = case.hidden_size, case.h_width, case.directions
    G = 3 * H if case.variant == "ln_gru" else 4 * H
    shapes = {}
    for layer in range(case.num_layers):
        I = case.input_size if layer == 0 else D * K
        for direction in range(D):
            own = {"weight_ih": (G, I), "weight_hh": (G, K)}
            if case.bias:
                own.update(bias_ih=(G,), bias_hh=(G,))
            if case.proj_size:
                own["weight_hr"] = (case.proj_size, H)
            if case.peepholes:
                own["weight_peephole"] = (3 * H,)
            if case.variant in ("ln_gru", "ln_lstm"):
                own.update(layernorm_ih_weight=(G,), layernorm_hh_weight=(G,))
            if case.variant == "ln_lstm":
                own["layernorm_c_weight"] = (H,)
                if case.bias:
                    own["layernorm_c_bias"] = (H,)
            suffix = f"_l{layer}{'_reverse' if direction else ''}"
            shapes.update({stem + suffix: shape for stem, shape in own.items()})
    return shapes


def random_parameters(case: Case, rng: np.random.Generator, dtype=np.float64) -> dict:
    """Every parameter drawn away from its init: weights large enough that the
    gates leave their linear range (and some clip), layer-norm gains of either
    sign in 0.4..1.6 in magnitude, biases, peepholes and beta_c nonzero."""
    out = {}
    for name, shape in parameter_shapes(case).items():
        if name.startswith("layernorm_") and "_weight_" in name:
            value = rng.uniform(0.4, 1.6, shape) * rng.choice([-1.0, 1.0], shape)
        elif name.startswith(("weight_ih", "weight_hh")):
            value = rng.standard_normal(shape) * (1.5 / math.sqrt(shape[1]))
        else:  # biases, beta_c, peepholes, weight_hr
            value = rng.standard_normal(shape) * 0.6
        out[name] = value.astype(dtype)
    return out


def make_randomised_layer(case: Case, *, backend="numpy", dtype=np.float64, seed=0):
    layer = make_layer(case, backend=backend, dtype=dtype, seed=seed)
    layer.load_state_dict(random_parameters(case, np.random.default_rng(1000 + seed), dtype))
    return layer


# ----------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------


def _layout(case: Case, features: int) -> tuple[int, ...]:
    if case.batch is None:
        return (case.T, features)
    if case.batch_first:
        return (case.batch, case.T, features)
    return (case.T, case.batch, features)


def state_shape(case: Case, width: int) -> tuple[int, ...]:
    LD = case.num_layers * case.directions
    return (LD, width) if case.batch is None else (LD, case.batch, width)


def draw(rng: np.random.Generator, case: Case, dtype=np.float64) -> dict:
    """x, h0 (c0), upstream gradients and lengths; padded steps of x and of
    g_out hold random values a layer must ignore."""
    dtype = np.dtype(dtype)
    K, H, D = case.h_width, case.hidden_size, case.directions

    def normal(shape):
        return rng.standard_normal(shape).astype(dtype)

    return {
        "x": normal(_layout(case, case.input_size)),
        "h0": rng.uniform(-0.9, 0.9, state_shape(case, K)).astype(dtype) if case.h0 else None,
        "c0": normal(state_shape(case, H)) if case.h0 and case.has_c else None,
        "g_out": normal(_layout(case, D * K)),
        "g_h": normal(state_shape(case, K)) if case.d_h_n else None,
        "g_c": normal(state_shape(case, H)) if case.d_h_n and case.has_c else None,
        "lengths": None if case.lengths is None else np.array(case.lengths, dtype=np.int64),
    }


# ----------------------------------------------------------------------------
# running a bptt layer
# ----------------------------------------------------------------------------


def forward(layer, case: Case, data) -> dict:
    if case.has_c:
        state = None if data["h0"] is None else (data["h0"], data["c0"])
        output, (h_n, c_n) = layer.forward(data["x"], state, lengths=data["lengths"])
        return {"output": output, "h_n": h_n, "c_n": c_n}
    output, h_n = layer.forward(data["x"], data["h0"], lengths=data["lengths"])
    return {"output": output, "h_n": h_n}


def backward(layer, case: Case, data) -> dict:
    if case.has_c:
        dx, (dh0, dc0) = layer.backward(data["g_out"], data["g_h"], data["g_c"])
        return {"dx": dx, "dh0": dh0, "dc0": dc0}
    dx, dh0 = layer.backward(data["g_out"], data["g_h"])
    return {"dx": dx, "dh0": dh0}


def run(layer, case: Case, data) -> dict:
    """zero_grad, forward, backward: every output and gradient in one dict."""
    layer.zero_grad()
    result = forward(layer, case, data)
    result.update(backward(layer, case, data))
    result.update({"d" + k: np.array(g, copy=True) for k, g in layer.grads.items()})
    return result


def loss(layer, case: Case, data) -> float:
    """The scalar L behind ``run``'s gradients, forward only, in float64."""
    out = forward(layer, case, data)
    total = np.sum(np.asarray(out["output"], np.float64) * data["g_out"])
    for key, g in (("h_n", "g_h"), ("c_n", "g_c")):
        if key in out and data[g] is not None:
            total += np.sum(np.asarray(out[key], np.float64) * data[g])
    return float(total)


# ----------------------------------------------------------------------------
# the cells, from basic torch ops
# ----------------------------------------------------------------------------


def layer_norm(a, gain, bias=None):
    """LN over the last axis: (a - mean) / sqrt(biased var + eps) * gain [+ bias]."""
    mean = a.mean(-1, keepdim=True)
    centred = a - mean
    var = (centred * centred).mean(-1, keepdim=True)
    y = centred / torch.sqrt(var + LN_EPS) * gain
    return y if bias is None else y + bias


def _plus(a, b):
    return a if b is None else a + b


#: Callables that ``_clip`` shows every pre-activation it clips (tests count
#: how many were clipped, so a clip test cannot pass by never clipping).
CLIP_OBSERVERS: list = []


def _clip(a, clip):
    if clip is None:
        return a
    for observe in CLIP_OBSERVERS:
        observe(a.detach(), clip)
    return torch.clamp(a, -clip, clip)


def lstm_proj_step(x, state, p, case: Case):
    h, c = state
    a = _plus(x @ p["weight_ih"].T, p.get("bias_ih")) + _plus(h @ p["weight_hh"].T,
                                                              p.get("bias_hh"))
    a_i, a_f, a_g, a_o = a.chunk(4, dim=-1)
    c_new = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_g)
    h_new = (torch.sigmoid(a_o) * torch.tanh(c_new)) @ p["weight_hr"].T
    return h_new, c_new


def lstm_peephole_step(x, state, p, case: Case):
    """ONNX's LSTM (default activations, input_forget=0) in torch's gate order."""
    h, c = state
    clip = case.clip
    a = _plus(x @ p["weight_ih"].T, p.get("bias_ih")) + _plus(h @ p["weight_hh"].T,
                                                              p.get("bias_hh"))
    a_i, a_f, a_g, a_o = a.chunk(4, dim=-1)
    if "weight_peephole" in p:
        p_i, p_o, p_f = p["weight_peephole"].chunk(3)
        a_i, a_f = a_i + p_i * c, a_f + p_f * c
    i = torch.sigmoid(_clip(a_i, clip))
    f = torch.sigmoid(_clip(a_f, clip))
    g = torch.tanh(_clip(a_g, clip))
    c_new = f * c + i * g
    if "weight_peephole" in p:
        a_o = a_o + p_o * c_new
    o = torch.sigmoid(_clip(a_o, clip))
    return o * torch.tanh(c_new), c_new


def ln_gru_step(x, h, p, case: Case):
    gi = _plus(layer_norm(x @ p["weight_ih"].T, p["layernorm_ih_weight"]), p.get("bias_ih"))
    gh = _plus(layer_norm(h @ p["weight_hh"].T, p["layernorm_hh_weight"]), p.get("bias_hh"))
    i_r, i_z, i_n = gi.chunk(3, dim=-1)
    h_r, h_z, h_n = gh.chunk(3, dim=-1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h


def ln_lstm_step(x, state, p, case: Case):
    h, c = state
    a = (_plus(layer_norm(x @ p["weight_ih"].T, p["layernorm_ih_weight"]), p.get("bias_ih"))
         + _plus(layer_norm(h @ p["weight_hh"].T, p["layernorm_hh_weight"]), p.get("bias_hh")))
    a_i, a_f, a_g, a_o = a.chunk(4, dim=-1)
    c_new = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_g)
    y = layer_norm(c_new, p["layernorm_c_weight"], p.get("layernorm_c_bias"))
    return torch.sigmoid(a_o) * torch.tanh(y), c_new


STEPS = {"lstm_proj": lstm_proj_step, "lstm_peephole": lstm_peephole_step,
         "lstm_peephole_clip": lstm_peephole_step, "lstm_clip": lstm_peephole_step,
         "ln_gru": ln_gru_step, "ln_lstm": ln_lstm_step}


# ----------------------------------------------------------------------------
# references
# ----------------------------------------------------------------------------


def _leaf(a, dtype=np.float64):
    return torch.tensor(np.array(a, dtype=dtype, copy=True), requires_grad=True)


def _initial_states(case: Case, data, dtype) -> dict:
    """h0 (c0) as leaves, zeros where the layer gets None (dh0 is still compared)."""
    widths = {"h0": case.h_width, "c0": case.hidden_size}
    names = ("h0", "c0") if case.has_c else ("h0",)
    return {n: _leaf(np.zeros(state_shape(case, widths[n])) if data[n] is None else data[n],
                     dtype) for n in names}


def _finish(outputs: dict, inputs: dict, params: dict, data) -> dict:
    """Backpropagate L from ``outputs``; collect values and every gradient."""
    dtype = outputs["output"].dtype

    def upstream(a):
        return torch.from_numpy(np.asarray(a)).to(dtype)

    total = (outputs["output"] * upstream(data["g_out"])).sum()
    for key, g in (("h_n", "g_h"), ("c_n", "g_c")):
        if key in outputs and data[g] is not None:
            total = total + (outputs[key] * upstream(data[g])).sum()
    total.backward()
    result = {k: v.detach().numpy().copy() for k, v in outputs.items()}
    for name, leaf in {**inputs, **params}.items():
        grad = leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)  # unused: zero
        result["d" + name] = grad.numpy().copy()
    return result


def loop_reference(case: Case, state_dict: dict, data, dtype=np.float64) -> dict:
    """The layer as a Python loop of ``STEPS[case.variant]``, differentiated by autograd."""
    step = STEPS[case.variant]
    params = {k: _leaf(v, dtype) for k, v in state_dict.items()}
    x = _leaf(data["x"], dtype)
    states = _initial_states(case, data, dtype)
    T, D = case.T, case.directions

    seq = x if case.batch is not None else x.unsqueeze(1)
    if case.batch_first:
        seq = seq.transpose(0, 1)  # (T, B, I)
    initial = [states["h0"] if case.batch is not None else states["h0"].unsqueeze(1)]
    if case.has_c:
        initial.append(states["c0"] if case.batch is not None else states["c0"].unsqueeze(1))
    B = seq.shape[1]
    lengths = (torch.full((B,), T) if data["lengths"] is None
               else torch.from_numpy(data["lengths"]))
    valid = [(t < lengths)[:, None] for t in range(T)]  # (B, 1) each
    zero = torch.zeros((), dtype=seq.dtype)

    layer_input = seq
    finals = [[None] * (case.num_layers * D) for _ in initial]
    for layer in range(case.num_layers):
        outputs = []
        for direction in range(D):
            k = layer * D + direction
            suffix = f"_l{layer}{'_reverse' if direction else ''}"
            p = {name[: -len(suffix)]: v for name, v in params.items() if name.endswith(suffix)}
            state = tuple(s[k] for s in initial)
            out = [None] * T
            for t in (range(T - 1, -1, -1) if direction else range(T)):
                x_t = torch.where(valid[t], layer_input[t], zero)  # padding never read
                new = step(x_t, state if case.has_c else state[0], p, case)
                new = new if case.has_c else (new,)
                state = tuple(torch.where(valid[t], n, s) for n, s in zip(new, state,
                                                                          strict=True))
                out[t] = torch.where(valid[t], new[0], zero)
            outputs.append(torch.stack(out))
            for final, value in zip(finals, state, strict=True):
                final[k] = value
        layer_input = torch.cat(outputs, dim=2)

    output = layer_input
    if case.batch is None:
        output = output[:, 0]
    elif case.batch_first:
        output = output.transpose(0, 1)
    result = {"output": output}
    for key, final in zip(("h_n", "c_n")[: len(finals)], finals, strict=True):
        stacked = torch.stack(final)
        result[key] = stacked if case.batch is not None else stacked[:, 0]
    return _finish(result, {"x": x, **states}, params, data)


def torch_nn_reference(case: Case, state_dict: dict, data, dtype=None) -> dict:
    """torch.nn.LSTM(proj_size=P) with ``state_dict`` loaded, in ``dtype`` (by
    default the data's) (packed through pack_padded_sequence when there are lengths)."""
    assert case.variant == "lstm_proj"
    dtype = np.dtype(data["x"].dtype if dtype is None else dtype)
    torch_dtype = torch.float64 if dtype == np.float64 else torch.float32
    module = torch.nn.LSTM(case.input_size, case.hidden_size, num_layers=case.num_layers,
                           bias=case.bias, batch_first=case.batch_first,
                           bidirectional=case.bidirectional, proj_size=case.proj_size,
                           dtype=torch_dtype)
    module.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in state_dict.items()})
    x = _leaf(data["x"], dtype)
    states = _initial_states(case, data, dtype)
    hx = (states["h0"], states["c0"])
    if data["lengths"] is None:
        output, (h_n, c_n) = module(x, hx)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            x, torch.from_numpy(data["lengths"]), batch_first=case.batch_first,
            enforce_sorted=False)
        packed_output, (h_n, c_n) = module(packed, hx)
        output, _ = torch.nn.utils.rnn.pad_packed_sequence(
            packed_output, batch_first=case.batch_first, total_length=case.T)
    params = dict(module.named_parameters())
    return _finish({"output": output, "h_n": h_n, "c_n": c_n}, {"x": x, **states}, params, data)


# ----------------------------------------------------------------------------
# onnxruntime
# ----------------------------------------------------------------------------

#: bptt's (torch's) gate blocks i, f, g, o taken in ONNX's order i, o, f, c.
ONNX_GATE_ORDER = (0, 3, 1, 2)


def to_onnx_weights(state_dict: dict, layer: int, directions: int, hidden_size: int,
                    bias: bool, peepholes: bool) -> dict:
    """W (D, 4H, I), R (D, 4H, H), B (D, 8H) = [Wb; Rb], P (D, 3H) from bptt's layout."""
    H = hidden_size

    def reorder(a):
        return np.concatenate([a[g * H:(g + 1) * H] for g in ONNX_GATE_ORDER], axis=0)

    names = [f"_l{layer}{'_reverse' if d else ''}" for d in range(directions)]
    out = {
        "W": np.stack([reorder(state_dict["weight_ih" + s]) for s in names]),
        "R": np.stack([reorder(state_dict["weight_hh" + s]) for s in names]),
    }
    if bias:
        out["B"] = np.stack([np.concatenate([reorder(state_dict["bias_ih" + s]),
                                             reorder(state_dict["bias_hh" + s])])
                             for s in names])
    if peepholes:  # ONNX's P order is i, o, f: bptt keeps it so
        out["P"] = np.stack([state_dict["weight_peephole" + s] for s in names])
    return out


def onnx_lstm(case: Case, state_dict: dict, data) -> dict:
    """Forward through onnxruntime: one ONNX LSTM node per layer, chained.

    float32 throughout; returns output, h_n and c_n in the caller's layout.
    """
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper

    assert case.batch is not None
    H, D, T, B = case.hidden_size, case.directions, case.T, case.batch
    f32 = np.float32
    x = data["x"].astype(f32)
    if case.batch_first:
        x = x.transpose(1, 0, 2)
    LD = case.num_layers * D
    h0 = np.zeros((LD, B, H), f32) if data["h0"] is None else data["h0"].astype(f32)
    c0 = np.zeros((LD, B, H), f32) if data["c0"] is None else data["c0"].astype(f32)
    lengths = np.full(B, T) if data["lengths"] is None else data["lengths"]

    nodes, initializers = [], []
    feeds = {"X": np.ascontiguousarray(x), "seq_lens": lengths.astype(np.int32)}
    graph_inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(x.shape)),
                    helper.make_tensor_value_info("seq_lens", TensorProto.INT32, [B])]
    graph_outputs = []
    layer_input = "X"
    attributes = {"hidden_size": H,
                  "direction": "bidirectional" if case.bidirectional else "forward"}
    if case.clip is not None:
        attributes["clip"] = float(case.clip)
    for layer in range(case.num_layers):
        weights = to_onnx_weights(state_dict, layer, D, H, case.bias, case.peepholes)
        for key, value in weights.items():
            initializers.append(numpy_helper.from_array(value.astype(f32), f"{key}{layer}"))
        for key, value in (("h0_", h0), ("c0_", c0)):
            name = f"{key}{layer}"
            feeds[name] = np.ascontiguousarray(value[layer * D:(layer + 1) * D])
            graph_inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT,
                                                              [D, B, H]))
        inputs = [layer_input, f"W{layer}", f"R{layer}", f"B{layer}" if case.bias else "",
                  "seq_lens", f"h0_{layer}", f"c0_{layer}", f"P{layer}" if case.peepholes else ""]
        while inputs[-1] == "":
            inputs.pop()
        outputs = [f"Y{layer}", f"Y_h{layer}", f"Y_c{layer}"]
        nodes.append(helper.make_node("LSTM", inputs, outputs, **attributes))
        # Y (T, D, B, H) -> (T, B, D H): the next layer's input
        nodes.append(helper.make_node("Transpose", [f"Y{layer}"], [f"Yt{layer}"],
                                      perm=[0, 2, 1, 3]))
        initializers.append(numpy_helper.from_array(np.array([T, B, D * H], np.int64),
                                                    f"shape{layer}"))
        nodes.append(helper.make_node("Reshape", [f"Yt{layer}", f"shape{layer}"],
                                      [f"out{layer}"]))
        layer_input = f"out{layer}"
        graph_outputs += [helper.make_tensor_value_info(f"Y_h{layer}", TensorProto.FLOAT,
                                                        [D, B, H]),
                          helper.make_tensor_value_info(f"Y_c{layer}", TensorProto.FLOAT,
                                                        [D, B, H])]
    graph_outputs.insert(0, helper.make_tensor_value_info(layer_input, TensorProto.FLOAT,
                                                          [T, B, D * H]))
    graph = helper.make_graph(nodes, "bptt_lstm", graph_inputs, graph_outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    results = session.run(None, feeds)
    output = results[0]
    if case.batch_first:
        output = output.transpose(1, 0, 2)
    return {"output": output,
            "h_n": np.concatenate(results[1::2], axis=0),
            "c_n": np.concatenate(results[2::2], axis=0)}
