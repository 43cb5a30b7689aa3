"""Layer-normalised GRU (haste's LayerNormGRU; torch's gate equations): the
Cython twin of ``bptt._numpy.ln_gru``:

    u = W_ih x,  v = W_hh h                         (B, 3H) each, no bias inside
    gi = LN(u) (.) gamma_ih + b_ih,  gh = LN(v) (.) gamma_hh + b_hh
    r  = sigma(gi_r + gh_r)
    z  = sigma(gi_z + gh_z)
    n  = tanh(gi_n + r (.) gh_n)
    h' = (1 - z) (.) n + z (.) h

LN normalises each row over all 3H features (_layernorm.pxd). The biases come
after the normalisation, so they travel as extras: extras = (b_ih, b_hh,
gamma_ih, gamma_hh), and the driver's own bias slots hold zeros. Cache
(B, 10H + 2): [r | z | n | gh_n | u^ (3H) | v^ (3H) | 1/sigma_u | 1/sigma_v].
The family module of the Cython backend, as gru.pyx: the driver's hooks,
then the shared time loop ``_sequence.pxi`` (``seq_forward`` /
``seq_backward``); state h.
"""

cimport numpy as cnp
from cython cimport floating

from _common cimport hidden_backward_product, hidden_product, hidden_weights_backward
from _gates cimport (add_colsum_ld, ln_add_colsum_product, ln_gru_gates_backward,
                     ln_gru_gates_forward, ln_scale_columns)
from _layernorm cimport layer_norm_backward, layer_norm_forward

cnp.import_array()


# ----------------------------------------------------------------------------
# the family: G = Gh = 3H, state h, gates (B, 10H + 2)
# ----------------------------------------------------------------------------


cdef enum:
    N_STATES = 1            # h
    N_EXTRAS = 4            # bias_ih, bias_hh, layernorm_ih_weight, layernorm_hh_weight
    SEPARATE_DGH = 1        # dL/dv (B, 3H) differs from dL/du


cdef inline void step_forward(
    floating **state_next,          # (h',): (B, H), written
    floating *gates,                # (B, 10H + 2) written, the cache (module docstring)
    const floating *gi,             # (B, 3H) u = x W_ih^T (the driver's bias slot is zero)
    floating **state,               # (h,): (B, H)
    const floating *weight_hh,      # (3H, H)
    const floating *weight_hh_t,    # from hidden_weights_t, or NULL
    const floating *bias_hh,        # (3H,) zeros: unused
    floating **extras,              # (b_ih, b_hh, gamma_ih, gamma_hh): (3H,) each
    floating option,                # unused
    int B, int H, int K,
) noexcept nogil:
    cdef int C = 10 * H + 2
    cdef const floating *h = state[0]               # (B, H)
    cdef floating *h_next = state_next[0]           # (B, H)
    cdef const floating *b_ih = extras[0]           # (3H,)
    cdef const floating *b_hh = extras[1]           # (3H,)
    cdef const floating *gamma_ih = extras[2]       # (3H,)
    cdef const floating *gamma_hh = extras[3]       # (3H,)
    cdef floating *u_hat = gates + 4 * H            # (B, 3H), row stride C
    cdef floating *v_hat = gates + 7 * H            # (B, 3H), row stride C
    layer_norm_forward(u_hat, C, gates + 10 * H, C, gi, 3 * H, B, 3 * H)  # [LN-GRU gi]
    # v = h W_hh^T into v^'s slot, normalised in place
    hidden_product(v_hat, C, h, weight_hh, weight_hh_t, 0, 3 * H, B, H, 3 * H)
    layer_norm_forward(v_hat, C, gates + 10 * H + 1, C, v_hat, C, B, 3 * H)  # [LN-GRU gh]
    # gi = u^ gamma_ih + b_ih, gh = v^ gamma_hh + b_hh, then the torch GRU's gates
    # [torch-GRU r] ... [torch-GRU h'] (_gates_t.h)
    ln_gru_gates_forward(h_next, gates, u_hat, v_hat, h, b_ih, b_hh, gamma_ih, gamma_hh,
                         C, B, H)


