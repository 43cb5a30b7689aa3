"""GRU_Cell's one-call fast path (Cython backend, csrc/gru.pyx).

The fast step takes only arrays that are already exactly right and declines
everything else, which then goes through the validating path. These tests
check both halves: exact arrays really take the fast path and give the same
bits as the validating path, and every other input is declined, so that it
still converts or fails with the validating path's message.
"""

from __future__ import annotations

import numpy as np
import pytest

import bptt

pytestmark = pytest.mark.skipif("cython" not in bptt.backends(), reason="needs the Cython backend")

D, H = 3, 5


def _pair(bias, dtype, seed=0):
    """Two identical cells, the second with its fast path switched off."""
    fast = bptt.GRU_Cell(D, H, bias=bias, backend="cython", dtype=dtype, seed=seed)
    slow = bptt.GRU_Cell(D, H, bias=bias, backend="cython", dtype=dtype, seed=seed)
    slow._fast_forward = slow._fast_backward = None
    return fast, slow


class _Counter:
    """Wraps a fast-path function and counts the calls it did not decline."""

    def __init__(self, fn):
        self.fn, self.taken, self.declined = fn, 0, 0

    def __call__(self, *args):
        out = self.fn(*args)
        if out is None:
            self.declined += 1
        else:
            self.taken += 1
        return out


def _count(cell):
    cell._fast_forward = _Counter(cell._fast_forward)
    cell._fast_backward = _Counter(cell._fast_backward)
    return cell._fast_forward, cell._fast_backward


@pytest.mark.parametrize("batch", [None, 1, 4], ids=["unbatched", "B1", "B4"])
@pytest.mark.parametrize("bias", [False, True])
def test_fast_path_is_taken_and_bit_identical(batch, bias, dtype):
    fast, slow = _pair(bias, dtype)
    forward, backward = _count(fast)
    rng = np.random.default_rng(1)
    lead = () if batch is None else (batch,)
    x = rng.standard_normal(lead + (D,)).astype(dtype)
    h = rng.standard_normal(lead + (H,)).astype(dtype)
    delta = rng.standard_normal((1, H) if batch is None else (batch, H)).astype(dtype)
    for _ in range(2):  # twice: gradients accumulate the same way
        h_fast, h_slow = fast.forward(x, h), slow.forward(x, h)
        assert h_fast.shape == h_slow.shape == h.shape and h_fast.dtype == dtype
        np.testing.assert_array_equal(h_fast, h_slow)
        for got, want in zip(fast.backward(delta), slow.backward(delta), strict=True):
            assert got.shape == want.shape and got.dtype == dtype
            np.testing.assert_array_equal(got, want)
    assert (forward.taken, backward.taken) == (2, 2)
    for name in fast.grads:
        np.testing.assert_array_equal(fast.grads[name], slow.grads[name], err_msg=name)
        assert np.any(fast.grads[name] != 0), name


def test_unbatched_delta_may_be_flat():
    fast, slow = _pair(True, np.float64)
    _, backward = _count(fast)
    x, h = np.ones(D), np.full(H, 0.5)
    fast.forward(x, h)
    slow.forward(x, h)
    for got, want in zip(fast.backward(np.ones(H)), slow.backward(np.ones(H)), strict=True):
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    assert backward.taken == 1


def test_readonly_inputs_take_the_fast_path():
    """The kernel only reads x and h, so read-only arrays are fine as they are."""
    fast, slow = _pair(False, np.float64)
    forward, _ = _count(fast)
    x, h = np.arange(D, dtype=np.float64), np.linspace(-1, 1, H)
    x.flags.writeable = h.flags.writeable = False
    np.testing.assert_array_equal(fast.forward(x, h), slow.forward(x, h))
    assert forward.taken == 1


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
    ],
    ids=["strided-x", "strided-h", "list-x", "ranks-differ", "float32-x", "short-x"],
)
def test_everything_else_is_declined(make_x, make_h):
    fast, slow = _pair(True, np.float64)
    forward, _ = _count(fast)
    rng = np.random.default_rng(2)
    x, h = rng.standard_normal(D), rng.standard_normal(H)
    x2, h2 = make_x(x), make_h(h)
    try:
        want = slow.forward(x2, h2)
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc), match=str(exc).replace("(", r"\(").replace(")", r"\)")):
            fast.forward(x2, h2)
    else:
        np.testing.assert_array_equal(fast.forward(x2, h2), want)
    assert (forward.taken, forward.declined) == (0, 1)


@pytest.mark.parametrize(
    "batch, delta_shape",
    [(None, (2, H)), (None, (H + 1,)), (3, (H,)), (3, (1, H)), (3, (2, H))],
    ids=["unbatched-2rows", "unbatched-long", "batched-flat", "batched-1row", "batched-2rows"],
)
def test_bad_delta_is_declined_and_explained(batch, delta_shape):
    fast, _ = _pair(False, np.float64)
    _, backward = _count(fast)
    lead = () if batch is None else (batch,)
    fast.forward(np.ones(lead + (D,)), np.ones(lead + (H,)))
    with pytest.raises(ValueError, match=r"delta must have shape"):
        fast.backward(np.ones(delta_shape))
    assert (backward.taken, backward.declined) == (0, 1)
