/*
 * _panel.h: the recurrent products of a float32 sequence at batch >= 8,
 * C (M, N) = A (M, K) B (K, N), on B packed once per sequence.
 *
 * BLAS re-packs W_hh on every call, and a step's product is small (M = the
 * batch): at batch 32, hidden 128..1024, OpenBLAS runs these products at
 * 77-88 GFLOP/s on this project's machine, the AVX-512 kernel here at
 * 143-180 (one thread). B is packed into panels of 32 columns: panel p holds
 * B[k][32p .. 32p + 31] for every k, contiguous, so a panel streams through
 * the kernel in order.
 *
 * Also here: the weight gradients' product after the loop, C += X^T D over
 * a sequence's T B rows (panel_atb, below), on X and D as they are.
 *
 * Two kernels, one per instruction set, on the same panels:
 *   AVX-512F       8 rows of C times a whole panel (two 16-float vectors a
 *                  row): 16 accumulators;
 *   AVX2 with FMA  6 rows of C times half a panel (two 8-float vectors a
 *                  row): 12 accumulators, the 16 registers' worth.
 * Which one runs is decided once per module, on first use: the widest the CPU
 * has, capped by the environment variable BPTT_SIMD ("avx512", "avx2" or
 * "none"; unset: the widest), so that both kernels can be tested and timed on
 * one machine. "none", and float64, and N not a multiple of 32, keep BLAS.
 * Both use fused multiply-add in the same order over k (one accumulator per
 * output), so the two kernels give the same bits; they differ from BLAS's
 * float32 results in the last bits, as BLAS kernels differ among themselves.
 * Define BPTT_NO_PANEL_GEMM to build without them.
 */
#ifndef BPTT_PANEL_H
#define BPTT_PANEL_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__) && !defined(BPTT_NO_PANEL_GEMM)
#include <immintrin.h>
#define PANEL_BUILT 1
#define PANEL_AVX512 __attribute__((target("avx512f")))
#define PANEL_AVX2 __attribute__((target("avx2,fma")))
#else
#define PANEL_BUILT 0
#endif

#define PANEL_WIDTH 32      /* columns per panel */
#define PANEL_ROWS 8        /* the least M worth packing for */

/* the instruction sets, widest last; what panel_isa() returns */
#define PANEL_NONE 0
#define PANEL_ISA_AVX2 1
#define PANEL_ISA_AVX512 2

static int panel_isa_chosen = -1;  /* set on first use */

/* The kernel this module runs: the widest the CPU has, at most BPTT_SIMD's. */
static inline int panel_isa(void)
{
    if (panel_isa_chosen < 0) {
        int isa = PANEL_NONE;
#if PANEL_BUILT
        const char *cap = getenv("BPTT_SIMD");
        if (__builtin_cpu_supports("avx512f"))
            isa = PANEL_ISA_AVX512;
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            isa = PANEL_ISA_AVX2;
        if (cap != NULL && strcmp(cap, "avx2") == 0 && isa > PANEL_ISA_AVX2)
            isa = PANEL_ISA_AVX2;
        else if (cap != NULL && strcmp(cap, "none") == 0)
            isa = PANEL_NONE;
#endif
        panel_isa_chosen = isa;
    }
    return panel_isa_chosen;
}

/* Whether an (M, N) product runs here: M = 1 (a row: panel_gemv) or M >= 8
 * (panel_gemm), N a whole number of panels. */
static inline int panel_usable(int M, int N)
{
    return panel_isa() != PANEL_NONE && (M == 1 || M >= PANEL_ROWS) && N % PANEL_WIDTH == 0;
}

#if PANEL_BUILT
/* out[c * ostride + r] = in[r * istride + c] for r, c < 8: one 8 x 8 tile
 * transposed in registers (pairs interleaved, then quads, then the halves). */
