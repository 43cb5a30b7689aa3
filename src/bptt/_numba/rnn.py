"""Elman RNN cell: Numba twin of ``bptt._numpy.rnn``.

    h' = act(W_ih x + b_ih + W_hh h + b_hh),   act in {tanh, relu, sigmoid}

``activation`` is the integer code shared by every backend. The cache for
backward is h' itself: each derivative is taken from the post-activation
value.
"""

import math

import numpy as np

from . import _seq
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
        return one - h_next * h_next  # [RNN da], tanh
    if activation == RELU:
        # torch's convention: 1 where h' > 0, else 0 (also at a = 0)
        return one if h_next > 0 else type(h_next)(0)  # [RNN da], relu
    return h_next * (one - h_next)  # [RNN da], sigmoid


@jit
def rnn_step_forward(h_next, gi, h, weight_hh, bias_hh, activation):
    """h_next: (B, H) written.  gi: (B, H) = x W_ih^T + b_ih.  h: (B, H)."""
    ah = np.empty_like(h)
    _rnn_step_forward(h_next, gi, h, weight_hh, bias_hh, activation, ah)


@jit
def _rnn_step_forward(h_next, gi, h, weight_hh, bias_hh, activation, ah):
    """``rnn_step_forward`` on the caller's workspace ah: (B, H)."""
    B, H = h.shape
    np.dot(h, weight_hh.T, ah)  # h W_hh^T
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
            da[b, j] = dh_next[b, j] * _dact(h_next[b, j], activation)  # [RNN da]
    np.dot(da, weight_hh, dh)  # [RNN dh]


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
    add_dweight(dweight_hh, da, h)  # [RNN dW]
    add_dbias(dbias_hh, da)  # [RNN dW]
    np.dot(da, weight_ih, dx)  # [RNN dW]
    add_dweight(dweight_ih, da, x)  # [RNN dW]
    add_dbias(dbias_ih, da)  # [RNN dW]


# ----------------------------------------------------------------------------
# sequences: one layer, one direction (conventions in _seq.py)
# ----------------------------------------------------------------------------


@jit
def rnn_seq_forward(
    output, h_n, hs, x, h0, weight_ih, weight_hh, bias_ih, bias_hh, lengths, reverse, activation
):
    """output: (T, B, H) written.  h_n: (B, H) written.  hs: (T+1, B, H)
    written, the whole cache.  x: (T, B, I).  h0: (B, H).  lengths: (B,)."""
    T, B, _ = x.shape
    H = h0.shape[1]
    gi = np.empty((T, B, H), dtype=x.dtype)  # x W_ih^T + b_ih
    ah = np.empty((B, H), dtype=x.dtype)  # step workspace
    _seq.input_projection(gi, x, weight_ih, bias_ih)
    hs[_seq.final_index(T, not reverse)] = h0
    for k in range(T):
        t = _seq.step_at(k, T, reverse)
        p, q = _seq.prev_next(t, reverse)
        _rnn_step_forward(hs[q], gi[t], hs[p], weight_hh, bias_hh, activation, ah)
        _seq.keep_invalid_rows(hs[q], hs[p], t, lengths)
        _seq.masked_output(output[t], hs[q], t, lengths)
    h_n[:] = hs[_seq.final_index(T, reverse)]


@jit
def rnn_seq_backward(
    dx, dh0, dweight_ih, dweight_hh, dbias_ih, dbias_hh,
    doutput, dh_n, hs, x, weight_ih, weight_hh, lengths, reverse, activation,
):
    """Mirror of ``rnn_seq_forward``."""
    T, B, _ = x.shape
    H = dh0.shape[1]
    da = np.empty((T, B, H), dtype=x.dtype)
    dh = dh_n.copy()  # dL/d(state), carried backwards through time; [BPTT carry]
    dh_prev = np.empty_like(dh)  # the step writes here; swapped with dh
    dh_next = np.empty_like(dh)  # dh + doutput[t], the step's input
    for k in range(T - 1, -1, -1):
        t = _seq.step_at(k, T, reverse)
        _, q = _seq.prev_next(t, reverse)
        _seq.masked_sum(dh_next, dh, doutput[t], t, lengths)  # [BPTT carry], [BPTT lengths]
        rnn_step_backward(da[t], dh_prev, dh_next, hs[q], weight_hh, activation)
        _seq.keep_invalid_rows(dh_prev, dh, t, lengths)  # [BPTT lengths]
        dh, dh_prev = dh_prev, dh  # [BPTT carry]
    dh0[:] = dh  # [BPTT carry]: the carry is now dL/dh0
    # dW_hh += dA^T Hprev and db_hh, over all T*B rows at once
    da2 = da.reshape(T * B, H)
    add_dweight(dweight_hh, da2, _seq.previous_states(hs, reverse))  # [BPTT dW_hh]
    add_dbias(dbias_hh, da2)  # [BPTT dW_hh]
    _seq.input_backward(dx, dweight_ih, dbias_ih, da, x, weight_ih)  # [BPTT dW_ih]
