"""``bptt.gradcheck`` itself: it passes correct gradients, catches wrong ones,
samples with ``max_entries``, restores what it nudges, and rejects bad calls.

The function under check: L(W, x) = 1/2 ||tanh(W x)||^2 with
y = tanh(W x), dL/dW = outer(y (1 - y^2), x), dL/dx = W^T (y (1 - y^2)).
"""

from __future__ import annotations

import numpy as np
import pytest

import bptt


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    arrays = {"W": rng.standard_normal((3, 4)), "x": rng.standard_normal(4)}
    calls = []

    def loss():
        calls.append(1)
        y = np.tanh(arrays["W"] @ arrays["x"])
        return 0.5 * float(y @ y)

    y = np.tanh(arrays["W"] @ arrays["x"])
    da = y * (1 - y * y)
    analytic = {"W": np.outer(da, arrays["x"]), "x": arrays["W"].T @ da}
    return loss, arrays, analytic, calls


def test_correct_gradient_passes():
    loss, arrays, analytic, calls = _problem()
    before = {k: v.copy() for k, v in arrays.items()}
    result = bptt.gradcheck(loss, arrays, analytic)
    assert isinstance(result, bptt.GradcheckResult)
    assert set(result.errors) == {"W", "x"}
    assert result.checked == {"W": 12, "x": 4}
    assert len(calls) == 2 * (12 + 4)  # central differences: two evaluations per entry
    assert result.max_error < 1e-7, str(result)
    assert result.max_error == max(result.errors.values())
    assert result.passed() and result.passed(tolerance=1e-7)
    for name, value in before.items():  # every nudge was undone, bit for bit
        np.testing.assert_array_equal(arrays[name], value)


def test_gradient_scaled_by_one_percent_fails():
    loss, arrays, analytic, _ = _problem()
    result = bptt.gradcheck(loss, arrays, {**analytic, "W": 1.01 * analytic["W"]})
    assert result.errors["W"] == pytest.approx(0.01 / 1.01, rel=1e-4)
    assert result.errors["x"] < 1e-7
    assert result.max_error == result.errors["W"]
    assert not result.passed()
    assert result.passed(tolerance=0.1)


def test_one_wrong_entry_fails():
    loss, arrays, analytic, _ = _problem()
    wrong = analytic["x"].copy()
    wrong[2] += 0.1
    result = bptt.gradcheck(loss, arrays, {**analytic, "x": wrong})
    assert result.errors["x"] > 1e-3
    assert result.errors["W"] < 1e-7
    assert not result.passed()


def test_max_entries_samples():
    loss, arrays, analytic, calls = _problem()
    result = bptt.gradcheck(loss, arrays, analytic, max_entries=5)
    assert result.checked == {"W": 5, "x": 4}  # x has only 4 entries: all checked
    assert len(calls) == 2 * (5 + 4)
    assert result.max_error < 1e-7
    # the sample is random but reproducible from the seed, and really a sample:
    # one wrong entry of W is caught by the seeds whose sample contains it
    wrong = analytic["W"].copy()
    wrong.reshape(-1)[0] += 1.0
    caught = [bptt.gradcheck(loss, arrays, {**analytic, "W": wrong}, max_entries=3,
                             seed=seed).errors["W"] > 1e-3 for seed in range(20)]
    assert any(caught) and not all(caught)
    again = [bptt.gradcheck(loss, arrays, {**analytic, "W": wrong}, max_entries=3,
                            seed=seed).errors["W"] > 1e-3 for seed in range(20)]
    assert again == caught


def test_extra_analytic_entries_are_ignored():
    loss, arrays, analytic, _ = _problem()
    result = bptt.gradcheck(loss, {"x": arrays["x"]}, analytic)
    assert set(result.errors) == {"x"}


def test_missing_names_and_wrong_shapes_raise():
    loss, arrays, analytic, _ = _problem()
    with pytest.raises(ValueError, match=r"analytic has no gradient for \['W'\]"):
        bptt.gradcheck(loss, arrays, {"x": analytic["x"]})
    with pytest.raises(ValueError, match=r"analytic\['W'\] must have shape \(3, 4\), "
                                         r"got \(4, 3\)"):
        bptt.gradcheck(loss, arrays, {**analytic, "W": analytic["W"].T})
    with pytest.raises(ValueError, match=r"arrays\['W'\] must be contiguous"):
        bptt.gradcheck(loss, {"W": np.zeros((4, 3)).T}, {"W": np.zeros((3, 4))})


def test_bad_options_raise():
    loss, arrays, analytic, calls = _problem()
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match=r"max_entries must be a positive int or None, got "):
            bptt.gradcheck(loss, arrays, analytic, max_entries=bad)
    for bad in (0.0, -1e-6, float("nan")):
        with pytest.raises(ValueError, match=r"eps must be finite and > 0, got "):
            bptt.gradcheck(loss, arrays, analytic, eps=bad)
    assert not calls, "a rejected call must not evaluate the loss"


def test_str_lists_each_array():
    loss, arrays, analytic, _ = _problem()
    result = bptt.gradcheck(loss, arrays, {**analytic, "W": 1.01 * analytic["W"]})
    lines = str(result).splitlines()
    assert len(lines) == 3
    assert lines[0].split() == ["array", "entries", "relative", "error"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows["W"][0] == "12" and rows["x"][0] == "4"
    assert float(rows["W"][1]) == pytest.approx(result.errors["W"], rel=0.01)
    assert float(rows["x"][1]) == pytest.approx(result.errors["x"], rel=0.01, abs=1e-12)


def test_empty_result():
    result = bptt.GradcheckResult()
    assert result.max_error == 0.0 and result.passed()
    assert str(result).split() == ["array", "entries", "relative", "error"]
