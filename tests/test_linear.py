"""``bptt.Linear`` against ``torch.nn.Linear`` loaded with the same weights.

The loss is L = sum(y * G) for a fixed random G, so dL/dy = G: forward's
output, dx, dweight and dbias are compared with torch autograd, in float32
and float64 (tolerance table in conftest), for inputs of rank 1, 2 and 3,
with and without bias. Then gradient accumulation, ``zero_grad``, state dict
round trips with torch tensors, finite differences, and bad input.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bptt
from conftest import TOLERANCE, assert_close

IN, OUT = 4, 3
SHAPES = {"rank1": (IN,), "rank2": (5, IN), "rank3": (6, 2, IN)}
_TORCH = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def _pair(bias: bool, dtype, seed: int = 0):
    """A bptt Linear and a torch Linear holding the same weights."""
    ours = bptt.Linear(IN, OUT, bias=bias, dtype=dtype, seed=seed)
    theirs = torch.nn.Linear(IN, OUT, bias=bias, dtype=_TORCH[np.dtype(dtype)])
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return ours, theirs


def _torch_run(theirs, x, g):
    """y and (dx, grads) from torch autograd for L = sum(y * g)."""
    xt = torch.tensor(x, requires_grad=True)
    y = theirs(xt)
    (y * torch.from_numpy(g)).sum().backward()
    grads = {name: p.grad.numpy().copy() for name, p in theirs.named_parameters()}
    return y.detach().numpy(), xt.grad.numpy(), grads


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_forward_and_backward_match_torch(shape, bias, dtype, tol):
    rng = np.random.default_rng(1)
    ours, theirs = _pair(bias, dtype)
    x = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape[:-1] + (OUT,)).astype(dtype)

    y = ours.forward(x)
    dx = ours.backward(g)
    y_ref, dx_ref, grads_ref = _torch_run(theirs, x, g)

    assert y.dtype == dtype and dx.dtype == dtype
    assert_close(y, y_ref, tol, "y")
    assert_close(dx, dx_ref, tol, "dx")
    assert sorted(ours.grads) == sorted(grads_ref) == (["bias", "weight"] if bias else ["weight"])
    for name, ref in grads_ref.items():
        assert ours.grads[name].dtype == dtype
        assert_close(ours.grads[name], ref, tol, "d" + name)


def test_call_is_forward_and_accepts_lists_and_tensors():
    ours, _ = _pair(True, np.float64)
    x = np.arange(2.0 * IN).reshape(2, IN)
    expected = ours.forward(x)
    np.testing.assert_array_equal(ours(x), expected)
    np.testing.assert_array_equal(ours(x.tolist()), expected)
    np.testing.assert_array_equal(ours(torch.from_numpy(x)), expected)


def test_init_is_torch_uniform_bound():
    lin = bptt.Linear(25, 40, seed=3)
    bound = 1 / np.sqrt(25)
    for name, p in lin.parameters().items():
        assert np.abs(p).max() <= bound, name
        assert np.abs(p).max() > 0.8 * bound, name  # really uses the range
    np.testing.assert_array_equal(bptt.Linear(25, 40, seed=3).state_dict()["weight"],
                                  lin.state_dict()["weight"])
    assert repr(bptt.Linear(2, 3, bias=False, dtype=np.float32)) == (
        "Linear(2, 3, bias=False, dtype=float32)"
    )


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_gradients_accumulate_over_two_backward_calls(bias):
    rng = np.random.default_rng(2)
    ours, theirs = _pair(bias, np.float64)
    x1, x2 = rng.standard_normal((2, 3, IN))
    g1, g2 = rng.standard_normal((2, 3, OUT))

    ours.forward(x1)
    ours.backward(g1)
    ours.forward(x2)
    dx2 = ours.backward(g2)

    for x, g in ((x1, g1), (x2, g2)):  # torch accumulates .grad too
        _, dx_ref, grads_ref = _torch_run(theirs, x, g)
    assert_close(dx2, dx_ref, TOLERANCE[np.dtype(np.float64)], "dx")
    for name, ref in grads_ref.items():
        assert_close(ours.grads[name], ref, 1e-12, "d" + name)
    # and the sum is exactly what the two single passes give
    expected_dw = g1.T @ x1 + g2.T @ x2
    assert_close(ours.grads["weight"], expected_dw, 1e-12, "dweight")


def test_backward_twice_after_one_forward_doubles():
    ours, _ = _pair(True, np.float64)
    rng = np.random.default_rng(3)
    ours.forward(rng.standard_normal((3, IN)))
    g = rng.standard_normal((3, OUT))
    ours.backward(g)
    once = {k: v.copy() for k, v in ours.grads.items()}
    ours.backward(g)
    for name, value in ours.grads.items():
        np.testing.assert_array_equal(value, 2 * once[name])


def test_zero_grad_clears_and_keeps_the_arrays():
    ours, _ = _pair(True, np.float64)
    before = ours.grads
    rng = np.random.default_rng(4)
    ours.forward(rng.standard_normal((3, IN)))
    ours.backward(rng.standard_normal((3, OUT)))
    assert all(np.abs(g).sum() > 0 for g in ours.grads.values())
    ours.zero_grad()
    for name, g in ours.grads.items():
        assert g is before[name], f"{name}: zero_grad must clear in place"
        assert not g.any(), name
    # after clearing, a backward gives just its own gradient
    x = rng.standard_normal((3, IN))
    g_out = rng.standard_normal((3, OUT))
    ours.forward(x)
    ours.backward(g_out)
    assert_close(ours.grads["weight"], g_out.T @ x, 1e-12, "dweight")
    assert_close(ours.grads["bias"], g_out.sum(axis=0), 1e-12, "dbias")


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_state_dict_round_trip_with_torch(bias, dtype):
    ours = bptt.Linear(IN, OUT, bias=bias, dtype=dtype, seed=5)
    theirs = torch.nn.Linear(IN, OUT, bias=bias, dtype=_TORCH[dtype])
    params = ours.parameters()

    # torch -> bptt: tensors are accepted, copied into the live arrays
    ours.load_state_dict(theirs.state_dict())
    for name, tensor in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[name], tensor.numpy())
        assert ours.parameters()[name] is params[name], f"{name} must be updated in place"

    # bptt -> torch -> bptt (a fresh module) keeps every bit
    sd = ours.state_dict()
    assert set(sd) == set(theirs.state_dict())
    other = torch.nn.Linear(IN, OUT, bias=bias, dtype=_TORCH[dtype])
    other.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    fresh = bptt.Linear(IN, OUT, bias=bias, dtype=dtype, seed=6)
    fresh.load_state_dict(other.state_dict())
    for name, value in sd.items():
        assert value.dtype == dtype and value.shape == params[name].shape
        np.testing.assert_array_equal(fresh.state_dict()[name], value)

    # state_dict hands out copies
    sd["weight"][...] = 7
    assert not (ours.parameters()["weight"] == 7).any()


def test_load_state_dict_rejects_mismatches():
    ours = bptt.Linear(IN, OUT, seed=0)
    good = ours.state_dict()
    with pytest.raises(ValueError, match=r"missing \['bias'\], unexpected \[\]"):
        ours.load_state_dict({"weight": good["weight"]})
    with pytest.raises(ValueError, match=r"missing \[\], unexpected \['extra'\]"):
        ours.load_state_dict({**good, "extra": good["bias"]})
    with pytest.raises(ValueError, match=r"weight must have shape \(3, 4\), got \(4, 3\)"):
        ours.load_state_dict({**good, "weight": good["weight"].T.copy()})
    with pytest.raises(TypeError, match=r"weight must have dtype float32 or float64, got int64"):
        ours.load_state_dict({**good, "weight": torch.zeros(OUT, IN, dtype=torch.int64)})
    with pytest.raises(ValueError, match=r"bias must be finite"):
        ours.load_state_dict({**good, "bias": np.full(OUT, np.nan)})
    with pytest.raises(TypeError, match=r"state_dict must be a mapping, got list"):
        ours.load_state_dict([good["weight"]])
    # nothing was written by the failed loads
    for name, value in good.items():
        np.testing.assert_array_equal(ours.state_dict()[name], value)


@pytest.mark.parametrize("shape", [(IN,), (2, 3, IN)], ids=["rank1", "rank3"])
def test_finite_differences(shape):
    """Linear + softmax cross-entropy: every parameter and x, by bptt.gradcheck."""
    rng = np.random.default_rng(7)
    lin = bptt.Linear(IN, OUT, seed=8)
    x = rng.standard_normal(shape)
    targets = rng.integers(0, OUT, size=shape[:-1])

    def loss():
        return bptt.losses.softmax_cross_entropy(lin.forward(x), targets)[0]

    _, dlogits = bptt.losses.softmax_cross_entropy(lin.forward(x), targets)
    dx = lin.backward(dlogits)
    result = bptt.gradcheck(loss, {**lin.parameters(), "x": x}, {**lin.grads, "x": dx})
    assert set(result.errors) == {"weight", "bias", "x"}
    assert result.max_error < 1e-7, str(result)


# -- bad input ------------------------------------------------------------------


def test_wrong_last_dimension():
    lin = bptt.Linear(IN, OUT, seed=0)
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 4\), got \(2, 5\)"):
        lin.forward(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 4\), got \(\)"):
        lin.forward(np.float64(1.0).reshape(()))


def test_wrong_dtype():
    lin = bptt.Linear(IN, OUT, seed=0)
    with pytest.raises(TypeError, match=r"x must have dtype float64, got float32 "
                                        r"\(convert it .* or build the layer with dtype=float32"):
        lin.forward(np.zeros((2, IN), dtype=np.float32))
    with pytest.raises(TypeError, match=r"x must have dtype float64, got int64"):
        lin.forward(np.zeros((2, IN), dtype=np.int64))
    lin32 = bptt.Linear(IN, OUT, dtype=np.float32, seed=0)
    with pytest.raises(TypeError, match=r"x must have dtype float32, got float64"):
        lin32.forward(torch.zeros(2, IN, dtype=torch.float64))
    lin32.forward(np.zeros((2, IN), dtype=np.float32))
    with pytest.raises(TypeError, match=r"dy must have dtype float32, got float64"):
        lin32.backward(np.zeros((2, OUT)))


def test_backward_before_forward():
    lin = bptt.Linear(IN, OUT, seed=0)
    with pytest.raises(ValueError, match=r"Linear\.backward\(\) called before forward\(\)"):
        lin.backward(np.zeros(OUT))


def test_dy_of_the_wrong_shape():
    lin = bptt.Linear(IN, OUT, seed=0)
    lin.forward(np.zeros((2, IN)))
    with pytest.raises(ValueError, match=r"dy must have shape \(2, 3\) like forward's output, "
                                         r"got \(2, 4\)"):
        lin.backward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"dy must have shape \(2, 3\) .* got \(3,\)"):
        lin.backward(np.zeros(3))
    assert not lin.grads["weight"].any(), "a rejected backward must not touch the gradients"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"in_features": 0}, ValueError, r"in_features must be a positive int, got 0"),
        ({"out_features": 2.0}, TypeError, r"out_features must be a positive int, got float"),
        ({"bias": "yes"}, TypeError, r"bias must be a bool, got str 'yes'"),
        ({"dtype": np.int32}, TypeError, r"dtype must be float32 or float64, got int32"),
    ],
)
def test_bad_constructor_arguments(kwargs, error, match):
    args = {"in_features": IN, "out_features": OUT, **kwargs}
    with pytest.raises(error, match=match):
        bptt.Linear(**args)
