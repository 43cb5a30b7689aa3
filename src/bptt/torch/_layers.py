"""``GRU``, ``RNN``, ``LSTM``: torch.nn's sequence layers, computed by bptt.

A call is laid out as torch lays it out (batch_first, unbatched and packed
input, the permutation of ``hx`` for unsorted packed batches), validated by
torch's own checks, and then runs every layer and direction in one
``torch.autograd.Function``: bptt's ``_Recurrent`` forward keeps its cache in
the autograd context, and backward hands it back. Dropout masks between
layers are drawn exactly as torch draws them (``bernoulli_(1 - p)`` then
``div_(1 - p)`` on each layer's output, in order, on the packed rows for
packed input), so ``torch.manual_seed`` gives torch's masks and torch's
numbers. bptt runs a call on torch's threads: at most
``torch.get_num_threads()`` of them, the rows it splits across threads on
torch's own OpenMP workers (``_common.torch_threads``).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.nn.utils.rnn import PackedSequence

from .. import layers as _bptt_layers
from . import _seed
from ._common import (
    _DTYPES,
    BpttModule,
    Engine,
    array,
    first_derivatives_only,
    needs_grad,
    tensor,
    torch_threads,
    unsupported,
    warn_fallback,
)


class _Packing:
    """Moves rows between a packed layout (N, F) and a padded time-major one
    (T, B, F), for one ``batch_sizes``. Also gives each row's length."""

    def __init__(self, batch_sizes: torch.Tensor) -> None:
        sizes = batch_sizes.numpy().astype(np.int64)
        self.T, self.B = len(sizes), int(sizes[0])
        starts = np.cumsum(sizes) - sizes
        self.time = np.repeat(np.arange(self.T), sizes)            # packed row -> step
        self.row = np.arange(len(self.time)) - np.repeat(starts, sizes)   # -> batch row
        self.lengths = np.bincount(self.row, minlength=self.B).astype(np.int64)

    def pad(self, packed: np.ndarray) -> np.ndarray:
        padded = np.zeros((self.T, self.B, packed.shape[1]), dtype=packed.dtype)
        padded[self.time, self.row] = packed
        return padded

    def pack(self, padded: np.ndarray) -> np.ndarray:
        return padded[self.time, self.row]


class _Call:
    """One layer call's plan, handed through the autograd Function."""

    __slots__ = ("engine", "state_names", "lengths", "packing", "masks")

    def __init__(self, engine: Engine, state_names: tuple[str, ...], lengths: np.ndarray | None,
                 packing: _Packing | None, masks: list[Any]) -> None:
        self.engine = engine
        self.state_names = state_names
        self.lengths = lengths
        self.packing = packing
        self.masks = masks

    def forward(self, x: Any, states: Sequence[torch.Tensor | None],
                weights: Sequence[torch.Tensor], keep: bool) -> tuple[Any, tuple[Any, ...], Any]:
        """bptt's forward on time-major (or packed) x; returns tensors and
        the cache (None unless ``keep``)."""
        engine = self.engine
        engine.bind(weights)
        model = engine.model
        x = array(x)
        if self.packing is not None:
            x = self.packing.pad(x)
        with torch_threads():
            output, finals, cache = model._run_forward(
                x, list(zip(self.state_names, map(array, states), strict=True)),
                self.lengths, self.masks, copy_input=False, keep=keep)
        if self.packing is not None:
            output = self.packing.pack(output)
        return tensor(output), tuple(map(tensor, finals)), cache

    def backward(self, cache: Any, d_output: Any, d_finals: Sequence[torch.Tensor | None],
                 weights: Sequence[torch.Tensor], want_dx: bool = True,
                 ) -> tuple[Any, tuple[Any, ...], list[torch.Tensor]]:
        """bptt's backward: (dx, the initial states' gradients, the weights');
        dx None, and not computed, unless ``want_dx``."""
        engine = self.engine
        model = engine.model
        d_output = array(d_output)
        if self.packing is not None:
            d_output = self.packing.pad(d_output)
        d_output, d_finals = model._backward_inputs(
            cache, d_output, [("d_" + name[0] + "_n", array(d)) for name, d in
                              zip(self.state_names, d_finals, strict=True)])
        with model._lock, torch_threads():  # the gradient arrays serve one backward at a time
            engine.bind(weights)
            model.zero_grad()
            dx, d_states = model._run_backward(cache, d_output, d_finals, release=False,
                                               want_dx=want_dx)
            grads = engine.grads()
        if dx is None:
            return None, tuple(map(tensor, d_states)), grads
        if self.packing is not None:
            dx = self.packing.pack(dx)
        return tensor(dx), tuple(map(tensor, d_states)), grads


