"""The four newer cells written as torch autograd graphs, one step at a time:
what a torch user without bptt writes for them (torch has a fused kernel only
for the projected LSTM, ``torch.nn.LSTM(proj_size=...)``). One layer, one
direction, float32 or float64, parameters from a bptt layer's state dict."""

import torch
import torch.nn.functional as F

EPS = 1e-5


def _params(layer, dtype):
    return {k.rsplit("_l0", 1)[0]: torch.from_numpy(v).to(dtype).requires_grad_()
            for k, v in layer.state_dict().items()}


class PeepholeLSTM:
    """ONNX's LSTM with peepholes [p_i | p_o | p_f] and gate clip, torch gate order."""

    def __init__(self, layer, dtype):
        self.p, self.clip, self.H = _params(layer, dtype), layer.clip, layer.hidden_size

    def __call__(self, x):
        p, H, clip = self.p, self.H, self.clip
        h = c = x.new_zeros(x.shape[1], H)
        gi = x @ p["weight_ih"].T + p["bias_ih"]
        p_i, p_o, p_f = p["weight_peephole"].split(H)
        outputs = []
        for t in range(x.shape[0]):
            a_i, a_f, a_g, a_o = (gi[t] + h @ p["weight_hh"].T + p["bias_hh"]).split(H, dim=1)
            i = torch.sigmoid((a_i + p_i * c).clamp(-clip, clip))
            f = torch.sigmoid((a_f + p_f * c).clamp(-clip, clip))
            g = torch.tanh(a_g.clamp(-clip, clip))
            c = f * c + i * g
            o = torch.sigmoid((a_o + p_o * c).clamp(-clip, clip))
            h = o * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs)


class LayerNormGRU:
    """haste's LayerNormGRU: torch's GRU on LN(W_ih x), LN(W_hh h), gains, biases after."""

    def __init__(self, layer, dtype):
        self.p, self.H = _params(layer, dtype), layer.hidden_size

    def __call__(self, x):
        p, H = self.p, self.H
        h = x.new_zeros(x.shape[1], H)
        u = F.layer_norm(x @ p["weight_ih"].T, (3 * H,), p["layernorm_ih_weight"],
                         p["bias_ih"], EPS)
        outputs = []
        for t in range(x.shape[0]):
            v = F.layer_norm(h @ p["weight_hh"].T, (3 * H,), p["layernorm_hh_weight"],
                             p["bias_hh"], EPS)
            i_r, i_z, i_n = u[t].split(H, dim=1)
            h_r, h_z, h_n = v.split(H, dim=1)
            r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
            n = torch.tanh(i_n + r * h_n)
            h = (1 - z) * n + z * h
            outputs.append(h)
        return torch.stack(outputs)


class LayerNormLSTM:
    """Ba et al.'s layer-normalised LSTM (haste's LayerNormLSTM)."""

    def __init__(self, layer, dtype):
        self.p, self.H = _params(layer, dtype), layer.hidden_size

    def __call__(self, x):
        p, H = self.p, self.H
        h = c = x.new_zeros(x.shape[1], H)
        u = F.layer_norm(x @ p["weight_ih"].T, (4 * H,), p["layernorm_ih_weight"],
                         p["bias_ih"], EPS)
        outputs = []
        for t in range(x.shape[0]):
            a = u[t] + F.layer_norm(h @ p["weight_hh"].T, (4 * H,), p["layernorm_hh_weight"],
                                    p["bias_hh"], EPS)
            a_i, a_f, a_g, a_o = a.split(H, dim=1)
            c = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_g)
            ln_c = F.layer_norm(c, (H,), p["layernorm_c_weight"], p["layernorm_c_bias"], EPS)
            h = torch.sigmoid(a_o) * torch.tanh(ln_c)
            outputs.append(h)
        return torch.stack(outputs)
