"""LSTM cell (SPEC.md "LSTM"), gates stacked i, f, g, o:

    i = sigma(a_i)   f = sigma(a_f)   g = tanh(a_g)   o = sigma(a_o)
    a = W_ih x + b_ih + W_hh h + b_hh                      (B, 4H)
    c' = f (.) c + i (.) g
    h' = o (.) tanh(c')

The cache is gates (B, 5H) = [i | f | g | o | tanh(c')], all post-activation.
h may be of any width K (W_hh is (4H, K)): lstm_proj reuses these steps.
"""

import numpy as np

from ._math import sigmoid
from ._sequence import recurrent_weights_backward, sequence_kernels


def step_forward(new, gates, gi, old, weight_hh, bias_hh, extras, option):
    """new = (h', c'), old = (h, c): h (B, K), c (B, H), h' (B, H).
    gates: (B, 5H) written.  gi: (B, 4H) = x W_ih^T + b_ih.  weight_hh: (4H, K)."""
    (h, c), (h_next, c_next) = old, new
    H = c.shape[1]
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


def step_backward(dgi, dgh, dold, dnew, gates, old, new, weight_hh, extras, dextras, option):
    """Mirror of ``step_forward``.

    dgi: (B, 4H) written, dL/d(pre-activations) (dgh is the same array).
    dold = (dh, dc) written.  dnew = (dh', dc'), dL/dh' and dL/dc' from
    outside the cell.
    """
    (_, c), (dh, dc), (dh_next, dc_next) = old, dold, dnew
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
    dgi[:, :H] = di * i * (1 - i)  # [LSTM da]
    dgi[:, H : 2 * H] = df * f * (1 - f)  # [LSTM da]
    dgi[:, 2 * H : 3 * H] = dg * (1 - g * g)  # [LSTM da]
    dgi[:, 3 * H :] = do * o * (1 - o)  # [LSTM da]
    dh[...] = dgi @ weight_hh  # [LSTM dh]


def weights_backward(dweight_hh, dbias_hh, dextras, dgh, gates, h_prev, weight_hh, extras, option):
    """a = gi + h W_hh^T + b_hh: dW_hh, db_hh from dgh (N, 4H).  [LSTM dW]"""
    recurrent_weights_backward(dweight_hh, dbias_hh, dgh, h_prev)


seq_forward, seq_backward, seq_infer, cell_forward, cell_backward = sequence_kernels(
    step_forward, step_backward, weights_backward, separate_dgh=False)
