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

``_gru_step_forward`` and friends are the step kernels on caller-provided
workspaces; the ``*_seq_*`` kernels at the bottom run a whole time loop in one
call (conventions in ``_seq.py``).
"""

import math

import numpy as np

from . import _seq
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
    gh = np.empty((B, 3 * H), dtype=h.dtype)
    _gru_step_forward(h_next, gates, gi, h, weight_hh, bias_hh, gh)


@jit
def _gru_step_forward(h_next, gates, gi, h, weight_hh, bias_hh, gh):
    """``gru_step_forward`` on the caller's workspace gh: (B, 3H)."""
    B, H = h.shape
    one = h.dtype.type(1)
    project(gh, h, weight_hh, bias_hh)  # h W_hh^T + b_hh
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
    dgh_h = np.empty((B, H), dtype=h.dtype)
    _gru_step_backward(dgi, dgh, dh, dh_next, gates, h, weight_hh, dgh_h)


@jit
def _gru_step_backward(dgi, dgh, dh, dh_next, gates, h, weight_hh, dgh_h):
    """``gru_step_backward`` on the caller's workspace dgh_h: (B, H)."""
    B, H = h.shape
    one = h.dtype.type(1)
    for b in range(B):
        for j in range(H):
            r = gates[b, j]
            z = gates[b, H + j]
            n = gates[b, 2 * H + j]
            hn = gates[b, 3 * H + j]
            # h' = (1 - z) n + z h
            dn = dh_next[b, j] * (one - z)  # [torch-GRU dn]
            dz = dh_next[b, j] * (h[b, j] - n)  # [torch-GRU dz]
            dh_direct = dh_next[b, j] * z  # first term of [torch-GRU dh]
            # n = tanh(a_n), a_n = gi_n + r hn
            dan = dn * (one - n * n)  # [torch-GRU da_n]
            dr = dan * hn  # [torch-GRU dr]
            dhn = dan * r  # [torch-GRU dhn]
            # r, z = sigma(a_r), sigma(a_z)
            dar = dr * r * (one - r)  # [torch-GRU da_r]
            daz = dz * z * (one - z)  # [torch-GRU da_z]
            dgi[b, j] = dar  # [torch-GRU dgi]
            dgi[b, H + j] = daz
            dgi[b, 2 * H + j] = dan
            dgh[b, j] = dar  # [torch-GRU dgh]
            dgh[b, H + j] = daz
            dgh[b, 2 * H + j] = dhn
            dh[b, j] = dh_direct
    # the recurrent path, through gh = h W_hh^T + b_hh
    np.dot(dgh, weight_hh, dgh_h)  # [torch-GRU dh]
    for b in range(B):
        for j in range(H):
            dh[b, j] += dgh_h[b, j]  # [torch-GRU dh]


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
    add_dweight(dweight_hh, dgh, h)  # [torch-GRU dW]
    add_dbias(dbias_hh, dgh)  # [torch-GRU dW]
    np.dot(dgi, weight_ih, dx)  # [torch-GRU dW]
    add_dweight(dweight_ih, dgi, x)  # [torch-GRU dW]
    add_dbias(dbias_ih, dgi)  # [torch-GRU dW]


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
    ghrz = np.empty((B, 2 * H), dtype=h.dtype)
    rh = np.empty((B, H), dtype=h.dtype)
    ghc = np.empty((B, H), dtype=h.dtype)
    _gru_seed_step_forward(h_next, gates, gi, h, weight_hh, ghrz, rh, ghc)


@jit
def _gru_seed_step_forward(h_next, gates, gi, h, weight_hh, ghrz, rh, ghc):
    """``gru_seed_step_forward`` on the caller's workspaces ghrz: (B, 2H),
    rh, ghc: (B, H)."""
    B, H = h.shape
    one = h.dtype.type(1)
    np.dot(h, weight_hh[: 2 * H].T, ghrz)  # h [W_rh; W_zh]^T
    for b in range(B):
        for j in range(H):
            r = sigmoid(gi[b, j] + ghrz[b, j])  # [seed-GRU r]
            z = sigmoid(gi[b, H + j] + ghrz[b, H + j])  # [seed-GRU z]
            rh[b, j] = r * h[b, j]
            gates[b, j] = r
            gates[b, H + j] = z
    np.dot(rh, weight_hh[2 * H :].T, ghc)  # (r h) W_h^T
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
    dh_direct = np.empty((B, H), dtype=h.dtype)
    dah = np.empty((B, H), dtype=h.dtype)
    dgrz = np.empty((B, 2 * H), dtype=h.dtype)
    drh = np.empty((B, H), dtype=h.dtype)
    _gru_seed_step_backward(dgi, dh, dh_next, gates, h, weight_hh, dh_direct, dah, dgrz, drh)


