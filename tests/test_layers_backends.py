"""Every compiled backend's sequence kernels against the NumPy reference.

Same weights, same data; float64 within 1e-12 relative, float32 within the
conftest table. Two forward/backward rounds without ``zero_grad`` in between,
so a kernel that overwrites a gradient instead of adding into it fails; the
configurations exercise several layers, both directions and lengths.
"""

from __future__ import annotations

import numpy as np
import pytest

from _layers import KINDS, Config, assert_results_close, backward, draw, forward, make_layer
from conftest import TOLERANCE

CONFIGS = [
    Config("", num_layers=3, bidirectional=True, batch_first=True, batch=4, T=9,
           lengths=(9, 1, 5, 2), input_size=3, hidden_size=5),
    Config("", num_layers=2, bidirectional=True, batch=None, T=6, input_size=7, hidden_size=33),
    Config("", num_layers=1, bidirectional=False, bias=False, batch=1, T=1, input_size=1,
           hidden_size=1, h0=False, d_h_n=False),
]


def _two_rounds(layer, cfg, dtype):
    results = []
    for round_ in range(2):
        data = draw(np.random.default_rng(round_), cfg, dtype)
        out = forward(layer, data)
        out.update(backward(layer, data))
        results.append(out)
    results.append({"d" + k: v.copy() for k, v in layer.grads.items()})
    return results


@pytest.mark.parametrize("config", CONFIGS, ids=["L3-bi-lengths", "L2-bi-unbatched", "tiny"])
@pytest.mark.parametrize("kind", KINDS)
def test_backend_matches_numpy(kind, config, dtype, compiled_backend):
    cfg = config.with_(kind=kind)
    reference = make_layer(cfg, backend="numpy", dtype=dtype, seed=1)
    layer = make_layer(cfg, backend=compiled_backend, dtype=dtype, seed=2)
    assert layer.backend == compiled_backend
    layer.load_state_dict(reference.state_dict())
    expected = _two_rounds(reference, cfg, dtype)
    actual = _two_rounds(layer, cfg, dtype)
    tol = TOLERANCE[np.dtype(dtype)]  # 1e-12 in float64, forward and gradients alike
    labels = ("round 1", "round 2", "gradients accumulated over both rounds")
    for label, ours, theirs in zip(labels, actual, expected, strict=True):
        assert_results_close(ours, theirs, dtype, f"{cfg.id} {label}", tol, tol)
