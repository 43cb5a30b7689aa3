"""Single-step recurrent cells: the Python face of the cell kernels.

Each class validates its input, shapes it to (B, features) and runs one step
of its family (``bptt._families``) with the family's one-step kernels,
``cell_forward`` / ``cell_backward``: the time loop's step without the loop's
bookkeeping, written once in each backend's ``_sequence`` beside the loop,
with the numbers of a sequence of length 1. Forward keeps its own copies of
x and the states for backward. On the Cython and Numba backends an input that
is already exactly right takes a one-call fast path instead (csrc/_fast.pxd;
``bptt._numba._sequence``); on Cython anything else runs as ``seq_forward``
over T = 1. Parameter gradients
accumulate across calls, as in torch, until ``zero_grad()``.

- ``GRU_Cell``: the seed 000 homework interface (seed GRU equations).
- ``GRUCell``, ``RNNCell``, ``LSTMCell``: torch's formulations, names, shapes.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import numpy as np

from ._backend import get_backend
from ._families import ACTIVATIONS, FAMILIES
from ._module import Module
from ._typing import ArrayLike, DTypeLike, FloatArray
from ._validation import (
    check_bool,
    check_choice,
    check_dtype,
    check_rng,
    check_size,
    parameter,
    state_pair,
    step_gradient,
    step_input,
    step_state,
)

Array = np.ndarray


# A cell's cache is a plain tuple: a NamedTuple takes ~0.3 us to build, a fifth
# of a whole Cython step. Two layouts, told apart by their first item:
FAST = "fast"  # (FAST, x, states, saved, batched): the one-call path's step. On Cython,
#                copies of the caller's x (I,) or (B, I) and states, and its cache:
#                gates (B, C), or a copy of h' for the RNN. On Numba (whose kernels say
#                ``fast_saves_inputs``), the shapes of x and the states, and one flat
#                array that holds [gates, or h' for the RNN | x | the states]
STEP = "step"  # (STEP, x, old, new, gates, batched): the one-step kernels kept their own
#                copy of x (B, I) and of the states before the step, the states after it
#                (B, H) each, and gates (B, C)


_CellT = TypeVar("_CellT", bound="_Cell")
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _serialised(
    backward: Callable[Concatenate[_CellT, _P], _R],
) -> Callable[Concatenate[_CellT, _P], _R]:
    """One backward at a time per cell: they add into the same gradient arrays."""

    @functools.wraps(backward)
    def locked(self: _CellT, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self._lock:
            return backward(self, *args, **kwargs)

    return locked


class _Cell(Module):
    """Parameters, gradients, state dicts and backend choice, shared by all cells.

    Subclasses set ``family`` (the cell family, ``bptt._families``, which
    also gives the gate blocks) and implement ``forward`` / ``backward``.
    """

    family: str
    _READ_ONLY = frozenset({"input_size", "hidden_size", "bias", "dtype", "nonlinearity", "d", "h"})
    _option = 0.0  # the family kernels' scalar setting (RNNCell: the activation code)
    # the fast path's kernels (None where there is none) and argument tuples
    _fast_forward: Any
    _fast_backward: Any
    _fast_args: tuple[Array, ...]
    _fast_grads: tuple[Array | None, ...]

    def __init__(self, input_size, hidden_size, bias, backend, dtype, seed, rng):
        self.input_size = check_size("input_size", input_size)
        self.hidden_size = check_size("hidden_size", hidden_size)
        self.bias = check_bool("bias", bias)
        self.dtype = check_dtype(dtype)
        resolved = get_backend(backend)
        self._kernels = resolved.family(self.family)
        self._backend_name = resolved.name
        self._init_parameters(self._storage_shapes(), self.hidden_size, check_rng(seed, rng))
        # Kernels always take biases; a bias-free cell hands them zeros and a
        # scratch gradient that is cleared before each use and never exposed.
        rows = FAMILIES[self.family].gates * self.hidden_size
        self._zero_bias = np.zeros(rows, dtype=self.dtype)
        self._scratch_dbias = (np.zeros(rows, dtype=self.dtype), np.zeros(rows, dtype=self.dtype))
        self._step_caches: dict[int, tuple | None] = {}   # each thread's last step
        self._lock = threading.RLock()                      # backward's gradient adds
        self._cache = None
        self._init_fast_path()
        self._cell_forward = getattr(self._kernels, "cell_forward", None)
        self._cell_backward = getattr(self._kernels, "cell_backward", None)
        self._cache_width = FAMILIES[self.family].cache_width(self.hidden_size)
        # parameters keep their identity for life (Module): gather the kernels'
        # weight slots once, and the arguments that follow them
        self._weights = self._weight_args()
        self._options = ((), self._option)

    @property
    def _cache(self) -> tuple | None:
        """This thread's last forward's cache (threads sharing a cell each
        backward their own step)."""
        return self._step_caches.get(threading.get_ident())

    @_cache.setter
    def _cache(self, value: tuple | None) -> None:
        self._step_caches[threading.get_ident()] = value

    def _bind(self, params: dict[str, Array]) -> None:
        """Run on parameter arrays owned by someone else (bptt.torch hands in
        views of its tensors), with this cell's names, shapes and dtype,
        C-contiguous; the caller has checked that. Gradients stay this cell's."""
        self._params = dict(params)
        self._init_fast_path()
        self._weights = self._weight_args()

    _fast: str | None = None  # kernel name stem of the one-call step, if any
    _fast_saves_inputs = False  # its forward keeps its own copy of x and the states
    _bias_vectors = 2         # bias_ih and bias_hh (the seed GRU has one)

    def _init_fast_path(self) -> None:
        """The Cython and Numba backends' one-call step (csrc/_fast.pxd,
        ``bptt._numba._sequence``): it takes arrays that are already exactly
        right and declines (None) anything else, which then goes through the
        validating path. Parameters keep their identity, so their argument
        tuples are built once. Numba's forward keeps its own copy of x and the
        states (``fast_saves_inputs``): the cell keeps their shapes instead."""
        self._fast_forward = self._fast_backward = None
        if self._fast is None:
            return
        self._fast_forward = getattr(self._kernels, self._fast + "_forward_fast", None)
        self._fast_backward = getattr(self._kernels, self._fast + "_backward_fast", None)
        self._fast_saves_inputs = getattr(self._kernels, "fast_saves_inputs", False)
        p, g = self._params, self._grads
        names = list(p)                 # weight_ih, weight_hh, then the biases if any
        self._fast_args = (p[names[0]], p[names[1]])
        self._fast_grads = (g[names[0]], g[names[1]])
        if self.bias:
            self._fast_args += tuple(p[n] for n in names[2:])
            self._fast_grads += tuple(g[n] for n in names[2:])
        else:
            self._fast_args += (self._zero_bias,) * self._bias_vectors
            self._fast_grads += (None,) * self._bias_vectors

    # -- one step as a sequence of length 1 ------------------------------------

    def _step_forward(self, x2: Array, states: tuple[Array, ...], batched: bool):
        """x2 (B, I) and the states (B, H) each -> the new states and this
        step's STEP cache, with its own copies of x and the old states (the
        caller may refill its buffers before backward).

        The family's one-step kernels (``cell_forward``: the time loop's step
        without its bookkeeping, written once per backend in its
        ``_sequence``) run it on NumPy and Numba; on Cython, when its fast path
        declined, it runs as ``seq_forward`` over T = 1.
        """
        B = x2.shape[0]
        x = x2.copy()
        old = tuple([state.copy() for state in states])
        new = tuple([np.empty_like(state) for state in old])
        gates = np.empty((B, self._cache_width), dtype=self.dtype)
        if self._cell_forward is not None:
            self._cell_forward(*new, gates, x, *old, *self._weights, *self._options)
        else:
            histories = tuple(np.stack([state, state]) for state in old)   # (T+1, B, H)
            self._kernels.seq_forward(np.empty((1, B, self.hidden_size), dtype=self.dtype), new,
                                      histories, gates[None], x[None], old, *self._weight_args(),
                                      (), np.ones(B, dtype=np.int64), False, self._option)
        return new, (STEP, x, old, new, gates, batched)

    def _step_backward(self, cache: tuple, dnew: tuple[Array, ...]):
        """Mirror of ``_step_forward`` on its STEP cache: dL/d(new states) in;
        dx (B, I) and dL/d(old states) out; parameter gradients added."""
        _, x, old, new, gates, _ = cache
        dx = np.empty_like(x)
        dold = tuple([np.empty_like(state) for state in old])
        weight_ih, weight_hh = self._weights[:2]
        if self._cell_backward is not None:
            self._cell_backward(dx, *dold, *self._grad_args(), (), *dnew, gates, x, *old, *new,
                                weight_ih, weight_hh, *self._options)
        else:
            B = x.shape[0]
            histories = tuple(np.stack([o, n]) for o, n in zip(old, new, strict=True))
            self._kernels.seq_backward(dx[None], dold, *self._grad_args(), (),
                                       np.zeros((1, B, self.hidden_size), dtype=self.dtype),
                                       dnew, gates[None], histories, x[None], weight_ih,
                                       weight_hh, (), np.ones(B, dtype=np.int64), False,
                                       self._option)
        return dx, dold

    def _step_cache(self, fast: tuple, rnn: bool = False) -> tuple:
        """A FAST cache as a STEP one, for a backward whose upstream gradient
        the fast path declined. Backward reads the old states, the gates and
        (the RNN's cache, ``rnn``) the new h; the other new states stand in."""
        _, x, states, saved, batched = fast
        H, I = self.hidden_size, self.input_size
        C = H if rnn else self._cache_width  # the cache's width: h', or the gates
        if self._fast_saves_inputs:  # saved: [the cache (B, C) | x (B, I) | states (B, H)]
            B = saved.size // (C + I + len(states) * H)
            ends = np.cumsum([B * C, B * I] + [B * H] * (len(states) - 1))
            saved, x, *states = np.split(saved, ends)
        B = saved.size // C
        old = tuple(state.reshape(B, H) for state in states)
        new = (saved.reshape(B, H),) if rnn else old
        gates = np.empty((B, 0), dtype=self.dtype) if rnn else saved.reshape(B, C)
        return STEP, x.reshape(B, I), old, new, gates, batched

    def _weight_args(self) -> tuple[Array, Array, Array, Array]:
        p = self._params
        return (p["weight_ih"], p["weight_hh"], *self._bias_args())

    def _grad_args(self) -> tuple[Array, Array, Array, Array]:
        g = self._grads
        return (g["weight_ih"], g["weight_hh"], *self._dbias_args())

    # -- storage ------------------------------------------------------------

    def _storage_shapes(self) -> dict[str, tuple[int, ...]]:
        rows = FAMILIES[self.family].gates * self.hidden_size
        shapes: dict[str, tuple[int, ...]] = {
            "weight_ih": (rows, self.input_size),
            "weight_hh": (rows, self.hidden_size),
        }
        if self.bias:
            shapes["bias_ih"] = (rows,)
            shapes["bias_hh"] = (rows,)
        return shapes

    def _bias_args(self) -> tuple[Array, Array]:
        if self.bias:
            return self._params["bias_ih"], self._params["bias_hh"]
        return self._zero_bias, self._zero_bias

    def _dbias_args(self) -> tuple[Array, Array]:
        if self.bias:
            return self._grads["bias_ih"], self._grads["bias_hh"]
        for scratch in self._scratch_dbias:
            scratch.fill(0)
        return self._scratch_dbias

    # -- public parameter API -------------------------------------------------

    @property
    def backend(self) -> str:
        """The backend whose kernels this cell runs: "cython", "numba" or "numpy"."""
        return self._backend_name

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.input_size}, {self.hidden_size}, bias={self.bias}"
            f"{self._extra_repr()}, backend={self.backend!r}, dtype={self.dtype.name})"
        )

    def _extra_repr(self) -> str:
        return ""

    # -- shared input handling ----------------------------------------------

    def _state(self, name: str, value, batch: int, batched: bool) -> Array:
        """A hidden or cell state matching x's batch; ``None`` means zeros."""
        return step_state(name, value, self.hidden_size, batch, batched, self.dtype)

    def _upstream(self, name: str, value, batch: int, batched: bool) -> Array:
        """A gradient coming into backward: (H,) or (1, H) unbatched, (B, H) batched."""
        return step_gradient(name, value, self.hidden_size, batch, batched, self.dtype)

    def _cached(self):
        if self._cache is None:
            raise ValueError(
                f"{type(self).__name__}.backward() called before forward(): there is no step to "
                "differentiate"
            )
        return self._cache


