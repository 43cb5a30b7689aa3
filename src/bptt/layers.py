"""Sequence layers: multi-layer, bidirectional, variable-length BPTT.

One driver, ``_Recurrent``, does everything that is the same for every cell
family: validation, ``batch_first`` and unbatched input, ``lengths``, the
stack of layers and directions, the cache, state dicts. A family adds only
``_forward_direction`` and ``_backward_direction``, each one call into its
backend's sequence kernel (the whole time loop runs in that call).

Cache per step, per layer and direction, in bytes (itemsize s, batch B,
hidden H): GRU 5*B*H*s (state + r, z, n, W_hn h + b_hn); seed GRU 4*B*H*s
(state + r, z, h~); RNN B*H*s (the state); LSTM 7*B*H*s (h, c, i, f, g, o,
tanh c). Layers above the first also keep their input, D*B*H*s per step; the
first keeps its own copy of x (I*B*s per step), never the caller's buffer.
"""

from __future__ import annotations

import numpy as np

from ._backend import get_backend
from ._module import Module
from ._validation import (
    as_array,
    check_bool,
    check_dtype,
    check_rng,
    check_size,
    kernel_ready,
)

Array = np.ndarray

_GATES = {"rnn": 1, "gru": 3, "lstm": 4}
_ACTIVATIONS = {"tanh": 0, "relu": 1, "sigmoid": 2}


def count_parameters(
    kind: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bias: bool = True,
    bidirectional: bool = False,
) -> int:
    """Number of weights and biases of a torch-layout recurrent layer.

    ``kind`` is "rnn", "gru" or "lstm". One layer-direction with G gate blocks
    has G*H*(I + H) weights and, with ``bias``, 2*G*H biases (torch keeps
    b_ih and b_hh). Equal to ``sum(p.numel() for p in torch_layer.parameters())``.
    """
    if kind not in _GATES:
        raise ValueError(f"kind must be one of {tuple(_GATES)}, got {kind!r}")
    input_size = check_size("input_size", input_size)
    hidden_size = check_size("hidden_size", hidden_size)
    num_layers = check_size("num_layers", num_layers)
    bias = check_bool("bias", bias)
    directions = 2 if check_bool("bidirectional", bidirectional) else 1
    rows = _GATES[kind] * hidden_size
    total = 0
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else directions * hidden_size
        per_direction = rows * (layer_input + hidden_size) + (2 * rows if bias else 0)
        total += directions * per_direction
    return total


def _valid_steps(lengths: Array, T: int) -> Array:
    """(T, B, 1) bool: step t of row b lies within its length."""
    return (np.arange(T)[:, None] < lengths)[:, :, None]


def _may_share_memory(a: Array, source) -> bool:
    """Whether ``a`` may be a view of the caller's ``source`` (ndarray or torch tensor)."""
    if type(source).__module__.startswith("torch"):
        source = source.detach().cpu().numpy()
    return isinstance(source, np.ndarray) and np.may_share_memory(a, source)


class _Pool:
    """Internal arrays (forward's cache, the copy of x) kept for reuse.

    A fresh multi-megabyte array is fresh pages: the kernel's first write to
    each costs a page fault, about a fifth of a batch-32 forward + backward
    here. Backward hands its cache back; forward takes from what was handed
    back. Arrays the caller receives are never pooled.
    """

    PER_SHAPE = 4       # arrays kept of one shape
    SHAPES = 16         # shapes kept; the oldest goes first

    def __init__(self, dtype: np.dtype):
        self.dtype = dtype
        self._free: dict[tuple[int, ...], list[Array]] = {}

    def take(self, shape: tuple[int, ...]) -> Array:
        free = self._free.get(shape)
        return free.pop() if free else np.empty(shape, dtype=self.dtype)

    def give(self, *arrays: Array) -> None:
        for a in arrays:
            free = self._free.setdefault(a.shape, [])
            if len(free) < self.PER_SHAPE:
                free.append(a)
        while len(self._free) > self.SHAPES:
            del self._free[next(iter(self._free))]


def _saved_arrays(saved) -> tuple[Array, ...]:
    """A direction's cache (one array or a tuple of them) as a tuple."""
    return saved if isinstance(saved, tuple) else (saved,)


