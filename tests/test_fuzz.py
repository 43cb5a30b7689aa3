"""Fuzzing every public entry point with hypothesis.

Each example takes a clean call (C-contiguous float arrays of the module's
dtype and the right shapes) and spoils one argument: another dtype (ints,
bool, float16, complex, object, big-endian), NaN/inf, a 0-sized or wrong
dimension, a wrong rank, a non-contiguous, negative-stride, read-only or
Fortran view, an ndarray subclass, a list, a torch tensor, an absurd size.
The property: the call returns the same numbers as the same values made
clean on the NumPy backend, or raises ValueError/TypeError whose message
names the argument. Anything else (another exception, a crash) fails.

Profiles: ``ci`` (the default; a few hundred examples, run by
tests/test_fuzz_subprocess.py in a child process, so a crash cannot take
the suite down with it) and ``deep`` (>= 10,000 examples):
``BPTT_FUZZ=1 python -m pytest tests/test_fuzz.py -m fuzz --hypothesis-profile deep``.
With ``BPTT_FUZZ_REPORT=FILE`` the counts (cases, exceptions by type,
results checked) are written to FILE as JSON.
"""

from __future__ import annotations

import collections
import json
import os
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import bptt  # noqa: E402
from conftest import TOLERANCE, Tolerance, assert_close  # noqa: E402

pytestmark = pytest.mark.fuzz

