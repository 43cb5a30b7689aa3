"""The element functions behind the Cython gate kernels (csrc/_vmath.h).

exp, sigmoid and tanh are branch-free polynomial code that the compiler
vectorises; these tests hold them to:

- accuracy: the largest error in ulps (units in the last place of the exact
  value) over millions of points covering the whole range, against an
  extended-precision reference (long double, itself checked against mpmath);
- special values: NaN propagates, +-inf saturate, -0.0 keeps its sign,
  overflow to inf and gradual underflow to subnormals come out right;
- reproducibility: the compiled functions (SSE2, AVX2 or AVX-512, whichever
  this CPU got) give bit for bit the result of the same operations in NumPy
  (tests/_vmath_twin.py), i.e. no fused multiply-add and no vector-width
  dependence.
"""

from __future__ import annotations

import numpy as np
import pytest

import _vmath_twin as twin
from conftest import require_backend

FUNCS = ("exp", "sigmoid", "tanh")
DTYPES = (np.float64, np.float32)

#: the largest error allowed, in ulps. Over all 2^32 float32 inputs: exp 0.78,
#: sigmoid 2.41, tanh 1.46 (the float32 sigmoid and tanh are the cheaper,
#: uncorrected forms); float64 on this grid: exp 0.76, sigmoid 1.12, tanh 1.03.
#: csrc/_vmath.h quotes the figures.
MAX_ULP = {
    (np.float64, "exp"): 1.0,
    (np.float64, "sigmoid"): 1.5,
    (np.float64, "tanh"): 1.5,
    (np.float32, "exp"): 1.0,
    (np.float32, "sigmoid"): 2.5,
    (np.float32, "tanh"): 1.5,
}

LD = np.longdouble
EXTENDED = np.finfo(LD).nmant >= 63  # x87 80-bit (or better) long double


@pytest.fixture(scope="module")
def vm():
    require_backend("cython")
    # a release build (BPTT_RELEASE=1, as in the wheels) leaves this test-only module out
    return pytest.importorskip("bptt._cython._vmath_check")


def apply(vm, name, x):
    y = np.empty_like(x)
    getattr(vm, name)(y, x)
    return y


def reference(name, x):
    """The exact value, to ~1e-19 relative (long double)."""
    xl = x.astype(LD)
    with np.errstate(all="ignore"):
        if name == "exp":
            return np.exp(xl)
        if name == "sigmoid":
            return 1 / (1 + np.exp(-xl))
        return np.tanh(xl)


def ulp_error(y, ref, dtype):
    """|y - ref| in units of the last place of ref, rounded to dtype (subnormals included)."""
    info = np.finfo(dtype)
    _, e = np.frexp(np.abs(ref))  # |ref| = m 2^e, m in [0.5, 1)
    e = np.maximum(e.astype(np.int64) - 1, info.minexp)
    ulp = np.ldexp(LD(1), (e - info.nmant).astype(np.int32))
    return np.abs(y.astype(LD) - ref) / ulp


def grid(name, dtype):
    """~2.5 million points: the whole range, where the output changes most, near 0."""
    rng = np.random.default_rng(20240)
    f64 = dtype == np.float64
    big = 746.0 if f64 else 104.0  # exp(x) underflows to 0 below -big
    top = 709.78 if f64 else 88.72  # and overflows above top
    tiny = -300 if f64 else -37
    mag = 10.0 ** rng.uniform(tiny, 1.5, 300_000)  # near 0, log-spaced
    parts = [
        rng.uniform(-big, big, 500_000),
        rng.uniform(-40, 40, 500_000),
        rng.uniform(-4, 4, 500_000),
        mag,
        -mag,
        rng.uniform(0.5, 0.6, 100_000),  # tanh: the polynomial / exp switch at 0.55
        -rng.uniform(0.5, 0.6, 100_000),
        rng.uniform(-25, -8, 100_000),  # sigmoid, tanh near saturation
        rng.uniform(8, 25, 100_000),
    ]
    if name == "exp":
        parts += [rng.uniform(-big, -top + 1, 200_000), rng.uniform(top - 20, top, 200_000)]
    else:
        parts += [rng.uniform(-big, -big + 50, 200_000)]  # sigmoid: subnormal results
    return np.concatenate(parts).astype(dtype)


