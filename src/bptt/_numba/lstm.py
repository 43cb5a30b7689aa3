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

from ._config import jit
from ._math import add_dbias, add_dweight, project, sigmoid


@jit
def lstm_step_forward(h_next, c_next, gates, gi, h, c, weight_hh, bias_hh):
    """h_next, c_next: (B, H) written.  gates: (B, 5H) written.
    gi: (B, 4H) = x W_ih^T + b_ih.  h, c: (B, H).  weight_hh: (4H, H)."""
    B, H = h.shape
    ah = np.empty((B, 4 * H), dtype=h.dtype)  # h W_hh^T
    np.dot(h, weight_hh.T, ah)
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
            do = dh_next[b, j] * tc
            dc_total = dc_next[b, j] + dh_next[b, j] * o * (one - tc * tc)
            # c' = f c + i g
            df = dc_total * c[b, j]
            di = dc_total * g
            dg = dc_total * i
            dc[b, j] = dc_total * f
            da[b, j] = di * i * (one - i)
            da[b, H + j] = df * f * (one - f)
            da[b, 2 * H + j] = dg * (one - g * g)
            da[b, 3 * H + j] = do * o * (one - o)
    np.dot(da, weight_hh, dh)


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
    add_dweight(dweight_hh, da, h)
    add_dbias(dbias_hh, da)
    np.dot(da, weight_ih, dx)
    add_dweight(dweight_ih, da, x)
    add_dbias(dbias_ih, da)
