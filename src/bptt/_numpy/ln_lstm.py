"""Layer-normalised LSTM (Ba et al. 2016; haste's LayerNormLSTM), gates i, f, g, o:

    u = W_ih x,  v = W_hh h                          (B, 4H) each, no bias inside
    a  = LN(u) (.) gamma_ih + b_ih + LN(v) (.) gamma_hh + b_hh
    i, f, g, o = sigma(a_i), sigma(a_f), tanh(a_g), sigma(a_o)
    c' = f (.) c + i (.) g
    h' = o (.) tanh(LN(c') (.) gamma_c + beta_c)

LN normalises each row over its features (4H for u and v, H for c'); the
carried state c' is not normalised. extras = (b_ih, b_hh, gamma_ih, gamma_hh,
gamma_c, beta_c); the driver's bias slots hold zeros. Cache (B, 14H + 3):
[i | f | g | o | tanh(LN(c') gamma_c + beta_c) | u^ (4H) | v^ (4H) | c'^ |
1/sigma_u | 1/sigma_v | 1/sigma_c].
"""

import numpy as np

from ._layernorm import layer_norm_backward, layer_norm_forward
from ._math import sigmoid
from ._sequence import recurrent_weights_backward, sequence_kernels


def step_forward(new, gates, gi, old, weight_hh, bias_hh, extras, option):
    """new = (h', c'), old = (h, c): (B, H).  gates: (B, 14H + 3) written.
    gi: (B, 4H) = u = x W_ih^T (the driver's bias slot is zero)."""
    (h, c), (h_next, c_next) = old, new
    bias_ih, bias_hh, gamma_ih, gamma_hh, gamma_c, beta_c = extras
    H = h.shape[1]
    u_hat, v_hat = gates[:, 5 * H : 9 * H], gates[:, 9 * H : 13 * H]
    c_hat = gates[:, 13 * H : 14 * H]
    gates[:, 14 * H] = layer_norm_forward(u_hat, gi)  # [LN-LSTM a]
    gates[:, 14 * H + 1] = layer_norm_forward(v_hat, h @ weight_hh.T)
    a = u_hat * gamma_ih + bias_ih + (v_hat * gamma_hh + bias_hh)  # (B, 4H)
    i = sigmoid(a[:, :H])  # [LSTM i]
    f = sigmoid(a[:, H : 2 * H])  # [LSTM f]
    g = np.tanh(a[:, 2 * H : 3 * H])  # [LSTM g]
    o = sigmoid(a[:, 3 * H :])  # [LSTM o]
    c_next[...] = f * c + i * g  # [LSTM c']
    gates[:, 14 * H + 2] = layer_norm_forward(c_hat, c_next)  # [LN-LSTM h']
    tc = np.tanh(c_hat * gamma_c + beta_c)
    h_next[...] = o * tc  # [LN-LSTM h']
    for k, value in enumerate((i, f, g, o, tc)):
        gates[:, k * H : (k + 1) * H] = value


def step_backward(dgi, dgh, dold, dnew, gates, old, new, weight_hh, extras, dextras, option):
    """Mirror of ``step_forward``: dgi = dL/du and dgh = dL/dv (B, 4H), dold =
    (dh, dc) written; the biases', gains' and beta_c's gradients added into dextras."""
    (h, c), (dh, dc), (dh_next, dc_next) = old, dold, dnew
    _, _, gamma_ih, gamma_hh, gamma_c, _ = extras
    dbias_ih, dbias_hh, dgamma_ih, dgamma_hh, dgamma_c, dbeta_c = dextras
    H = h.shape[1]
    i, f, g, o, tc = (gates[:, k * H : (k + 1) * H] for k in range(5))
    u_hat, v_hat = gates[:, 5 * H : 9 * H], gates[:, 9 * H : 13 * H]
    c_hat = gates[:, 13 * H : 14 * H]
    # h' = o tanh(l), l = c'^ gamma_c + beta_c   [LN-LSTM dc']
    do = dh_next * tc
    dl = dh_next * o * (1 - tc * tc)
    dgamma_c += (dl * c_hat).sum(axis=0)
    dbeta_c += dl.sum(axis=0)
    dc_total = np.empty_like(c)
    layer_norm_backward(dc_total, dl * gamma_c, c_hat, gates[:, 14 * H + 2])
    dc_total += dc_next
    # c' = f c + i g, and the gates  [LSTM df] ... [LSTM da]
    da = np.concatenate([dc_total * g * i * (1 - i), dc_total * c * f * (1 - f),
                         dc_total * i * (1 - g * g), do * o * (1 - o)], axis=1)
    dc[...] = dc_total * f  # [LSTM dc]
    # a = u^ gamma_ih + b_ih + v^ gamma_hh + b_hh   [LN-LSTM dgamma]
    dbias_ih += da.sum(axis=0)
    dbias_hh += da.sum(axis=0)
    dgamma_ih += (da * u_hat).sum(axis=0)
    dgamma_hh += (da * v_hat).sum(axis=0)
    layer_norm_backward(dgi, da * gamma_ih, u_hat, gates[:, 14 * H])  # [LN-LSTM du]
    layer_norm_backward(dgh, da * gamma_hh, v_hat, gates[:, 14 * H + 1])  # [LN-LSTM dv]
    dh[...] = dgh @ weight_hh  # [LN-LSTM dh]


def weights_backward(dweight_hh, dbias_hh, dextras, dgh, gates, h_prev, weight_hh, extras, option):
    """v = h W_hh^T: dW_hh from dgh = dL/dv (N, 4H).  [LN-LSTM dW]"""
    recurrent_weights_backward(dweight_hh, dbias_hh, dgh, h_prev)


seq_forward, seq_backward, seq_infer, cell_forward, cell_backward = sequence_kernels(
    step_forward, step_backward, weights_backward, separate_dgh=True)
