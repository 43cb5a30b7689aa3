"""The cells' one-call fast path (Cython backend: csrc/_fast.pxd; Numba
backend: bptt._numba._sequence).

The fast step takes only arrays that are already exactly right and declines
everything else, which then goes through the validating path. These tests
check both halves, on each compiled backend: exact arrays really take the
fast path and give the same bits as the validating path, and every other
input is declined, so that it still converts or fails with the validating
path's message.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import bptt
from conftest import Counter

D, H = 3, 5


CELLS = {
    "GRU_Cell": bptt.GRU_Cell,
    "GRUCell": bptt.GRUCell,
    "RNNCell": bptt.RNNCell,
    "RNNCell-relu": lambda *a, **kw: bptt.RNNCell(*a, nonlinearity="relu", **kw),
    "LSTMCell": bptt.LSTMCell,
}


def _pair(bias, dtype, backend, seed=0, kind="GRU_Cell"):
    """Two identical cells, the second with its fast path switched off."""
    fast = CELLS[kind](D, H, bias=bias, backend=backend, dtype=dtype, seed=seed)
    slow = CELLS[kind](D, H, bias=bias, backend=backend, dtype=dtype, seed=seed)
    slow._fast_forward = slow._fast_backward = None
    return fast, slow


def _forward(cell, x, h):
    if isinstance(cell, bptt.LSTMCell):
        return cell.forward(x, (h, 0.5 * h))
    return cell.forward(x, h)


def _backward(cell, delta):
    if isinstance(cell, bptt.LSTMCell):
        dx, (dh, dc) = cell.backward(delta, 0.25 * delta)
        return dx, dh, dc
    return cell.backward(delta)


def _arrays(out):
    return out if isinstance(out, tuple) else (out,)


def _count(cell):
    cell._fast_forward = Counter(cell._fast_forward)
    cell._fast_backward = Counter(cell._fast_backward)
    return cell._fast_forward, cell._fast_backward


@pytest.mark.parametrize("kind", list(CELLS))
@pytest.mark.parametrize("batch", [None, 1, 4], ids=["unbatched", "B1", "B4"])
@pytest.mark.parametrize("bias", [False, True])
def test_fast_path_is_taken_and_bit_identical(kind, batch, bias, dtype, compiled_backend):
    fast, slow = _pair(bias, dtype, compiled_backend, kind=kind)
    forward, backward = _count(fast)
    rng = np.random.default_rng(1)
    lead = () if batch is None else (batch,)
    x = rng.standard_normal(lead + (D,)).astype(dtype)
    h = rng.standard_normal(lead + (H,)).astype(dtype)
    flat = kind != "GRU_Cell"  # the torch-style cells take (H,) unbatched; the homework (1, H)
    delta_shape = ((H,) if flat else (1, H)) if batch is None else (batch, H)
    delta = rng.standard_normal(delta_shape).astype(dtype)
    for _ in range(2):  # twice: gradients accumulate the same way
        for got, want in zip(_arrays(_forward(fast, x, h)), _arrays(_forward(slow, x, h)),
                             strict=True):
            assert got.shape == want.shape == h.shape and got.dtype == dtype
            np.testing.assert_array_equal(got, want)
        for got, want in zip(_backward(fast, delta), _backward(slow, delta), strict=True):
            assert got.shape == want.shape and got.dtype == dtype
            np.testing.assert_array_equal(got, want)
    assert (forward.taken, backward.taken) == (2, 2)
    for name in fast.grads:
        np.testing.assert_array_equal(fast.grads[name], slow.grads[name], err_msg=name)
        assert np.any(fast.grads[name] != 0), name


def test_unbatched_delta_may_be_flat(compiled_backend):
    fast, slow = _pair(True, np.float64, compiled_backend)
    _, backward = _count(fast)
    x, h = np.ones(D), np.full(H, 0.5)
    fast.forward(x, h)
    slow.forward(x, h)
    for got, want in zip(fast.backward(np.ones(H)), slow.backward(np.ones(H)), strict=True):
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    assert backward.taken == 1


@pytest.mark.parametrize("kind", list(CELLS))
@pytest.mark.parametrize("batch", [None, 3], ids=["unbatched", "B3"])
def test_declined_delta_backpropagates_through_the_fast_cache(kind, batch, compiled_backend):
    """A gradient that the fast backward declines but the validating path
    takes (here a strided one) goes back through what the fast forward kept."""
    fast, slow = _pair(True, np.float64, compiled_backend, kind=kind)
    forward, backward = _count(fast)
    rng = np.random.default_rng(3)
    lead = () if batch is None else (batch,)
    x, h = rng.standard_normal(lead + (D,)), rng.standard_normal(lead + (H,))
    delta = rng.standard_normal(lead + (H,))
    for cell in (fast, slow):
        _forward(cell, x, h)
    for got, want in zip(_backward(fast, _strided(delta)), _backward(slow, delta), strict=True):
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    assert (forward.taken, backward.taken, backward.declined) == (1, 0, 1)
    for name in fast.grads:
        np.testing.assert_array_equal(fast.grads[name], slow.grads[name], err_msg=name)


def test_readonly_inputs_take_the_fast_path(compiled_backend):
    """The kernel only reads x and h, so read-only arrays are fine as they are
    on Cython; Numba declines them (a read-only array is another numba type,
    for which it would compile its kernel anew)."""
    fast, slow = _pair(False, np.float64, compiled_backend)
    forward, _ = _count(fast)
    x, h = np.arange(D, dtype=np.float64), np.linspace(-1, 1, H)
    x.flags.writeable = h.flags.writeable = False
    np.testing.assert_array_equal(fast.forward(x, h), slow.forward(x, h))
    assert forward.taken == (compiled_backend == "cython")


def _strided(a):
    """The same values, not contiguous."""
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    wide[..., ::2] = a
    return wide[..., ::2]


@pytest.mark.parametrize(
    "make_x, make_h",
    [
        (_strided, lambda h: h),
        (lambda x: x, _strided),
        (lambda x: x.tolist(), lambda h: h),
        (lambda x: x[None], lambda h: h),               # batched x, unbatched h: an error
        (lambda x: x.astype(np.float32), lambda h: h),  # wrong dtype: an error
        (lambda x: x[:-1], lambda h: h),                # wrong size: an error
        (lambda x: x, lambda h: h.astype(">f8")),       # swapped bytes: an error, never garbage
    ],
    ids=["strided-x", "strided-h", "list-x", "ranks-differ", "float32-x", "short-x",
         "big-endian-h"],
)
@pytest.mark.parametrize("kind", list(CELLS))
def test_everything_else_is_declined(make_x, make_h, kind, compiled_backend):
    fast, slow = _pair(True, np.float64, compiled_backend, kind=kind)
    forward, _ = _count(fast)
    rng = np.random.default_rng(2)
    x, h = rng.standard_normal(D), rng.standard_normal(H)
    x2, h2 = make_x(x), make_h(h)
    try:
        want = _forward(slow, x2, h2)
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc), match=re.escape(str(exc))):
            _forward(fast, x2, h2)
    else:
        for got, expected in zip(_arrays(_forward(fast, x2, h2)), _arrays(want), strict=True):
            np.testing.assert_array_equal(got, expected)
    assert (forward.taken, forward.declined) == (0, 1)


@pytest.mark.parametrize(
    "state",
    [lambda h: [h, h], lambda h: (h, h[:-1]), lambda h: (h, h[None]), lambda h: (h, _strided(h))],
    ids=["list", "short-c", "batched-c", "strided-c"],
)
def test_lstm_state_is_declined_unless_exact(state, compiled_backend):
    fast, slow = _pair(True, np.float64, compiled_backend, kind="LSTMCell")
    forward, _ = _count(fast)
    x, h = np.ones(D), np.linspace(-1, 1, H)
    try:
        want = slow.forward(x, state(h))
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc), match=re.escape(str(exc))):
            fast.forward(x, state(h))
    else:
        for got, expected in zip(fast.forward(x, state(h)), want, strict=True):
            np.testing.assert_array_equal(got, expected)
    assert forward.taken == 0


@pytest.mark.parametrize(
    "batch, delta_shape",
    [(None, (2, H)), (None, (H + 1,)), (3, (H,)), (3, (1, H)), (3, (2, H))],
    ids=["unbatched-2rows", "unbatched-long", "batched-flat", "batched-1row", "batched-2rows"],
)
@pytest.mark.parametrize("kind", list(CELLS))
def test_bad_delta_is_declined_and_explained(batch, delta_shape, kind, compiled_backend):
    fast, _ = _pair(False, np.float64, compiled_backend, kind=kind)
    _, backward = _count(fast)
    lead = () if batch is None else (batch,)
    _forward(fast, np.ones(lead + (D,)), np.ones(lead + (H,)))
    name = "delta" if kind == "GRU_Cell" else "dh_next"
    with pytest.raises(ValueError, match=rf"{name} must have shape"):
        fast.backward(np.ones(delta_shape))
    assert (backward.taken, backward.declined) == (0, 1)


def test_lstm_bad_dc_next_is_declined_and_explained(compiled_backend):
    fast, _ = _pair(True, np.float64, compiled_backend, kind="LSTMCell")
    _, backward = _count(fast)
    fast.forward(np.ones((3, D)), (np.ones((3, H)), np.ones((3, H))))
    with pytest.raises(ValueError, match=r"dc_next must have shape"):
        fast.backward(np.ones((3, H)), np.ones((2, H)))
    assert (backward.taken, backward.declined) == (0, 1)


@pytest.mark.parametrize("kind", list(CELLS))
def test_byte_swapped_gradient_is_declined(kind, compiled_backend):
    fast, _ = _pair(False, np.float64, compiled_backend, kind=kind)
    _, backward = _count(fast)
    _forward(fast, np.ones((2, D)), np.ones((2, H)))
    name = "delta" if kind == "GRU_Cell" else "dh_next"
    with pytest.raises(TypeError, match=rf"{name} must have dtype float64, got >f8"):
        fast.backward(np.ones((2, H), dtype=">f8"))
    assert (backward.taken, backward.declined) == (0, 1)
