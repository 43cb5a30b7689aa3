"""Finite differences in float64 for every sequence layer and every backend.

Central differences (as ``scipy.optimize.check_grad``) of the scalar loss
L = sum(output * g_out) + sum(h_n * g_h) [+ sum(c_n * g_c)] with respect to
every parameter, x and h0 (and c0), against ``backward``:
||numeric - analytic|| / ||analytic|| <= 1e-7. One small configuration per
family with everything that makes the driver work: two layers, both
directions, batch_first, and lengths that include 1 and T.
"""

from __future__ import annotations

import numpy as np
import pytest

from _fd import numeric_gradient, relative_error
from _layers import KINDS, Config, draw, loss, make_layer, run

MAX_RELATIVE_ERROR = 1e-7

CASES = [(kind, True) for kind in KINDS] + [("gru_seed", False), ("gru", False)]


@pytest.mark.parametrize("kind, bias", CASES,
                         ids=[f"{k}-{'bias' if b else 'nobias'}" for k, b in CASES])
def test_layer_gradients_match_finite_differences(kind, bias, backend):
    cfg = Config(kind, num_layers=2, bidirectional=True, batch_first=True, bias=bias, batch=3,
                 T=4, input_size=2, hidden_size=3, lengths=(4, 1, 2))
    layer = make_layer(cfg, backend=backend, seed=13)
    # scale weights up so every gate is well away from linear
    layer.load_state_dict({k: 2 * v for k, v in layer.state_dict().items()})
    data = draw(np.random.default_rng(14), cfg)
    analytic = run(layer, data)
    layer.eval()  # forward only from here: no cache piles up

    def f():
        return loss(layer, data)

    checked = []
    for name, param in layer.parameters().items():
        err = relative_error(numeric_gradient(f, param), analytic["d" + name])
        assert err <= MAX_RELATIVE_ERROR, f"d{name}: relative error {err:.2e}"
        checked.append(name)
    for name in ("x", "h0", "c0"):
        if data.get(name) is not None:
            err = relative_error(numeric_gradient(f, data[name]), analytic["d" + name])
            assert err <= MAX_RELATIVE_ERROR, f"d{name}: relative error {err:.2e}"
            checked.append(name)
    assert len(checked) == len(layer.parameters()) + (3 if kind == "lstm" else 2)
