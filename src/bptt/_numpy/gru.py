"""GRU cells, both formulations (SPEC.md "The cells").

torch / cuDNN formulation, gates stacked r, z, n:
    r  = sigma(W_ir x + b_ir + W_hr h + b_hr)
    z  = sigma(W_iz x + b_iz + W_hz h + b_hz)
    n  = tanh(W_in x + b_in + r (.) (W_hn h + b_hn))
    h' = (1 - z) (.) n + z (.) h

seed formulation (seeds 000 and 001), rows stacked r, z, h~:
    z  = sigma(W_zh h + W_zx x + b_z)
    r  = sigma(W_rh h + W_rx x + b_r)
    h~ = tanh(W_h (r (.) h) + W_x x + b_h)
    h' = (1 - z) (.) h + z (.) h~

Every kernel works on a batch: x (B, I), h (B, H). A cell step is split in
two: the input projection ``gi = x W_ih^T + b`` (for a sequence, one matrix
product over all steps) and the recurrent ``*_step_*`` part.
"""

import numpy as np

from . import _seq
from ._math import sigmoid

# ----------------------------------------------------------------------------
# torch formulation
# ----------------------------------------------------------------------------


def gru_step_forward(h_next, gates, gi, h, weight_hh, bias_hh):
    """One step after the input projection.

    h_next: (B, H) written.  gates: (B, 4H) written: [r | z | n | hn], where
    hn = W_hn h + b_hn is kept because dL/dr needs it.
    gi: (B, 3H) = x W_ih^T + b_ih.  h: (B, H).  weight_hh: (3H, H).
    """
    H = h.shape[1]
    gh = h @ weight_hh.T + bias_hh  # (B, 3H)
    r = sigmoid(gi[:, :H] + gh[:, :H])  # [torch-GRU r]
    z = sigmoid(gi[:, H : 2 * H] + gh[:, H : 2 * H])  # [torch-GRU z]
    hn = gh[:, 2 * H :]
    n = np.tanh(gi[:, 2 * H :] + r * hn)  # [torch-GRU n]
    h_next[...] = (1 - z) * n + z * h  # [torch-GRU h']
    gates[:, :H] = r
    gates[:, H : 2 * H] = z
    gates[:, 2 * H : 3 * H] = n
    gates[:, 3 * H :] = hn


def gru_step_backward(dgi, dgh, dh, dh_next, gates, h, weight_hh):
    """Mirror of ``gru_step_forward``.

    dgi: (B, 3H) written, dL/d(gi).  dgh: (B, 3H) written, dL/d(W_hh h + b_hh).
    dh: (B, H) written, dL/dh.  dh_next: (B, H), dL/dh'.
    """
    H = h.shape[1]
    r = gates[:, :H]
    z = gates[:, H : 2 * H]
    n = gates[:, 2 * H : 3 * H]
    hn = gates[:, 3 * H :]
    # h' = (1 - z) n + z h
    dn = dh_next * (1 - z)  # [torch-GRU dn]
    dz = dh_next * (h - n)  # [torch-GRU dz]
    dh_direct = dh_next * z  # first term of [torch-GRU dh]
    # n = tanh(a_n), a_n = gi_n + r hn
    dan = dn * (1 - n * n)  # [torch-GRU da_n]
    dr = dan * hn  # [torch-GRU dr]
    dhn = dan * r  # [torch-GRU dhn]
    # r, z = sigma(a_r), sigma(a_z)
    dar = dr * r * (1 - r)  # [torch-GRU da_r]
    daz = dz * z * (1 - z)  # [torch-GRU da_z]
    dgi[:, :H] = dar  # [torch-GRU dgi]
    dgi[:, H : 2 * H] = daz
    dgi[:, 2 * H :] = dan
    dgh[:, :H] = dar  # [torch-GRU dgh]
    dgh[:, H : 2 * H] = daz
    dgh[:, 2 * H :] = dhn
    dh[...] = dh_direct + dgh @ weight_hh  # [torch-GRU dh]


