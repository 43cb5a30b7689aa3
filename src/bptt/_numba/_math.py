"""Scalar and matrix helpers shared by the Numba kernels.

Typed constants: a Python literal such as ``1.0`` (or ``1``) is float64 (int64)
to Numba and would promote float32 arithmetic to float64, so constants are
built in the operand's own type, ``type(a)(1)`` for a scalar and
``arr.dtype.type(1)`` for an array.
"""

import math

import numpy as np

from ._config import jit


@jit
def sigmoid(a):
    """Logistic function that never overflows: exp only sees -|a|."""
    one = type(a)(1)
    e = math.exp(-abs(a))
    if a >= 0:
        return one / (one + e)
    return e / (one + e)


@jit
def project(out, x, weight, bias):
    """out = x weight^T + bias.  out: (B, G).  x: (B, F).  weight: (G, F).
    bias: (G,)."""
    np.dot(x, weight.T, out)
    B, G = out.shape
    for b in range(B):
        for k in range(G):
            out[b, k] += bias[k]


# Up to this many rows, rank-1 updates straight into dweight beat a BLAS product
# into a temporary plus an add (measured at G, F = 384, 128: x2 at N = 1, even
# at N = 4); with more rows, BLAS wins by far (x2 at N = 16, x3 at N = 64).
_RANK1_MAX_ROWS = 4


@jit
def add_dweight(dweight, dgates, x):
    """dweight += dgates^T x.  dweight: (G, F).  dgates: (N, G).  x: (N, F)."""
    N, G = dgates.shape
    F = x.shape[1]
    if N <= _RANK1_MAX_ROWS:
        for k in range(G):  # row k of dweight stays in cache over the N rows
            for n in range(N):
                s = dgates[n, k]
                for f in range(F):
                    dweight[k, f] += s * x[n, f]
    else:
        tmp = np.empty_like(dweight)
        np.dot(dgates.T, x, tmp)
        for k in range(G):
            for f in range(F):
                dweight[k, f] += tmp[k, f]


@jit
def add_dbias(dbias, dgates):
    """dbias += dgates summed over the batch.  dbias: (G,).  dgates: (B, G).

    Row by row into a (G,) sum, as NumPy's ``dgates.sum(axis=0)`` adds: the
    same order, and contiguous reads (a sequence passes T*B rows).
    """
    B, G = dgates.shape
    s = np.zeros(G, dtype=dbias.dtype)
    for b in range(B):
        for k in range(G):
            s[k] += dgates[b, k]
    for k in range(G):
        dbias[k] += s[k]
