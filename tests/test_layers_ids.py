"""One-hot inputs given as their columns (``_forward_ids``): what CharModel
feeds its layer. ids (T, B) stand for x[t, b] = e_{ids[t, b]}; the first
layer's input projection is then a copy of W_ih's columns instead of a
product, and its weight gradient a sum of dL/d(gates) into those columns.

Against the same layer run on the one-hot x itself, on every backend and
family: the forward (training and eval) is the same bits, since every other
term of x W_ih^T is an exact 0; the backward's gradients are the same bits
except dL/dW_ih of the first layer, whose sums run in another order (close,
float64 to 1e-12).
"""

from __future__ import annotations

import numpy as np
import pytest

import bptt
from bptt.experiments.charmodel import CharModel
from conftest import TOLERANCE, assert_close, require_backend

V, H = 11, 8

LAYERS = {
    "gru": lambda **kw: bptt.GRU(V, H, **kw),
    "gru_seed": lambda **kw: bptt.GRU(V, H, variant="seed", **kw),
    "rnn_relu": lambda **kw: bptt.RNN(V, H, nonlinearity="relu", **kw),
    "lstm": lambda **kw: bptt.LSTM(V, H, **kw),
    "lstm_peephole": lambda **kw: bptt.LSTM(V, H, peepholes=True, **kw),
    "lstm_proj": lambda **kw: bptt.LSTM(V, H, proj_size=5, **kw),
    "layernorm_gru": lambda **kw: bptt.LayerNormGRU(V, H, **kw),
    "layernorm_lstm": lambda **kw: bptt.LayerNormLSTM(V, H, **kw),
}

# (T, B, num_layers, bidirectional): B = 1 takes Cython's one-row loops where
# a family has them; T B = 1200 takes the float32 panel projection in the dense
# run, and seq_infer several chunks
SHAPES = [(6, 3, 1, False), (9, 1, 1, False), (5, 4, 2, True), (60, 20, 1, False)]


def _names(layer):
    return [("h0", None), ("c0", None)][:len(layer._state_widths)]


def _d_names(layer):
    return [("d_h_n", None), ("d_c_n", None)][:len(layer._state_widths)]


def _run(layer, x=None, ids=None, d_output=None):
    """Training forward and backward (no dx), then an eval forward: the
    results, the gradients, the eval output."""
    layer.zero_grad()
    layer.train()
    if ids is not None:
        output, finals = layer._forward_ids(ids, _names(layer))
    else:
        output, finals = layer._forward(x, _names(layer), None)
    dx, d_states = layer._backward(d_output, _d_names(layer), want_dx=False)
    assert dx is None
    grads = {k: g.copy() for k, g in layer.grads.items()}
    layer.eval()
    if ids is not None:
        eval_output, eval_finals = layer._forward_ids(ids, _names(layer))
    else:
        eval_output, eval_finals = layer._forward(x, _names(layer), None)
    layer.train()
    return output, finals, d_states, grads, eval_output, eval_finals


def _compare(make, backend, dtype, T, B, num_layers, bidirectional, seed=0):
    kw = dict(num_layers=num_layers, bidirectional=bidirectional, backend=backend,
              dtype=dtype, seed=seed)
    dense, by_id = make(**kw), make(**kw)
    rng = np.random.default_rng(seed + 1)
    ids = rng.integers(0, V, (T, B))
    x = np.eye(V, dtype=dtype)[ids]
    d_output = rng.standard_normal((T, B, dense.directions * dense._state_widths[0]))
    d_output = d_output.astype(dtype)
    expected = _run(dense, x=x, d_output=d_output)
    actual = _run(by_id, ids=ids, d_output=d_output)
    out, finals, d_states, grads, eval_out, eval_finals = actual
    out0, finals0, d_states0, grads0, eval_out0, eval_finals0 = expected
    np.testing.assert_array_equal(out, out0)
    np.testing.assert_array_equal(eval_out, out0)
    np.testing.assert_array_equal(eval_out0, out0)
    for a, b in zip([*finals, *eval_finals, *d_states], [*finals0, *eval_finals0, *d_states0],
                    strict=True):
        np.testing.assert_array_equal(a, b)
    assert grads.keys() == grads0.keys()
    for name in grads:
        assert np.any(grads0[name] != 0), name
        if name.startswith("weight_ih_l0"):
            assert_close(grads[name], grads0[name], TOLERANCE[np.dtype(dtype)], name)
        else:
            np.testing.assert_array_equal(grads[name], grads0[name], err_msg=name)
    return by_id


# Every family on the NumPy and Cython backends; on Numba, whose ids path
# is the same driver code for every family (input_projection and
# input_backward, chosen by x's type), one family of each state count: each
# family would cost numba a compile of its three kernels for integer x, a
# minute of the suite's time in all
CASES = [(backend, kind) for backend in ("numpy", "cython") for kind in LAYERS]
CASES += [("numba", kind) for kind in ("gru_seed", "lstm")]


@pytest.mark.parametrize("shape", SHAPES, ids=["T6B3", "T9B1", "stacked-bidir", "T60B20"])
@pytest.mark.parametrize("backend_name, kind", CASES, ids=[f"{b}-{k}" for b, k in CASES])
def test_ids_give_the_one_hot_layers_numbers(backend_name, kind, shape, dtype):
    _compare(LAYERS[kind], require_backend(backend_name), dtype, *shape)


