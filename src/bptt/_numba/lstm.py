"""LSTM cell: Numba twin of ``bptt._numpy.lstm``. Gates stacked i, f, g, o:

    i = sigma(a_i)   f = sigma(a_f)   g = tanh(a_g)   o = sigma(a_o)
    a = W_ih x + b_ih + W_hh h + b_hh                      (B, 4H)
    c' = f (.) c + i (.) g
    h' = o (.) tanh(c')

The cache is gates (B, 5H) = [i | f | g | o | tanh(c')], all post-activation.
The family's hooks for the shared kernels (``_sequence.py``).
``one = h.dtype.type(1)`` keeps float32 arithmetic in float32.
"""

import numpy as np

from ._config import jit_inline
from ._math import dot_n, dot_t
from ._sequence import (
    bias_gradient,
    cell_fast_kernels,
    plain_step_2,
    plain_upstream,
    recurrent_weights_backward,
    sequence_kernels,
)
from ._vmath import sigmoid, tanh


@jit_inline
def forward_workspace(initial, weight_hh, extras):
    """The step's scratch: (ah,), ah (B, 4H) = h W_hh^T."""
    h = initial[0]
    return (np.empty((h.shape[0], weight_hh.shape[0]), dtype=h.dtype),)


@jit_inline
def gates_forward(h_next, c_next, gates, gi, ah, c, bias_hh):
    """The gate math of a step: h_next, c_next (B, H) and gates (B, 5H)
    [i | f | g | o | tanh c'] written.  gi: (B, 4H) = x W_ih^T + b_ih.
    ah: (B, 4H) = h W_hh^T.  c: (B, H).  bias_hh: (4H,).

    Per row, short loops over contiguous blocks, so that LLVM vectorises every
    one. Numba's arrays carry no no-alias promise, so LLVM checks overlaps at
    run time: each loop writes one block and reads other arrays, or its own
    block at the same index (a loop reading one block of gates and writing
    another stays scalar, and too many arrays exceed LLVM's budget of checks).
    Rows are indexed, not taken as views, and this is one call per step: each
    view and each array bound to an inlined function's argument is reference
    counted, atomic operations that dominated a step at hidden size 6.
    """
    B, H = c.shape
    for b in range(B):
        for k in range(2 * H):
            gates[b, k] = sigmoid(gi[b, k] + ah[b, k] + bias_hh[k])  # [LSTM i], [LSTM f]
        for j in range(H):
            k = 2 * H + j
            gates[b, k] = tanh(gi[b, k] + ah[b, k] + bias_hh[k])  # [LSTM g]
        for j in range(H):
            k = 3 * H + j
            gates[b, k] = sigmoid(gi[b, k] + ah[b, k] + bias_hh[k])  # [LSTM o]
        for j in range(H):
            f, i, g = gates[b, H + j], gates[b, j], gates[b, 2 * H + j]
            c_next[b, j] = f * c[b, j] + i * g  # [LSTM c']
        for j in range(H):
            gates[b, 4 * H + j] = tanh(c_next[b, j])
        for j in range(H):
            h_next[b, j] = gates[b, 3 * H + j] * gates[b, 4 * H + j]  # [LSTM h']


@jit_inline
def step_forward(new, gates, gi, old, weight_hh, bias_hh, extras, option, work):
    """new = (h', c'), old = (h, c): (B, H).  gates: (B, 5H) written
    [i | f | g | o | tanh c'].  gi: (B, 4H) = x W_ih^T + b_ih.
    weight_hh: (4H, H).  bias_hh: (4H,)."""
    (h, c), (h_next, c_next), (ah,) = old, new, work
    dot_t(ah, h, weight_hh)  # h W_hh^T
    gates_forward(h_next, c_next, gates, gi, ah, c, bias_hh)


@jit_inline
def backward_workspace(dinitial, weight_hh, extras):
    """No scratch: the step writes dgi, dh and dc only."""
    return ()


