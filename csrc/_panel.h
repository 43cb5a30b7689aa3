/*
 * _panel.h: the recurrent products of a float32 sequence at batch >= 8,
 * C (M, N) = A (M, K) B (K, N), on B packed once per sequence.
 *
 * BLAS re-packs W_hh on every call, and a step's product is small (M = the
 * batch): at batch 32, hidden 128..1024, OpenBLAS runs these products at
 * 77-88 GFLOP/s on this project's machine, this kernel at 143-180 (AVX-512,
 * one thread). B is packed into panels of 32 columns: panel p holds
 * B[k][32p .. 32p + 31] for every k, contiguous, so a panel streams through
 * the kernel in order; 8 rows of C times one panel stay in 16 registers.
 *
 * The kernel is built for AVX-512F only and used where the CPU has it
 * (checked once); elsewhere, for float64, and for N not a multiple of 32,
 * the callers (_common.pxd) keep BLAS. It uses fused multiply-add: float32
 * results differ from BLAS's in the last bits, as BLAS kernels differ among
 * themselves. Define BPTT_NO_PANEL_GEMM to build without it.
 */
#ifndef BPTT_PANEL_H
#define BPTT_PANEL_H

#include <stddef.h>

#if defined(__GNUC__) && defined(__x86_64__) && !defined(BPTT_NO_PANEL_GEMM)
#include <immintrin.h>
#define PANEL_BUILT 1
#define PANEL_TARGET __attribute__((target("avx512f")))
#else
#define PANEL_BUILT 0
#define PANEL_TARGET
#endif

#define PANEL_WIDTH 32      /* columns per panel: two 16-float vectors */
#define PANEL_ROWS 8        /* rows of C per pass of the kernel */

#if PANEL_BUILT
static int panel_cpu = -1;  /* 1: the CPU has AVX-512F (set on first use) */
#endif

/* Whether panel_gemm runs an (M, N) product here. */
static inline int panel_usable(int M, int N)
{
#if PANEL_BUILT
    if (panel_cpu < 0)
        panel_cpu = __builtin_cpu_supports("avx512f") ? 1 : 0;
    return panel_cpu && M >= PANEL_ROWS && N % PANEL_WIDTH == 0;
#else
    (void) M;
    (void) N;
    return 0;
#endif
}

/* Pack B (K, N) into panels (N / 32 of them, K * 32 floats each). B is
 * src (K, N) with row stride ld, or, with transposed, src^T for a row-major
 * src (N, K) with row stride ld (W_hh as it is, for h W_hh^T). */
static inline void panel_pack(float *panels, const float *src, int K, int N, int ld,
                              int transposed)
{
    ptrdiff_t p, k, j;
    for (p = 0; p < N / PANEL_WIDTH; p++) {
        float *out = panels + p * (ptrdiff_t) K * PANEL_WIDTH;
        for (k = 0; k < K; k++)
            for (j = 0; j < PANEL_WIDTH; j++) {
                ptrdiff_t col = p * PANEL_WIDTH + j;
                out[k * PANEL_WIDTH + j] = transposed ? src[col * ld + k] : src[k * ld + col];
            }
    }
}

#if PANEL_BUILT

/* rows [i, i + R) of C times one panel, R <= PANEL_ROWS rows at a time */
#define PANEL_FMA(r)                                                           \
    do {                                                                       \
        __m512 x = _mm512_set1_ps(a[(i + r) * (ptrdiff_t) lda + k]);           \
        acc[r][0] = _mm512_fmadd_ps(x, b0, acc[r][0]);                         \
        acc[r][1] = _mm512_fmadd_ps(x, b1, acc[r][1]);                         \
    } while (0)

PANEL_TARGET static void panel_gemm_avx512(
    float *c, int ldc,              /* (M, N) written (beta 0) or added into (beta 1) */
    const float *a, int lda,        /* (M, K) */
    const float *panels, int kstride, /* panel p at panels + p * kstride * 32 */
    int M, int N, int K, int beta)
{
    ptrdiff_t p, i, k, r;
    for (p = 0; p < N / PANEL_WIDTH; p++) {
        const float *panel = panels + p * (ptrdiff_t) kstride * PANEL_WIDTH;
        for (i = 0; i < M; i += PANEL_ROWS) {
            ptrdiff_t rows = M - i < PANEL_ROWS ? M - i : PANEL_ROWS;
            __m512 acc[PANEL_ROWS][2];
            for (r = 0; r < PANEL_ROWS; r++)
                acc[r][0] = acc[r][1] = _mm512_setzero_ps();
            if (rows == PANEL_ROWS) {
                for (k = 0; k < K; k++) {
                    __m512 b0 = _mm512_loadu_ps(panel + k * PANEL_WIDTH);
                    __m512 b1 = _mm512_loadu_ps(panel + k * PANEL_WIDTH + 16);
                    PANEL_FMA(0); PANEL_FMA(1); PANEL_FMA(2); PANEL_FMA(3);
                    PANEL_FMA(4); PANEL_FMA(5); PANEL_FMA(6); PANEL_FMA(7);
                }
            } else {
                for (k = 0; k < K; k++) {
                    __m512 b0 = _mm512_loadu_ps(panel + k * PANEL_WIDTH);
                    __m512 b1 = _mm512_loadu_ps(panel + k * PANEL_WIDTH + 16);
                    for (r = 0; r < rows; r++)
                        PANEL_FMA(r);
                }
            }
            for (r = 0; r < rows; r++) {
                float *out = c + (i + r) * (ptrdiff_t) ldc + p * PANEL_WIDTH;
                if (beta) {
                    acc[r][0] = _mm512_add_ps(_mm512_loadu_ps(out), acc[r][0]);
                    acc[r][1] = _mm512_add_ps(_mm512_loadu_ps(out + 16), acc[r][1]);
                }
                _mm512_storeu_ps(out, acc[r][0]);
                _mm512_storeu_ps(out + 16, acc[r][1]);
            }
        }
    }
}

#undef PANEL_FMA

#endif /* PANEL_BUILT */

/* C = A B (beta 0) or C += A B (beta 1); only where panel_usable(M, N). */
static inline void panel_gemm(float *c, int ldc, const float *a, int lda, const float *panels,
                              int kstride, int M, int N, int K, int beta)
{
#if PANEL_BUILT
    panel_gemm_avx512(c, ldc, a, lda, panels, kstride, M, N, K, beta);
#else
    (void) c; (void) ldc; (void) a; (void) lda; (void) panels; (void) kstride;
    (void) M; (void) N; (void) K; (void) beta;
#endif
}

#endif /* BPTT_PANEL_H */