class _Recurrent(Module):
    """What every sequence layer shares; see the module docstring."""

    family: str

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers,
        bias,
        batch_first,
        bidirectional,
        backend,
        dtype,
        seed,
        rng,
    ):
        self.input_size = check_size("input_size", input_size)
        self.hidden_size = check_size("hidden_size", hidden_size)
        self.num_layers = check_size("num_layers", num_layers)
        self.bias = check_bool("bias", bias)
        self.batch_first = check_bool("batch_first", batch_first)
        self.bidirectional = check_bool("bidirectional", bidirectional)
        self.dtype = check_dtype(dtype)
        resolved = get_backend(backend)
        self._kernels = getattr(resolved, self.family)
        self._backend_name = resolved.name
        self.training = True
        self._caches: list = []
        self._pool = _Pool(self.dtype)

        H = self.hidden_size
        rows = _GATES[self.family] * H
        shapes = {}  # in torch's order: layer, direction, then w_ih, w_hh, b_ih, b_hh
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else self.directions * H
            for direction in range(self.directions):
                kinds = {"weight_ih": (rows, layer_input), "weight_hh": (rows, H)}
                if self.bias:
                    kinds.update(bias_ih=(rows,), bias_hh=(rows,))
                for kind, shape in kinds.items():
                    shapes[self._name(kind, layer, direction)] = shape
        self._init_parameters(shapes, H, check_rng(seed, rng))
        self._zero_bias = np.zeros(rows, dtype=self.dtype)
        self._scratch = np.zeros(rows, dtype=self.dtype)
        # Parameter and gradient arrays keep their identity for life (Module),
        # so each layer-direction's argument tuples are built once, not per call.
        self._slots = {
            (layer, direction): self._build_slot(layer, direction)
            for layer in range(self.num_layers)
            for direction in range(self.directions)
        }

    # -- naming and parameters ----------------------------------------------

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def backend(self) -> str:
        """The backend whose kernels this layer runs."""
        return self._backend_name

    @staticmethod
    def _name(kind: str, layer: int, direction: int) -> str:
        return f"{kind}_l{layer}{'_reverse' if direction else ''}"

    def _build_slot(self, layer: int, direction: int):
        p, g = self._params, self._grads
        names = [self._name(k, layer, direction) for k in ("weight_ih", "weight_hh")]
        weights = [p[n] for n in names]
        dweights = [g[n] for n in names]
        if self.bias:
            names = [self._name(k, layer, direction) for k in ("bias_ih", "bias_hh")]
            biases = [p[n] for n in names]
            dbiases = [g[n] for n in names]
        else:
            biases = [self._zero_bias, self._zero_bias]
            dbiases = [self._scratch, self._scratch]
        return tuple(weights + biases), tuple(dweights + dbiases)

    def _layer_params(self, layer: int, direction: int):
        """(weight_ih, weight_hh, bias_ih, bias_hh) and their gradients; zeros
        and a scratch gradient stand in for absent biases."""
        if not self.bias:
            self._scratch.fill(0)  # kernels add into it; keep it from growing
        return self._slots[layer, direction]

    def train(self, mode: bool = True):
        """In training mode (the default) forward keeps what backward needs."""
        self.training = check_bool("mode", mode)
        if not self.training:
            self._caches.clear()
        return self

    def eval(self):
        """Inference mode: forward keeps no cache, so backward is unavailable."""
        return self.train(False)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.input_size}, {self.hidden_size}, "
            f"num_layers={self.num_layers}, bias={self.bias}, batch_first={self.batch_first}, "
            f"bidirectional={self.bidirectional}{self._extra_repr()}, "
            f"backend={self.backend!r}, dtype={self.dtype.name})"
        )

    def _extra_repr(self) -> str:
        return ""

    # -- input handling -------------------------------------------------------

    def _sequence(self, x) -> tuple[Array, bool]:
        """x as a kernel-ready (T, B, I) array, and whether it was batched."""
        x = as_array("x", x, self.dtype)
        I = self.input_size
        layout = "(B, T, input_size)" if self.batch_first else "(T, B, input_size)"
        if x.ndim == 2:
            if x.shape[1] != I or x.shape[0] == 0:
                raise ValueError(f"x must have shape (T, {I}) unbatched or {layout} batched "
                                 f"with input_size={I}, got {x.shape}")
            return kernel_ready(x[:, None, :]), False
        if x.ndim != 3:
            raise ValueError(f"x must be 2-D (T, {I}) or 3-D {layout}, got {x.ndim}-D {x.shape}")
        if self.batch_first:
            x = x.transpose(1, 0, 2)
        if x.shape[2] != I or x.shape[0] == 0 or x.shape[1] == 0:
            shown = x.transpose(1, 0, 2).shape if self.batch_first else x.shape
            raise ValueError(f"x must have shape {layout} with input_size={I} and T, B >= 1, "
                             f"got {shown}")
        return kernel_ready(x), True

    def _lengths(self, lengths, T: int, B: int, batched: bool) -> tuple[Array, bool]:
        """lengths as (B,) int64, and whether any row is shorter than T."""
        if lengths is None:
            return np.full(B, T, dtype=np.int64), False
        if not batched:
            raise ValueError(f"lengths needs batched 3-D x (one length per batch row), "
                             f"got unbatched 2-D x of shape ({T}, {self.input_size})")
        if type(lengths).__module__.startswith("torch"):
            lengths = lengths.detach().cpu().numpy()
        lengths = np.asarray(lengths)
        if lengths.shape != (B,):
            raise ValueError(f"lengths must have shape ({B},), one per batch row, "
                             f"got {lengths.shape}")
        if lengths.dtype.kind not in "iu":
            raise TypeError(f"lengths must hold integers, got dtype {lengths.dtype}")
        if lengths.min() < 1 or lengths.max() > T:
            raise ValueError(f"lengths must lie in 1..{T} (the sequence length), "
                             f"got values from {lengths.min()} to {lengths.max()}")
        lengths = np.ascontiguousarray(lengths, dtype=np.int64)
        return lengths, bool(lengths.min() < T)

    def _initial_state(self, name: str, value, B: int, batched: bool) -> Array:
        """h0 (or c0) as (L*D, B, H); zeros if None."""
        shape = (self.num_layers * self.directions, B, self.hidden_size)
        if value is None:
            return np.zeros(shape, dtype=self.dtype)
        a = as_array(name, value, self.dtype)
        expected = shape if batched else (shape[0], shape[2])
        if a.shape != expected:
            raise ValueError(f"{name} must have shape {expected} "
                             f"(num_layers * num_directions, {'B, ' if batched else ''}"
                             f"hidden_size), got {a.shape}")
        return kernel_ready(a if batched else a[:, None, :])

    def _from_time_major(self, a: Array, batched: bool) -> Array:
        """(T, B, F) back to the caller's layout."""
        if not batched:
            return a[:, 0]
        return np.ascontiguousarray(a.transpose(1, 0, 2)) if self.batch_first else a

    def _to_time_major(self, name: str, value, T: int, B: int, features: int, batched: bool):
        a = as_array(name, value, self.dtype)
        if batched:
            expected = (B, T, features) if self.batch_first else (T, B, features)
        else:
            expected = (T, features)
        if a.shape != expected:
            raise ValueError(f"{name} must have shape {expected} like forward's output, "
                             f"got {a.shape}")
        if not batched:
            a = a[:, None, :]
        elif self.batch_first:
            a = a.transpose(1, 0, 2)
        return kernel_ready(a)

    # -- the driver -----------------------------------------------------------

    def _forward(self, x, states0, lengths):
        """Run every layer and direction; return output, final states."""
        source = x
        x, batched = self._sequence(x)
        T, B, _ = x.shape
        lengths, padded = self._lengths(lengths, T, B, batched)
        states0 = [self._initial_state(n, s, B, batched) for n, s in states0]
        if padded:
            # Padding never reaches the math: zero it so it cannot leak (NaN * 0).
            x = np.where(_valid_steps(lengths, T), x, 0).astype(self.dtype)
        elif self.training and _may_share_memory(x, source):
            # The cache must not be the caller's buffer, which may be refilled
            # (the next chunk of a stream) before backward reads it.
            kept = self._pool.take(x.shape)
            np.copyto(kept, x)
            x = kept
        finals = [np.empty_like(s) for s in states0]
        cache = []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.directions):
                k = layer * self.directions + direction
                output, layer_finals, saved = self._forward_direction(
                    layer_input, [s[k] for s in states0], lengths, layer, direction
                )
                for final, value in zip(finals, layer_finals, strict=True):
                    final[k] = value
                outputs.append(output)
                cache.append(saved)
            layer_output = outputs[0] if self.directions == 1 else np.concatenate(outputs, axis=2)
            cache.append(layer_input)
            layer_input = layer_output
        if self.training:
            self._caches.append((cache, lengths, padded, batched, T, B))
        else:
            # nothing is kept: every direction's cache and every input above
            # the first layer (the first may be the caller's x) go back
            D = self.directions
            for layer in range(self.num_layers):
                base = layer * (D + 1)
                for direction in range(D):
                    self._pool.give(*_saved_arrays(cache[base + direction]))
                if layer:
                    self._pool.give(cache[base + D])
        output = self._from_time_major(layer_input, batched)
        finals = [f if batched else f[:, 0] for f in finals]
        return output, finals

    def _backward(self, d_output, d_finals):
        if not self._caches:
            why = ("the layer is in eval mode, where forward keeps no cache: call .train()"
                   if not self.training else "there is no forward left whose cache is unused")
            raise ValueError(
                f"{type(self).__name__}.backward() needs a forward() in training mode first "
                f"(each backward consumes the most recent forward's cache); {why}"
            )
        cache, lengths, padded, batched, T, B = self._caches[-1]
        H, D = self.hidden_size, self.directions
        d_layer = self._to_time_major("d_output", d_output, T, B, D * H, batched)
        if padded:
            # dL/d(output) past each length is ignored; zeroed, a NaN there cannot leak.
            d_layer = np.where(_valid_steps(lengths, T), d_layer, 0).astype(self.dtype)
        shape = (self.num_layers * D, B, H)
        d_finals = [
            np.zeros(shape, dtype=self.dtype) if v is None
            else self._initial_state(n, v, B, batched)
            for n, v in d_finals
        ]
        self._caches.pop()
        d_states0 = [np.empty_like(d) for d in d_finals]
        for layer in reversed(range(self.num_layers)):
            base = layer * (D + 1)
            layer_input = cache[base + D]
            dx = None
            for direction in range(D):
                k = layer * D + direction
                d_out = np.ascontiguousarray(d_layer[:, :, direction * H : (direction + 1) * H])
                dx_direction, d0 = self._backward_direction(
                    d_out, [d[k] for d in d_finals], cache[base + direction],
                    layer_input, lengths, layer, direction,
                )
                dx = dx_direction if dx is None else dx + dx_direction
                for d_state, value in zip(d_states0, d0, strict=True):
                    d_state[k] = value
                self._pool.give(*_saved_arrays(cache[base + direction]))
            self._pool.give(layer_input)  # in training mode, never the caller's x
            d_layer = dx
        dx = self._from_time_major(d_layer, batched)
        d_states0 = [d if batched else d[:, 0] for d in d_states0]
        return dx, d_states0

    def _new(self, shape) -> Array:
        """An array the caller will receive."""
        return np.empty(shape, dtype=self.dtype)

    def _kept(self, shape) -> Array:
        """An array for forward's cache (from the pool: see _Pool)."""
        return self._pool.take(shape)


