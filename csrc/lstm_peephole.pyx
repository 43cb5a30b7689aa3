"""LSTM with peepholes and a clip of the gates' pre-activations (ONNX's LSTM
operator): the Cython twin of ``bptt._numpy.lstm_peephole``. torch's weight
layout (gates i, f, g, o); peepholes P = [p_i | p_o | p_f] (3H,), ONNX's order:

    a  = W_ih x + b_ih + W_hh h + b_hh                  (B, 4H)
    i  = sigma(clip(a_i + p_i (.) c))
    f  = sigma(clip(a_f + p_f (.) c))
    g  = tanh(clip(a_g))
    c' = f (.) c + i (.) g
    o  = sigma(clip(a_o + p_o (.) c'))
    h' = o (.) tanh(c')

clip(a) = min(max(a, -clip), clip); ``option`` is clip, 0 for none. Cache
(B, 9H): [i | f | g | o | tanh c' | k_i | k_f | k_g | k_o], k = 1 where the
gate's pre-activation lay within the clip, else 0. The family module of the
Cython backend, as lstm.pyx: the driver's hooks, then the shared time loop
``_sequence.pxi`` (``seq_forward`` / ``seq_backward``); states (h, c);
extras = (weight_peephole (3H,),).
"""

cimport numpy as cnp
from cython cimport floating
from libc.math cimport fabs

from _common cimport hidden_backward_product, hidden_product, hidden_weights_backward
from _gates cimport sigmoid, tanh_

cnp.import_array()


# ----------------------------------------------------------------------------
# the family: G = Gh = 4H, states (h, c),
# gates (B, 9H) = [i | f | g | o | tanh(c') | k_i | k_f | k_g | k_o]
# ----------------------------------------------------------------------------


cdef enum:
    N_STATES = 2            # h, c
    N_EXTRAS = 1            # weight_peephole
    SEPARATE_DGH = 0        # dL/d(h W_hh^T + b_hh) = dL/d(gi) = da


cdef inline floating clipped(floating a, floating clip, floating *keep) noexcept nogil:
    # clip(a), and keep = 1 where |a| <= clip (the derivative passes), else 0;
    # clip 0: no clip. NaN stays NaN (and keeps 0, as NumPy's |NaN| <= clip)
    if clip == 0:
        keep[0] = 1
        return a
    keep[0] = 1 if fabs(a) <= clip else 0           # [peephole clip]
    if a > clip:
        return clip
    if a < -clip:
        return -clip
    return a


cdef inline void step_forward(
    floating **state_next,          # (h', c'): (B, H) each, written
    floating *gates,                # (B, 9H) written: [i | f | g | o | tanh(c') | k (4H)]
    const floating *gi,             # (B, 4H) x W_ih^T + b_ih
    floating **state,               # (h, c): (B, H) each
    const floating *weight_hh,      # (4H, H)
    const floating *weight_hh_t,    # from hidden_weights_t, or NULL
    const floating *bias_hh,        # (4H,)
    floating **extras,              # (weight_peephole (3H,) [p_i | p_o | p_f],)
    floating option,                # clip, 0 for none
    int B, int H, int K,
) noexcept nogil:
    cdef Py_ssize_t b, j, r, q
    cdef floating ai, af, ag, ao, ki, kf, kg, ko, i, f, g, o, cn, tc, cj
    cdef const floating *c = state[1]               # (B, H)
    cdef floating *h_next = state_next[0]           # (B, H)
    cdef floating *c_next = state_next[1]           # (B, H)
    cdef const floating *p_i = extras[0]            # (H,)
    cdef const floating *p_o = extras[0] + H        # (H,)
    cdef const floating *p_f = extras[0] + 2 * H    # (H,)
    # h W_hh^T into gates[:, :4H]
    hidden_product(gates, 9 * H, state[0], weight_hh, weight_hh_t, 0, 4 * H, B, H, 4 * H)
    for b in range(B):
        r = b * 9 * H
        q = b * 4 * H
        for j in range(H):
            cj = c[b * H + j]
            # a = gi + h W_hh^T + b_hh; every entry read before its slot is written
            ai = (gi[q + j] + gates[r + j]) + bias_hh[j]
            af = (gi[q + H + j] + gates[r + H + j]) + bias_hh[H + j]
            ag = (gi[q + 2 * H + j] + gates[r + 2 * H + j]) + bias_hh[2 * H + j]
            ao = (gi[q + 3 * H + j] + gates[r + 3 * H + j]) + bias_hh[3 * H + j]
            i = sigmoid(clipped(ai + p_i[j] * cj, option, &ki))     # [peephole i, f, g]
            f = sigmoid(clipped(af + p_f[j] * cj, option, &kf))
            g = tanh_(clipped(ag, option, &kg))
            cn = f * cj + i * g                                     # [LSTM c']
            o = sigmoid(clipped(ao + p_o[j] * cn, option, &ko))     # [peephole o]
            tc = tanh_(cn)
            c_next[b * H + j] = cn
            h_next[b * H + j] = o * tc                              # [LSTM h']
            gates[r + j] = i
            gates[r + H + j] = f
            gates[r + 2 * H + j] = g
            gates[r + 3 * H + j] = o
            gates[r + 4 * H + j] = tc
            gates[r + 5 * H + j] = ki
            gates[r + 6 * H + j] = kf
            gates[r + 7 * H + j] = kg
            gates[r + 8 * H + j] = ko


