"""Layer-normalised LSTM (Ba et al. 2016; haste's LayerNormLSTM), gates i, f,
g, o: Numba twin of ``bptt._numpy.ln_lstm``.

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

from ._config import jit_inline
from ._layernorm import layer_norm_backward, layer_norm_forward
from ._math import dot_n, dot_t
from ._sequence import recurrent_weights_backward, sequence_kernels
from ._vmath import sigmoid, tanh


@jit_inline
def forward_workspace(initial, weight_hh, extras):
    """The step's scratch: (v,), v (B, 4H) = h W_hh^T."""
    h = initial[0]
    return (np.empty((h.shape[0], weight_hh.shape[0]), dtype=h.dtype),)


@jit_inline
def step_forward(new, gates, gi, old, weight_hh, bias_hh, extras, option, work):
    """new = (h', c'), old = (h, c): (B, H).  gates: (B, 14H + 3) written.
    gi: (B, 4H) = u = x W_ih^T (the driver's bias slot is zero; so is
    bias_hh, unused)."""
    (h, c), (h_next, c_next), (v,) = old, new, work
    bias_ih, bias_hh, gamma_ih, gamma_hh, gamma_c, beta_c = extras
    B, H = h.shape
    u_hat, v_hat = gates[:, 5 * H : 9 * H], gates[:, 9 * H : 13 * H]
    c_hat = gates[:, 13 * H : 14 * H]
    layer_norm_forward(u_hat, gates[:, 14 * H], gi)  # [LN-LSTM a]
    dot_t(v, h, weight_hh)  # h W_hh^T
    layer_norm_forward(v_hat, gates[:, 14 * H + 1], v)
    for b in range(B):
        for j in range(H):
            a_i = (u_hat[b, j] * gamma_ih[j] + bias_ih[j]
                   + (v_hat[b, j] * gamma_hh[j] + bias_hh[j]))
            k = H + j
            a_f = u_hat[b, k] * gamma_ih[k] + bias_ih[k] + (v_hat[b, k] * gamma_hh[k] + bias_hh[k])
            k = 2 * H + j
            a_g = u_hat[b, k] * gamma_ih[k] + bias_ih[k] + (v_hat[b, k] * gamma_hh[k] + bias_hh[k])
            k = 3 * H + j
            a_o = u_hat[b, k] * gamma_ih[k] + bias_ih[k] + (v_hat[b, k] * gamma_hh[k] + bias_hh[k])
            i = sigmoid(a_i)  # [LSTM i]
            f = sigmoid(a_f)  # [LSTM f]
            g = tanh(a_g)  # [LSTM g]
            o = sigmoid(a_o)  # [LSTM o]
            c_next[b, j] = f * c[b, j] + i * g  # [LSTM c']
            gates[b, j] = i
            gates[b, H + j] = f
            gates[b, 2 * H + j] = g
            gates[b, 3 * H + j] = o
    layer_norm_forward(c_hat, gates[:, 14 * H + 2], c_next)  # [LN-LSTM h']
    for b in range(B):
        for j in range(H):
            tc = tanh(c_hat[b, j] * gamma_c[j] + beta_c[j])
            h_next[b, j] = gates[b, 3 * H + j] * tc  # [LN-LSTM h']
            gates[b, 4 * H + j] = tc


@jit_inline
def backward_workspace(dinitial, weight_hh, extras):
    """The step's scratch: (dc_total, dsum), dc_total (B, H) = dL/dc' in all;
    dsum (5, 4H): the step's gradients of b_ih (= b_hh's), gamma_ih, gamma_hh,
    gamma_c and beta_c (the last two in their first H columns), summed over the
    batch before they are added into dextras."""
    dc = dinitial[1]
    return (np.empty_like(dc), np.empty((5, weight_hh.shape[0]), dtype=dc.dtype))