class _Kept:
    """A call's cache for as long as autograd keeps its graph: when the graph
    goes (the outputs are dropped), its arrays return to the layer's pool, to
    serve a later forward without fresh pages (a fifth of a batch-32 call).
    The first layer's input is x itself (the caller's tensor): never pooled."""

    __slots__ = ("cache", "__weakref__")

    def __init__(self, cache: Any, model: Any) -> None:
        self.cache = cache
        weakref.finalize(self, model._release, cache, True)


class _LayerFunction(torch.autograd.Function):
    """Every layer and direction of one call: bptt forward, bptt backward."""

    @staticmethod
    def forward(ctx: Any, call: _Call, x: torch.Tensor, *tensors: torch.Tensor) -> Any:
        n = len(call.state_names)
        states, weights = tensors[:n], tensors[n:]
        output, finals, cache = call.forward(x, states, weights, keep=True)
        ctx.call, ctx.n_states = call, n
        ctx.cache = _Kept(cache, call.engine.model)
        # saved for torch's check that nothing was modified in place before
        # backward: the cache holds x itself, and backward reads the weights
        ctx.save_for_backward(x, *weights)
        return (output, *finals)

    @staticmethod
    def backward(ctx: Any, d_output: torch.Tensor, *d_finals: torch.Tensor) -> Any:
        first_derivatives_only(ctx.call.engine)
        weights = ctx.saved_tensors[1:]
        needed = ctx.needs_input_grad
        # an input that needs no gradient (data, not another layer's output)
        # spares the dx product: a quarter of the backward's work at I = H
        dx, d_states, grads = ctx.call.backward(ctx.cache.cache, d_output, d_finals, weights,
                                                want_dx=needed[1])
        n = ctx.n_states
        d_states = [d if needed[2 + k] else None for k, d in enumerate(d_states)]
        grads = [g if need else None for g, need in zip(grads, needed[2 + n:], strict=True)]
        return (None, dx if needed[1] else None, *d_states, *grads)