@pytest.mark.skipif(not EXTENDED, reason="needs an extended-precision long double")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", FUNCS)
def test_max_ulp_error(vm, name, dtype):
    x = grid(name, dtype)
    y = apply(vm, name, x)
    ref = reference(name, x)
    finite = np.abs(ref) <= np.finfo(dtype).max
    err = ulp_error(y[finite], ref[finite], dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= MAX_ULP[(dtype, name)], (
        f"{name} {np.dtype(dtype).name}: {float(err[worst]):.3f} ulp at x = "
        f"{x[finite][worst]!r} (got {y[finite][worst]!r}, exact {ref[finite][worst]!r})"
    )
    # beyond the largest finite number, exp must give inf
    assert np.all(np.isinf(y[~finite]) | (y[~finite] == np.finfo(dtype).max))


@pytest.mark.skipif(not EXTENDED, reason="needs an extended-precision long double")
def test_long_double_reference_agrees_with_mpmath():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.prec = 120
    x = np.concatenate([np.random.default_rng(1).uniform(-50, 50, 300), [1e-8, -0.55, 700.0]])
    exact = {
        "exp": [mpmath.exp(float(v)) for v in x],
        "sigmoid": [1 / (1 + mpmath.exp(-float(v))) for v in x],
        "tanh": [mpmath.tanh(float(v)) for v in x],
    }
    for name in FUNCS:
        ref = reference(name, x)
        for v, r, e in zip(x, ref, exact[name], strict=True):
            # good to 2^-60 relative: 1/256 of a float64 ulp
            assert abs(mpmath.mpf(str(r)) - e) <= abs(e) * mpmath.mpf(2) ** -60, (name, v)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", FUNCS)
def test_bit_identical_to_numpy_twin(vm, name, dtype):
    rng = np.random.default_rng(7)
    x = np.concatenate([
        rng.uniform(-800, 800, 200_000), rng.standard_normal(200_000) * 5,
        10.0 ** rng.uniform(-300 if dtype == np.float64 else -40, 1, 50_000),
        [0.0, -0.0, np.inf, -np.inf, np.finfo(dtype).smallest_subnormal, np.finfo(dtype).max],
    ]).astype(dtype)
    y = apply(vm, name, x)
    expected = getattr(twin, name)(x)
    bits = np.uint64 if dtype == np.float64 else np.uint32
    mismatch = np.flatnonzero(y.view(bits) != expected.view(bits))
    assert mismatch.size == 0, (
        f"{mismatch.size} values differ, first at x = {x[mismatch[0]]!r}: "
        f"{y[mismatch[0]]!r} != {expected[mismatch[0]]!r}"
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_special_values(vm, dtype):
    info = np.finfo(dtype)
    sub = info.smallest_subnormal
    x = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, sub, -sub, 1e-30], dtype=dtype)
    e, s, t = (apply(vm, name, x) for name in FUNCS)
    assert np.isnan(e[:2]).all() and np.isnan(s[:2]).all() and np.isnan(t[:2]).all()
    assert e[2] == np.inf and e[3] == 0 and (e[4:] == 1).all()
    assert s[2] == 1 and s[3] == 0 and (s[4:] == 0.5).all()
    assert t[2] == 1 and t[3] == -1
    # tanh(x) = x exactly for tiny x, sign of zero included
    assert t[4] == 0 and not np.signbit(t[4]) and t[5] == 0 and np.signbit(t[5])
    assert t[6] == sub and t[7] == -sub and t[8] == dtype(1e-30)


def test_exp_overflow_and_underflow(vm):
    # float64: exp overflows past x = 709.7827, goes subnormal below -708.4 and
    # rounds to 0 below -745.1332 (half the smallest subnormal)
    x = np.array([709.78, 709.79, 1e6, -708.5, -740.0, -745.0, -745.2, -1e6])
    y = apply(vm, "exp", x)
    tiny, sub = np.finfo(np.float64).tiny, np.finfo(np.float64).smallest_subnormal
    assert 1.7e308 < y[0] < np.inf and y[1] == np.inf and y[2] == np.inf
    assert 0 < y[3] < tiny and 0 < y[4] < tiny and y[5] == sub and y[6] == 0 and y[7] == 0
    # float32: past 88.7228, below -87.34, below -103.9721
    x32 = np.array([88.72, 88.73, 1e6, -87.5, -103.9, -104.0, -1e6], dtype=np.float32)
    y32 = apply(vm, "exp", x32)
    tiny, sub = np.finfo(np.float32).tiny, np.finfo(np.float32).smallest_subnormal
    assert 3.3e38 < y32[0] < np.inf and y32[1] == np.inf and y32[2] == np.inf
    assert 0 < y32[3] < tiny and y32[4] == sub and y32[5] == 0 and y32[6] == 0


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_symmetries_and_range(vm, dtype):
    x = np.random.default_rng(3).uniform(-30, 30, 200_000).astype(dtype)
    t, tn = apply(vm, "tanh", x), apply(vm, "tanh", -x)
    assert np.array_equal(tn, -t)  # odd, exactly (the sign is a bit)
    s, sn = apply(vm, "sigmoid", x), apply(vm, "sigmoid", -x)
    assert np.all((s >= 0) & (s <= 1)) and np.all(np.abs(t) <= 1)
    assert np.max(np.abs((s.astype(np.float64) + sn) - 1)) <= 2 * np.finfo(dtype).eps
