"""LSTM with peepholes and a clip of the gates' pre-activations (ONNX's LSTM
operator), torch's weight layout (gates i, f, g, o); peepholes
P = [p_i | p_o | p_f] (3H,), ONNX's order:

    a  = W_ih x + b_ih + W_hh h + b_hh                  (B, 4H)
    i  = sigma(clip(a_i + p_i (.) c))
    f  = sigma(clip(a_f + p_f (.) c))
    g  = tanh(clip(a_g))
    c' = f (.) c + i (.) g
    o  = sigma(clip(a_o + p_o (.) c'))
    h' = o (.) tanh(c')

clip(a) = min(max(a, -clip), clip); ``option`` is clip, 0 for none. Neither
c' nor tanh's argument is clipped (as onnxruntime). Cache (B, 9H):
[i | f | g | o | tanh c' | k_i | k_f | k_g | k_o], k = 1 where the gate's
pre-activation lay within the clip (its derivative passes), else 0.
"""

import numpy as np

from ._math import sigmoid
from ._sequence import recurrent_weights_backward, sequence_kernels


def clipped(a, clip):
    """(clip(a), k): k is 1 where |a| <= clip (the derivative passes), else 0."""
    if clip == 0:
        return a, np.ones_like(a)
    keep = (np.abs(a) <= clip).astype(a.dtype)  # [peephole clip]
    return np.clip(a, -clip, clip), keep


def step_forward(new, gates, gi, old, weight_hh, bias_hh, extras, option):
    """new = (h', c'), old = (h, c): (B, H).  gates: (B, 9H) written.
    extras = (weight_peephole (3H,) [p_i | p_o | p_f],)."""
    (h, c), (h_next, c_next), (peephole,) = old, new, extras
    H = h.shape[1]
    clip = c.dtype.type(option)
    p_i, p_o, p_f = peephole[:H], peephole[H : 2 * H], peephole[2 * H :]
    a = gi + h @ weight_hh.T + bias_hh  # (B, 4H)
    a_i, k_i = clipped(a[:, :H] + p_i * c, clip)
    a_f, k_f = clipped(a[:, H : 2 * H] + p_f * c, clip)
    a_g, k_g = clipped(a[:, 2 * H : 3 * H], clip)
    i, f, g = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g)  # [peephole i, f, g]
    c_next[...] = f * c + i * g  # [LSTM c']
    a_o, k_o = clipped(a[:, 3 * H :] + p_o * c_next, clip)
    o = sigmoid(a_o)  # [peephole o]
    tc = np.tanh(c_next)
    h_next[...] = o * tc  # [LSTM h']
    for k, value in enumerate((i, f, g, o, tc, k_i, k_f, k_g, k_o)):
        gates[:, k * H : (k + 1) * H] = value


def step_backward(dgi, dgh, dold, dnew, gates, old, new, weight_hh, extras, dextras, option):
    """Mirror of ``step_forward``: dgi (B, 4H), dold = (dh, dc) written;
    the peepholes' gradient added into dextras[0]."""
    (h, c), (_, c_next), (dh, dc), (dh_next, dc_next) = old, new, dold, dnew
    (peephole,), (dpeephole,) = extras, dextras
    H = h.shape[1]
    p_i, p_o, p_f = peephole[:H], peephole[H : 2 * H], peephole[2 * H :]
    i, f, g, o, tc, k_i, k_f, k_g, k_o = (gates[:, k * H : (k + 1) * H] for k in range(9))
    # h' = o tanh(c'), o = sigma(clip(a_o + p_o c'))
    dao = dh_next * tc * o * (1 - o) * k_o  # [peephole da_o]
    dc_total = dc_next + dh_next * o * (1 - tc * tc) + dao * p_o  # [peephole dc']
    # c' = f c + i g
    dai = dc_total * g * i * (1 - i) * k_i  # [peephole da_i]
    daf = dc_total * c * f * (1 - f) * k_f  # [peephole da_f]
    dag = dc_total * i * (1 - g * g) * k_g  # [peephole da_g]
    dc[...] = dc_total * f + dai * p_i + daf * p_f  # [peephole dc]
    dpeephole[:H] += (dai * c).sum(axis=0)  # [peephole dP]
    dpeephole[H : 2 * H] += (dao * c_next).sum(axis=0)
    dpeephole[2 * H :] += (daf * c).sum(axis=0)
    dgi[:, :H] = dai
    dgi[:, H : 2 * H] = daf
    dgi[:, 2 * H : 3 * H] = dag
    dgi[:, 3 * H :] = dao
    dh[...] = dgi @ weight_hh  # [LSTM dh]


def weights_backward(dweight_hh, dbias_hh, dextras, dgh, gates, h_prev, weight_hh, extras, option):
    """a = gi + h W_hh^T + b_hh: dW_hh, db_hh from dgh (N, 4H).  [LSTM dW]"""
    recurrent_weights_backward(dweight_hh, dbias_hh, dgh, h_prev)


seq_forward, seq_backward, seq_infer, cell_forward, cell_backward = sequence_kernels(
    step_forward, step_backward, weights_backward, separate_dgh=False)