cdef inline void step_backward(
    floating *dgi,                  # (B, 3H) written, dL/du
    floating *dgh,                  # (B, 3H) written, dL/dv
    floating **dstate,              # (dh,): (B, H), written
    floating **dstate_next,         # (dh',): (B, H)
    const floating *gates,          # (B, 10H + 2), the forward's cache
    floating **state,               # (h,): (B, H)
    floating **state_next,          # unused
    const floating *weight_hh,      # (3H, H)
    const floating *weight_hh_p,    # from hidden_weights_p, or NULL
    floating **extras,              # (b_ih, b_hh, gamma_ih, gamma_hh): (3H,) each
    floating **dextras,             # their gradients (3H,) each, added into
    floating option,                # unused
    int B, int H, int K,
) noexcept nogil:
    cdef int C = 10 * H + 2
    cdef const floating *h = state[0]               # (B, H)
    cdef const floating *dh_next = dstate_next[0]   # (B, H)
    cdef floating *dh = dstate[0]                   # (B, H)
    cdef const floating *gamma_ih = extras[2]       # (3H,)
    cdef const floating *gamma_hh = extras[3]       # (3H,)
    cdef const floating *u_hat = gates + 4 * H      # (B, 3H), row stride C
    cdef const floating *v_hat = gates + 7 * H      # (B, 3H), row stride C
    # the torch GRU's gate gradients  [torch-GRU dn] ... [torch-GRU da_z]:
    # da_i = [dar | daz | dan] into dgi, da_h = [dar | daz | dhn] into dgh,
    # and dh = dh' z, the first term of [LN-GRU dh] (_gates_t.h)
    ln_gru_gates_backward(dgi, dgh, dh, dh_next, gates, h, C, B, H)
    # gi = u^ gamma_ih + b_ih, gh = v^ gamma_hh + b_hh   [LN-GRU dgamma]
    add_colsum_ld(dextras[0], dgi, 3 * H, B, 3 * H)
    add_colsum_ld(dextras[1], dgh, 3 * H, B, 3 * H)
    ln_add_colsum_product(dextras[2], dgi, 3 * H, u_hat, C, B, 3 * H)
    ln_add_colsum_product(dextras[3], dgh, 3 * H, v_hat, C, B, 3 * H)
    ln_scale_columns(dgi, 3 * H, dgi, 3 * H, gamma_ih, B, 3 * H)    # dgi *= gamma_ih
    ln_scale_columns(dgh, 3 * H, dgh, 3 * H, gamma_hh, B, 3 * H)    # dgh *= gamma_hh
    layer_norm_backward(dgi, 3 * H, u_hat, C, gates + 10 * H, C, B, 3 * H)      # [LN-GRU du]
    layer_norm_backward(dgh, 3 * H, v_hat, C, gates + 10 * H + 1, C, B, 3 * H)  # [LN-GRU dv]
    # dh = dh' z + dv W_hh   [LN-GRU dh]
    hidden_backward_product(dh, dgh, 3 * H, weight_hh, weight_hh_p, 0, 3 * H, B, H, 3 * H, 1)


cdef inline void weights_backward(
    floating *dweight_hh,           # (3H, H) added into
    floating *dbias_hh,             # (3H,) the zero slot's gradient: scratch
    floating **dextras,             # summed per step, not here
    floating *work,                 # none
    const floating *dgh,            # (N, 3H) dL/dv
    const floating *gates,          # (N, 10H + 2)
    floating **state,               # (h,): (N, H), the state each row's step read
    floating **extras,              # unused
    int N, int H, int K,
) noexcept nogil:
    # v = h W_hh^T   [LN-GRU dW]
    hidden_weights_backward(dweight_hh, dbias_hh, dgh, state[0], N, H, 3 * H)


cdef inline Py_ssize_t weights_backward_scratch(Py_ssize_t N, int H) noexcept nogil:
    return 0


include "_no_row_loop.pxi"
include "_sequence.pxi"