# ----------------------------------------------------------------------------
# GRU, seed formulation: the homework interface
# ----------------------------------------------------------------------------


def _block(storage: str, index: int, what: str) -> property:
    """A property exposing rows [index*H, (index+1)*H) of a stacked parameter."""

    def get(self: GRU_Cell) -> FloatArray:
        if storage not in self._params:
            raise AttributeError(f"GRU_Cell(bias=False) has no {what}")
        H = self.hidden_size
        return self._params[storage][index * H : (index + 1) * H]

    def set(self: GRU_Cell, value: ArrayLike) -> None:
        current = get(self)
        np.copyto(current, parameter(what, value, current.shape, self.dtype))

    return property(get, set, doc=f"{what}: a writeable view into the stacked {storage}.")


def _grad_block(storage: str, index: int, what: str) -> property:
    def get(self: GRU_Cell) -> FloatArray:
        if storage not in self._grads:
            raise AttributeError(f"GRU_Cell(bias=False) has no d{what}")
        H = self.hidden_size
        return self._grads[storage][index * H : (index + 1) * H]

    return property(get, doc=f"dL/d{what}, accumulated by backward().")


class GRU_Cell(_Cell):  # noqa: N801 - the homework's class name is the contract
    """The seed 000 / 001 GRU cell, with the homework's interface.

    Equations (SPEC.md, "GRU, the seed formulation")::

        z  = sigma(Wzh h + Wzx x [+ bz])
        r  = sigma(Wrh h + Wrx x [+ br])
        h~ = tanh(Wh (r * h) + Wx x [+ bh])
        h' = (1 - z) * h + z * h~

    Attributes ``Wzh, Wrh, Wh`` (h, h) and ``Wzx, Wrx, Wx`` (h, d) (and
    ``bz, br, bh`` (h,) with ``bias=True``) are writeable views into stacked
    arrays laid out as torch stacks its GRU (rows r, z, h~); the gradients
    ``dWzh, ... , dWx`` (``dbz, dbr, dbh``) likewise.

    ``forward(x, h)``: x (d,) and h (h,) give h_t (h,); x (B, d) and h (B, h)
    give (B, h). ``backward(delta)``: delta (1, h) or (h,) gives dx (1, d) and
    dh (1, h); a batched delta (B, h) gives (B, d) and (B, h). Each backward
    adds its weight gradients (summed over the batch) into ``dW*``.
    """

    family = "gru_seed"
    _fast = "gru_seed_cell"
    _bias_vectors = 1

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int,
        bias: bool = False,
        *,
        backend: str = "auto",
        dtype: DTypeLike = np.float64,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        # checked here so that errors name this class's own arguments
        check_size("in_dim", in_dim)
        check_size("hidden_dim", hidden_dim)
        super().__init__(in_dim, hidden_dim, bias, backend, dtype, seed, rng)
        self.d = self.input_size
        self.h = self.hidden_size

    def _storage_shapes(self):
        rows = 3 * self.hidden_size
        shapes = {"weight_ih": (rows, self.input_size), "weight_hh": (rows, self.hidden_size)}
        if self.bias:
            shapes["bias"] = (rows,)  # every seed bias is additive: one vector suffices
        return shapes

    # rows of weight_hh / weight_ih / bias: [r; z; h~]
    Wrh = _block("weight_hh", 0, "Wrh")
    Wzh = _block("weight_hh", 1, "Wzh")
    Wh = _block("weight_hh", 2, "Wh")
    Wrx = _block("weight_ih", 0, "Wrx")
    Wzx = _block("weight_ih", 1, "Wzx")
    Wx = _block("weight_ih", 2, "Wx")
    br = _block("bias", 0, "br")
    bz = _block("bias", 1, "bz")
    bh = _block("bias", 2, "bh")
    dWrh = _grad_block("weight_hh", 0, "Wrh")
    dWzh = _grad_block("weight_hh", 1, "Wzh")
    dWh = _grad_block("weight_hh", 2, "Wh")
    dWrx = _grad_block("weight_ih", 0, "Wrx")
    dWzx = _grad_block("weight_ih", 1, "Wzx")
    dWx = _grad_block("weight_ih", 2, "Wx")
    dbr = _grad_block("bias", 0, "br")
    dbz = _grad_block("bias", 1, "bz")
    dbh = _grad_block("bias", 2, "bh")

    _WEIGHT_NAMES = ("Wzh", "Wrh", "Wh", "Wzx", "Wrx", "Wx")
    _BIAS_NAMES = ("bz", "br", "bh")

    def _names(self) -> tuple[str, ...]:
        return self._WEIGHT_NAMES + (self._BIAS_NAMES if self.bias else ())

    def parameters(self) -> dict[str, FloatArray]:
        """The six weight blocks (and three biases) by their homework names."""
        return {name: getattr(self, name) for name in self._names()}

    @property
    def grads(self) -> dict[str, FloatArray]:
        """``dWzh`` ... keyed by the parameter's name ("Wzh", ...)."""
        return {name: getattr(self, "d" + name) for name in self._names()}

    def init_weights(
        self,
        Wzh: Array,
        Wrh: Array,
        Wh: Array,
        Wzx: Array,
        Wrx: Array,
        Wx: Array,
        bz: Array | None = None,
        br: Array | None = None,
        bh: Array | None = None,
    ) -> None:
        """Set the weights (and, with ``bias=True``, the biases; omitted ones are zero).

        Shapes: Wzh, Wrh, Wh (h, h); Wzx, Wrx, Wx (h, d); bz, br, bh (h,).
        The arrays are copied; their dtype must be the cell's.
        """
        values = {"Wzh": Wzh, "Wrh": Wrh, "Wh": Wh, "Wzx": Wzx, "Wrx": Wrx, "Wx": Wx}
        biases = {"bz": bz, "br": br, "bh": bh}
        if self.bias:
            zeros = np.zeros(self.hidden_size, dtype=self.dtype)
            values.update({k: zeros if v is None else v for k, v in biases.items()})
        elif any(v is not None for v in biases.values()):
            raise ValueError("this GRU_Cell was built with bias=False: do not pass bz, br or bh")
        # stricter than load_state_dict: the homework hands weights of the cell's own dtype
        current = self.parameters()
        self.load_state_dict(
            {name: parameter(name, v, current[name].shape, self.dtype)
             for name, v in values.items()}
        )

    def forward(self, x: Array, h: Array) -> FloatArray:
        """One step: h_t from x_t (d,) or (B, d) and h_{t-1} (h,) or (B, h)."""
        if self._fast_forward is not None:
            done = self._fast_forward(x, h, *self._fast_args)
            if done is not None:
                h_next, saved = done
                self._cache = ((FAST, x.shape, (h.shape,), saved, x.ndim == 2)
                               if self._fast_saves_inputs else
                               (FAST, x.copy(), (h.copy(),), saved, x.ndim == 2))
                return h_next
        x2, batched = step_input("x", x, self.input_size, self.dtype)
        if h is None:
            raise TypeError("GRU_Cell.forward needs h, the previous hidden state")
        h2 = self._state("h", h, x2.shape[0], batched)
        (h_next,), self._cache = self._step_forward(x2, (h2,), batched)
        return h_next if batched else h_next[0]

    @_serialised
    def backward(self, delta: Array) -> tuple[FloatArray, FloatArray]:
        """dL/dh_t in; (dx, dh) out. Adds this step's weight gradients into dW*."""
        cache = self._cached()
        if cache[0] is FAST:
            _, x, (h,), saved, batched = cache  # x, h: copies, or shapes (see FAST)
            done = self._fast_backward(delta, batched, saved, x, h, *self._fast_args[:2],
                                       *self._fast_grads)
            if done is not None:
                return done
            cache = self._step_cache(cache)
        dh_next = self._upstream("delta", delta, cache[1].shape[0], cache[-1])
        dx, (dh,) = self._step_backward(cache, (dh_next,))
        return dx, dh

    def _bias_args(self) -> tuple[Array, Array]:
        # one additive bias: it fills the kernels' bias_ih slot; bias_hh is zero
        bias = self._params["bias"] if self.bias else self._zero_bias
        return bias, self._zero_bias

    def _dbias_args(self) -> tuple[Array, Array]:
        scratch = self._scratch_dbias
        for a in scratch:
            a.fill(0)
        return (self._grads["bias"] if self.bias else scratch[0]), scratch[1]


