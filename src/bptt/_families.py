"""Cell families: what the shared time loop needs to know of each, said once.

A family's math lives in one module per backend with the same name,
``bptt._numpy.<name>``, ``bptt._numba.<name>`` and ``bptt._cython.<name>``:
step forward, step backward and the weight gradients summed after the loop.
Each of those modules gets ``seq_forward`` / ``seq_backward`` from its
backend's one sequence driver. What the driver and the layers need besides is
here: the gate blocks, the states carried, the per-step cache, and the
parameters with the kernel slot each one fills.

Kernel slots, in every backend: ``weight_ih`` (G H, I), ``weight_hh``
(G H, K), ``bias_ih`` and ``bias_hh`` (G H,), then the family's ``extras`` in
the order listed. A slot whose parameter a layer does not have (``bias=False``,
``peepholes=False``) receives zeros, and its gradient goes to scratch.
"""

from __future__ import annotations

from dataclasses import dataclass

#: RNN activation codes, the kernels' ``option`` for the rnn family.
ACTIVATIONS = {"tanh": 0, "relu": 1, "sigmoid": 2}

#: Layer normalisation's epsilon (torch's and haste's default).
LAYER_NORM_EPS = 1e-5


@dataclass(frozen=True)
class Family:
    """One cell family.

    name: its kernel modules' name.  gates: G, the stacked blocks of H rows in
    weight_ih.  states: the states carried ("h", or "h" and "c"); h is the
    output.  cache, cache_extra: the per-step cache of the sequence kernels
    (their ``gates`` array) is (T, B, cache H + cache_extra).  extras: further kernel slots,
    as (parameter stem, shape kind) pairs; shape kind "G" is (G H,), "H" is
    (H,), "3H" is (3 H,), "PH" is (P, H).  biases_in_extras: the step adds
    bias_ih and bias_hh itself (after a normalisation), so the driver's slots
    get zeros and the biases travel as the first two extras.  projected: h
    has proj_size features (torch's LSTM proj_size).
    """

    name: str
    gates: int
    states: tuple[str, ...] = ("h",)
    cache: int = 0
    cache_extra: int = 0
    extras: tuple[tuple[str, str], ...] = ()
    biases_in_extras: bool = False
    projected: bool = False

    def state_widths(self, hidden_size: int, proj_size: int = 0) -> tuple[int, ...]:
        """Features of each carried state: h has proj_size of them when projected."""
        h = proj_size if self.projected else hidden_size
        return (h,) + (hidden_size,) * (len(self.states) - 1)

    def slot_shapes(self, layer_input: int, hidden_size: int,
                    proj_size: int = 0) -> dict[str, tuple[int, ...]]:
        """Every kernel slot's parameter stem and shape, in kernel order
        (the four standard slots first, then the extras)."""
        G, H = self.gates * hidden_size, hidden_size
        K = self.state_widths(H, proj_size)[0]
        kinds = {"G": (G,), "H": (H,), "3H": (3 * H,), "PH": (proj_size, H)}
        shapes = {"weight_ih": (G, layer_input), "weight_hh": (G, K),
                  "bias_ih": (G,), "bias_hh": (G,)}
        for stem, kind in self.extras:
            shapes[stem] = kinds[kind]
        return shapes

    def cache_floats(self, batch: int, hidden_size: int, proj_size: int = 0) -> int:
        """Numbers kept for backward per step, per layer-direction: every state and the cache."""
        states = sum(self.state_widths(hidden_size, proj_size))
        return batch * (states + self.cache_width(hidden_size))

    def cache_width(self, hidden_size: int) -> int:
        """Per step and row: the last dimension of the kernels' ``gates`` array."""
        return self.cache * hidden_size + self.cache_extra


_BIASES = (("bias_ih", "G"), ("bias_hh", "G"))

FAMILIES = {
    f.name: f
    for f in (
        # torch.nn.GRU: cache [r | z | n | W_hn h + b_hn]
        Family("gru", 3, cache=4),
        # the seed formulation: cache [r | z | h~]
        Family("gru_seed", 3, cache=3),
        # Elman RNN: the states are the whole cache
        Family("rnn", 1),
        # torch.nn.LSTM: cache [i | f | g | o | tanh c']
        Family("lstm", 4, ("h", "c"), cache=5),
        # torch.nn.LSTM(proj_size=P): h' = W_hr (o tanh c'); same cache as lstm
        Family("lstm_proj", 4, ("h", "c"), cache=5, extras=(("weight_hr", "PH"),),
               projected=True),
        # ONNX's LSTM with peepholes P = [p_i | p_o | p_f] and a clip of the gates'
        # pre-activations: cache [i | f | g | o | tanh c' | 4H: 1 where a gate was not clipped]
        Family("lstm_peephole", 4, ("h", "c"), cache=9, extras=(("weight_peephole", "3H"),)),
        # layer-normalised GRU (haste's LayerNormGRU, torch's gate equations):
        # cache [r | z | n | LN(W_hn h) + b_hn | u^ (3H) | v^ (3H) | 1/sigma_u, 1/sigma_v],
        # u = W_ih x, v = W_hh h and ^ their normalised values before the gain
        Family("ln_gru", 3, cache=10, cache_extra=2, extras=(*_BIASES, ("layernorm_ih_weight", "G"),
                                                   ("layernorm_hh_weight", "G")),
               biases_in_extras=True),
        # layer-normalised LSTM (Ba et al. 2016, haste's LayerNormLSTM): cache
        # [i | f | g | o | tanh LN(c') | u^ (4H) | v^ (4H) | c'^ | 1/sigma_u, 1/sigma_v, 1/sigma_c]
        Family("ln_lstm", 4, ("h", "c"), cache=14, cache_extra=3,
               extras=(*_BIASES, ("layernorm_ih_weight", "G"), ("layernorm_hh_weight", "G"),
                       ("layernorm_c_weight", "H"), ("layernorm_c_bias", "H")),
               biases_in_extras=True),
    )
}
