"""Finite differences in float64 for every cell and every backend.

Central differences (as ``scipy.optimize.check_grad``) of the scalar loss
L = sum(h' * G) [+ sum(c' * G_c)] with respect to every parameter, x, h (and
c), against the analytic gradient from ``backward``:
||numeric - analytic|| / ||analytic|| <= 1e-7.
"""

from __future__ import annotations

import numpy as np
import pytest

from _cells import draw, loss, make_cell, run
from _fd import numeric_gradient, relative_error

CASES = [
    ("gru_seed", False),
    ("gru_seed", True),
    ("gru", True),
    ("gru", False),
    ("rnn_tanh", True),
    ("rnn_relu", True),
    ("rnn_sigmoid", True),
    ("lstm", True),
]
MAX_RELATIVE_ERROR = 1e-7


@pytest.mark.parametrize("batch", [None, 3], ids=["unbatched", "batched"])
@pytest.mark.parametrize("kind, bias", CASES, ids=[f"{k}-{'bias' if b else 'nobias'}"
                                                   for k, b in CASES])
def test_gradients_match_finite_differences(kind, bias, batch, backend):
    I, H = 3, 4
    cell = make_cell(kind, I, H, bias=bias, backend=backend, seed=11)
    # scale weights up so every gate is well away from linear
    cell.load_state_dict({k: 2 * v for k, v in cell.state_dict().items()})
    data = draw(np.random.default_rng(12), kind, cell, batch)
    analytic = run(cell, kind, data)

    def f():
        return loss(cell, kind, data)

    checked = []
    for name, param in cell.parameters().items():
        err = relative_error(numeric_gradient(f, param), analytic["d" + name])
        assert err <= MAX_RELATIVE_ERROR, f"d{name}: relative error {err:.2e}"
        checked.append(name)
    for name in ("x", "h", "c"):
        if name in data:
            err = relative_error(numeric_gradient(f, data[name]), analytic["d" + name])
            assert err <= MAX_RELATIVE_ERROR, f"d{name}: relative error {err:.2e}"
            checked.append(name)
    assert len(checked) == len(cell.parameters()) + (3 if kind == "lstm" else 2)
