"""LSTM cell: Numba twin of ``bptt._numpy.lstm``. Gates stacked i, f, g, o:

    i = sigma(a_i)   f = sigma(a_f)   g = tanh(a_g)   o = sigma(a_o)
    a = W_ih x + b_ih + W_hh h + b_hh                      (B, 4H)
    c' = f (.) c + i (.) g
    h' = o (.) tanh(c')

The cache is gates (B, 5H) = [i | f | g | o | tanh(c')], all post-activation.
``one = h.dtype.type(1)`` keeps float32 arithmetic in float32.
"""

import math

import numpy as np

from . import _seq
from ._config import jit
from ._math import add_dbias, add_dweight, project, sigmoid


@jit
def lstm_step_forward(h_next, c_next, gates, gi, h, c, weight_hh, bias_hh):
    """h_next, c_next: (B, H) written.  gates: (B, 5H) written.
    gi: (B, 4H) = x W_ih^T + b_ih.  h, c: (B, H).  weight_hh: (4H, H)."""
    B, H = h.shape
    ah = np.empty((B, 4 * H), dtype=h.dtype)
    _lstm_step_forward(h_next, c_next, gates, gi, h, c, weight_hh, bias_hh, ah)


@jit
def _lstm_step_forward(h_next, c_next, gates, gi, h, c, weight_hh, bias_hh, ah):
    """``lstm_step_forward`` on the caller's workspace ah: (B, 4H)."""
    B, H = h.shape
    np.dot(h, weight_hh.T, ah)  # h W_hh^T
    for b in range(B):
        for j in range(H):
            i = sigmoid(gi[b, j] + ah[b, j] + bias_hh[j])  # [LSTM i]
            f = sigmoid(gi[b, H + j] + ah[b, H + j] + bias_hh[H + j])  # [LSTM f]
            g = math.tanh(gi[b, 2 * H + j] + ah[b, 2 * H + j] + bias_hh[2 * H + j])  # [LSTM g]
            o = sigmoid(gi[b, 3 * H + j] + ah[b, 3 * H + j] + bias_hh[3 * H + j])  # [LSTM o]
            cn = f * c[b, j] + i * g  # [LSTM c']
            tc = math.tanh(cn)
            c_next[b, j] = cn
            h_next[b, j] = o * tc  # [LSTM h']
            gates[b, j] = i
            gates[b, H + j] = f
            gates[b, 2 * H + j] = g
            gates[b, 3 * H + j] = o
            gates[b, 4 * H + j] = tc


@jit
def lstm_step_backward(da, dh, dc, dh_next, dc_next, gates, c, weight_hh):
    """Mirror of ``lstm_step_forward``.

    da: (B, 4H) written, dL/d(pre-activations).  dh, dc: (B, H) written.
    dh_next, dc_next: (B, H), dL/dh' and dL/dc' (from outside the cell).
    """
    B, H = c.shape
    one = c.dtype.type(1)
    for b in range(B):
        for j in range(H):
            i = gates[b, j]
            f = gates[b, H + j]
            g = gates[b, 2 * H + j]
            o = gates[b, 3 * H + j]
            tc = gates[b, 4 * H + j]
            # h' = o tanh(c')
            do = dh_next[b, j] * tc  # [LSTM do]
            dc_total = dc_next[b, j] + dh_next[b, j] * o * (one - tc * tc)  # [LSTM dc']
            # c' = f c + i g
            df = dc_total * c[b, j]  # [LSTM df]
            di = dc_total * g  # [LSTM di]
            dg = dc_total * i  # [LSTM dg]
            dc[b, j] = dc_total * f  # [LSTM dc]
            da[b, j] = di * i * (one - i)  # [LSTM da]
            da[b, H + j] = df * f * (one - f)  # [LSTM da]
            da[b, 2 * H + j] = dg * (one - g * g)  # [LSTM da]
            da[b, 3 * H + j] = do * o * (one - o)  # [LSTM da]
    np.dot(da, weight_hh, dh)  # [LSTM dh]


