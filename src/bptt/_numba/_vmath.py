"""exp, sigmoid and tanh that LLVM can vectorise: Numba port of csrc/_vmath.h.

The same operations in the same order as the C (whose header documents the
algorithms, constants and error bounds): IEEE basic operations, compares
written as selects, and integer operations on the bit patterns, so a loop
that calls them has no libm call and no branch, and the results equal the C
functions' bit for bit (tests/test_numba_vmath.py).

Two rules keep them exact:

- The element functions are compiled by ``jit_exact``: no fast-math flag.
  ``reassoc`` would let LLVM fold the error-free transformations (Fast2Sum:
  with it, exp(0.3) came out as 1.0) and ``arcp`` would turn divisions into
  multiplications by a reciprocal. ``fastmath=False`` is given explicitly:
  numba compiles a function first called from a fast-math kernel with the
  kernel's flags otherwise. The kernels' loops keep their own flags; LLVM
  keeps each instruction's flags when it inlines these calls (``forceinline``,
  a plain call to numba; never its IR-level ``inline="always"``, which would
  recompile the body under the caller's flags).
- float32 stays float32: every constant of a ``_f32`` function is a float32
  (a bare Python literal is float64 to Numba and would promote), and its
  integer steps are masked to 32 bits where C's uint32 would wrap (Numba does
  unsigned arithmetic in 64 bits).

``exp``, ``sigmoid`` and ``tanh`` pick the float32 or float64 version by the
argument's type; ``exp_array`` ... apply them to whole arrays, compiled as the
kernels are (``jit``), for the tests.
"""

import numpy as np
from numba import types
from numba.extending import intrinsic, overload

from ._config import jit, jit_exact

# ----------------------------------------------------------------------------
# bit casts: LLVM bitcasts, which the loop vectoriser takes like any operation
# ----------------------------------------------------------------------------


@intrinsic
def float_bits(typingctx, x):
    """The bit pattern of a float: float32 -> uint32, float64 -> uint64."""
    if x == types.float32:
        sig = types.uint32(x)
    elif x == types.float64:
        sig = types.uint64(x)
    else:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(signature.return_type))

    return sig, codegen


def _from_bits(bits, result):
    """An intrinsic: the float of type ``result`` whose bits are the low bits
    of an unsigned integer, ``bits`` (uint32 / uint64) wide: C's truncation."""

    def from_bits(typingctx, u):
        if not isinstance(u, types.Integer) or u.signed:
            return None

        def codegen(context, builder, signature, args):
            value, width = args[0], context.get_value_type(bits)
            if u.bitwidth > bits.bitwidth:
                value = builder.trunc(value, width)
            elif u.bitwidth < bits.bitwidth:
                value = builder.zext(value, width)
            return builder.bitcast(value, context.get_value_type(result))

        return result(u), codegen

    return intrinsic(from_bits)


float32_from_bits = _from_bits(types.uint32, types.float32)
float64_from_bits = _from_bits(types.uint64, types.float64)

# ----------------------------------------------------------------------------
# constants (csrc/_vmath.h's VM_*), typed
# ----------------------------------------------------------------------------

_SIGN_D = np.uint64(0x8000000000000000)
_ABS_D = np.uint64(0x7FFFFFFFFFFFFFFF)
_EXP_LO_D = -746.0
_EXP_HI_D = 710.0
_LOG2E_D = 1.4426950408889634
_SHIFT_D = 6755399441055744.0  # 1.5 * 2^52
_LN2_HI_D = 0.69314718055989033  # 42 bits: n LN2_HI is exact
_LN2_LO_D = 5.4979230187083712e-14
# bits(shift) - 1077: bits(t) minus it is k = n + 1077
_K_OFFSET_D = np.uint64(int(np.array(_SHIFT_D).view(np.uint64)) - 1077)
_E1_D = np.uint64(485)
_E2_D = np.uint64(484)
_MANT_D = np.uint64(52)

_SIGN_F = np.uint32(0x80000000)
_ABS_F = np.uint32(0x7FFFFFFF)
_MASK_F = np.uint64(0xFFFFFFFF)  # C's uint32 wrap-around, in Numba's 64-bit integers
_EXP_LO_F = np.float32(-104.0)
_EXP_HI_F = np.float32(89.0)
_LOG2E_F = np.float32(1.44269502)
_SHIFT_F = np.float32(12582912.0)  # 1.5 * 2^23
_LN2_HI_F = np.float32(0.693145752)  # 16 bits
_LN2_LO_F = np.float32(1.42860677e-06)
_K_OFFSET_F = np.uint32(int(np.array(_SHIFT_F).view(np.uint32)) - 151)
_E1_F = np.uint32(52)
_E2_F = np.uint32(51)
_MANT_F = np.uint32(23)
_BIAS_SHIFT_F = np.uint32(24)  # k = n + 151 -> exponent bits n + 127