@jit
def _gru_seed_step_backward(dgi, dh, dh_next, gates, h, weight_hh, dh_direct, dah, dgrz, drh):
    """``gru_seed_step_backward`` on the caller's workspaces dh_direct, dah,
    drh: (B, H), dgrz: (B, 2H). dah (dL/d(a_h)) and dgrz (dgi[:, :2H]) are
    contiguous copies for BLAS."""
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
            # h~ = tanh(a_h), a_h = gi_h + W_h (r h)
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
    # dh is written last, so it may share memory with dh_next or h
    for b in range(B):
        for j in range(H):
            dh[b, j] = dh_direct[b, j] + dgrz_h[b, j]  # [seed-GRU dh]


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
    add_dweight(dweight_hh[: 2 * H], dgrz, h)  # [seed-GRU dW]
    add_dweight(dweight_hh[2 * H :], dah, rh)  # [seed-GRU dW]


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
    np.dot(dgi, weight_ih, dx)  # [seed-GRU dx]
    add_dweight(dweight_ih, dgi, x)  # [seed-GRU dW]
    add_dbias(dbias, dgi)  # [seed-GRU db]


# ----------------------------------------------------------------------------
# sequences: one layer, one direction (conventions in _seq.py)
# ----------------------------------------------------------------------------


@jit
def gru_seq_forward(
    output, h_n, hs, gates, x, h0, weight_ih, weight_hh, bias_ih, bias_hh, lengths, reverse
):
    """output: (T, B, H) written.  h_n: (B, H) written.  hs: (T+1, B, H) and
    gates: (T, B, 4H) written, the cache.  x: (T, B, I).  h0: (B, H).
    lengths: (B,) int64.  reverse: process t = T-1 .. 0."""
    T, B, _ = x.shape
    H = h0.shape[1]
    gi = np.empty((T, B, 3 * H), dtype=x.dtype)  # x W_ih^T + b_ih
    gh = np.empty((B, 3 * H), dtype=x.dtype)  # step workspace
    _seq.input_projection(gi, x, weight_ih, bias_ih)
    hs[_seq.final_index(T, not reverse)] = h0
    for k in range(T):
        t = _seq.step_at(k, T, reverse)
        p, q = _seq.prev_next(t, reverse)
        _gru_step_forward(hs[q], gates[t], gi[t], hs[p], weight_hh, bias_hh, gh)
        _seq.keep_invalid_rows(hs[q], hs[p], t, lengths)
        _seq.masked_output(output[t], hs[q], t, lengths)
    h_n[:] = hs[_seq.final_index(T, reverse)]


@jit
def gru_seq_backward(
    dx, dh0, dweight_ih, dweight_hh, dbias_ih, dbias_hh,
    doutput, dh_n, gates, hs, x, weight_ih, weight_hh, lengths, reverse,
):
    """Mirror of ``gru_seq_forward``: dx (T, B, I) and dh0 (B, H) written,
    parameter gradients added. doutput: (T, B, H); dh_n: (B, H)."""
    T, B, _ = x.shape
    H = dh0.shape[1]
    dgi = np.empty((T, B, 3 * H), dtype=x.dtype)
    dgh = np.empty((T, B, 3 * H), dtype=x.dtype)
    dh = dh_n.copy()  # dL/d(state), carried backwards through time; [BPTT carry]
    dh_prev = np.empty_like(dh)  # the step writes here; swapped with dh
    dh_next = np.empty_like(dh)  # dh + doutput[t], the step's input
    dgh_h = np.empty_like(dh)  # step workspace
    for k in range(T - 1, -1, -1):
        t = _seq.step_at(k, T, reverse)
        p, _ = _seq.prev_next(t, reverse)
        _seq.masked_sum(dh_next, dh, doutput[t], t, lengths)  # [BPTT carry], [BPTT lengths]
        _gru_step_backward(dgi[t], dgh[t], dh_prev, dh_next, gates[t], hs[p], weight_hh, dgh_h)
        _seq.keep_invalid_rows(dh_prev, dh, t, lengths)  # [BPTT lengths]
        dh, dh_prev = dh_prev, dh  # [BPTT carry]
    dh0[:] = dh  # [BPTT carry]: the carry is now dL/dh0
    # dW_hh += dGH^T Hprev and db_hh, over all T*B rows at once
    dgh2 = dgh.reshape(T * B, 3 * H)
    add_dweight(dweight_hh, dgh2, _seq.previous_states(hs, reverse))  # [BPTT dW_hh]
    add_dbias(dbias_hh, dgh2)  # [BPTT dW_hh]
    _seq.input_backward(dx, dweight_ih, dbias_ih, dgi, x, weight_ih)  # [BPTT dW_ih]