@jit_inline
def step_backward(dgi, dgh, dold, dnew, gates, old, new, weight_hh, extras, dextras, option,
                  work):
    """Mirror of ``step_forward``: dgi = dL/du and dgh = dL/dv (B, 4H), dold =
    (dh, dc) written; the biases', gains' and beta_c's gradients added into dextras."""
    (h, c), (dh, dc), (dh_next, dc_next), (dc_total, dsum) = old, dold, dnew, work
    _, _, gamma_ih, gamma_hh, gamma_c, _ = extras
    dbias_ih, dbias_hh, dgamma_ih, dgamma_hh, dgamma_c, dbeta_c = dextras
    B, H = h.shape
    G = 4 * H
    one = h.dtype.type(1)
    zero = h.dtype.type(0)
    u_hat, v_hat = gates[:, 5 * H : 9 * H], gates[:, 9 * H : 13 * H]
    c_hat = gates[:, 13 * H : 14 * H]
    for s in range(5):
        for k in range(G):
            dsum[s, k] = zero
    # h' = o tanh(l), l = c'^ gamma_c + beta_c   [LN-LSTM dc']
    for b in range(B):
        for j in range(H):
            o = gates[b, 3 * H + j]
            tc = gates[b, 4 * H + j]
            dl = dh_next[b, j] * o * (one - tc * tc)
            dsum[3, j] += dl * c_hat[b, j]
            dsum[4, j] += dl
            dc_total[b, j] = dl * gamma_c[j]  # dL/d(c'^), normalised back in place below
    layer_norm_backward(dc_total, dc_total, c_hat, gates[:, 14 * H + 2])
    # c' = f c + i g, and the gates  [LSTM df] ... [LSTM da]
    for b in range(B):
        for j in range(H):
            i = gates[b, j]
            f = gates[b, H + j]
            g = gates[b, 2 * H + j]
            o = gates[b, 3 * H + j]
            tc = gates[b, 4 * H + j]
            dct = dc_total[b, j] + dc_next[b, j]
            do = dh_next[b, j] * tc
            da_i = dct * g * i * (one - i)
            da_f = dct * c[b, j] * f * (one - f)
            da_g = dct * i * (one - g * g)
            da_o = do * o * (one - o)
            dc[b, j] = dct * f  # [LSTM dc]
            # a = u^ gamma_ih + b_ih + v^ gamma_hh + b_hh   [LN-LSTM dgamma]
            k = j
            dsum[0, k] += da_i
            dsum[1, k] += da_i * u_hat[b, k]
            dsum[2, k] += da_i * v_hat[b, k]
            dgi[b, k] = da_i * gamma_ih[k]  # dL/d(u^), normalised back in place below
            dgh[b, k] = da_i * gamma_hh[k]  # dL/d(v^), likewise
            k = H + j
            dsum[0, k] += da_f
            dsum[1, k] += da_f * u_hat[b, k]
            dsum[2, k] += da_f * v_hat[b, k]
            dgi[b, k] = da_f * gamma_ih[k]
            dgh[b, k] = da_f * gamma_hh[k]
            k = 2 * H + j
            dsum[0, k] += da_g
            dsum[1, k] += da_g * u_hat[b, k]
            dsum[2, k] += da_g * v_hat[b, k]
            dgi[b, k] = da_g * gamma_ih[k]
            dgh[b, k] = da_g * gamma_hh[k]
            k = 3 * H + j
            dsum[0, k] += da_o
            dsum[1, k] += da_o * u_hat[b, k]
            dsum[2, k] += da_o * v_hat[b, k]
            dgi[b, k] = da_o * gamma_ih[k]
            dgh[b, k] = da_o * gamma_hh[k]
    for k in range(G):
        dbias_ih[k] += dsum[0, k]  # [LN-LSTM dgamma]
        dbias_hh[k] += dsum[0, k]
        dgamma_ih[k] += dsum[1, k]
        dgamma_hh[k] += dsum[2, k]
    for j in range(H):
        dgamma_c[j] += dsum[3, j]  # [LN-LSTM dc']
        dbeta_c[j] += dsum[4, j]
    layer_norm_backward(dgi, dgi, u_hat, gates[:, 14 * H])  # [LN-LSTM du]
    layer_norm_backward(dgh, dgh, v_hat, gates[:, 14 * H + 1])  # [LN-LSTM dv]
    dot_n(dh, dgh, weight_hh)  # [LN-LSTM dh]


@jit_inline
def weights_backward(dweight_hh, dbias_hh, dextras, dgh, gates, h_prev, weight_hh, extras, option):
    """v = h W_hh^T: dW_hh from dgh = dL/dv (N, 4H).  [LN-LSTM dW]"""
    recurrent_weights_backward(dweight_hh, dbias_hh, dgh, h_prev)


seq_forward, seq_backward, seq_infer, cell_forward, cell_backward = sequence_kernels(
    step_forward, step_backward, weights_backward, forward_workspace, backward_workspace,
    separate_dgh=True)
