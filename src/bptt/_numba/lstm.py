"""LSTM cell: Numba twin of ``bptt._numpy.lstm``. Gates stacked i, f, g, o:

    i = sigma(a_i)   f = sigma(a_f)   g = tanh(a_g)   o = sigma(a_o)
    a = W_ih x + b_ih + W_hh h + b_hh                      (B, 4H)
    c' = f (.) c + i (.) g
    h' = o (.) tanh(c')

The cache is gates (B, 5H) = [i | f | g | o | tanh(c')], all post-activation.
The family's hooks for the shared kernels (``_sequence.py``).
``one = h.dtype.type(1)`` keeps float32 arithmetic in float32.
"""

import math

import numpy as np

from ._config import jit_inline
from ._math import sigmoid
from ._sequence import recurrent_weights_backward, sequence_kernels


@jit_inline
def forward_workspace(initial, weight_hh, extras):
    """The step's scratch: (ah,), ah (B, 4H) = h W_hh^T."""
    h = initial[0]
    return (np.empty((h.shape[0], weight_hh.shape[0]), dtype=h.dtype),)


@jit_inline
def step_forward(new, gates, gi, old, weight_hh, bias_hh, extras, option, work):
    """new = (h', c'), old = (h, c): (B, H).  gates: (B, 5H) written
    [i | f | g | o | tanh c'].  gi: (B, 4H) = x W_ih^T + b_ih.
    weight_hh: (4H, H).  bias_hh: (4H,)."""
    (h, c), (h_next, c_next), (ah,) = old, new, work
    B, H = h.shape
    np.dot(h, weight_hh.T, ah)  # h W_hh^T
    for b in range(B):
        for j in range(H):
            i = sigmoid(gi[b, j] + ah[b, j] + bias_hh[j])  # [LSTM i]
            f = sigmoid(gi[b, H + j] + ah[b, H + j] + bias_hh[H + j])  # [LSTM f]
            g = math.tanh(gi[b, 2 * H + j] + ah[b, 2 * H + j] + bias_hh[2 * H + j])  # [LSTM g]
            o = sigmoid(gi[b, 3 * H + j] + ah[b, 3 * H + j] + bias_hh[3 * H + j])  # [LSTM o]
            cn = f * c[b, j] + i * g  # [LSTM c']
            tc = math.tanh(cn)
            c_next[b, j] = cn
            h_next[b, j] = o * tc  # [LSTM h']
            gates[b, j] = i
            gates[b, H + j] = f
            gates[b, 2 * H + j] = g
            gates[b, 3 * H + j] = o
            gates[b, 4 * H + j] = tc


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
    np.dot(dgi, weight_hh, dh)  # [LSTM dh]


@jit_inline
def weights_backward(dweight_hh, dbias_hh, dextras, dgh, gates, h_prev, weight_hh, extras, option):
    """a = gi + h W_hh^T + b_hh: dW_hh, db_hh from dgh (N, 4H), h_prev (N, H).  [LSTM dW]"""
    recurrent_weights_backward(dweight_hh, dbias_hh, dgh, h_prev)


seq_forward, seq_backward, seq_infer, cell_forward, cell_backward = sequence_kernels(
    step_forward, step_backward, weights_backward, forward_workspace, backward_workspace,
    separate_dgh=False)
