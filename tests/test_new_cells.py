"""The four newer cells of the sequence layers, against references from torch autograd.

- ``bptt.LSTM(proj_size=P)``: torch.nn.LSTM(proj_size=P) itself, loaded with
  ``layer.state_dict(tensors=True)`` (packed when there are lengths);
- ``bptt.LSTM(peepholes=True, clip=c)`` (and either alone): ONNX's LSTM
  equations in torch's weight layout, as a torch loop (``_new_cells_reference``)
  that is itself checked against onnxruntime's LSTM operator;
- ``bptt.LayerNormGRU`` and ``bptt.LayerNormLSTM``: their documented equations
  as a torch loop.

Every parameter is randomised away from its init (layer-norm gains of either
sign, biases, beta_c, peepholes, W_hr); outputs, final states, dx, dh0 (dc0)
and every parameter gradient are compared by name. Tolerances are the
conftest table (float64 1e-12 relative, float32 1e-5 with a 0.1 floor). A
float32 layer is measured against its reference run in float64 (exact
arithmetic, in effect); where float32 itself cannot reach 1e-5 (layer norm
over a few units can be ill-conditioned), it may be off by up to 10 times
what torch's own float32 run of the reference is (``_check_float32``).

Also: the references against torch.nn / onnxruntime / F.layer_norm, a full
factorial grid on the NumPy backend (float64; a resolution-IV quarter of it in
float32), every backend against the reference and
against NumPy (two rounds, gradients accumulated), finite differences in
float64 on every backend, parameter names / shapes / order / init, bad
input, and ``count_parameters``. A family a backend has not been ported to
makes that backend's tests fail (the constructor raises): no skips.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import bptt
from _fd import relative_error
from _layers import assert_results_close
from _new_cells_reference import (
    CLIP_OBSERVERS,
    CLIPS,
    COUNT_KIND,
    LN_EPS,
    VARIANTS,
    Case,
    backward,
    draw,
    forward,
    layer_kwargs,
    layer_norm,
    loop_reference,
    loss,
    make_layer,
    make_randomised_layer,
    onnx_lstm,
    parameter_shapes,
    random_parameters,
    run,
    state_shape,
    torch_nn_reference,
)
from conftest import TOLERANCE, assert_close


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """The references are many tiny torch ops: one thread is several times
    faster than two fighting over a loaded machine. Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


LSTM_VARIANTS = tuple(v for v in VARIANTS if v.startswith("lstm_"))
ONNX_VARIANTS = ("lstm_peephole", "lstm_peephole_clip", "lstm_clip")


def _check(actual: dict, expected: dict, dtype, label: str) -> None:
    """Same keys, the layer's dtype, every value within the conftest tolerance."""
    tol = TOLERANCE[np.dtype(dtype)]
    assert_results_close(actual, expected, dtype, label, tol, tol)


def _expected(case: Case, layer, data) -> dict:
    """float64: torch.nn for the projected LSTM, the loop for the others."""
    if case.variant == "lstm_proj":
        return torch_nn_reference(case, layer.state_dict(), data)
    return loop_reference(case, layer.state_dict(), data)


#: A float32 value may be off the float64 reference by this many times what
#: torch's own float32 autograd is off it (see ``_check_float32``).
FLOAT32_VS_TORCH = 10


def _float32_attainable(case: Case, state_dict: dict, data) -> tuple[dict, dict]:
    """The reference's values in float64 (torch.nn for "lstm_proj", the loop
    for the others), and how far the same reference run by torch in float32
    is off them (max abs, per value): what float32 can attain."""
    if case.variant == "lstm_proj":
        expected = torch_nn_reference(case, state_dict, data, dtype=np.float64)
        torch32 = torch_nn_reference(case, state_dict, data, dtype=np.float32)
    else:
        expected = loop_reference(case, state_dict, data)
        torch32 = loop_reference(case, state_dict, data, dtype=np.float32)
    attainable = {k: float(np.abs(torch32[k].astype(np.float64) - v).max())
                  for k, v in expected.items()}
    return expected, attainable


def _assert_float32_close(actual: dict, expected: dict, attainable: dict, label: str) -> None:
    """Per value: within the conftest table (1e-5 relative, 0.1 floor) or within
    FLOAT32_VS_TORCH times what float32 attains (see ``_check_float32``)."""
    table = TOLERANCE[np.dtype(np.float32)]
    assert sorted(actual) == sorted(expected), f"{label}: keys differ"
    for key, value in expected.items():
        assert actual[key].dtype == np.float32, f"{label}: {key} is {actual[key].dtype}"
        assert np.isfinite(actual[key]).all(), f"{label}: {key} not finite"
        value = np.asarray(value, np.float64)
        scale = max(float(np.abs(value).max()), table.floor)
        allowed = max(table.rtol * scale, FLOAT32_VS_TORCH * attainable[key])
        err = float(np.abs(actual[key].astype(np.float64) - value).max())
        assert err <= allowed, (
            f"{label}: {key}: max|a-b| = {err:.3e} exceeds {allowed:.3e} (scale {scale:.3e}; "
            f"torch float32 is {attainable[key]:.3e} off the float64 reference)")