class RNN(_Recurrent):
    """Elman RNN layer, torch.nn.RNN's interface: h' = act(W_ih x + b_ih + W_hh h + b_hh).

    ``nonlinearity``: "tanh" (default), "relu", or "sigmoid" (torch lacks it).
    ``forward(x, h0=None, lengths=None) -> (output, h_n)``;
    ``backward(d_output, d_h_n=None) -> (dx, dh0)``.
    """

    family = "rnn"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        bidirectional: bool = False,
        *,
        backend: str = "auto",
        dtype=np.float64,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
    ):
        if nonlinearity not in _ACTIVATIONS:
            raise ValueError(
                f"nonlinearity must be one of {tuple(_ACTIVATIONS)}, got {nonlinearity!r}"
            )
        self.nonlinearity = nonlinearity
        self._activation = _ACTIVATIONS[nonlinearity]
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, bidirectional,
                         backend, dtype, seed, rng)

    def _extra_repr(self) -> str:
        return f", nonlinearity={self.nonlinearity!r}"

    def forward(self, x, h0=None, lengths=None) -> tuple[Array, Array]:
        """x (T, B, I) ((B, T, I) with batch_first, (T, I) unbatched) -> output, h_n."""
        output, (h_n,) = self._forward(x, [("h0", h0)], lengths)
        return output, h_n

    def backward(self, d_output, d_h_n=None) -> tuple[Array, Array]:
        """dL/d(output) (and dL/d(h_n)) in; (dx, dh0) out; parameter gradients added."""
        dx, (dh0,) = self._backward(d_output, [("d_h_n", d_h_n)])
        return dx, dh0

    def _forward_direction(self, x, states0, lengths, layer, direction):
        (h0,) = states0
        T, B, _ = x.shape
        H = self.hidden_size
        (w_ih, w_hh, b_ih, b_hh), _ = self._layer_params(layer, direction)
        output, h_n, hs = self._new((T, B, H)), self._new((B, H)), self._kept((T + 1, B, H))
        self._kernels.rnn_seq_forward(output, h_n, hs, x, h0, w_ih, w_hh, b_ih, b_hh,
                                      lengths, bool(direction), self._activation)
        return output, (h_n,), hs

    def _backward_direction(self, d_output, d_finals, hs, x, lengths, layer, direction):
        (dh_n,) = d_finals
        (w_ih, w_hh, _, _), (dw_ih, dw_hh, db_ih, db_hh) = self._layer_params(layer, direction)
        dx, dh0 = np.empty_like(x), self._new(dh_n.shape)
        self._kernels.rnn_seq_backward(dx, dh0, dw_ih, dw_hh, db_ih, db_hh, d_output,
                                       kernel_ready(dh_n), hs, x, w_ih, w_hh, lengths,
                                       bool(direction), self._activation)
        return dx, (dh0,)


