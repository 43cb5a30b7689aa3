"""LSTM cell (SPEC.md "LSTM"), gates stacked i, f, g, o:

    i = sigma(a_i)   f = sigma(a_f)   g = tanh(a_g)   o = sigma(a_o)
    a = W_ih x + b_ih + W_hh h + b_hh                      (B, 4H)
    c' = f (.) c + i (.) g
    h' = o (.) tanh(c')

The cache is gates (B, 5H) = [i | f | g | o | tanh(c')], all post-activation.
"""

import numpy as np

from . import _seq
from ._math import sigmoid


def lstm_step_forward(h_next, c_next, gates, gi, h, c, weight_hh, bias_hh):
    """h_next, c_next: (B, H) written.  gates: (B, 5H) written.
    gi: (B, 4H) = x W_ih^T + b_ih.  h, c: (B, H).  weight_hh: (4H, H)."""
    H = h.shape[1]
    a = gi + h @ weight_hh.T + bias_hh  # (B, 4H)
    i = sigmoid(a[:, :H])  # [LSTM i]
    f = sigmoid(a[:, H : 2 * H])  # [LSTM f]
    g = np.tanh(a[:, 2 * H : 3 * H])  # [LSTM g]
    o = sigmoid(a[:, 3 * H :])  # [LSTM o]
    c_next[...] = f * c + i * g  # [LSTM c']
    tc = np.tanh(c_next)
    h_next[...] = o * tc  # [LSTM h']
    gates[:, :H] = i
    gates[:, H : 2 * H] = f
    gates[:, 2 * H : 3 * H] = g
    gates[:, 3 * H : 4 * H] = o
    gates[:, 4 * H :] = tc


def lstm_step_backward(da, dh, dc, dh_next, dc_next, gates, c, weight_hh):
    """Mirror of ``lstm_step_forward``.

    da: (B, 4H) written, dL/d(pre-activations).  dh, dc: (B, H) written.
    dh_next, dc_next: (B, H), dL/dh' and dL/dc' (from outside the cell).
    """
    H = c.shape[1]
    i = gates[:, :H]
    f = gates[:, H : 2 * H]
    g = gates[:, 2 * H : 3 * H]
    o = gates[:, 3 * H : 4 * H]
    tc = gates[:, 4 * H :]
    # h' = o tanh(c')
    do = dh_next * tc  # [LSTM do]
    dc_total = dc_next + dh_next * o * (1 - tc * tc)  # [LSTM dc']
    # c' = f c + i g
    df = dc_total * c  # [LSTM df]
    di = dc_total * g  # [LSTM di]
    dg = dc_total * i  # [LSTM dg]
    dc[...] = dc_total * f  # [LSTM dc]
    da[:, :H] = di * i * (1 - i)  # [LSTM da]
    da[:, H : 2 * H] = df * f * (1 - f)  # [LSTM da]
    da[:, 2 * H : 3 * H] = dg * (1 - g * g)  # [LSTM da]
    da[:, 3 * H :] = do * o * (1 - o)  # [LSTM da]
    dh[...] = da @ weight_hh  # [LSTM dh]


