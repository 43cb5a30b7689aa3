"""GRU cells, both formulations: Numba twins of ``bptt._numpy.gru``.

torch / cuDNN formulation, gates stacked r, z, n:
    r  = sigma(W_ir x + b_ir + W_hr h + b_hr)
    z  = sigma(W_iz x + b_iz + W_hz h + b_hz)
    n  = tanh(W_in x + b_in + r (.) (W_hn h + b_hn))
    h' = (1 - z) (.) n + z (.) h

seed formulation (seeds 000 and 001), rows stacked r, z, h~:
    z  = sigma(W_zh h + W_zx x + b_z)
    r  = sigma(W_rh h + W_rx x + b_r)
    h~ = tanh(W_h (r (.) h) + W_x x + b_h)
    h' = (1 - z) (.) h + z (.) h~

Same names, arguments and cache layout as the NumPy reference. Matrix
products go to BLAS through ``np.dot(a, b, out)``; the element-wise gate math
of a step is one loop over (b, j). ``one = h.dtype.type(1)`` keeps float32
arithmetic in float32 (a bare ``1`` would promote it to float64).
"""

import math

import numpy as np

from ._config import jit
from ._math import add_dbias, add_dweight, project, sigmoid

# ----------------------------------------------------------------------------
# torch formulation
# ----------------------------------------------------------------------------


@jit
def gru_step_forward(h_next, gates, gi, h, weight_hh, bias_hh):
    """One step after the input projection.

    h_next: (B, H) written.  gates: (B, 4H) written: [r | z | n | hn], where
    hn = W_hn h + b_hn is kept because dL/dr needs it.
    gi: (B, 3H) = x W_ih^T + b_ih.  h: (B, H).  weight_hh: (3H, H).
    """
    B, H = h.shape
    one = h.dtype.type(1)
    gh = np.empty((B, 3 * H), dtype=h.dtype)  # h W_hh^T + b_hh
    project(gh, h, weight_hh, bias_hh)
    for b in range(B):
        for j in range(H):
            r = sigmoid(gi[b, j] + gh[b, j])  # [torch-GRU r]
            z = sigmoid(gi[b, H + j] + gh[b, H + j])  # [torch-GRU z]
            hn = gh[b, 2 * H + j]
            n = math.tanh(gi[b, 2 * H + j] + r * hn)  # [torch-GRU n]
            h_next[b, j] = (one - z) * n + z * h[b, j]  # [torch-GRU h']
            gates[b, j] = r
            gates[b, H + j] = z
            gates[b, 2 * H + j] = n
            gates[b, 3 * H + j] = hn


@jit
def gru_step_backward(dgi, dgh, dh, dh_next, gates, h, weight_hh):
    """Mirror of ``gru_step_forward``.

    dgi: (B, 3H) written, dL/d(gi).  dgh: (B, 3H) written, dL/d(W_hh h + b_hh).
    dh: (B, H) written, dL/dh.  dh_next: (B, H), dL/dh'.
    """
    B, H = h.shape
    one = h.dtype.type(1)
    for b in range(B):
        for j in range(H):
            r = gates[b, j]
            z = gates[b, H + j]
            n = gates[b, 2 * H + j]
            hn = gates[b, 3 * H + j]
            # h' = (1 - z) n + z h
            dn = dh_next[b, j] * (one - z)
            dz = dh_next[b, j] * (h[b, j] - n)
            dh_direct = dh_next[b, j] * z
            # n = tanh(a_n), a_n = gi_n + r hn
            dan = dn * (one - n * n)
            dr = dan * hn
            dhn = dan * r
            # r, z = sigma(a_r), sigma(a_z)
            dar = dr * r * (one - r)
            daz = dz * z * (one - z)
            dgi[b, j] = dar
            dgi[b, H + j] = daz
            dgi[b, 2 * H + j] = dan
            dgh[b, j] = dar
            dgh[b, H + j] = daz
            dgh[b, 2 * H + j] = dhn
            dh[b, j] = dh_direct
    # the recurrent path, through gh = h W_hh^T + b_hh
    dgh_h = np.empty((B, H), dtype=h.dtype)
    np.dot(dgh, weight_hh, dgh_h)
    for b in range(B):
        for j in range(H):
            dh[b, j] += dgh_h[b, j]