class _BpttRNN(BpttModule):
    """What GRU, RNN and LSTM add to their torch.nn class."""

    _state_names: tuple[str, ...] = ("h0",)
    _variant = "torch"
    # torch.nn.RNNBase's, after this mixin in the MRO
    mode: str
    input_size: int
    hidden_size: int
    num_layers: int
    bias: bool
    batch_first: bool
    dropout: float
    bidirectional: bool
    proj_size: int
    training: bool
    _flat_weights_names: list[str]
    _flat_weights: list[Any]  # tensors; torch's stubs allow None

    def extra_repr(self) -> str:
        s = super().extra_repr()  # type: ignore[misc]  # torch.nn.Module's
        if self._variant != "torch":
            s += f", variant={self._variant!r}"
        return s + self._backend_repr()

    def _bptt_model(self, dtype: Any) -> Any:
        """A time-major bptt layer of this module's sizes; its parameters get replaced."""
        raise NotImplementedError

    def _engine(self, dtype: type[np.floating[Any]]) -> Engine:
        key = (dtype, self.input_size, self.hidden_size, self.num_layers, self.bias,
               self.bidirectional, self.proj_size, self.mode)
        return self._engine_for(key, lambda: self._bptt_model(dtype),
                                tuple(self._flat_weights_names))

    def _torch_forward(self, input: Any, hx: Any) -> Any:
        return super().forward(input, hx)  # type: ignore[misc]  # torch.nn.RNNBase's

    def _unpack_hx(self, hx: Any) -> tuple[Any, ...]:
        return (hx,)

    def _pack_hx(self, states: tuple[Any, ...]) -> Any:
        return states[0]

    def forward(self, input: torch.Tensor | PackedSequence, hx: Any = None) -> Any:
        """The torch class's forward: ``input`` (L, N, H_in), (N, L, H_in) with
        ``batch_first``, (L, H_in) unbatched, or a PackedSequence; ``hx`` the initial
        state, zeros if None ((h_0, c_0) for the LSTM). Returns (output, h_n), or
        (output, (h_n, c_n)) for the LSTM, as torch does."""
        packed = isinstance(input, PackedSequence)
        data = input.data if packed else input
        states = self._unpack_hx(hx)
        self._update_flat_weights()  # type: ignore[attr-defined]  # torch.nn.RNNBase's
        weights = self._flat_weights
        reason = unsupported(data, [s for s in states if s is not None], weights)
        engine = None
        if reason is None:
            engine = self._engine(_DTYPES[data.dtype])  # type: ignore[union-attr]  # a tensor
            if not engine.shapes_match(weights):
                reason = "parameters whose shapes do not match the module's sizes"
        if reason is not None:
            warn_fallback(self, reason)
            return self._torch_forward(input, hx)
        return self._bptt_forward(engine, input, packed, states,  # type: ignore[arg-type]
                                  weights)  # (engine is set whenever reason is None)

    def _bptt_forward(self, engine: Engine, input: Any, packed: bool, states: tuple[Any, ...],
                      weights: Sequence[torch.Tensor]) -> Any:
        name = type(self).__name__
        packing: _Packing | None
        if packed:
            x, batch_sizes, sorted_indices, unsorted_indices = input
            if sorted_indices is not None:  # states arrive in the caller's row order
                states = tuple(None if s is None else s.index_select(1, sorted_indices)
                               for s in states)
            batched = True
            packing = _Packing(batch_sizes)
            lengths = packing.lengths
        else:
            if input.dim() not in (2, 3):
                raise ValueError(f"{name}: Expected input to be 2D or 3D, got "
                                 f"{input.dim()}D instead")
            batched = input.dim() == 3
            batch_sizes = packing = lengths = None
            dims = 3 if batched else 2
            for s in states:
                if s is not None and s.dim() != dims:
                    raise RuntimeError(
                        f"For {'batched 3-D' if batched else 'unbatched 2-D'} input, hx "
                        f"should also be {dims}-D but got {s.dim()}-D tensor")
            if not batched:
                input = input.unsqueeze(0 if self.batch_first else 1)
                states = tuple(None if s is None else s.unsqueeze(1) for s in states)
            x = input
        # torch's own checks of the input and state sizes, for torch's messages
        if any(s is None for s in states):
            self.check_input(x, batch_sizes)  # type: ignore[attr-defined]  # torch's, as above
        else:
            self.check_forward_args(  # type: ignore[attr-defined]
                x, self._pack_hx(states), batch_sizes)
        if not packed and self.batch_first:
            x = x.transpose(0, 1)
        masks = self._dropout_masks(x, packing)
        call = _Call(engine, self._state_names, lengths, packing, masks)
        if needs_grad(x, *states, *weights):
            output, *finals = _LayerFunction.apply(call, x, *states, *weights)
        else:
            output, finals, _ = call.forward(x, states, weights, keep=False)
        if packed:
            if unsorted_indices is not None:
                finals = [f.index_select(1, unsorted_indices) for f in finals]
            return (PackedSequence(output, batch_sizes, sorted_indices, unsorted_indices),
                    self._pack_hx(tuple(finals)))
        if not batched:
            return output.squeeze(1), self._pack_hx(tuple(f.squeeze(1) for f in finals))
        if self.batch_first:
            output = output.transpose(0, 1)
        return output, self._pack_hx(tuple(finals))

    def _dropout_masks(self, x: torch.Tensor, packing: _Packing | None) -> list[Any]:
        """torch's dropout between layers, drawn as torch draws it, as bptt masks:
        None (no dropout) or one (T, B, D*K) array per gap between layers."""
        p = float(self.dropout)
        if not (self.training and p > 0 and self.num_layers > 1):
            return [None] * (self.num_layers - 1)
        D = 2 if self.bidirectional else 1
        features = D * (self.proj_size or self.hidden_size)
        rows = (len(packing.time),) if packing is not None else tuple(x.shape[:2])
        masks = []
        for _ in range(self.num_layers - 1):
            noise: Any  # a tensor, then its numpy view
            if p == 1:  # torch zeroes the output without drawing
                noise = torch.zeros(*rows, features, dtype=x.dtype)
            else:
                noise = torch.empty(*rows, features, dtype=x.dtype).bernoulli_(1 - p)
                noise.div_(1 - p)
            noise = noise.numpy()
            masks.append(packing.pad(noise) if packing is not None else noise)
        return masks


