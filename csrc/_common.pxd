# Shared by the family modules (gru.pyx, rnn.pyx, lstm.pyx, ...) and by their
# one time loop, _sequence.pxi: the row-major GEMM, the recurrent products
# (W_hh^T or panels made once per sequence), the two bias loops, and the
# time-loop helpers (the twins of bptt._numpy._sequence). The element-wise
# math (sigmoid, tanh and the fused gate loops) is C, in _vmath.h and
# _gates.h, declared in _gates.pxd. Everything here is inline, so no
# `_common` module exists (or is imported) at run time.
#
# Buffers are raw pointers to C-contiguous row-major arrays; a comment gives
# each one's shape. Sizes are C ints because that is what BLAS takes.

from cython cimport floating
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memset
from scipy.linalg.cython_blas cimport dgemm, dgemv, sgemm, sgemv

from _gates cimport add_colsum_ld

cdef extern from "_panel.h" nogil:
    int panel_isa()
    int panel_usable(int M, int N)
    void panel_pack(float *panels, const float *src, int K, int N, int ld, int transposed)
    void panel_gemm(float *c, int ldc, const float *a, int lda, const float *panels,
                    int kstride, int M, int N, int K, int beta, const float *bias)
    void gemv_pack(float *groups, const float *src, int K, int N, int ld, int transposed)
    void panel_gemv(float *c, const float *a, const float *groups, int Kall, int Nall,
                    int col0, int n, int k0, int K, int beta)
    void panel_atb(float *c, const float *x, int ldx, const float *d, int ldd, int N, int F,
                   int G, float *sums, float *xs)
    enum: ATB_CHUNK

cdef enum:
    TRANSPOSED_WORK = 1000000   # B G H up to which a step multiplies by W_hh^T
    GEMV_PACK_STEPS = 32    # at batch 1, packing W_hh into panels pays from this many steps
    INPUT_PANEL_ROWS = 64   # rows of x from which the input projection runs on panels
    ATB_MAX_F = 128         # the widest x whose weight gradient runs on panel_atb
    SMALL_PRODUCT = 512     # B n H up to which a step's product is a plain loop, not BLAS

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
    if m == 1:
        gemm_vector(ta, tb, n, k, alpha, a, lda, b, ldb, beta, c)
        return
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float *> b, &ldb, <float *> a, &lda,
              &beta, c, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double *> b, &ldb, <double *> a, &lda,
              &beta, c, &ldc)


cdef inline void small_gemm(
    char ta, char tb, int m, int n, int k, floating alpha,
    const floating *a, int lda, const floating *b, int ldb, floating beta,
    floating *c, int ldc,
) noexcept nogil:
    # gemm's product as a plain loop, for the tiny recurrent products (hidden
    # 6: a step's is 144 multiply-adds, less than the cost of the call into
    # BLAS, its checks and its dispatch). Each entry sums over k in order;
    # the loop over a row's entries is innermost, so that it vectorises where
    # b's rows are contiguous (tb == c'n'). Only for the per-step products,
    # whose shapes do not depend on how a sequence is cut into chunks: a
    # stream fed in pieces gets the same bits. n <= SMALL_PRODUCT.
    cdef Py_ssize_t i, j, p
    cdef Py_ssize_t a_i = lda if ta == c'n' else 1      # a's strides: row i, entry p
    cdef Py_ssize_t a_p = 1 if ta == c'n' else lda
    cdef Py_ssize_t b_p = ldb if tb == c'n' else 1      # b's strides: entry p, column j
    cdef Py_ssize_t b_j = 1 if tb == c'n' else ldb
    cdef floating a_ip
    cdef floating total[SMALL_PRODUCT]                  # one row of the product
    for i in range(m):
        for j in range(n):
            total[j] = 0
        for p in range(k):
            a_ip = a[i * a_i + p * a_p]
            for j in range(n):
                total[j] = total[j] + a_ip * b[p * b_p + j * b_j]
        for j in range(n):
            if beta == 0:
                c[i * ldc + j] = alpha * total[j]
            else:
                c[i * ldc + j] = alpha * total[j] + beta * c[i * ldc + j]


