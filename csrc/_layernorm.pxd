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

cdef extern from *:
    # bptt._families.LAYER_NORM_EPS, torch's and haste's default
    double LAYER_NORM_EPS "1e-5"


cdef enum:
    PW_BLOCKSIZE = 128      # NumPy's pairwise-summation block


cdef inline floating row_sum(
    const floating *a,              # (n,)
    const floating *c,              # (n,), or NULL
    Py_ssize_t n,
) noexcept nogil:
    # sum(a), or sum(a (.) c) with each product rounded first, in NumPy's
    # order (its pairwise_sum: 8 accumulators per block of up to 128, blocks
    # halved recursively), so a row's mean here is NumPy's to the last bit
    cdef floating r[8]
    cdef floating res
    cdef Py_ssize_t i, k, n2
    if n < 8:
        res = 0
        for i in range(n):
            res += a[i] if c == NULL else a[i] * c[i]
        return res
    if n <= PW_BLOCKSIZE:
        for k in range(8):
            r[k] = a[k] if c == NULL else a[k] * c[k]
        i = 8
        while i < n - n % 8:
            for k in range(8):
                r[k] += a[i + k] if c == NULL else a[i + k] * c[i + k]
            i += 8
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        while i < n:
            res += a[i] if c == NULL else a[i] * c[i]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return (row_sum(a, c, n2)
            + row_sum(a + n2, c + n2 if c != NULL else NULL, n - n2))


cdef inline void layer_norm_forward(
    floating *x_hat, int ldh,       # (B, F) written, row stride ldh; may be x itself
    floating *inv_sigma, int ldi,   # (B,) written, entry b at inv_sigma[b * ldi]: 1 / sigma
    const floating *x, int ldx,     # (B, F), row stride ldx
    int B, int F,
) noexcept nogil:
    cdef Py_ssize_t b, j
    cdef floating mean, var, inv
    cdef floating *row
    for b in range(B):
        row = x_hat + b * ldh
        mean = row_sum(x + b * ldx, NULL, F) / F
        for j in range(F):
            row[j] = x[b * ldx + j] - mean          # centred, in x^'s place
        var = row_sum(row, row, F) / F
        inv = 1 / <floating> sqrt(var + <floating> LAYER_NORM_EPS)   # [LN sigma]
        inv_sigma[b * ldi] = inv
        for j in range(F):
            row[j] = row[j] * inv                   # [LN x^]


cdef inline void layer_norm_backward(
    floating *dx, int ldd,          # (B, F), row stride ldd: dL/d(x^) in, dL/dx out
    const floating *x_hat, int ldh, # (B, F), row stride ldh
    const floating *inv_sigma, int ldi,     # (B,), entry b at inv_sigma[b * ldi]
    int B, int F,
) noexcept nogil:
    # dx = (1 / sigma) (dx^ - mean(dx^) - x^ mean(dx^ x^))   [LN dx]
    cdef Py_ssize_t b, j
    cdef floating mean_d, mean_dx, inv
    for b in range(B):
        mean_d = row_sum(dx + b * ldd, NULL, F) / F
        mean_dx = row_sum(dx + b * ldd, x_hat + b * ldh, F) / F
        inv = inv_sigma[b * ldi]
        for j in range(F):
            dx[b * ldd + j] = inv * (dx[b * ldd + j] - mean_d - x_hat[b * ldh + j] * mean_dx)


cdef inline void scale_columns(
    floating *out, int ldo,         # (B, F) written, row stride ldo; may be a itself
    const floating *a, int lda,     # (B, F), row stride lda
    const floating *gain,           # (F,)
    int B, int F,
) noexcept nogil:
    # out = a (.) gain, the gain broadcast over rows
    cdef Py_ssize_t b, j
    for b in range(B):
        for j in range(F):
            out[b * ldo + j] = a[b * lda + j] * gain[j]


cdef inline void add_colsum_ld(
    floating *dst,                  # (F,) added into
    const floating *a, int lda,     # (B, F), row stride lda
    int B, int F,
) noexcept nogil:
    # dst += a.sum(axis=0), summed over the rows first, in NumPy's order
    cdef Py_ssize_t b, j
    cdef floating s
    for j in range(F):
        s = 0
        for b in range(B):
            s = s + a[b * lda + j]
        dst[j] += s


cdef inline void add_colsum_product(
    floating *dst,                  # (F,) added into
    const floating *a, int lda,     # (B, F), row stride lda
    const floating *c, int ldc,     # (B, F), row stride ldc
    int B, int F,
) noexcept nogil:
    # dst += (a (.) c).sum(axis=0), in NumPy's order
    cdef Py_ssize_t b, j
    cdef floating s
    for j in range(F):
        s = 0
        for b in range(B):
            s = s + a[b * lda + j] * c[b * ldc + j]
        dst[j] += s