_ONE_U = np.uint64(1)
_ZERO_F = np.float32(0.0)
_HALF_F = np.float32(0.5)
_ONE_F = np.float32(1.0)
_TWO_F = np.float32(2.0)
_TANH_CUT_D = 0.55
_TANH_CUT_F = np.float32(0.55)
_TANH_CLAMP_D = 20.0  # tanh rounds to 1 beyond ~19.1 (float32: ~9.01)
_TANH_CLAMP_F = np.float32(10.0)

# ----------------------------------------------------------------------------
# exp(x) as hi + lo (vm_exp2_d / vm_exp2_f): clamp, n = round(x / ln 2) by
# the shifter, r = x - n ln 2 in two parts, exp(r) by a polynomial and two
# Fast2Sums, then 2^n as two factors built from exponent bits
# ----------------------------------------------------------------------------


@jit_exact
def exp2_f64(x):
    """exp(x) = hi + lo, float64: the pair (hi, lo)."""
    x = _EXP_LO_D if x < _EXP_LO_D else x
    x = _EXP_HI_D if x > _EXP_HI_D else x
    t = x * _LOG2E_D + _SHIFT_D
    n = t - _SHIFT_D
    rh = x - n * _LN2_HI_D  # exact
    rl = -(n * _LN2_LO_D)
    r = rh + rl
    p = 2.4978388629339963e-08
    p = p * r + 2.7625186648992967e-07
    p = p * r + 2.7557640833569827e-06
    p = p * r + 2.4801508683169085e-05
    p = p * r + 0.00019841269466260757
    p = p * r + 0.0013888888926795681
    p = p * r + 0.0083333333335000159
    p = p * r + 0.041666666666603958
    p = p * r + 0.16666666666666433
    p = p * r + 0.5
    # 1 + rh as e1 + e0 exactly (Fast2Sum), then the small terms
    e1 = 1.0 + rh
    e0 = (1.0 - e1) + rh
    p = e0 + (rl + (r * r) * p)
    h = e1 + p
    p = p - (h - e1)  # exp(r) = h + p (Fast2Sum)
    # k = n + 1077 in [0, 2101]; n1 = k/2 - 538, n2 = n - n1
    k = float_bits(t) - _K_OFFSET_D
    k1 = k >> _ONE_U
    s1 = float64_from_bits((k1 + _E1_D) << _MANT_D)
    s2 = float64_from_bits((k - k1 + _E2_D) << _MANT_D)
    return h * s1 * s2, p * s1 * s2


@jit_exact
def exp_poly_f32(r):
    """P(r) of exp(r) = 1 + r + r^2 P(r), float32 (vm_exp_poly_f); exp2_f32 and
    exp_reduced_f32 share it."""
    p = np.float32(0.00138637819)
    p = p * r + np.float32(0.00836748071)
    p = p * r + np.float32(0.0416672379)
    p = p * r + np.float32(0.166665345)
    return p * r + _HALF_F


@jit_exact
def exp2_f32(x):
    """exp(x) = hi + lo, float32: the pair (hi, lo)."""
    x = _EXP_LO_F if x < _EXP_LO_F else x
    x = _EXP_HI_F if x > _EXP_HI_F else x
    t = x * _LOG2E_F + _SHIFT_F
    n = t - _SHIFT_F
    rh = x - n * _LN2_HI_F  # exact
    rl = -(n * _LN2_LO_F)
    r = rh + rl
    p = exp_poly_f32(r)
    e1 = _ONE_F + rh
    e0 = (_ONE_F - e1) + rh
    p = e0 + (rl + (r * r) * p)
    h = e1 + p
    p = p - (h - e1)
    # k = n + 151 in [0, 280]; n1 = k/2 - 75, n2 = n - n1. Masked before the
    # shift, where a uint32 would have wrapped (NaN only)
    k = (float_bits(t) - _K_OFFSET_F) & _MASK_F
    k1 = k >> _ONE_U
    s1 = float32_from_bits((k1 + _E1_F) << _MANT_F)
    s2 = float32_from_bits((k - k1 + _E2_F) << _MANT_F)
    return h * s1 * s2, p * s1 * s2


@jit_exact
def exp_f64(x):
    """exp(x), float64 (< 0.77 ulp)."""
    return exp2_f64(x)[0]


@jit_exact
def exp_f32(x):
    """exp(x), float32 (< 0.78 ulp)."""
    return exp2_f32(x)[0]


@jit_exact
def exp_reduced_f32(x):
    """vm_exp_reduced_f: exp(r) in one word and k = n + 151, for the float32
    sigmoid and tanh (x already clamped; the caller scales by 2^n)."""
    t = x * _LOG2E_F + _SHIFT_F
    n = t - _SHIFT_F
    r = (x - n * _LN2_HI_F) - n * _LN2_LO_F
    p = exp_poly_f32(r)
    k = (float_bits(t) - _K_OFFSET_F) & _MASK_F
    return _ONE_F + (r + (r * r) * p), k


# ----------------------------------------------------------------------------
# sigmoid(a) from e = exp(-|a|) = eh + el: 1 / (1 + e) for a >= 0, e / (1 + e)
# below, 1 + e as d + de exactly, and a first-order correction of the quotient
# ----------------------------------------------------------------------------


