"""Elman RNN cell (SPEC.md "Elman RNN"):

    h' = act(W_ih x + b_ih + W_hh h + b_hh),   act in {tanh, relu, sigmoid}

``activation`` is an integer code shared by every backend: TANH, RELU,
SIGMOID. The cache for backward is h' itself: each derivative is taken from
the post-activation value.
"""

import numpy as np

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
        da[...] = dh_next * (1 - h_next * h_next)
    elif activation == RELU:
        da[...] = dh_next * (h_next > 0)
    else:
        da[...] = dh_next * h_next * (1 - h_next)
    dh[...] = da @ weight_hh


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
    dweight_hh += da.T @ h
    dbias_hh += da.sum(axis=0)
    dx[...] = da @ weight_ih
    dweight_ih += da.T @ x
    dbias_ih += da.sum(axis=0)