def gru_cell_forward(h_next, gates, x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    """One GRU cell step, torch formulation.

    h_next: (B, H) written.  gates: (B, 4H) written, the cache for backward.
    x: (B, I).  h: (B, H).  weight_ih: (3H, I).  weight_hh: (3H, H).
    bias_ih, bias_hh: (3H,).
    """
    gi = x @ weight_ih.T + bias_ih  # (B, 3H)
    gru_step_forward(h_next, gates, gi, h, weight_hh, bias_hh)


def gru_cell_backward(
    dx, dh, dweight_ih, dweight_hh, dbias_ih, dbias_hh,
    dh_next, gates, x, h, weight_ih, weight_hh,
):
    """Mirror of ``gru_cell_forward``: writes dx (B, I) and dh (B, H), adds
    into dweight_ih (3H, I), dweight_hh (3H, H), dbias_ih, dbias_hh (3H,)."""
    B, H = h.shape
    dgi = np.empty((B, 3 * H), dtype=h.dtype)
    dgh = np.empty((B, 3 * H), dtype=h.dtype)
    gru_step_backward(dgi, dgh, dh, dh_next, gates, h, weight_hh)
    dweight_hh += dgh.T @ h  # [torch-GRU dW]
    dbias_hh += dgh.sum(axis=0)  # [torch-GRU dW]
    dx[...] = dgi @ weight_ih  # [torch-GRU dW]
    dweight_ih += dgi.T @ x  # [torch-GRU dW]
    dbias_ih += dgi.sum(axis=0)  # [torch-GRU dW]


# ----------------------------------------------------------------------------
# seed formulation
# ----------------------------------------------------------------------------


def gru_seed_step_forward(h_next, gates, gi, h, weight_hh):
    """One seed-GRU step after the input projection.

    h_next: (B, H) written.  gates: (B, 3H) written: [r | z | h~].
    gi: (B, 3H) = x W_ih^T + b (all biases of this formulation are additive).
    h: (B, H).  weight_hh: (3H, H), rows [W_rh; W_zh; W_h].
    """
    H = h.shape[1]
    ghrz = h @ weight_hh[: 2 * H].T  # (B, 2H)
    r = sigmoid(gi[:, :H] + ghrz[:, :H])  # [seed-GRU r]
    z = sigmoid(gi[:, H : 2 * H] + ghrz[:, H:])  # [seed-GRU z]
    rh = r * h
    hc = np.tanh(gi[:, 2 * H :] + rh @ weight_hh[2 * H :].T)  # [seed-GRU h~]
    h_next[...] = (1 - z) * h + z * hc  # [seed-GRU h']
    gates[:, :H] = r
    gates[:, H : 2 * H] = z
    gates[:, 2 * H :] = hc


def gru_seed_step_backward(dgi, dh, dh_next, gates, h, weight_hh):
    """Mirror of ``gru_seed_step_forward``.

    dgi: (B, 3H) written, dL/d(gi) (= dL/d(bias) per row); it is also the
    gradient of the recurrent pre-activations, whose inputs are [h, h, r h],
    so the caller adds dweight_hh from it (``gru_seed_dweight_hh``).
    dh: (B, H) written.  dh_next: (B, H), dL/dh'.
    """
    H = h.shape[1]
    r = gates[:, :H]
    z = gates[:, H : 2 * H]
    hc = gates[:, 2 * H :]
    # h' = (1 - z) h + z h~
    dhc = dh_next * z  # [seed-GRU dh~]
    dz = dh_next * (hc - h)  # [seed-GRU dz]
    dh_direct = dh_next * (1 - z)  # [seed-GRU dh], path 1
    # h~ = tanh(a_h), a_h = gi_h + W_h (r h)
    dah = dhc * (1 - hc * hc)  # [seed-GRU da_h]
    drh = dah @ weight_hh[2 * H :]  # [seed-GRU drh]
    dr = drh * h  # [seed-GRU dr]
    dh_direct += drh * r  # [seed-GRU dh], path 2
    # r, z = sigma(a_r), sigma(a_z)
    dar = dr * r * (1 - r)  # [seed-GRU da_r]
    daz = dz * z * (1 - z)  # [seed-GRU da_z]
    dgi[:, :H] = dar  # [seed-GRU dgi]
    dgi[:, H : 2 * H] = daz
    dgi[:, 2 * H :] = dah
    dh[...] = dh_direct + dgi[:, : 2 * H] @ weight_hh[: 2 * H]  # [seed-GRU dh], adding path 3


def gru_seed_dweight_hh(dweight_hh, dgi, gates, h):
    """dweight_hh (3H, H) += the recurrent weights' gradient over N rows.

    dgi: (N, 3H) from ``gru_seed_step_backward``.  gates: (N, 3H).  h: (N, H),
    the state each row's step started from. W_rh and W_zh multiply h, W_h
    multiplies r h.
    """
    H = h.shape[1]
    dweight_hh[: 2 * H] += dgi[:, : 2 * H].T @ h  # [seed-GRU dW]
    dweight_hh[2 * H :] += dgi[:, 2 * H :].T @ (gates[:, :H] * h)  # [seed-GRU dW]


def gru_seed_cell_forward(h_next, gates, x, h, weight_ih, weight_hh, bias):
    """One GRU cell step, seed formulation.

    h_next: (B, H) written.  gates: (B, 3H) written, the cache for backward.
    x: (B, I).  h: (B, H).  weight_ih: (3H, I) rows [W_rx; W_zx; W_x].
    weight_hh: (3H, H) rows [W_rh; W_zh; W_h].  bias: (3H,) [b_r; b_z; b_h].
    """
    gi = x @ weight_ih.T + bias  # (B, 3H)
    gru_seed_step_forward(h_next, gates, gi, h, weight_hh)


def gru_seed_cell_backward(
    dx, dh, dweight_ih, dweight_hh, dbias,
    dh_next, gates, x, h, weight_ih, weight_hh,
):
    """Mirror of ``gru_seed_cell_forward``: writes dx (B, I) and dh (B, H),
    adds into dweight_ih (3H, I), dweight_hh (3H, H), dbias (3H,)."""
    B, H = h.shape
    dgi = np.empty((B, 3 * H), dtype=h.dtype)
    gru_seed_step_backward(dgi, dh, dh_next, gates, h, weight_hh)
    gru_seed_dweight_hh(dweight_hh, dgi, gates, h)
    dx[...] = dgi @ weight_ih  # [seed-GRU dx]
    dweight_ih += dgi.T @ x  # [seed-GRU dW]
    dbias += dgi.sum(axis=0)  # [seed-GRU db]


# ----------------------------------------------------------------------------
# sequences: one layer, one direction (conventions in _seq.py)
# ----------------------------------------------------------------------------


def gru_seq_forward(
    output, h_n, hs, gates, x, h0, weight_ih, weight_hh, bias_ih, bias_hh, lengths, reverse
):
    """output: (T, B, H) written.  h_n: (B, H) written.  hs: (T+1, B, H) and
    gates: (T, B, 4H) written, the cache.  x: (T, B, I).  h0: (B, H).
    lengths: (B,) int64.  reverse: process t = T-1 .. 0."""
    T = x.shape[0]
    gi = _seq.input_projection(x, weight_ih, bias_ih)  # (T, B, 3H)
    hs[_seq.final_index(T, not reverse)] = h0
    for t in _seq.steps(T, reverse):
        p, q = _seq.prev_next(t, reverse)
        valid = t < lengths
        gru_step_forward(hs[q], gates[t], gi[t], hs[p], weight_hh, bias_hh)
        _seq.keep_invalid_rows(hs[q], hs[p], valid)
        output[t] = hs[q] * valid[:, None]
    h_n[...] = hs[_seq.final_index(T, reverse)]


def gru_seq_backward(
    dx, dh0, dweight_ih, dweight_hh, dbias_ih, dbias_hh,
    doutput, dh_n, gates, hs, x, weight_ih, weight_hh, lengths, reverse,
):
    """Mirror of ``gru_seq_forward``: dx (T, B, I) and dh0 (B, H) written,
    parameter gradients added. doutput: (T, B, H); dh_n: (B, H)."""
    T, B, _ = x.shape
    H = dh0.shape[1]
    dgi = np.empty((T, B, 3 * H), dtype=x.dtype)
    dgh = np.empty((T, B, 3 * H), dtype=x.dtype)
    dh = dh_n.copy()  # dL/d(state), carried backwards through time; [BPTT carry]
    dh_prev = np.empty_like(dh)
    for t in reversed(_seq.steps(T, reverse)):
        p, _ = _seq.prev_next(t, reverse)
        valid = t < lengths
        dh_next = (dh + doutput[t]) * valid[:, None]  # [BPTT carry], [BPTT lengths]
        gru_step_backward(dgi[t], dgh[t], dh_prev, dh_next, gates[t], hs[p], weight_hh)
        _seq.keep_invalid_rows(dh_prev, dh, valid)  # [BPTT lengths]
        dh, dh_prev = dh_prev, dh  # [BPTT carry]
    dh0[...] = dh  # [BPTT carry]: the carry is now dL/dh0
    h_prev = _seq.previous_states(hs, reverse).reshape(T * B, H)
    dgh2 = dgh.reshape(T * B, 3 * H)
    dweight_hh += dgh2.T @ h_prev  # [BPTT dW_hh]
    dbias_hh += dgh2.sum(axis=0)  # [BPTT dW_hh]
    _seq.input_backward(dx, dweight_ih, dbias_ih, dgi, x, weight_ih)  # [BPTT dW_ih]


def gru_seed_seq_forward(
    output, h_n, hs, gates, x, h0, weight_ih, weight_hh, bias, lengths, reverse
):
    """As ``gru_seq_forward``, seed formulation: gates (T, B, 3H), one bias (3H,)."""
    T = x.shape[0]
    gi = _seq.input_projection(x, weight_ih, bias)  # (T, B, 3H)
    hs[_seq.final_index(T, not reverse)] = h0
    for t in _seq.steps(T, reverse):
        p, q = _seq.prev_next(t, reverse)
        valid = t < lengths
        gru_seed_step_forward(hs[q], gates[t], gi[t], hs[p], weight_hh)
        _seq.keep_invalid_rows(hs[q], hs[p], valid)
        output[t] = hs[q] * valid[:, None]
    h_n[...] = hs[_seq.final_index(T, reverse)]


def gru_seed_seq_backward(
    dx, dh0, dweight_ih, dweight_hh, dbias,
    doutput, dh_n, gates, hs, x, weight_ih, weight_hh, lengths, reverse,
):
    """Mirror of ``gru_seed_seq_forward``."""
    T, B, _ = x.shape
    H = dh0.shape[1]
    dgi = np.empty((T, B, 3 * H), dtype=x.dtype)
    dh = dh_n.copy()  # [BPTT carry]
    dh_prev = np.empty_like(dh)
    for t in reversed(_seq.steps(T, reverse)):
        p, _ = _seq.prev_next(t, reverse)
        valid = t < lengths
        dh_next = (dh + doutput[t]) * valid[:, None]  # [BPTT carry], [BPTT lengths]
        gru_seed_step_backward(dgi[t], dh_prev, dh_next, gates[t], hs[p], weight_hh)
        _seq.keep_invalid_rows(dh_prev, dh, valid)  # [BPTT lengths]
        dh, dh_prev = dh_prev, dh  # [BPTT carry]
    dh0[...] = dh  # [BPTT carry]: the carry is now dL/dh0
    h_prev = _seq.previous_states(hs, reverse).reshape(T * B, H)
    # [BPTT dW_hh], by [seed-GRU dW]
    gru_seed_dweight_hh(dweight_hh, dgi.reshape(T * B, 3 * H), gates.reshape(T * B, 3 * H), h_prev)
    _seq.input_backward(dx, dweight_ih, dbias, dgi, x, weight_ih)  # [BPTT dW_ih]