def _check_float32(case: Case, actual: dict, state_dict: dict, data) -> None:
    """A float32 layer against its reference run in float64 on the same float32
    numbers (exact arithmetic, in effect), not against torch's float32 result,
    which carries float32 error of its own (torch.nn's projected LSTM in float32
    is ~4e-6 off float64 on the unbatched H = 33 case).

    Allowed per value: the conftest table (1e-5 relative, 0.1 floor), or, where
    the problem itself is ill-conditioned in float32, FLOAT32_VS_TORCH times
    the error of the same loop run by torch in float32. Layer norm over a
    few units is: LN(c') of LayerNormLSTM with H = 4 can have a small sigma,
    and gradients of O(100) whose float32 error, torch's included, exceeds 1e-5.
    """
    expected, attainable = _float32_attainable(case, state_dict, data)
    _assert_float32_close(actual, expected, attainable, case.id)


def _check_layer(case: Case, backend: str, dtype, seed: int) -> dict:
    layer = make_randomised_layer(case, backend=backend, dtype=dtype, seed=seed)
    assert layer.backend == backend
    data = draw(np.random.default_rng(seed), case, dtype)
    actual = run(layer, case, data)
    if np.dtype(dtype) == np.float32:
        _check_float32(case, actual, layer.state_dict(), data)
    else:
        _check(actual, _expected(case, layer, data), dtype, case.id)
    return actual


# ----------------------------------------------------------------------------
# the references themselves
# ----------------------------------------------------------------------------

REFERENCE_CHECKS = [
    Case("lstm_proj", num_layers=L, bidirectional=bi, batch_first=bf, bias=bias, batch=B, T=T,
         lengths=lengths, h0=h0)
    for L, bi, bf, bias, B, T, lengths, h0 in (
        (2, True, False, True, 3, 6, (6, 1, 4), True),
        (2, True, True, False, 3, 6, (2, 6, 1), True),
        (1, False, False, True, None, 4, None, True),
        (3, True, True, True, 2, 5, None, False),
    )
]


@pytest.mark.parametrize("case", REFERENCE_CHECKS, ids=[c.id for c in REFERENCE_CHECKS])
def test_loop_reference_matches_torch_nn_projected_lstm(case):
    """The loop (lengths, reverse direction, layers) is torch.nn where torch.nn has the cell."""
    params = random_parameters(case, np.random.default_rng(1))
    data = draw(np.random.default_rng(2), case)
    _check(loop_reference(case, params, data), torch_nn_reference(case, params, data),
           np.float64, case.id)


def test_peephole_step_without_peepholes_or_clip_is_torch_lstm():
    """lstm_peephole_step reduces to torch.lstm_cell when P = 0 and there is no clip."""
    from _new_cells_reference import lstm_peephole_step

    case = Case("lstm_peephole")
    rng = np.random.default_rng(3)
    p = {k[: -len("_l0")]: torch.from_numpy(v)
         for k, v in random_parameters(case, rng).items()}
    p["weight_peephole"] = torch.zeros_like(p["weight_peephole"])
    x, h, c = (torch.from_numpy(rng.standard_normal((3, n))) for n in (3, 4, 4))
    ours = lstm_peephole_step(x, (h, c), p, case.with_(variant="lstm_peephole"))
    theirs = torch.lstm_cell(x, (h, c), p["weight_ih"], p["weight_hh"], p["bias_ih"],
                             p["bias_hh"])
    for a, b in zip(ours, theirs, strict=True):
        assert_close(a.numpy(), b.numpy(), 1e-14)


def test_layer_norm_is_torch_layer_norm():
    rng = np.random.default_rng(4)
    a = torch.from_numpy(rng.standard_normal((5, 12)) * 3 + 1)
    gain, bias = (torch.from_numpy(rng.standard_normal(12)) for _ in range(2))
    expected = torch.nn.functional.layer_norm(a, (12,), gain, bias, eps=LN_EPS)
    assert_close(layer_norm(a, gain, bias).numpy(), expected.numpy(), 1e-13)
    expected = torch.nn.functional.layer_norm(a, (12,), gain, None, eps=LN_EPS)
    assert_close(layer_norm(a, gain).numpy(), expected.numpy(), 1e-13)


