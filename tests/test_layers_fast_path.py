"""The layers' short path for the common case (``_simple_forward`` and
``_simple_backward`` in bptt.layers): one layer, one direction, time-major x
(batched or not) already kernel-ready, no lengths, initial states (and final
state gradients) absent or already kernel-ready, one thread.

Either half returns None to decline, and the call then goes the general way.
These tests check both halves, on every backend: the common case really
takes the short path and gives the same bits as the general path (itself
checked against torch here too), and everything else is declined, so that it
still converts or fails with the general path's message.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch

import bptt
from conftest import Counter

I, H = 3, 5

KINDS = {
    "RNN": lambda **kw: bptt.RNN(I, H, **kw),
    "RNN-relu": lambda **kw: bptt.RNN(I, H, nonlinearity="relu", **kw),
    "GRU": lambda **kw: bptt.GRU(I, H, **kw),
    "GRU-seed": lambda **kw: bptt.GRU(I, H, variant="seed", **kw),
    "LSTM": lambda **kw: bptt.LSTM(I, H, **kw),
    "LSTM-proj": lambda **kw: bptt.LSTM(I, H, proj_size=2, **kw),
    "LSTM-peephole-clip": lambda **kw: bptt.LSTM(I, H, peepholes=True, clip=0.7, **kw),
    "LayerNormGRU": lambda **kw: bptt.LayerNormGRU(I, H, **kw),
    "LayerNormLSTM": lambda **kw: bptt.LayerNormLSTM(I, H, **kw),
}


def _pair(kind, backend, dtype=np.float64, seed=0, **kw):
    """Two identical layers, the second with its short path switched off; the
    first's short-path calls counted."""
    fast = KINDS[kind](backend=backend, dtype=dtype, seed=seed, **kw)
    slow = KINDS[kind](backend=backend, dtype=dtype, seed=seed, **kw)
    slow._simple = False
    fast._simple_forward = Counter(fast._simple_forward)
    fast._simple_backward = Counter(fast._simple_backward)
    return fast, slow


def _is_lstm(layer) -> bool:
    return isinstance(layer, (bptt.LSTM, bptt.LayerNormLSTM))


def _flat(result):
    """(output, h_n) or (output, (h_n, c_n)) as a flat list."""
    first, rest = result
    return [first, *(rest if isinstance(rest, tuple) else (rest,))]


def _backward(layer, d_output, d_finals=None):
    d_finals = d_finals or ((None, None) if _is_lstm(layer) else (None,))
    return _flat(layer.backward(d_output, *d_finals))


