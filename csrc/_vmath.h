/*
 * _vmath.h: exp, sigmoid and tanh written so that a C compiler can vectorise
 * a loop that calls them (no libm calls, no data-dependent branches: every
 * special case is a select), for double (suffix _d) and float (suffix _f).
 *
 * Only IEEE basic operations (+ - * /, compares) and integer operations on
 * the bit patterns are used. Compiled with -ffp-contract=off (setup.py), no
 * multiply-add is ever fused, so the scalar code and its SSE2, AVX2 and
 * AVX-512 vectorisations give bit-identical results on every machine.
 * (Never build this with -ffast-math: the selects and the NaN handling rely
 * on IEEE semantics.)
 *
 * Accuracy: the largest error in ulps of the exact value. float64: 2.7-2.9
 * million points per function in tests/test_vmath.py (the whole range,
 * log-spaced near 0, the tanh branch switch, saturation, over- and underflow,
 * subnormal results) against a long-double reference checked against mpmath.
 * float32: every one of the 2^32 inputs, against float64.
 *
 *               float64     float32 (all inputs)
 *   exp         0.76        0.78     (the worst cases are subnormal results;
 *   sigmoid     1.12        2.41      normal results stay below 0.7)
 *   tanh        1.03        1.46
 *
 * float32 sigmoid and tanh trade about one ulp for speed: they skip the
 * two-word exp and the corrected quotient that float64 uses (see each
 * function). In float32 the LSTM's five functions per unit were ~30% of a
 * batch-32 forward; this form halves their instructions.
 *
 * NaN gives NaN, +-inf give the limits, -0.0 keeps its sign (tanh), tiny x
 * gives tanh(x) = x, and exp over- and underflows exactly where the true
 * value does (tests/test_vmath.py checks all of it).
 *
 * The polynomial coefficients and range-reduction constants were derived for
 * this file by csrc/_vmath_fit.py (weighted Remez fits in 60-digit
 * arithmetic); rerun it to check or refit them.
 *
 * Porting (e.g. to Numba): each function below is straight-line arithmetic.
 * The bit casts are float64 <-> uint64 (float32 <-> uint32) reinterpretations
 * (numpy: .view); `c ? a : b` is a select (numpy: np.where); every integer
 * operation is unsigned and wraps.
 */
#ifndef BPTT_VMATH_H
#define BPTT_VMATH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(_MSC_VER)
#define VM_RESTRICT __restrict
#else
#define VM_RESTRICT restrict
#endif

/* Function multi-versioning: the gate loops (and the array helpers below) are
 * compiled three times, for baseline x86-64 (SSE2), AVX2 and AVX-512F, and the
 * dynamic loader picks the widest the CPU has (an ifunc resolved at load
 * time). So a wheel built on any x86-64 runs on any x86-64. GCC on x86-64
 * with glibc only (ifunc); everything else gets one plain version. Define
 * BPTT_NO_TARGET_CLONES to build the plain version on purpose. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__GLIBC__) && !defined(BPTT_NO_TARGET_CLONES)
#define VM_CLONES __attribute__((target_clones("default", "avx2", "avx512f")))
#define VM_HAVE_CLONES 1
#else
#define VM_CLONES
#define VM_HAVE_CLONES 0
#endif

/* The element functions are inlined wherever they are called, so that a
 * scalar call (a remainder loop, a small hidden size) runs in the caller's
 * instruction set and without a call; GCC otherwise keeps tanh out of line. */
#if defined(__GNUC__) || defined(__clang__)
#define VM_ELEMENT static inline __attribute__((always_inline))
#else
#define VM_ELEMENT static inline
#endif

/* A multi-versioned loop function; every module includes them all and keeps
 * those it calls (unused static functions are dropped without a warning). */
#if defined(__GNUC__) || defined(__clang__)
#define VM_KERNEL VM_CLONES __attribute__((unused)) static void
#else
#define VM_KERNEL static void
#endif

static inline uint64_t vm_bits_d(double x) { uint64_t u; memcpy(&u, &x, sizeof u); return u; }
static inline double vm_double(uint64_t u) { double x; memcpy(&x, &u, sizeof x); return x; }
static inline uint32_t vm_bits_f(float x) { uint32_t u; memcpy(&u, &x, sizeof u); return u; }
static inline float vm_float(uint32_t u) { float x; memcpy(&x, &u, sizeof x); return x; }
/* |x| by clearing the sign bit (NaN stays NaN) */
static inline double vm_abs_d(double x) { return vm_double(vm_bits_d(x) & 0x7fffffffffffffffu); }
static inline float vm_abs_f(float x) { return vm_float(vm_bits_f(x) & 0x7fffffffu); }
/* |y| with the sign bit of x (y >= 0 or NaN) */
static inline double vm_sign_d(double y, double x)
{
    return vm_double(vm_bits_d(y) | (vm_bits_d(x) & 0x8000000000000000u));
}
static inline float vm_sign_f(float y, float x)
{
    return vm_float(vm_bits_f(y) | (vm_bits_f(x) & 0x80000000u));
}