# ----------------------------------------------------------------------------
# torch formulations
# ----------------------------------------------------------------------------


class _TorchCell(_Cell):
    """Constructor shared by the torch-style cells."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        backend: str = "auto",
        dtype: DTypeLike = np.float64,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, backend, dtype, seed, rng)

    def _unbatch(self, batched: bool, *arrays: Array):
        return arrays if batched else tuple(a[0] for a in arrays)


class GRUCell(_TorchCell):
    """torch.nn.GRUCell's formulation, parameter names and shapes.

    ``weight_ih`` (3H, I), ``weight_hh`` (3H, H), ``bias_ih``, ``bias_hh``
    (3H,), gates stacked r, z, n. ``forward(x, h=None) -> h'``;
    ``backward(dh_next) -> (dx, dh)``.
    """

    family = "gru"
    _fast = "gru_cell"

    def forward(self, x: Array, h: Array | None = None) -> FloatArray:
        """One step: x (I,) or (B, I); h (H,) or (B, H), zeros if omitted."""
        if self._fast_forward is not None and h is not None:
            done = self._fast_forward(x, h, *self._fast_args)
            if done is not None:
                h_next, saved = done
                self._cache = ((FAST, x.shape, (h.shape,), saved, x.ndim == 2)
                               if self._fast_saves_inputs else
                               (FAST, x.copy(), (h.copy(),), saved, x.ndim == 2))
                return h_next
        x2, batched = step_input("x", x, self.input_size, self.dtype)
        h2 = self._state("h", h, x2.shape[0], batched)
        (h_next,), self._cache = self._step_forward(x2, (h2,), batched)
        return h_next if batched else h_next[0]

    @_serialised
    def backward(self, dh_next: Array) -> tuple[FloatArray, FloatArray]:
        """dL/dh' in; (dL/dx, dL/dh) out, shaped like forward's x and h."""
        cache = self._cached()
        if cache[0] is FAST:
            _, x, (h,), saved, batched = cache  # x, h: copies, or shapes (see FAST)
            done = self._fast_backward(dh_next, batched, saved, x, h, *self._fast_args[:2],
                                       *self._fast_grads)
            if done is not None:
                return done
            cache = self._step_cache(cache)
        batched = cache[-1]
        d = self._upstream("dh_next", dh_next, cache[1].shape[0], batched)
        dx, (dh,) = self._step_backward(cache, (d,))
        return self._unbatch(batched, dx, dh)


class RNNCell(_TorchCell):
    """torch.nn.RNNCell: h' = act(W_ih x + b_ih + W_hh h + b_hh).

    ``nonlinearity`` is "tanh" (default), "relu" or "sigmoid" (seed 001's
    hidden units; torch has no such option).
    """

    family = "rnn"
    _fast = "rnn_cell"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        *,
        backend: str = "auto",
        dtype: DTypeLike = np.float64,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.nonlinearity = check_choice("nonlinearity", nonlinearity, ACTIVATIONS)
        self._activation = ACTIVATIONS[nonlinearity]
        self._option = float(self._activation)
        super().__init__(
            input_size, hidden_size, bias, backend=backend, dtype=dtype, seed=seed, rng=rng
        )

    def _extra_repr(self) -> str:
        return f", nonlinearity={self.nonlinearity!r}"

    def forward(self, x: Array, h: Array | None = None) -> FloatArray:
        """One step: x (I,) or (B, I); h (H,) or (B, H), zeros if omitted."""
        if self._fast_forward is not None and h is not None:
            done = self._fast_forward(x, h, *self._fast_args, self._activation)
            if done is not None:
                if self._fast_saves_inputs:  # (h', saved)
                    h_next, saved = done
                    self._cache = (FAST, x.shape, (h.shape,), saved, x.ndim == 2)
                else:  # Cython's h'; its cache is a copy of it
                    h_next = done
                    self._cache = (FAST, x.copy(), (h.copy(),), h_next.copy(), x.ndim == 2)
                return h_next
        x2, batched = step_input("x", x, self.input_size, self.dtype)
        h2 = self._state("h", h, x2.shape[0], batched)
        (h_next,), self._cache = self._step_forward(x2, (h2,), batched)
        return h_next if batched else h_next[0]

    @_serialised
    def backward(self, dh_next: Array) -> tuple[FloatArray, FloatArray]:
        """dL/dh' in; (dL/dx, dL/dh) out, shaped like forward's x and h."""
        cache = self._cached()
        if cache[0] is FAST:  # Cython's saved array is h'
            _, x, (h,), saved, batched = cache  # x, h: copies, or shapes (see FAST)
            done = self._fast_backward(dh_next, batched, saved, x, h, *self._fast_args[:2],
                                       *self._fast_grads, self._activation)
            if done is not None:
                return done
            cache = self._step_cache(cache, rnn=True)
        batched = cache[-1]
        d = self._upstream("dh_next", dh_next, cache[1].shape[0], batched)
        dx, (dh,) = self._step_backward(cache, (d,))
        return self._unbatch(batched, dx, dh)


class LSTMCell(_TorchCell):
    """torch.nn.LSTMCell: gates stacked i, f, g, o in ``weight_ih`` (4H, I),
    ``weight_hh`` (4H, H), ``bias_ih``, ``bias_hh`` (4H,).

    ``forward(x, state=None) -> (h', c')``, state = (h, c), zeros if omitted;
    ``backward(dh_next, dc_next=None) -> (dx, (dh, dc))``.
    """

    family = "lstm"
    _fast = "lstm_cell"

    def forward(
        self, x: Array, state: tuple[Array, Array] | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """One step: x (I,) or (B, I); state (h, c), each (H,) or (B, H)."""
        if self._fast_forward is not None and type(state) is tuple and len(state) == 2:
            done = self._fast_forward(x, *state, *self._fast_args)
            if done is not None:
                h_next, c_next, saved = done
                h, c = state
                self._cache = ((FAST, x.shape, (h.shape, c.shape), saved, x.ndim == 2)
                               if self._fast_saves_inputs else
                               (FAST, x.copy(), (h.copy(), c.copy()), saved, x.ndim == 2))
                return h_next, c_next
        x2, batched = step_input("x", x, self.input_size, self.dtype)
        B = x2.shape[0]
        h, c = state_pair("state", state, "(h, c)")
        h2 = self._state("h", h, B, batched)
        c2 = self._state("c", c, B, batched)
        (h_next, c_next), self._cache = self._step_forward(x2, (h2, c2), batched)
        return self._unbatch(batched, h_next, c_next)

    @_serialised
    def backward(
        self, dh_next: Array, dc_next: Array | None = None
    ) -> tuple[FloatArray, tuple[FloatArray, FloatArray]]:
        """dL/dh' (and dL/dc', zeros if omitted) in; (dx, (dh, dc)) out."""
        cache = self._cached()
        if cache[0] is FAST:
            _, x, (h, c), saved, batched = cache  # x, h, c: copies, or shapes (see FAST)
            done = self._fast_backward(dh_next, dc_next, batched, saved, x, h, c,
                                       *self._fast_args[:2], *self._fast_grads)
            if done is not None:
                dx, dh, dc = done
                return dx, (dh, dc)
            cache = self._step_cache(cache)
        B, batched = cache[1].shape[0], cache[-1]
        d_h = self._upstream("dh_next", dh_next, B, batched)
        d_c = (np.zeros((B, self.hidden_size), dtype=self.dtype) if dc_next is None
               else self._upstream("dc_next", dc_next, B, batched))
        dx, (dh, dc) = self._step_backward(cache, (d_h, d_c))
        dx, dh, dc = self._unbatch(batched, dx, dh, dc)
        return dx, (dh, dc)


__all__ = ["GRU_Cell", "GRUCell", "RNNCell", "LSTMCell"]
