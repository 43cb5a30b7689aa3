"""GRU_Cell: the seed 000 / 001 homework interface and equations.

The reference is the seed formulation written from basic torch ops in
``_torch_reference.seed_gru_cell`` (reset BEFORE the product with W_h, z
weighting the candidate), differentiated by torch autograd: not
torch.nn.GRUCell, whose equations differ.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bptt
from _torch_reference import seed_gru_cell, seed_gru_reference
from conftest import assert_close

WEIGHTS = ("Wzh", "Wrh", "Wh", "Wzx", "Wrx", "Wx")
BIASES = ("bz", "br", "bh")
SIZES = [(1, 1), (1, 4), (3, 1), (5, 7)]  # (d, h)


def _weights(rng, d, h, bias, dtype, scale=1.0):
    """The homework's arrays: Wzh, Wrh, Wh (h, h); Wzx, Wrx, Wx (h, d); bz, br, bh (h,)."""
    shapes = {"Wzh": (h, h), "Wrh": (h, h), "Wh": (h, h), "Wzx": (h, d), "Wrx": (h, d),
              "Wx": (h, d)}
    if bias:
        shapes.update({"bz": (h,), "br": (h,), "bh": (h,)})
    return {k: (scale * rng.uniform(-1, 1, s)).astype(dtype) for k, s in shapes.items()}


def _cell(d, h, bias, backend, dtype, weights):
    cell = bptt.GRU_Cell(d, h, bias=bias, backend=backend, dtype=dtype, seed=0)
    cell.init_weights(*(weights[k] for k in WEIGHTS + (BIASES if bias else ())))
    return cell


def _data(rng, d, h, batch, dtype, delta_shape=None):
    lead = () if batch is None else (batch,)
    return {
        "x": rng.standard_normal(lead + (d,)).astype(dtype),
        "h": rng.uniform(-1, 1, lead + (h,)).astype(dtype),
        "g_h": rng.standard_normal(delta_shape or lead + (h,)).astype(dtype),
    }


@pytest.mark.parametrize(
    "batch, delta_shape",
    [(None, "row"), (None, "flat"), (1, None), (6, None)],
    ids=["1d-delta(1,h)", "1d-delta(h,)", "batch1", "batch6"],
)
@pytest.mark.parametrize("bias", [False, True], ids=["seed000-nobias", "seed001-bias"])
@pytest.mark.parametrize("sizes", SIZES, ids=[f"d{d}h{h}" for d, h in SIZES])
def test_matches_torch_seed_equations(sizes, bias, batch, delta_shape, dtype, tol, backend):
    d, h = sizes
    rng = np.random.default_rng(10 * d + h + bias)
    weights = _weights(rng, d, h, bias, dtype)
    cell = _cell(d, h, bias, backend, dtype, weights)
    shape = {"row": (1, h), "flat": (h,), None: None}[delta_shape]
    data = _data(rng, d, h, batch, dtype, shape)

    h_t = cell.forward(data["x"], data["h"])
    dx, dh = cell.backward(data["g_h"])
    expected = seed_gru_reference(weights, data)

    # the homework's shapes, exactly
    if batch is None:
        assert h_t.shape == (h,)
        assert dx.shape == (1, d)
        assert dh.shape == (1, h)
    else:
        assert h_t.shape == (batch, h)
        assert dx.shape == (batch, d)
        assert dh.shape == (batch, h)
    for value in (h_t, dx, dh):
        assert value.dtype == dtype

    assert_close(h_t, expected["h_next"], tol, "h_t")
    assert_close(dx, expected["dx"].reshape(dx.shape), tol, "dx")
    assert_close(dh, expected["dh"].reshape(dh.shape), tol, "dh")
    for name in weights:
        grad = getattr(cell, "d" + name)
        assert grad.shape == weights[name].shape
        assert grad.dtype == dtype
        assert_close(grad, expected["d" + name], tol, "d" + name)
        np.testing.assert_array_equal(cell.grads[name], grad)


@pytest.mark.parametrize("bias", [False, True], ids=["nobias", "bias"])
def test_weights_are_stored_by_name(bias, backend):
    """init_weights puts each array where its name says; the attributes read them back."""
    rng = np.random.default_rng(1)
    weights = _weights(rng, 3, 4, bias, np.float64)
    cell = _cell(3, 4, bias, backend, np.float64, weights)
    for name, value in weights.items():
        np.testing.assert_array_equal(getattr(cell, name), value)
        np.testing.assert_array_equal(cell.parameters()[name], value)
    assert sorted(cell.parameters()) == sorted(weights)
    # copied, not aliased
    weights["Wzh"][0, 0] += 1
    assert cell.Wzh[0, 0] != weights["Wzh"][0, 0]