/* ------------------------------------------------------------------------
 * exp(x)
 *
 *   1. Clamp x to [lo, hi] (float64 [-746, 710], float32 [-104, 89]): every x
 *      below lo has exp(x) < half the smallest subnormal (result 0), every x
 *      above hi has exp(x) > the largest finite number (result inf), and the
 *      clamped values still give exactly that. NaN fails both compares and
 *      passes through; it makes the polynomial NaN, and so the result.
 *   2. n = round(x / ln 2) by the shifter trick: t = x log2(e) + 1.5 2^52
 *      (2^23 for float) rounds x log2(e) to an integer, which lands in the
 *      low mantissa bits of t; n = t - shifter as a float, and the bits of t
 *      minus the bits of the shifter as an integer.
 *   3. r = rh + rl = x - n ln 2, |r| <= ~ln(2)/2, kept in two parts:
 *      rh = x - n LN2_HI is exact (LN2_HI has few enough bits that n LN2_HI
 *      is exact, and the subtraction is exact by Sterbenz's lemma), and
 *      rl = -n LN2_LO is the small rest.
 *   4. exp(r) = 1 + r + r^2 P(r), P a weighted-minimax polynomial (degree 9
 *      float64, degree 4 float32; relative fit error 5.8e-18 and 3.8e-9),
 *      evaluated in r = rh + rl. The large part 1 + rh is split exactly into
 *      e1 + e0 (Fast2Sum), the small terms are added to e0, and a second
 *      Fast2Sum returns exp(r) as hi + lo, with lo carrying the bits hi
 *      could not hold. exp keeps hi (one final rounding: < 0.77 ulp);
 *      sigmoid and tanh use lo too.
 *   5. exp(x) = exp(r) 2^n1 2^n2 with n1 + n2 = n, both halves' powers of two
 *      built directly as exponent bits. Two factors, so that 2^n never has
 *      to be representable itself: results near overflow and gradual
 *      underflow into subnormals come out right (one rounding, in the last
 *      multiplication). With a bias making n non-negative (n + 1077 for
 *      float64, n + 151 for float32): n1 = (n + bias) >> 1, unsigned.
 * ------------------------------------------------------------------------ */

#define VM_EXP_LO_D (-746.0)
#define VM_EXP_HI_D 710.0
#define VM_LOG2E_D 1.4426950408889634
#define VM_SHIFT_D 6755399441055744.0               /* 1.5 * 2^52 */
#define VM_LN2_HI_D 0.69314718055989033             /* 0x1.62e42fefa38p-1, 42 bits */
#define VM_LN2_LO_D 5.4979230187083712e-14

VM_ELEMENT double vm_exp2_d(double x, double *lo)
{
    double t, n, rh, rl, r, p, e1, e0, s1, s2, h;
    uint64_t k, k1;
    x = x < VM_EXP_LO_D ? VM_EXP_LO_D : x;
    x = x > VM_EXP_HI_D ? VM_EXP_HI_D : x;
    t = x * VM_LOG2E_D + VM_SHIFT_D;
    n = t - VM_SHIFT_D;
    rh = x - n * VM_LN2_HI_D;                       /* exact */
    rl = -(n * VM_LN2_LO_D);
    r = rh + rl;
    p = 2.4978388629339963e-08;
    p = p * r + 2.7625186648992967e-07;
    p = p * r + 2.7557640833569827e-06;
    p = p * r + 2.4801508683169085e-05;
    p = p * r + 0.00019841269466260757;
    p = p * r + 0.0013888888926795681;
    p = p * r + 0.0083333333335000159;
    p = p * r + 0.041666666666603958;
    p = p * r + 0.16666666666666433;
    p = p * r + 0.5;
    /* 1 + rh as e1 + e0 exactly (Fast2Sum, |rh| < 1), then the small terms */
    e1 = 1.0 + rh;
    e0 = (1.0 - e1) + rh;
    p = e0 + (rl + (r * r) * p);
    h = e1 + p;
    p = p - (h - e1);                               /* exp(r) = h + p (Fast2Sum) */
    /* k = n + 1077 in [0, 2101]; n1 = k/2 - 538, n2 = n - n1 */
    k = vm_bits_d(t) - (vm_bits_d(VM_SHIFT_D) - 1077u);
    k1 = k >> 1;
    s1 = vm_double((k1 + 485u) << 52);
    s2 = vm_double((k - k1 + 484u) << 52);
    *lo = p * s1 * s2;
    return h * s1 * s2;
}

