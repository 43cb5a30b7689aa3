"""LSTM with peepholes and a clip of the gates' pre-activations (ONNX's LSTM
operator), torch's weight layout: Numba twin of ``bptt._numpy.lstm_peephole``.
Gates i, f, g, o; peepholes P = [p_i | p_o | p_f] (3H,), ONNX's order:

    a  = W_ih x + b_ih + W_hh h + b_hh                  (B, 4H)
    i  = sigma(clip(a_i + p_i (.) c))
    f  = sigma(clip(a_f + p_f (.) c))
    g  = tanh(clip_to(a_g))
    c' = f (.) c + i (.) g
    o  = sigma(clip(a_o + p_o (.) c'))
    h' = o (.) tanh(c')

clip(a) = min(max(a, -clip), clip); ``option`` is clip, 0 for none. Neither
c' nor tanh's argument is clipped (as onnxruntime). Cache (B, 9H):
[i | f | g | o | tanh c' | k_i | k_f | k_g | k_o], k = 1 where the gate's
pre-activation lay within the clip (its derivative passes), else 0.
"""

import numpy as np

from ._config import jit, jit_inline
from ._math import dot_n, dot_t
from ._sequence import recurrent_weights_backward, sequence_kernels
from ._vmath import sigmoid, tanh


@jit
def clipped(a, clip):
    """(clip(a), k) for one scalar: k is 1 where |a| <= clip (the derivative
    passes), else 0. clip == 0: no clip. A NaN stays NaN (k = 0), as np.clip.
    (The step does the same with ``keep`` and ``clip_to``, in loops that vectorise.)"""
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
def clip_bounds(clip, dtype):
    """(hi, lo, k_out) for ``keep`` and ``clip_to``: clip == 0 (no clip) gives the
    bounds +-inf, and k = 1 outside them (NaN) too, as the NumPy reference."""
    zero, one = dtype.type(0), dtype.type(1)
    hi = clip if clip != zero else dtype.type(np.inf)
    return hi, -hi, zero if clip != zero else one


@jit_inline
def keep(v, hi, lo, k_out):
    """k for one pre-activation: 1 where lo <= v <= hi, else k_out (NaN:
    outside).  [peephole clip]"""
    return type(v)(1) if (v >= lo) & (v <= hi) else k_out


@jit_inline
def clip_to(v, hi, lo):
    """min(max(v, lo), hi) as selects that let NaN through (they vectorise)."""
    v = hi if v > hi else v
    return lo if v < lo else v


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
    hi, lo, k_out = clip_bounds(c.dtype.type(option), c.dtype)
    dot_t(ah, h, weight_hh)  # h W_hh^T
    # per row, short loops over contiguous blocks that LLVM vectorises (see
    # lstm.gates_forward); the pre-activations go into ah
    for b in range(B):
        for j in range(H):
            ah[b, j] = gi[b, j] + ah[b, j] + bias_hh[j] + peephole[j] * c[b, j]  # a_i + p_i c
        for j in range(H):
            k = H + j
            ah[b, k] = gi[b, k] + ah[b, k] + bias_hh[k] + peephole[2 * H + j] * c[b, j]  # + p_f c
        for j in range(H):
            k = 2 * H + j
            ah[b, k] = gi[b, k] + ah[b, k] + bias_hh[k]  # a_g
        for k in range(3 * H):
            gates[b, 5 * H + k] = keep(ah[b, k], hi, lo, k_out)  # k_i, k_f, k_g
        for k in range(2 * H):
            gates[b, k] = sigmoid(clip_to(ah[b, k], hi, lo))  # [peephole i, f, g]
        for j in range(H):
            gates[b, 2 * H + j] = tanh(clip_to(ah[b, 2 * H + j], hi, lo))
        for j in range(H):
            f, i, g = gates[b, H + j], gates[b, j], gates[b, 2 * H + j]
            c_next[b, j] = f * c[b, j] + i * g  # [LSTM c']
        for j in range(H):
            k = 3 * H + j
            ah[b, k] = gi[b, k] + ah[b, k] + bias_hh[k] + peephole[H + j] * c_next[b, j]  # + p_o c'
        for j in range(H):
            gates[b, 8 * H + j] = keep(ah[b, 3 * H + j], hi, lo, k_out)  # k_o
        for j in range(H):
            gates[b, 3 * H + j] = sigmoid(clip_to(ah[b, 3 * H + j], hi, lo))  # [peephole o]
        for j in range(H):
            gates[b, 4 * H + j] = tanh(c_next[b, j])
        for j in range(H):
            h_next[b, j] = gates[b, 3 * H + j] * gates[b, 4 * H + j]  # [LSTM h']


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
    dot_n(dh, dgi, weight_hh)  # [LSTM dh]


@jit_inline
def weights_backward(dweight_hh, dbias_hh, dextras, dgh, gates, h_prev, weight_hh, extras, option):
    """a = gi + h W_hh^T + b_hh: dW_hh, db_hh from dgh (N, 4H), h_prev (N, H).  [LSTM dW]"""
    recurrent_weights_backward(dweight_hh, dbias_hh, dgh, h_prev)


seq_forward, seq_backward, seq_infer, cell_forward, cell_backward = sequence_kernels(
    step_forward, step_backward, weights_backward, forward_workspace, backward_workspace,
    separate_dgh=False)
