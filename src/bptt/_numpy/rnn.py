"""Elman RNN cell (SPEC.md "Elman RNN"):

    h' = act(W_ih x + b_ih + W_hh h + b_hh),   act in {tanh, relu, sigmoid}

``option`` is the activation code shared by every backend
(``bptt._families.ACTIVATIONS``): TANH, RELU, SIGMOID. The cache is the
states themselves: each derivative is taken from h' (gates is (B, 0)).
"""

import numpy as np

from .._families import ACTIVATIONS
from ._math import sigmoid
from ._sequence import recurrent_weights_backward, sequence_kernels

TANH, RELU, SIGMOID = (ACTIVATIONS[name] for name in ("tanh", "relu", "sigmoid"))


def step_forward(new, gates, gi, old, weight_hh, bias_hh, extras, option):
    """new = (h',), old = (h,): (B, H).  gi: (B, H) = x W_ih^T + b_ih."""
    (h,), (h_next,) = old, new
    a = gi + h @ weight_hh.T + bias_hh
    activation = int(option)
    if activation == TANH:
        h_next[...] = np.tanh(a)  # [RNN h']
    elif activation == RELU:
        h_next[...] = np.maximum(a, 0)
    else:
        h_next[...] = sigmoid(a)


def step_backward(dgi, dgh, dold, dnew, gates, old, new, weight_hh, extras, dextras, option):
    """Mirror of ``step_forward``: dgi (B, H) written, dL/d(pre-activation)
    (dgh is the same array); dold = (dh,) written."""
    (h_next,), (dh,), (dh_next,) = new, dold, dnew
    activation = int(option)
    if activation == TANH:
        dgi[...] = dh_next * (1 - h_next * h_next)  # [RNN da], tanh
    elif activation == RELU:
        dgi[...] = dh_next * (h_next > 0)  # [RNN da], relu
    else:
        dgi[...] = dh_next * h_next * (1 - h_next)  # [RNN da], sigmoid
    dh[...] = dgi @ weight_hh  # [RNN dh]


def weights_backward(dweight_hh, dbias_hh, dextras, dgh, gates, h_prev, weight_hh, extras, option):
    """a = gi + h W_hh^T + b_hh: dW_hh, db_hh from dgh (N, H).  [RNN dW]"""
    recurrent_weights_backward(dweight_hh, dbias_hh, dgh, h_prev)


seq_forward, seq_backward, seq_infer, cell_forward, cell_backward = sequence_kernels(
    step_forward, step_backward, weights_backward, separate_dgh=False)