PANEL_AVX2 static inline void transpose_8x8(float *out, ptrdiff_t ostride, const float *in,
                                            ptrdiff_t istride)
{
    __m256 r0 = _mm256_loadu_ps(in), r1 = _mm256_loadu_ps(in + istride);
    __m256 r2 = _mm256_loadu_ps(in + 2 * istride), r3 = _mm256_loadu_ps(in + 3 * istride);
    __m256 r4 = _mm256_loadu_ps(in + 4 * istride), r5 = _mm256_loadu_ps(in + 5 * istride);
    __m256 r6 = _mm256_loadu_ps(in + 6 * istride), r7 = _mm256_loadu_ps(in + 7 * istride);
    /* t0 = r0[0] r1[0] r0[1] r1[1] | r0[4] r1[4] r0[5] r1[5], ... */
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    /* q0 = column 0 of rows 0..3 | column 4 of rows 0..3, ... */
    __m256 q0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 q1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 q2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 q3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 q4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 q5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 q6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 q7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    _mm256_storeu_ps(out, _mm256_permute2f128_ps(q0, q4, 0x20));
    _mm256_storeu_ps(out + ostride, _mm256_permute2f128_ps(q1, q5, 0x20));
    _mm256_storeu_ps(out + 2 * ostride, _mm256_permute2f128_ps(q2, q6, 0x20));
    _mm256_storeu_ps(out + 3 * ostride, _mm256_permute2f128_ps(q3, q7, 0x20));
    _mm256_storeu_ps(out + 4 * ostride, _mm256_permute2f128_ps(q0, q4, 0x31));
    _mm256_storeu_ps(out + 5 * ostride, _mm256_permute2f128_ps(q1, q5, 0x31));
    _mm256_storeu_ps(out + 6 * ostride, _mm256_permute2f128_ps(q2, q6, 0x31));
    _mm256_storeu_ps(out + 7 * ostride, _mm256_permute2f128_ps(q3, q7, 0x31));
}
#endif

/* Columns first .. first + width - 1 of B (K, N) into out (K, width),
 * row-major. B is src (K, N) with row stride ld, or, with transposed, src^T
 * for a row-major src (N, K) with row stride ld (W_hh as it is, for
 * h W_hh^T). The transposing copy runs on 8 x 8 tiles in registers where the
 * CPU has AVX2 (the packing of W_hh is most of a one-step LSTM call at hidden
 * 128, and a tenth of a 100-step one at batch 1, scalar), else src is read
 * along its rows, PACK_TILE entries at a time, into PACK_TILE rows of out at
 * once (a column-by-column read cost ~15% of a batch-1 LSTM call at hidden
 * 128). Either way the same entries land in the same places. */
#define PACK_TILE 16

static inline void pack_block(float *out, const float *src, int K, ptrdiff_t first,
                              ptrdiff_t width, int ld, int transposed)
{
    ptrdiff_t k, k0, j, j0 = 0;
    if (!transposed) {
        for (k = 0; k < K; k++)
            memcpy(out + k * width, src + k * (ptrdiff_t) ld + first, width * sizeof(float));
        return;
    }
#if PANEL_BUILT
    if (panel_isa() != PANEL_NONE) {
        ptrdiff_t K8 = K - K % 8;
        for (j0 = 0; j0 + 8 <= width; j0 += 8) {
            const float *rows = src + (first + j0) * ld;
            for (k = 0; k < K8; k += 8)
                transpose_8x8(out + k * width + j0, width, rows + k, ld);
            for (j = j0; j < j0 + 8; j++)  /* the last K % 8 entries of each row */
                for (k = K8; k < K; k++)
                    out[k * width + j] = src[(first + j) * ld + k];
        }
    }
#endif
    /* the columns not done above: all of them, or the last width % 8 */
    for (k0 = 0; k0 < K; k0 += PACK_TILE) {
        ptrdiff_t k1 = K - k0 < PACK_TILE ? K : k0 + PACK_TILE;
        for (j = j0; j < width; j++) {
            const float *row = src + (first + j) * ld;
            for (k = k0; k < k1; k++)
                out[k * width + j] = row[k];
        }
    }
}

/* Pack B (K, N) into panels (N / 32 of them, K * 32 floats each); src, ld
 * and transposed as in pack_block. */
static inline void panel_pack(float *panels, const float *src, int K, int N, int ld,
                              int transposed)
{
    ptrdiff_t p;
    for (p = 0; p < N / PANEL_WIDTH; p++)
        pack_block(panels + p * (ptrdiff_t) K * PANEL_WIDTH, src, K, p * PANEL_WIDTH,
                   PANEL_WIDTH, ld, transposed);
}

/* At batch 1, B streams from L2 on every step, and panels K * 128 bytes
 * apart would be read as four streams at once whose addresses map to the
 * same L1 sets (at K = 128: 1.4-1.9x slower, N = 384..1024). So for the
 * matrix-vector kernels B is packed in groups of GEMV_GROUP columns instead:
 * group g (columns 128 g ..) holds its rows k one after another, each its
 * width = min(128, N - 128 g) columns, so a pass reads one stream. */