def _onnxruntime():
    return pytest.importorskip("onnxruntime")


ONNX_CASES = [
    Case(variant, num_layers=L, bidirectional=bi, batch_first=bf, bias=bias, batch=B, T=T,
         lengths=lengths, h0=h0)
    for variant in ONNX_VARIANTS
    for L, bi, bf, bias, B, T, lengths, h0 in (
        (1, False, False, True, 3, 5, None, True),
        (2, True, True, True, 3, 6, (6, 1, 4), True),
        (2, True, False, False, 1, 4, (3,), False),
    )
]


@pytest.mark.parametrize("case", ONNX_CASES, ids=[c.id for c in ONNX_CASES])
def test_peephole_reference_matches_onnxruntime(case):
    """The loop reference is onnxruntime's LSTM (float32, forward): W/R/B/P converted."""
    _onnxruntime()
    params = random_parameters(case, np.random.default_rng(5))
    data = draw(np.random.default_rng(6), case)
    expected = onnx_lstm(case, params, data)
    ours = loop_reference(case, params, data)
    for key, value in expected.items():
        assert_close(value, ours[key], TOLERANCE[np.dtype(np.float32)], name=f"{case.id} {key}")


@pytest.mark.parametrize("variant", ["lstm_peephole_clip", "lstm_clip"])
def test_clip_cases_really_clip(variant):
    """The randomised layers of the grid clip some pre-activations and not others."""
    seen = []

    def observe(a, clip):
        seen.append(((a.abs() > clip).sum().item(), a.numel()))

    case = Case(variant, num_layers=2, bidirectional=True)
    CLIP_OBSERVERS.append(observe)
    try:
        loop_reference(case, random_parameters(case, np.random.default_rng(1007)),
                       draw(np.random.default_rng(7), case))
    finally:
        CLIP_OBSERVERS.remove(observe)
    clipped, total = map(sum, zip(*seen, strict=True))
    assert 0.1 * total < clipped < 0.9 * total, (clipped, total)


# ----------------------------------------------------------------------------
# the grid (NumPy backend)
# ----------------------------------------------------------------------------


def _lengths(B: int, T: int) -> tuple[int, ...]:
    return {(1, 1): (1,), (1, 5): (3,), (3, 1): (1, 1, 1), (3, 5): (5, 1, 3)}[B, T]


#: 1-2 layers x uni/bi x batch_first x bias x B in {1, 3} x T in {1, 5} x lengths
FACTORS = list(itertools.product((1, 2), (False, True), (False, True), (False, True), (1, 3),
                                 (1, 5), (False, True)))
GRID = [
    Case(variant, num_layers=L, bidirectional=bi, batch_first=bf, bias=bias, batch=B, T=T,
         lengths=_lengths(B, T) if ragged else None)
    for variant in VARIANTS
    for L, bi, bf, bias, B, T, ragged in FACTORS
]


def _levels(factors) -> tuple[int, ...]:
    """The factors as 0 / 1 levels, in the order of FACTORS."""
    L, bi, bf, bias, B, T, ragged = factors
    return (L == 2, bi, bf, bias, B == 3, T == 5, ragged)


def _in_quarter_fraction(factors) -> bool:
    """The 2^(7-2) fraction I = ABCDF = ABDEG = CEFG (resolution IV): every
    three of the seven factors still appear in all eight of their combinations."""
    a, b, c, d, e, f, g = _levels(factors)
    return (a + b + c + d + f) % 2 == 0 and (a + b + d + e + g) % 2 == 0


#: float32: a quarter of the grid (its reference is run twice, see _check_float32).
GRID32 = [
    case for case, factors in zip(GRID, FACTORS * len(VARIANTS), strict=True)
    if _in_quarter_fraction(factors)
]


@pytest.mark.parametrize("case", GRID, ids=[c.id for c in GRID])
def test_grid_float64(case):
    _check_layer(case, "numpy", np.float64, seed=case.num_layers + 10 * case.T)


@pytest.mark.parametrize("case", GRID32, ids=[c.id for c in GRID32])
def test_grid_float32(case):
    _check_layer(case, "numpy", np.float32, seed=case.num_layers + 10 * case.T)


# ----------------------------------------------------------------------------
# every backend
# ----------------------------------------------------------------------------