@jit_exact
def sigmoid_f64(a):
    """1 / (1 + exp(-a)), float64 (< 1.15 ulp)."""
    eh, el = exp2_f64(-float64_from_bits(float_bits(a) & _ABS_D))
    d = 1.0 + eh
    de = ((1.0 - d) + eh) + el  # 1 + e = d + de
    q = (1.0 if a >= 0.0 else eh) / d
    inv = q if a >= 0.0 else 1.0 - q  # ~ 1 / d
    return q + ((0.0 if a >= 0.0 else el) - q * de) * inv


@jit_exact
def sigmoid_f32(a):
    """1 / (1 + exp(-a)), float32 (< 2.41 ulp): the plain formula, e in one word."""
    x = -float32_from_bits(float_bits(a) & _ABS_F)
    x = _EXP_LO_F if x < _EXP_LO_F else x
    e, k = exp_reduced_f32(x)
    k1 = k >> _ONE_U
    e = e * float32_from_bits((k1 + _E1_F) << _MANT_F) * float32_from_bits(
        (k - k1 + _E2_F) << _MANT_F)
    return (_ONE_F if a >= _ZERO_F else e) / (_ONE_F + e)


# ----------------------------------------------------------------------------
# tanh(x): |x| < 0.55 a polynomial in x^2, else 1 - 2 / (exp(2|x|) + 1) with
# the same hi + lo care; both computed, one selected, the sign put back
# ----------------------------------------------------------------------------


@jit_exact
def tanh_f64(x):
    """tanh(x), float64 (< 1.03 ulp)."""
    ax = float64_from_bits(float_bits(x) & _ABS_D)
    s = ax * ax
    q = 5.1799403187227857e-05
    q = q * s + -0.0002115171295806102
    q = q * s + 0.0005799467912874877
    q = q * s + -0.001453517263892892
    q = q * s + 0.0035917875436031984
    q = q * s + -0.0088632040633232802
    q = q * s + 0.021869486802992465
    q = q * s + -0.053968253917746949
    q = q * s + 0.1333333333327579
    q = q * s + -0.33333333333333331
    small = ax + ax * (s * q)
    ac = _TANH_CLAMP_D if ax > _TANH_CLAMP_D else ax  # keeps exp finite
    eh, el = exp2_f64(ac + ac)
    d = eh + 1.0
    de = ((eh - d) + 1.0) + el  # e + 1 = d + de
    t = 2.0 / d
    t = t - t * (de * (0.5 * t))  # 2 / (d + de)
    big = 1.0 - t
    y = small if ax < _TANH_CUT_D else big
    return float64_from_bits(float_bits(y) | (float_bits(x) & _SIGN_D))


@jit_exact
def tanh_f32(x):
    """tanh(x), float32 (< 1.46 ulp): the exp branch in one word, uncorrected."""
    ax = float32_from_bits(float_bits(x) & _ABS_F)
    s = ax * ax
    q = np.float32(-0.00646626251)
    q = q * s + np.float32(0.0212213881)
    q = q * s + np.float32(-0.0538933203)
    q = q * s + np.float32(0.133330435)
    q = q * s + np.float32(-0.333333343)
    small = ax + ax * (s * q)
    ac = _TANH_CLAMP_F if ax > _TANH_CLAMP_F else ax
    e, k = exp_reduced_f32(ac + ac)
    e = e * float32_from_bits(((k - _BIAS_SHIFT_F) & _MASK_F) << _MANT_F)  # 2^n
    big = _ONE_F - _TWO_F / (e + _ONE_F)
    y = small if ax < _TANH_CUT_F else big
    return float32_from_bits(float_bits(y) | (float_bits(x) & _SIGN_F))


# ----------------------------------------------------------------------------
# the type-generic names the kernels call
# ----------------------------------------------------------------------------


def _generic(f32, f64):
    """A function of one float whose jitted calls go to ``f32`` or ``f64`` by
    the argument's type (plain calls: LLVM inlines them, flags intact)."""

    def function(x):
        raise TypeError("call from jitted code only; use the *_array functions from Python")

    @overload(function, jit_options={"nogil": True, "fastmath": False, "error_model": "numpy",
                                  "forceinline": True})
    def _typed(x):
        if x == types.float32:
            return lambda x: f32(x)
        if x == types.float64:
            return lambda x: f64(x)
        return None

    return function


exp = _generic(exp_f32, exp_f64)
sigmoid = _generic(sigmoid_f32, sigmoid_f64)
tanh = _generic(tanh_f32, tanh_f64)


@jit
def exp_array(y, x):
    """y[i] = exp(x[i]); 1-D arrays of one float dtype."""
    for i in range(x.shape[0]):
        y[i] = exp(x[i])


@jit
def sigmoid_array(y, x):
    """y[i] = sigmoid(x[i])."""
    for i in range(x.shape[0]):
        y[i] = sigmoid(x[i])


@jit
def tanh_array(y, x):
    """y[i] = tanh(x[i])."""
    for i in range(x.shape[0]):
        y[i] = tanh(x[i])
