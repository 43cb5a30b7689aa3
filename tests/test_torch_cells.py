"""GRUCell, RNNCell and LSTMCell against torch.nn cells with the same weights.

The torch cell is built with torch's own init and copied into the bptt cell
with ``cell.load_state_dict(torch_cell.state_dict())`` (torch tensors in).
The loss is L = sum(h' * G) [+ sum(c' * G_c)] with random G, so every output
element carries a different weight; the forward output, dL/dx, dL/dh (dL/dc)
and the gradient of every parameter, by name, must match torch autograd.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _cells import TORCH_KINDS, draw, make_cell, run
from _torch_reference import make_torch_cell, sigmoid_rnn_reference, torch_cell_reference
from conftest import assert_close

SIZES = [(1, 1), (1, 4), (3, 1), (5, 7)]  # (input_size, hidden_size)
BATCHES = [None, 5]  # None: unbatched 1-D input


@pytest.mark.parametrize("batch", BATCHES, ids=["unbatched", "batched"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("sizes", SIZES, ids=[f"I{i}H{h}" for i, h in SIZES])
@pytest.mark.parametrize("kind", TORCH_KINDS)
def test_matches_torch(kind, sizes, bias, batch, dtype, tol, backend):
    I, H = sizes
    torch.manual_seed(1000 * I + H)
    torch_cell = make_torch_cell(kind, I, H, bias, dtype)
    cell = make_cell(kind, I, H, bias=bias, backend=backend, dtype=dtype, seed=7)
    cell.load_state_dict(torch_cell.state_dict())
    for name, p in torch_cell.named_parameters():
        np.testing.assert_array_equal(cell.parameters()[name], p.detach().numpy())

    data = draw(np.random.default_rng(I * 100 + H), kind, cell, batch)
    ours = run(cell, kind, data)
    expected = torch_cell_reference(torch_cell, kind, data)

    assert sorted(ours) == sorted(expected)
    for key, value in expected.items():
        assert ours[key].dtype == dtype, f"{key} has dtype {ours[key].dtype}, expected {dtype}"
        assert_close(ours[key], value, tol, name=key)


@pytest.mark.parametrize("batch", BATCHES, ids=["unbatched", "batched"])
def test_lstm_without_dc_next_is_zero_dc_next(batch, backend):
    """backward(dh_next) with dc_next omitted means dc_next = 0."""
    torch.manual_seed(3)
    torch_cell = make_torch_cell("lstm", 3, 4, True, np.float64)
    cell = make_cell("lstm", 3, 4, backend=backend)
    cell.load_state_dict(torch_cell.state_dict())
    data = draw(np.random.default_rng(3), "lstm", cell, batch)
    data["g_c"] = np.zeros_like(data["g_c"])
    expected = torch_cell_reference(torch_cell, "lstm", data)

    cell.forward(data["x"], (data["h"], data["c"]))
    dx, (dh, dc) = cell.backward(data["g_h"])
    assert_close(dx, expected["dx"], 1e-12, "dx")
    assert_close(dh, expected["dh"], 1e-12, "dh")
    assert_close(dc, expected["dc"], 1e-12, "dc")
    assert_close(cell.grads["weight_hh"], expected["dweight_hh"], 1e-12, "dweight_hh")


@pytest.mark.parametrize("kind", TORCH_KINDS)
def test_omitted_state_means_zeros(kind, backend):
    """forward(x) without h (and c) equals torch with zero state."""
    torch.manual_seed(5)
    torch_cell = make_torch_cell(kind, 3, 4, True, np.float64)
    cell = make_cell(kind, 3, 4, backend=backend)
    cell.load_state_dict(torch_cell.state_dict())
    x = np.random.default_rng(5).standard_normal((2, 3))
    out = cell.forward(x)
    expected = torch_cell(torch.tensor(x))
    if kind == "lstm":
        for ours, theirs in zip(out, expected, strict=True):
            assert_close(ours, theirs.detach().numpy(), 1e-12)
    else:
        assert_close(out, expected.detach().numpy(), 1e-12)


@pytest.mark.parametrize("batch", BATCHES, ids=["unbatched", "batched"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("sizes", SIZES, ids=[f"I{i}H{h}" for i, h in SIZES])
def test_sigmoid_rnn_matches_torch_reference(sizes, bias, batch, dtype, tol, backend):
    """RNNCell(nonlinearity="sigmoid") against sigmoid(W_ih x + b_ih + W_hh h + b_hh) in torch."""
    I, H = sizes
    cell = make_cell("rnn_sigmoid", I, H, bias=bias, backend=backend, dtype=dtype, seed=I + 10 * H)
    # weights large enough that the sigmoid is well away from linear
    rng = np.random.default_rng(I + 10 * H)
    cell.load_state_dict({k: (2 * v).astype(dtype) for k, v in cell.state_dict().items()})
    data = draw(rng, "rnn_sigmoid", cell, batch)
    ours = run(cell, "rnn_sigmoid", data)
    expected = sigmoid_rnn_reference(cell.state_dict(), data)

    assert sorted(ours) == sorted(expected)
    for key, value in expected.items():
        assert ours[key].dtype == dtype
        assert_close(ours[key], value, tol, name=key)
