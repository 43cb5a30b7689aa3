"""Every compiled backend against the NumPy reference, on the same weights and data.

Two steps per test, each a forward and a backward, without ``zero_grad`` in
between: the parameter gradients compared at the end are the sum of both
steps, so a kernel that overwrites instead of adding (``=`` for ``+=``) fails.
"""

from __future__ import annotations

import numpy as np
import pytest

from _cells import KINDS, backward, draw, forward, make_cell, param_grads
from conftest import assert_close

SIZES = [(1, 1), (3, 4), (7, 33)]  # (input_size, hidden_size)


def _two_steps(cell, kind, steps):
    results = []
    for data in steps:
        out = forward(cell, kind, data)
        out.update(backward(cell, kind, data))
        results.append(out)
    results.append(param_grads(cell))
    return results


@pytest.mark.parametrize("batch", [None, 6], ids=["unbatched", "batched"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("sizes", SIZES, ids=[f"I{i}H{h}" for i, h in SIZES])
@pytest.mark.parametrize("kind", KINDS)
def test_backend_matches_numpy(kind, sizes, bias, batch, dtype, tol, compiled_backend):
    I, H = sizes
    reference = make_cell(kind, I, H, bias=bias, backend="numpy", dtype=dtype, seed=I + H)
    cell = make_cell(kind, I, H, bias=bias, backend=compiled_backend, dtype=dtype, seed=99)
    assert cell.backend == compiled_backend
    cell.load_state_dict(reference.state_dict())
    rng = np.random.default_rng(I * H)
    steps = [draw(rng, kind, reference, batch) for _ in range(2)]

    expected = _two_steps(reference, kind, steps)
    actual = _two_steps(cell, kind, steps)
    labels = ("step 1", "step 2", "gradients accumulated over both steps")
    for label, ours, theirs in zip(labels, actual, expected, strict=True):
        assert sorted(ours) == sorted(theirs)
        for key in theirs:
            assert ours[key].dtype == dtype, f"{label}: {key} has dtype {ours[key].dtype}"
            assert_close(ours[key], theirs[key], tol, name=f"{label}: {key}")
