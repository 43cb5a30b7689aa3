"""``GRUCell``, ``RNNCell``, ``LSTMCell`` (torch.nn's cells) and ``GRU_Cell``
(the seed homework's cell) as torch modules computed by bptt's cells.

One step is one ``torch.autograd.Function``: bptt's cell forward, whose
cache the autograd context keeps, and its backward. The Function saves its
input, states and outputs for torch's in-place check, so the usual streaming
loop that overwrites a state tensor before backward gets torch's error, not
a wrong gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from .. import cells as _bptt_cells
from . import _seed
from ._common import (
    _DTYPES,
    BpttModule,
    Engine,
    array,
    first_derivatives_only,
    needs_grad,
    tensor,
    unsupported,
    warn_fallback,
)


class _CellCall:
    """One step's plan, handed through the autograd Function."""

    __slots__ = ("engine", "lstm", "n_states")

    def __init__(self, engine: Engine, lstm: bool, n_states: int) -> None:
        self.engine, self.lstm, self.n_states = engine, lstm, n_states

    def forward(self, x: Any, states: Sequence[torch.Tensor | None],
                weights: Sequence[torch.Tensor], keep: bool) -> tuple[tuple[Any, ...], Any]:
        self.engine.bind(weights)
        cell = self.engine.model
        x = array(x)
        if self.lstm:
            outputs = cell.forward(x, tuple(map(array, states)))
        else:
            outputs = (cell.forward(x, array(states[0])),)
        cache, cell._cache = cell._cache, None
        return tuple(map(tensor, outputs)), (cache if keep else None)

    def backward(self, cache: Any, d_new: Sequence[torch.Tensor],
                 weights: Sequence[torch.Tensor],
                 ) -> tuple[Any, tuple[Any, ...], list[torch.Tensor]]:
        cell = self.engine.model
        with cell._lock:  # the engine's gradient arrays serve one backward at a time
            self.engine.bind(weights)
            cell.zero_grad()
            cell._cache = cache
            if self.lstm:
                dx, d_old = cell.backward(array(d_new[0]), array(d_new[1]))
            else:
                dx, dh = cell.backward(array(d_new[0]))
                d_old = (dh,)
            cell._cache = None
            grads = self.engine.grads()
        return tensor(dx), tuple(map(tensor, d_old)), grads


class _CellFunction(torch.autograd.Function):
    """One cell step: bptt forward, bptt backward."""

    @staticmethod
    def forward(ctx: Any, call: _CellCall, x: torch.Tensor, *tensors: torch.Tensor) -> Any:
        n = call.n_states
        states, weights = tensors[:n], tensors[n:]
        outputs, cache = call.forward(x, states, weights, keep=True)
        ctx.call, ctx.cache = call, cache
        # kept for torch's in-place check: the cache holds views of x and the states
        ctx.save_for_backward(x, *states, *weights, *outputs)
        return outputs if call.lstm else outputs[0]

    @staticmethod
    def backward(ctx: Any, *d_new: torch.Tensor) -> Any:
        call = ctx.call
        first_derivatives_only(call.engine)
        n = call.n_states
        saved = ctx.saved_tensors
        x, states, weights = saved[0], saved[1 : 1 + n], saved[1 + n : len(saved) - len(d_new)]
        dx, d_old, grads = call.backward(ctx.cache, d_new, weights)
        needed = ctx.needs_input_grad
        d_old = [d.reshape(s.shape) if needed[2 + k] else None
                 for k, (d, s) in enumerate(zip(d_old, states, strict=True))]
        grads = [g if need else None for g, need in zip(grads, needed[2 + n:], strict=True)]
        return (None, dx.reshape(x.shape) if needed[1] else None, *d_old, *grads)


