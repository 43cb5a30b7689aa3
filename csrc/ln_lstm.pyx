"""Layer-normalised LSTM (Ba et al. 2016; haste's LayerNormLSTM), gates i, f,
g, o: the Cython twin of ``bptt._numpy.ln_lstm``:

    u = W_ih x,  v = W_hh h                          (B, 4H) each, no bias inside
    a  = LN(u) (.) gamma_ih + b_ih + LN(v) (.) gamma_hh + b_hh
    i, f, g, o = sigma(a_i), sigma(a_f), tanh(a_g), sigma(a_o)
    c' = f (.) c + i (.) g
    h' = o (.) tanh(LN(c') (.) gamma_c + beta_c)

LN normalises each row over its features (4H for u and v, H for c';
_layernorm.pxd); the carried state c' is not normalised. extras = (b_ih,
b_hh, gamma_ih, gamma_hh, gamma_c, beta_c); the driver's bias slots hold
zeros. Cache (B, 14H + 3): [i | f | g | o | tanh(LN(c') gamma_c + beta_c) |
u^ (4H) | v^ (4H) | c'^ | 1/sigma_u | 1/sigma_v | 1/sigma_c]. The family
module of the Cython backend, as lstm.pyx: the driver's hooks, then the
shared time loop ``_sequence.pxi`` (``seq_forward`` / ``seq_backward``);
states (h, c).
"""

cimport numpy as cnp
from cython cimport floating

from _common cimport hidden_backward_product, hidden_product, hidden_weights_backward
from _gates cimport (add_colsum_ld, ln_add_colsum_product, ln_lstm_gates_backward,
                     ln_lstm_gates_forward, ln_lstm_output_backward, ln_lstm_output_forward,
                     ln_scale_columns)
from _layernorm cimport layer_norm_backward, layer_norm_forward

cnp.import_array()


# ----------------------------------------------------------------------------
# the family: G = Gh = 4H, states (h, c), gates (B, 14H + 3)
# ----------------------------------------------------------------------------


cdef enum:
    N_STATES = 2            # h, c
    N_EXTRAS = 6            # bias_ih, bias_hh, layernorm_{ih,hh}_weight, layernorm_c_{weight,bias}
    SEPARATE_DGH = 1        # dL/dv (B, 4H) differs from dL/du


cdef inline void step_forward(
    floating **state_next,          # (h', c'): (B, H) each, written
    floating *gates,                # (B, 14H + 3) written, the cache (module docstring)
    const floating *gi,             # (B, 4H) u = x W_ih^T (the driver's bias slot is zero)
    floating **state,               # (h, c): (B, H) each
    const floating *weight_hh,      # (4H, H)
    const floating *weight_hh_t,    # from hidden_weights_t, or NULL
    const floating *bias_hh,        # (4H,) zeros: unused
    floating **extras,              # (b_ih, b_hh, gamma_ih, gamma_hh: (4H,); gamma_c, beta_c: (H,))
    floating option,                # unused
    int B, int H, int K,
) noexcept nogil:
    cdef int C = 14 * H + 3
    cdef const floating *c = state[1]               # (B, H)
    cdef floating *h_next = state_next[0]           # (B, H)
    cdef floating *c_next = state_next[1]           # (B, H)
    cdef const floating *b_ih = extras[0]           # (4H,)
    cdef const floating *b_hh = extras[1]           # (4H,)
    cdef const floating *gamma_ih = extras[2]       # (4H,)
    cdef const floating *gamma_hh = extras[3]       # (4H,)
    cdef const floating *gamma_c = extras[4]        # (H,)
    cdef const floating *beta_c = extras[5]         # (H,)
    cdef floating *u_hat = gates + 5 * H            # (B, 4H), row stride C
    cdef floating *v_hat = gates + 9 * H            # (B, 4H), row stride C
    cdef floating *c_hat = gates + 13 * H           # (B, H), row stride C
    layer_norm_forward(u_hat, C, gates + 14 * H, C, gi, 4 * H, B, 4 * H)  # [LN-LSTM a]
    # v = h W_hh^T into v^'s slot, normalised in place
    hidden_product(v_hat, C, state[0], weight_hh, weight_hh_t, 0, 4 * H, B, H, 4 * H)
    layer_norm_forward(v_hat, C, gates + 14 * H + 1, C, v_hat, C, B, 4 * H)
    # a = u^ gamma_ih + b_ih + v^ gamma_hh + b_hh, then the LSTM's gates
    # [LSTM i] ... [LSTM c'] (_gates_t.h)
    ln_lstm_gates_forward(c_next, gates, u_hat, v_hat, c, b_ih, b_hh, gamma_ih, gamma_hh,
                          C, B, H)
    layer_norm_forward(c_hat, C, gates + 14 * H + 2, C, c_next, H, B, H)  # [LN-LSTM h']
    # h' = o tanh(c'^ gamma_c + beta_c)   [LN-LSTM h']
    ln_lstm_output_forward(h_next, gates + 4 * H, gates + 3 * H, c_hat, gamma_c, beta_c, C, B, H)