@jit
def gru_cell_forward(h_next, gates, x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    """One GRU cell step, torch formulation.

    h_next: (B, H) written.  gates: (B, 4H) written, the cache for backward.
    x: (B, I).  h: (B, H).  weight_ih: (3H, I).  weight_hh: (3H, H).
    bias_ih, bias_hh: (3H,).
    """
    B, H = h.shape
    gi = np.empty((B, 3 * H), dtype=h.dtype)  # x W_ih^T + b_ih
    project(gi, x, weight_ih, bias_ih)
    gru_step_forward(h_next, gates, gi, h, weight_hh, bias_hh)


@jit
def gru_cell_backward(
    dx, dh, dweight_ih, dweight_hh, dbias_ih, dbias_hh,
    dh_next, gates, x, h, weight_ih, weight_hh,
):
    """Mirror of ``gru_cell_forward``: writes dx (B, I) and dh (B, H), adds
    into dweight_ih (3H, I), dweight_hh (3H, H), dbias_ih, dbias_hh (3H,)."""
    B, H = h.shape
    dgi = np.empty((B, 3 * H), dtype=h.dtype)
    dgh = np.empty((B, 3 * H), dtype=h.dtype)
    gru_step_backward(dgi, dgh, dh, dh_next, gates, h, weight_hh)
    add_dweight(dweight_hh, dgh, h)
    add_dbias(dbias_hh, dgh)
    np.dot(dgi, weight_ih, dx)
    add_dweight(dweight_ih, dgi, x)
    add_dbias(dbias_ih, dgi)


# ----------------------------------------------------------------------------
# seed formulation
# ----------------------------------------------------------------------------


@jit
def gru_seed_step_forward(h_next, gates, gi, h, weight_hh):
    """One seed-GRU step after the input projection.

    h_next: (B, H) written.  gates: (B, 3H) written: [r | z | h~].
    gi: (B, 3H) = x W_ih^T + b (all biases of this formulation are additive).
    h: (B, H).  weight_hh: (3H, H), rows [W_rh; W_zh; W_h].

    Two loops, not one: h~ needs W_h (r h), a product over all of r.
    """
    B, H = h.shape
    one = h.dtype.type(1)
    ghrz = np.empty((B, 2 * H), dtype=h.dtype)  # h [W_rh; W_zh]^T
    np.dot(h, weight_hh[: 2 * H].T, ghrz)
    rh = np.empty((B, H), dtype=h.dtype)  # r (.) h
    for b in range(B):
        for j in range(H):
            r = sigmoid(gi[b, j] + ghrz[b, j])  # [seed-GRU r]
            z = sigmoid(gi[b, H + j] + ghrz[b, H + j])  # [seed-GRU z]
            rh[b, j] = r * h[b, j]
            gates[b, j] = r
            gates[b, H + j] = z
    ghc = np.empty((B, H), dtype=h.dtype)  # (r h) W_h^T
    np.dot(rh, weight_hh[2 * H :].T, ghc)
    for b in range(B):
        for j in range(H):
            z = gates[b, H + j]
            hc = math.tanh(gi[b, 2 * H + j] + ghc[b, j])  # [seed-GRU h~]
            h_next[b, j] = (one - z) * h[b, j] + z * hc  # [seed-GRU h']
            gates[b, 2 * H + j] = hc


@jit
def gru_seed_step_backward(dgi, dh, dh_next, gates, h, weight_hh):
    """Mirror of ``gru_seed_step_forward``.

    dgi: (B, 3H) written, dL/d(gi) (= dL/d(bias) per row); it is also the
    gradient of the recurrent pre-activations, whose inputs are [h, h, r h],
    so the caller adds dweight_hh from it (``gru_seed_dweight_hh``).
    dh: (B, H) written.  dh_next: (B, H), dL/dh'.

    Two loops, like forward: dL/dr needs dah W_h, a product over all of dah.
    """
    B, H = h.shape
    one = h.dtype.type(1)
    dh_direct = np.empty((B, H), dtype=h.dtype)
    dah = np.empty((B, H), dtype=h.dtype)  # dL/d(a_h), contiguous for BLAS
    dgrz = np.empty((B, 2 * H), dtype=h.dtype)  # dgi[:, :2H], contiguous for BLAS
    for b in range(B):
        for j in range(H):
            z = gates[b, H + j]
            hc = gates[b, 2 * H + j]
            # h' = (1 - z) h + z h~
            dhc = dh_next[b, j] * z
            dz = dh_next[b, j] * (hc - h[b, j])
            dh_direct[b, j] = dh_next[b, j] * (one - z)
            # h~ = tanh(a_h), a_h = gi_h + W_h (r h)
            dah[b, j] = dhc * (one - hc * hc)
            # z = sigma(a_z)
            dgrz[b, H + j] = dz * z * (one - z)
    drh = np.empty((B, H), dtype=h.dtype)  # dL/d(r h) = dah W_h
    np.dot(dah, weight_hh[2 * H :], drh)
    for b in range(B):
        for j in range(H):
            r = gates[b, j]
            dr = drh[b, j] * h[b, j]
            dh_direct[b, j] += drh[b, j] * r
            # r = sigma(a_r)
            dgrz[b, j] = dr * r * (one - r)
            dgi[b, j] = dgrz[b, j]
            dgi[b, H + j] = dgrz[b, H + j]
            dgi[b, 2 * H + j] = dah[b, j]
    dgrz_h = np.empty((B, H), dtype=h.dtype)  # dgrz [W_rh; W_zh]
    np.dot(dgrz, weight_hh[: 2 * H], dgrz_h)
    # dh is written last, so it may share memory with dh_next or h
    for b in range(B):
        for j in range(H):
            dh[b, j] = dh_direct[b, j] + dgrz_h[b, j]


@jit
def gru_seed_dweight_hh(dweight_hh, dgi, gates, h):
    """dweight_hh (3H, H) += the recurrent weights' gradient over N rows.

    dgi: (N, 3H) from ``gru_seed_step_backward``.  gates: (N, 3H).  h: (N, H),
    the state each row's step started from. W_rh and W_zh multiply h, W_h
    multiplies r h.
    """
    N, H = h.shape
    # contiguous copies of the column blocks, so both products go to BLAS
    dgrz = np.ascontiguousarray(dgi[:, : 2 * H])  # (N, 2H)
    dah = np.ascontiguousarray(dgi[:, 2 * H :])  # (N, H)
    rh = np.empty((N, H), dtype=h.dtype)  # r (.) h
    for n in range(N):
        for j in range(H):
            rh[n, j] = gates[n, j] * h[n, j]
    add_dweight(dweight_hh[: 2 * H], dgrz, h)
    add_dweight(dweight_hh[2 * H :], dah, rh)


@jit
def gru_seed_cell_forward(h_next, gates, x, h, weight_ih, weight_hh, bias):
    """One GRU cell step, seed formulation.

    h_next: (B, H) written.  gates: (B, 3H) written, the cache for backward.
    x: (B, I).  h: (B, H).  weight_ih: (3H, I) rows [W_rx; W_zx; W_x].
    weight_hh: (3H, H) rows [W_rh; W_zh; W_h].  bias: (3H,) [b_r; b_z; b_h].
    """
    B, H = h.shape
    gi = np.empty((B, 3 * H), dtype=h.dtype)  # x W_ih^T + bias
    project(gi, x, weight_ih, bias)
    gru_seed_step_forward(h_next, gates, gi, h, weight_hh)


@jit
def gru_seed_cell_backward(
    dx, dh, dweight_ih, dweight_hh, dbias,
    dh_next, gates, x, h, weight_ih, weight_hh,
):
    """Mirror of ``gru_seed_cell_forward``: writes dx (B, I) and dh (B, H),
    adds into dweight_ih (3H, I), dweight_hh (3H, H), dbias (3H,)."""
    B, H = h.shape
    dgi = np.empty((B, 3 * H), dtype=h.dtype)
    gru_seed_step_backward(dgi, dh, dh_next, gates, h, weight_hh)
    gru_seed_dweight_hh(dweight_hh, dgi, gates, h)
    np.dot(dgi, weight_ih, dx)
    add_dweight(dweight_ih, dgi, x)
    add_dbias(dbias, dgi)
