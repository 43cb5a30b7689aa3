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
"""

import numpy as np

from ._config import jit_inline
from ._layernorm import layer_norm_backward, layer_norm_forward
from ._math import dot_n, dot_t
from ._sequence import recurrent_weights_backward, sequence_kernels
from ._vmath import sigmoid, tanh


@jit_inline
def forward_workspace(initial, weight_hh, extras):
    """The step's scratch: (v,), v (B, 3H) = h W_hh^T."""
    h = initial[0]
    return (np.empty((h.shape[0], weight_hh.shape[0]), dtype=h.dtype),)


@jit_inline
def step_forward(new, gates, gi, old, weight_hh, bias_hh, extras, option, work):
    """new = (h',), old = (h,): (B, H).  gates: (B, 10H + 2) written.
    gi: (B, 3H) = u = x W_ih^T (the driver's bias slot is zero; so is
    bias_hh, unused)."""
    (h,), (h_next,), (v,) = old, new, work
    bias_ih, bias_hh, gamma_ih, gamma_hh = extras
    B, H = h.shape
    one = h.dtype.type(1)
    u_hat, v_hat = gates[:, 4 * H : 7 * H], gates[:, 7 * H : 10 * H]
    layer_norm_forward(u_hat, gates[:, 10 * H], gi)  # [LN-GRU gi]
    dot_t(v, h, weight_hh)  # h W_hh^T
    layer_norm_forward(v_hat, gates[:, 10 * H + 1], v)  # [LN-GRU gh]
    for b in range(B):
        for j in range(H):
            ai_r = u_hat[b, j] * gamma_ih[j] + bias_ih[j]
            ai_z = u_hat[b, H + j] * gamma_ih[H + j] + bias_ih[H + j]
            ai_n = u_hat[b, 2 * H + j] * gamma_ih[2 * H + j] + bias_ih[2 * H + j]
            ah_r = v_hat[b, j] * gamma_hh[j] + bias_hh[j]
            ah_z = v_hat[b, H + j] * gamma_hh[H + j] + bias_hh[H + j]
            hn = v_hat[b, 2 * H + j] * gamma_hh[2 * H + j] + bias_hh[2 * H + j]
            r = sigmoid(ai_r + ah_r)  # [torch-GRU r]
            z = sigmoid(ai_z + ah_z)  # [torch-GRU z]
            n = tanh(ai_n + r * hn)  # [torch-GRU n]
            h_next[b, j] = (one - z) * n + z * h[b, j]  # [torch-GRU h']
            gates[b, j] = r
            gates[b, H + j] = z
            gates[b, 2 * H + j] = n
            gates[b, 3 * H + j] = hn


@jit_inline
def backward_workspace(dinitial, weight_hh, extras):
    """The step's scratch: (dh_v, dsum), dh_v (B, H) = dgh W_hh; dsum (4, 3H):
    the step's gradients of b_ih, b_hh, gamma_ih, gamma_hh summed over the
    batch before they are added into dextras."""
    dh = dinitial[0]
    return (np.empty_like(dh), np.empty((4, weight_hh.shape[0]), dtype=dh.dtype))


@jit_inline
def step_backward(dgi, dgh, dold, dnew, gates, old, new, weight_hh, extras, dextras, option,
                  work):
    """Mirror of ``step_forward``: dgi = dL/du and dgh = dL/dv (B, 3H), dold =
    (dh,) written; the biases' and gains' gradients added into dextras."""
    (h,), (dh,), (dh_next,), (dh_v, dsum) = old, dold, dnew, work
    _, _, gamma_ih, gamma_hh = extras
    B, H = h.shape
    G = 3 * H
    one = h.dtype.type(1)
    zero = h.dtype.type(0)
    u_hat, v_hat = gates[:, 4 * H : 7 * H], gates[:, 7 * H : 10 * H]
    for s in range(4):
        for k in range(G):
            dsum[s, k] = zero
    for b in range(B):
        for j in range(H):
            r = gates[b, j]
            z = gates[b, H + j]
            n = gates[b, 2 * H + j]
            hn = gates[b, 3 * H + j]
            # the torch GRU's gate gradients  [torch-GRU dn] ... [torch-GRU da_z]
            dn = dh_next[b, j] * (one - z)
            dz = dh_next[b, j] * (h[b, j] - n)
            dan = dn * (one - n * n)
            dr = dan * hn
            dhn = dan * r
            dar = dr * r * (one - r)
            daz = dz * z * (one - z)
            # gi = u^ gamma_ih + b_ih, gh = v^ gamma_hh + b_hh   [LN-GRU dgamma]
            # da_i = [dar | daz | dan] = dL/d(gi), da_h = [dar | daz | dhn] = dL/d(gh)
            dsum[0, j] += dar
            dsum[0, H + j] += daz
            dsum[0, 2 * H + j] += dan
            dsum[1, j] += dar
            dsum[1, H + j] += daz
            dsum[1, 2 * H + j] += dhn
            dsum[2, j] += dar * u_hat[b, j]
            dsum[2, H + j] += daz * u_hat[b, H + j]
            dsum[2, 2 * H + j] += dan * u_hat[b, 2 * H + j]
            dsum[3, j] += dar * v_hat[b, j]
            dsum[3, H + j] += daz * v_hat[b, H + j]
            dsum[3, 2 * H + j] += dhn * v_hat[b, 2 * H + j]
            # dL/d(u^) and dL/d(v^), normalised back in place below
            dgi[b, j] = dar * gamma_ih[j]
            dgi[b, H + j] = daz * gamma_ih[H + j]
            dgi[b, 2 * H + j] = dan * gamma_ih[2 * H + j]
            dgh[b, j] = dar * gamma_hh[j]
            dgh[b, H + j] = daz * gamma_hh[H + j]
            dgh[b, 2 * H + j] = dhn * gamma_hh[2 * H + j]
    dbias_ih, dbias_hh, dgamma_ih, dgamma_hh = dextras
    for k in range(G):
        dbias_ih[k] += dsum[0, k]  # [LN-GRU dgamma]
        dbias_hh[k] += dsum[1, k]
        dgamma_ih[k] += dsum[2, k]
        dgamma_hh[k] += dsum[3, k]
    layer_norm_backward(dgi, dgi, u_hat, gates[:, 10 * H])  # [LN-GRU du]
    layer_norm_backward(dgh, dgh, v_hat, gates[:, 10 * H + 1])  # [LN-GRU dv]
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
