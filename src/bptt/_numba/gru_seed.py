"""GRU cell, seed formulation (seeds 000 and 001): Numba twin of
``bptt._numpy.gru_seed``. Rows stacked r, z, h~:

    r  = sigma(W_rx x + b_ir + W_rh h + b_hr)
    z  = sigma(W_zx x + b_iz + W_zh h + b_hz)
    h~ = tanh(W_x x + b_ih~ + W_h (r (.) h) + b_hh~)
    h' = (1 - z) (.) h + z (.) h~

The two bias vectors are both additive, so they act as one sum; bias_hh is
added inside the step, the gradient of both is colsum(dgi).

The step is two loops, not one: h~ needs W_h (r h), a product over all of r.
``one = h.dtype.type(1)`` keeps float32 arithmetic in float32.
"""

import numpy as np

from ._config import jit_inline
from ._math import add_dbias, add_dweight, step_project
from ._sequence import (
    bias_gradient,
    cell_fast_kernels,
    plain_step,
    plain_upstream,
    sequence_kernels,
)
from ._vmath import sigmoid, tanh


@jit_inline
def forward_workspace(initial, weight_hh, extras):
    """The step's scratch: (ghrz, rh, ghc), ghrz (B, 2H) = h [W_rh; W_zh]^T + b_hh[:2H],
    rh (B, H) = r (.) h, ghc (B, H) = (r h) W_h^T + b_hh~."""
    h = initial[0]
    B, H = h.shape
    return (np.empty((B, 2 * H), dtype=h.dtype), np.empty_like(h), np.empty_like(h))


@jit_inline
def step_forward(new, gates, gi, old, weight_hh, bias_hh, extras, option, work):
    """new = (h',), old = (h,): (B, H).  gates: (B, 3H) written [r | z | h~].
    gi: (B, 3H) = x W_ih^T + b_ih.  weight_hh: (3H, H) rows [W_rh; W_zh; W_h].
    bias_hh: (3H,)."""
    (h,), (h_next,), (ghrz, rh, ghc) = old, new, work
    B, H = h.shape
    one = h.dtype.type(1)
    step_project(ghrz, h, weight_hh[: 2 * H], bias_hh[: 2 * H])  # h [W_rh; W_zh]^T + b_hh[:2H]
    # per row, short loops over contiguous blocks: LLVM vectorises them
    for b in range(B):
        g, a, s, hb, rhb = gates[b], gi[b], ghrz[b], h[b], rh[b]
        for k in range(2 * H):
            g[k] = sigmoid(a[k] + s[k])  # [seed-GRU r], [seed-GRU z]
        for j in range(H):
            rhb[j] = g[j] * hb[j]
    step_project(ghc, rh, weight_hh[2 * H :], bias_hh[2 * H :])  # (r h) W_h^T + b_hh~
    for b in range(B):
        g, a, s, hb, hn = gates[b], gi[b], ghc[b], h[b], h_next[b]
        for j in range(H):
            g[2 * H + j] = tanh(a[2 * H + j] + s[j])  # [seed-GRU h~]
        for j in range(H):
            z = g[H + j]
            hn[j] = (one - z) * hb[j] + z * g[2 * H + j]  # [seed-GRU h']


@jit_inline
def backward_workspace(dinitial, weight_hh, extras):
    """The step's scratch: (dh_direct, dah, dgrz, drh), (B, H) each but dgrz
    (B, 2H). dah (dL/d(a_h)) and dgrz (dgi[:, :2H]) are contiguous copies for
    BLAS."""
    dh = dinitial[0]
    B, H = dh.shape
    return (np.empty_like(dh), np.empty_like(dh), np.empty((B, 2 * H), dtype=dh.dtype),
            np.empty_like(dh))


