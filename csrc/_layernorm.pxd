# Layer normalisation of each row, shared by ln_gru.pyx and ln_lstm.pyx: the
# Cython twin of bptt._numpy._layernorm, over the C row passes of _gates_t.h
# (the gains' and biases' column sums are there too). Everything is inline;
# no `_layernorm` module exists at run time.
#
#     x^ = (x - mean(x)) / sigma,   sigma = sqrt(var(x) + eps)   (per row, biased var)
#
# The gain and bias are applied by the cell, so backward takes the gradient
# already multiplied by the gain. Buffers are raw row-major pointers with a
# row stride (ld*), so a normalised block can live inside a wider cache row.
# The row sums (ln_row_sum) are NumPy's, in the array's dtype and in its
# pairwise order (8 accumulators per block of up to 128, blocks halved
# recursively), so a row's mean is NumPy's to the last bit:
# the cancellation in LN's backward amplifies any other order's float32
# rounding past the 1e-5 the backends agree to.

from cython cimport floating
from libc.math cimport sqrt

from _gates cimport ln_row_backward, ln_row_center, ln_row_scale, ln_row_sum

cdef extern from *:
    # bptt._families.LAYER_NORM_EPS, torch's and haste's default
    double LAYER_NORM_EPS "1e-5"


cdef inline void layer_norm_forward(
    floating *x_hat, int ldh,       # (B, F) written, row stride ldh; may be x itself
    floating *inv_sigma, int ldi,   # (B,) written, entry b at inv_sigma[b * ldi]: 1 / sigma
    const floating *x, int ldx,     # (B, F), row stride ldx
    int B, int F,
) noexcept nogil:
    # the element-wise passes in C (_gates_t.h), multi-versioned
    cdef Py_ssize_t b
    cdef floating mean, var, inv
    cdef floating *row
    for b in range(B):
        row = x_hat + b * ldh
        mean = ln_row_sum(x + b * ldx, NULL, F) / F
        ln_row_center(row, x + b * ldx, mean, F)    # centred, in x^'s place
        var = ln_row_sum(row, row, F) / F
        inv = 1 / <floating> sqrt(var + <floating> LAYER_NORM_EPS)   # [LN sigma]
        inv_sigma[b * ldi] = inv
        ln_row_scale(row, inv, F)                   # [LN x^]


cdef inline void layer_norm_backward(
    floating *dx, int ldd,          # (B, F), row stride ldd: dL/d(x^) in, dL/dx out
    const floating *x_hat, int ldh, # (B, F), row stride ldh
    const floating *inv_sigma, int ldi,     # (B,), entry b at inv_sigma[b * ldi]
    int B, int F,
) noexcept nogil:
    # dx = (1 / sigma) (dx^ - mean(dx^) - x^ mean(dx^ x^))   [LN dx]
    cdef Py_ssize_t b
    cdef floating mean_d, mean_dx, inv
    for b in range(B):
        mean_d = ln_row_sum(dx + b * ldd, NULL, F) / F
        mean_dx = ln_row_sum(dx + b * ldd, x_hat + b * ldh, F) / F
        inv = inv_sigma[b * ldi]
        ln_row_backward(dx + b * ldd, x_hat + b * ldh, inv, mean_d, mean_dx, F)