#define GEMV_GROUP 128
#define GEMV_AHEAD 2        /* rows of a group fetched ahead of the one read */

static inline void gemv_pack(float *groups, const float *src, int K, int N, int ld,
                             int transposed)
{
    ptrdiff_t first;
    for (first = 0; first < N; first += GEMV_GROUP)
        pack_block(groups + first * (ptrdiff_t) K, src, K, first,
                   N - first < GEMV_GROUP ? N - first : GEMV_GROUP, ld, transposed);
}

#if PANEL_BUILT

/* C (M, N) (+)= A (M, K) B (K, N) on the panels, in blocks of ROWS rows of C
 * times 2 LANES columns (two vectors a row): AVX-512 takes a whole panel
 * (2 x 16 columns) for 8 rows, 16 accumulators; AVX2 half a panel (2 x 8)
 * for 6 rows, 12 accumulators, each within its 32 or 16 registers. Each
 * entry is one chain of FMAs over k, from zero, then added to C (beta 1)
 * or to bias[column] (bias not NULL, beta 0: the input projection's b_ih,
 * without a pass that fills C with it first). */
#define PANEL_GEMM(NAME, ISA, VEC, LANES, ROWS, LOAD, STORE, SET1, ZERO, FMA, ADD)  \
    ISA static void NAME(                                                      \
        float *c, int ldc,            /* (M, N) written (beta 0) or added into (beta 1) */ \
        const float *a, int lda,      /* (M, K) */                             \
        const float *panels, int kstride, /* panel p at panels + p * kstride * 32 */ \
        int M, int N, int K, int beta,                                         \
        const float *bias)            /* (N,) or NULL */                       \
    {                                                                          \
        ptrdiff_t p, h, i, k, r;                                               \
        for (p = 0; p < N / PANEL_WIDTH; p++)                                  \
            for (h = 0; h < PANEL_WIDTH; h += 2 * LANES) {                     \
                const float *panel = panels + p * (ptrdiff_t) kstride * PANEL_WIDTH + h; \
                for (i = 0; i < M; i += ROWS) {                                \
                    ptrdiff_t rows = M - i < ROWS ? M - i : ROWS;              \
                    VEC acc[ROWS][2];                                          \
                    for (r = 0; r < ROWS; r++)                                 \
                        acc[r][0] = acc[r][1] = ZERO();                        \
                    if (rows == ROWS) {  /* a constant count: unrolled */      \
                        for (k = 0; k < K; k++) {                              \
                            VEC b0 = LOAD(panel + k * PANEL_WIDTH);            \
                            VEC b1 = LOAD(panel + k * PANEL_WIDTH + LANES);    \
                            for (r = 0; r < ROWS; r++) {                       \
                                VEC x = SET1(a[(i + r) * (ptrdiff_t) lda + k]); \
                                acc[r][0] = FMA(x, b0, acc[r][0]);             \
                                acc[r][1] = FMA(x, b1, acc[r][1]);             \
                            }                                                  \
                        }                                                      \
                    } else {                                                   \
                        for (k = 0; k < K; k++) {                              \
                            VEC b0 = LOAD(panel + k * PANEL_WIDTH);            \
                            VEC b1 = LOAD(panel + k * PANEL_WIDTH + LANES);    \
                            for (r = 0; r < rows; r++) {                       \
                                VEC x = SET1(a[(i + r) * (ptrdiff_t) lda + k]); \
                                acc[r][0] = FMA(x, b0, acc[r][0]);             \
                                acc[r][1] = FMA(x, b1, acc[r][1]);             \
                            }                                                  \
                        }                                                      \
                    }                                                          \
                    for (r = 0; r < rows; r++) {                               \
                        float *out = c + (i + r) * (ptrdiff_t) ldc + p * PANEL_WIDTH + h; \
                        if (beta) {                                            \
                            acc[r][0] = ADD(LOAD(out), acc[r][0]);             \
                            acc[r][1] = ADD(LOAD(out + LANES), acc[r][1]);     \
                        } else if (bias != NULL) {                             \
                            acc[r][0] = ADD(acc[r][0], LOAD(bias + p * PANEL_WIDTH + h)); \
                            acc[r][1] = ADD(acc[r][1], LOAD(bias + p * PANEL_WIDTH + h + LANES)); \
                        }                                                      \
                        STORE(out, acc[r][0]);                                 \
                        STORE(out + LANES, acc[r][1]);                         \
                    }                                                          \
                }                                                              \
            }                                                                  \
    }

