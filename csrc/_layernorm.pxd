# Layer normalisation of each row, shared by ln_gru.pyx and ln_lstm.pyx: the
# Cython twin of bptt._numpy._layernorm, plus the column sums their gain and
# bias gradients need. Everything is inline; no `_layernorm` module exists at
# run time.
#
#     x^ = (x - mean(x)) / sigma,   sigma = sqrt(var(x) + eps)   (per row, biased var)
#
# The gain and bias are applied by the cell, so backward takes the gradient
# already multiplied by the gain. Buffers are raw row-major pointers with a
# row stride (ld*), so a normalised block can live inside a wider cache row.
# The row sums are NumPy's, in the array's dtype and in its pairwise order:
# the cancellation in LN's backward amplifies any other order's float32
# rounding past the 1e-5 the backends agree to.

from cython cimport floating
from libc.math cimport sqrt

from _gates cimport (ln_add_colsum_product, ln_row_backward, ln_row_center,
                     ln_row_scale, ln_row_sum, ln_scale_columns)

cdef extern from *:
    # bptt._families.LAYER_NORM_EPS, torch's and haste's default
    double LAYER_NORM_EPS "1e-5"


cdef inline floating row_sum(
    const floating *a,              # (n,)
    const floating *c,              # (n,), or NULL
    Py_ssize_t n,
) noexcept nogil:
    # sum(a), or sum(a (.) c) with each product rounded first, in NumPy's
    # order (its pairwise_sum: 8 accumulators per block of up to 128, blocks
    # halved recursively), so a row's mean here is NumPy's to the last bit.
    # In C (_gates_t.h, ln_row_sum), the same operations in the same order,
    # the 8 accumulators one vector
    return ln_row_sum(a, c, n)


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
        mean = row_sum(x + b * ldx, NULL, F) / F
        ln_row_center(row, x + b * ldx, mean, F)    # centred, in x^'s place
        var = row_sum(row, row, F) / F
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
        mean_d = row_sum(dx + b * ldd, NULL, F) / F
        mean_dx = row_sum(dx + b * ldd, x_hat + b * ldh, F) / F
        inv = inv_sigma[b * ldi]
        ln_row_backward(dx + b * ldd, x_hat + b * ldh, inv, mean_d, mean_dx, F)


cdef inline void scale_columns(
    floating *out, int ldo,         # (B, F) written, row stride ldo; may be a itself
    const floating *a, int lda,     # (B, F), row stride lda
    const floating *gain,           # (F,)
    int B, int F,
) noexcept nogil:
    # out = a (.) gain, the gain broadcast over rows
    ln_scale_columns(out, ldo, a, lda, gain, B, F)


cdef inline void add_colsum_product(
    floating *dst,                  # (F,) added into
    const floating *a, int lda,     # (B, F), row stride lda
    const floating *c, int ldc,     # (B, F), row stride ldc
    int B, int F,
) noexcept nogil:
    # dst += (a (.) c).sum(axis=0), in NumPy's order (as _gates' add_colsum_ld)
    ln_add_colsum_product(dst, a, lda, c, ldc, B, F)