cdef inline void gemm_vector(
    char ta, char tb, int n, int k,
    floating alpha,
    const floating *a, int lda,
    const floating *b, int ldb,
    floating beta,
    floating *c,
) noexcept nogil:
    # gemm with m = 1 (one row: batch 1, every step of a stream): the row
    # c (1, n) = alpha a op(b) + beta c is a matrix-vector product, and BLAS's
    # gemv runs it faster than gemm does at this shape (LSTM and RNN layers at
    # (256, 256, 1): ~20% faster steps). Same transposition as
    # gemm: row-major b is column-major b^T. a's k entries are a[0 .. k-1],
    # or a column a[p * lda] when ta == c't' (a stored (k, 1)).
    cdef int inca = lda if ta == c't' else 1
    cdef int one = 1
    cdef char trans = c'n' if tb == c'n' else c't'
    cdef int rows = n if tb == c'n' else k       # column-major shape of b^T
    cdef int cols = k if tb == c'n' else n
    if floating is float:
        sgemv(&trans, &rows, &cols, &alpha, <float *> b, &ldb, <float *> a, &inca,
              &beta, c, &one)
    else:
        dgemv(&trans, &rows, &cols, &alpha, <double *> b, &ldb, <double *> a, &inca,
              &beta, c, &one)


cdef inline void transpose(
    floating *out,          # (cols, rows) written
    const floating *a,      # (rows, cols)
    int rows, int cols,
) noexcept nogil:
    cdef Py_ssize_t i, j
    for i in range(rows):
        for j in range(cols):
            out[j * rows + i] = a[i * cols + j]


cdef inline bint use_panels(floating *kind, int B, int H, int G) noexcept nogil:
    # float32 recurrent products at batch 1 or >= 8, with H (the width of the
    # h multiplied) and G (the rows of W_hh) multiples of 32, run on _panel.h's
    # kernels (AVX-512 or AVX2), where the CPU has one and BPTT_SIMD allows
    # it. The kernels write whole panels of 32 output columns only, so G must
    # be a multiple of 32 too: with a projection
    # (lstm_proj) h has P columns and W_hh 4 H rows, and P % 32 == 0 does not
    # make 4 H one.
    if floating is float:
        return panel_usable(B, H) != 0 and G % 32 == 0
    else:
        return False


cdef inline const floating *hidden_weights_t(
    floating *scratch,              # (H, G) written, where used
    const floating *weight_hh,      # (G, H)
    int G, int H, int B, int T,
) noexcept nogil:
    # W_hh^T for hidden_product, made once per sequence of T steps where it
    # pays: as _panel.h's panels (see use_panels), or at batch 1 as its
    # matrix-vector groups (for T >= GEMV_PACK_STEPS only, since packing
    # costs about as much as a few dozen steps' products), or plain,
    # row-major (H, G), up to TRANSPOSED_WORK, where OpenBLAS's no-packing
    # path then applies, and at any batch for the tiny products (small_gemm
    # then reads its rows contiguously); else NULL (at batch 1 the product is
    # a gemv that reads W_hh as it is).
    if floating is float:
        if use_panels(scratch, B, H, G) and (B > 1 or T >= GEMV_PACK_STEPS):
            if B > 1:
                panel_pack(scratch, weight_hh, H, G, H, 1)
            else:
                gemv_pack(scratch, weight_hh, H, G, H, 1)
            return scratch
    if <long long> B * G * H <= SMALL_PRODUCT or (
            B > 1 and <long long> B * G * H <= TRANSPOSED_WORK):
        transpose(scratch, weight_hh, G, H)
        return scratch
    return NULL


cdef inline void hidden_product(
    floating *out, int ldo,         # (B, n) written, row stride ldo
    const floating *h,              # (B, H)
    const floating *weight_hh,      # (G, H)
    const floating *weight_hh_t,    # from hidden_weights_t, or NULL
    int row0, int n, int B, int H, int G,
) noexcept nogil:
    # out = h W_hh[row0 : row0 + n]^T, the recurrent product of one step.
    # OpenBLAS runs it from a stored W_hh^T (no transpose flag) 1.3-2x faster
    # than from W_hh with the flag at batch 32, which it repacks on every call
    # (measured at H = 128..1024): so a sequence passes weight_hh_t.
    if <long long> B * n * H <= SMALL_PRODUCT:
        if weight_hh_t != NULL:     # plain W_hh^T (too small for panels)
            small_gemm(c'n', c'n', B, n, H, 1, h, H, weight_hh_t + row0, G, 0, out, ldo)
        else:
            small_gemm(c'n', c't', B, n, H, 1, h, H, weight_hh + <Py_ssize_t> row0 * H, H, 0,
                       out, ldo)
        return
    if weight_hh_t == NULL:
        gemm(c'n', c't', B, n, H, 1, h, H, weight_hh + <Py_ssize_t> row0 * H, H, 0, out, ldo)
        return
    if floating is float:
        if use_panels(out, B, H, G):
            if B == 1:
                panel_gemv(out, h, weight_hh_t, H, G, row0, n, 0, H, 0)
            else:                   # panel row0 / 32 starts at row0 * H
                panel_gemm(out, ldo, h, H, weight_hh_t + <Py_ssize_t> row0 * H, H, B, n, H, 0,
                           NULL)
            return
    gemm(c'n', c'n', B, n, H, 1, h, H, weight_hh_t + row0, G, 0, out, ldo)


