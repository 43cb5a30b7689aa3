"""GRU cell, the torch / cuDNN formulation (SPEC.md "The cells"), gates
stacked r, z, n in weight_ih (3H, I) and weight_hh (3H, H):

    r  = sigma(W_ir x + b_ir + W_hr h + b_hr)
    z  = sigma(W_iz x + b_iz + W_hz h + b_hz)
    n  = tanh(W_in x + b_in + r (.) (W_hn h + b_hn))
    h' = (1 - z) (.) n + z (.) h

The family's three functions for the shared time loop (``_sequence.py``);
the input projection gi = x W_ih^T + b_ih comes from the loop. The cache is
gates (B, 4H) = [r | z | n | hn], hn = W_hn h + b_hn being kept because
dL/dr needs it.
"""

import numpy as np

from ._math import sigmoid
from ._sequence import recurrent_weights_backward, sequence_kernels


def step_forward(new, gates, gi, old, weight_hh, bias_hh, extras, option):
    """new = (h',), old = (h,): (B, H).  gates: (B, 4H) written.
    gi: (B, 3H) = x W_ih^T + b_ih.  weight_hh: (3H, H).  bias_hh: (3H,)."""
    (h,), (h_next,) = old, new
    H = h.shape[1]
    gh = h @ weight_hh.T + bias_hh  # (B, 3H)
    r = sigmoid(gi[:, :H] + gh[:, :H])  # [torch-GRU r]
    z = sigmoid(gi[:, H : 2 * H] + gh[:, H : 2 * H])  # [torch-GRU z]
    hn = gh[:, 2 * H :]
    n = np.tanh(gi[:, 2 * H :] + r * hn)  # [torch-GRU n]
    h_next[...] = (1 - z) * n + z * h  # [torch-GRU h']
    gates[:, :H] = r
    gates[:, H : 2 * H] = z
    gates[:, 2 * H : 3 * H] = n
    gates[:, 3 * H :] = hn


def step_backward(dgi, dgh, dold, dnew, gates, old, new, weight_hh, extras, dextras, option):
    """Mirror of ``step_forward``.

    dgi: (B, 3H) written, dL/d(gi).  dgh: (B, 3H) written, dL/d(W_hh h + b_hh).
    dold = (dh,) written.  dnew = (dh',).
    """
    (h,), (dh,), (dh_next,) = old, dold, dnew
    H = h.shape[1]
    r = gates[:, :H]
    z = gates[:, H : 2 * H]
    n = gates[:, 2 * H : 3 * H]
    hn = gates[:, 3 * H :]
    # h' = (1 - z) n + z h
    dn = dh_next * (1 - z)  # [torch-GRU dn]
    dz = dh_next * (h - n)  # [torch-GRU dz]
    dh_direct = dh_next * z  # first term of [torch-GRU dh]
    # n = tanh(a_n), a_n = gi_n + r hn
    dan = dn * (1 - n * n)  # [torch-GRU da_n]
    dr = dan * hn  # [torch-GRU dr]
    dhn = dan * r  # [torch-GRU dhn]
    # r, z = sigma(a_r), sigma(a_z)
    dar = dr * r * (1 - r)  # [torch-GRU da_r]
    daz = dz * z * (1 - z)  # [torch-GRU da_z]
    dgi[:, :H] = dar  # [torch-GRU dgi]
    dgi[:, H : 2 * H] = daz
    dgi[:, 2 * H :] = dan
    dgh[:, :H] = dar  # [torch-GRU dgh]
    dgh[:, H : 2 * H] = daz
    dgh[:, 2 * H :] = dhn
    dh[...] = dh_direct + dgh @ weight_hh  # [torch-GRU dh]


def weights_backward(dweight_hh, dbias_hh, dextras, dgh, gates, h_prev, weight_hh, extras, option):
    """gh = h W_hh^T + b_hh: dW_hh, db_hh from dgh (N, 3H).  [torch-GRU dW]"""
    recurrent_weights_backward(dweight_hh, dbias_hh, dgh, h_prev)


seq_forward, seq_backward, seq_infer, cell_forward, cell_backward = sequence_kernels(
    step_forward, step_backward, weights_backward, separate_dgh=True)
