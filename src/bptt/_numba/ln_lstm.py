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

As ``ln_gru``: the step's element-wise work is done by ``jit_exact`` row
functions taking arrays, short loops over contiguous blocks each writing one
block of one array (the gates read u^, v^ and c'^ from the step's scratch,
not from their copies in the cache row they write); forward runs each over the
whole batch in turn, backward takes each row through all of them.
"""

import numpy as np

from ._config import jit_exact, jit_inline
from ._layernorm import layer_norm_backward, layer_norm_forward, row_sum_scratch, unsigned
from ._math import dot_n, dot_t
from ._sequence import recurrent_weights_backward, sequence_kernels
from ._vmath import sigmoid, tanh


@jit_inline
def forward_workspace(initial, weight_hh, extras):
    """The step's scratch: (v, u_hat, c_hat, partial): v (B, 4H) = h W_hh^T,
    then v^; u_hat (B, 4H) = u^; c_hat (B, H) = c'^; partial, ``row_sum``'s."""
    h = initial[0]
    B, H, G = h.shape[0], h.shape[1], weight_hh.shape[0]
    return (np.empty((B, G), dtype=h.dtype), np.empty((B, G), dtype=h.dtype),
            np.empty((B, H), dtype=h.dtype), row_sum_scratch(h))


@jit_exact
def gates_forward(c_next, gates, u_hat, v_hat, c, bias_ih, bias_hh, gamma_ih, gamma_hh, b):
    """The gate math of row b up to c': c_next[b] and gates[b, :4H]
    [i | f | g | o] written.  u_hat, v_hat: (B, 4H) the normalised products.
    c: (B, H).  [LN-LSTM a]"""
    H = c.shape[1]
    # a = u^ gamma_ih + b_ih + v^ gamma_hh + b_hh
    for k in range(2 * H):
        gates[b, k] = sigmoid((u_hat[b, k] * gamma_ih[k] + bias_ih[k])
                              + (v_hat[b, k] * gamma_hh[k] + bias_hh[k]))  # [LSTM i], f
    for j in range(H):
        k = 2 * H + j
        gates[b, k] = tanh((u_hat[b, k] * gamma_ih[k] + bias_ih[k])
                           + (v_hat[b, k] * gamma_hh[k] + bias_hh[k]))  # [LSTM g]
    for j in range(H):
        k = 3 * H + j
        gates[b, k] = sigmoid((u_hat[b, k] * gamma_ih[k] + bias_ih[k])
                              + (v_hat[b, k] * gamma_hh[k] + bias_hh[k]))  # [LSTM o]
    for j in range(H):
        f, i, g = gates[b, H + j], gates[b, j], gates[b, 2 * H + j]
        c_next[b, j] = f * c[b, j] + i * g  # [LSTM c']


@jit_exact
def output_forward(h_next, gates, c_hat, gamma_c, beta_c, b):
    """h' = o tanh(c'^ gamma_c + beta_c), row b: h_next[b] and gates[b, 4H:5H]
    written.  c_hat: (B, H) = c'^.  [LN-LSTM h']"""
    H = c_hat.shape[1]
    for j in range(H):
        gates[b, 4 * H + j] = tanh(c_hat[b, j] * gamma_c[j] + beta_c[j])
    for j in range(H):
        h_next[b, j] = gates[b, 3 * H + j] * gates[b, 4 * H + j]  # [LN-LSTM h']


@jit_inline
def step_forward(new, gates, gi, old, weight_hh, bias_hh, extras, option, work):
    """new = (h', c'), old = (h, c): (B, H).  gates: (B, 14H + 3) written.
    gi: (B, 4H) = u = x W_ih^T (the driver's bias slot is zero; so is
    bias_hh, unused)."""
    (h, c), (h_next, c_next), (v, u_hat, c_hat, partial) = old, new, work
    bias_ih, bias_hh, gamma_ih, gamma_hh, gamma_c, beta_c = extras
    B, H = h.shape
    dot_t(v, h, weight_hh)  # h W_hh^T
    for b in range(B):
        layer_norm_forward(u_hat, gates, 5 * H, 14 * H, gi, b, partial)  # [LN-LSTM a]
    for b in range(B):
        layer_norm_forward(v, gates, 9 * H, 14 * H + 1, v, b, partial)  # in place
    for b in range(B):
        gates_forward(c_next, gates, u_hat, v, c, bias_ih, bias_hh, gamma_ih, gamma_hh, b)
    for b in range(B):
        layer_norm_forward(c_hat, gates, 13 * H, 14 * H + 2, c_next, b, partial)  # [LN-LSTM h']
    for b in range(B):
        output_forward(h_next, gates, c_hat, gamma_c, beta_c, b)


@jit_inline
def backward_workspace(dinitial, weight_hh, extras):
    """The step's scratch: (dc_total, dsum, partial), dc_total (B, H) = dL/dc'
    in all; dsum (5, 4H): the step's gradients of b_ih (= b_hh's), gamma_ih,
    gamma_hh, gamma_c and beta_c (the last two in their first H columns),
    summed over the batch before they are added into dextras; partial,
    ``row_sum``'s."""
    dc = dinitial[1]
    return (np.empty_like(dc), np.empty((5, weight_hh.shape[0]), dtype=dc.dtype),
            row_sum_scratch(dc))