cdef inline const floating *hidden_weights_p(
    floating *scratch,              # (G, H) written as panels, where used
    const floating *weight_hh,      # (G, H)
    int G, int H, int B, int T,
) noexcept nogil:
    # W_hh as _panel.h's panels (at batch 1 its matrix-vector groups) for
    # hidden_backward_product, once per sequence of T steps; NULL where
    # use_panels says no (or, at batch 1, for fewer than GEMV_PACK_STEPS steps)
    if floating is float:
        if use_panels(scratch, B, H, G) and (B > 1 or T >= GEMV_PACK_STEPS):
            if B > 1:
                panel_pack(scratch, weight_hh, G, H, H, 0)
            else:
                gemv_pack(scratch, weight_hh, G, H, H, 0)
            return scratch
    return NULL


cdef inline void hidden_backward_product(
    floating *dh,                   # (B, H) written (beta 0) or added into (beta 1)
    const floating *da, int lda,    # (B, k) dL/d(pre-activations), row stride lda
    const floating *weight_hh,      # (G, H)
    const floating *weight_hh_p,    # from hidden_weights_p, or NULL
    int row0, int k, int B, int H, int G, floating beta,
) noexcept nogil:
    # dh (+)= da W_hh[row0 : row0 + k], the mirror of hidden_product
    if <long long> B * H * k <= SMALL_PRODUCT:
        small_gemm(c'n', c'n', B, H, k, 1, da, lda, weight_hh + <Py_ssize_t> row0 * H, H, beta,
                   dh, H)
        return
    if weight_hh_p != NULL:
        if floating is float:
            if B == 1:
                panel_gemv(dh, da, weight_hh_p, G, H, 0, H, row0, k, beta != 0)
            else:                   # row row0 of every panel starts at row0 * 32
                panel_gemm(dh, H, da, lda, weight_hh_p + <Py_ssize_t> row0 * 32, G, B, H, k,
                           beta != 0, NULL)
            return
    gemm(c'n', c'n', B, H, k, 1, da, lda, weight_hh + <Py_ssize_t> row0 * H, H, beta, dh, H)


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
    # dbias += d.sum(axis=0), in NumPy's order (_gates_t.h)
    add_colsum_ld(dbias, d, cols, rows, cols)


# ----------------------------------------------------------------------------
# sequences, one layer and one direction (conventions in bptt._numpy._sequence):
# hs (T+1, B, H); forward, step t reads hs[t] and writes hs[t+1], hs[0] = h0;
# reverse, step t reads hs[t+1] and writes hs[t], hs[T] = h0. Step t is valid
# for row b iff t < lengths[b].
# ----------------------------------------------------------------------------


cdef inline Py_ssize_t step_at(Py_ssize_t s, int T, bint reverse) noexcept nogil:
    # the time index of the s-th step in processing order
    return T - 1 - s if reverse else s


cdef inline Py_ssize_t prev_index(Py_ssize_t t, bint reverse) noexcept nogil:
    # index into hs of the state step t reads
    return t + 1 if reverse else t


cdef inline Py_ssize_t next_index(Py_ssize_t t, bint reverse) noexcept nogil:
    # index into hs of the state step t writes
    return t if reverse else t + 1


cdef inline Py_ssize_t final_index(int T, bint reverse) noexcept nogil:
    # index into hs of h_n (of h0 with reverse flipped)
    return 0 if reverse else T


cdef inline long long min_length(const long long *lengths, int B) noexcept nogil:
    # the shortest of the B lengths: steps t below it are valid on every row
    cdef Py_ssize_t b
    cdef long long shortest = lengths[0] if B > 0 else 0
    for b in range(1, B):
        if lengths[b] < shortest:
            shortest = lengths[b]
    return shortest