PANEL_GEMM(panel_gemm_avx512, PANEL_AVX512, __m512, 16, 8, _mm512_loadu_ps, _mm512_storeu_ps,
           _mm512_set1_ps, _mm512_setzero_ps, _mm512_fmadd_ps, _mm512_add_ps)
PANEL_GEMM(panel_gemm_avx2, PANEL_AVX2, __m256, 8, 6, _mm256_loadu_ps, _mm256_storeu_ps,
           _mm256_set1_ps, _mm256_setzero_ps, _mm256_fmadd_ps, _mm256_add_ps)

#undef PANEL_GEMM

/* C (F, G) += X^T D: the weight gradients' product over a sequence's N =
 * T B rows, X (N, F) and D (N, G) row-major as the steps left them (rows
 * ldx and ldd apart), G a multiple of 2 LANES. Blocks of ROWS rows of C (F)
 * times 2 LANES columns (G), as PANEL_GEMM's. The rows n run in chunks of
 * ATB_CHUNK: a chunk's 2 LANES columns of D are copied to a contiguous block
 * first, which stays in L1 while every block of F passes over it (D's own
 * rows, G floats apart, fall into a few L1 sets: at G = 512 a chunk of them
 * would not stay). Each block's accumulators are loaded from C and stored
 * back around a chunk, so each entry of C is still one chain of FMAs over
 * n = 0 .. N-1, continuing from C: the same bits for every chunk size and
 * either kernel. With sums (G,) not NULL, the copy also adds D's columns
 * into it, row after row, continuing from sums (the bias gradient, which
 * is then one more read of D that costs nothing: the copy has the rows in
 * registers; as a pass of its own it took ~2.5% of an LSTM forward +
 * backward at (65, 128, 32)). */
#define ATB_CHUNK 256
/* One block's pass over a chunk's m rows: COUNT rows of C (the x values of
 * row n at xb + n COUNT), two vectors of columns from the copied block. */
#define ATB_PASS(VEC, LANES, LOAD, SET1, FMA, COUNT)                            \
    for (n = 0; n < m; n++) {                                                  \
        VEC b0 = LOAD(block + n * 2 * LANES);                                  \
        VEC b1 = LOAD(block + n * 2 * LANES + LANES);                          \
        for (r = 0; r < (COUNT); r++) {                                        \
            VEC s = SET1(xb[n * (COUNT) + r]);                                 \
            acc[r][0] = FMA(s, b0, acc[r][0]);                                 \
            acc[r][1] = FMA(s, b1, acc[r][1]);                                 \
        }                                                                      \
    }