@jit_exact
def output_backward(dl, dsum, gates, dh_next, gamma_c, b):
    """h' = o tanh(l), l = c'^ gamma_c + beta_c, row b: dl[b] written,
    dL/d(c'^) = dL/dl gamma_c; dL/dgamma_c and dL/dbeta_c added into
    dsum[3, :H], dsum[4, :H].  [LN-LSTM dc']"""
    H = dl.shape[1]
    one = dl.dtype.type(1)
    for j in range(H):
        o, tc = gates[b, 3 * H + j], gates[b, 4 * H + j]
        dl[b, j] = dh_next[b, j] * o * (one - tc * tc)
    for j in range(H):
        dsum[3, j] += dl[b, j] * gates[b, 13 * H + j]
    for j in range(H):
        dsum[4, j] += dl[b, j]
    for j in range(H):
        dl[b, j] *= gamma_c[j]  # dL/d(c'^), normalised back in place next


@jit_exact
def gates_backward(dgi, dgh, dc, dsum, gates, c, dct, dh_next, dc_next, gamma_ih, gamma_hh, b):
    """c' = f c + i g, and the gates, row b: dct[b] += dc_next[b], dL/dc' in
    all; dc[b] and da = dL/da written; dL/db_ih (= dL/db_hh), dL/dgamma_ih and
    dL/dgamma_hh added into dsum[:3]; then dgi[b] = da gamma_ih = dL/d(u^) and
    dgh[b] = da gamma_hh = dL/d(v^) (B, 4H).  [LSTM df] ... [LSTM da],
    [LN-LSTM dgamma]"""
    H = c.shape[1]
    G = 4 * H
    one = c.dtype.type(1)
    for j in range(H):
        dct[b, j] += dc_next[b, j]
    for j in range(H):
        dc[b, j] = dct[b, j] * gates[b, H + j]  # [LSTM dc]
    for j in range(H):
        i, g = gates[b, j], gates[b, 2 * H + j]
        dgi[b, j] = dct[b, j] * g * i * (one - i)  # da_i
    for j in range(H):
        f = gates[b, H + j]
        dgi[b, H + j] = dct[b, j] * c[b, j] * f * (one - f)  # da_f
    for j in range(H):
        i, g = gates[b, j], gates[b, 2 * H + j]
        dgi[b, 2 * H + j] = dct[b, j] * i * (one - g * g)  # da_g
    for j in range(H):
        o, tc = gates[b, 3 * H + j], gates[b, 4 * H + j]
        do = dh_next[b, j] * tc
        dgi[b, 3 * H + j] = do * o * (one - o)  # da_o
    # a = u^ gamma_ih + b_ih + v^ gamma_hh + b_hh   [LN-LSTM dgamma]
    for k in range(G):
        dsum[0, k] += dgi[b, k]
    for k in range(G):
        dsum[1, k] += dgi[b, k] * gates[b, unsigned(5 * H + k)]
    for k in range(G):
        dsum[2, k] += dgi[b, k] * gates[b, unsigned(9 * H + k)]
    for k in range(G):
        dgh[b, k] = dgi[b, k] * gamma_hh[k]
    for k in range(G):
        dgi[b, k] *= gamma_ih[k]


@jit_inline
def step_backward(dgi, dgh, dold, dnew, gates, old, new, weight_hh, extras, dextras, option,
                  work):
    """Mirror of ``step_forward``: dgi = dL/du and dgh = dL/dv (B, 4H), dold =
    (dh, dc) written; the biases', gains' and beta_c's gradients added into dextras."""
    (h, c), (dh, dc), (dh_next, dc_next), (dc_total, dsum, partial) = old, dold, dnew, work
    _, _, gamma_ih, gamma_hh, gamma_c, _ = extras
    dbias_ih, dbias_hh, dgamma_ih, dgamma_hh, dgamma_c, dbeta_c = dextras
    B, H = h.shape
    G = 4 * H
    zero = h.dtype.type(0)
    for s in range(5):
        for k in range(G):
            dsum[s, k] = zero
    for b in range(B):
        # h' = o tanh(l), l = c'^ gamma_c + beta_c   [LN-LSTM dc']
        output_backward(dc_total, dsum, gates, dh_next, gamma_c, b)
        layer_norm_backward(dc_total, gates, 13 * H, 14 * H + 2, b, partial)
        gates_backward(dgi, dgh, dc, dsum, gates, c, dc_total, dh_next, dc_next, gamma_ih,
                       gamma_hh, b)
        layer_norm_backward(dgi, gates, 5 * H, 14 * H, b, partial)  # [LN-LSTM du]
        layer_norm_backward(dgh, gates, 9 * H, 14 * H + 1, b, partial)  # [LN-LSTM dv]
    for k in range(G):
        dbias_ih[k] += dsum[0, k]  # [LN-LSTM dgamma]
    for k in range(G):
        dbias_hh[k] += dsum[0, k]
    for k in range(G):
        dgamma_ih[k] += dsum[1, k]
    for k in range(G):
        dgamma_hh[k] += dsum[2, k]
    for j in range(H):
        dgamma_c[j] += dsum[3, j]  # [LN-LSTM dc']
    for j in range(H):
        dbeta_c[j] += dsum[4, j]
    dot_n(dh, dgh, weight_hh)  # [LN-LSTM dh]


@jit_inline
def weights_backward(dweight_hh, dbias_hh, dextras, dgh, gates, h_prev, weight_hh, extras, option):
    """v = h W_hh^T: dW_hh from dgh = dL/dv (N, 4H).  [LN-LSTM dW]"""
    recurrent_weights_backward(dweight_hh, dbias_hh, dgh, h_prev)


seq_forward, seq_backward, seq_infer, cell_forward, cell_backward = sequence_kernels(
    step_forward, step_backward, weights_backward, forward_workspace, backward_workspace,
    separate_dgh=True)