cdef inline void step_backward(
    floating *dgi,                  # (B, 4H) written, da = dL/d(pre-activations)
    floating *dgh,                  # dgi itself (SEPARATE_DGH = 0): unused
    floating **dstate,              # (dh, dc): (B, H) each, written
    floating **dstate_next,         # (dh', dc'): (B, H) each, dL/dc' from outside the cell
    const floating *gates,          # (B, 9H) [i | f | g | o | tanh(c') | k (4H)]
    floating **state,               # (h, c): (B, H) each
    floating **state_next,          # (h', c'): (B, H) each
    const floating *weight_hh,      # (4H, H)
    const floating *weight_hh_p,    # from hidden_weights_p, or NULL
    floating **extras,              # (weight_peephole (3H,) [p_i | p_o | p_f],)
    floating **dextras,             # (dweight_peephole (3H,),) added into
    floating option,                # clip (the cache's k already says where it bit)
    int B, int H, int K,
) noexcept nogil:
    cdef Py_ssize_t b, j, r, q
    cdef floating i, f, g, o, tc, dhn, dao, dct, dai, daf, dag, cj
    cdef floating s_i, s_o, s_f
    cdef const floating *c = state[1]               # (B, H)
    cdef const floating *c_next = state_next[1]     # (B, H)
    cdef const floating *dh_next = dstate_next[0]   # (B, H)
    cdef const floating *dc_next = dstate_next[1]   # (B, H)
    cdef floating *dc = dstate[1]                   # (B, H)
    cdef const floating *p_i = extras[0]            # (H,)
    cdef const floating *p_o = extras[0] + H        # (H,)
    cdef const floating *p_f = extras[0] + 2 * H    # (H,)
    cdef floating *dpeephole = dextras[0]           # (3H,) [dp_i | dp_o | dp_f]
    for b in range(B):
        r = b * 9 * H
        q = b * 4 * H
        for j in range(H):
            i = gates[r + j]
            f = gates[r + H + j]
            g = gates[r + 2 * H + j]
            o = gates[r + 3 * H + j]
            tc = gates[r + 4 * H + j]
            cj = c[b * H + j]
            dhn = dh_next[b * H + j]
            # h' = o tanh(c'), o = sigma(clip(a_o + p_o c'))
            dao = dhn * tc * o * (1 - o) * gates[r + 8 * H + j]          # [peephole da_o]
            dct = dc_next[b * H + j] + dhn * o * (1 - tc * tc) + dao * p_o[j]  # [peephole dc']
            # c' = f c + i g
            dai = dct * g * i * (1 - i) * gates[r + 5 * H + j]           # [peephole da_i]
            daf = dct * cj * f * (1 - f) * gates[r + 6 * H + j]          # [peephole da_f]
            dag = dct * i * (1 - g * g) * gates[r + 7 * H + j]           # [peephole da_g]
            dc[b * H + j] = dct * f + dai * p_i[j] + daf * p_f[j]        # [peephole dc]
            dgi[q + j] = dai
            dgi[q + H + j] = daf
            dgi[q + 2 * H + j] = dag
            dgi[q + 3 * H + j] = dao
    # [peephole dP]: summed over the batch first, then added (NumPy's order)
    for j in range(H):
        s_i = 0
        s_o = 0
        s_f = 0
        for b in range(B):
            s_i = s_i + dgi[b * 4 * H + j] * c[b * H + j]
            s_o = s_o + dgi[b * 4 * H + 3 * H + j] * c_next[b * H + j]
            s_f = s_f + dgi[b * 4 * H + H + j] * c[b * H + j]
        dpeephole[j] += s_i
        dpeephole[H + j] += s_o
        dpeephole[2 * H + j] += s_f
    # a = gi + h W_hh^T + b_hh   [LSTM dh]
    hidden_backward_product(dstate[0], dgi, 4 * H, weight_hh, weight_hh_p, 0, 4 * H, B, H,
                            4 * H, 0)


cdef inline void weights_backward(
    floating *dweight_hh,           # (4H, H) added into
    floating *dbias_hh,             # (4H,) added into
    floating **dextras,             # dweight_peephole: summed per step, not here
    floating *work,                 # none
    const floating *dgh,            # (N, 4H) da
    const floating *gates,          # (N, 9H)
    floating **state,               # (h, c): (N, H) each, the states each row's step read
    floating **extras,              # unused
    int N, int H, int K,
) noexcept nogil:
    # a = gi + h W_hh^T + b_hh   [LSTM dW]
    hidden_weights_backward(dweight_hh, dbias_hh, dgh, state[0], N, H, 4 * H)


cdef inline Py_ssize_t weights_backward_scratch(Py_ssize_t N, int H) noexcept nogil:
    return 0


include "_sequence.pxi"
