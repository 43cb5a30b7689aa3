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

from _common cimport hidden_backward_product, hidden_product, hidden_weights_backward
from _gates cimport lstm_peephole_gates_backward, lstm_peephole_gates_forward

cnp.import_array()


# ----------------------------------------------------------------------------
# the family: G = Gh = 4H, states (h, c),
# gates (B, 9H) = [i | f | g | o | tanh(c') | k_i | k_f | k_g | k_o]
# ----------------------------------------------------------------------------


cdef enum:
    N_STATES = 2            # h, c
    N_EXTRAS = 1            # weight_peephole
    SEPARATE_DGH = 0        # dL/d(h W_hh^T + b_hh) = dL/d(gi) = da


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
    # h W_hh^T goes straight into gates[:, :4H]; the fused gate pass (C,
    # _gates_t.h) reads each entry once, before it writes the gate in its place:
    #   a = gi + gh + b_hh; k = 1 where |a + peephole| <= clip, else 0
    #   i, f, g = sigma(clip(a_i + p_i c)), sigma(clip(a_f + p_f c)), tanh(clip(a_g))
    #                                                   [peephole i, f, g]
    #   c' = f c + i g                                  [LSTM c']
    #   o = sigma(clip(a_o + p_o c'))                   [peephole o]
    #   h' = o tanh(c')                                 [LSTM h']
    hidden_product(gates, 9 * H, state[0], weight_hh, weight_hh_t, 0, 4 * H, B, H, 4 * H)
    lstm_peephole_gates_forward(state_next[0], state_next[1], gates, gi, state[1], bias_hh,
                                extras[0], option, B, H)


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
    # The fused gate pass (C, _gates_t.h), d = dh':
    #   da_o = d tanh(c') o (1 - o) k_o                 [peephole da_o]
    #   dc'  = dc'_in + d o (1 - tanh(c')^2) + da_o p_o [peephole dc']
    #   da_i = dc' g i (1 - i) k_i, da_f = dc' c f (1 - f) k_f,
    #   da_g = dc' i (1 - g^2) k_g                      [peephole da_i, da_f, da_g]
    #   dc   = dc' f + da_i p_i + da_f p_f              [peephole dc]
    # then [peephole dP], summed over the batch first and then added (NumPy's order)
    lstm_peephole_gates_backward(dgi, dstate[1], dextras[0], dstate_next[0], dstate_next[1],
                                 gates, state[1], state_next[1], extras[0], B, H)
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


include "_no_row_loop.pxi"
include "_sequence.pxi"