class GRU(_Recurrent):
    """GRU layer, torch.nn.GRU's interface.

    ``variant="torch"`` (default): torch's equations (reset applied after
    W_hn h). ``variant="seed"``: the seed 000/001 equations (reset applied to h
    before W_h, z weighting the candidate), with the same stacked layout:
    rows of weight_ih are [W_rx; W_zx; W_x], of weight_hh [W_rh; W_zh; W_h];
    its biases are all additive, so b_ih and b_hh act as one sum.
    """

    family = "gru"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        bidirectional: bool = False,
        *,
        variant: str = "torch",
        backend: str = "auto",
        dtype=np.float64,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
    ):
        if variant not in ("torch", "seed"):
            raise ValueError(f"variant must be 'torch' or 'seed', got {variant!r}")
        self.variant = variant
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, bidirectional,
                         backend, dtype, seed, rng)

    def _extra_repr(self) -> str:
        return f", variant={self.variant!r}"

    def forward(self, x, h0=None, lengths=None) -> tuple[Array, Array]:
        """x (T, B, I) ((B, T, I) with batch_first, (T, I) unbatched) -> output, h_n."""
        output, (h_n,) = self._forward(x, [("h0", h0)], lengths)
        return output, h_n

    def backward(self, d_output, d_h_n=None) -> tuple[Array, Array]:
        """dL/d(output) (and dL/d(h_n)) in; (dx, dh0) out; parameter gradients added."""
        dx, (dh0,) = self._backward(d_output, [("d_h_n", d_h_n)])
        return dx, dh0

    def _forward_direction(self, x, states0, lengths, layer, direction):
        (h0,) = states0
        T, B, _ = x.shape
        H = self.hidden_size
        (w_ih, w_hh, b_ih, b_hh), _ = self._layer_params(layer, direction)
        output, h_n, hs = self._new((T, B, H)), self._new((B, H)), self._kept((T + 1, B, H))
        reverse = bool(direction)
        if self.variant == "torch":
            gates = self._kept((T, B, 4 * H))
            self._kernels.gru_seq_forward(output, h_n, hs, gates, x, h0, w_ih, w_hh, b_ih, b_hh,
                                          lengths, reverse)
        else:
            gates = self._kept((T, B, 3 * H))
            self._kernels.gru_seed_seq_forward(output, h_n, hs, gates, x, h0, w_ih, w_hh,
                                               b_ih + b_hh, lengths, reverse)
        return output, (h_n,), (hs, gates)

    def _backward_direction(self, d_output, d_finals, saved, x, lengths, layer, direction):
        (dh_n,) = d_finals
        hs, gates = saved
        (w_ih, w_hh, _, _), (dw_ih, dw_hh, db_ih, db_hh) = self._layer_params(layer, direction)
        dx, dh0 = np.empty_like(x), self._new(dh_n.shape)
        reverse = bool(direction)
        if self.variant == "torch":
            self._kernels.gru_seq_backward(dx, dh0, dw_ih, dw_hh, db_ih, db_hh, d_output,
                                           kernel_ready(dh_n), gates, hs, x, w_ih, w_hh,
                                           lengths, reverse)
        else:
            dbias = np.zeros_like(db_ih)
            self._kernels.gru_seed_seq_backward(dx, dh0, dw_ih, dw_hh, dbias, d_output,
                                                kernel_ready(dh_n), gates, hs, x, w_ih, w_hh,
                                                lengths, reverse)
            db_ih += dbias  # one additive bias, seen through two names
            if db_hh is not db_ih:
                db_hh += dbias
        return dx, (dh0,)