@jit_inline
def step_backward(dgi, dgh, dold, dnew, gates, old, new, weight_hh, extras, dextras, option,
                  work):
    """Mirror of ``step_forward``.

    dgi: (B, 3H) written, dL/d(gi), which is also the gradient of the
    recurrent pre-activations (dgh is the same array): their inputs are
    [h, h, r h], so ``weights_backward`` makes dW_hh from it.
    dold = (dh,) written.  dnew = (dh',).

    Two loops, like forward: dL/dr needs dah W_h, a product over all of dah.
    """
    (h,), (dh,), (dh_next,), (dh_direct, dah, dgrz, drh) = old, dold, dnew, work
    B, H = h.shape
    one = h.dtype.type(1)
    for b in range(B):
        for j in range(H):
            z = gates[b, H + j]
            hc = gates[b, 2 * H + j]
            # h' = (1 - z) h + z h~
            dhc = dh_next[b, j] * z  # [seed-GRU dh~]
            dz = dh_next[b, j] * (hc - h[b, j])  # [seed-GRU dz]
            dh_direct[b, j] = dh_next[b, j] * (one - z)  # [seed-GRU dh], path 1
            # h~ = tanh(a_h), a_h = gi_h + W_h (r h) + b_hh~
            dah[b, j] = dhc * (one - hc * hc)  # [seed-GRU da_h]
            # z = sigma(a_z)
            dgrz[b, H + j] = dz * z * (one - z)  # [seed-GRU da_z]
    np.dot(dah, weight_hh[2 * H :], drh)  # dL/d(r h) = dah W_h; [seed-GRU drh]
    for b in range(B):
        for j in range(H):
            r = gates[b, j]
            dr = drh[b, j] * h[b, j]  # [seed-GRU dr]
            dh_direct[b, j] += drh[b, j] * r  # [seed-GRU dh], path 2
            # r = sigma(a_r)
            dgrz[b, j] = dr * r * (one - r)  # [seed-GRU da_r]
            dgi[b, j] = dgrz[b, j]  # [seed-GRU dgi]
            dgi[b, H + j] = dgrz[b, H + j]
            dgi[b, 2 * H + j] = dah[b, j]
    dgrz_h = drh  # drh is spent: reuse it for dgrz [W_rh; W_zh]
    np.dot(dgrz, weight_hh[: 2 * H], dgrz_h)  # [seed-GRU dh], path 3
    for b in range(B):
        for j in range(H):
            dh[b, j] = dh_direct[b, j] + dgrz_h[b, j]  # [seed-GRU dh]


@jit_inline
def weights_backward(dweight_hh, dbias_hh, dextras, dgh, gates, h_prev, weight_hh, extras, option):
    """dW_hh, db_hh over N rows: dgh (N, 3H), gates (N, 3H), h_prev (N, H).
    W_rh and W_zh multiply h, W_h multiplies r (.) h.  [seed-GRU dW]"""
    N, H = h_prev.shape
    # contiguous copies of the column blocks, so both products go to BLAS
    dgrz = np.ascontiguousarray(dgh[:, : 2 * H])  # (N, 2H)
    dah = np.ascontiguousarray(dgh[:, 2 * H :])  # (N, H)
    rh = np.empty((N, H), dtype=h_prev.dtype)  # r (.) h
    for n in range(N):
        for j in range(H):
            rh[n, j] = gates[n, j] * h_prev[n, j]
    add_dweight(dweight_hh[: 2 * H], dgrz, h_prev)  # [seed-GRU dW]
    add_dweight(dweight_hh[2 * H :], dah, rh)  # [seed-GRU dW]
    add_dbias(dbias_hh, dgh)  # [seed-GRU db]


seq_forward, seq_backward, seq_infer, cell_forward, cell_backward = sequence_kernels(
    step_forward, step_backward, weights_backward, forward_workspace, backward_workspace,
    separate_dgh=False, transposed_hh=False)  # the step multiplies by row blocks of W_hh


# GRU_Cell's one-call fast path (conventions in _sequence.py; csrc/gru_seed.pyx's
# twin, but forward keeps x and h in its saved array, and backward takes shapes).
# Its one bias fills the bias_ih slot; bias_hh is zero (None).
cell_fast_forward, cell_fast_backward, SAVED_PER_H = cell_fast_kernels("gru_seed")
fast_saves_inputs = True  # (bptt.cells keeps the shapes of x and h, not copies)


def gru_seed_cell_forward_fast(x, h, weight_ih, weight_hh, bias):
    """One GRU_Cell step: x (I,) and h (H,), or x (B, I) and h (B, H).
    Returns (h_next shaped like h, saved: [gates (B, 3H) | x | h]), or None
    if an argument is not exactly that."""
    dtype = weight_hh.dtype
    if not plain_step(x, h, dtype):
        return None
    h_next = h.copy()  # shaped as h (cheaper than np.empty(h.shape)), then written
    saved = np.empty(SAVED_PER_H * h.size + x.size, dtype)
    if cell_fast_forward(h_next, saved, x, h, weight_ih, weight_hh, bias, None, 0.0):
        return h_next, saved
    return None


def gru_seed_cell_backward_fast(delta, batched, saved, x_shape, h_shape, weight_ih, weight_hh,
                                dweight_ih, dweight_hh, dbias):
    """Mirror of ``gru_seed_cell_forward_fast`` on its saved array: adds into
    the parameter gradients (dbias None: no bias). delta: (H,) or (1, H)
    unbatched, (B, H) batched. Returns (dx (B, I), dh (B, H)), or None."""
    dtype = weight_hh.dtype
    if not plain_upstream(delta, dtype):
        return None
    if not batched:  # the homework's shapes: (1, d) and (1, h)
        x_shape, h_shape = (1, *x_shape), (1, *h_shape)
    dx, dh = np.empty(x_shape, dtype), np.empty(h_shape, dtype)
    dbias = bias_gradient(dbias, weight_ih.shape[0], dtype)  # (bias_hh's stays None)
    if cell_fast_backward(dx, dh, delta, saved, batched, weight_ih, weight_hh, dweight_ih,
                          dweight_hh, dbias, None, 0.0):
        return dx, dh
    return None