def _assert_same(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def _assert_same_grads(fast, slow, nonzero=True):
    for name, value in slow.grads.items():
        np.testing.assert_array_equal(fast.grads[name], value, err_msg=name)
        if nonzero and "peephole" not in name:
            assert np.any(value != 0), name


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("B", [1, 4])
def test_short_path_is_taken_and_bit_identical(kind, B, dtype, backend):
    fast, slow = _pair(kind, backend, dtype)
    rng = np.random.default_rng(1)
    T = 7
    K = fast.proj_size or H
    for step in range(3):   # again and again: the pool's arrays come back
        x = rng.standard_normal((T + step, B, I)).astype(dtype)
        d = rng.standard_normal((T + step, B, K)).astype(dtype)
        _assert_same(_flat(fast.forward(x)), _flat(slow.forward(x)))
        _assert_same(_backward(fast, d), _backward(slow, d))
    # two forwards pending, consumed newest first
    xa, xb = (rng.standard_normal((T, B, I)).astype(dtype) for _ in range(2))
    _assert_same(_flat(fast.forward(xa)), _flat(slow.forward(xa)))
    _assert_same(_flat(fast.forward(xb)), _flat(slow.forward(xb)))
    xa[:] = xb[:] = np.nan   # the caches are copies: refilling x changes nothing
    for _ in range(2):
        d = rng.standard_normal((T, B, K)).astype(dtype)
        _assert_same(_backward(fast, d), _backward(slow, d))
    _assert_same_grads(fast, slow)
    fast.eval()
    slow.eval()
    _assert_same(_flat(fast.forward(x)), _flat(slow.forward(x)))
    assert not fast._caches
    assert (fast._simple_forward.taken, fast._simple_forward.declined) == (6, 0)
    assert (fast._simple_backward.taken, fast._simple_backward.declined) == (5, 0)


_TORCH = {"RNN": torch.nn.RNN, "GRU": torch.nn.GRU, "LSTM": torch.nn.LSTM}


@pytest.mark.parametrize("kind", list(_TORCH))
def test_short_path_matches_torch(kind, backend):
    fast, _ = _pair(kind, backend)
    torch.manual_seed(0)
    reference = _TORCH[kind](I, H).double()
    fast.load_state_dict(reference.state_dict())
    rng = np.random.default_rng(2)
    x, d = rng.standard_normal((6, 2, I)), rng.standard_normal((6, 2, H))
    output, finals = fast.forward(x)
    dx = _backward(fast, d)[0]
    xt = torch.tensor(x, requires_grad=True)
    out_t, finals_t = reference(xt)
    out_t.backward(torch.tensor(d))
    np.testing.assert_allclose(output, out_t.detach().numpy(), rtol=1e-12, atol=1e-12)
    h_n = finals[0] if kind == "LSTM" else finals
    h_n_t = finals_t[0] if kind == "LSTM" else finals_t
    np.testing.assert_allclose(h_n, h_n_t.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    for name, p in reference.named_parameters():
        np.testing.assert_allclose(fast.grads[name], p.grad.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=name)
    assert (fast._simple_forward.taken, fast._simple_backward.taken) == (1, 1)


def _strided(a):
    """The same values, not contiguous."""
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    wide[..., ::2] = a
    return wide[..., ::2]


def _read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


@pytest.mark.parametrize(
    "make_x",
    [
        _strided,
        _read_only,
        lambda x: x.tolist(),
        lambda x: _strided(x[:, 0]),            # unbatched (T, I), strided
        lambda x: x.astype(np.float32),         # another dtype: an error
        lambda x: x[..., :-1],                  # wrong size: an error
        lambda x: x[None],                      # 4-D: an error
        lambda x: x.astype(">f8"),              # swapped bytes: an error
        lambda x: x[:0],                        # no steps: an error
    ],
    ids=["strided", "read-only", "list", "unbatched-strided", "float32", "short", "4-D",
         "big-endian", "empty"],
)
@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
def test_other_x_is_declined(make_x, kind, backend):
    fast, slow = _pair(kind, backend)
    x = np.random.default_rng(3).standard_normal((5, 2, I))
    x2 = make_x(x)
    try:
        want = _flat(slow.forward(x2))
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc), match=re.escape(str(exc))):
            fast.forward(x2)
    else:
        _assert_same(_flat(fast.forward(x2)), want)
        d = np.ones(want[0].shape)
        _assert_same(_backward(fast, d), _backward(slow, d))
        # (a cache the general forward made may still be a common one, for either backward)
        _assert_same_grads(fast, slow)
    assert (fast._simple_forward.taken, fast._simple_forward.declined) == (0, 1)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "LSTM-proj"])
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
def test_states_carried_from_call_to_call_take_the_short_path(kind, batched, dtype, backend):
    """Streaming: each call starts from the last call's final states (and, in
    training, backward gets final state gradients), batched or not."""
    fast, slow = _pair(kind, backend, dtype)
    rng = np.random.default_rng(4)
    B = 3 if batched else 1
    K = fast.proj_size or H
    lstm = _is_lstm(fast)

    def draw(*shape):
        a = rng.standard_normal(shape).astype(dtype)
        return a if batched else a[:, 0]

    def states(result):
        return result[1] if lstm else (result[1],)

    fast_state = slow_state = None
    for T in (1, 1, 4):
        x = draw(T, B, I)
        got = fast.forward(x, fast_state)
        want = slow.forward(x, slow_state)
        _assert_same(_flat(got), _flat(want))
        fast_state, slow_state = got[1], want[1]
        d = draw(T, B, K)
        d_finals = (draw(1, B, K), draw(1, B, H)) if lstm else (draw(1, B, H),)
        _assert_same(_backward(fast, d, d_finals), _backward(slow, d, d_finals))
        if lstm:  # and with only one of the two given
            fast.forward(x, fast_state)
            slow.forward(x, slow_state)
            _assert_same(_backward(fast, d, (None, d_finals[1])),
                         _backward(slow, d, (None, d_finals[1])))
        assert all(a.shape == b.shape for a, b in zip(states(got), states(want), strict=True))
    _assert_same_grads(fast, slow)
    fast.eval()
    slow.eval()
    x = draw(2, B, I)
    _assert_same(_flat(fast.forward(x, fast_state)), _flat(slow.forward(x, slow_state)))
    calls = 3 * (2 if lstm else 1)
    assert (fast._simple_forward.taken, fast._simple_forward.declined) == (calls + 1, 0)
    assert (fast._simple_backward.taken, fast._simple_backward.declined) == (calls, 0)


def _as_list(a):
    return a.tolist()