class LSTM(_Recurrent):
    """LSTM layer, torch.nn.LSTM's interface (gates i, f, g, o).

    ``forward(x, h0=None, lengths=None) -> (output, (h_n, c_n))`` with
    h0 = (h_0, c_0), the pair torch calls ``hx``;
    ``backward(d_output, d_h_n=None, d_c_n=None) -> (dx, (dh0, dc0))``.
    """

    family = "lstm"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        bidirectional: bool = False,
        *,
        backend: str = "auto",
        dtype=np.float64,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
    ):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, bidirectional,
                         backend, dtype, seed, rng)

    def forward(self, x, h0=None, lengths=None) -> tuple[Array, tuple[Array, Array]]:
        """x (T, B, I) ((B, T, I) with batch_first, (T, I) unbatched);
        h0 = (h_0, c_0), zeros if None -> output, (h_n, c_n)."""
        if h0 is None:
            h_0 = c_0 = None
        elif isinstance(h0, (tuple, list)) and len(h0) == 2:
            h_0, c_0 = h0
        else:
            raise TypeError(f"h0 must be a tuple (h_0, c_0) or None, got {type(h0).__name__}"
                            + (f" of length {len(h0)}" if isinstance(h0, (tuple, list))
                               else ""))
        output, (h_n, c_n) = self._forward(x, [("h0", h_0), ("c0", c_0)], lengths)
        return output, (h_n, c_n)

    def backward(self, d_output, d_h_n=None, d_c_n=None) -> tuple[Array, tuple[Array, Array]]:
        """dL/d(output) (and dL/d(h_n), dL/d(c_n)) in; (dx, (dh0, dc0)) out."""
        dx, (dh0, dc0) = self._backward(d_output, [("d_h_n", d_h_n), ("d_c_n", d_c_n)])
        return dx, (dh0, dc0)

    def _forward_direction(self, x, states0, lengths, layer, direction):
        h0, c0 = states0
        T, B, _ = x.shape
        H = self.hidden_size
        (w_ih, w_hh, b_ih, b_hh), _ = self._layer_params(layer, direction)
        output, h_n, c_n = self._new((T, B, H)), self._new((B, H)), self._new((B, H))
        hs, cs = self._kept((T + 1, B, H)), self._kept((T + 1, B, H))
        gates = self._kept((T, B, 5 * H))
        self._kernels.lstm_seq_forward(output, h_n, c_n, hs, cs, gates, x, h0, c0, w_ih, w_hh,
                                       b_ih, b_hh, lengths, bool(direction))
        return output, (h_n, c_n), (hs, cs, gates)

    def _backward_direction(self, d_output, d_finals, saved, x, lengths, layer, direction):
        dh_n, dc_n = d_finals
        hs, cs, gates = saved
        (w_ih, w_hh, _, _), (dw_ih, dw_hh, db_ih, db_hh) = self._layer_params(layer, direction)
        dx, dh0, dc0 = np.empty_like(x), self._new(dh_n.shape), self._new(dc_n.shape)
        self._kernels.lstm_seq_backward(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, d_output,
                                        kernel_ready(dh_n), kernel_ready(dc_n), gates, hs, cs, x,
                                        w_ih, w_hh, lengths, bool(direction))
        return dx, (dh0, dc0)
