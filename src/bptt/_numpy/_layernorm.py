"""Layer normalisation of each row, the piece the layer-normalised cells share.

    x^ = (x - mean(x)) / sigma,   sigma = sqrt(var(x) + eps)   (per row, biased var)

The gain and bias are applied by the cell, so backward takes the gradient
already multiplied by the gain.
"""

import numpy as np

from .._families import LAYER_NORM_EPS


def layer_norm_forward(x_hat, x):
    """x_hat: (B, F) written, the normalised rows.  x: (B, F).
    Returns 1 / sigma, (B,)."""
    mean = x.mean(axis=1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=1, keepdims=True)
    inv_sigma = 1 / np.sqrt(var + x.dtype.type(LAYER_NORM_EPS))  # [LN sigma]
    x_hat[...] = centred * inv_sigma  # [LN x^]
    return inv_sigma[:, 0]


def layer_norm_backward(dx, dx_hat, x_hat, inv_sigma):
    """Mirror of ``layer_norm_forward``: dx (B, F) written from dL/d(x^)
    (B, F), x^ (B, F) and 1 / sigma (B,).  [LN dx]"""
    mean_d = dx_hat.mean(axis=1, keepdims=True)
    mean_dx = (dx_hat * x_hat).mean(axis=1, keepdims=True)
    dx[...] = inv_sigma[:, None] * (dx_hat - mean_d - x_hat * mean_dx)  # [LN dx]