cdef inline void step_backward(
    floating *dgi,                  # (B, 4H) written, dL/du
    floating *dgh,                  # (B, 4H) written, dL/dv
    floating **dstate,              # (dh, dc): (B, H) each, written
    floating **dstate_next,         # (dh', dc'): (B, H) each
    const floating *gates,          # (B, 14H + 3), the forward's cache
    floating **state,               # (h, c): (B, H) each
    floating **state_next,          # unused
    const floating *weight_hh,      # (4H, H)
    const floating *weight_hh_p,    # from hidden_weights_p, or NULL
    floating **extras,              # (b_ih, b_hh, gamma_ih, gamma_hh, gamma_c, beta_c)
    floating **dextras,             # their gradients, added into
    floating option,                # unused
    int B, int H, int K,
) noexcept nogil:
    cdef int C = 14 * H + 3
    cdef const floating *c = state[1]               # (B, H)
    cdef const floating *dh_next = dstate_next[0]   # (B, H)
    cdef const floating *dc_next = dstate_next[1]   # (B, H)
    cdef floating *dc = dstate[1]                   # (B, H): dl, then dc'_total, then dc
    cdef const floating *gamma_ih = extras[2]       # (4H,)
    cdef const floating *gamma_hh = extras[3]       # (4H,)
    cdef const floating *gamma_c = extras[4]        # (H,)
    cdef const floating *u_hat = gates + 5 * H      # (B, 4H), row stride C
    cdef const floating *v_hat = gates + 9 * H      # (B, 4H), row stride C
    cdef const floating *c_hat = gates + 13 * H     # (B, H), row stride C
    # h' = o tanh(l), l = c'^ gamma_c + beta_c   [LN-LSTM dc']: dl into dc
    ln_lstm_output_backward(dc, dh_next, gates + 3 * H, gates + 4 * H, C, B, H)
    ln_add_colsum_product(dextras[4], dc, H, c_hat, C, B, H)
    add_colsum_ld(dextras[5], dc, H, B, H)
    ln_scale_columns(dc, H, dc, H, gamma_c, B, H)
    layer_norm_backward(dc, H, c_hat, C, gates + 14 * H + 2, C, B, H)
    # c' = f c + i g, and the gates  [LSTM df] ... [LSTM da]: da into dgi
    ln_lstm_gates_backward(dgi, dc, dh_next, dc_next, gates, c, C, B, H)   # [LSTM dc]
    # a = u^ gamma_ih + b_ih + v^ gamma_hh + b_hh   [LN-LSTM dgamma]
    add_colsum_ld(dextras[0], dgi, 4 * H, B, 4 * H)
    add_colsum_ld(dextras[1], dgi, 4 * H, B, 4 * H)
    ln_add_colsum_product(dextras[2], dgi, 4 * H, u_hat, C, B, 4 * H)
    ln_add_colsum_product(dextras[3], dgi, 4 * H, v_hat, C, B, 4 * H)
    ln_scale_columns(dgh, 4 * H, dgi, 4 * H, gamma_hh, B, 4 * H)    # dgh = dgi gamma_hh
    ln_scale_columns(dgi, 4 * H, dgi, 4 * H, gamma_ih, B, 4 * H)    # dgi *= gamma_ih
    layer_norm_backward(dgi, 4 * H, u_hat, C, gates + 14 * H, C, B, 4 * H)      # [LN-LSTM du]
    layer_norm_backward(dgh, 4 * H, v_hat, C, gates + 14 * H + 1, C, B, 4 * H)  # [LN-LSTM dv]
    # v = h W_hh^T   [LN-LSTM dh]
    hidden_backward_product(dstate[0], dgh, 4 * H, weight_hh, weight_hh_p, 0, 4 * H, B, H,
                            4 * H, 0)


cdef inline void weights_backward(
    floating *dweight_hh,           # (4H, H) added into
    floating *dbias_hh,             # (4H,) the zero slot's gradient: scratch
    floating **dextras,             # summed per step, not here
    floating *work,                 # none
    const floating *dgh,            # (N, 4H) dL/dv
    const floating *gates,          # (N, 14H + 3)
    floating **state,               # (h, c): (N, H) each, the states each row's step read
    floating **extras,              # unused
    int N, int H, int K,
) noexcept nogil:
    # v = h W_hh^T   [LN-LSTM dW]
    hidden_weights_backward(dweight_hh, dbias_hh, dgh, state[0], N, H, 4 * H)


cdef inline Py_ssize_t weights_backward_scratch(Py_ssize_t N, int H) noexcept nogil:
    return 0


include "_no_row_loop.pxi"
include "_sequence.pxi"
