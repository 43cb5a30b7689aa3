"""``bptt.losses`` against torch in float64: values and gradients by autograd.

torch puts the class axis second (N, C, d1, ...); bptt puts it last, so 3-D
logits (T, B, C) are permuted to (T, C, B) for torch. Extreme logits must
stay finite without a RuntimeWarning (pytest turns those into errors; the
tests also say so explicitly).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bptt import losses
from conftest import assert_close

RTOL = 1e-12
C = 5
LOGIT_SHAPES = {"1d": (C,), "2d": (4, C), "3d": (3, 2, C)}


def _class_axis_second(t: torch.Tensor) -> torch.Tensor:
    """(..., C) -> torch's (N, C, d) layout for 3-D input; 1-D and 2-D unchanged."""
    return t.permute(0, 2, 1) if t.ndim == 3 else t


def _draw(shape, seed=0):
    rng = np.random.default_rng(seed)
    logits = 3 * rng.standard_normal(shape)
    targets = rng.integers(0, shape[-1], size=shape[:-1])
    return logits, targets


@pytest.fixture(autouse=True)
def _runtime_warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


# -- sum of squares ---------------------------------------------------------------


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 4)])
def test_sum_of_squares_matches_torch(shape):
    rng = np.random.default_rng(1)
    p, t = rng.standard_normal((2, *shape))
    loss, grad = losses.sum_of_squares(p, t)

    pt = torch.tensor(p, requires_grad=True)
    ref = 0.5 * ((pt - torch.from_numpy(t)) ** 2).sum()
    ref.backward()
    assert isinstance(loss, float)
    assert_close(loss, ref.item(), RTOL, "loss")
    assert_close(grad, pt.grad.numpy(), RTOL, "dprediction")
    assert grad.dtype == np.float64


def test_sum_of_squares_seed_002_readout():
    """J = 1/2 sum_t (y_t - target_t)^2 by hand."""
    y = np.array([0.5, -1.0, 2.0])
    target = np.array([1.0, -1.0, 0.0])
    loss, grad = losses.sum_of_squares(y, target)
    assert loss == 0.5 * (0.25 + 0 + 4)
    np.testing.assert_array_equal(grad, [-0.5, 0.0, 2.0])


# -- softmax cross-entropy --------------------------------------------------------


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("shape", LOGIT_SHAPES.values(), ids=LOGIT_SHAPES.keys())
def test_softmax_cross_entropy_matches_torch(shape, reduction):
    logits, targets = _draw(shape, seed=2)
    loss, grad = losses.softmax_cross_entropy(logits, targets, reduction=reduction)

    lt = torch.tensor(logits, requires_grad=True)
    ref = F.cross_entropy(_class_axis_second(lt), _class_axis_second_targets(targets),
                          reduction=reduction)
    ref.backward()
    assert isinstance(loss, float)
    assert_close(loss, ref.item(), RTOL, "loss")
    assert_close(grad, lt.grad.numpy(), RTOL, "dlogits")


def _class_axis_second_targets(targets: np.ndarray) -> torch.Tensor:
    """Targets for ``_class_axis_second`` logits: (T, B) stays (T, B) = (N, d)."""
    return torch.from_numpy(np.asarray(targets, dtype=np.int64))


def test_softmax_cross_entropy_default_reduction_is_sum():
    logits, targets = _draw((4, C), seed=3)
    assert losses.softmax_cross_entropy(logits, targets)[0] == (
        losses.softmax_cross_entropy(logits, targets, reduction="sum")[0]
    )


def test_softmax_cross_entropy_is_log_softmax_then_nll():
    logits, targets = _draw((3, 2, C), seed=4)
    loss, grad = losses.softmax_cross_entropy(logits, targets, reduction="mean")
    log_probs = losses.log_softmax(logits)
    loss2, dlog_probs = losses.nll_loss(log_probs, targets, reduction="mean")
    grad2 = losses.log_softmax_backward(dlog_probs, log_probs)
    assert_close(loss2, loss, RTOL, "loss")
    assert_close(grad2, grad, RTOL, "dlogits")


def test_softmax_cross_entropy_extreme_logits():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [-1e4, -1e4, -1e4]])
    targets = np.array([1, 0, 2])
    loss, grad = losses.softmax_cross_entropy(logits, targets)
    lt = torch.tensor(logits, requires_grad=True)
    ref = F.cross_entropy(lt, torch.from_numpy(targets), reduction="sum")
    ref.backward()
    assert np.isfinite(loss) and np.isfinite(grad).all()
    assert_close(loss, ref.item(), RTOL, "loss")
    assert_close(grad, lt.grad.numpy(), RTOL, "dlogits")


