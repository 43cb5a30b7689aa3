"""Layer-normalised GRU (haste's LayerNormGRU; torch's gate equations): Numba
twin of ``bptt._numpy.ln_gru``.

    u = W_ih x,  v = W_hh h                         (B, 3H) each, no bias inside
    gi = LN(u) (.) gamma_ih + b_ih,  gh = LN(v) (.) gamma_hh + b_hh
    r  = sigma(gi_r + gh_r)
    z  = sigma(gi_z + gh_z)
    n  = tanh(gi_n + r (.) gh_n)
    h' = (1 - z) (.) n + z (.) h

LN normalises each row over all 3H features (``_layernorm``). The biases come
after the normalisation, so they travel as extras: extras = (b_ih, b_hh,
gamma_ih, gamma_hh), and the driver's own bias slots hold zeros. Cache
(B, 10H + 2): [r | z | n | gh_n | u^ (3H) | v^ (3H) | 1/sigma_u | 1/sigma_v].

The step's element-wise work is done by row functions (``gates_forward``,
``gates_backward`` and ``_layernorm``'s), each over one row of the batch in
short loops over contiguous blocks that LLVM vectorises, each loop writing
one block of one array and reading others (see ``lstm.gates_forward``): so
the gates read u^ and v^ from the step's scratch, not from their copies in the
cache row they write, and backward recomputes da_n where a loop needs it
rather than read it from another block of the array it writes. Forward runs
each function over the whole batch in turn; backward takes each row through
all of its functions while the row is in the L1 cache (each order the faster
at (I, H, B) = (256, 256, 32), by 5-10%). The row functions are ``jit_exact``:
LLVM inlines them, flags intact, and the arrays they take cost no reference
counting, where a ``jit_inline`` function called per row would pay atomic
operations on each of its arrays on every call; they take arrays, not tuples
of them, for the same reason.
"""

import numpy as np

from ._config import jit_exact, jit_inline
from ._layernorm import layer_norm_backward, layer_norm_forward, row_sum_scratch, unsigned
from ._math import dot_n, dot_t
from ._sequence import recurrent_weights_backward, sequence_kernels
from ._vmath import sigmoid, tanh


@jit_inline
def forward_workspace(initial, weight_hh, extras):
    """The step's scratch: (v, u_hat, partial): v (B, 3H) = h W_hh^T, then v^;
    u_hat (B, 3H) = u^; partial, ``row_sum``'s."""
    h = initial[0]
    B, G = h.shape[0], weight_hh.shape[0]
    return (np.empty((B, G), dtype=h.dtype), np.empty((B, G), dtype=h.dtype), row_sum_scratch(h))


@jit_exact
def gates_forward(h_next, gates, u_hat, v_hat, h, bias_ih, bias_hh, gamma_ih, gamma_hh, b):
    """The gate math of row b: h_next[b] and gates[b, :4H] [r | z | n | gh_n]
    written.  u_hat, v_hat: (B, 3H) the normalised products (scratch: the n
    blocks of row b are overwritten).  h: (B, H)."""
    H = h.shape[1]
    one = h.dtype.type(1)
    # gi = u^ gamma_ih + b_ih, gh = v^ gamma_hh + b_hh   [LN-GRU gi], [LN-GRU gh]
    for k in range(2 * H):
        gates[b, k] = sigmoid((u_hat[b, k] * gamma_ih[k] + bias_ih[k])
                              + (v_hat[b, k] * gamma_hh[k] + bias_hh[k]))  # [torch-GRU r], z
    for j in range(H):
        k = 2 * H + j
        v_hat[b, k] = v_hat[b, k] * gamma_hh[k] + bias_hh[k]  # gh_n
    for j in range(H):
        gates[b, 3 * H + j] = v_hat[b, 2 * H + j]  # gh_n, kept for dL/dr
    for j in range(H):
        k = 2 * H + j
        u_hat[b, k] = (u_hat[b, k] * gamma_ih[k] + bias_ih[k]) + gates[b, j] * v_hat[b, k]
    for j in range(H):
        gates[b, 2 * H + j] = tanh(u_hat[b, 2 * H + j])  # [torch-GRU n]
    for j in range(H):
        z = gates[b, H + j]
        h_next[b, j] = (one - z) * gates[b, 2 * H + j] + z * h[b, j]  # [torch-GRU h']


@jit_inline
def step_forward(new, gates, gi, old, weight_hh, bias_hh, extras, option, work):
    """new = (h',), old = (h,): (B, H).  gates: (B, 10H + 2) written.
    gi: (B, 3H) = u = x W_ih^T (the driver's bias slot is zero; so is
    bias_hh, unused)."""
    (h,), (h_next,), (v, u_hat, partial) = old, new, work
    bias_ih, bias_hh, gamma_ih, gamma_hh = extras
    B, H = h.shape
    dot_t(v, h, weight_hh)  # h W_hh^T
    for b in range(B):
        layer_norm_forward(u_hat, gates, 4 * H, 10 * H, gi, b, partial)  # [LN-GRU gi]
    for b in range(B):
        layer_norm_forward(v, gates, 7 * H, 10 * H + 1, v, b, partial)  # [LN-GRU gh], in place
    for b in range(B):
        gates_forward(h_next, gates, u_hat, v, h, bias_ih, bias_hh, gamma_ih, gamma_hh, b)