class _BpttCell(BpttModule):
    """What the cells add to their torch.nn class (or to torch.nn.Module)."""

    _lstm = False
    # the torch.nn class's, after this mixin in the MRO (GRU_Cell sets its own)
    input_size: int
    hidden_size: int

    # the cells also name their kernels' weights
    def _bptt_setup(self, backend: str, names: tuple[str, ...]) -> None:  # type: ignore[override]
        super()._bptt_setup(backend)
        self._bptt_names = names

    def extra_repr(self) -> str:
        return super().extra_repr() + self._backend_repr()  # type: ignore[misc]  # torch's

    def _engine(self, dtype: Any) -> Engine:
        key = (dtype, self.input_size, self.hidden_size, self._bptt_names, self._bptt_option())
        return self._engine_for(key, lambda: self._bptt_model(dtype),  # type: ignore[attr-defined]
                                self._bptt_names)  # (each cell class defines _bptt_model)

    def _bptt_option(self) -> str | None:
        return None

    def _kernel_weights(self) -> tuple[torch.Tensor, ...]:
        """The parameter tensors in the order of the kernels' names."""
        return tuple(getattr(self, name) for name in self._bptt_names)

    def _check_dims(self, input: torch.Tensor, states: Sequence[torch.Tensor | None]) -> None:
        """torch's dimension rules for a cell's input and states."""
        name = type(self).__name__
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        for s in states:
            if s is not None and s.dim() not in (1, 2):
                raise ValueError(f"{name}: Expected hidden to be 1D or 2D, got {s.dim()}D "
                                 "instead")

    def _step(self, input: torch.Tensor, states: tuple[torch.Tensor | None, ...],
              fallback: Callable[[], Any]) -> Any:
        """Run one step on bptt, or ``fallback()`` with the warning."""
        weights = self._kernel_weights()
        reason = unsupported(input, [s for s in states if s is not None], weights)
        engine = None
        if reason is None:
            engine = self._engine(_DTYPES[input.dtype])
            if not engine.shapes_match(weights):
                reason = "parameters whose shapes do not match the module's sizes"
        if reason is not None:
            warn_fallback(self, reason)
            return fallback()
        self._check_dims(input, states)
        if self._lstm and (states[0] is None) != (states[1] is None):
            raise TypeError("LSTMCell: hx must be a tuple (h, c) of two tensors or None")
        call = _CellCall(engine, self._lstm, len(states))  # type: ignore[arg-type]  # not None
        if needs_grad(input, *states, *weights):
            return _CellFunction.apply(call, input, *states, *weights)
        outputs, _ = call.forward(input, states, weights, keep=False)
        return outputs if self._lstm else outputs[0]


def _names(bias: bool, biases: tuple[str, ...] = ("bias_ih", "bias_hh")) -> tuple[str, ...]:
    return ("weight_ih", "weight_hh") + (biases if bias else ())


class GRUCell(_BpttCell, torch.nn.GRUCell):
    """``torch.nn.GRUCell`` on bptt's cell kernels."""

    def __init__(self, *args: Any, backend: str = "auto", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._bptt_setup(backend, _names(self.bias))

    def _bptt_model(self, dtype: Any) -> _bptt_cells.GRUCell:
        return _bptt_cells.GRUCell(self.input_size, self.hidden_size, self.bias,
                                   backend=self._bptt_backend, dtype=dtype, seed=0)

    def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None) -> torch.Tensor:
        """One step: input (N, H_in) or (H_in,), hx (N, H) or (H,), zeros if None -> h'."""
        return self._step(input, (hx,), lambda: super(GRUCell, self).forward(input, hx))


class RNNCell(_BpttCell, torch.nn.RNNCell):
    """``torch.nn.RNNCell`` (tanh or relu) on bptt's cell kernels."""

    def __init__(self, *args: Any, backend: str = "auto", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._bptt_setup(backend, _names(self.bias))

    def _bptt_option(self) -> str:
        return self.nonlinearity

    def _bptt_model(self, dtype: Any) -> _bptt_cells.RNNCell:
        return _bptt_cells.RNNCell(self.input_size, self.hidden_size, self.bias,
                                   self.nonlinearity, backend=self._bptt_backend, dtype=dtype,
                                   seed=0)

    def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None) -> torch.Tensor:
        """One step: input (N, H_in) or (H_in,), hx (N, H) or (H,), zeros if None -> h'."""
        return self._step(input, (hx,), lambda: super(RNNCell, self).forward(input, hx))