def test_biases_default_to_zero_and_bias_free_cell_has_none(backend):
    rng = np.random.default_rng(2)
    w = _weights(rng, 2, 3, False, np.float64)
    with_bias = bptt.GRU_Cell(2, 3, bias=True, backend=backend, seed=0)
    with_bias.init_weights(*(w[k] for k in WEIGHTS))
    for name in BIASES:
        np.testing.assert_array_equal(getattr(with_bias, name), np.zeros(3))
    without = _cell(2, 3, False, backend, np.float64, w)
    x, h = rng.standard_normal(2), rng.standard_normal(3)
    assert_close(with_bias.forward(x, h), without.forward(x, h), 1e-15)
    with pytest.raises(AttributeError, match="bias=False"):
        _ = without.bz
    with pytest.raises(AttributeError, match="bias=False"):
        _ = without.dbz


@pytest.mark.parametrize("bias", [False, True], ids=["nobias", "bias"])
def test_gradients_accumulate_until_zero_grad(bias, backend, dtype, tol):
    d, h = 3, 4
    rng = np.random.default_rng(3)
    weights = _weights(rng, d, h, bias, dtype)
    cell = _cell(d, h, bias, backend, dtype, weights)
    first = _data(rng, d, h, None, dtype, (1, h))
    second = _data(rng, d, h, None, dtype, (1, h))
    ref1 = seed_gru_reference(weights, first)
    ref2 = seed_gru_reference(weights, second)

    for data in (first, second):
        cell.forward(data["x"], data["h"])
        cell.backward(data["g_h"])
    for name in weights:
        assert_close(getattr(cell, "d" + name), ref1["d" + name] + ref2["d" + name], tol,
                     "d" + name)

    cell.zero_grad()
    for name in weights:
        assert not getattr(cell, "d" + name).any(), f"d{name} not cleared"

    # backward twice on the same forward adds the same gradient twice
    cell.forward(first["x"], first["h"])
    cell.backward(first["g_h"])
    cell.backward(first["g_h"])
    for name in weights:
        assert_close(getattr(cell, "d" + name), 2 * ref1["d" + name], tol, "d" + name)


@pytest.mark.parametrize("bias", [False, True], ids=["nobias", "bias"])
def test_batch_gradients_are_the_sum_over_rows(bias, backend):
    """A batch of B rows gives the weight gradients of B one-row steps, summed."""
    d, h, B = 3, 5, 4
    rng = np.random.default_rng(4)
    weights = _weights(rng, d, h, bias, np.float64)
    data = _data(rng, d, h, B, np.float64)

    batched = _cell(d, h, bias, backend, np.float64, weights)
    out = batched.forward(data["x"], data["h"])
    dx, dh = batched.backward(data["g_h"])

    rows = _cell(d, h, bias, backend, np.float64, weights)
    for b in range(B):
        assert_close(out[b], rows.forward(data["x"][b], data["h"][b]), 1e-12, "h_t")
        dx_b, dh_b = rows.backward(data["g_h"][b])
        assert_close(dx[b : b + 1], dx_b, 1e-12, "dx")
        assert_close(dh[b : b + 1], dh_b, 1e-12, "dh")
    for name in weights:
        assert_close(batched.grads[name], rows.grads[name], 1e-12, "d" + name)


def test_call_is_forward(backend):
    rng = np.random.default_rng(5)
    cell = bptt.GRU_Cell(2, 3, backend=backend, seed=5)
    x, h = rng.standard_normal(2), rng.standard_normal(3)
    np.testing.assert_array_equal(cell(x, h), cell.forward(x, h))


def test_seed_equations_are_not_torch_gru():
    """Guard on the reference itself: the seed cell is a different function from
    torch.nn.GRUCell on the same weights (so matching it means something)."""
    rng = np.random.default_rng(6)
    d, h = 3, 4
    w = {k: torch.tensor(v) for k, v in _weights(rng, d, h, False, np.float64).items()}
    x = torch.tensor(rng.standard_normal(d))
    hp = torch.tensor(rng.uniform(-1, 1, h))
    torch_cell = torch.nn.GRUCell(d, h, bias=False, dtype=torch.float64)
    torch_cell.load_state_dict({
        "weight_ih": torch.cat([w["Wrx"], w["Wzx"], w["Wx"]]),
        "weight_hh": torch.cat([w["Wrh"], w["Wzh"], w["Wh"]]),
    })
    ours = seed_gru_cell(x, hp, **w)
    theirs = torch_cell(x, hp).detach()
    assert float((ours - theirs).abs().max()) > 1e-3
