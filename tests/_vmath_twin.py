"""NumPy twin of csrc/_vmath.h: the same operations, in the same order, on arrays.

The C functions use only IEEE basic operations (compiled with
-ffp-contract=off: no fused multiply-add), compares and integer operations on
the bit patterns, so this twin reproduces them bit for bit, and the tests
check that the compiled kernels (whatever vector width the CPU picked) agree
with it exactly. It is also the reference for porting the functions (to
Numba, say): each step here is one line of the C.

Selects are ``np.where``; bit casts are ``.view``; unsigned integer
arithmetic wraps, as in C.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class _Consts:
    dtype: type
    uint: type
    mant: int  # mantissa bits
    sign: int  # the sign bit
    exp_lo: float  # exp clamps its argument to [exp_lo, exp_hi]
    exp_hi: float
    log2e: float
    shift: float  # 1.5 * 2^mant
    ln2_hi: float
    ln2_lo: float
    bias: int  # n + bias >= 0 for every n the clamped argument gives
    e1: int  # n1 = (n + bias) // 2: exponent field of 2^n1 is n1_biased + e1
    e2: int
    exp_poly: tuple  # P(r), c0 first
    tanh_clamp: float
    tanh_cut: float
    tanh_poly: tuple  # Q(s), c0 first


F64 = _Consts(
    np.float64, np.uint64, 52, 1 << 63, -746.0, 710.0, 1.4426950408889634,
    6755399441055744.0, 0.69314718055989033, 5.4979230187083712e-14, 1077, 485, 484,
    (0.5, 0.16666666666666433, 0.041666666666603958, 0.0083333333335000159,
     0.0013888888926795681, 0.00019841269466260757, 2.4801508683169085e-05,
     2.7557640833569827e-06, 2.7625186648992967e-07, 2.4978388629339963e-08),
    20.0, 0.55,
    (-0.33333333333333331, 0.1333333333327579, -0.053968253917746949,
     0.021869486802992465, -0.0088632040633232802, 0.0035917875436031984,
     -0.001453517263892892, 0.0005799467912874877, -0.0002115171295806102,
     5.1799403187227857e-05),
)

F32 = _Consts(
    np.float32, np.uint32, 23, 1 << 31, -104.0, 89.0, 1.44269502,
    12582912.0, 0.693145752, 1.42860677e-06, 151, 52, 51,
    (0.5, 0.166665345, 0.0416672379, 0.00836748071, 0.00138637819),
    10.0, 0.55,
    (-0.333333343, 0.133330435, -0.0538933203, 0.0212213881, -0.00646626251),
)


def _consts(x: np.ndarray) -> _Consts:
    return F64 if x.dtype == np.float64 else F32


def _horner(coeffs, r, T):
    p = T(coeffs[-1])
    for c in coeffs[-2::-1]:
        p = p * r + T(c)
    return p


def exp2(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """exp(x) as hi + lo (vm_exp2_d / vm_exp2_f)."""
    k_ = _consts(x)
    T, U = k_.dtype, k_.uint
    with np.errstate(all="ignore"):
        x = np.where(x < T(k_.exp_lo), T(k_.exp_lo), x)
        x = np.where(x > T(k_.exp_hi), T(k_.exp_hi), x)
        t = x * T(k_.log2e) + T(k_.shift)
        n = t - T(k_.shift)
        rh = x - n * T(k_.ln2_hi)
        rl = -(n * T(k_.ln2_lo))
        r = rh + rl
        p = _horner(k_.exp_poly, r, T)
        e1 = T(1) + rh
        e0 = (T(1) - e1) + rh
        p = e0 + (rl + (r * r) * p)
        h = e1 + p
        p = p - (h - e1)
        k = t.view(U) - U(np.array(k_.shift, T).view(U) - U(k_.bias))
        k1 = k >> U(1)
        s1 = ((k1 + U(k_.e1)) << U(k_.mant)).view(T)
        s2 = ((k - k1 + U(k_.e2)) << U(k_.mant)).view(T)
        return h * s1 * s2, p * s1 * s2


def exp(x: np.ndarray) -> np.ndarray:
    return exp2(x)[0]


def _abs(x, k_):
    return (x.view(k_.uint) & k_.uint(~k_.sign & ((1 << (8 * x.itemsize)) - 1))).view(k_.dtype)


def exp_reduced(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """vm_exp_reduced_f (float32 only): exp(r) in one word and k = n + 151."""
    k_ = F32
    T, U = k_.dtype, k_.uint
    with np.errstate(all="ignore"):
        t = x * T(k_.log2e) + T(k_.shift)
        n = t - T(k_.shift)
        r = (x - n * T(k_.ln2_hi)) - n * T(k_.ln2_lo)
        p = _horner(k_.exp_poly, r, T)
        k = t.view(U) - U(np.array(k_.shift, T).view(U) - U(k_.bias))
        return T(1) + (r + (r * r) * p), k


def sigmoid(a: np.ndarray) -> np.ndarray:
    k_ = _consts(a)
    T, U = k_.dtype, k_.uint
    if T is np.float32:
        # vm_sigmoid_f: the plain formula, e in one word
        with np.errstate(all="ignore"):
            x = -_abs(a, k_)
            x = np.where(x < T(k_.exp_lo), T(k_.exp_lo), x)
            e, k = exp_reduced(x)
            k1 = k >> U(1)
            e = e * ((k1 + U(k_.e1)) << U(k_.mant)).view(T) * (
                (k - k1 + U(k_.e2)) << U(k_.mant)).view(T)
            return np.where(a >= 0, T(1), e) / (T(1) + e)
    eh, el = exp2(-_abs(a, k_))
    with np.errstate(all="ignore"):
        d = T(1) + eh
        de = ((T(1) - d) + eh) + el
        q = np.where(a >= 0, T(1), eh) / d
        inv = np.where(a >= 0, q, T(1) - q)
        return q + (np.where(a >= 0, T(0), el) - q * de) * inv


def tanh(x: np.ndarray) -> np.ndarray:
    k_ = _consts(x)
    T, U = k_.dtype, k_.uint
    with np.errstate(all="ignore"):
        ax = _abs(x, k_)
        s = ax * ax
        q = _horner(k_.tanh_poly, s, T)
        small = ax + ax * (s * q)
        ac = np.where(ax > T(k_.tanh_clamp), T(k_.tanh_clamp), ax)
        if T is np.float32:
            # vm_tanh_f: exp(2|x|) in one word, 2^n with n in [0, 29], no correction
            e, k = exp_reduced(ac + ac)
            e = e * ((k - U(24)) << U(k_.mant)).view(T)
            big = T(1) - T(2) / (e + T(1))
        else:
            eh, el = exp2(ac + ac)
            d = eh + T(1)
            de = ((eh - d) + T(1)) + el
            t = T(2) / d
            t = t - t * (de * (T(0.5) * t))
            big = T(1) - t
        y = np.where(ax < T(k_.tanh_cut), small, big)
        return (y.view(U) | (x.view(U) & U(k_.sign))).view(T)