class LSTMCell(_BpttCell, torch.nn.LSTMCell):
    """``torch.nn.LSTMCell`` on bptt's cell kernels: ``forward(input, (h, c))``."""

    _lstm = True

    def __init__(self, *args: Any, backend: str = "auto", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._bptt_setup(backend, _names(self.bias))

    def _bptt_model(self, dtype: Any) -> _bptt_cells.LSTMCell:
        return _bptt_cells.LSTMCell(self.input_size, self.hidden_size, self.bias,
                                    backend=self._bptt_backend, dtype=dtype, seed=0)

    def forward(
        self, input: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: input (N, H_in) or (H_in,), hx = (h, c), each (N, H) or (H,),
        zeros if None -> (h', c')."""
        states: tuple[torch.Tensor | None, ...]
        if hx is None:
            states = (None, None)
        elif isinstance(hx, (tuple, list)) and len(hx) == 2:
            states = tuple(hx)
        else:
            raise TypeError(f"LSTMCell: hx must be a tuple (h, c) or None, got {hx!r:.80}")
        return self._step(input, states, lambda: super(LSTMCell, self).forward(input, hx))


class GRU_Cell(_BpttCell, torch.nn.Module):  # noqa: N801 - the homework's class name
    """The seed 000 GRU cell (bptt.GRU_Cell) as a torch module.

    Parameters named as bptt.GRU_Cell's (its state dicts load both ways):
    ``Wzh, Wrh, Wh`` (h, h), ``Wzx, Wrx, Wx`` (h, d) and, with ``bias=True``,
    ``bz, br, bh`` (h,); initialised U(-1/sqrt(h), 1/sqrt(h)) from torch's
    generator. ``forward(x, h)``: x (d,) or (B, d), h (h,) or (B, h), zeros if
    None -> h'. The kernels take the blocks stacked [r; z; h~], so each call
    stacks them (``torch.cat``, through which autograd splits the gradient).
    """

    _STACKS = (("weight_ih", ("Wrx", "Wzx", "Wx")), ("weight_hh", ("Wrh", "Wzh", "Wh")),
               ("bias", ("br", "bz", "bh")))

    def __init__(self, in_dim: int, hidden_dim: int, bias: bool = False, *,
                 backend: str = "auto", device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        for name, value in (("in_dim", in_dim), ("hidden_dim", hidden_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be a bool, got {type(bias).__name__}")
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.input_size = self.d = in_dim
        self.hidden_size = self.h = hidden_dim
        self.bias = bias
        shapes: dict[str, tuple[int, ...]]
        shapes = {"Wzh": (hidden_dim, hidden_dim), "Wrh": (hidden_dim, hidden_dim),
                  "Wh": (hidden_dim, hidden_dim), "Wzx": (hidden_dim, in_dim),
                  "Wrx": (hidden_dim, in_dim), "Wx": (hidden_dim, in_dim)}
        if bias:
            shapes.update({"bz": (hidden_dim,), "br": (hidden_dim,), "bh": (hidden_dim,)})
        for name, shape in shapes.items():  # bptt.GRU_Cell's order
            self.register_parameter(name, torch.nn.Parameter(torch.empty(shape, **factory)))
        self.reset_parameters()
        self._bptt_setup(backend, tuple(n for n, _ in self._STACKS[: 3 if bias else 2]))

    def reset_parameters(self) -> None:
        """Every parameter U(-1/sqrt(h), 1/sqrt(h)), from torch's generator."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            torch.nn.init.uniform_(p, -bound, bound)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}" + self._backend_repr()

    def _bptt_model(self, dtype: Any) -> _bptt_cells.GRU_Cell:
        return _bptt_cells.GRU_Cell(self.input_size, self.hidden_size, self.bias,
                                    backend=self._bptt_backend, dtype=dtype, seed=0)

    def _kernel_weights(self) -> tuple[torch.Tensor, ...]:
        return tuple(torch.cat([getattr(self, name) for name in blocks])
                     for _, blocks in self._STACKS[: 3 if self.bias else 2])

    def _reference(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The step in torch operators (what runs where bptt cannot)."""
        weight_ih, weight_hh, *bias = self._kernel_weights()
        batched = x.dim() == 2
        x2 = x if batched else x.unsqueeze(0)
        h2 = h if batched else h.unsqueeze(0)
        gi = x2 @ weight_ih.t()
        if bias:
            gi = gi + bias[0]
        h_next = _seed.step(gi, h2, weight_hh, None)
        return h_next if batched else h_next.squeeze(0)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """One step: x (d,) or (B, d), h (h,) or (B, h), zeros if None -> h'."""
        if h is None:
            shape = (*x.shape[:-1], self.hidden_size)
            h = torch.zeros(shape, dtype=x.dtype, device=x.device)
        return self._step(x, (h,), lambda: self._reference(x, h))