EVERY_BACKEND = [
    Case(variant, num_layers=3, bidirectional=True, batch_first=True, batch=4, T=7,
         lengths=(7, 1, 5, 2), input_size=3, hidden_size=5, proj=3)
    for variant in VARIANTS
] + [
    Case(variant, num_layers=2, bidirectional=True, batch=None, T=6, input_size=7,
         hidden_size=33, proj=17)
    for variant in VARIANTS
] + [
    # tiny. Layer norm is degenerate here: LN(W x) of one input does not depend
    # on |x| (dx is rounding only), LN(c') of two units is +-1 (dc0 likewise):
    # the LN cells get I = 2, H = 3 instead.
    Case(variant, bias=False, batch=1, T=1, input_size=2 if ln else 1,
         hidden_size=3 if ln else 2, proj=1, h0=False, d_h_n=False)
    for variant in VARIANTS
    for ln in [variant.startswith("ln_")]
] + [
    Case(variant, num_layers=2, batch=2, T=12, h0=False, d_h_n=False) for variant in VARIANTS
]


@pytest.mark.parametrize("case", EVERY_BACKEND, ids=[c.id for c in EVERY_BACKEND])
def test_every_backend_matches_reference(case, dtype, backend):
    _check_layer(case, backend, dtype, seed=11)


def _two_rounds(layer, case, dtype):
    results = []
    for round_ in range(2):
        data = draw(np.random.default_rng(round_), case, dtype)
        out = forward(layer, case, data)
        out.update(backward(layer, case, data))
        results.append(out)
    results.append({"d" + k: v.copy() for k, v in layer.grads.items()})
    return results


@pytest.mark.parametrize("case", EVERY_BACKEND, ids=[c.id for c in EVERY_BACKEND])
def test_backend_matches_numpy(case, dtype, backend):
    """Same weights, same data: within 1e-12 of NumPy in float64, within what
    float32 attains in float32 (see ``_check_float32``); gradients accumulate."""
    reference = make_randomised_layer(case, backend="numpy", dtype=dtype, seed=12)
    layer = make_layer(case, backend=backend, dtype=dtype, seed=13)
    assert layer.backend == backend
    layer.load_state_dict(reference.state_dict())
    expected = _two_rounds(reference, case, dtype)
    actual = _two_rounds(layer, case, dtype)
    labels = ("round 1", "round 2", "gradients accumulated over both rounds")
    if np.dtype(dtype) == np.float64:
        for label, ours, theirs in zip(labels, actual, expected, strict=True):
            _check(ours, theirs, dtype, f"{case.id} {label}")
        return
    # float32: the same allowance as against the reference (_check_float32),
    # what float32 attains on each round's problem (summed for the gradients)
    state_dict = reference.state_dict()
    attainable = [_float32_attainable(case, state_dict,
                                      draw(np.random.default_rng(round_), case, dtype))[1]
                  for round_ in range(2)]
    attainable.append({k: attainable[0][k] + attainable[1][k] for k in expected[2]})
    for label, ours, theirs, bound in zip(labels, actual, expected, attainable, strict=True):
        _assert_float32_close(ours, theirs, bound, f"{case.id} {label}")


# ----------------------------------------------------------------------------
# finite differences
# ----------------------------------------------------------------------------

MAX_RELATIVE_ERROR = 1e-7
FD_CASES = [(v, True) for v in VARIANTS] + [("lstm_proj", False), ("ln_gru", False),
                                            ("ln_lstm", False)]
FD_DIRECTIONS = 2  # random unit directions per array
FD_ENTRIES = 3     # single entries per array (all of them if it has no more)
FD_EPS = 1e-6


