"""Matrix helpers shared by the Numba kernels (the element functions, exp,
sigmoid and tanh, are in ``_vmath``).

Typed constants: a Python literal such as ``1.0`` (or ``1``) is float64 (int64)
to Numba and would promote float32 arithmetic to float64, so constants are
built in the operand's own type, ``type(a)(1)`` for a scalar and
``arr.dtype.type(1)`` for an array.
"""

import numpy as np

from ._config import jit, jit_exact, jit_inline

# Up to this many multiply-adds (B G F), a step's product is a plain loop: the
# call into BLAS (its checks and dispatch, ~70 ns) costs more than the product
# (hidden 6: 144 multiply-adds; as csrc/_common.pxd's SMALL_PRODUCT). Only for
# the per-step products (dot_t, dot_n, step_project), whose shapes do not
# depend on how a sequence is cut into chunks: a stream fed in pieces gets the
# same bits. ``project`` (the input projection of a chunk) always takes BLAS.
# They are compiled by ``jit_exact``: with ``reassoc`` LLVM may regroup each
# entry's sum differently in each kernel it inlines them into (seq_forward and
# seq_infer would then differ in the last bit).
SMALL_PRODUCT = 512


@jit_exact
def dot_t(out, x, weight):
    """out = x weight^T.  out: (B, G).  x: (B, F).  weight: (G, F)."""
    B, F = x.shape
    G = weight.shape[0]
    if B * G * F > SMALL_PRODUCT:
        np.dot(x, weight.T, out)
        return
    zero = out.dtype.type(0)
    for b in range(B):
        for k in range(G):
            out[b, k] = zero
        for f in range(F):
            s = x[b, f]
            for k in range(G):  # contiguous where weight is stored transposed
                out[b, k] += s * weight[k, f]


@jit_exact
def dot_n(out, x, weight):
    """out = x weight, ``dot_t``'s mirror (a step's backward product).
    out: (B, F).  x: (B, G).  weight: (G, F)."""
    B, G = x.shape
    F = weight.shape[1]
    if B * G * F > SMALL_PRODUCT:
        np.dot(x, weight, out)
        return
    zero = out.dtype.type(0)
    for b in range(B):
        for f in range(F):
            out[b, f] = zero
        for k in range(G):
            s = x[b, k]
            for f in range(F):
                out[b, f] += s * weight[k, f]


@jit
def project(out, x, weight, bias):
    """out = x weight^T + bias.  out: (B, G).  x: (B, F).  weight: (G, F).
    bias: (G,)."""
    np.dot(x, weight.T, out)
    add_rows(out, bias)


@jit_inline
def step_project(out, h, weight, bias):
    """``project`` for a step's recurrent product (``dot_t``'s small path)."""
    dot_t(out, h, weight)
    add_rows(out, bias)


@jit_inline
def add_rows(out, bias):
    """out[b] += bias for every row b.  out: (B, G).  bias: (G,)."""
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