# -- log_softmax, softmax ---------------------------------------------------------


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_log_softmax_and_softmax_match_torch(axis):
    logits, _ = _draw((3, 4, C), seed=5)
    ref = torch.log_softmax(torch.from_numpy(logits), dim=axis).numpy()
    assert_close(losses.log_softmax(logits, axis=axis), ref, RTOL, "log_softmax")
    assert_close(losses.softmax(logits, axis=axis), np.exp(ref), RTOL, "softmax")
    total = losses.softmax(logits, axis=axis).sum(axis=axis)
    assert_close(total, np.ones_like(total), RTOL, "sum of probabilities")


def test_log_softmax_default_axis_is_last():
    logits, _ = _draw((3, C), seed=6)
    np.testing.assert_array_equal(losses.log_softmax(logits), losses.log_softmax(logits, -1))


def test_log_softmax_extreme_logits_are_finite_and_exact():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4],
                       [-1e4, 1e-4, 1e4]])
    out = losses.log_softmax(logits)
    probs = losses.softmax(logits)
    assert np.isfinite(out).all() and np.isfinite(probs).all()
    assert_close(out, torch.log_softmax(torch.from_numpy(logits), dim=-1).numpy(), RTOL,
                 "log_softmax")
    np.testing.assert_array_equal(out[0], [0.0, -2e4, -1e4])
    assert_close(probs.sum(axis=-1), np.ones(4), RTOL, "sum of probabilities")
    # float32: 1e4 differences are far past exp's range there too
    out32 = losses.log_softmax(logits.astype(np.float32))
    assert out32.dtype == np.float32 and np.isfinite(out32).all()


@pytest.mark.parametrize("axis", [-1, 0])
def test_log_softmax_backward_matches_autograd(axis):
    rng = np.random.default_rng(7)
    logits = 2 * rng.standard_normal((4, C))
    dlog_probs = rng.standard_normal((4, C))
    out = losses.log_softmax(logits, axis=axis)
    grad = losses.log_softmax_backward(dlog_probs, out, axis=axis)

    lt = torch.tensor(logits, requires_grad=True)
    (torch.log_softmax(lt, dim=axis) * torch.from_numpy(dlog_probs)).sum().backward()
    assert_close(grad, lt.grad.numpy(), RTOL, "dlogits")


# -- nll_loss ---------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("shape", LOGIT_SHAPES.values(), ids=LOGIT_SHAPES.keys())
def test_nll_loss_matches_torch(shape, reduction):
    logits, targets = _draw(shape, seed=8)
    log_probs = losses.log_softmax(logits)
    loss, grad = losses.nll_loss(log_probs, targets, reduction=reduction)

    lp = torch.tensor(log_probs, requires_grad=True)
    ref = F.nll_loss(_class_axis_second(lp), _class_axis_second_targets(targets),
                     reduction=reduction)
    ref.backward()
    assert isinstance(loss, float)
    assert_close(loss, ref.item(), RTOL, "loss")
    assert_close(grad, lp.grad.numpy(), RTOL, "dlog_probs")


def test_unsigned_targets_work():
    logits, targets = _draw((4, C), seed=9)
    a = losses.softmax_cross_entropy(logits, targets.astype(np.uint8))
    b = losses.softmax_cross_entropy(logits, targets)
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[1], b[1])


# -- float32 stays float32 --------------------------------------------------------


def test_float32_keeps_float32():
    logits, targets = _draw((3, 2, C), seed=10)
    logits32 = logits.astype(np.float32)
    for reduction in ("sum", "mean"):
        loss, grad = losses.softmax_cross_entropy(logits32, targets, reduction=reduction)
        assert grad.dtype == np.float32
        ref = losses.softmax_cross_entropy(logits32.astype(np.float64), targets,
                                           reduction=reduction)
        assert_close(loss, ref[0], 1e-5, "loss")
        assert_close(grad, ref[1], 1e-5, "dlogits")
        log_probs = losses.log_softmax(logits32)
        assert log_probs.dtype == np.float32
        _, dlp = losses.nll_loss(log_probs, targets, reduction=reduction)
        assert dlp.dtype == np.float32
        assert losses.log_softmax_backward(dlp, log_probs).dtype == np.float32
    assert losses.softmax(logits32).dtype == np.float32
    p32 = logits32[..., 0]
    loss, grad = losses.sum_of_squares(p32, np.zeros(p32.shape))  # float64 target
    assert grad.dtype == np.float32
    assert_close(loss, 0.5 * float(np.sum(p32.astype(np.float64) ** 2)), 1e-6, "loss")


