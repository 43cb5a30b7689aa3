"""Bad input is refused before any kernel runs, with a message that names the
argument and states what was expected and what was given.

Validation is the same Python code for every backend, so these tests build
their cells on the NumPy backend.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import bptt


def _m(text: str) -> str:
    """A literal ``match=`` pattern."""
    return re.escape(text)


@pytest.fixture
def gru():
    return bptt.GRUCell(3, 4, backend="numpy", seed=0)


@pytest.fixture
def seed_cell():
    return bptt.GRU_Cell(3, 4, backend="numpy", seed=0)


def _homework_weights(h=4, d=3):
    rng = np.random.default_rng(0)
    return [rng.uniform(-1, 1, s) for s in [(h, h)] * 3 + [(h, d)] * 3]


# -- forward inputs -----------------------------------------------------------


@pytest.mark.parametrize(
    "x, error, message",
    [
        (np.zeros(5), ValueError, "x must have shape (3,) or (B, 3), got (5,)"),
        (np.zeros((2, 5)), ValueError, "x must have shape (B, 3), got (2, 5)"),
        (np.zeros((2, 2, 3)), ValueError,
         "x must be 1-D (3,) or 2-D (B, 3), got 3-D shape (2, 2, 3)"),
        (np.float64(1.0), ValueError, "x must be 1-D (3,) or 2-D (B, 3), got 0-D shape ()"),
        (np.zeros((0, 3)), ValueError, "x must have at least one row, got shape (0, 3)"),
        (np.zeros(3, np.float32), TypeError, "x must have dtype float64, got float32"),
        (np.zeros(3, np.int64), TypeError, "x must have dtype float64, got int64"),
        (torch.zeros(3), TypeError, "x must have dtype float64, got float32"),
        ("abc", TypeError, "x must be a numpy array, got str"),
    ],
    ids=["1d-size", "2d-size", "3d", "0d", "empty-batch", "float32", "int", "torch-f32", "str"],
)
def test_bad_x(gru, x, error, message):
    with pytest.raises(error, match=_m(message)):
        gru.forward(x)


def test_int_input_is_not_told_to_build_an_int_cell(gru):
    with pytest.raises(TypeError) as info:
        gru.forward(np.zeros(3, np.int64))
    assert "dtype=int64" not in str(info.value)
    assert ".astype(np.float64)" in str(info.value)


def test_float64_input_into_float32_cell():
    cell = bptt.LSTMCell(3, 4, backend="numpy", dtype=np.float32, seed=0)
    message = "x must have dtype float32, got float64 (convert it with .astype(np.float32) or build"
    with pytest.raises(TypeError, match=_m(message)):
        cell.forward(np.zeros((2, 3)))


@pytest.mark.parametrize(
    "x, h, message",
    [
        (np.zeros((2, 3)), np.zeros((3, 4)), "h must have shape (2, 4), got (3, 4)"),
        (np.zeros((2, 3)), np.zeros((2, 5)), "h must have shape (2, 4), got (2, 5)"),
        (np.zeros(3), np.zeros(5), "h must have shape (4,) or (B, 4), got (5,)"),
        (np.zeros((2, 3)), np.zeros(4), "h must have shape (2, 4) to match x's batch of 2"),
        (np.zeros(3), np.zeros((1, 4)), "h must have shape (4,) to match 1-D x"),
        (np.zeros(3), np.zeros((1, 1, 4)), "h must be 1-D (4,) or 2-D (B, 4), got 3-D shape"),
    ],
    ids=["batch-mismatch", "hidden-size", "1d-size", "batched-x-1d-h", "1d-x-batched-h", "3d-h"],
)
def test_bad_h(gru, x, h, message):
    with pytest.raises(ValueError, match=_m(message)):
        gru.forward(x, h)


def test_mismatched_states_of_lstm():
    cell = bptt.LSTMCell(3, 4, backend="numpy", seed=0)
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match=_m("c must have shape (2, 4), got (3, 4)")):
        cell.forward(x, (np.zeros((2, 4)), np.zeros((3, 4))))
    with pytest.raises(TypeError, match=_m("h must have dtype float64, got float32")):
        cell.forward(x, (np.zeros((2, 4), np.float32), np.zeros((2, 4))))
    with pytest.raises(TypeError, match=_m("state must be a tuple (h, c) or None, got ndarray")):
        cell.forward(x, np.zeros((2, 4)))
    message = "state must be a tuple (h, c) or None, got tuple of length 3"
    with pytest.raises(TypeError, match=_m(message)):
        cell.forward(x, (np.zeros((2, 4)),) * 3)


def test_seed_cell_needs_h(seed_cell):
    with pytest.raises(TypeError, match="GRU_Cell.forward needs h"):
        seed_cell.forward(np.zeros(3), None)


# -- backward -------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell",
    [
        bptt.GRU_Cell(3, 4, backend="numpy", seed=0),
        bptt.GRUCell(3, 4, backend="numpy", seed=0),
        bptt.RNNCell(3, 4, backend="numpy", seed=0),
        bptt.LSTMCell(3, 4, backend="numpy", seed=0),
    ],
    ids=lambda c: type(c).__name__,
)
def test_backward_before_forward(cell):
    name = type(cell).__name__
    with pytest.raises(ValueError, match=_m(f"{name}.backward() called before forward()")):
        cell.backward(np.zeros(4))


@pytest.mark.parametrize(
    "batch, delta, error, message",
    [
        (None, np.zeros((1, 5)), ValueError, "delta must have shape (4,) or (1, 4), got (1, 5)"),
        (None, np.zeros(5), ValueError, "delta must have shape (4,) or (1, 4), got (5,)"),
        (None, np.zeros((2, 4)), ValueError, "delta must have shape (4,) or (1, 4), got (2, 4)"),
        (2, np.zeros((3, 4)), ValueError, "delta must have shape (2, 4), got (3, 4)"),
        (2, np.zeros(4), ValueError, "delta must have shape (2, 4), got (4,)"),
        (1, np.zeros(4), ValueError, "delta must have shape (1, 4), got (4,)"),
        (2, np.zeros((2, 4), np.float32), TypeError, "delta must have dtype float64, got float32"),
    ],
    ids=["1d-row", "1d-flat", "1d-two-rows", "batch", "batched-1d", "batch1-1d", "dtype"],
)
def test_bad_delta(seed_cell, batch, delta, error, message):
    lead = () if batch is None else (batch,)
    seed_cell.forward(np.zeros(lead + (3,)), np.zeros(lead + (4,)))
    with pytest.raises(error, match=_m(message)):
        seed_cell.backward(delta)


def test_bad_dc_next():
    cell = bptt.LSTMCell(3, 4, backend="numpy", seed=0)
    cell.forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=_m("dc_next must have shape (2, 4), got (2, 5)")):
        cell.backward(np.zeros((2, 4)), np.zeros((2, 5)))
    with pytest.raises(ValueError, match=_m("dh_next must have shape (2, 4), got (4,)")):
        cell.backward(np.zeros(4))


def test_a_refused_backward_changes_no_gradient(seed_cell):
    seed_cell.forward(np.ones((2, 3)), np.ones((2, 4)))
    seed_cell.backward(np.ones((2, 4)))
    before = {k: v.copy() for k, v in seed_cell.grads.items()}
    with pytest.raises(ValueError):
        seed_cell.backward(np.ones((3, 4)))
    for k, v in seed_cell.grads.items():
        np.testing.assert_array_equal(v, before[k])


# -- weights ---------------------------------------------------------------------


def test_init_weights_checks_each_argument(seed_cell):
    w = _homework_weights()
    transposed = w[:5] + [w[5].T]
    with pytest.raises(ValueError, match=_m("Wx must have shape (4, 3), got (3, 4)")):
        seed_cell.init_weights(*transposed)
    bad = [a.copy() for a in w]
    bad[1][0, 0] = np.nan
    with pytest.raises(ValueError, match=_m("Wrh must be finite, got 1 NaN or infinite value(s)")):
        seed_cell.init_weights(*bad)
    bad = [a.copy() for a in w]
    bad[3][1, 2] = -np.inf
    with pytest.raises(ValueError, match=_m("Wzx must be finite, got 1 NaN or infinite value(s)")):
        seed_cell.init_weights(*bad)
    with pytest.raises(TypeError, match=_m("Wh must have dtype float64, got float32")):
        seed_cell.init_weights(*w[:2], w[2].astype(np.float32), *w[3:])
    with pytest.raises(ValueError, match="built with bias=False: do not pass bz, br or bh"):
        seed_cell.init_weights(*w, np.zeros(4))


def test_init_weights_checks_biases():
    cell = bptt.GRU_Cell(3, 4, bias=True, backend="numpy", seed=0)
    w = _homework_weights()
    with pytest.raises(ValueError, match=_m("br must have shape (4,), got (3,)")):
        cell.init_weights(*w, np.zeros(4), np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match=_m("bh must be finite, got 4 NaN or infinite value(s)")):
        cell.init_weights(*w, np.zeros(4), np.zeros(4), np.full(4, np.nan))


def test_refused_weights_leave_the_cell_unchanged(seed_cell):
    before = seed_cell.state_dict()
    w = _homework_weights()
    w[5] = np.full((4, 3), np.inf)
    with pytest.raises(ValueError):
        seed_cell.init_weights(*w)
    for k, v in seed_cell.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_load_state_dict_keys(gru):
    sd = gru.state_dict()
    missing = {k: v for k, v in sd.items() if k != "bias_hh"}
    with pytest.raises(ValueError, match=_m("missing ['bias_hh'], unexpected []")):
        gru.load_state_dict(missing)
    extra = dict(sd, bias=np.zeros(12))
    with pytest.raises(ValueError, match=_m("missing [], unexpected ['bias']")):
        gru.load_state_dict(extra)
    renamed = {k.replace("weight", "w"): v for k, v in sd.items()}
    with pytest.raises(ValueError, match=r"GRUCell's parameters: missing \['weight_hh', "):
        gru.load_state_dict(renamed)
    no_bias = bptt.GRUCell(3, 4, bias=False, backend="numpy", seed=0)
    with pytest.raises(ValueError, match=_m("unexpected ['bias_hh', 'bias_ih']")):
        no_bias.load_state_dict(sd)
    with pytest.raises(TypeError, match="state_dict must be a mapping, got list"):
        gru.load_state_dict(list(sd.items()))


def test_load_state_dict_values(gru):
    sd = gru.state_dict()
    with pytest.raises(ValueError, match=_m("weight_ih must have shape (12, 3), got (3, 12)")):
        gru.load_state_dict(dict(sd, weight_ih=sd["weight_ih"].T))
    with pytest.raises(ValueError, match=_m("bias_ih must be finite, got 2 NaN or infinite")):
        gru.load_state_dict(dict(sd, bias_ih=np.r_[np.nan, np.inf, np.zeros(10)]))
    nan_tensor = torch.full((12, 4), float("nan"), dtype=torch.float64)
    with pytest.raises(ValueError, match=_m("weight_hh must be finite, got 48 NaN")):
        gru.load_state_dict(dict(sd, weight_hh=nan_tensor))
    message = "weight_hh must have dtype float32 or float64, got int32"
    with pytest.raises(TypeError, match=_m(message)):
        gru.load_state_dict(dict(sd, weight_hh=torch.zeros(12, 4, dtype=torch.int32)))
    # nothing was written by the refused loads
    for k, v in gru.state_dict().items():
        np.testing.assert_array_equal(v, sd[k])


# -- constructors ----------------------------------------------------------------


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: bptt.GRUCell(3, 0), ValueError, "hidden_size must be a positive int, got 0"),
        (lambda: bptt.RNNCell(-1, 4), ValueError, "input_size must be a positive int, got -1"),
        (lambda: bptt.LSTMCell(3, 2.5), TypeError,
         "hidden_size must be a positive int, got float 2.5"),
        (lambda: bptt.GRUCell(3, "4"), TypeError,
         "hidden_size must be a positive int, got str '4'"),
        (lambda: bptt.GRUCell(3, True), TypeError, "hidden_size must be a positive int, got bool"),
        (lambda: bptt.GRU_Cell(0, 4), ValueError, "in_dim must be a positive int, got 0"),
        (lambda: bptt.GRU_Cell(3, 4.0), TypeError, "hidden_dim must be a positive int, got float"),
        (lambda: bptt.GRUCell(3, 4, bias=1), TypeError, "bias must be a bool, got int 1"),
        (lambda: bptt.RNNCell(3, 4, nonlinearity="gelu"), ValueError,
         "nonlinearity must be one of ('tanh', 'relu', 'sigmoid'), got 'gelu'"),
        (lambda: bptt.GRUCell(3, 4, dtype=np.float16), TypeError,
         "dtype must be float32 or float64, got float16"),
        (lambda: bptt.GRUCell(3, 4, dtype="int32"), TypeError,
         "dtype must be float32 or float64, got int32"),
        (lambda: bptt.GRUCell(3, 4, dtype="bogus"), TypeError,
         "dtype must be float32 or float64, got 'bogus'"),
        (lambda: bptt.GRUCell(3, 4, backend="gpu"), ValueError,
         "backend must be one of 'auto', 'cython', 'numba', 'numpy'; got 'gpu'"),
        (lambda: bptt.GRUCell(3, 4, backend=3), TypeError, "backend must be a str, got int"),
        (lambda: bptt.GRUCell(3, 4, seed=1, rng=np.random.default_rng()), ValueError,
         "pass either seed or rng, not both"),
        (lambda: bptt.GRUCell(3, 4, rng=1), TypeError,
         "rng must be a numpy.random.Generator, got int"),
    ],
    ids=["hidden0", "input-neg", "float-size", "str-size", "bool-size", "in_dim0",
         "hidden_dim-float", "bias-int", "nonlinearity", "float16", "int32", "bogus-dtype",
         "backend-name", "backend-type", "seed-and-rng", "rng-type"],
)
def test_bad_constructor_arguments(make, error, message):
    with pytest.raises(error, match=_m(message)):
        make()


def test_init_is_torchs_and_reproducible():
    """U(-1/sqrt(H), 1/sqrt(H)), the same for the same seed, different otherwise."""
    a = bptt.LSTMCell(5, 16, backend="numpy", seed=3).state_dict()
    b = bptt.LSTMCell(5, 16, backend="numpy", rng=np.random.default_rng(3)).state_dict()
    c = bptt.LSTMCell(5, 16, backend="numpy", seed=4).state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
        assert not np.array_equal(a[k], c[k])
        assert np.abs(a[k]).max() <= 0.25
        assert np.abs(a[k]).max() > 0.2  # actually spans the interval
