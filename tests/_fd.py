"""Central finite differences, as ``scipy.optimize.check_grad`` computes them."""

from __future__ import annotations

import numpy as np


def numeric_gradient(f, a: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """dF/da by central differences, perturbing ``a`` in place (and restoring it).

    ``f()`` takes no argument and must read ``a`` (a live parameter array or an
    input that the caller passes again on each call).
    """
    grad = np.zeros(a.shape, dtype=np.float64)
    for idx in np.ndindex(a.shape):
        old = a[idx]
        a[idx] = old + eps
        f_plus = f()
        a[idx] = old - eps
        f_minus = f()
        a[idx] = old
        grad[idx] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error(numeric: np.ndarray, analytic: np.ndarray) -> float:
    """||numeric - analytic|| / ||analytic|| (the norm of the analytic gradient must be > 0)."""
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64).reshape(analytic.shape)
    norm = float(np.linalg.norm(analytic))
    assert norm > 0, "the analytic gradient is exactly zero: the check would prove nothing"
    return float(np.linalg.norm(numeric - analytic)) / norm