cdef inline void keep_invalid_rows(
    floating *state_next,           # (B, H) rows past their length overwritten
    const floating *state,          # (B, H)
    const long long *lengths,       # (B,)
    Py_ssize_t t, int B, int H,
) noexcept nogil:
    # Rows past their length carry their state through unchanged.
    cdef Py_ssize_t b
    for b in range(B):
        if t >= lengths[b]:
            memcpy(state_next + b * H, state + b * H, <size_t> H * sizeof(floating))


cdef inline void mask_rows(
    floating *out,                  # (B, H) written
    const floating *a,              # (B, H)
    const long long *lengths,       # (B,)
    Py_ssize_t t, int B, int H,
) noexcept nogil:
    # out = a on rows where step t is valid, 0 past a row's length
    cdef Py_ssize_t b, j
    for b in range(B):
        if t < lengths[b]:
            memcpy(out + b * H, a + b * H, <size_t> H * sizeof(floating))
        else:
            for j in range(H):
                out[b * H + j] = 0


cdef inline void mask_rows_sum(
    floating *out,                  # (B, H) written
    const floating *a,              # (B, H)
    const floating *c,              # (B, H)
    const long long *lengths,       # (B,)
    Py_ssize_t t, int B, int H,
) noexcept nogil:
    # out = a + c on rows where step t is valid, 0 past a row's length
    cdef Py_ssize_t b, j
    for b in range(B):
        if t < lengths[b]:
            for j in range(H):
                out[b * H + j] = a[b * H + j] + c[b * H + j]
        else:
            for j in range(H):
                out[b * H + j] = 0


cdef inline const floating *input_weights_t(
    floating *scratch,              # (I, G) written, where used
    const floating *weight_ih,      # (G, I)
    int G, int I, Py_ssize_t N,
) noexcept nogil:
    # W_ih^T as _panel.h's panels for input_projection, where the product of
    # a call's N = T B rows pays for the packing: float32, G a multiple of
    # 32, N >= INPUT_PANEL_ROWS (the kernel, bias included, is ~1.3x
    # OpenBLAS's fill + GEMM there, packing included); else NULL (BLAS).
    # The choice depends on the call's shape only, so a training forward and
    # an eval forward of the same call get the same gi.
    if floating is float:
        if panel_isa() != 0 and G % 32 == 0 and N >= INPUT_PANEL_ROWS:
            panel_pack(scratch, weight_ih, I, G, I, 1)
            return scratch
    return NULL


cdef inline void input_projection(
    floating *gi,                   # (N, G) written
    const floating *x,              # (N, I)
    const floating *weight_ih,      # (G, I)
    const floating *weight_ih_t,    # input_weights_t's panels, or NULL
    const floating *bias_ih,        # (G,)
    int N, int I, int G,
) noexcept nogil:
    # gi = x W_ih^T + b_ih for all N = T B rows at once
    if floating is float:
        if weight_ih_t != NULL:
            panel_gemm(gi, G, x, I, weight_ih_t, I, N, G, I, 0, bias_ih)
            return
    fill_rows(gi, bias_ih, N, G)
    gemm(c'n', c't', N, G, I, 1, x, I, weight_ih, I, 1, gi, G)


cdef inline void input_backward(
    floating *dx,                   # (N, I) written; NULL: not wanted, not computed
    floating *dweight_ih,           # (G, I) added into
    floating *dbias_ih,             # (G,) added into
    const floating *dgi,            # (N, G)
    const floating *x,              # (N, I)
    const floating *weight_ih,      # (G, I)
    int N, int I, int G,
) noexcept nogil:
    # Mirror of input_projection.
    if dx != NULL:
        gemm(c'n', c'n', N, I, G, 1, dgi, G, weight_ih, I, 0, dx, I)
    add_weight_gradient(dweight_ih, I, dbias_ih, dgi, G, x, I, N, G, I)


cdef inline void add_transposed(
    floating *dweight, int ldw,     # (G, F) added into, rows ldw apart
    const floating *dweight_t,      # (F, G)
    int F, int G,
) noexcept nogil:
    # dweight += dweight_t^T: a weight gradient summed in W^T's layout, added in
    cdef Py_ssize_t g, f
    for g in range(G):
        for f in range(F):
            dweight[g * ldw + f] += dweight_t[f * G + g]


