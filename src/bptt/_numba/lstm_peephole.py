"""LSTM with peepholes and a clip of the gates' pre-activations (ONNX's LSTM
operator), torch's weight layout: Numba twin of ``bptt._numpy.lstm_peephole``.
Gates i, f, g, o; peepholes P = [p_i | p_o | p_f] (3H,), ONNX's order:

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

import math

import numpy as np

from ._config import jit, jit_inline
from ._math import sigmoid
from ._sequence import recurrent_weights_backward, sequence_kernels


@jit
def clipped(a, clip):
    """(clip(a), k) for one scalar: k is 1 where |a| <= clip (the derivative
    passes), else 0. clip == 0: no clip. A NaN stays NaN (k = 0), as np.clip."""
    one = type(a)(1)
    if clip == 0:
        return a, one
    keep = one if abs(a) <= clip else type(a)(0)  # [peephole clip]
    if a > clip:
        return clip, keep
    if a < -clip:
        return -clip, keep
    return a, keep


@jit_inline
def forward_workspace(initial, weight_hh, extras):
    """The step's scratch: (ah,), ah (B, 4H) = h W_hh^T."""
    h = initial[0]
    return (np.empty((h.shape[0], weight_hh.shape[0]), dtype=h.dtype),)


@jit_inline
def step_forward(new, gates, gi, old, weight_hh, bias_hh, extras, option, work):
    """new = (h', c'), old = (h, c): (B, H).  gates: (B, 9H) written.
    gi: (B, 4H) = x W_ih^T + b_ih.  extras = (weight_peephole (3H,)
    [p_i | p_o | p_f],).  option: clip, 0 for none."""
    (h, c), (h_next, c_next), (peephole,), (ah,) = old, new, extras, work
    B, H = h.shape
    clip = c.dtype.type(option)
    np.dot(h, weight_hh.T, ah)  # h W_hh^T
    for b in range(B):
        for j in range(H):
            a_i = gi[b, j] + ah[b, j] + bias_hh[j]
            a_f = gi[b, H + j] + ah[b, H + j] + bias_hh[H + j]
            a_g = gi[b, 2 * H + j] + ah[b, 2 * H + j] + bias_hh[2 * H + j]
            a_o = gi[b, 3 * H + j] + ah[b, 3 * H + j] + bias_hh[3 * H + j]
            cb = c[b, j]
            a_i, k_i = clipped(a_i + peephole[j] * cb, clip)
            a_f, k_f = clipped(a_f + peephole[2 * H + j] * cb, clip)
            a_g, k_g = clipped(a_g, clip)
            i = sigmoid(a_i)  # [peephole i, f, g]
            f = sigmoid(a_f)
            g = math.tanh(a_g)
            cn = f * cb + i * g  # [LSTM c']
            a_o, k_o = clipped(a_o + peephole[H + j] * cn, clip)
            o = sigmoid(a_o)  # [peephole o]
            tc = math.tanh(cn)
            c_next[b, j] = cn
            h_next[b, j] = o * tc  # [LSTM h']
            gates[b, j] = i
            gates[b, H + j] = f
            gates[b, 2 * H + j] = g
            gates[b, 3 * H + j] = o
            gates[b, 4 * H + j] = tc
            gates[b, 5 * H + j] = k_i
            gates[b, 6 * H + j] = k_f
            gates[b, 7 * H + j] = k_g
            gates[b, 8 * H + j] = k_o


@jit_inline
def backward_workspace(dinitial, weight_hh, extras):
    """The step's scratch: (dsum,), dsum (1, 3H): the step's peephole gradient,
    summed over the batch before it is added into dextras[0]."""
    peephole = extras[0]
    return (np.empty((1, peephole.shape[0]), dtype=dinitial[0].dtype),)


@jit_inline
def step_backward(dgi, dgh, dold, dnew, gates, old, new, weight_hh, extras, dextras, option,
                  work):
    """Mirror of ``step_forward``: dgi (B, 4H) (dgh is the same array), dold =
    (dh, dc) written; the peepholes' gradient added into dextras[0]."""
    (h, c), (_, c_next), (dh, dc), (dh_next, dc_next) = old, new, dold, dnew
    (peephole,), (dpeephole,), (dsum,) = extras, dextras, work
    B, H = h.shape
    one = h.dtype.type(1)
    zero = h.dtype.type(0)
    for k in range(3 * H):
        dsum[0, k] = zero
    for b in range(B):
        for j in range(H):
            i = gates[b, j]
            f = gates[b, H + j]
            g = gates[b, 2 * H + j]
            o = gates[b, 3 * H + j]
            tc = gates[b, 4 * H + j]
            k_i = gates[b, 5 * H + j]
            k_f = gates[b, 6 * H + j]
            k_g = gates[b, 7 * H + j]
            k_o = gates[b, 8 * H + j]
            cb = c[b, j]
            # h' = o tanh(c'), o = sigma(clip(a_o + p_o c'))
            dao = dh_next[b, j] * tc * o * (one - o) * k_o  # [peephole da_o]
            dc_total = (dc_next[b, j] + dh_next[b, j] * o * (one - tc * tc)
                        + dao * peephole[H + j])  # [peephole dc']
            # c' = f c + i g
            dai = dc_total * g * i * (one - i) * k_i  # [peephole da_i]
            daf = dc_total * cb * f * (one - f) * k_f  # [peephole da_f]
            dag = dc_total * i * (one - g * g) * k_g  # [peephole da_g]
            dc[b, j] = dc_total * f + dai * peephole[j] + daf * peephole[2 * H + j]  # [peephole dc]
            dsum[0, j] += dai * cb  # [peephole dP]
            dsum[0, H + j] += dao * c_next[b, j]
            dsum[0, 2 * H + j] += daf * cb
            dgi[b, j] = dai
            dgi[b, H + j] = daf
            dgi[b, 2 * H + j] = dag
            dgi[b, 3 * H + j] = dao
    for k in range(3 * H):
        dpeephole[k] += dsum[0, k]  # [peephole dP]
    np.dot(dgi, weight_hh, dh)  # [LSTM dh]


@jit_inline
def weights_backward(dweight_hh, dbias_hh, dextras, dgh, gates, h_prev, weight_hh, extras, option):
    """a = gi + h W_hh^T + b_hh: dW_hh, db_hh from dgh (N, 4H), h_prev (N, H).  [LSTM dW]"""
    recurrent_weights_backward(dweight_hh, dbias_hh, dgh, h_prev)


seq_forward, seq_backward, seq_infer, cell_forward, cell_backward = sequence_kernels(
    step_forward, step_backward, weights_backward, forward_workspace, backward_workspace,
    separate_dgh=False)