@jit_inline
def step_backward(dgi, dgh, dold, dnew, gates, old, new, weight_hh, extras, dextras, option,
                  work):
    """Mirror of ``step_forward``.

    dgi: (B, 4H) written, dL/d(pre-activations) (dgh is the same array).
    dold = (dh, dc) written.  dnew = (dh', dc'), from outside the cell.
    """
    (_, c), (dh, dc), (dh_next, dc_next) = old, dold, dnew
    B, H = c.shape
    one = c.dtype.type(1)
    for b in range(B):
        for j in range(H):
            i = gates[b, j]
            f = gates[b, H + j]
            g = gates[b, 2 * H + j]
            o = gates[b, 3 * H + j]
            tc = gates[b, 4 * H + j]
            # h' = o tanh(c')
            do = dh_next[b, j] * tc  # [LSTM do]
            dc_total = dc_next[b, j] + dh_next[b, j] * o * (one - tc * tc)  # [LSTM dc']
            # c' = f c + i g
            df = dc_total * c[b, j]  # [LSTM df]
            di = dc_total * g  # [LSTM di]
            dg = dc_total * i  # [LSTM dg]
            dc[b, j] = dc_total * f  # [LSTM dc]
            dgi[b, j] = di * i * (one - i)  # [LSTM da]
            dgi[b, H + j] = df * f * (one - f)  # [LSTM da]
            dgi[b, 2 * H + j] = dg * (one - g * g)  # [LSTM da]
            dgi[b, 3 * H + j] = do * o * (one - o)  # [LSTM da]
    dot_n(dh, dgi, weight_hh)  # [LSTM dh]


@jit_inline
def weights_backward(dweight_hh, dbias_hh, dextras, dgh, gates, h_prev, weight_hh, extras, option):
    """a = gi + h W_hh^T + b_hh: dW_hh, db_hh from dgh (N, 4H), h_prev (N, H).  [LSTM dW]"""
    recurrent_weights_backward(dweight_hh, dbias_hh, dgh, h_prev)


seq_forward, seq_backward, seq_infer, cell_forward, cell_backward = sequence_kernels(
    step_forward, step_backward, weights_backward, forward_workspace, backward_workspace,
    separate_dgh=False)


# LSTMCell's one-call fast path (conventions in _sequence.py; csrc/lstm.pyx's
# twin, but forward keeps x, h and c in its saved array, and backward takes shapes)
cell_fast_forward, cell_fast_backward, SAVED_PER_H = cell_fast_kernels("lstm")
fast_saves_inputs = True  # (bptt.cells keeps the shapes of x, h and c, not copies)


def lstm_cell_forward_fast(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    """One LSTMCell step: x (I,), h and c (H,), or x (B, I), h and c (B, H).
    Returns (h_next, c_next shaped like h, saved: [gates (B, 5H) | x | h |
    c]), or None if an argument is not exactly that."""
    dtype = weight_hh.dtype
    if not plain_step_2(x, h, c, dtype):
        return None
    h_next, c_next = h.copy(), h.copy()  # shaped as h (cheaper than np.empty), then written
    saved = np.empty(SAVED_PER_H * h.size + x.size, dtype)
    if cell_fast_forward(h_next, c_next, saved, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh,
                         0.0):
        return h_next, c_next, saved
    return None


def lstm_cell_backward_fast(dh_next, dc_next, batched, saved, x_shape, h_shape, c_shape,
                            weight_ih, weight_hh, dweight_ih, dweight_hh, dbias_ih, dbias_hh):
    """Mirror of ``lstm_cell_forward_fast`` on its saved array: adds into the
    parameter gradients (dbias None: no bias); dc_next None means zeros.
    Returns (dx, dh, dc) shaped as forward's x, h and c, or None."""
    dtype = weight_hh.dtype
    if not (plain_upstream(dh_next, dtype)
            and (dc_next is None or plain_upstream(dc_next, dtype))):
        return None
    dx, dh, dc = np.empty(x_shape, dtype), np.empty(h_shape, dtype), np.empty(c_shape, dtype)
    # arrays, never None, for the bias gradients: one compiled version fewer.
    # dc_next stays None when omitted: zeros_like here made a call about 1 us
    # slower than the kernel's own zeros at (1, 6)
    dbias_ih = bias_gradient(dbias_ih, weight_ih.shape[0], dtype)
    dbias_hh = bias_gradient(dbias_hh, weight_hh.shape[0], dtype)
    if cell_fast_backward(dx, dh, dc, dh_next, dc_next, saved, batched, weight_ih, weight_hh,
                          dweight_ih, dweight_hh, dbias_ih, dbias_hh, 0.0):
        return dx, dh, dc
    return None