@jit
def lstm_cell_forward(h_next, c_next, gates, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    """h_next, c_next: (B, H) written.  gates: (B, 5H) written.  x: (B, I).
    h, c: (B, H).  weight_ih: (4H, I).  weight_hh: (4H, H).  biases: (4H,)."""
    B, H = h.shape
    gi = np.empty((B, 4 * H), dtype=h.dtype)  # x W_ih^T + b_ih
    project(gi, x, weight_ih, bias_ih)
    lstm_step_forward(h_next, c_next, gates, gi, h, c, weight_hh, bias_hh)


@jit
def lstm_cell_backward(
    dx, dh, dc, dweight_ih, dweight_hh, dbias_ih, dbias_hh,
    dh_next, dc_next, gates, x, h, c, weight_ih, weight_hh,
):
    """Mirror of ``lstm_cell_forward``: writes dx (B, I), dh, dc (B, H), adds
    into the four parameter gradients."""
    B, H = h.shape
    da = np.empty((B, 4 * H), dtype=h.dtype)
    lstm_step_backward(da, dh, dc, dh_next, dc_next, gates, c, weight_hh)
    add_dweight(dweight_hh, da, h)  # [LSTM dW]
    add_dbias(dbias_hh, da)  # [LSTM dW]
    np.dot(da, weight_ih, dx)  # [LSTM dW]
    add_dweight(dweight_ih, da, x)  # [LSTM dW]
    add_dbias(dbias_ih, da)  # [LSTM dW]


# ----------------------------------------------------------------------------
# sequences: one layer, one direction (conventions in _seq.py)
# ----------------------------------------------------------------------------


@jit
def lstm_seq_forward(
    output, h_n, c_n, hs, cs, gates, x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh,
    lengths, reverse,
):
    """output: (T, B, H) written.  h_n, c_n: (B, H) written.  hs, cs:
    (T+1, B, H) and gates: (T, B, 5H) written, the cache.  x: (T, B, I).
    h0, c0: (B, H).  lengths: (B,) int64."""
    T, B, _ = x.shape
    H = h0.shape[1]
    gi = np.empty((T, B, 4 * H), dtype=x.dtype)  # x W_ih^T + b_ih
    ah = np.empty((B, 4 * H), dtype=x.dtype)  # step workspace
    _seq.input_projection(gi, x, weight_ih, bias_ih)
    first = _seq.final_index(T, not reverse)
    hs[first] = h0
    cs[first] = c0
    for k in range(T):
        t = _seq.step_at(k, T, reverse)
        p, q = _seq.prev_next(t, reverse)
        _lstm_step_forward(hs[q], cs[q], gates[t], gi[t], hs[p], cs[p], weight_hh, bias_hh, ah)
        _seq.keep_invalid_rows(hs[q], hs[p], t, lengths)
        _seq.keep_invalid_rows(cs[q], cs[p], t, lengths)
        _seq.masked_output(output[t], hs[q], t, lengths)
    last = _seq.final_index(T, reverse)
    h_n[:] = hs[last]
    c_n[:] = cs[last]


@jit
def lstm_seq_backward(
    dx, dh0, dc0, dweight_ih, dweight_hh, dbias_ih, dbias_hh,
    doutput, dh_n, dc_n, gates, hs, cs, x, weight_ih, weight_hh, lengths, reverse,
):
    """Mirror of ``lstm_seq_forward``."""
    T, B, _ = x.shape
    H = dh0.shape[1]
    da = np.empty((T, B, 4 * H), dtype=x.dtype)
    dh, dc = dh_n.copy(), dc_n.copy()  # carried backwards through time; [BPTT carry]
    dh_prev, dc_prev = np.empty_like(dh), np.empty_like(dc)  # swapped with dh, dc
    dh_next, dc_next = np.empty_like(dh), np.empty_like(dc)  # the step's inputs
    for k in range(T - 1, -1, -1):
        t = _seq.step_at(k, T, reverse)
        p, _ = _seq.prev_next(t, reverse)
        _seq.masked_sum(dh_next, dh, doutput[t], t, lengths)  # [BPTT carry], [BPTT lengths]
        _seq.masked_copy(dc_next, dc, t, lengths)  # [BPTT carry] for c, [BPTT lengths]
        lstm_step_backward(da[t], dh_prev, dc_prev, dh_next, dc_next, gates[t], cs[p], weight_hh)
        _seq.keep_invalid_rows(dh_prev, dh, t, lengths)  # [BPTT lengths]
        _seq.keep_invalid_rows(dc_prev, dc, t, lengths)  # [BPTT lengths]
        dh, dh_prev = dh_prev, dh  # [BPTT carry]
        dc, dc_prev = dc_prev, dc  # [BPTT carry]
    dh0[:] = dh  # [BPTT carry]: the carry is now dL/dh0
    dc0[:] = dc  # [BPTT carry]
    # dW_hh += dA^T Hprev and db_hh, over all T*B rows at once
    da2 = da.reshape(T * B, 4 * H)
    add_dweight(dweight_hh, da2, _seq.previous_states(hs, reverse))  # [BPTT dW_hh]
    add_dbias(dbias_hh, da2)  # [BPTT dW_hh]
    _seq.input_backward(dx, dweight_ih, dbias_ih, da, x, weight_ih)  # [BPTT dW_ih]
