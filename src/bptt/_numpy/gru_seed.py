"""GRU cell, seed formulation (seeds 000 and 001; SPEC.md "The cells"), rows
stacked r, z, h~ in weight_ih ([W_rx; W_zx; W_x]) and weight_hh ([W_rh; W_zh; W_h]):

    r  = sigma(W_rx x + b_ir + W_rh h + b_hr)
    z  = sigma(W_zx x + b_iz + W_zh h + b_hz)
    h~ = tanh(W_x x + b_ih~ + W_h (r (.) h) + b_hh~)
    h' = (1 - z) (.) h + z (.) h~

Reset is applied to h before the product with W_h, and z weights the
candidate. The two bias vectors are both additive, so they act as one sum.
The cache is gates (B, 3H) = [r | z | h~], all post-activation.
"""

import numpy as np

from ._math import sigmoid
from ._sequence import sequence_kernels


def step_forward(new, gates, gi, old, weight_hh, bias_hh, extras, option):
    """new = (h',), old = (h,): (B, H).  gates: (B, 3H) written [r | z | h~].
    gi: (B, 3H) = x W_ih^T + b_ih.  weight_hh: (3H, H).  bias_hh: (3H,)."""
    (h,), (h_next,) = old, new
    H = h.shape[1]
    ghrz = h @ weight_hh[: 2 * H].T + bias_hh[: 2 * H]  # (B, 2H)
    r = sigmoid(gi[:, :H] + ghrz[:, :H])  # [seed-GRU r]
    z = sigmoid(gi[:, H : 2 * H] + ghrz[:, H:])  # [seed-GRU z]
    rh = r * h
    hc = np.tanh(gi[:, 2 * H :] + (rh @ weight_hh[2 * H :].T + bias_hh[2 * H :]))  # [seed-GRU h~]
    h_next[...] = (1 - z) * h + z * hc  # [seed-GRU h']
    gates[:, :H] = r
    gates[:, H : 2 * H] = z
    gates[:, 2 * H :] = hc


def step_backward(dgi, dgh, dold, dnew, gates, old, new, weight_hh, extras, dextras, option):
    """Mirror of ``step_forward``.

    dgi: (B, 3H) written, dL/d(gi), which is also the gradient of the
    recurrent pre-activations (dgh is the same array): their inputs are
    [h, h, r h], so ``weights_backward`` makes dW_hh from it.
    dold = (dh,) written.  dnew = (dh',).
    """
    (h,), (dh,), (dh_next,) = old, dold, dnew
    H = h.shape[1]
    r = gates[:, :H]
    z = gates[:, H : 2 * H]
    hc = gates[:, 2 * H :]
    # h' = (1 - z) h + z h~
    dhc = dh_next * z  # [seed-GRU dh~]
    dz = dh_next * (hc - h)  # [seed-GRU dz]
    dh_direct = dh_next * (1 - z)  # [seed-GRU dh], path 1
    # h~ = tanh(a_h), a_h = gi_h + W_h (r h) + b_hh~
    dah = dhc * (1 - hc * hc)  # [seed-GRU da_h]
    drh = dah @ weight_hh[2 * H :]  # [seed-GRU drh]
    dr = drh * h  # [seed-GRU dr]
    dh_direct += drh * r  # [seed-GRU dh], path 2
    # r, z = sigma(a_r), sigma(a_z)
    dar = dr * r * (1 - r)  # [seed-GRU da_r]
    daz = dz * z * (1 - z)  # [seed-GRU da_z]
    dgi[:, :H] = dar  # [seed-GRU dgi]
    dgi[:, H : 2 * H] = daz
    dgi[:, 2 * H :] = dah
    dh[...] = dh_direct + dgi[:, : 2 * H] @ weight_hh[: 2 * H]  # [seed-GRU dh], adding path 3


def weights_backward(dweight_hh, dbias_hh, dextras, dgh, gates, h_prev, weight_hh, extras, option):
    """dW_hh, db_hh over N rows: dgh (N, 3H), gates (N, 3H), h_prev (N, H).
    W_rh and W_zh multiply h, W_h multiplies r (.) h.  [seed-GRU dW]"""
    H = h_prev.shape[1]
    dweight_hh[: 2 * H] += dgh[:, : 2 * H].T @ h_prev  # [seed-GRU dW]
    dweight_hh[2 * H :] += dgh[:, 2 * H :].T @ (gates[:, :H] * h_prev)  # [seed-GRU dW]
    dbias_hh += dgh.sum(axis=0)  # [seed-GRU db]


seq_forward, seq_backward, seq_infer, cell_forward, cell_backward = sequence_kernels(
    step_forward, step_backward, weights_backward, separate_dgh=False)
