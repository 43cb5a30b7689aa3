"""Layer normalisation of each row, the piece the layer-normalised cells
share: Numba twin of ``bptt._numpy._layernorm``.

    x^ = (x - mean(x)) / sigma,   sigma = sqrt(var(x) + eps)   (per row, biased var)

The gain and bias are applied by the cell, so backward takes the gradient
already multiplied by the gain. Both helpers write into the caller's arrays
(views into the cache are fine) and allocate nothing.
"""

import numpy as np

from .._families import LAYER_NORM_EPS
from ._config import jit


@jit
def layer_norm_forward(x_hat, inv_sigma, x):
    """x_hat: (B, F) written, the normalised rows.  inv_sigma: (B,) written,
    1 / sigma.  x: (B, F).  x_hat may be x itself."""
    B, F = x.shape
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    count = x.dtype.type(F)
    eps = x.dtype.type(LAYER_NORM_EPS)
    for b in range(B):
        s = zero
        for k in range(F):
            s += x[b, k]
        mean = s / count
        v = zero
        for k in range(F):
            d = x[b, k] - mean
            v += d * d
        var = v / count
        inv = one / np.sqrt(var + eps)  # [LN sigma]
        inv_sigma[b] = inv
        for k in range(F):
            x_hat[b, k] = (x[b, k] - mean) * inv  # [LN x^]


@jit
def layer_norm_backward(dx, dx_hat, x_hat, inv_sigma):
    """Mirror of ``layer_norm_forward``: dx (B, F) written from dL/d(x^)
    (B, F), x^ (B, F) and 1 / sigma (B,). dx may be dx_hat itself (each row's
    means are taken before the row is written).  [LN dx]"""
    B, F = x_hat.shape
    zero = x_hat.dtype.type(0)
    count = x_hat.dtype.type(F)
    for b in range(B):
        sd = zero
        sdx = zero
        for k in range(F):
            sd += dx_hat[b, k]
            sdx += dx_hat[b, k] * x_hat[b, k]
        mean_d = sd / count
        mean_dx = sdx / count
        inv = inv_sigma[b]
        for k in range(F):
            dx[b, k] = inv * (dx_hat[b, k] - mean_d - x_hat[b, k] * mean_dx)  # [LN dx]