def _factory(kwargs: dict[str, Any]) -> None:
    """Refuse bptt keywords torch's constructor would reject less clearly."""
    for name in ("seed", "rng"):
        if name in kwargs:
            raise TypeError(f"{name}= is not a bptt.torch argument: torch's generator "
                            "(torch.manual_seed) initialises the parameters")


class GRU(_BpttRNN, torch.nn.GRU):
    """``torch.nn.GRU`` on bptt's kernels: the same constructor, parameters and
    results (``variant="torch"``), and ``variant="seed"`` for the seed 000/001
    GRU with the same parameter names and layout (reset applied to h before
    W_h, z weighting the candidate). ``backend``: "auto", "cython", "numba"
    or "numpy"."""

    def __init__(self, *args: Any, variant: str = "torch", backend: str = "auto",
                 **kwargs: Any) -> None:
        _factory(kwargs)
        super().__init__(*args, **kwargs)
        if variant not in ("torch", "seed"):
            raise ValueError(f"variant must be 'torch' or 'seed', got {variant!r}")
        self._variant = variant
        self._bptt_setup(backend)

    @property
    def variant(self) -> str:
        """"torch" or "seed": whose GRU equations."""
        return self._variant

    def _bptt_model(self, dtype: Any) -> _bptt_layers.GRU:
        return _bptt_layers.GRU(self.input_size, self.hidden_size, self.num_layers, self.bias,
                                False, 0.0, self.bidirectional, variant=self._variant,
                                backend=self._bptt_backend, dtype=dtype, seed=0)

    def _torch_forward(self, input: Any, hx: Any) -> Any:
        if self._variant == "seed":
            return _seed.gru_layers(self, input, hx)
        return super()._torch_forward(input, hx)


class RNN(_BpttRNN, torch.nn.RNN):
    """``torch.nn.RNN`` (tanh or relu) on bptt's kernels."""

    def __init__(self, *args: Any, backend: str = "auto", **kwargs: Any) -> None:
        _factory(kwargs)
        super().__init__(*args, **kwargs)
        self._bptt_setup(backend)

    def _bptt_model(self, dtype: Any) -> _bptt_layers.RNN:
        return _bptt_layers.RNN(self.input_size, self.hidden_size, self.num_layers,
                                self.nonlinearity, self.bias, False, 0.0, self.bidirectional,
                                backend=self._bptt_backend, dtype=dtype, seed=0)


class LSTM(_BpttRNN, torch.nn.LSTM):
    """``torch.nn.LSTM`` on bptt's kernels, ``proj_size`` included;
    ``hx`` = (h_0, c_0) as in torch."""

    _state_names = ("h0", "c0")

    def __init__(self, *args: Any, backend: str = "auto", **kwargs: Any) -> None:
        _factory(kwargs)
        super().__init__(*args, **kwargs)
        self._bptt_setup(backend)

    def _bptt_model(self, dtype: Any) -> _bptt_layers.LSTM:
        return _bptt_layers.LSTM(self.input_size, self.hidden_size, self.num_layers, self.bias,
                                 False, 0.0, self.bidirectional, self.proj_size,
                                 backend=self._bptt_backend, dtype=dtype, seed=0)

    def _unpack_hx(self, hx: Any) -> tuple[Any, ...]:
        if hx is None:
            return (None, None)
        if not isinstance(hx, (tuple, list)) or len(hx) != 2 or any(s is None for s in hx):
            raise TypeError(f"LSTM: hx must be a tuple of tensors (h_0, c_0), got {hx!r:.80}")
        return tuple(hx)

    def _pack_hx(self, states: tuple[Any, ...]) -> Any:
        return tuple(states)