VM_ELEMENT double vm_exp_d(double x)
{
    double lo;
    return vm_exp2_d(x, &lo);
}

#define VM_EXP_LO_F (-104.0f)
#define VM_EXP_HI_F 89.0f
#define VM_LOG2E_F 1.44269502f
#define VM_SHIFT_F 12582912.0f                      /* 1.5 * 2^23 */
#define VM_LN2_HI_F 0.693145752f                    /* 0x1.62e4p-1, 16 bits */
#define VM_LN2_LO_F 1.42860677e-06f

/* P(r) of exp(r) = 1 + r + r^2 P(r), float32 (step 4); vm_exp2_f and
 * vm_exp_reduced_f share it */
VM_ELEMENT float vm_exp_poly_f(float r)
{
    float p = 0.00138637819f;
    p = p * r + 0.00836748071f;
    p = p * r + 0.0416672379f;
    p = p * r + 0.166665345f;
    return p * r + 0.5f;
}

VM_ELEMENT float vm_exp2_f(float x, float *lo)
{
    float t, n, rh, rl, r, p, e1, e0, s1, s2, h;
    uint32_t k, k1;
    x = x < VM_EXP_LO_F ? VM_EXP_LO_F : x;
    x = x > VM_EXP_HI_F ? VM_EXP_HI_F : x;
    t = x * VM_LOG2E_F + VM_SHIFT_F;
    n = t - VM_SHIFT_F;
    rh = x - n * VM_LN2_HI_F;                       /* exact */
    rl = -(n * VM_LN2_LO_F);
    r = rh + rl;
    p = vm_exp_poly_f(r);
    e1 = 1.0f + rh;
    e0 = (1.0f - e1) + rh;
    p = e0 + (rl + (r * r) * p);
    h = e1 + p;
    p = p - (h - e1);
    /* k = n + 151 in [0, 280]; n1 = k/2 - 75, n2 = n - n1 */
    k = vm_bits_f(t) - (vm_bits_f(VM_SHIFT_F) - 151u);
    k1 = k >> 1;
    s1 = vm_float((k1 + 52u) << 23);
    s2 = vm_float((k - k1 + 51u) << 23);
    *lo = p * s1 * s2;
    return h * s1 * s2;
}

VM_ELEMENT float vm_exp_f(float x)
{
    float lo;
    return vm_exp2_f(x, &lo);
}

/* Steps 2-4 of vm_exp2_f in one word, for float32 sigmoid and tanh: returns
 * exp(r) = 1 + (r + r^2 P(r)) with r = (x - n LN2_HI) - n LN2_LO rounded once,
 * and k = n + 151 (the caller scales by 2^n). x must be clamped already. */
VM_ELEMENT float vm_exp_reduced_f(float x, uint32_t *k)
{
    float t, n, r, p;
    t = x * VM_LOG2E_F + VM_SHIFT_F;
    n = t - VM_SHIFT_F;
    r = (x - n * VM_LN2_HI_F) - n * VM_LN2_LO_F;
    p = vm_exp_poly_f(r);
    *k = vm_bits_f(t) - (vm_bits_f(VM_SHIFT_F) - 151u);
    return 1.0f + (r + (r * r) * p);
}


/* ------------------------------------------------------------------------
 * sigmoid(a) = 1 / (1 + exp(-a)), from e = exp(-|a|) in (0, 1], which never
 * overflows: a >= 0 gives 1 / (1 + e), a < 0 gives e / (1 + e) (no
 * cancellation on either side; subnormal results for a < -708 are right).
 * One division, the numerator a select. NaN gives NaN.
 * The plain formula rounds three times (e, 1 + e, the division) and reaches
 * ~2.4 ulp; so e comes as eh + el (vm_exp2), 1 + e as d + de exactly
 * (Fast2Sum), and the quotient q = num / d gets the first-order correction
 * (num_lo - q de) / d, with 1 / d taken as q (a >= 0) or 1 - q (a < 0):
 * < 1.15 ulp, for a few additions and multiplications.
 * ------------------------------------------------------------------------ */

VM_ELEMENT double vm_sigmoid_d(double a)
{
    double el, eh = vm_exp2_d(-vm_abs_d(a), &el);
    double d = 1.0 + eh;
    double de = ((1.0 - d) + eh) + el;              /* 1 + e = d + de */
    double q = (a >= 0 ? 1.0 : eh) / d;
    double inv = a >= 0 ? q : 1.0 - q;              /* ~ 1 / d */
    return q + ((a >= 0 ? 0.0 : el) - q * de) * inv;
}

/* float32: the plain formula, one rounding more than float64's (< 2.41 ulp
 * over all inputs): e from vm_exp_reduced_f in one word, the quotient not
 * corrected. Otherwise the same steps as above. */
