"""The Numba port of csrc/_vmath.h (bptt/_numba/_vmath.py): exp, sigmoid, tanh.

They must equal the C functions bit for bit (the same operations in the same
order, no fused multiply-add, no fast-math rewrite), and so the NumPy twin
(tests/_vmath_twin.py), on every input: special values, the tanh switch at
0.55, over- and underflow edges, subnormal results. Their error against an
extended-precision reference stays within the bounds csrc/_vmath.h documents.
The array functions run the element functions in a loop compiled with the
kernels' fast-math flags (``_config.jit``), the situation of the gate loops.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import _vmath_twin as twin
from conftest import require_backend
from test_vmath import EXTENDED, MAX_ULP, grid, reference, ulp_error

FUNCS = ("exp", "sigmoid", "tanh")
DTYPES = (np.float64, np.float32)
BITS = {np.float64: np.uint64, np.float32: np.uint32}


@pytest.fixture(scope="module")
def nv():
    require_backend("numba")
    from bptt._numba import _vmath

    return _vmath


def apply(nv, name, x):
    y = np.empty_like(x)
    getattr(nv, f"{name}_array")(y, x)
    return y


def edge_inputs(dtype):
    """Special values and the edges where the functions change regime."""
    info = np.finfo(dtype)
    f64 = dtype == np.float64
    sub, tiny, big = info.smallest_subnormal, info.tiny, info.max
    # float64 and float32 exp's overflow, underflow and clamp points, tanh's
    # clamp (20, 10) and switch
    edges = [0.55, 20.0, 10.0, 709.78, 709.79, 710.0, -708.4, -745.13, -746.0, 88.72, 88.73,
             89.0, -87.34, -103.97, -104.0, 1e-8, 1e-20]
    x = [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, sub, -sub, 2 * sub, tiny, -tiny, big, -big]
    for e in edges:
        for v in (e, -e):
            v = dtype(v)
            x += [v, np.nextafter(v, dtype(np.inf)), np.nextafter(v, dtype(-np.inf))]
    x = np.array(x, dtype=dtype)
    if not f64:
        # NaNs with a payload, one negative: NaN in, the same NaN out (as the C)
        x = np.concatenate([x, np.array([0x7FC12345, 0xFFC00001], dtype=np.uint32).view(dtype)])
    near_cut = _walk(dtype(0.55), 64, dtype)  # the tanh switch: 32 floats either side
    return np.concatenate([x, near_cut, -near_cut])


def _walk(start, n, dtype):
    """n consecutive floats from start - n/2 ulps up."""
    v = start
    for _ in range(n // 2):
        v = np.nextafter(v, dtype(-np.inf))
    out = []
    for _ in range(n):
        out.append(v)
        v = np.nextafter(v, dtype(np.inf))
    return np.array(out, dtype=dtype)


def sample(dtype):
    """A large mixed sample: the whole range, near 0, saturation, and the edges."""
    rng = np.random.default_rng(11)
    f64 = dtype == np.float64
    mag = 10.0 ** rng.uniform(-310 if f64 else -45, 3, 100_000)  # subnormal .. 1000
    random = np.concatenate([
        rng.uniform(-800, 800, 100_000), rng.standard_normal(200_000) * 5, mag, -mag,
        rng.uniform(0.5, 0.6, 50_000), -rng.uniform(0.5, 0.6, 50_000),
        rng.uniform(-760, -700, 50_000), rng.uniform(-110, -80, 50_000),  # underflow
    ]).astype(dtype)
    return np.concatenate([random, edge_inputs(dtype)])


def assert_same_bits(y, expected, x, what):
    U = BITS[y.dtype.type]
    y, expected, x = y.ravel(), expected.ravel(), x.ravel()
    bad = np.flatnonzero(y.view(U) != expected.view(U))
    assert bad.size == 0, (
        f"{what}: {bad.size} of {x.size} differ, first at x = {x[bad[0]]!r}: "
        f"{y[bad[0]]!r} != {expected[bad[0]]!r}"
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", FUNCS)
def test_bit_identical_to_numpy_twin(nv, name, dtype):
    x = sample(dtype)
    assert_same_bits(apply(nv, name, x), getattr(twin, name)(x), x, f"{name} vs twin")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", FUNCS)
def test_bit_identical_to_c(nv, name, dtype):
    require_backend("cython")
    vm = pytest.importorskip("bptt._cython._vmath_check")
    x = sample(dtype)
    expected = np.empty_like(x)
    getattr(vm, name)(expected, x)
    assert_same_bits(apply(nv, name, x), expected, x, f"{name} vs C")


@pytest.mark.skipif(not EXTENDED, reason="needs an extended-precision long double")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", FUNCS)
def test_max_ulp_error(nv, name, dtype):
    x = grid(name, dtype)
    y = apply(nv, name, x)
    ref = reference(name, x)
    finite = np.abs(ref) <= np.finfo(dtype).max
    err = ulp_error(y[finite], ref[finite], dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= MAX_ULP[(dtype, name)], (name, dtype, x[finite][worst], err[worst])
    assert np.all(np.isinf(y[~finite]))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_special_values(nv, dtype):
    info = np.finfo(dtype)
    sub = info.smallest_subnormal
    x = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, sub, -sub, 1e-30], dtype=dtype)
    e, s, t = (apply(nv, name, x) for name in FUNCS)
    assert np.isnan(e[:2]).all() and np.isnan(s[:2]).all() and np.isnan(t[:2]).all()
    assert e[2] == np.inf and e[3] == 0 and (e[4:] == 1).all()
    assert s[2] == 1 and s[3] == 0 and (s[4:] == 0.5).all()
    assert t[2] == 1 and t[3] == -1
    assert t[4] == 0 and not np.signbit(t[4]) and t[5] == 0 and np.signbit(t[5])
    assert t[6] == sub and t[7] == -sub and t[8] == dtype(1e-30)
    # exp: overflow past the largest finite result, gradual underflow, then 0
    if dtype == np.float64:
        y = apply(nv, "exp", np.array([709.78, 709.79, -708.5, -745.0, -745.2]))
        assert 1.7e308 < y[0] < np.inf and y[1] == np.inf
        assert 0 < y[2] < info.tiny and y[3] == sub and y[4] == 0
    else:
        y = apply(nv, "exp", np.array([88.72, 88.73, -87.5, -103.9, -104.0], dtype=dtype))
        assert 3.3e38 < y[0] < np.inf and y[1] == np.inf
        assert 0 < y[2] < info.tiny and y[3] == sub and y[4] == 0


def test_float32_stays_float32(nv):
    """Each function of a float32 returns a float32, computed in float32 (a
    float64 step would round differently: the twin comparison checks that)."""
    import numba

    for name in FUNCS:
        f = getattr(nv, f"{name}_f32")
        f(np.float32(0.3))
        assert all(sig.return_type == numba.float32 for sig in f.nopython_signatures), name

    @numba.njit
    def generic(x):
        return nv.exp(x), nv.sigmoid(x), nv.tanh(x)

    generic(np.float32(0.3))
    assert generic.nopython_signatures[0].return_type == numba.types.UniTuple(numba.float32, 3)


_FIRST_CALL_SCRIPT = textwrap.dedent("""
    import json
    import numba
    import numpy as np
    from bptt._numba import _config, _vmath

    # the first compilation of the element functions is from a fast-math caller
    @numba.njit(fastmath=_config.FASTMATH)
    def caller(x):
        return _vmath.tanh(x), _vmath.exp2_f64(x)

    x = 0.3
    t, (hi, lo) = caller(x)
    print(json.dumps({"tanh": float(t), "hi": float(hi), "lo": float(lo),
                      "direct": float(_vmath.tanh_f64(x))}))