def _fd_probes(f, a: np.ndarray, grad: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """Central differences of f along a few random unit directions in ``a``'s
    space and along a few of its single entries, with the analytic values:
    <grad, v> and grad[entry]. ``a`` is perturbed in place and restored.

    A wrong entry of ``grad`` moves <grad, v> by about |error| / sqrt(a.size)
    of ||grad||, orders of magnitude above the 1e-7 allowed, so directions
    check every entry at two evaluations each; the entries pin single values.
    """
    numeric, analytic = [], []
    original = a.copy()
    probes = [v / np.linalg.norm(v) for v in rng.standard_normal((FD_DIRECTIONS, *a.shape))]
    for index in rng.choice(a.size, size=min(FD_ENTRIES, a.size), replace=False):
        v = np.zeros(a.shape)
        v.flat[index] = 1.0
        probes.append(v)
    for v in probes:
        np.copyto(a, original + FD_EPS * v)
        f_plus = f()
        np.copyto(a, original - FD_EPS * v)
        f_minus = f()
        np.copyto(a, original)
        numeric.append((f_plus - f_minus) / (2 * FD_EPS))
        analytic.append(float(np.sum(np.asarray(grad, np.float64) * v)))
    return np.array(numeric), np.array(analytic)


@pytest.mark.parametrize("variant, bias", FD_CASES,
                         ids=[f"{v}-{'bias' if b else 'nobias'}" for v, b in FD_CASES])
def test_gradients_match_finite_differences(variant, bias, backend):
    """Central differences in float64 (random directions and single entries,
    see ``_fd_probes``) of every parameter, x, h0 and c0 against backward."""
    case = Case(variant, num_layers=2, bidirectional=True, batch_first=True, bias=bias,
                batch=3, T=4, input_size=2, hidden_size=3, proj=2, lengths=(4, 1, 2))
    layer = make_randomised_layer(case, backend=backend, seed=13)
    data = draw(np.random.default_rng(14), case)
    analytic = run(layer, case, data)
    layer.eval()  # forward only from here
    rng = np.random.default_rng(15)

    def f():
        return loss(layer, case, data)

    arrays = dict(layer.parameters())
    arrays.update({name: data[name] for name in ("x", "h0", "c0") if data[name] is not None})
    assert len(arrays) == len(parameter_shapes(case)) + (3 if case.has_c else 2)
    for name, a in arrays.items():
        numeric, exact = _fd_probes(f, a, analytic["d" + name], rng)
        err = relative_error(numeric, exact)
        assert err <= MAX_RELATIVE_ERROR, f"d{name}: relative error {err:.2e}"


def test_fd_probes_catch_one_wrong_entry():
    """Guard on the probe: one entry of a gradient off by 1% of its own value fails it."""
    case = Case("ln_lstm", num_layers=2, bidirectional=True, batch_first=True,
                lengths=(5, 1, 3))
    layer = make_randomised_layer(case, seed=13)
    data = draw(np.random.default_rng(14), case)
    analytic = run(layer, case, data)
    layer.eval()
    name = "weight_hh_l1_reverse"
    grad = analytic["d" + name].copy()
    grad.flat[7] *= 1.01
    numeric, exact = _fd_probes(lambda: loss(layer, case, data), layer.parameters()[name],
                                grad, np.random.default_rng(0))
    assert relative_error(numeric, exact) > 100 * MAX_RELATIVE_ERROR


# ----------------------------------------------------------------------------
# parameters: names, shapes, order, init, state dicts
# ----------------------------------------------------------------------------

LAYOUT_CASES = [
    Case(variant, num_layers=2, bidirectional=bi, bias=bias, input_size=3, hidden_size=5,
         proj=3)
    for variant in VARIANTS
    for bi in (False, True)
    for bias in (True, False)
]


@pytest.mark.parametrize("case", LAYOUT_CASES, ids=[c.id for c in LAYOUT_CASES])
def test_parameter_names_shapes_and_order(case):
    layer = make_layer(case, seed=0)
    expected = parameter_shapes(case)
    assert [(k, v.shape) for k, v in layer.parameters().items()] == list(expected.items())
    assert list(layer.grads) == list(expected)
    assert list(layer.state_dict()) == list(expected)
    for name, p in layer.parameters().items():
        if name.startswith("layernorm_"):  # a normalisation starts as the identity
            assert np.all(p == (1 if "_weight_" in name else 0)), name
        assert p.dtype == np.float64, name


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_projected_state_dict_round_trips_with_torch(bias):
    """Ours loads into torch.nn.LSTM(proj_size) and torch's into ours, names and order alike."""
    case = Case("lstm_proj", num_layers=2, bidirectional=True, bias=bias, hidden_size=5, proj=3)
    torch.manual_seed(0)
    theirs = torch.nn.LSTM(3, 5, num_layers=2, bias=bias, bidirectional=True, proj_size=3,
                           dtype=torch.float64)
    ours = make_randomised_layer(case, seed=1)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict(ours.state_dict(tensors=True))
    for name, p in theirs.state_dict().items():
        assert np.array_equal(p.numpy(), ours.parameters()[name]), name
    other = make_layer(case, seed=2)
    other.load_state_dict(theirs.state_dict())
    for name, p in other.parameters().items():
        assert np.array_equal(p, ours.parameters()[name]), name


@pytest.mark.parametrize("variant", VARIANTS)
def test_unbatched_is_a_batch_of_one(variant, backend):
    case = Case(variant, num_layers=2, bidirectional=True, batch=None, T=5)
    layer = make_randomised_layer(case, backend=backend, seed=15)
    data = draw(np.random.default_rng(16), case)
    actual = run(layer, case, data)
    K, H, LD = case.h_width, case.hidden_size, 4
    assert actual["output"].shape == (5, 2 * K)
    assert actual["h_n"].shape == actual["dh0"].shape == (LD, K)
    if case.has_c:
        assert actual["c_n"].shape == actual["dc0"].shape == (LD, H)
    batched_case = case.with_(batch=1)
    data1 = {k: v for k, v in data.items()}
    data1["x"], data1["g_out"] = data["x"][:, None], data["g_out"][:, None]
    for k in ("h0", "c0", "g_h", "g_c"):
        if data[k] is not None:
            data1[k] = data[k][:, None]
    result = run(layer, batched_case, data1)
    for key, value in actual.items():
        if key in ("output", "dx", "h_n", "c_n", "dh0", "dc0"):
            value = value[:, None]
        assert_close(result[key], value, 1e-12, name=f"batch of one: {key}")


# ----------------------------------------------------------------------------
# ONNX: the layer itself against onnxruntime
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", ONNX_CASES, ids=[c.id for c in ONNX_CASES])
def test_layer_matches_onnxruntime(case, backend):
    """float32, forward only: bptt's layer against onnxruntime's LSTM operator."""
    _onnxruntime()
    layer = make_randomised_layer(case, backend=backend, dtype=np.float32, seed=17)
    data = draw(np.random.default_rng(18), case, np.float32)
    expected = onnx_lstm(case, layer.state_dict(), data)
    layer.eval()
    actual = forward(layer, case, data)
    for key, value in expected.items():
        assert actual[key].dtype == np.float32, key
        assert_close(actual[key], value, TOLERANCE[np.dtype(np.float32)],
                     name=f"{case.id} {key}")


# ----------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------

X = np.zeros((5, 3, 3))  # (T, B, I)


def _proj(**kwargs):
    return bptt.LSTM(3, 5, num_layers=2, proj_size=2, backend="numpy", seed=0, **kwargs)


@pytest.mark.parametrize(
    "h0, match",
    [
        ((np.zeros((2, 3, 5)), np.zeros((2, 3, 5))), r"h0 must have shape \(2, 3, 2\)"),
        ((np.zeros((2, 3, 2)), np.zeros((2, 3, 2))), r"c0 must have shape \(2, 3, 5\)"),
        ((np.zeros((2, 3, 5)), np.zeros((2, 3, 2))), r"h0 must have shape \(2, 3, 2\)"),
        ((np.zeros((1, 3, 2)), np.zeros((2, 3, 5))), r"h0 must have shape \(2, 3, 2\)"),
    ],
    ids=["h-hidden-sized", "c-proj-sized", "swapped", "h-layers"],
)
def test_projected_bad_initial_state(h0, match):
    layer = _proj()
    with pytest.raises(ValueError, match=match):
        layer.forward(X, h0)
    with pytest.raises(ValueError, match="needs a forward"):  # nothing half-done was kept
        layer.backward(np.zeros((5, 3, 2)))


def test_projected_bad_upstream_gradients():
    layer = _proj()
    layer.forward(X)
    with pytest.raises(ValueError, match=r"d_output must have shape \(5, 3, 2\)"):
        layer.backward(np.zeros((5, 3, 5)))
    with pytest.raises(ValueError, match=r"d_h_n must have shape \(2, 3, 2\)"):
        layer.backward(np.zeros((5, 3, 2)), np.zeros((2, 3, 5)))
    with pytest.raises(ValueError, match=r"d_c_n must have shape \(2, 3, 5\)"):
        layer.backward(np.zeros((5, 3, 2)), None, np.zeros((2, 3, 2)))


@pytest.mark.parametrize("proj_size", [-1, 5, 6], ids=["negative", "hidden", "above"])
def test_bad_proj_size_value(proj_size):
    with pytest.raises(ValueError, match="proj_size"):
        bptt.LSTM(3, 5, proj_size=proj_size, backend="numpy")
    with pytest.raises(ValueError, match="proj_size"):
        bptt.count_parameters("lstm", 3, 5, proj_size=proj_size)


@pytest.mark.parametrize("proj_size", [2.0, True, "2"], ids=["float", "bool", "str"])
def test_bad_proj_size_type(proj_size):
    with pytest.raises(TypeError, match="proj_size"):
        bptt.LSTM(3, 5, proj_size=proj_size, backend="numpy")


@pytest.mark.parametrize("peepholes", [1, 0, "yes", None, 1.0])
def test_peepholes_must_be_a_bool(peepholes):
    with pytest.raises(TypeError, match="peepholes"):
        bptt.LSTM(3, 4, peepholes=peepholes, backend="numpy")
    with pytest.raises(TypeError, match="peepholes"):
        bptt.count_parameters("lstm", 3, 4, peepholes=peepholes)


@pytest.mark.parametrize("peepholes", [False, True])
@pytest.mark.parametrize("clip", [0, 0.0, -1.0, float("nan"), -float("inf")],
                         ids=["0", "0.0", "negative", "nan", "-inf"])
def test_clip_must_be_positive(clip, peepholes):
    with pytest.raises(ValueError, match="clip"):
        bptt.LSTM(3, 4, peepholes=peepholes, clip=clip, backend="numpy")


@pytest.mark.parametrize("clip", ["1", [1.0]], ids=["str", "list"])
def test_clip_must_be_a_number(clip):
    with pytest.raises(TypeError, match="clip"):
        bptt.LSTM(3, 4, clip=clip, backend="numpy")


def test_peephole_bad_initial_state():
    layer = bptt.LSTM(3, 4, peepholes=True, clip=1.0, backend="numpy", seed=0)
    with pytest.raises(ValueError, match=r"h0 must have shape \(1, 3, 4\)"):
        layer.forward(X, (np.zeros((1, 3, 3)), np.zeros((1, 3, 4))))
    with pytest.raises(ValueError, match=r"c0 must have shape \(1, 3, 4\)"):
        layer.forward(X, (np.zeros((1, 3, 4)), np.zeros((2, 3, 4))))
    with pytest.raises(TypeError, match="h0"):
        layer.forward(X, np.zeros((1, 3, 4)))


def test_layernorm_gru_bad_input():
    layer = bptt.LayerNormGRU(3, 4, num_layers=2, backend="numpy", seed=0)
    with pytest.raises(ValueError, match=r"h0 must have shape \(2, 3, 4\)"):
        layer.forward(X, np.zeros((2, 3, 5)))
    with pytest.raises(ValueError, match=r"x must have shape"):
        layer.forward(np.zeros((5, 3, 4)))
    layer.forward(X)
    with pytest.raises(ValueError, match=r"d_h_n must have shape \(2, 3, 4\)"):
        layer.backward(np.zeros((5, 3, 4)), np.zeros((1, 3, 4)))
    with pytest.raises(ValueError, match="hidden_size"):
        bptt.LayerNormGRU(3, 0, backend="numpy")
    with pytest.raises(ValueError, match="num_layers"):
        bptt.LayerNormGRU(3, 4, num_layers=0, backend="numpy")
    with pytest.raises(TypeError, match="bias"):
        bptt.LayerNormGRU(3, 4, bias=1, backend="numpy")


def test_layernorm_lstm_bad_input():
    layer = bptt.LayerNormLSTM(3, 4, backend="numpy", seed=0)
    with pytest.raises(TypeError, match="h0"):
        layer.forward(X, np.zeros((1, 3, 4)))
    with pytest.raises(ValueError, match=r"h0 must have shape \(1, 3, 4\)"):
        layer.forward(X, (np.zeros((1, 3, 5)), np.zeros((1, 3, 4))))
    with pytest.raises(ValueError, match=r"c0 must have shape \(1, 3, 4\)"):
        layer.forward(X, (np.zeros((1, 3, 4)), np.zeros((1, 2, 4))))
    with pytest.raises(TypeError, match="bidirectional"):
        bptt.LayerNormLSTM(3, 4, bidirectional="yes", backend="numpy")


# ----------------------------------------------------------------------------
# count_parameters
# ----------------------------------------------------------------------------

COUNT_GRID = [
    (variant, I, H, L, bias, bi)
    for variant in VARIANTS
    for I, H in ((1, 2), (5, 3), (10, 20))
    for L in (1, 3)
    for bias in (True, False)
    for bi in (False, True)
]


def _count_kwargs(case: Case) -> dict:
    kwargs = {}
    if case.proj_size:
        kwargs["proj_size"] = case.proj_size
    if case.peepholes:
        kwargs["peepholes"] = True
    return kwargs


@pytest.mark.parametrize("variant, I, H, L, bias, bi", COUNT_GRID)
def test_count_parameters_is_the_layers_size(variant, I, H, L, bias, bi):
    case = Case(variant, num_layers=L, bidirectional=bi, bias=bias, input_size=I,
                hidden_size=H, proj=max(1, H // 2))
    layer = make_layer(case, seed=0)
    total = sum(p.size for p in layer.parameters().values())
    assert total == sum(int(np.prod(s)) for s in parameter_shapes(case).values())
    kind = COUNT_KIND[variant]
    assert bptt.count_parameters(kind, I, H, L, bias, bi, **_count_kwargs(case)) == total
    assert bptt.count_parameters(kind, I, H, num_layers=L, bias=bias, bidirectional=bi,
                                 **_count_kwargs(case)) == total
    if variant == "lstm_proj":
        torch_layer = torch.nn.LSTM(I, H, num_layers=L, bias=bias, bidirectional=bi,
                                    proj_size=case.proj_size)
        assert total == sum(p.numel() for p in torch_layer.parameters())


def test_count_parameters_closed_forms():
    I, H = 7, 5
    lstm = 4 * H * (I + H) + 8 * H
    assert bptt.count_parameters("lstm", I, H, peepholes=True) == lstm + 3 * H
    assert bptt.count_parameters("lstm", I, H, proj_size=2) == 4 * H * (I + 2) + 8 * H + 2 * H
    assert bptt.count_parameters("layernorm_gru", I, H) == 3 * H * (I + H) + 6 * H + 6 * H
    assert bptt.count_parameters("layernorm_gru", I, H, bias=False) == 3 * H * (I + H) + 6 * H
    assert (bptt.count_parameters("layernorm_lstm", I, H)
            == 4 * H * (I + H) + 8 * H + 8 * H + 2 * H)
    assert (bptt.count_parameters("layernorm_lstm", I, H, bias=False)
            == 4 * H * (I + H) + 8 * H + H)


@pytest.mark.parametrize("kind", ["rnn", "gru", "layernorm_gru", "layernorm_lstm"])
def test_count_parameters_proj_size_is_lstm_only(kind):
    with pytest.raises(ValueError, match="proj_size"):
        bptt.count_parameters(kind, 3, 5, proj_size=2)


# ----------------------------------------------------------------------------
# sanity: the options change the numbers, and float32 stays float32
# ----------------------------------------------------------------------------


def test_clip_and_peepholes_change_the_output():
    """Same W, R, B: a plain LSTM, clip alone and peepholes alone all differ."""
    base = Case("lstm_peephole_clip", num_layers=1, bidirectional=False)
    params = random_parameters(base, np.random.default_rng(19))
    data = draw(np.random.default_rng(20), base)
    outputs = {}
    for variant in ("lstm_peephole_clip", "lstm_peephole", "lstm_clip"):
        case = base.with_(variant=variant)
        layer = make_layer(case)
        layer.load_state_dict({k: v for k, v in params.items() if k in parameter_shapes(case)})
        layer.eval()
        outputs[variant] = forward(layer, case, data)["output"]
    plain = bptt.LSTM(3, 4, backend="numpy")
    plain.load_state_dict({k: v for k, v in params.items() if "peephole" not in k})
    plain.eval()
    outputs["plain"] = plain.forward(data["x"], (data["h0"], data["c0"]))[0]
    for a, b in itertools.combinations(outputs, 2):
        assert np.abs(outputs[a] - outputs[b]).max() > 1e-3, (a, b)


def test_layernorm_gains_of_one_and_no_bias_are_scale_invariant():
    """LN(W x) does not change when W is scaled: with gains 1 and no biases, a
    LayerNormGRU's output is the same for W and 3 W (up to eps)."""
    case = Case("ln_gru", bias=False)
    layer = make_layer(case, seed=21)
    data = draw(np.random.default_rng(22), case)
    layer.eval()
    before = forward(layer, case, data)["output"]
    layer.load_state_dict({k: (3 * v if k.startswith("weight_") else v)
                           for k, v in layer.state_dict().items()})
    after = forward(layer, case, data)["output"]
    assert np.abs(after - before).max() < 1e-3
    assert np.abs(before).max() > 0.1


@pytest.mark.parametrize("variant", VARIANTS)
def test_float32_in_float32_out(variant, backend):
    case = Case(variant, num_layers=2, bidirectional=True, lengths=(5, 2, 1))
    layer = make_randomised_layer(case, backend=backend, dtype=np.float32, seed=23)
    result = run(layer, case, draw(np.random.default_rng(24), case, np.float32))
    for key, value in result.items():
        assert value.dtype == np.float32, key
    assert all(p.dtype == np.float32 for p in layer.parameters().values())


def test_layer_kwargs_are_the_documented_ones():
    """Guard on this file's own harness: each variant builds what its name says."""
    assert layer_kwargs(Case("lstm_proj")) == {"proj_size": 2}
    assert layer_kwargs(Case("lstm_peephole")) == {"peepholes": True}
    assert layer_kwargs(Case("lstm_peephole_clip")) == {"peepholes": True,
                                                        "clip": CLIPS["lstm_peephole_clip"]}
    assert layer_kwargs(Case("lstm_clip")) == {"clip": CLIPS["lstm_clip"]}
    assert layer_kwargs(Case("ln_gru")) == layer_kwargs(Case("ln_lstm")) == {}
    assert state_shape(Case("lstm_proj", num_layers=2, bidirectional=True), 2) == (4, 3, 2)
    assert set(LSTM_VARIANTS) | {"ln_gru", "ln_lstm"} == set(VARIANTS)
