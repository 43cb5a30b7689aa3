"""Elman RNN cell: Numba twin of ``bptt._numpy.rnn``.

    h' = act(W_ih x + b_ih + W_hh h + b_hh),   act in {tanh, relu, sigmoid}

``activation`` is the integer code shared by every backend. The cache for
backward is h' itself: each derivative is taken from the post-activation
value.
"""

import numpy as np

from .._families import ACTIVATIONS
from ._config import jit, jit_inline
from ._math import dot_n, dot_t
from ._sequence import (
    bias_gradient,
    cell_fast_kernels,
    plain_step,
    plain_upstream,
    recurrent_weights_backward,
    sequence_kernels,
)
from ._vmath import sigmoid, tanh

TANH, RELU, SIGMOID = (ACTIVATIONS[name] for name in ("tanh", "relu", "sigmoid"))


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


@jit_inline
def forward_workspace(initial, weight_hh, extras):
    """The step's scratch: (ah,), ah (B, H) = h W_hh^T."""
    return (np.empty_like(initial[0]),)


@jit_inline
def step_forward(new, gates, gi, old, weight_hh, bias_hh, extras, option, work):
    """new = (h',), old = (h,): (B, H).  gates: (B, 0), nothing: h' is the cache.
    gi: (B, H) = x W_ih^T + b_ih.  weight_hh: (H, H).  bias_hh: (H,)."""
    (h,), (h_next,), (ah,) = old, new, work
    B, H = h.shape
    zero = h.dtype.type(0)
    dot_t(ah, h, weight_hh)  # h W_hh^T
    # one loop per activation, over a row's contiguous units: LLVM vectorises it
    for b in range(B):
        if option == TANH:
            for j in range(H):
                h_next[b, j] = tanh(gi[b, j] + ah[b, j] + bias_hh[j])  # [RNN h']
        elif option == RELU:
            for j in range(H):
                v = gi[b, j] + ah[b, j] + bias_hh[j]
                h_next[b, j] = zero if v < zero else v  # [RNN h']; NaN passes, as np.maximum
        else:
            for j in range(H):
                h_next[b, j] = sigmoid(gi[b, j] + ah[b, j] + bias_hh[j])  # [RNN h']


@jit_inline
def backward_workspace(dinitial, weight_hh, extras):
    """No scratch: the step writes dgi and dh only."""
    return ()


@jit_inline
def step_backward(dgi, dgh, dold, dnew, gates, old, new, weight_hh, extras, dextras, option,
                  work):
    """Mirror of ``step_forward``: dgi (B, H) written, dL/d(pre-activation)
    (dgh is the same array); dold = (dh,) written.  dnew = (dh',).  The
    derivative of the activation is taken from h' (new)."""
    (h_next,), (dh,), (dh_next,) = new, dold, dnew
    B, H = h_next.shape
    for b in range(B):
        for j in range(H):
            dgi[b, j] = dh_next[b, j] * _dact(h_next[b, j], option)  # [RNN da]
    dot_n(dh, dgi, weight_hh)  # [RNN dh]


@jit_inline
def weights_backward(dweight_hh, dbias_hh, dextras, dgh, gates, h_prev, weight_hh, extras, option):
    """a = gi + h W_hh^T + b_hh: dW_hh, db_hh from dgh (N, H), h_prev (N, H).  [RNN dW]"""
    recurrent_weights_backward(dweight_hh, dbias_hh, dgh, h_prev)


seq_forward, seq_backward, seq_infer, cell_forward, cell_backward = sequence_kernels(
    step_forward, step_backward, weights_backward, forward_workspace, backward_workspace,
    separate_dgh=False)


# RNNCell's one-call fast path (conventions in _sequence.py; csrc/rnn.pyx's
# twin, but forward keeps x and h in its saved array, and backward takes shapes)
cell_fast_forward, cell_fast_backward, SAVED_PER_H = cell_fast_kernels("rnn")
fast_saves_inputs = True  # (bptt.cells keeps the shapes of x and h, not copies)


def rnn_cell_forward_fast(x, h, weight_ih, weight_hh, bias_ih, bias_hh, activation):
    """One RNNCell step: x (I,) and h (H,), or x (B, I) and h (B, H);
    activation the code. Returns (h_next shaped like h, saved: [h_next (B, H)
    | x | h]), or None if an argument is not exactly that."""
    dtype = weight_hh.dtype
    if not plain_step(x, h, dtype):
        return None
    h_next = h.copy()  # shaped as h (cheaper than np.empty(h.shape)), then written
    saved = np.empty(SAVED_PER_H * h.size + x.size, dtype)
    if cell_fast_forward(h_next, saved, x, h, weight_ih, weight_hh, bias_ih, bias_hh, activation):
        return h_next, saved
    return None


def rnn_cell_backward_fast(dh_next, batched, saved, x_shape, h_shape, weight_ih, weight_hh,
                           dweight_ih, dweight_hh, dbias_ih, dbias_hh, activation):
    """Mirror of ``rnn_cell_forward_fast`` on its saved array: adds into the
    parameter gradients (dbias None: no bias, zeros added into). Returns (dx, dh) shaped as
    forward's x and h, or None."""
    dtype = weight_hh.dtype
    if not plain_upstream(dh_next, dtype):
        return None
    dx, dh = np.empty(x_shape, dtype), np.empty(h_shape, dtype)
    dbias_ih = bias_gradient(dbias_ih, weight_ih.shape[0], dtype)
    dbias_hh = bias_gradient(dbias_hh, weight_hh.shape[0], dtype)
    if cell_fast_backward(dx, dh, dh_next, saved, batched, weight_ih, weight_hh, dweight_ih,
                          dweight_hh, dbias_ih, dbias_hh, activation):
        return dx, dh
    return None