settings.register_profile("ci", max_examples=150, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("deep", max_examples=2500, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

STATS: collections.Counter = collections.Counter()
#: conftest's tolerances, float64's measured against at least 1e-3: the data are
#: O(1), and a gradient that is small because O(1) terms cancel carries their rounding
FUZZ_TOLERANCE = {np.dtype(np.float64): Tolerance(1e-12, floor=1e-3),
                  np.dtype(np.float32): TOLERANCE[np.dtype(np.float32)]}
CURRENT = ["?"]   # the spoil under test, for the accepted-without-comparison tally


@pytest.fixture(autouse=True, scope="module")
def only_when_asked(request):
    """In-process only when asked for (BPTT_FUZZ=1 or -m fuzz); the normal
    suite runs this module through a subprocess (tests/test_fuzz_subprocess.py)."""
    if os.environ.get("BPTT_FUZZ") != "1" and "fuzz" not in (request.config.option.markexpr
                                                             or ""):
        pytest.skip("run with BPTT_FUZZ=1 or -m fuzz (the suite runs it in a subprocess)")
    yield
    report = os.environ.get("BPTT_FUZZ_REPORT")
    if report:
        with open(report, "w") as f:
            json.dump(dict(STATS), f, indent=2, sort_keys=True)


BACKENDS = bptt.backends()

SPOILS = ["none", "int64", "bool", "float16", "complex", "object", "big_endian", "other_float",
          "nan", "inf", "zero_dim", "wrong_size", "extra_rank", "drop_rank", "strided",
          "negative_stride", "read_only", "fortran", "matrix", "masked", "list", "tensor",
          "tensor_grad", "scalar", "none_value"]


def spoil(a: np.ndarray, how: str, draw_int):
    """``a`` spoiled as ``how``; returns (value, clean) where clean is the same
    values as a plain C-contiguous array of a's dtype, or None when the call
    must raise (the values are not representable as ``a`` without a guess)."""
    if how == "none":
        return a.copy(), a
    if how in ("int64", "bool", "float16", "complex", "object"):
        dtype = {"int64": np.int64, "bool": np.bool_, "float16": np.float16,
                 "complex": np.complex128, "object": object}[how]
        return a.astype(dtype), None
    if how == "big_endian":
        return a.astype(a.dtype.newbyteorder(">")), None
    if how == "other_float":
        return a.astype(np.float32 if a.dtype == np.float64 else np.float64), None
    if how in ("nan", "inf"):
        b = a.copy()
        if b.size:
            b.flat[draw_int(0, b.size - 1)] = np.nan if how == "nan" else -np.inf
        return b, b
    if how == "zero_dim":
        if a.ndim == 0:
            return a, a
        axis = draw_int(0, a.ndim - 1)
        return np.take(a, [], axis=axis), None
    if how == "wrong_size":
        if a.ndim == 0:
            return a, a
        axis = draw_int(0, a.ndim - 1)
        return np.concatenate([a, np.take(a, [0], axis=axis)], axis=axis), None
    if how == "extra_rank":
        return a[None], None
    if how == "drop_rank":
        return (a[0], None) if a.ndim and a.shape[0] else (a, a)
    if how == "strided":
        big = np.repeat(a, 2, axis=-1) if a.ndim else a
        view = big[..., ::2] if a.ndim else big
        return view, a
    if how == "negative_stride":
        flipped = np.ascontiguousarray(a[::-1]) if a.ndim else a
        return (flipped[::-1], a) if a.ndim else (a, a)
    if how == "read_only":
        b = a.copy()
        b.flags.writeable = False
        return b, a
    if how == "fortran":
        return np.asfortranarray(a), a
    if how == "matrix":
        if a.ndim != 2:
            return a, a
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            return np.asmatrix(a), a
    if how == "masked":
        return np.ma.masked_array(a, mask=np.zeros(a.shape, dtype=bool)), None
    if how == "list":
        return a.tolist(), a
    if how in ("tensor", "tensor_grad"):
        torch = pytest.importorskip("torch")
        t = torch.from_numpy(a.copy())
        if how == "tensor_grad" and a.ndim:
            t = t.requires_grad_()
            t = t.transpose(0, -1).contiguous().transpose(0, -1)  # a non-contiguous tensor
        return t, a
    if how == "scalar":
        return 1.0, None
    if how == "none_value":
        return None, None
    raise AssertionError(how)


def check(call, names, clean_call, nonfinite=False):
    """Run ``call``; compare with ``clean_call`` (None: it must raise).

    With ``nonfinite`` (a NaN or inf was put in) the non-finite entries must
    be non-finite in both, but NaN and +-inf may differ: where an infinity
    meets a sum, the order of summation (BLAS's blocking, Numba's loop)
    decides between inf and inf - inf = NaN."""
    STATS["cases"] += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with np.errstate(all="ignore"):
                result = call()
    except (ValueError, TypeError) as exc:
        STATS[f"raised {type(exc).__name__}"] += 1
        message = str(exc)
        assert any(name in message for name in names), (
            f"{type(exc).__name__} does not name any of {names}: {message}")
        return
    if clean_call is None:
        STATS["accepted (converted)"] += 1
        STATS[f"accepted: {CURRENT[0]}"] += 1
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            expected = clean_call()
    for got, want in zip(_flat(result), _flat(expected), strict=True):
        got, want = np.asarray(got), np.asarray(want)
        assert type(got) is np.ndarray or np.isscalar(got) or got.ndim == 0
        assert got.shape == want.shape and got.dtype == want.dtype
        if nonfinite:
            assert np.array_equal(np.isfinite(got), np.isfinite(want))
            got, want = np.where(np.isfinite(want), got, 0), np.where(np.isfinite(want), want, 0)
        if got.dtype.kind == "f" and np.isfinite(want).all():
            assert_close(got, want, FUZZ_TOLERANCE.get(want.dtype, TOLERANCE[np.dtype(np.float32)]))
        else:
            np.testing.assert_array_equal(got, want)
    STATS["results checked"] += 1


def _flat(result):
    if isinstance(result, (tuple, list)):
        for item in result:
            yield from _flat(item)
    elif isinstance(result, dict):
        for key in sorted(result):
            yield from _flat(result[key])
    elif result is not None:
        yield result


spoil_st = st.sampled_from(SPOILS)
backend_st = st.sampled_from(BACKENDS)
dtype_st = st.sampled_from([np.float64, np.float32])


@st.composite
def layer_case(draw):
    kind = draw(st.sampled_from(["GRU", "RNN", "LSTM", "GRU_seed", "LSTM_proj"]))
    T, B, I, H = (draw(st.integers(1, 5)) for _ in range(4))
    H = max(H, 2)
    return kind, T, B, I, H, draw(st.booleans()), draw(st.booleans())


def _layer(kind, I, H, bidirectional, batch_first, backend, dtype):
    options = dict(bidirectional=bidirectional, batch_first=batch_first, backend=backend,
                   dtype=dtype, seed=0)
    if kind == "GRU_seed":
        return bptt.GRU(I, H, variant="seed", **options)
    if kind == "LSTM_proj":
        return bptt.LSTM(I, H, proj_size=H - 1, **options)
    return getattr(bptt, kind)(I, H, **options)


@given(case=layer_case(), backend=backend_st, dtype=dtype_st, target=st.integers(0, 3),
       how=spoil_st, data=st.data())
def test_layers(case, backend, dtype, target, how, data):
    """forward(x, h0, lengths) then backward(d_output, d_h_n), one argument spoiled."""
    kind, T, B, I, H, bidirectional, batch_first = case
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    layer = _layer(kind, I, H, bidirectional, batch_first, backend, dtype)
    D = 2 if bidirectional else 1
    K = layer.proj_size or H
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I)).astype(dtype)
    h0 = rng.standard_normal((D, B, K)).astype(dtype)
    lengths = np.sort(rng.integers(1, T + 1, B))[::-1].astype(np.int64)
    lengths[0] = T
    d_out = rng.standard_normal((B, T, D * K) if batch_first else (T, B, D * K)).astype(dtype)
    d_h = rng.standard_normal((D, B, K)).astype(dtype)
    args = {"x": x, "h0": h0, "lengths": lengths, "d_output": d_out, "d_h_n": d_h}
    name = ["x", "h0", "d_output", "d_h_n"][target]
    value, clean = spoil(args[name], how, lambda lo, hi: data.draw(st.integers(lo, hi)))
    if how == "none_value" and name in ("h0", "d_h_n"):
        clean = np.zeros_like(args[name])                 # None means zeros
    lstm = kind.startswith("LSTM")

    def run(layer, values):
        hx = (values["h0"], np.zeros((D, B, H), dtype=dtype)) if lstm else values["h0"]
        output, finals = layer.forward(values["x"], hx, values["lengths"])
        back = (layer.backward(values["d_output"], values["d_h_n"], None) if lstm
                else layer.backward(values["d_output"], values["d_h_n"]))
        return output, finals, back, layer.grads

    spoiled = dict(args, **{name: value})
    if clean is None:
        clean_call = None
    else:
        reference = _layer(kind, I, H, bidirectional, batch_first, "numpy", dtype)
        clean_call = lambda: run(reference, dict(args, **{name: clean}))  # noqa: E731
    STATS[f"layer {how}"] += 1
    CURRENT[0] = f"layer {how}"
    # a spoiled x of another length or batch is a valid x: the call then
    # names the argument that no longer fits it
    check(lambda: run(layer, spoiled), list(args) + ["h_0"], clean_call,
          nonfinite=how in ("nan", "inf"))


