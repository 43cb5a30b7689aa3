"""Losses with their gradients, numerically stable, as the seeds use them.

Each loss returns ``(loss, gradient)``: the value as a Python float and
dL/d(its first argument), an array of the same shape and dtype.

- ``sum_of_squares``: J = 1/2 sum (y_hat - y)^2 (seed 002).
- ``softmax_cross_entropy``: softmax read-out with cross-entropy (seed 004's
  min-char-rnn); ``log_softmax`` + ``nll_loss`` is the same split in two
  (seed 001's read-out y = log_softmax(h V + b)).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._typing import ArrayLike, FloatArray
from ._validation import plain

Array = np.ndarray
_REDUCTIONS = ("sum", "mean")


def _floating(name: str, a: Any) -> FloatArray:
    a = np.asarray(plain(name, a))
    if a.dtype.kind != "f":
        raise TypeError(f"{name} must be a floating array, got dtype {a.dtype}")
    return a


def _targets(targets: Any, logits: Array, name: str = "logits") -> Array:
    if logits.ndim == 0:
        raise ValueError(f"{name} must have a class axis (..., C), got shape {logits.shape}")
    t = np.asarray(plain("targets", targets))
    if t.dtype.kind not in "iu":
        raise TypeError(f"targets must hold integer class indices, got dtype {t.dtype}")
    if t.shape != logits.shape[:-1]:
        raise ValueError(f"targets must have shape {logits.shape[:-1]} ({name} without the "
                         f"class axis), got {t.shape}")
    if t.size and (t.min() < 0 or t.max() >= logits.shape[-1]):
        raise ValueError(f"targets must lie in 0..{logits.shape[-1] - 1}, "
                         f"got values from {t.min()} to {t.max()}")
    return t


def _reduction(reduction: str, count: int) -> float:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return 1.0 if reduction == "sum" else 1.0 / max(count, 1)


def sum_of_squares(prediction: ArrayLike, target: ArrayLike) -> tuple[float, FloatArray]:
    """J = 1/2 sum (prediction - target)^2 and dJ/d(prediction) = prediction - target."""
    prediction = _floating("prediction", prediction)
    target = np.asarray(plain("target", target))
    if target.dtype.kind not in "biuf":
        raise TypeError(f"target must hold real numbers, got dtype {target.dtype}")
    target = target.astype(prediction.dtype, copy=False)
    if target.shape != prediction.shape:
        raise ValueError(f"target must have the prediction's shape {prediction.shape}, "
                         f"got {target.shape}")
    diff = prediction - target
    return 0.5 * float(np.sum(diff * diff)), diff


def log_softmax(logits: ArrayLike, axis: int = -1) -> FloatArray:
    """log(softmax(logits)) without overflow: the row maximum is taken out first."""
    logits = _floating("logits", logits)
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(logits: ArrayLike, axis: int = -1) -> FloatArray:
    """Probabilities along ``axis``, computed through ``log_softmax``."""
    return np.exp(log_softmax(logits, axis))


def log_softmax_backward(dlog_probs: ArrayLike, log_probs: ArrayLike, axis: int = -1) -> FloatArray:
    """Mirror of ``log_softmax``: dL/dz = dL/dy - softmax(z) * sum(dL/dy)."""
    dlog_probs = _floating("dlog_probs", dlog_probs)
    log_probs = _floating("log_probs", log_probs)
    if dlog_probs.shape != log_probs.shape:
        raise ValueError(f"dlog_probs must have the shape of log_probs {log_probs.shape}, "
                         f"got {dlog_probs.shape}")
    return dlog_probs - np.exp(log_probs) * dlog_probs.sum(axis=axis, keepdims=True)


def nll_loss(log_probs: ArrayLike, targets: ArrayLike,
             reduction: str = "sum") -> tuple[float, FloatArray]:
    """-sum log_probs[..., target] (or the mean) and its gradient w.r.t. log_probs."""
    log_probs = _floating("log_probs", log_probs)
    targets = _targets(targets, log_probs, "log_probs")
    scale = _reduction(reduction, targets.size)
    picked = np.take_along_axis(log_probs, targets[..., None], axis=-1)
    grad = np.zeros_like(log_probs)
    np.put_along_axis(grad, targets[..., None], -scale, axis=-1)
    return -scale * float(picked.sum()), grad


def softmax_cross_entropy(logits: ArrayLike, targets: ArrayLike,
                          reduction: str = "sum") -> tuple[float, FloatArray]:
    """Cross-entropy of softmax(logits) against integer targets, and dL/d(logits)
    = scale * (softmax(logits) - onehot(targets))."""
    logits = _floating("logits", logits)
    targets = _targets(targets, logits)
    scale = _reduction(reduction, targets.size)
    log_probs = log_softmax(logits)
    picked = np.take_along_axis(log_probs, targets[..., None], axis=-1)
    grad = np.exp(log_probs)
    np.put_along_axis(grad, targets[..., None],
                      np.take_along_axis(grad, targets[..., None], axis=-1) - 1, axis=-1)
    if scale != 1.0:
        grad *= scale
    return -scale * float(picked.sum()), grad.astype(logits.dtype, copy=False)