#define PANEL_ATB(NAME, ISA, VEC, LANES, ROWS, LOAD, STORE, SET1, FMA, ADD)      \
    ISA static void NAME(                                                      \
        float *c,                     /* (F, G) added into */                  \
        const float *x, int ldx,      /* (N, F) */                             \
        const float *d, int ldd,      /* (N, G) */                             \
        int N, int F, int G,                                                   \
        float *sums,                  /* (G,) added into, or NULL */           \
        float *xs)                    /* (ATB_CHUNK (F + 8),) scratch */       \
    {                                                                          \
        float block[ATB_CHUNK * 2 * LANES] __attribute__((aligned(64)));       \
        ptrdiff_t n0, n1, m, g, f, n, r;                                       \
        for (n0 = 0; n0 < N; n0 = n1) {                                        \
            n1 = n0 + ATB_CHUNK < N ? n0 + ATB_CHUNK : N;                      \
            m = n1 - n0;                                                       \
            /* the chunk's X by blocks of ROWS columns: block f at xs + f m */ \
            for (f = 0; f < F; f += ROWS) {                                    \
                ptrdiff_t rows = F - f < ROWS ? F - f : ROWS;                  \
                for (n = 0; n < m; n++)                                        \
                    for (r = 0; r < rows; r++)                                 \
                        xs[f * m + n * rows + r] = x[(n0 + n) * (ptrdiff_t) ldx + f + r]; \
            }                                                                  \
            for (g = 0; g < G; g += 2 * LANES) {                               \
                /* without sums the two adds a row go unused (free beside      \
                 * the copy's loads and stores) */                             \
                VEC s0 = sums != NULL ? LOAD(sums + g) : SET1(0.0f);           \
                VEC s1 = sums != NULL ? LOAD(sums + g + LANES) : SET1(0.0f);   \
                for (n = 0; n < m; n++) {                                      \
                    const float *drow = d + (n0 + n) * (ptrdiff_t) ldd + g;    \
                    VEC v0 = LOAD(drow), v1 = LOAD(drow + LANES);              \
                    STORE(block + n * 2 * LANES, v0);                          \
                    STORE(block + n * 2 * LANES + LANES, v1);                  \
                    s0 = ADD(s0, v0);                                          \
                    s1 = ADD(s1, v1);                                          \
                }                                                              \
                if (sums != NULL) {                                            \
                    STORE(sums + g, s0);                                       \
                    STORE(sums + g + LANES, s1);                               \
                }                                                              \
                for (f = 0; f < F; f += ROWS) {                                \
                    ptrdiff_t rows = F - f < ROWS ? F - f : ROWS;              \
                    const float *xb = xs + f * m;                              \
                    VEC acc[ROWS][2];                                          \
                    for (r = 0; r < rows; r++) {                               \
                        acc[r][0] = LOAD(c + (f + r) * (ptrdiff_t) G + g);     \
                        acc[r][1] = LOAD(c + (f + r) * (ptrdiff_t) G + g + LANES); \
                    }                                                          \
                    if (rows == ROWS)    /* a constant count: unrolled */      \
                        ATB_PASS(VEC, LANES, LOAD, SET1, FMA, ROWS)            \
                    else                                                       \
                        ATB_PASS(VEC, LANES, LOAD, SET1, FMA, rows)            \
                    for (r = 0; r < rows; r++) {                               \
                        STORE(c + (f + r) * (ptrdiff_t) G + g, acc[r][0]);     \
                        STORE(c + (f + r) * (ptrdiff_t) G + g + LANES, acc[r][1]); \
                    }                                                          \
                }                                                              \
            }                                                                  \
        }                                                                      \
    }

PANEL_ATB(panel_atb_avx512, PANEL_AVX512, __m512, 16, 8, _mm512_loadu_ps, _mm512_storeu_ps,
          _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps)
PANEL_ATB(panel_atb_avx2, PANEL_AVX2, __m256, 8, 6, _mm256_loadu_ps, _mm256_storeu_ps,
          _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps)

#undef PANEL_ATB
#undef ATB_PASS

/* One row, c (1, n) = a (1, K) B[k0 : k0 + K, col0 : col0 + n]: the matrix-
 * vector product of batch 1, on gemv_pack's groups. Each pass takes SPAN
 * columns of one group (AVX-512: 128, 8 accumulators; AVX2: 64, 8), enough
 * independent FMA chains that the loads of B set the pace; each row of the
 * group is fetched GEMV_AHEAD rows before it is read. Each entry is the same
 * chain of FMAs over k, from zero, as in the kernels above, so a row gets the
 * same bits as in a batch. */
#define PANEL_GEMV(NAME, ISA, VEC, LANES, SPAN, LOAD, STORE, SET1, ZERO, FMA, ADD) \
    ISA static void NAME(                                                      \
        float *c,                     /* (n,) written (beta 0) or added into (beta 1) */ \
        const float *a,               /* (K,) */                               \
        const float *groups, int Kall, int Nall, /* B (Kall, Nall), gemv_pack'ed */ \
        int col0, int n, int k0, int K, int beta)                              \
    {                                                                          \
        enum { Q = SPAN / LANES };                                             \
        ptrdiff_t col = col0, end = (ptrdiff_t) col0 + n, k, q;                \
        while (col < end) {                                                    \
            ptrdiff_t first = col - col % GEMV_GROUP;                          \
            ptrdiff_t width = Nall - first < GEMV_GROUP ? Nall - first : GEMV_GROUP; \
            ptrdiff_t span = (end < first + width ? end : first + width) - col; \
            const float *rows = groups + first * (ptrdiff_t) Kall + k0 * width + (col - first); \
            VEC acc[Q];                                                        \
            span = span < SPAN ? span : SPAN;                                  \
            for (q = 0; q < Q; q++)                                            \
                acc[q] = ZERO();                                               \
            if (span == SPAN) {  /* a constant count: unrolled */             \
                for (k = 0; k < K; k++) {                                      \
                    const float *row = rows + k * width;                       \
                    VEC x = SET1(a[k]);                                        \
                    for (q = 0; q < Q; q += 16 / LANES)  /* one per line */    \
                        _mm_prefetch((const char *) (row + GEMV_AHEAD * width + q * LANES), \
                                     _MM_HINT_T0);                             \
                    for (q = 0; q < Q; q++)                                    \
                        acc[q] = FMA(x, LOAD(row + q * LANES), acc[q]);        \
                }                                                              \
            } else {                                                           \
                for (k = 0; k < K; k++) {                                      \
                    const float *row = rows + k * width;                       \
                    VEC x = SET1(a[k]);                                        \
                    for (q = 0; q < span / LANES; q++)                         \
                        acc[q] = FMA(x, LOAD(row + q * LANES), acc[q]);        \
                }                                                              \
            }                                                                  \
            for (q = 0; q < span / LANES; q++) {                               \
                float *out = c + (col - col0) + q * LANES;                     \
                STORE(out, beta ? ADD(LOAD(out), acc[q]) : acc[q]);            \
            }                                                                  \
            col += span;                                                       \
        }                                                                      \
    }

