"""Saturated gates: pre-activations of magnitude ~1000 (> 700, where exp overflows
float64; float32 overflows past ~88) give no warning and finite, correct numbers.

pyproject's pytest config turns RuntimeWarning into an error; the test also
escalates every warning itself, so it holds under any config.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from _cells import KINDS, backward, draw, forward, make_cell, param_grads
from _torch_reference import reference
from conftest import assert_close

MAGNITUDE = 1000.0


def _saturating_params(cell, rng):
    """Input weights of +-1 and an input of +-1000 put every pre-activation at ~+-1000."""
    params = {}
    for name, p in cell.parameters().items():
        if name in ("weight_ih", "Wzx", "Wrx", "Wx"):
            params[name] = rng.choice([-1.0, 1.0], size=p.shape).astype(cell.dtype)
        else:
            params[name] = (0.1 * rng.uniform(-1, 1, p.shape)).astype(cell.dtype)
    return params


@pytest.mark.parametrize("kind", KINDS)
def test_saturated_gates_are_finite_and_silent(kind, dtype, tol, backend):
    rng = np.random.default_rng(0)
    cell = make_cell(kind, 1, 4, backend=backend, dtype=dtype)
    cell.load_state_dict(_saturating_params(cell, rng))
    data = draw(rng, kind, cell, 2)
    data["x"] = np.array([[MAGNITUDE], [-MAGNITUDE]], dtype=dtype)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = forward(cell, kind, data)
        ours.update(backward(cell, kind, data))
    ours.update(param_grads(cell))

    expected = reference(kind, cell.state_dict(), data)
    for key, value in expected.items():
        assert np.isfinite(ours[key]).all(), f"{key} is not finite: {ours[key]}"
        assert_close(ours[key], value, tol, name=key)


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["plus", "minus"])
def test_sigmoid_rnn_saturates_to_exact_limits(sign, dtype, backend):
    """sigmoid(+-1000) is exactly 1 or 0 in floating point: no NaN from inf/inf."""
    cell = make_cell("rnn_sigmoid", 1, 3, bias=False, backend=backend, dtype=dtype)
    cell.load_state_dict({
        "weight_ih": np.ones((3, 1), dtype=dtype),
        "weight_hh": np.zeros((3, 3), dtype=dtype),
    })
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = cell.forward(np.array([sign * MAGNITUDE], dtype=dtype), np.zeros(3, dtype=dtype))
        dx, dh = cell.backward(np.ones(3, dtype=dtype))
    np.testing.assert_array_equal(out, np.full(3, 1.0 if sign > 0 else 0.0, dtype=dtype))
    np.testing.assert_array_equal(dx, np.zeros(1, dtype=dtype))
    np.testing.assert_array_equal(dh, np.zeros(3, dtype=dtype))
