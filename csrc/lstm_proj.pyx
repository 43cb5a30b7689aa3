"""LSTM with projections: the Cython twin of ``bptt._numpy.lstm_proj``
(torch's ``proj_size``):

    a  = W_ih x + b_ih + W_hh h + b_hh       (B, 4H), h (B, P), W_hh (4H, P)
    i, f, g, o = sigma(a_i), sigma(a_f), tanh(a_g), sigma(a_o)
    c' = f (.) c + i (.) g                    (B, H)
    h' = W_hr (o (.) tanh(c'))                (B, P), W_hr (P, H)

The cache is the LSTM's, gates (B, 5H) = [i | f | g | o | tanh(c')]. The
family module of the Cython backend, as lstm.pyx: the driver's hooks (step
functions, ``weights_backward``), then the shared time loop ``_sequence.pxi``
(``seq_forward`` / ``seq_backward``); states (h (B, P), c (B, H)), so the
driver's K = P and H = the hidden size; extras = (weight_hr (P, H),).
"""

cimport numpy as cnp
from cython cimport floating

from _common cimport gemm, hidden_backward_product, hidden_product, hidden_weights_backward
from _gates cimport lstm_proj_gates_backward, lstm_proj_gates_forward

cnp.import_array()


# ----------------------------------------------------------------------------
# the family: G = Gh = 4H, states (h, c), gates (B, 5H) = [i | f | g | o | tanh(c')]
# ----------------------------------------------------------------------------


cdef enum:
    N_STATES = 2            # h (P wide), c (H wide)
    N_EXTRAS = 1            # weight_hr
    SEPARATE_DGH = 0        # dL/d(h W_hh^T + b_hh) = dL/d(gi) = da


cdef inline void step_forward(
    floating **state_next,          # (h' (B, P), c' (B, H)), written
    floating *gates,                # (B, 5H) written: [i | f | g | o | tanh(c')]
    const floating *gi,             # (B, 4H) x W_ih^T + b_ih; the driver's scratch, and
                                    # read here for the last time: m is written over it
    floating **state,               # (h (B, P), c (B, H))
    const floating *weight_hh,      # (4H, P)
    const floating *weight_hh_t,    # from hidden_weights_t, or NULL
    const floating *bias_hh,        # (4H,)
    floating **extras,              # (weight_hr (P, H),)
    floating option,                # unused
    int B, int H, int K,
) noexcept nogil:
    cdef floating *m = <floating *> gi              # (B, H), row stride 4H: o (.) tanh(c')
    # h W_hh^T goes straight into gates[:, :4H]; the fused gate pass (C,
    # _gates_t.h) reads each entry once, before it writes the gate in its place:
    #   i, f, g, o = sigma(a_i), sigma(a_f), tanh(a_g), sigma(a_o),
    #                a = gi + gh + b_hh                 [LSTM i, f, g, o]
    #   c' = f c + i g                                  [LSTM c']
    #   m = o tanh(c'), over gi[:, :H]
    hidden_product(gates, 5 * H, state[0], weight_hh, weight_hh_t, 0, 4 * H, B, K, 4 * H)
    lstm_proj_gates_forward(m, state_next[1], gates, state[1], bias_hh, B, H)
    # h' = m W_hr^T   [LSTMP h']
    gemm(c'n', c't', B, K, H, 1, m, 4 * H, extras[0], H, 0, state_next[0], K)


cdef inline void step_backward(
    floating *dgi,                  # (B, 4H) written, da = dL/d(pre-activations)
    floating *dgh,                  # dgi itself (SEPARATE_DGH = 0): unused
    floating **dstate,              # (dh (B, P), dc (B, H)), written
    floating **dstate_next,         # (dh' (B, P), dc' (B, H)), dL/dc' from outside the cell
    const floating *gates,          # (B, 5H) [i | f | g | o | tanh(c')]
    floating **state,               # (h (B, P), c (B, H))
    floating **state_next,          # (h', c'): unused
    const floating *weight_hh,      # (4H, P)
    const floating *weight_hh_p,    # from hidden_weights_p, or NULL
    floating **extras,              # (weight_hr (P, H),)
    floating **dextras,             # (dweight_hr (P, H),) added into
    floating option,                # unused
    int B, int H, int K,
) noexcept nogil:
    cdef Py_ssize_t b, j
    cdef const floating *dh_next = dstate_next[0]   # (B, P)
    # dgi is this step's scratch until da is written: m = o (.) tanh(c') in
    # dgi[:, :H], dm in dgi[:, H:2H] (row stride 4H)
    for b in range(B):
        for j in range(H):
            dgi[b * 4 * H + j] = gates[b * 5 * H + 3 * H + j] * gates[b * 5 * H + 4 * H + j]
    # h' = W_hr m
    gemm(c'n', c'n', B, H, K, 1, dh_next, K, extras[0], H, 0, dgi + H, 4 * H)  # [LSTMP dm]
    gemm(c't', c'n', K, H, B, 1, dh_next, K, dgi, 4 * H, 1, dextras[0], H)     # [LSTMP dW_hr]
    # the LSTM's gate gradients from dm (C, _gates_t.h); dm at column H + j is
    # read before da_f overwrites it (m at column j is no longer needed):
    #   m = o tanh(c'):    do = dm tanh(c'), dc' = dc'_in + dm o (1 - tanh(c')^2)
    #   c' = f c + i g:    df = dc' c, di = dc' g, dg = dc' i, dc = dc' f
    #   da = [di i (1 - i) | df f (1 - f) | dg (1 - g^2) | do o (1 - o)]   [LSTM da]
    lstm_proj_gates_backward(dgi, dstate[1], dstate_next[1], gates, state[1], B, H)
    # a = gi + h W_hh^T + b_hh   [LSTM dh]
    hidden_backward_product(dstate[0], dgi, 4 * H, weight_hh, weight_hh_p, 0, 4 * H, B, K,
                            4 * H, 0)


cdef inline void weights_backward(
    floating *dweight_hh,           # (4H, P) added into
    floating *dbias_hh,             # (4H,) added into
    floating **dextras,             # dweight_hr: summed per step, not here
    floating *work,                 # none
    const floating *dgh,            # (N, 4H) da
    const floating *gates,          # (N, 5H)
    floating **state,               # (h (N, P), c (N, H)), the states each row's step read
    floating **extras,              # unused
    int N, int H, int K,
) noexcept nogil:
    # a = gi + h W_hh^T + b_hh   [LSTM dW]
    hidden_weights_backward(dweight_hh, dbias_hh, dgh, state[0], N, K, 4 * H)


cdef inline Py_ssize_t weights_backward_scratch(Py_ssize_t N, int H) noexcept nogil:
    return 0


include "_no_row_loop.pxi"
include "_sequence.pxi"
