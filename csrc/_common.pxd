# Shared by gru.pyx, rnn.pyx and lstm.pyx: the row-major GEMM, the stable
# element-wise functions and the two bias loops. Everything here is inline,
# so no `_common` module exists (or is imported) at run time.
#
# Buffers are raw pointers to C-contiguous row-major arrays; a comment gives
# each one's shape. Sizes are C ints because that is what BLAS takes.

from cython cimport floating
from libc.math cimport exp, expf, fabs, fabsf, tanh, tanhf
from scipy.linalg.cython_blas cimport dgemm, sgemm

cdef inline void gemm(
    char ta, char tb, int m, int n, int k,   # ta, tb: c'n' as stored, c't' transposed
    floating alpha,
    const floating *a, int lda,     # (m, k), or (k, m) if ta == c't'; row stride lda
    const floating *b, int ldb,     # (k, n), or (n, k) if tb == c't'; row stride ldb
    floating beta,
    floating *c, int ldc,           # (m, n); row stride ldc
) noexcept nogil:
    # Row-major c = alpha op(a) op(b) + beta c.
    # BLAS is column-major, and a row-major (r, s) array with row stride ld is
    # exactly the column-major (s, r) array, leading dimension ld, holding its
    # transpose. So hand BLAS the transposed problem c^T = op(b)^T op(a)^T:
    # operands swapped (b first), sizes swapped (n, m), flags and leading
    # dimensions unchanged. No copy, no transpose in memory.
    # beta = 0 writes c (BLAS never reads it then); beta = 1 adds into c.
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float *> b, &ldb, <float *> a, &lda,
              &beta, c, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double *> b, &ldb, <double *> a, &lda,
              &beta, c, &ldc)


cdef inline floating sigmoid(floating a) noexcept nogil:
    # exp only ever sees -|a| <= 0, so it cannot overflow; NaN stays NaN.
    cdef floating e
    if floating is float:
        e = expf(-fabsf(a))
    else:
        e = exp(-fabs(a))
    if a >= 0:
        return 1 / (1 + e)
    return e / (1 + e)


cdef inline floating tanh_(floating a) noexcept nogil:
    if floating is float:
        return tanhf(a)
    else:
        return tanh(a)


cdef inline void fill_rows(
    floating *out,          # (rows, cols) written
    const floating *row,    # (cols,)
    int rows, int cols,
) noexcept nogil:
    # Broadcast a bias into every row, so a gemm with beta = 1 adds x W^T to it.
    cdef Py_ssize_t i, j
    for i in range(rows):
        for j in range(cols):
            out[i * cols + j] = row[j]


cdef inline void add_colsum(
    floating *dbias,        # (cols,) added into
    const floating *d,      # (rows, cols)
    int rows, int cols,
) noexcept nogil:
    # dbias += d.sum(axis=0): sum the batch first, then add once (as NumPy does).
    cdef Py_ssize_t i, j
    cdef floating s
    for j in range(cols):
        s = 0
        for i in range(rows):
            s = s + d[i * cols + j]
        dbias[j] += s
