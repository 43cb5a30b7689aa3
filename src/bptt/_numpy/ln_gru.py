"""Layer-normalised GRU (haste's LayerNormGRU; torch's gate equations):

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

from ._layernorm import layer_norm_backward, layer_norm_forward
from ._math import sigmoid
from ._sequence import recurrent_weights_backward, sequence_kernels


def step_forward(new, gates, gi, old, weight_hh, bias_hh, extras, option):
    """new = (h',), old = (h,): (B, H).  gates: (B, 10H + 2) written.
    gi: (B, 3H) = u = x W_ih^T (the driver's bias slot is zero)."""
    (h,), (h_next,) = old, new
    bias_ih, bias_hh, gamma_ih, gamma_hh = extras
    H = h.shape[1]
    u_hat, v_hat = gates[:, 4 * H : 7 * H], gates[:, 7 * H : 10 * H]
    gates[:, 10 * H] = layer_norm_forward(u_hat, gi)  # [LN-GRU gi]
    gates[:, 10 * H + 1] = layer_norm_forward(v_hat, h @ weight_hh.T)  # [LN-GRU gh]
    a_i = u_hat * gamma_ih + bias_ih
    a_h = v_hat * gamma_hh + bias_hh
    r = sigmoid(a_i[:, :H] + a_h[:, :H])  # [torch-GRU r]
    z = sigmoid(a_i[:, H : 2 * H] + a_h[:, H : 2 * H])  # [torch-GRU z]
    hn = a_h[:, 2 * H :]
    n = np.tanh(a_i[:, 2 * H :] + r * hn)  # [torch-GRU n]
    h_next[...] = (1 - z) * n + z * h  # [torch-GRU h']
    gates[:, :H] = r
    gates[:, H : 2 * H] = z
    gates[:, 2 * H : 3 * H] = n
    gates[:, 3 * H : 4 * H] = hn


def step_backward(dgi, dgh, dold, dnew, gates, old, new, weight_hh, extras, dextras, option):
    """Mirror of ``step_forward``: dgi = dL/du and dgh = dL/dv (B, 3H), dold =
    (dh,) written; the biases' and gains' gradients added into dextras."""
    (h,), (dh,), (dh_next,) = old, dold, dnew
    _, _, gamma_ih, gamma_hh = extras
    dbias_ih, dbias_hh, dgamma_ih, dgamma_hh = dextras
    H = h.shape[1]
    r, z, n, hn = (gates[:, k * H : (k + 1) * H] for k in range(4))
    u_hat, v_hat = gates[:, 4 * H : 7 * H], gates[:, 7 * H : 10 * H]
    # the torch GRU's gate gradients  [torch-GRU dn] ... [torch-GRU da_z]
    dn = dh_next * (1 - z)
    dz = dh_next * (h - n)
    dan = dn * (1 - n * n)
    dr = dan * hn
    dhn = dan * r
    dar = dr * r * (1 - r)
    daz = dz * z * (1 - z)
    da_i = np.concatenate([dar, daz, dan], axis=1)  # dL/d(gi), (B, 3H)
    da_h = np.concatenate([dar, daz, dhn], axis=1)  # dL/d(gh)
    # gi = u^ gamma_ih + b_ih, gh = v^ gamma_hh + b_hh   [LN-GRU dgamma]
    dbias_ih += da_i.sum(axis=0)
    dbias_hh += da_h.sum(axis=0)
    dgamma_ih += (da_i * u_hat).sum(axis=0)
    dgamma_hh += (da_h * v_hat).sum(axis=0)
    layer_norm_backward(dgi, da_i * gamma_ih, u_hat, gates[:, 10 * H])  # [LN-GRU du]
    layer_norm_backward(dgh, da_h * gamma_hh, v_hat, gates[:, 10 * H + 1])  # [LN-GRU dv]
    dh[...] = dh_next * z + dgh @ weight_hh  # [LN-GRU dh]


def weights_backward(dweight_hh, dbias_hh, dextras, dgh, gates, h_prev, weight_hh, extras, option):
    """v = h W_hh^T: dW_hh from dgh = dL/dv (N, 3H); the zero bias slot's
    gradient goes to scratch.  [LN-GRU dW]"""
    recurrent_weights_backward(dweight_hh, dbias_hh, dgh, h_prev)


seq_forward, seq_backward, seq_infer, cell_forward, cell_backward = sequence_kernels(
    step_forward, step_backward, weights_backward, separate_dgh=True)
