"""LSTM with projections (torch's ``proj_size``): Numba twin of
``bptt._numpy.lstm_proj``.

    a  = W_ih x + b_ih + W_hh h + b_hh       (B, 4H), h (B, P), W_hh (4H, P)
    i, f, g, o = sigma(a_i), sigma(a_f), tanh(a_g), sigma(a_o)
    c' = f (.) c + i (.) g                    (B, H)
    h' = W_hr (o (.) tanh(c'))                (B, P), W_hr (P, H)

The gates and cell state are the LSTM's; only the projection is new. The
step backward ends in ``lstm.step_backward`` (it takes h of any width); the
forward runs ``lstm.gates_forward`` on each row, then the projection. Cache:
[i | f | g | o | tanh c'].
"""

import numpy as np

from . import lstm
from ._config import jit_inline
from ._math import dot_t
from ._sequence import recurrent_weights_backward, sequence_kernels


@jit_inline
def forward_workspace(initial, weight_hh, extras):
    """The step's scratch: (ah, m), ah (B, 4H) = h W_hh^T, m (B, H) =
    o (.) tanh(c'), the projection's input."""
    c = initial[1]
    B, H = c.shape
    return (np.empty((B, weight_hh.shape[0]), dtype=c.dtype), np.empty((B, H), dtype=c.dtype))


@jit_inline
def step_forward(new, gates, gi, old, weight_hh, bias_hh, extras, option, work):
    """new = (h' (B, P), c' (B, H)), old = (h, c).  gates: (B, 5H) written.
    gi: (B, 4H) = x W_ih^T + b_ih.  weight_hh: (4H, P).
    extras = (weight_hr (P, H),)."""
    (h, c), (h_next, c_next), (weight_hr,), (ah, m) = old, new, extras, work
    dot_t(ah, h, weight_hh)  # h W_hh^T
    # the LSTM's gates, with m = o (.) tanh(c') in the place of h'   [LSTM i] ... [LSTM h']
    lstm.gates_forward(m, c_next, gates, gi, ah, c, bias_hh)
    dot_t(h_next, m, weight_hr)  # [LSTMP h']


@jit_inline
def backward_workspace(dinitial, weight_hh, extras):
    """The step's scratch: (m, dm, dw), m and dm (B, H): o (.) tanh(c') and
    dL/dm; dw (P, H): the step's dh'^T m before it is added into dW_hr."""
    dc = dinitial[1]
    B, H = dc.shape
    weight_hr = extras[0]
    return (np.empty((B, H), dtype=dc.dtype), np.empty((B, H), dtype=dc.dtype),
            np.empty(weight_hr.shape, dtype=dc.dtype))


@jit_inline
def step_backward(dgi, dgh, dold, dnew, gates, old, new, weight_hh, extras, dextras, option,
                  work):
    """Mirror of ``step_forward``: dgi (B, 4H) (dgh is the same array), dold =
    (dh (B, P), dc (B, H)) written; dweight_hr added into dextras[0]."""
    (_, c), (dh_next, dc_next), (m, dm, dw) = old, dnew, work
    (weight_hr,), (dweight_hr,) = extras, dextras
    B, H = c.shape
    for b in range(B):
        for j in range(H):
            m[b, j] = gates[b, 3 * H + j] * gates[b, 4 * H + j]  # o (.) tanh(c')
    # h' = W_hr m
    np.dot(dh_next, weight_hr, dm)  # [LSTMP dm]
    np.dot(dh_next.T, m, dw)  # [LSTMP dW_hr]
    P = dw.shape[0]
    for p in range(P):
        for j in range(H):
            dweight_hr[p, j] += dw[p, j]  # [LSTMP dW_hr]
    lstm.step_backward(dgi, dgh, dold, (dm, dc_next), gates, old, new, weight_hh, (), (), option,
                       ())  # [LSTM dc'] ... [LSTM dh], with dL/dh' = dm


@jit_inline
def weights_backward(dweight_hh, dbias_hh, dextras, dgh, gates, h_prev, weight_hh, extras, option):
    """a = gi + h W_hh^T + b_hh: dW_hh (4H, P), db_hh from dgh (N, 4H),
    h_prev (N, P).  [LSTM dW]"""
    recurrent_weights_backward(dweight_hh, dbias_hh, dgh, h_prev)


seq_forward, seq_backward, seq_infer, cell_forward, cell_backward = sequence_kernels(
    step_forward, step_backward, weights_backward, forward_workspace, backward_workspace,
    separate_dgh=False)