PANEL_GEMV(panel_gemv_avx512, PANEL_AVX512, __m512, 16, 128, _mm512_loadu_ps, _mm512_storeu_ps,
           _mm512_set1_ps, _mm512_setzero_ps, _mm512_fmadd_ps, _mm512_add_ps)
PANEL_GEMV(panel_gemv_avx2, PANEL_AVX2, __m256, 8, 64, _mm256_loadu_ps, _mm256_storeu_ps,
           _mm256_set1_ps, _mm256_setzero_ps, _mm256_fmadd_ps, _mm256_add_ps)

#undef PANEL_GEMV

#endif /* PANEL_BUILT */

/* C = A B (beta 0), C += A B (beta 1) or C = A B + bias (beta 0, bias not
 * NULL, one row added to every row) on panel_pack's panels; only where
 * panel_usable(M, N), M >= 8. */
static inline void panel_gemm(float *c, int ldc, const float *a, int lda, const float *panels,
                              int kstride, int M, int N, int K, int beta, const float *bias)
{
#if PANEL_BUILT
    if (panel_isa() == PANEL_ISA_AVX512)
        panel_gemm_avx512(c, ldc, a, lda, panels, kstride, M, N, K, beta, bias);
    else
        panel_gemm_avx2(c, ldc, a, lda, panels, kstride, M, N, K, beta, bias);
#else
    (void) c; (void) ldc; (void) a; (void) lda; (void) panels; (void) kstride;
    (void) M; (void) N; (void) K; (void) beta; (void) bias;
#endif
}

/* C (F, G) += X (N, F)^T D (N, G), rows ldx and ldd apart, and sums (G,)
 * += D's column sums unless NULL; only where panel_isa() != PANEL_NONE and
 * G % 32 == 0. */
static inline void panel_atb(float *c, const float *x, int ldx, const float *d, int ldd,
                             int N, int F, int G, float *sums, float *xs)
{
#if PANEL_BUILT
    if (panel_isa() == PANEL_ISA_AVX512)
        panel_atb_avx512(c, x, ldx, d, ldd, N, F, G, sums, xs);
    else
        panel_atb_avx2(c, x, ldx, d, ldd, N, F, G, sums, xs);
#else
    (void) c; (void) x; (void) ldx; (void) d; (void) ldd; (void) N; (void) F; (void) G;
    (void) sums; (void) xs;
#endif
}

/* c = a B[k0 : k0 + K, col0 : col0 + n] (beta 0) or c += it (beta 1), B
 * (Kall, Nall) packed by gemv_pack; col0 and n multiples of 32, only where
 * panel_usable(1, n). */
static inline void panel_gemv(float *c, const float *a, const float *groups, int Kall,
                              int Nall, int col0, int n, int k0, int K, int beta)
{
#if PANEL_BUILT
    if (panel_isa() == PANEL_ISA_AVX512)
        panel_gemv_avx512(c, a, groups, Kall, Nall, col0, n, k0, K, beta);
    else
        panel_gemv_avx2(c, a, groups, Kall, Nall, col0, n, k0, K, beta);
#else
    (void) c; (void) a; (void) groups; (void) Kall; (void) Nall; (void) col0; (void) n;
    (void) k0; (void) K; (void) beta;
#endif
}

#endif /* BPTT_PANEL_H */
