"""Elman RNN cell (SPEC.md "Elman RNN"):

    h' = act(W_ih x + b_ih + W_hh h + b_hh),   act in {tanh, relu, sigmoid}

``activation`` is an integer code shared by every backend: TANH, RELU,
SIGMOID. The cache for backward is h' itself: each derivative is taken from
the post-activation value.
"""

import numpy as np

from . import _seq
from ._math import sigmoid

TANH, RELU, SIGMOID = 0, 1, 2


def rnn_step_forward(h_next, gi, h, weight_hh, bias_hh, activation):
    """h_next: (B, H) written.  gi: (B, H) = x W_ih^T + b_ih.  h: (B, H)."""
    a = gi + h @ weight_hh.T + bias_hh
    if activation == TANH:
        h_next[...] = np.tanh(a)  # [RNN h']
    elif activation == RELU:
        h_next[...] = np.maximum(a, 0)
    else:
        h_next[...] = sigmoid(a)


def rnn_step_backward(da, dh, dh_next, h_next, weight_hh, activation):
    """Mirror of ``rnn_step_forward``.

    da: (B, H) written, dL/d(pre-activation).  dh: (B, H) written.
    """
    if activation == TANH:
        da[...] = dh_next * (1 - h_next * h_next)  # [RNN da], tanh
    elif activation == RELU:
        da[...] = dh_next * (h_next > 0)  # [RNN da], relu
    else:
        da[...] = dh_next * h_next * (1 - h_next)  # [RNN da], sigmoid
    dh[...] = da @ weight_hh  # [RNN dh]


def rnn_cell_forward(h_next, x, h, weight_ih, weight_hh, bias_ih, bias_hh, activation):
    """h_next: (B, H) written.  x: (B, I).  h: (B, H).  weight_ih: (H, I).
    weight_hh: (H, H).  bias_ih, bias_hh: (H,)."""
    gi = x @ weight_ih.T + bias_ih  # (B, H)
    rnn_step_forward(h_next, gi, h, weight_hh, bias_hh, activation)


def rnn_cell_backward(
    dx, dh, dweight_ih, dweight_hh, dbias_ih, dbias_hh,
    dh_next, h_next, x, h, weight_ih, weight_hh, activation,
):
    """Mirror of ``rnn_cell_forward``: writes dx (B, I), dh (B, H), adds into
    the four parameter gradients."""
    da = np.empty_like(h)
    rnn_step_backward(da, dh, dh_next, h_next, weight_hh, activation)
    dweight_hh += da.T @ h  # [RNN dW]
    dbias_hh += da.sum(axis=0)  # [RNN dW]
    dx[...] = da @ weight_ih  # [RNN dW]
    dweight_ih += da.T @ x  # [RNN dW]
    dbias_ih += da.sum(axis=0)  # [RNN dW]


# ----------------------------------------------------------------------------
# sequences: one layer, one direction (conventions in _seq.py)
# ----------------------------------------------------------------------------


def rnn_seq_forward(
    output, h_n, hs, x, h0, weight_ih, weight_hh, bias_ih, bias_hh, lengths, reverse, activation
):
    """output: (T, B, H) written.  h_n: (B, H) written.  hs: (T+1, B, H)
    written, the whole cache.  x: (T, B, I).  h0: (B, H).  lengths: (B,)."""
    T = x.shape[0]
    gi = _seq.input_projection(x, weight_ih, bias_ih)  # (T, B, H)
    hs[_seq.final_index(T, not reverse)] = h0
    for t in _seq.steps(T, reverse):
        p, q = _seq.prev_next(t, reverse)
        valid = t < lengths
        rnn_step_forward(hs[q], gi[t], hs[p], weight_hh, bias_hh, activation)
        _seq.keep_invalid_rows(hs[q], hs[p], valid)
        output[t] = hs[q] * valid[:, None]
    h_n[...] = hs[_seq.final_index(T, reverse)]


def rnn_seq_backward(
    dx, dh0, dweight_ih, dweight_hh, dbias_ih, dbias_hh,
    doutput, dh_n, hs, x, weight_ih, weight_hh, lengths, reverse, activation,
):
    """Mirror of ``rnn_seq_forward``."""
    T, B, _ = x.shape
    H = dh0.shape[1]
    da = np.empty((T, B, H), dtype=x.dtype)
    dh = dh_n.copy()  # [BPTT carry]
    dh_prev = np.empty_like(dh)
    for t in reversed(_seq.steps(T, reverse)):
        _, q = _seq.prev_next(t, reverse)
        valid = t < lengths
        dh_next = (dh + doutput[t]) * valid[:, None]  # [BPTT carry], [BPTT lengths]
        rnn_step_backward(da[t], dh_prev, dh_next, hs[q], weight_hh, activation)
        _seq.keep_invalid_rows(dh_prev, dh, valid)  # [BPTT lengths]
        dh, dh_prev = dh_prev, dh  # [BPTT carry]
    dh0[...] = dh  # [BPTT carry]: the carry is now dL/dh0
    h_prev = _seq.previous_states(hs, reverse).reshape(T * B, H)
    da2 = da.reshape(T * B, H)
    dweight_hh += da2.T @ h_prev  # [BPTT dW_hh]
    dbias_hh += da2.sum(axis=0)  # [BPTT dW_hh]
    _seq.input_backward(dx, dweight_ih, dbias_ih, da, x, weight_ih)  # [BPTT dW_ih]