VM_ELEMENT float vm_sigmoid_f(float a)
{
    float x = -vm_abs_f(a), e;
    uint32_t k, k1;
    x = x < VM_EXP_LO_F ? VM_EXP_LO_F : x;
    e = vm_exp_reduced_f(x, &k);
    k1 = k >> 1;                                    /* two factors, as vm_exp2_f */
    e = e * vm_float((k1 + 52u) << 23) * vm_float((k - k1 + 51u) << 23);
    return (a >= 0 ? 1.0f : e) / (1.0f + e);
}


/* ------------------------------------------------------------------------
 * tanh(x), accurate in relative terms everywhere:
 *   |x| < 0.55:  x + x (s Q(s)), s = x^2, Q a weighted-minimax polynomial
 *                (degree 9 float64, degree 4 float32): no cancellation, and
 *                tanh(x) = x exactly once s underflows (tiny and subnormal x).
 *   |x| >= 0.55: sign(x) (1 - 2 / (exp(2|x|) + 1)); there tanh(|x|) >= 0.5,
 *                so the subtraction loses nothing. As in sigmoid, exp comes
 *                as hi + lo, e + 1 as d + de exactly, and t = 2 / d gets the
 *                correction - t de / d = - t de (t / 2) (1.48 ulp -> 1.03).
 *                |x| is clamped at 20 (float 10), where tanh already rounds
 *                to 1, so that exp stays finite.
 * Both are computed and one is selected. NaN fails |x| < 0.55, takes the
 * exp branch and stays NaN; -0.0 stays -0.0 (polynomial branch).
 * ------------------------------------------------------------------------ */

#define VM_TANH_CUT 0.55

VM_ELEMENT double vm_tanh_d(double x)
{
    double ax = vm_abs_d(x), ac;
    double s = ax * ax, q, small, big, eh, el, d, de, t;
    q = 5.1799403187227857e-05;
    q = q * s + -0.0002115171295806102;
    q = q * s + 0.0005799467912874877;
    q = q * s + -0.001453517263892892;
    q = q * s + 0.0035917875436031984;
    q = q * s + -0.0088632040633232802;
    q = q * s + 0.021869486802992465;
    q = q * s + -0.053968253917746949;
    q = q * s + 0.1333333333327579;
    q = q * s + -0.33333333333333331;
    small = ax + ax * (s * q);
    /* tanh(x) rounds to 1 beyond |x| ~ 19.1: clamping there keeps exp finite */
    ac = ax > 20.0 ? 20.0 : ax;
    eh = vm_exp2_d(ac + ac, &el);
    d = eh + 1.0;
    de = ((eh - d) + 1.0) + el;                     /* e + 1 = d + de */
    t = 2.0 / d;
    t = t - t * (de * (0.5 * t));                   /* 2 / (d + de) */
    big = 1.0 - t;
    return vm_sign_d(ax < VM_TANH_CUT ? small : big, x);
}

/* float32: the same two branches; the exp branch in one word and without
 * the correction (< 1.46 ulp over all inputs). exp(2|x|) for |x| <= 10 needs
 * one power of two, 2^n with n in [0, 29]. */
VM_ELEMENT float vm_tanh_f(float x)
{
    float ax = vm_abs_f(x), ac;
    float s = ax * ax, q, small, big, e;
    uint32_t k;
    q = -0.00646626251f;
    q = q * s + 0.0212213881f;
    q = q * s + -0.0538933203f;
    q = q * s + 0.133330435f;
    q = q * s + -0.333333343f;
    small = ax + ax * (s * q);
    /* tanh(x) rounds to 1 beyond |x| ~ 9.01 */
    ac = ax > 10.0f ? 10.0f : ax;
    e = vm_exp_reduced_f(ac + ac, &k);
    e = e * vm_float((k - 24u) << 23);              /* k = n + 151; 2^n */
    big = 1.0f - 2.0f / (e + 1.0f);
    return vm_sign_f(ax < (float) VM_TANH_CUT ? small : big, x);
}


/* ------------------------------------------------------------------------
 * Whole arrays, y[i] = f(x[i]), vectorised and multi-versioned like the
 * gate loops: what the tests measure (bptt._cython._vmath_check).
 * ------------------------------------------------------------------------ */

#define VM_ARRAY(name, T, f)                                                   \
    VM_KERNEL name(T *VM_RESTRICT y, const T *VM_RESTRICT x, ptrdiff_t n)      \
    {                                                                          \
        ptrdiff_t i;                                                           \
        for (i = 0; i < n; i++)                                                \
            y[i] = f(x[i]);                                                    \
    }

#endif /* BPTT_VMATH_H */