@jit_inline
def backward_workspace(dinitial, weight_hh, extras):
    """The step's scratch: (dh_v, dsum, partial): dh_v (B, H) = dgh W_hh; dsum
    (4, 3H): the step's gradients of b_ih, b_hh, gamma_ih, gamma_hh summed
    over the batch before they are added into dextras; partial, ``row_sum``'s."""
    dh = dinitial[0]
    return (np.empty_like(dh), np.empty((4, weight_hh.shape[0]), dtype=dh.dtype),
            row_sum_scratch(dh))


@jit_exact
def gates_backward(dgi, dgh, dsum, gates, h, dh_next, gamma_ih, gamma_hh, b):
    """Row b of the torch GRU's gate gradients: da_i = [dar | daz | dan] =
    dL/d(gi) and da_h = [dar | daz | dhn] = dL/d(gh), added into dsum =
    [db_ih; db_hh; dgamma_ih; dgamma_hh] (4, 3H), then dgi[b] = da_i gamma_ih
    = dL/d(u^) and dgh[b] = da_h gamma_hh = dL/d(v^) written (B, 3H).
    [torch-GRU dn] ... [torch-GRU da_z], [LN-GRU dgamma]"""
    H = h.shape[1]
    G = 3 * H
    one = h.dtype.type(1)
    for j in range(H):
        z, n = gates[b, H + j], gates[b, 2 * H + j]
        dn = dh_next[b, j] * (one - z)  # [torch-GRU dn]
        dgi[b, 2 * H + j] = dn * (one - n * n)  # [torch-GRU da_n]
    for j in range(H):
        r, z, n, hn = gates[b, j], gates[b, H + j], gates[b, 2 * H + j], gates[b, 3 * H + j]
        dan = dh_next[b, j] * (one - z) * (one - n * n)
        dr = dan * hn  # [torch-GRU dr]
        dgi[b, j] = dr * r * (one - r)  # [torch-GRU da_r]
    for j in range(H):
        z, n = gates[b, H + j], gates[b, 2 * H + j]
        dz = dh_next[b, j] * (h[b, j] - n)  # [torch-GRU dz]
        dgi[b, H + j] = dz * z * (one - z)  # [torch-GRU da_z]
    for k in range(2 * H):
        dgh[b, k] = dgi[b, k]
    for j in range(H):
        r, z, n = gates[b, j], gates[b, H + j], gates[b, 2 * H + j]
        dan = dh_next[b, j] * (one - z) * (one - n * n)
        dgh[b, 2 * H + j] = dan * r  # [torch-GRU dhn]
    # gi = u^ gamma_ih + b_ih, gh = v^ gamma_hh + b_hh   [LN-GRU dgamma]
    for k in range(G):
        dsum[0, k] += dgi[b, k]
    for k in range(G):
        dsum[1, k] += dgh[b, k]
    for k in range(G):
        dsum[2, k] += dgi[b, k] * gates[b, unsigned(4 * H + k)]
    for k in range(G):
        dsum[3, k] += dgh[b, k] * gates[b, unsigned(7 * H + k)]
    for k in range(G):
        dgi[b, k] *= gamma_ih[k]
    for k in range(G):
        dgh[b, k] *= gamma_hh[k]


@jit_inline
def step_backward(dgi, dgh, dold, dnew, gates, old, new, weight_hh, extras, dextras, option,
                  work):
    """Mirror of ``step_forward``: dgi = dL/du and dgh = dL/dv (B, 3H), dold =
    (dh,) written; the biases' and gains' gradients added into dextras."""
    (h,), (dh,), (dh_next,), (dh_v, dsum, partial) = old, dold, dnew, work
    _, _, gamma_ih, gamma_hh = extras
    dbias_ih, dbias_hh, dgamma_ih, dgamma_hh = dextras
    B, H = h.shape
    G = 3 * H
    zero = h.dtype.type(0)
    for s in range(4):
        for k in range(G):
            dsum[s, k] = zero
    for b in range(B):
        gates_backward(dgi, dgh, dsum, gates, h, dh_next, gamma_ih, gamma_hh, b)
        layer_norm_backward(dgi, gates, 4 * H, 10 * H, b, partial)  # [LN-GRU du]
        layer_norm_backward(dgh, gates, 7 * H, 10 * H + 1, b, partial)  # [LN-GRU dv]
    for k in range(G):
        dbias_ih[k] += dsum[0, k]  # [LN-GRU dgamma]
    for k in range(G):
        dbias_hh[k] += dsum[1, k]
    for k in range(G):
        dgamma_ih[k] += dsum[2, k]
    for k in range(G):
        dgamma_hh[k] += dsum[3, k]
    dot_n(dh_v, dgh, weight_hh)
    for b in range(B):
        for j in range(H):
            dh[b, j] = dh_next[b, j] * gates[b, H + j] + dh_v[b, j]  # [LN-GRU dh]


@jit_inline
def weights_backward(dweight_hh, dbias_hh, dextras, dgh, gates, h_prev, weight_hh, extras, option):
    """v = h W_hh^T: dW_hh from dgh = dL/dv (N, 3H); the zero bias slot's
    gradient goes to scratch.  [LN-GRU dW]"""
    recurrent_weights_backward(dweight_hh, dbias_hh, dgh, h_prev)


seq_forward, seq_backward, seq_infer, cell_forward, cell_backward = sequence_kernels(
    step_forward, step_backward, weights_backward, forward_workspace, backward_workspace,
    separate_dgh=True)
