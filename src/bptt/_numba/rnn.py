"""Elman RNN cell: Numba twin of ``bptt._numpy.rnn``.

    h' = act(W_ih x + b_ih + W_hh h + b_hh),   act in {tanh, relu, sigmoid}

``activation`` is the integer code shared by every backend. The cache for
backward is h' itself: each derivative is taken from the post-activation
value.
"""

import math

import numpy as np

from ._config import jit
from ._math import add_dbias, add_dweight, project, sigmoid

TANH, RELU, SIGMOID = 0, 1, 2


@jit
def _act(a, activation):
    """act(a) for one scalar; ``type(a)(0)`` keeps float32 in float32."""
    if activation == TANH:
        return math.tanh(a)
    if activation == RELU:
        # not max(a, 0): a NaN must stay NaN, as with np.maximum
        return type(a)(0) if a < 0 else a
    return sigmoid(a)


@jit
def _dact(h_next, activation):
    """act'(a), taken from h_next = act(a)."""
    one = type(h_next)(1)
    if activation == TANH:
        return one - h_next * h_next
    if activation == RELU:
        # torch's convention: 1 where h' > 0, else 0 (also at a = 0)
        return one if h_next > 0 else type(h_next)(0)
    return h_next * (one - h_next)


@jit
def rnn_step_forward(h_next, gi, h, weight_hh, bias_hh, activation):
    """h_next: (B, H) written.  gi: (B, H) = x W_ih^T + b_ih.  h: (B, H)."""
    B, H = h.shape
    ah = np.empty((B, H), dtype=h.dtype)  # h W_hh^T
    np.dot(h, weight_hh.T, ah)
    for b in range(B):
        for j in range(H):
            h_next[b, j] = _act(gi[b, j] + ah[b, j] + bias_hh[j], activation)  # [RNN h']


@jit
def rnn_step_backward(da, dh, dh_next, h_next, weight_hh, activation):
    """Mirror of ``rnn_step_forward``.

    da: (B, H) written, dL/d(pre-activation).  dh: (B, H) written.
    """
    B, H = h_next.shape
    for b in range(B):
        for j in range(H):
            da[b, j] = dh_next[b, j] * _dact(h_next[b, j], activation)
    np.dot(da, weight_hh, dh)


@jit
def rnn_cell_forward(h_next, x, h, weight_ih, weight_hh, bias_ih, bias_hh, activation):
    """h_next: (B, H) written.  x: (B, I).  h: (B, H).  weight_ih: (H, I).
    weight_hh: (H, H).  bias_ih, bias_hh: (H,)."""
    gi = np.empty_like(h)  # x W_ih^T + b_ih
    project(gi, x, weight_ih, bias_ih)
    rnn_step_forward(h_next, gi, h, weight_hh, bias_hh, activation)


@jit
def rnn_cell_backward(
    dx, dh, dweight_ih, dweight_hh, dbias_ih, dbias_hh,
    dh_next, h_next, x, h, weight_ih, weight_hh, activation,
):
    """Mirror of ``rnn_cell_forward``: writes dx (B, I), dh (B, H), adds into
    the four parameter gradients."""
    da = np.empty_like(h)
    rnn_step_backward(da, dh, dh_next, h_next, weight_hh, activation)
    add_dweight(dweight_hh, da, h)
    add_dbias(dbias_hh, da)
    np.dot(da, weight_ih, dx)
    add_dweight(dweight_ih, da, x)
    add_dbias(dbias_ih, da)
