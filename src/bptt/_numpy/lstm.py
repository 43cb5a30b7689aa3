"""LSTM cell (SPEC.md "LSTM"), gates stacked i, f, g, o:

    i = sigma(a_i)   f = sigma(a_f)   g = tanh(a_g)   o = sigma(a_o)
    a = W_ih x + b_ih + W_hh h + b_hh                      (B, 4H)
    c' = f (.) c + i (.) g
    h' = o (.) tanh(c')

The cache is gates (B, 5H) = [i | f | g | o | tanh(c')], all post-activation.
"""

import numpy as np

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
    do = dh_next * tc
    dc_total = dc_next + dh_next * o * (1 - tc * tc)
    # c' = f c + i g
    df = dc_total * c
    di = dc_total * g
    dg = dc_total * i
    dc[...] = dc_total * f
    da[:, :H] = di * i * (1 - i)
    da[:, H : 2 * H] = df * f * (1 - f)
    da[:, 2 * H : 3 * H] = dg * (1 - g * g)
    da[:, 3 * H :] = do * o * (1 - o)
    dh[...] = da @ weight_hh


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
    dweight_hh += da.T @ h
    dbias_hh += da.sum(axis=0)
    dx[...] = da @ weight_ih
    dweight_ih += da.T @ x
    dbias_ih += da.sum(axis=0)
