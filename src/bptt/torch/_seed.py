"""The seed GRU in torch operators: what ``GRU(variant="seed")`` and
``GRU_Cell`` run where bptt's kernels cannot (CUDA tensors, float16, tracing
for ONNX). torch has no such operator, so this is a plain step loop; its
numbers are checked against bptt's kernels in the tests.

SPEC.md, "GRU, the seed formulation", rows stacked r, z, h~::

    r  = sigma(W_rx x + W_rh h + b_r)
    z  = sigma(W_zx x + W_zh h + b_z)
    h~ = tanh(W_x x + W_h (r h) + b_h)
    h' = (1 - z) h + z h~
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence


def step(gi: torch.Tensor, h: torch.Tensor, weight_hh: torch.Tensor,
         bias_hh: torch.Tensor | None) -> torch.Tensor:
    """One step from gi = W_ih x (+ b_ih) (B, 3H) and h (B, H)."""
    H = h.shape[-1]
    gh = h @ weight_hh[: 2 * H].t()
    if bias_hh is not None:
        gh = gh + bias_hh[: 2 * H]
    r = torch.sigmoid(gi[:, :H] + gh[:, :H])
    z = torch.sigmoid(gi[:, H : 2 * H] + gh[:, H:])
    a = gi[:, 2 * H :] + (r * h) @ weight_hh[2 * H :].t()
    if bias_hh is not None:
        a = a + bias_hh[2 * H :]
    return (1 - z) * h + z * torch.tanh(a)


def gru_layers(module: Any, input: Any, hx: Any) -> Any:
    """``GRU(variant="seed")``'s forward, with torch's layouts and dropout."""
    packed = isinstance(input, PackedSequence)
    if packed:
        x, lengths = pad_packed_sequence(input)          # (T, B, I), the caller's row order
        batched = True
    else:
        batched = input.dim() == 3
        x = input if batched else input.unsqueeze(0 if module.batch_first else 1)
        if module.batch_first:
            x = x.transpose(0, 1)
        lengths = None
    T, B = x.shape[:2]
    D = 2 if module.bidirectional else 1
    H = module.hidden_size
    if hx is None:
        hx = x.new_zeros(module.num_layers * D, B, H)
    elif not batched:
        hx = hx.unsqueeze(1)
    valid = None
    if lengths is not None:
        valid = (torch.arange(T)[:, None] < lengths[None, :]).to(x.device)[:, :, None]
    finals = []
    layer_input = x
    for layer in range(module.num_layers):
        outputs = []
        for direction in range(D):
            suffix = f"_l{layer}{'_reverse' if direction else ''}"
            w_ih = getattr(module, "weight_ih" + suffix)
            w_hh = getattr(module, "weight_hh" + suffix)
            b_ih = getattr(module, "bias_ih" + suffix) if module.bias else None
            b_hh = getattr(module, "bias_hh" + suffix) if module.bias else None
            gi = layer_input @ w_ih.t()
            if b_ih is not None:
                gi = gi + b_ih
            h = hx[layer * D + direction]
            out: list[Any] = [None] * T
            for t in (reversed(range(T)) if direction else range(T)):
                h_next = step(gi[t], h, w_hh, b_hh)
                if valid is not None:
                    h_next = torch.where(valid[t], h_next, h)
                    out[t] = torch.where(valid[t], h_next, torch.zeros_like(h_next))
                else:
                    out[t] = h_next
                h = h_next
            outputs.append(torch.stack(out))
            finals.append(h)
        layer_input = outputs[0] if D == 1 else torch.cat(outputs, dim=2)
        if layer < module.num_layers - 1 and module.dropout and module.training:
            layer_input = torch.nn.functional.dropout(layer_input, module.dropout)
    h_n = torch.stack(finals)
    output = layer_input
    if packed:
        if input.sorted_indices is not None:
            output = output.index_select(1, input.sorted_indices)
        rows = [output[t, :size] for t, size in enumerate(input.batch_sizes.tolist())]
        return (PackedSequence(torch.cat(rows), input.batch_sizes, input.sorted_indices,
                               input.unsorted_indices), h_n)
    if module.batch_first:
        output = output.transpose(0, 1)
    if not batched:
        return output.squeeze(0 if module.batch_first else 1), h_n.squeeze(1)
    return output, h_n