# -- bad input --------------------------------------------------------------------


@pytest.mark.parametrize("fn", [losses.softmax_cross_entropy, losses.nll_loss],
                         ids=["softmax_cross_entropy", "nll_loss"])
@pytest.mark.parametrize(
    "targets, error, match",
    [
        (np.array([0.0, 1.0, 2.0]), TypeError,
         r"targets must hold integer class indices, got dtype float64"),
        (np.array([True, False, True]), TypeError,
         r"targets must hold integer class indices, got dtype bool"),
        (np.array([0, 1, 5]), ValueError, r"targets must lie in 0\.\.4, got values from 0 to 5"),
        (np.array([-1, 1, 2]), ValueError, r"targets must lie in 0\.\.4, got values from -1 to 2"),
        (np.array([0, 1, 2, 3]), ValueError,
         r"targets must have shape \(3,\) \((logits|log_probs) without the class axis\), "
         r"got \(4,\)"),
        (np.array([[0, 1, 2]]), ValueError, r"targets must have shape \(3,\) .*got \(1, 3\)"),
    ],
    ids=["float", "bool", "too-big", "negative", "too-long", "extra-axis"],
)
def test_bad_targets(fn, targets, error, match):
    logits, _ = _draw((3, C), seed=11)
    with pytest.raises(error, match=match):
        fn(logits, targets)


@pytest.mark.parametrize("fn", [losses.softmax_cross_entropy, losses.nll_loss],
                         ids=["softmax_cross_entropy", "nll_loss"])
@pytest.mark.parametrize("reduction", ["none", "SUM", None])
def test_bad_reduction(fn, reduction):
    logits, targets = _draw((3, C), seed=12)
    with pytest.raises(ValueError, match=r"reduction must be one of \('sum', 'mean'\), got "):
        fn(logits, targets, reduction=reduction)


def test_logits_must_be_floating_and_have_a_class_axis():
    with pytest.raises(TypeError, match=r"logits must be a floating array, got dtype int64"):
        losses.softmax_cross_entropy(np.zeros((3, C), dtype=np.int64), np.zeros(3, dtype=int))
    with pytest.raises(TypeError, match=r"log_probs must be a floating array, got dtype int64"):
        losses.nll_loss(np.zeros((3, C), dtype=np.int64), np.zeros(3, dtype=int))
    with pytest.raises(TypeError, match=r"logits must be a floating array, got dtype int64"):
        losses.log_softmax(np.zeros(C, dtype=np.int64))
    with pytest.raises(ValueError, match=r"logits must have a class axis \(\.\.\., C\), "
                                         r"got shape \(\)"):
        losses.softmax_cross_entropy(np.float64(0.5), 0)
    with pytest.raises(ValueError, match=r"log_probs must have a class axis \(\.\.\., C\), "
                                         r"got shape \(\)"):
        losses.nll_loss(np.float64(-0.5), 0)


def test_log_softmax_backward_bad_input():
    log_probs = losses.log_softmax(np.zeros((4, C)))
    with pytest.raises(ValueError, match=r"dlog_probs must have the shape of log_probs "
                                         r"\(4, 5\), got \(5,\)"):
        losses.log_softmax_backward(np.ones(C), log_probs)
    with pytest.raises(TypeError, match=r"dlog_probs must be a floating array, got dtype int64"):
        losses.log_softmax_backward(np.ones((4, C), dtype=np.int64), log_probs)


def test_sum_of_squares_bad_input():
    with pytest.raises(ValueError, match=r"target must have the prediction's shape \(3, 4\), "
                                         r"got \(4, 3\)"):
        losses.sum_of_squares(np.zeros((3, 4)), np.zeros((4, 3)))
    with pytest.raises(TypeError, match=r"prediction must be a floating array, got dtype int64"):
        losses.sum_of_squares(np.zeros(3, dtype=np.int64), np.zeros(3))