@given(kind=st.sampled_from(["GRU_Cell", "GRUCell", "RNNCell", "LSTMCell"]),
       backend=backend_st, dtype=dtype_st, batched=st.booleans(), target=st.integers(0, 2),
       how=spoil_st, sizes=st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 4)),
       seed=st.integers(0, 2**16), data=st.data())
def test_cells(kind, backend, dtype, batched, target, how, sizes, seed, data):
    """forward(x, h) then backward(dh), one argument spoiled."""
    I, H, B = sizes
    rng = np.random.default_rng(seed)
    make = getattr(bptt, kind)
    cell = make(I, H, backend=backend, dtype=dtype, seed=0)
    shape = (lambda n: (B, n)) if batched else (lambda n: (n,))
    args = {"x": rng.standard_normal(shape(I)).astype(dtype),
            "h": rng.standard_normal(shape(H)).astype(dtype),
            "dh": rng.standard_normal(shape(H)).astype(dtype)}
    name = ["x", "h", "dh"][target]
    value, clean = spoil(args[name], how, lambda lo, hi: data.draw(st.integers(lo, hi)))
    if how == "none_value" and name == "h" and kind != "GRU_Cell":
        clean = np.zeros_like(args[name])                 # None means zeros
    if how == "extra_rank" and name == "dh" and not batched:
        clean = args[name]                                # (1, H) is documented for (H,)

    def run(cell, values):
        if kind == "LSTMCell":
            out = cell.forward(values["x"], (values["h"], np.zeros(shape(H), dtype=dtype)))
            back = cell.backward(values["dh"], None)
        else:
            out = cell.forward(values["x"], values["h"])
            back = cell.backward(values["dh"])
        return out, back, cell.grads

    clean_call = None
    if clean is not None:
        reference = make(I, H, backend="numpy", dtype=dtype, seed=0)
        clean_call = lambda: run(reference, dict(args, **{name: clean}))  # noqa: E731
    STATS[f"cell {how}"] += 1
    CURRENT[0] = f"cell {how}"
    names = ["x", "h", "state", "delta", "dh_next"]   # a valid x of another batch: h
    check(lambda: run(cell, dict(args, **{name: value})), names, clean_call,
          nonfinite=how in ("nan", "inf"))