@pytest.mark.parametrize(
    "make_state",
    [_strided, _read_only, _as_list, lambda a: a.astype(np.float32), lambda a: a[:, :2],
     lambda a: a[0]],
    ids=["strided", "read-only", "list", "float32", "wrong-batch", "2-D"],
)
@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
def test_lengths_and_other_states_are_declined(make_state, kind, backend):
    fast, slow = _pair(kind, backend)
    rng = np.random.default_rng(4)
    x, d = rng.standard_normal((6, 3, I)), rng.standard_normal((6, 3, H))
    h0 = make_state(rng.standard_normal((1, 3, H)))
    state = (h0, h0) if kind == "LSTM" else h0
    for args in ((None, [6, 2, 4]), (state, None)):
        try:
            want = _flat(slow.forward(x, *args))
        except (TypeError, ValueError) as exc:
            with pytest.raises(type(exc), match=re.escape(str(exc))):
                fast.forward(x, *args)
            continue
        _assert_same(_flat(fast.forward(x, *args)), want)
        _assert_same(_backward(fast, d), _backward(slow, d))
    _assert_same_grads(fast, slow)
    # with lengths the short forward is not even asked; other states it declines
    assert (fast._simple_forward.taken, fast._simple_forward.declined) == (0, 1)


@pytest.mark.parametrize(
    "make_d",
    [
        _strided,
        _read_only,
        lambda d: d.tolist(),
        lambda d: d.astype(np.float32),         # another dtype: an error
        lambda d: d[:-1],                       # wrong shape: an error
    ],
    ids=["strided", "read-only", "list", "float32", "short"],
)
@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
def test_other_d_output_is_declined(make_d, kind, backend):
    """A gradient the short backward declines goes back through what the short
    forward kept, or fails as it always did (and the cache waits)."""
    fast, slow = _pair(kind, backend)
    rng = np.random.default_rng(5)
    x, d = rng.standard_normal((5, 2, I)), rng.standard_normal((5, 2, H))
    _assert_same(_flat(fast.forward(x)), _flat(slow.forward(x)))
    d2 = make_d(d)
    try:
        want = _backward(slow, d2)
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc), match=re.escape(str(exc))):
            _backward(fast, d2)
        assert len(fast._caches) == len(slow._caches) == 1   # still there for a good one
        _assert_same(_backward(fast, d), _backward(slow, d))
    else:
        _assert_same(_backward(fast, d2), want)
    _assert_same_grads(fast, slow)
    assert fast._simple_forward.taken == 1
    assert fast._simple_backward.declined == 1


@pytest.mark.parametrize(
    "make_state",
    [_strided, _as_list, lambda a: a.astype(np.float32), lambda a: a[:, :1]],
    ids=["strided", "list", "float32", "wrong-batch"],
)
def test_other_final_state_gradients_are_declined(make_state, backend):
    fast, slow = _pair("LSTM", backend)
    rng = np.random.default_rng(6)
    x, d = rng.standard_normal((5, 2, I)), rng.standard_normal((5, 2, H))
    d_c_n = make_state(rng.standard_normal((1, 2, H)))
    for layer in (fast, slow):
        layer.forward(x)
    try:
        want = _backward(slow, d, (None, d_c_n))
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc), match=re.escape(str(exc))):
            _backward(fast, d, (None, d_c_n))
    else:
        _assert_same(_backward(fast, d, (None, d_c_n)), want)
        _assert_same_grads(fast, slow)
    assert (fast._simple_backward.taken, fast._simple_backward.declined) == (0, 1)


def test_work_for_threads_is_declined(backend):
    """Enough work for two threads: the rows are split, the general way."""
    bptt.set_num_threads(2)
    try:
        fast = bptt.GRU(32, 64, backend=backend, seed=0)
        slow = bptt.GRU(32, 64, backend=backend, seed=0)
        slow._simple = False
        fast._simple_forward = Counter(fast._simple_forward)
        rng = np.random.default_rng(7)
        x, d = rng.standard_normal((40, 16, 32)), rng.standard_normal((40, 16, 64))
        assert fast._threads_for(40, 16) == 2
        _assert_same(_flat(fast.forward(x)), _flat(slow.forward(x)))
        _assert_same(_backward(fast, d), _backward(slow, d))
        _assert_same_grads(fast, slow)
        assert (fast._simple_forward.taken, fast._simple_forward.declined) == (0, 1)
    finally:
        bptt.set_num_threads(None)


@pytest.mark.parametrize("options", [
    {"num_layers": 2}, {"bidirectional": True}, {"batch_first": True},
    {"num_layers": 2, "dropout": 0.5},
], ids=["layers", "bidirectional", "batch_first", "dropout"])
def test_other_layers_never_try_it(options):
    layer = bptt.LSTM(I, H, **options)
    assert not layer._simple
    assert bptt.LSTM(I, H)._simple


def test_forgotten_eval_warns_at_the_callers_line():
    layer = bptt.GRU(I, H)
    x = np.ones((4, 1, I))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(layer.max_pending + 1):
            layer.forward(x)
    assert [w.filename for w in caught] == [__file__]
    assert len(layer._caches) == layer.max_pending