@jit
def gru_seed_seq_forward(
    output, h_n, hs, gates, x, h0, weight_ih, weight_hh, bias, lengths, reverse
):
    """As ``gru_seq_forward``, seed formulation: gates (T, B, 3H), one bias (3H,)."""
    T, B, _ = x.shape
    H = h0.shape[1]
    gi = np.empty((T, B, 3 * H), dtype=x.dtype)  # x W_ih^T + bias
    ghrz = np.empty((B, 2 * H), dtype=x.dtype)  # step workspaces
    rh = np.empty((B, H), dtype=x.dtype)
    ghc = np.empty((B, H), dtype=x.dtype)
    _seq.input_projection(gi, x, weight_ih, bias)
    hs[_seq.final_index(T, not reverse)] = h0
    for k in range(T):
        t = _seq.step_at(k, T, reverse)
        p, q = _seq.prev_next(t, reverse)
        _gru_seed_step_forward(hs[q], gates[t], gi[t], hs[p], weight_hh, ghrz, rh, ghc)
        _seq.keep_invalid_rows(hs[q], hs[p], t, lengths)
        _seq.masked_output(output[t], hs[q], t, lengths)
    h_n[:] = hs[_seq.final_index(T, reverse)]


@jit
def gru_seed_seq_backward(
    dx, dh0, dweight_ih, dweight_hh, dbias,
    doutput, dh_n, gates, hs, x, weight_ih, weight_hh, lengths, reverse,
):
    """Mirror of ``gru_seed_seq_forward``."""
    T, B, _ = x.shape
    H = dh0.shape[1]
    dgi = np.empty((T, B, 3 * H), dtype=x.dtype)
    dh = dh_n.copy()  # dL/d(state), carried backwards through time; [BPTT carry]
    dh_prev = np.empty_like(dh)  # the step writes here; swapped with dh
    dh_next = np.empty_like(dh)  # dh + doutput[t], the step's input
    dh_direct = np.empty_like(dh)  # step workspaces
    dah = np.empty_like(dh)
    dgrz = np.empty((B, 2 * H), dtype=x.dtype)
    drh = np.empty_like(dh)
    for k in range(T - 1, -1, -1):
        t = _seq.step_at(k, T, reverse)
        p, _ = _seq.prev_next(t, reverse)
        _seq.masked_sum(dh_next, dh, doutput[t], t, lengths)  # [BPTT carry], [BPTT lengths]
        _gru_seed_step_backward(
            dgi[t], dh_prev, dh_next, gates[t], hs[p], weight_hh, dh_direct, dah, dgrz, drh
        )
        _seq.keep_invalid_rows(dh_prev, dh, t, lengths)  # [BPTT lengths]
        dh, dh_prev = dh_prev, dh  # [BPTT carry]
    dh0[:] = dh  # [BPTT carry]: the carry is now dL/dh0
    # W_rh, W_zh multiply h, W_h multiplies r h: over all T*B rows at once
    gru_seed_dweight_hh(  # [BPTT dW_hh], by [seed-GRU dW]
        dweight_hh, dgi.reshape(T * B, 3 * H), gates.reshape(T * B, 3 * H),
        _seq.previous_states(hs, reverse),
    )
    _seq.input_backward(dx, dweight_ih, dbias, dgi, x, weight_ih)  # [BPTT dW_ih]