""")


def test_fast_math_caller_does_not_leak_its_flags(tmp_path):
    """numba compiles a callee with its caller's fastmath unless the callee sets
    its own; reassoc would fold exp's error-free sums (lo = 0, exp(0.3) = 1).
    In a fresh process with an empty cache, so this is the first compilation."""
    require_backend("numba")
    import bptt

    src = str(Path(bptt.__file__).resolve().parent.parent)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, "-c", _FIRST_CALL_SCRIPT], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    x = np.array([0.3])
    hi, lo = twin.exp2(x)
    assert got["hi"] == hi[0] and got["lo"] == lo[0] and got["lo"] != 0
    assert got["tanh"] == twin.tanh(x)[0] == got["direct"]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_rnn_kernel_runs_the_port(dtype, activation):
    """End to end, in a sequence kernel compiled with the kernels' flags: with
    W_ih = I and W_hh = 0 an RNN's output is act(x), bit for bit the twin's."""
    require_backend("numba")
    from bptt._families import ACTIVATIONS
    from bptt._numba import rnn

    T, B, H = 3, 4, 40
    x = np.random.default_rng(5).uniform(-30, 30, (T, B, H)).astype(dtype)
    x[0, 0, :4] = [0.55, -0.55, 1e-30, 25.0]
    zeros = np.zeros(H, dtype)
    lengths = np.full(B, T, np.int64)
    lengths.flags.writeable = False   # as the layers hand it (one numba signature)
    args = (x, (np.zeros((B, H), dtype),), np.eye(H, dtype=dtype), np.zeros((H, H), dtype),
            zeros, zeros, (), lengths, False, float(ACTIVATIONS[activation]))
    out = np.empty_like(x)
    rnn.seq_infer(out, (np.empty((B, H), dtype),), np.empty((B, 0), dtype), *args)
    assert_same_bits(out, getattr(twin, activation)(x), x, f"seq_infer {activation}")
    out2, states = np.empty_like(x), (np.empty((T + 1, B, H), dtype),)
    rnn.seq_forward(out2, (np.empty((B, H), dtype),), states, np.empty((T, B, 0), dtype), *args)
    assert_same_bits(out2, out, x, f"seq_forward {activation}")