def lstm_cell_forward(h_next, c_next, gates, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    """h_next, c_next: (B, H) written.  gates: (B, 5H) written.  x: (B, I).
    h, c: (B, H).  weight_ih: (4H, I).  weight_hh: (4H, H).  biases: (4H,)."""
    gi = x @ weight_ih.T + bias_ih  # (B, 4H)
    lstm_step_forward(h_next, c_next, gates, gi, h, c, weight_hh, bias_hh)


def lstm_cell_backward(
    dx, dh, dc, dweight_ih, dweight_hh, dbias_ih, dbias_hh,
    dh_next, dc_next, gates, x, h, c, weight_ih, weight_hh,
):
    """Mirror of ``lstm_cell_forward``: writes dx (B, I), dh, dc (B, H), adds
    into the four parameter gradients."""
    B, H = h.shape
    da = np.empty((B, 4 * H), dtype=h.dtype)
    lstm_step_backward(da, dh, dc, dh_next, dc_next, gates, c, weight_hh)
    dweight_hh += da.T @ h  # [LSTM dW]
    dbias_hh += da.sum(axis=0)  # [LSTM dW]
    dx[...] = da @ weight_ih  # [LSTM dW]
    dweight_ih += da.T @ x  # [LSTM dW]
    dbias_ih += da.sum(axis=0)  # [LSTM dW]


# ----------------------------------------------------------------------------
# sequences: one layer, one direction (conventions in _seq.py)
# ----------------------------------------------------------------------------


def lstm_seq_forward(
    output, h_n, c_n, hs, cs, gates, x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh,
    lengths, reverse,
):
    """output: (T, B, H) written.  h_n, c_n: (B, H) written.  hs, cs:
    (T+1, B, H) and gates: (T, B, 5H) written, the cache.  x: (T, B, I).
    h0, c0: (B, H).  lengths: (B,) int64."""
    T = x.shape[0]
    gi = _seq.input_projection(x, weight_ih, bias_ih)  # (T, B, 4H)
    first = _seq.final_index(T, not reverse)
    hs[first] = h0
    cs[first] = c0
    for t in _seq.steps(T, reverse):
        p, q = _seq.prev_next(t, reverse)
        valid = t < lengths
        lstm_step_forward(hs[q], cs[q], gates[t], gi[t], hs[p], cs[p], weight_hh, bias_hh)
        _seq.keep_invalid_rows(hs[q], hs[p], valid)
        _seq.keep_invalid_rows(cs[q], cs[p], valid)
        output[t] = hs[q] * valid[:, None]
    last = _seq.final_index(T, reverse)
    h_n[...] = hs[last]
    c_n[...] = cs[last]


def lstm_seq_backward(
    dx, dh0, dc0, dweight_ih, dweight_hh, dbias_ih, dbias_hh,
    doutput, dh_n, dc_n, gates, hs, cs, x, weight_ih, weight_hh, lengths, reverse,
):
    """Mirror of ``lstm_seq_forward``."""
    T, B, _ = x.shape
    H = dh0.shape[1]
    da = np.empty((T, B, 4 * H), dtype=x.dtype)
    dh, dc = dh_n.copy(), dc_n.copy()  # [BPTT carry]
    dh_prev, dc_prev = np.empty_like(dh), np.empty_like(dc)
    for t in reversed(_seq.steps(T, reverse)):
        p, _ = _seq.prev_next(t, reverse)
        valid = t < lengths
        dh_next = (dh + doutput[t]) * valid[:, None]  # [BPTT carry], [BPTT lengths]
        dc_next = dc * valid[:, None]  # [BPTT carry] for c, [BPTT lengths]
        lstm_step_backward(da[t], dh_prev, dc_prev, dh_next, dc_next, gates[t], cs[p], weight_hh)
        _seq.keep_invalid_rows(dh_prev, dh, valid)  # [BPTT lengths]
        _seq.keep_invalid_rows(dc_prev, dc, valid)  # [BPTT lengths]
        dh, dh_prev = dh_prev, dh  # [BPTT carry]
        dc, dc_prev = dc_prev, dc  # [BPTT carry]
    dh0[...] = dh  # [BPTT carry]: the carry is now dL/dh0
    dc0[...] = dc  # [BPTT carry]
    h_prev = _seq.previous_states(hs, reverse).reshape(T * B, H)
    da2 = da.reshape(T * B, 4 * H)
    dweight_hh += da2.T @ h_prev  # [BPTT dW_hh]
    dbias_hh += da2.sum(axis=0)  # [BPTT dW_hh]
    _seq.input_backward(dx, dweight_ih, dbias_ih, da, x, weight_ih)  # [BPTT dW_ih]
