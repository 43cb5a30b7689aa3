"""GRU cell, torch / cuDNN formulation: Numba twin of ``bptt._numpy.gru``.
Gates stacked r, z, n:

    r  = sigma(W_ir x + b_ir + W_hr h + b_hr)
    z  = sigma(W_iz x + b_iz + W_hz h + b_hz)
    n  = tanh(W_in x + b_in + r (.) (W_hn h + b_hn))
    h' = (1 - z) (.) n + z (.) h

The family's hooks for the shared kernels (``_sequence.py``); the seed
formulation's family is ``gru_seed``. Matrix products go to BLAS (or, tiny,
to a loop) through ``_math``'s helpers; the element-wise gate math of a step
is a few loops over each row's units. ``one = h.dtype.type(1)`` keeps float32
arithmetic in float32 (a bare ``1`` would promote it to float64).
"""

import numpy as np

from ._config import jit_inline
from ._math import dot_n, step_project
from ._sequence import (
    bias_gradient,
    cell_fast_kernels,
    plain_step,
    plain_upstream,
    recurrent_weights_backward,
    sequence_kernels,
)
from ._vmath import sigmoid, tanh


@jit_inline
def forward_workspace(initial, weight_hh, extras):
    """The step's scratch: (gh,), gh (B, 3H) = h W_hh^T + b_hh."""
    h = initial[0]
    return (np.empty((h.shape[0], weight_hh.shape[0]), dtype=h.dtype),)


@jit_inline
def gates_forward(h_next, gates, gi, gh, h):
    """The gate math of a step: h_next (B, H) and gates (B, 4H) [r | z | n | hn]
    written.  gi: (B, 3H) = x W_ih^T + b_ih.  gh: (B, 3H) = h W_hh^T + b_hh,
    its last block overwritten.  h: (B, H).  Short loops that LLVM vectorises
    (see ``lstm.gates_forward``): a_n goes through gh's block, not gates'."""
    B, H = h.shape
    one = h.dtype.type(1)
    for b in range(B):
        for k in range(2 * H):
            gates[b, k] = sigmoid(gi[b, k] + gh[b, k])  # [torch-GRU r], [torch-GRU z]
        for j in range(H):
            gates[b, 3 * H + j] = gh[b, 2 * H + j]  # hn
        for j in range(H):
            gh[b, 2 * H + j] = gi[b, 2 * H + j] + gates[b, j] * gh[b, 2 * H + j]  # gi_n + r hn
        for j in range(H):
            gates[b, 2 * H + j] = tanh(gh[b, 2 * H + j])  # [torch-GRU n]
        for j in range(H):
            z = gates[b, H + j]
            h_next[b, j] = (one - z) * gates[b, 2 * H + j] + z * h[b, j]  # [torch-GRU h']


@jit_inline
def step_forward(new, gates, gi, old, weight_hh, bias_hh, extras, option, work):
    """new = (h',), old = (h,): (B, H).  gates: (B, 4H) written: [r | z | n | hn],
    where hn = W_hn h + b_hn is kept because dL/dr needs it.
    gi: (B, 3H) = x W_ih^T + b_ih.  weight_hh: (3H, H).  bias_hh: (3H,)."""
    (h,), (h_next,), (gh,) = old, new, work
    step_project(gh, h, weight_hh, bias_hh)  # h W_hh^T + b_hh
    gates_forward(h_next, gates, gi, gh, h)


@jit_inline
def backward_workspace(dinitial, weight_hh, extras):
    """The step's scratch: (dgh_h,), dgh_h (B, H) = dgh W_hh."""
    return (np.empty_like(dinitial[0]),)


@jit_inline
def step_backward(dgi, dgh, dold, dnew, gates, old, new, weight_hh, extras, dextras, option,
                  work):
    """Mirror of ``step_forward``.

    dgi: (B, 3H) written, dL/d(gi).  dgh: (B, 3H) written, dL/d(W_hh h + b_hh).
    dold = (dh,) written, dL/dh.  dnew = (dh',).
    """
    (h,), (dh,), (dh_next,), (dgh_h,) = old, dold, dnew, work
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
    dot_n(dgh_h, dgh, weight_hh)  # [torch-GRU dh]
    for b in range(B):
        for j in range(H):
            dh[b, j] += dgh_h[b, j]  # [torch-GRU dh]


@jit_inline
def weights_backward(dweight_hh, dbias_hh, dextras, dgh, gates, h_prev, weight_hh, extras, option):
    """gh = h W_hh^T + b_hh: dW_hh, db_hh from dgh (N, 3H), h_prev (N, H).  [torch-GRU dW]"""
    recurrent_weights_backward(dweight_hh, dbias_hh, dgh, h_prev)


seq_forward, seq_backward, seq_infer, cell_forward, cell_backward = sequence_kernels(
    step_forward, step_backward, weights_backward, forward_workspace, backward_workspace,
    separate_dgh=True)


# GRUCell's one-call fast path (conventions in _sequence.py; csrc/gru.pyx's
# twin, but forward keeps x and h in its saved array, and backward takes shapes)
cell_fast_forward, cell_fast_backward, SAVED_PER_H = cell_fast_kernels("gru")
fast_saves_inputs = True  # (bptt.cells keeps the shapes of x and h, not copies)


def gru_cell_forward_fast(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    """One GRUCell step: x (I,) and h (H,), or x (B, I) and h (B, H). Returns
    (h_next shaped like h, saved: [gates (B, 4H) | x | h]), or None if an
    argument is not exactly that."""
    dtype = weight_hh.dtype
    if not plain_step(x, h, dtype):
        return None
    h_next = h.copy()  # shaped as h (cheaper than np.empty(h.shape)), then written
    saved = np.empty(SAVED_PER_H * h.size + x.size, dtype)
    if cell_fast_forward(h_next, saved, x, h, weight_ih, weight_hh, bias_ih, bias_hh, 0.0):
        return h_next, saved
    return None


def gru_cell_backward_fast(dh_next, batched, saved, x_shape, h_shape, weight_ih, weight_hh,
                           dweight_ih, dweight_hh, dbias_ih, dbias_hh):
    """Mirror of ``gru_cell_forward_fast`` on its saved array: adds into the
    parameter gradients (dbias None: no bias, zeros added into). dh_next: (B, H), or (H,) or
    (1, H) when not batched. Returns (dx, dh) shaped as forward's x and h, or
    None."""
    dtype = weight_hh.dtype
    if not plain_upstream(dh_next, dtype):
        return None
    dx, dh = np.empty(x_shape, dtype), np.empty(h_shape, dtype)
    dbias_ih = bias_gradient(dbias_ih, weight_ih.shape[0], dtype)
    dbias_hh = bias_gradient(dbias_hh, weight_hh.shape[0], dtype)
    if cell_fast_backward(dx, dh, dh_next, saved, batched, weight_ih, weight_hh, dweight_ih,
                          dweight_hh, dbias_ih, dbias_hh, 0.0):
        return dx, dh
    return None