cdef inline void add_weight_gradient(
    floating *dweight, int ldw,     # (G, F) added into, rows ldw apart
    floating *dbias,                # (G,) added into: d's column sums; NULL: not wanted
    const floating *d, int ldd,     # (N, G) dL/d(pre-activations), rows ldd apart
    const floating *x, int ldx,     # (N, F) what the weights multiplied, rows ldx apart
    int N, int G, int F,
) noexcept nogil:
    # dW += d^T x, db += colsum(d) over a sequence's N = T B rows
    # [BPTT dW_ih], [BPTT dW_hh]
    # In float32 where the panel kernels run, for F <= ATB_MAX_F: _panel.h's
    # x^T d into a (F, G) scratch, then added in transposed, and the column
    # sums made as the kernel copies d (into a scratch from 0, then added:
    # add_colsum's order and bits). OpenBLAS runs these tall, skinny
    # products (N = 3200, F = 65..128, G = 512) at 51-64 GFLOP/s on the Zen
    # 4 host, the kernel at 75-86; from F = 256 the two tie. Else (or if the
    # scratch cannot be had) BLAS, then add_colsum.
    cdef float *scratch
    cdef float *sums
    cdef Py_ssize_t g
    if floating is float:
        if (panel_isa() != 0 and G % 32 == 0 and N >= INPUT_PANEL_ROWS
                and F <= ATB_MAX_F):
            # C (F, G), the sums (G,), then the chunks' X (ATB_CHUNK (F + 8),)
            scratch = <float *> calloc(<size_t> (F + 1) * G + <size_t> ATB_CHUNK * (F + 8),
                                       sizeof(float))
            if scratch != NULL:
                sums = scratch + <size_t> F * G if dbias != NULL else NULL
                panel_atb(scratch, x, ldx, d, ldd, N, F, G, sums,
                          scratch + <size_t> (F + 1) * G)
                add_transposed(dweight, ldw, scratch, F, G)
                if dbias != NULL:
                    for g in range(G):
                        dbias[g] += sums[g]
                free(scratch)
                return
    gemm(c't', c'n', G, F, N, 1, d, ldd, x, ldx, 1, dweight, ldw)
    if dbias != NULL:
        add_colsum_ld(dbias, d, ldd, N, G)


cdef inline void input_gather(
    floating *gi,                   # (N, G) written
    const long long *ids,           # (N,) each row's one-hot column, 0 <= ids[n] < I
    const floating *weight_ih_t,    # (I, G): W_ih^T (transpose)
    const floating *bias_ih,        # (G,)
    int N, int G,
) noexcept nogil:
    # input_projection of one-hot rows x_n = e_{ids[n]}: row n of x W_ih^T is
    # column ids[n] of W_ih exactly (every other term of the sum is 0), so
    # the same gi as the product, for a copy instead of N I G multiply-adds
    cdef Py_ssize_t n, g
    cdef const floating *column
    cdef floating *out
    for n in range(N):
        column = weight_ih_t + ids[n] * G
        out = gi + n * G
        for g in range(G):
            out[g] = column[g] + bias_ih[g]


cdef inline void input_scatter_backward(
    floating *dweight_ih,           # (G, I) added into
    floating *dbias_ih,             # (G,) added into
    floating *dweight_ih_t,         # (I, G) scratch
    const floating *dgi,            # (N, G)
    const long long *ids,           # (N,) as input_gather's
    int N, int I, int G,
) noexcept nogil:
    # Mirror of input_gather: dW_ih += dgi^T x adds row n of dgi into column
    # ids[n]; rows are added in order into W_ih^T's layout, then transposed
    # in (the NumPy backend's np.add.at, term for term)
    cdef Py_ssize_t n, g
    cdef floating *column
    cdef const floating *row
    memset(dweight_ih_t, 0, <size_t> I * G * sizeof(floating))
    for n in range(N):
        column = dweight_ih_t + ids[n] * G
        row = dgi + n * G
        for g in range(G):
            column[g] += row[g]
    add_transposed(dweight_ih, I, dweight_ih_t, I, G)
    add_colsum(dbias_ih, dgi, N, G)


cdef inline void hidden_weights_backward(
    floating *dweight_hh,           # (Gh, K) added into
    floating *dbias_hh,             # (Gh,) added into
    const floating *dgh,            # (N, Gh) dL/d(h W_hh^T + b_hh)
    const floating *h,              # (N, K), the state each row's step read
    int N, int K, int Gh,
) noexcept nogil:
    # Mirror of hidden_product + b_hh over all N = T B rows at once:
    # dW_hh += dgh^T h, db_hh += colsum(dgh)   [BPTT dW_hh]
    add_weight_gradient(dweight_hh, K, dbias_hh, dgh, Gh, h, K, N, Gh, K)