@given(how=spoil_st, seed=st.integers(0, 2**16), which=st.sampled_from(
    ["weight_ih_l0", "weight_hh_l0", "bias_hh_l0"]), data=st.data())
def test_load_state_dict(how, seed, which, data):
    """A state dict with one value spoiled loads the same numbers or is refused
    by name (dtype conversions between float32 and float64 are torch's rule)."""
    layer = bptt.GRU(3, 4, seed=0)
    state = {k: v.astype(np.float64) for k, v in bptt.GRU(3, 4, seed=seed).state_dict().items()}
    value, clean = spoil(state[which], how, lambda lo, hi: data.draw(st.integers(lo, hi)))
    if how in ("other_float", "big_endian"):
        clean = np.asarray(value).astype(np.float64)       # loaded by conversion
    if how in ("nan", "inf"):
        clean = None                                       # parameters must be finite

    def run(target):
        target.load_state_dict(dict(state, **{which: value if target is layer else clean}))
        return target.parameters()

    STATS[f"state_dict {how}"] += 1
    CURRENT[0] = f"state_dict {how}"
    check(lambda: run(layer), [which], None if clean is None else
          (lambda: run(bptt.GRU(3, 4, seed=1))))


@given(how=spoil_st, seed=st.integers(0, 2**16), target=st.integers(0, 1), data=st.data())
def test_linear_and_losses(how, seed, target, data):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 4))
    y = rng.standard_normal((3, 2))
    value, clean = spoil([x, y][target], how, lambda lo, hi: data.draw(st.integers(lo, hi)))
    name = ["x", "target"][target]
    if name == "target" and how in ("int64", "bool", "float16", "big_endian", "other_float"):
        clean = np.asarray(value).astype(np.float64)      # real targets are converted
    def run(values):
        linear = bptt.Linear(4, 2, seed=0)
        prediction = linear.forward(values["x"])
        loss, grad = bptt.losses.sum_of_squares(prediction, values["target"])
        return loss, grad, linear.backward(grad)

    args = {"x": x, "target": y}
    clean_call = None if clean is None else (lambda: run(dict(args, **{name: clean})))
    STATS[f"linear {how}"] += 1
    CURRENT[0] = f"linear {how}"
    check(lambda: run(dict(args, **{name: value})), [name, "prediction", "dy"], clean_call,
          nonfinite=how in ("nan", "inf"))


@given(kind=st.sampled_from(["rnn", "gru", "lstm", "layernorm_gru", "layernorm_lstm", "cnn"]),
       sizes=st.tuples(*(st.one_of(st.integers(-3, 2**40), st.floats(), st.booleans(),
                                   st.text(max_size=2)) for _ in range(3))))
def test_count_parameters(kind, sizes):
    STATS["count_parameters"] += 1
    CURRENT[0] = "count_parameters (valid sizes)"
    check(lambda: bptt.count_parameters(kind, *sizes),
          ["kind", "input_size", "hidden_size", "num_layers"], None)
