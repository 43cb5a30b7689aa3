"""LSTM with projections (torch's ``proj_size``; SPEC.md "LSTM"):

    a  = W_ih x + b_ih + W_hh h + b_hh       (B, 4H), h (B, P), W_hh (4H, P)
    i, f, g, o = sigma(a_i), sigma(a_f), tanh(a_g), sigma(a_o)
    c' = f (.) c + i (.) g                    (B, H)
    h' = W_hr (o (.) tanh(c'))                (B, P), W_hr (P, H)

The gates and cell state are the LSTM's (``lstm.step_*``, which take h of
any width, here P); only the projection is new. Cache: [i | f | g | o | tanh c'].
"""

import numpy as np

from . import lstm
from ._sequence import recurrent_weights_backward, sequence_kernels


def step_forward(new, gates, gi, old, weight_hh, bias_hh, extras, option):
    """new = (h' (B, P), c' (B, H)), old = (h, c).  gates: (B, 5H) written.
    extras = (weight_hr (P, H),)."""
    (h, c), (h_next, c_next), (weight_hr,) = old, new, extras
    m = np.empty_like(c)  # (B, H): o (.) tanh(c'), the projection's input
    lstm.step_forward((m, c_next), gates, gi, (h, c), weight_hh, bias_hh, (), option)
    h_next[...] = m @ weight_hr.T  # [LSTMP h']


def step_backward(dgi, dgh, dold, dnew, gates, old, new, weight_hh, extras, dextras, option):
    """Mirror of ``step_forward``: dgi (B, 4H), dold = (dh (B, P), dc (B, H))
    written; dweight_hr added into dextras[0]."""
    (dh_next, dc_next), (weight_hr,), (dweight_hr,) = dnew, extras, dextras
    H = old[1].shape[1]
    m = gates[:, 3 * H : 4 * H] * gates[:, 4 * H :]  # o (.) tanh(c')
    # h' = W_hr m
    dm = dh_next @ weight_hr  # [LSTMP dm]
    dweight_hr += dh_next.T @ m  # [LSTMP dW_hr]
    lstm.step_backward(dgi, dgh, dold, (dm, dc_next), gates, old, new, weight_hh, (), (), option)


def weights_backward(dweight_hh, dbias_hh, dextras, dgh, gates, h_prev, weight_hh, extras, option):
    """a = gi + h W_hh^T + b_hh: dW_hh (4H, P), db_hh from dgh (N, 4H).  [LSTM dW]"""
    recurrent_weights_backward(dweight_hh, dbias_hh, dgh, h_prev)


seq_forward, seq_backward, seq_infer, cell_forward, cell_backward = sequence_kernels(
    step_forward, step_backward, weights_backward, separate_dgh=False)
