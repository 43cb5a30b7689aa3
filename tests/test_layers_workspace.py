"""Layers reuse their internal arrays (forward's cache, the copy of x) across
calls. Reuse must be invisible: every call gives the numbers a fresh layer
gives, whatever came before it, and nothing the caller holds is overwritten.
"""

from __future__ import annotations

import numpy as np
import pytest

import bptt

KINDS = {
    "gru": lambda **kw: bptt.GRU(3, 4, num_layers=2, bidirectional=True, **kw),
    "gru_seed": lambda **kw: bptt.GRU(3, 4, num_layers=2, variant="seed", **kw),
    "rnn": lambda **kw: bptt.RNN(3, 4, num_layers=2, bidirectional=True, **kw),
    "lstm": lambda **kw: bptt.LSTM(3, 4, num_layers=2, bidirectional=True, **kw),
}


def _data(seed, T=5, B=2):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((T, B, 3)), rng.standard_normal((T, B, 8))


def _d_output(layer, d):
    return d if layer.bidirectional else d[..., :4]


def _alone(kind, backend, x, d):
    """Forward, backward and gradients of one call on a fresh layer."""
    layer = KINDS[kind](backend=backend, seed=0)
    output, _ = layer.forward(x)
    dx = layer.backward(_d_output(layer, d))[0]
    return output, dx, {k: v.copy() for k, v in layer.grads.items()}


@pytest.fixture
def pool_everything(monkeypatch):
    """Pool arrays of every size: these tests' arrays are small, which the
    pool otherwise leaves to malloc."""
    monkeypatch.setattr(bptt.layers._Pool, "MIN_BYTES", 0)


@pytest.mark.parametrize("kind", list(KINDS))
def test_interleaved_calls_match_fresh_layers(kind, backend, pool_everything):
    layer = KINDS[kind](backend=backend, seed=0)
    (xa, da), (xb, db), (xc, dc) = _data(1), _data(2), _data(3, T=7)
    layer.eval()
    out_b, _ = layer.forward(xb)             # eval: its arrays go straight back
    layer.train()
    out_a, _ = layer.forward(xa)
    out_c, _ = layer.forward(xc)             # a different T: other shapes
    held = [a.copy() for a in (out_b, out_a, out_c)]
    dx_c = layer.backward(_d_output(layer, dc))[0]
    grads_c = {k: v.copy() for k, v in layer.grads.items()}
    layer.zero_grad()
    out_d, _ = layer.forward(xb)             # reuses what backward c handed back
    dx_d = layer.backward(_d_output(layer, db))[0]
    grads_d = {k: v.copy() for k, v in layer.grads.items()}
    layer.zero_grad()
    dx_a = layer.backward(_d_output(layer, da))[0]   # the oldest cache, still intact

    for got, want in zip((out_b, out_a, out_c), held, strict=True):
        np.testing.assert_array_equal(got, want)   # nothing the caller holds was reused
    np.testing.assert_array_equal(out_d, out_b)
    for x, d, out, dx, grads in ((xa, da, out_a, dx_a, layer.grads),
                                 (xc, dc, out_c, dx_c, grads_c),
                                 (xb, db, out_d, dx_d, grads_d)):
        want_out, want_dx, want_grads = _alone(kind, backend, x, d)
        np.testing.assert_array_equal(out, want_out)
        np.testing.assert_array_equal(dx, want_dx)
        for name, value in want_grads.items():
            np.testing.assert_array_equal(grads[name], value, err_msg=name)


def test_pool_is_bounded(pool_everything):
    layer = bptt.RNN(2, 3, backend="numpy", seed=0)
    for T in range(1, 40):
        x = np.ones((T, 1, 2))
        layer.forward(x)
        layer.backward(np.ones((T, 1, 3)))
    free = layer._pool._free
    assert len(free) <= layer._pool.SHAPES
    assert all(len(arrays) <= layer._pool.PER_SHAPE for arrays in free.values())


def test_pool_keeps_large_arrays_only():
    # float64, T = 100, B = 8, hidden 64: the LSTM's gates (100, 8, 320) are
    # 2 MB and its states (101, 8, 64) 414 KB; at hidden 4 nothing reaches
    # the pool's 128 KiB
    big = bptt.LSTM(3, 64, backend="numpy", seed=0)
    small = bptt.LSTM(3, 4, backend="numpy", seed=0)
    x = np.ones((100, 8, 3))
    for layer in (big, small):
        layer.forward(x)
        layer.backward(np.ones((100, 8, layer.hidden_size)))
    assert sorted(big._pool._free) == [(100, 8, 320), (101, 8, 64)]
    assert len(big._pool._free[101, 8, 64]) == 2    # h and c
    assert small._pool._free == {}
    kept = big._pool._free[100, 8, 320][0]
    big.forward(x)
    assert big._caches[-1].layers[0].directions[0].gates is kept   # taken again