def test_ids_with_rows_split_across_threads(backend):
    bptt.set_num_threads(2)
    try:
        layer = _compare(LAYERS["gru"], backend, np.float64, 400, 16, 2, False)
        layer._forward_ids(np.zeros((400, 16), dtype=np.int64), _names(layer))
        assert layer._caches[-1].parts, "the call's rows were not split"
    finally:
        bptt.set_num_threads(None)


def test_ids_follow_batch_first(backend):
    # ids (B, T) for a batch_first layer, as its x (B, T, I) would be
    kw = dict(batch_first=True, backend=backend, dtype=np.float64, seed=2)
    dense, by_id = bptt.GRU(V, H, **kw), bptt.GRU(V, H, **kw)
    ids = np.random.default_rng(3).integers(0, V, (4, 7))            # B = 4, T = 7
    expected, h_n = dense.forward(np.eye(V)[ids])
    actual, finals = by_id._forward_ids(ids, _names(by_id))
    assert actual.shape == (4, 7, H)
    np.testing.assert_array_equal(actual, expected)
    np.testing.assert_array_equal(finals[0], h_n)


def test_the_weight_gradient_of_ids_is_a_sum_into_columns(backend):
    # dW_ih column c = the sum of dL/d(gi) over the rows whose id is c: a
    # column no id names gets nothing, and the sum is the one-hot product's
    # (float64, against the dense run)
    layer = _compare(LAYERS["rnn_relu"], backend, np.float64, 4, 2, 1, False, seed=3)
    layer.zero_grad()
    ids = np.array([[0, 3], [3, 3], [0, 5], [7, 3]])
    layer._forward_ids(ids, _names(layer))
    layer._backward(np.ones((4, 2, H)), _d_names(layer), want_dx=False)
    dW = layer.grads["weight_ih_l0"]
    unused = sorted(set(range(V)) - set(ids.ravel().tolist()))
    assert np.all(dW[:, unused] == 0)
    assert np.all(np.any(dW[:, [0, 3, 5, 7]] != 0, axis=0))


def test_the_pool_never_hands_out_ids(backend):
    # a cache's first input is the ids: handed back, they must not come out
    # of the float pool as a (T, B) float array (its shape is all it keys on)
    layer = LAYERS["gru"](backend=backend, dtype=np.float64)
    T, B = 200, 100                     # 160 KB of ids: above the pool's minimum
    ids = np.zeros((T, B), dtype=np.int64)
    for _ in range(2):
        layer._forward_ids(ids, _names(layer))
        layer._backward(np.ones((T, B, H)), _d_names(layer), want_dx=False)
    taken = layer._pool.take((T, B))
    assert taken.dtype == layer.dtype


@pytest.mark.parametrize("ids, message", [
    (np.zeros((3, 2), dtype=np.float64), "integer"),
    (np.zeros((3,), dtype=np.int64), r"\(T, B\)"),
    (np.zeros((0, 2), dtype=np.int64), "T, B >= 1"),
    (np.full((3, 2), V, dtype=np.int64), rf"0\.\.{V - 1}"),
    (np.full((3, 2), -1, dtype=np.int64), rf"0\.\.{V - 1}"),
])
def test_bad_ids_are_refused_before_any_kernel(ids, message):
    layer = LAYERS["lstm"]()
    with pytest.raises(ValueError, match=message):
        layer._forward_ids(ids, _names(layer))
    assert not layer._caches


@pytest.mark.parametrize("cell", ["gru", "rnn", "lstm"])
def test_char_model_is_the_one_hot_model(cell, backend):
    # CharModel feeds ids; the same layer on one-hot x, with the read-out and
    # loss written out here, gives the same loss and the same gradients
    model = CharModel("abcdefg", 6, cell, backend=backend, dtype=np.float64, seed=0)
    rng = np.random.default_rng(1)
    inputs, targets = rng.integers(0, 7, (5, 3)), rng.integers(0, 7, (5, 3))
    state = tuple(rng.standard_normal((1, 3, 6)) for _ in range(2 if cell == "lstm" else 1))
    model.zero_grad()
    loss, final = model.loss_and_grad(inputs, targets, state)
    grads = {k: g.copy() for k, g in model.grads.items()}

    model.zero_grad()
    layer = model.layer
    x = np.eye(7)[inputs]
    names = [("h0", state[0]), ("c0", state[-1])][:len(state)]
    output, finals = layer._forward(x, names, None)
    log_probs = bptt.losses.log_softmax(model.readout.forward(output))
    loss0, dlog_probs = bptt.losses.nll_loss(log_probs, targets, reduction="mean")
    d_output = model.readout.backward(bptt.losses.log_softmax_backward(dlog_probs, log_probs))
    layer._backward(d_output, [(n, None) for n in ("d_h_n", "d_c_n")[:len(state)]])

    assert loss == loss0
    for a, b in zip(final, finals, strict=True):
        np.testing.assert_array_equal(a, b)
    for name, g in model.grads.items():
        assert_close(grads[name], g, 1e-12, name)


def test_char_model_refuses_a_state_of_the_wrong_arity():
    model = CharModel("abc", 4, "lstm", seed=0)
    with pytest.raises(ValueError, match=r"tuple of 2 arrays \(h0, c0\)"):
        model.forward(np.zeros((2, 1), dtype=np.int64), (np.zeros((1, 1, 4)),))
