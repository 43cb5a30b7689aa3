"""Sequence layers: multi-layer, bidirectional, variable-length BPTT.

One driver, ``_Recurrent``, does everything that is the same for every cell
family: ``batch_first`` and unbatched input, ``lengths``, the stack of layers
and directions, the cache, state dicts. A family (``bptt._families``) says
which states it carries, what its step keeps and which parameters it has; its
kernels (``seq_forward`` / ``seq_backward`` of ``bptt._<backend>.<family>``)
run one layer-direction's whole time loop in one call. The classes below only
choose a family and name their arguments.

Forward's cache is a ``SequenceCache``: per layer a ``LayerCache`` holding the
layer's input and, per direction, a ``DirectionCache`` of every value of each
state and the family's per-step cache. Per step, per layer and direction, in
numbers (batch B, hidden H, projection P): GRU 5 B H (h + r, z, n,
W_hn h + b_hn); seed GRU 4 B H (h + r, z, h~); RNN B H (h); LSTM 7 B H (h, c,
i, f, g, o, tanh c'); projected LSTM B (6 H + P); peephole LSTM 11 B H;
LayerNormGRU 11 B H + 2 B; LayerNormLSTM 16 B H + 3 B (``Family.cache_floats``).
Layers above the first also keep their input, D B H (D B P) per step; the
first keeps its own copy of x (I B per step), never the caller's buffer.
"""

from __future__ import annotations

import math
import threading
import warnings
from typing import NamedTuple, TypeVar

import numpy as np

from ._backend import get_backend
from ._families import ACTIVATIONS, FAMILIES, Family
from ._module import Module
from ._threads import get_num_threads, row_groups, run_parallel
from ._typing import ArrayLike, DTypeLike, FloatArray
from ._validation import (
    check_bool,
    check_choice,
    check_clip,
    check_dropout,
    check_dtype,
    check_memory,
    check_proj_size,
    check_rng,
    check_size,
    full_lengths,
    is_kernel_ready,
    kernel_ready,
    sequence_gradient,
    sequence_input,
    sequence_lengths,
    sequence_state,
    state_pair,
)

Array = np.ndarray

# Threads (bptt._threads): a group of rows gets at least 8 (the panel kernel's
# block), and a thread at least this many multiply-adds of one layer-direction's
# forward; below that, starting the work on another thread costs more than it saves
MIN_ROWS_PER_THREAD = 8
MIN_WORK_PER_THREAD = 1_000_000

#: The public kind names of ``count_parameters`` and the family each means.
KINDS = {"rnn": "rnn", "gru": "gru", "lstm": "lstm", "layernorm_gru": "ln_gru",
         "layernorm_lstm": "ln_lstm"}


def _present_shapes(family: Family, layer_input: int, hidden_size: int, proj_size: int,
                    absent: frozenset[str]) -> dict[str, tuple[int, ...]]:
    """The parameters a layer-direction really has, by stem, in torch's order."""
    shapes = family.slot_shapes(layer_input, hidden_size, proj_size)
    return {stem: shape for stem, shape in shapes.items() if stem not in absent}


def count_parameters(
    kind: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bias: bool = True,
    bidirectional: bool = False,
    *,
    proj_size: int = 0,
    peepholes: bool = False,
) -> int:
    """Number of weights and biases of a torch-layout recurrent layer.

    ``kind`` is "rnn", "gru", "lstm", "layernorm_gru" or "layernorm_lstm";
    for "lstm", ``proj_size`` > 0 adds torch's projection and ``peepholes``
    ONNX's 3H peephole weights. One layer-direction with G gate blocks has
    G*H*(I + H) weights and, with ``bias``, 2*G*H biases (torch keeps b_ih and
    b_hh); the layer-normalised kinds add 2*G*H gains (and the LSTM H gains
    and, with bias, H biases for c). Equal to the size of the matching
    layer's ``parameters()`` (and to ``sum(p.numel() ...)`` of the torch
    layer where torch has one); computed in closed form, so any size answers
    at once.
    """
    check_choice("kind", kind, KINDS)
    input_size = check_size("input_size", input_size)
    hidden_size = check_size("hidden_size", hidden_size)
    num_layers = check_size("num_layers", num_layers)
    bias = check_bool("bias", bias)
    directions = 2 if check_bool("bidirectional", bidirectional) else 1
    proj_size = check_proj_size(proj_size, hidden_size, kind == "lstm")
    peepholes = check_bool("peepholes", peepholes)
    if peepholes and kind != "lstm":
        raise ValueError(f"peepholes are only defined for kind='lstm', got kind={kind!r}")
    family = FAMILIES[_lstm_family(proj_size, peepholes, None) if kind == "lstm"
                      else KINDS[kind]]
    absent = frozenset() if bias else frozenset({"bias_ih", "bias_hh", "layernorm_c_bias"})
    return _parameter_total(family, input_size, hidden_size, num_layers, directions, proj_size,
                            absent)


def _parameter_total(family: Family, input_size: int, hidden_size: int, num_layers: int,
                     directions: int, proj_size: int, absent: frozenset[str]) -> int:
    """Parameters of a whole layer stack, in closed form (any size answers at once)."""

    def per_direction(layer_input: int) -> int:
        shapes = _present_shapes(family, layer_input, hidden_size, proj_size, absent)
        return sum(math.prod(shape) for shape in shapes.values())

    above = directions * family.state_widths(hidden_size, proj_size)[0]
    return directions * (per_direction(input_size) + (num_layers - 1) * per_direction(above))


def _lstm_family(proj_size: int, peepholes: bool, clip: float | None) -> str:
    """Which LSTM family a configuration needs."""
    if proj_size and (peepholes or clip is not None):
        raise ValueError("proj_size cannot be combined with peepholes or clip "
                         "(torch's projection and ONNX's peepholes are different LSTMs)")
    if proj_size:
        return "lstm_proj"
    return "lstm_peephole" if peepholes or clip is not None else "lstm"


def _valid_steps(lengths: Array, T: int) -> Array:
    """(T, B, 1) bool: step t of row b lies within its length."""
    return (np.arange(T)[:, None] < lengths)[:, :, None]


def _may_share_memory(a: Array, source) -> bool:
    """Whether ``a`` may be a view of the caller's ``source`` (ndarray or torch tensor)."""
    if type(source).__module__.startswith("torch"):
        source = source.detach().cpu().numpy()
    return isinstance(source, np.ndarray) and np.may_share_memory(a, source)


def _each_direction(run, D: int, threads: int) -> list:
    """[run(0), ..., run(D - 1)]: a layer's directions, at once on threads
    when there are two and threads to spare, else one after the other."""
    if threads > 1 and D > 1:
        return run_parallel(run, range(D))
    return [run(d) for d in range(D)]


class _Pool:
    """Internal arrays (forward's cache, the copy of x) kept for reuse.

    A fresh multi-megabyte array is fresh pages: the kernel's first write to
    each costs a page fault, about a fifth of a batch-32 forward + backward
    here. Backward hands its cache back; forward takes from what was handed
    back. Arrays the caller receives are never pooled. Nor are small ones:
    below glibc's default mmap threshold (128 KiB) malloc hands out memory
    it already holds, with no page faults, and a fresh array costs less
    than the pool's lock and bookkeeping (about 0.9 us a take and give).
    """

    PER_SHAPE = 4       # arrays kept of one shape
    SHAPES = 16         # shapes kept; the oldest goes first
    MIN_BYTES = 128 * 1024  # smaller arrays are made fresh and not kept

    def __init__(self, dtype: np.dtype):
        self.dtype = dtype
        self._free: dict[tuple[int, ...], list[Array]] = {}
        # eval-mode forwards may share a layer across threads; reentrant, as bptt.torch
        # hands caches back from a finaliser, which may run while this thread holds it
        self._lock = threading.RLock()

    def take(self, shape: tuple[int, ...]) -> Array:
        if math.prod(shape) * self.dtype.itemsize >= self.MIN_BYTES:
            with self._lock:
                free = self._free.get(shape)
                if free:
                    return free.pop()
        return np.empty(shape, dtype=self.dtype)

    def give(self, *arrays: Array) -> None:
        # (a cache's first input may be ids, not floats: _forward_ids)
        kept = [a for a in arrays if a.nbytes >= self.MIN_BYTES and a.dtype == self.dtype]
        if not kept:
            return
        with self._lock:
            for a in kept:
                free = self._free.setdefault(a.shape, [])
                if len(free) < self.PER_SHAPE:
                    free.append(a)
            while len(self._free) > self.SHAPES:
                del self._free[next(iter(self._free))]


class DirectionCache(NamedTuple):
    """What one layer-direction's forward keeps for its backward."""

    states: tuple[Array, ...]   # (T+1, B, w_s) each: every value of each carried state
    gates: Array                # (T, B, family cache width): the family's per-step cache


class LayerCache(NamedTuple):
    """One layer's input (the first layer's own copy of x) and its directions' caches."""

    input: Array                # (T, B, layer input)
    directions: tuple[DirectionCache, ...]
    mask: Array | None          # (T, B, layer input): the dropout that made input from
    #                             the layer below's output (0 or 1/(1-p)), None if none


class SequenceCache(NamedTuple):
    """Everything one ``forward`` keeps for its ``backward``."""

    layers: tuple[LayerCache, ...]
    lengths: Array              # (B,) int64
    padded: bool                # some row is shorter than T
    batched: bool               # x was 3-D
    T: int
    B: int
    # rows split across threads: ((start, stop), that group's SequenceCache)
    # per group, and ``layers`` is empty
    parts: tuple[tuple[tuple[int, int], SequenceCache], ...] = ()


class _Slots(NamedTuple):
    """One layer-direction's arrays in the kernels' slot order, and their gradients."""

    weights: tuple[Array, ...]                     # weight_ih, weight_hh, bias_ih, bias_hh
    extras: tuple[Array, ...]
    dweights: tuple[Array, ...]
    dextras: tuple[Array, ...]
    scratch: tuple[Array, ...]                      # stand-in gradients, cleared before use


_RecurrentT = TypeVar("_RecurrentT", bound="_Recurrent")  # train() and eval() return self


class _Recurrent(Module):
    """What every sequence layer shares; see the module docstring.

    Sizes and options are fixed at construction and read-only after it: the
    parameter arrays, caches and kernels were made for them.

    Caches wait for their backward per thread, newest first (each backward
    consumes its thread's most recent forward), at most ``max_pending`` of
    them: a further forward drops the oldest, with a warning the first
    time (forward in training mode without backward is usually inference
    without ``.eval()``). Backwards are serialised, since they add into the
    same gradient arrays; eval-mode forwards share nothing mutable.
    """

    #: caches one thread's training-mode forwards may keep waiting for backward
    max_pending = 16
    _READ_ONLY = frozenset({"input_size", "hidden_size", "num_layers", "bias", "batch_first",
                            "dropout", "bidirectional", "dtype", "proj_size", "variant",
                            "nonlinearity", "peepholes", "clip"})

    def __init__(self, family: str, input_size, hidden_size, num_layers, bias, batch_first,
                 dropout, bidirectional, backend, dtype, seed, rng, *, proj_size=0, option=0.0,
                 absent=frozenset()):
        self._input_size = check_size("input_size", input_size)
        self._hidden_size = check_size("hidden_size", hidden_size)
        self._num_layers = check_size("num_layers", num_layers)
        self._bias = check_bool("bias", bias)
        self._batch_first = check_bool("batch_first", batch_first)
        self._dropout = check_dropout(dropout)
        if self._dropout and self._num_layers == 1:
            warnings.warn(f"dropout={self._dropout} acts between stacked layers (after every "
                          "layer but the last), so with num_layers=1 it does nothing",
                          UserWarning, stacklevel=3)
        self._bidirectional = check_bool("bidirectional", bidirectional)
        self._dtype = check_dtype(dtype)
        self._proj_size = proj_size
        self._family = FAMILIES[family]
        # the sizes never change: worked out once (forward asks several times a call)
        self._state_widths = self._family.state_widths(self._hidden_size, proj_size)
        self._gates_width = self._family.cache_width(self._hidden_size)
        self._state_labels = ("proj_size" if proj_size else "hidden_size",) + (
            "hidden_size",) * (len(self._family.states) - 1)
        # the configuration _simple_forward and _simple_backward serve
        self._simple = (self._num_layers == 1 and not self._bidirectional
                        and not self._batch_first and not self._dropout)
        self._option = float(option)
        resolved = get_backend(backend)
        self._kernels = resolved.family(family)
        self._backend_name = resolved.name
        self.training = True
        self._pending: dict[int, list[SequenceCache]] = {}   # by thread
        self._lock = threading.RLock()                       # backward's gradient adds
        self._warned_pending = False
        self._pool = _Pool(self.dtype)
        if not self.bias:
            absent = absent | {"bias_ih", "bias_hh", "layernorm_c_bias"}
        self._absent = frozenset(absent)
        total = _parameter_total(self._family, self.input_size, self.hidden_size,
                                 self.num_layers, self.directions, self.proj_size, self._absent)
        check_memory(f"{type(self).__name__}'s {total:,} parameters and their gradients",
                     2 * total * self.dtype.itemsize)  # before a loop over the layers

        shapes = {}  # in torch's order: layer, direction, then each parameter
        for layer in range(self.num_layers):
            for direction in range(self.directions):
                for stem, shape in self._shapes(layer).items():
                    shapes[self._name(stem, layer, direction)] = shape
        self._rng = check_rng(seed, rng)   # initial weights, then dropout masks
        self._init_parameters(shapes, self.hidden_size, self._rng)
        for name, p in self._params.items():
            if name.startswith("layernorm_"):  # a normalisation starts as the identity
                p.fill(1 if "_weight_" in name else 0)
        # Parameter and gradient arrays keep their identity for life (Module),
        # so each layer-direction's kernel arguments are gathered once.
        self._gather_all_slots()

    def _gather_all_slots(self) -> None:
        self._slots = {
            (layer, direction): self._gather_slots(layer, direction)
            for layer in range(self.num_layers)
            for direction in range(self.directions)
        }
        # multiply-adds per step and row of the first layer-direction (_threads_for)
        weight_ih, weight_hh = self._slots[0, 0].weights[:2]
        self._work_per_step = weight_ih.shape[0] * (weight_ih.shape[1] + weight_hh.shape[1])

    def _bind(self, params: dict[str, Array]) -> None:
        """Run on parameter arrays owned by someone else (bptt.torch hands in
        views of its tensors), with this layer's names, shapes and dtype,
        C-contiguous; the caller has checked that. Gradients stay this layer's."""
        self._params = dict(params)
        self._gather_all_slots()

    # -- sizes, options and names -------------------------------------------

    input_size = property(lambda self: self._input_size, doc="Features of x.")
    hidden_size = property(lambda self: self._hidden_size, doc="Features of each state.")
    num_layers = property(lambda self: self._num_layers, doc="Stacked layers.")
    bias = property(lambda self: self._bias, doc="Whether the layer has biases.")
    batch_first = property(lambda self: self._batch_first, doc="x is (B, T, I), not (T, B, I).")
    dropout = property(lambda self: self._dropout,
                       doc="Dropout probability between stacked layers, in training mode.")
    bidirectional = property(lambda self: self._bidirectional, doc="Two directions per layer.")
    dtype = property(lambda self: self._dtype, doc="float32 or float64, for life.")
    proj_size = property(lambda self: self._proj_size, doc="h's features if projected, else 0.")

    @property
    def directions(self) -> int:
        return 2 if self._bidirectional else 1

    @property
    def backend(self) -> str:
        """The backend whose kernels this layer runs."""
        return self._backend_name

    @staticmethod
    def _name(stem: str, layer: int, direction: int) -> str:
        return f"{stem}_l{layer}{'_reverse' if direction else ''}"

    def _widths(self) -> tuple[int, ...]:
        """Features of each carried state (h first)."""
        return self._state_widths

    def _cache_width(self) -> int:
        """Entries of the family's per-step cache per row."""
        return self._gates_width

    def _labels(self) -> tuple[str, ...]:
        """What each state's width is called in messages."""
        return self._state_labels

    def _layer_input(self, layer: int) -> int:
        return self.input_size if layer == 0 else self.directions * self._widths()[0]

    def _shapes(self, layer: int) -> dict[str, tuple[int, ...]]:
        return _present_shapes(self._family, self._layer_input(layer), self.hidden_size,
                               self.proj_size, self._absent)

    def _gather_slots(self, layer: int, direction: int) -> _Slots:
        """The kernels' slots: present parameters, zeros for the absent ones
        (with a scratch gradient); LN families take their biases as extras and
        hand the driver's bias slots zeros."""
        family = self._family
        all_shapes = family.slot_shapes(self._layer_input(layer), self.hidden_size,
                                         self.proj_size)
        values, grads, scratch = [], [], []
        for stem, shape in all_shapes.items():
            name = self._name(stem, layer, direction)
            if name in self._params:
                values.append(self._params[name])
                grads.append(self._grads[name])
            else:
                values.append(np.zeros(shape, dtype=self.dtype))
                grads.append(np.zeros(shape, dtype=self.dtype))
                scratch.append(grads[-1])
        if family.biases_in_extras:
            zero = np.zeros(all_shapes["bias_ih"], dtype=self.dtype)
            dzero = (np.zeros_like(zero), np.zeros_like(zero))
            values[2:2] = [zero, zero]
            grads[2:2] = list(dzero)
            scratch += dzero
        return _Slots(tuple(values[:4]), tuple(values[4:]), tuple(grads[:4]), tuple(grads[4:]),
                      tuple(scratch))

    def train(self: _RecurrentT, mode: bool = True) -> _RecurrentT:
        """In training mode (the default) forward keeps what backward needs."""
        self.training = check_bool("mode", mode)
        if not self.training:
            self._pending.clear()
        return self

    @property
    def _caches(self) -> list[SequenceCache]:
        """This thread's caches waiting for backward, oldest first."""
        return self._pending.setdefault(threading.get_ident(), [])

    def _push(self, cache: SequenceCache) -> None:
        stack = self._caches
        stack.append(cache)
        if len(stack) > self.max_pending:
            del stack[0]
            if not self._warned_pending:
                self._warned_pending = True
                warnings.warn(
                    f"{type(self).__name__}: {self.max_pending} forward() calls in training "
                    "mode are waiting for backward(); dropping the oldest cache (each further "
                    "forward drops one more). For inference call .eval(), which keeps none.",
                    UserWarning, stacklevel=4)

    def eval(self: _RecurrentT) -> _RecurrentT:
        """Inference mode: forward keeps no cache, so backward is unavailable."""
        return self.train(False)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.input_size}, {self.hidden_size}, "
            f"num_layers={self.num_layers}, bias={self.bias}, batch_first={self.batch_first}, "
            f"{f'dropout={self.dropout}, ' if self.dropout else ''}"
            f"bidirectional={self.bidirectional}{self._extra_repr()}, "
            f"backend={self.backend!r}, dtype={self.dtype.name})"
        )

    def _extra_repr(self) -> str:
        return ""

    # -- the driver -----------------------------------------------------------

    def _forward(self, x, states0, lengths, masks=None, copy_input=True):
        """Run every layer and direction; return output, final states; in
        training mode keep the cache for backward."""
        done = (self._simple_forward(x, states0)
                if self._simple and lengths is None and masks is None and copy_input else None)
        output, finals, cache = done or self._run_forward(x, states0, lengths, masks,
                                                          copy_input, keep=self.training)
        if cache is not None:
            self._push(cache)
        return output, finals

    def _forward_ids(self, ids, states0):
        """``_forward`` of one-hot inputs given as their columns: ids (T, B)
        integers in 0..input_size-1 stand for x[t, b] = e_{ids[t, b]} (bptt
        charlm's characters). The first layer's input projection is then a
        copy of W_ih's columns instead of a product, the same numbers, and
        backward adds dL/d(gates) into those columns (dx is None: the ids have
        no gradient). Batched: (T, B), or (B, T) with batch_first; no lengths."""
        ids = np.asarray(ids)
        layout = "(B, T)" if self.batch_first else "(T, B)"
        if ids.dtype.kind not in "iu" or ids.ndim != 2 or 0 in ids.shape:
            raise ValueError(f"ids must be a {layout} integer array with T, B >= 1, "
                             f"got {ids.dtype} of shape {ids.shape}")
        if ids.min() < 0 or ids.max() >= self.input_size:
            raise ValueError(f"ids must lie in 0..{self.input_size - 1} (input_size "
                             f"{self.input_size}), got values from {ids.min()} to {ids.max()}")
        if self.batch_first:
            ids = ids.T
        ids = np.array(ids, dtype=np.int64, order="C")  # our own: the cache keeps it
        output, finals, cache = self._run_forward(ids, states0, None, copy_input=False,
                                                  keep=self.training, ids=True)
        if cache is not None:
            self._push(cache)
        return output, finals

    # -- the common case, in short ------------------------------------------------
    #
    # One layer, one direction, time-major kernel-ready x (T, B, I) or (T, I)
    # of the layer's dtype, no lengths, initial states (and final states'
    # gradients) absent or kernel-ready arrays of the dtype and shape, one
    # thread: what _run_forward and _run_backward then do, through the same
    # per-direction steps (_forward_direction, _backward_direction, _release)
    # on the same pool arrays taken in the same order, without their
    # generality. Anything else, including anything wrong (whose message the
    # general path gives), goes the general way: each returns None to decline.

    def _simple_states(self, given, B: int, batched: bool):
        """The (B, w) state (or state gradient) of each (name, value) in
        ``given``: zeros for None, a view of a value that is already what
        the kernels take ((1, B, w), or (1, w) unbatched); None for anything
        else."""
        states = []
        for (_, value), w in zip(given, self._state_widths, strict=True):
            if value is None:
                states.append(np.zeros((B, w), self._dtype))
            elif (type(value) is np.ndarray and value.dtype == self._dtype
                  and value.shape == ((1, B, w) if batched else (1, w))
                  and is_kernel_ready(value)):
                states.append(value[0] if batched else value)
            else:
                return None
        return tuple(states)

    def _simple_forward(self, x, states0):
        """``_run_forward(x, states0, None, keep=self.training)`` for the common
        case (with ``self._simple``), or None."""
        if type(x) is not np.ndarray or x.dtype != self._dtype or not 2 <= x.ndim <= 3:
            return None
        batched = x.ndim == 3
        T, B, I = x.shape if batched else (x.shape[0], 1, x.shape[1])
        if (I != self._input_size or not T or not B or not is_kernel_ready(x)
                or self._threads_for(T, B) > 1):
            return None
        initial = self._simple_states(states0, B, batched)
        if initial is None:
            return None
        keep = self.training
        self._check_forward_memory(T, B, keep)
        lengths = full_lengths(B, T)
        if keep:  # the cache never keeps the caller's buffer (as _run_forward)
            kept = self._pool.take((T, B, I))
            np.copyto(kept, x.reshape(T, B, I))
            x = kept
        elif not batched:
            x = x.reshape(T, B, I)      # a view
        finals = [np.empty((1, B, w), self._dtype) for w in self._state_widths]
        output, direction = self._forward_direction(x, initial, tuple([f[0] for f in finals]),
                                                    lengths, 0, 0, keep)
        cache = SequenceCache((LayerCache(x, (direction,), None),), lengths, False, batched, T,
                              B) if keep else None
        if not batched:
            return output[:, 0], [f[:, 0] for f in finals], cache
        return output, finals, cache

    def _simple_backward(self, cache: SequenceCache, d_output, d_finals, want_dx=True):
        """``_run_backward(cache, *_backward_inputs(cache, d_output, d_finals),
        release=True, want_dx=want_dx)`` for the common case (with
        ``self._simple``), or None."""
        T, B, K, batched = cache.T, cache.B, self._state_widths[0], cache.batched
        if (cache.parts or cache.padded or type(d_output) is not np.ndarray
                or d_output.dtype != self._dtype
                or d_output.shape != ((T, B, K) if batched else (T, K))
                or not is_kernel_ready(d_output)):
            return None
        d_final = self._simple_states(d_finals, B, batched)
        if d_final is None:
            return None
        d_states0 = [np.empty((1, B, w), self._dtype) for w in self._state_widths]
        layer_cache = cache.layers[0]
        with self._lock:  # one backward at a time adds into the gradient arrays
            dx = self._backward_direction(d_output.reshape(T, B, K), d_final,
                                          tuple([d[0] for d in d_states0]),
                                          layer_cache.directions[0], layer_cache.input,
                                          cache.lengths, self._slots[0, 0], 0, want_dx)
            self._release(cache, keep_first_input=False)
        if not batched:
            return None if dx is None else dx[:, 0], [d[:, 0] for d in d_states0]
        return dx, d_states0

    def _run_forward(self, x, states0, lengths, masks=None, copy_input=True, *, keep: bool,
                     ids: bool = False):
        """Run every layer and direction; return output, final states and,
        with ``keep``, the cache for ``_run_backward`` (else None).

        ``masks``: None applies this layer's own dropout (training mode,
        masks drawn from its rng); otherwise one (T, B, D*K) array (0 or
        1/(1-p)) or None per gap between layers, as bptt.torch draws them.
        ``copy_input=False``: the cache may keep the caller's x itself
        (bptt.torch, where autograd's version check guards it).
        ``ids``: x is ``_forward_ids``'s checked (T, B) int64 ids.
        """
        source = x
        if ids:
            batched = True
        else:
            x, batched = sequence_input(x, self.input_size, self.batch_first, self.dtype)
        T, B = x.shape[0], x.shape[1]
        lengths, padded = sequence_lengths(lengths, T, B, batched, self.input_size)
        LD = self.num_layers * self.directions
        self._check_forward_memory(T, B, keep)
        states0 = [
            sequence_state(name, value, (LD, B, width), batched, self.dtype, label)
            for (name, value), width, label in zip(states0, self._widths(), self._labels(),
                                                   strict=True)
        ]
        padding = ~_valid_steps(lengths, T) if padded else None      # (T, B, 1)
        if padded:
            # Padding never reaches the math: zero it so it cannot leak (NaN * 0).
            x = np.where(padding, 0, x).astype(self.dtype)  # type: ignore[arg-type]  # padded
        if masks is None:
            masks = [None] * (self.num_layers - 1)
            if self.training and self.dropout:
                masks = [self._dropout_mask((T, B, self.directions * self._widths()[0]))
                         for _ in masks]
        threads = self._threads_for(T, B)
        groups = row_groups(B, threads, MIN_ROWS_PER_THREAD) if threads > 1 else None
        if groups is not None:
            # every row's recurrence is its own: each thread runs the whole
            # stack on its rows (a copy of them, which its cache keeps)
            def rows(group):
                b0, b1 = group
                output, finals, layers = self._stack_forward(
                    np.ascontiguousarray(x[:, b0:b1]),
                    [np.ascontiguousarray(s[:, b0:b1]) for s in states0], lengths[b0:b1],
                    None if padding is None else padding[:, b0:b1],
                    [None if m is None else m[:, b0:b1] for m in masks], keep, threads=1)
                return output, finals, SequenceCache(layers, lengths[b0:b1], padded, batched,
                                                     T, b1 - b0) if keep else None

            parts = run_parallel(rows, groups)
            output = np.concatenate([part[0] for part in parts], axis=1)
            finals = [np.concatenate([part[1][s] for part in parts], axis=1)
                      for s in range(len(states0))]
            cache = SequenceCache((), lengths, padded, batched, T, B,
                                  tuple(zip(groups, (part[2] for part in parts), strict=True))
                                  ) if keep else None
        else:
            if keep and copy_input and not padded and _may_share_memory(x, source):
                # The cache must not be the caller's buffer, which may be refilled
                # (the next chunk of a stream) before backward reads it.
                kept = self._pool.take(x.shape)
                np.copyto(kept, x)
                x = kept
            output, finals, layers = self._stack_forward(x, states0, lengths, padding, masks,
                                                         keep, threads)
            cache = SequenceCache(layers, lengths, padded, batched, T, B) if keep else None
        output = self._from_time_major(output, batched)
        finals = [f if batched else f[:, 0] for f in finals]
        return output, finals, cache

    def _check_forward_memory(self, T: int, B: int, keep: bool) -> None:
        """Refuse a forward on T steps of B rows whose cache (with ``keep``) or
        outputs could never fit in this machine's memory, before allocating."""
        D, widths = 1 + self._bidirectional, self._state_widths   # (no properties: per call)
        floats = self._num_layers * D * ((T + 1) * B * sum(widths) + T * B * (
            self._gates_width + 2 * widths[0])) if keep else 2 * D * T * B * widths[0]
        if floats * self._dtype.itemsize > 2**26:  # (no machine has less than 64 MiB)
            check_memory(f"{type(self).__name__}.forward on x of {T} steps x {B} rows",
                         floats * self._dtype.itemsize, MemoryError)

    def _threads_for(self, T: int, B: int) -> int:
        """How many threads a call on T steps of B rows may use: those allowed
        (bptt._threads), or 1 when a thread's share would be too small."""
        work = T * B * self._work_per_step
        if work < 2 * MIN_WORK_PER_THREAD:
            return 1
        return min(get_num_threads(), work // MIN_WORK_PER_THREAD)

    def _stack_forward(self, x, states0, lengths, padding, masks, keep, threads):
        """Every layer and direction on x (T, B, I), time-major and ready:
        (output (T, B, D*K), finals, the layers' caches (with ``keep``)).
        With ``threads`` > 1, a bidirectional layer runs its directions at once."""
        D = self.directions
        finals = [np.empty_like(s) for s in states0]   # the kernels write into their rows
        layers = []
        layer_input, mask = x, None
        for layer in range(self.num_layers):
            def direction_forward(direction, layer=layer, layer_input=layer_input):
                k = layer * D + direction
                return self._forward_direction(layer_input, tuple([s[k] for s in states0]),
                                               tuple([f[k] for f in finals]), lengths, layer,
                                               direction, keep)

            results = _each_direction(direction_forward, D, threads)
            if keep:
                layers.append(LayerCache(layer_input, tuple(r[1] for r in results), mask))
            layer_input = (results[0][0] if D == 1
                           else np.concatenate([r[0] for r in results], axis=2))
            if padding is not None:  # past a row's length the output is 0, whatever its state
                np.copyto(layer_input, 0, where=padding)
            if layer < self.num_layers - 1:
                mask = masks[layer]
                if mask is not None:  # dropout between layers; the output is ours to scale
                    np.multiply(layer_input, mask, out=layer_input)
        return layer_input, finals, tuple(layers)

    def _dropout_mask(self, shape: tuple[int, ...]) -> Array:
        """Keep each unit with probability 1 - p, scaled by 1/(1-p) (torch's
        inverted dropout: the expected output is unchanged); all zeros at p = 1."""
        keep = 1.0 - self.dropout
        if keep == 0:
            return np.zeros(shape, dtype=self.dtype)
        mask = (self._rng.random(shape) < keep).astype(self.dtype)
        mask /= self.dtype.type(keep)
        return mask

    def _release(self, cache: SequenceCache, keep_first_input: bool) -> None:
        """Hand a cache's arrays back to the pool. With ``keep_first_input``
        the first layer's input may be the caller's x (bptt.torch keeps it
        itself), which is never pooled."""
        for _, part in cache.parts:  # the groups' inputs are their own copies
            self._release(part, keep_first_input=False)
        for layer, layer_cache in enumerate(cache.layers):
            for direction in layer_cache.directions:
                self._pool.give(*direction.states, direction.gates)
            if layer or not keep_first_input:
                self._pool.give(layer_cache.input)

    def _backward(self, d_output, d_finals, want_dx=True):
        """Consume this thread's latest cache (once the gradients passed the checks).
        ``want_dx=False`` leaves dL/dx out (None in its place): its product is
        a quarter of a layer's backward multiply-adds (a sixth of forward and
        backward) at input size = hidden size, and a first layer on data
        (CharModel's one-hot characters, a bptt.torch input that needs no
        gradient) has no use for it."""
        if not self._caches:
            why = ("the layer is in eval mode, where forward keeps no cache: call .train()"
                   if not self.training else "there is no forward left whose cache is unused")
            raise ValueError(
                f"{type(self).__name__}.backward() needs a forward() in training mode first "
                f"(each backward consumes the most recent forward's cache); {why}"
            )
        stack = self._caches
        cache = stack[-1]
        if self._simple:
            done = self._simple_backward(cache, d_output, d_finals, want_dx)
            if done is not None:
                stack.pop()
                return done
        d_layer, d_finals = self._backward_inputs(cache, d_output, d_finals)
        stack.pop()
        return self._run_backward(cache, d_layer, d_finals, release=True, want_dx=want_dx)

    def _backward_inputs(self, cache: SequenceCache, d_output, d_finals):
        """The incoming gradients, checked against ``cache``, as kernel-ready
        (T, B, D*K) and (L*D, B, w) arrays."""
        T, B, lengths, batched = cache.T, cache.B, cache.lengths, cache.batched
        D, widths = self.directions, self._widths()
        K = widths[0]
        d_layer = sequence_gradient("d_output", d_output, (T, B, D * K), batched,
                                    self.batch_first, self.dtype)
        padding = ~_valid_steps(lengths, T) if cache.padded else None
        if cache.padded:
            # dL/d(output) past each length is ignored; zeroed, a NaN there cannot leak.
            d_layer = np.where(padding, 0, d_layer).astype(self.dtype)  # type: ignore[arg-type]
        LD = self.num_layers * D
        d_finals = [
            np.zeros((LD, B, width), dtype=self.dtype) if value is None
            else sequence_state(name, value, (LD, B, width), batched, self.dtype, label)
            for (name, value), width, label in zip(d_finals, widths, self._labels(),
                                                   strict=True)
        ]
        return d_layer, d_finals

    def _run_backward(self, cache: SequenceCache, d_layer, d_finals, release: bool,
                      want_dx: bool = True):
        """Backward through ``cache``: (dx, dL/d(initial states)) out, parameter
        gradients added; ``release=False`` leaves the cache's arrays alone
        (bptt.torch: autograd may run the same backward again, retain_graph);
        ``want_dx=False``: dx is None, not computed."""
        with self._lock:  # one backward at a time adds into the gradient arrays
            if cache.parts:
                dx, d_states0 = self._split_backward(cache, d_layer, d_finals, want_dx)
            else:
                dx, d_states0 = self._stack_backward(cache, d_layer, d_finals, self._slots,
                                                     self._threads_for(cache.T, cache.B),
                                                     want_dx)
            if release:  # training mode: the first input is never the caller's x
                self._release(cache, keep_first_input=False)
        if dx is not None:
            dx = self._from_time_major(dx, cache.batched)
        d_states0 = [d if cache.batched else d[:, 0] for d in d_states0]
        return dx, d_states0

    def _split_backward(self, cache: SequenceCache, d_layer, d_finals, want_dx):
        """Backward of a forward whose rows were split across threads: each
        group on its thread, the first adding into the parameter gradients,
        the others into zeroed copies, added in after them in group order."""
        def rows(item):
            index, ((b0, b1), part) = item
            slots = self._slots if index == 0 else {
                key: slot._replace(dweights=tuple(np.zeros_like(d) for d in slot.dweights),
                                   dextras=tuple(np.zeros_like(d) for d in slot.dextras),
                                   scratch=tuple(np.zeros_like(d) for d in slot.scratch))
                for key, slot in self._slots.items()}
            dx, d_states0 = self._stack_backward(
                part, np.ascontiguousarray(d_layer[:, b0:b1]),
                [np.ascontiguousarray(d[:, b0:b1]) for d in d_finals], slots, threads=1,
                want_dx=want_dx)
            return dx, d_states0, slots

        results = run_parallel(rows, list(enumerate(cache.parts)))
        for _, _, slots in results[1:]:
            for key, slot in slots.items():
                for total, part in zip(self._slots[key].dweights + self._slots[key].dextras,
                                       slot.dweights + slot.dextras, strict=True):
                    total += part
        dx = None if results[0][0] is None else np.concatenate([r[0] for r in results], axis=1)
        d_states0 = [np.concatenate([r[1][s] for r in results], axis=1)
                     for s in range(len(d_finals))]
        return dx, d_states0

    def _stack_backward(self, cache: SequenceCache, d_layer, d_finals, slots, threads,
                        want_dx=True):
        """Mirror of ``_stack_forward``: (dx (T, B, I), dL/d(initial states)),
        the parameter gradients added into ``slots``' arrays; dx None unless
        ``want_dx`` (the layers above the first still pass theirs down)."""
        T, lengths = cache.T, cache.lengths
        D, K = self.directions, self._widths()[0]
        padding = ~_valid_steps(lengths, T) if cache.padded else None
        d_states0 = [np.empty_like(d) for d in d_finals]
        for layer in reversed(range(self.num_layers)):
            layer_cache = cache.layers[layer]

            def direction_backward(direction, layer=layer, layer_cache=layer_cache,
                                   d_layer=d_layer):
                k = layer * D + direction
                d_out = (d_layer if D == 1 else
                         np.ascontiguousarray(d_layer[:, :, direction * K:(direction + 1) * K]))
                return self._backward_direction(
                    d_out, tuple([kernel_ready(d[k]) for d in d_finals]),
                    tuple([d[k] for d in d_states0]), layer_cache.directions[direction],
                    layer_cache.input, lengths, slots[layer, direction], direction,
                    want_dx or layer > 0)

            results = _each_direction(direction_backward, D, threads)
            if results[0] is None:  # the first layer, dx not wanted
                return None, d_states0
            dx = results[0]
            for dx_direction in results[1:]:
                dx = dx + dx_direction
            if padding is not None:  # x past a row's length never mattered: dx is 0 there
                np.copyto(dx, 0, where=padding)
            if layer_cache.mask is not None:  # mirror of the dropout below this layer
                np.multiply(dx, layer_cache.mask, out=dx)
            d_layer = dx
        return d_layer, d_states0

    def _forward_direction(self, x, initial, finals, lengths, layer, direction, keep):
        """One layer-direction's whole time loop: one kernel call, which
        writes ``finals`` (B, w_s) each; returns the output and, with
        ``keep``, the cache for backward, else (the inference kernel, which
        keeps nothing) None."""
        T, B = x.shape[0], x.shape[1]       # x (T, B, I), or ids (T, B)
        widths = self._state_widths
        slots = self._slots[layer, direction]
        output = np.empty((T, B, widths[0]), dtype=self._dtype)
        if not keep:
            gates = np.empty((B, self._gates_width), dtype=self._dtype)
            self._kernels.seq_infer(output, finals, gates, x, initial, *slots.weights,
                                    slots.extras, lengths, bool(direction), self._option)
            return output, None
        cache = DirectionCache(
            states=tuple(self._pool.take((T + 1, B, w)) for w in widths),
            gates=self._pool.take((T, B, self._cache_width())),
        )
        self._kernels.seq_forward(output, finals, cache.states, cache.gates, x, initial,
                                  *slots.weights, slots.extras, lengths, bool(direction),
                                  self._option)
        return output, cache

    def _backward_direction(self, d_output, d_finals, d_initial, cache, x, lengths, slots,
                            direction, want_dx=True):
        """Mirror of ``_forward_direction``: returns dx (None unless
        ``want_dx``) and writes dL/d(initial states) into ``d_initial`` (B,
        w_s) each; parameter gradients added into ``slots``' arrays."""
        for scratch in slots.scratch:
            scratch.fill(0)  # kernels add into it; keep it from growing
        want_dx = want_dx and x.ndim == 3  # ids (T, B) have no gradient
        # no steps: the kernels' sign that dx is not wanted
        dx = np.empty_like(x) if want_dx else np.empty((0, *x.shape[1:]), x.dtype)
        self._kernels.seq_backward(dx, d_initial, *slots.dweights, slots.dextras,
                                   d_output, d_finals, cache.gates, cache.states, x,
                                   slots.weights[0], slots.weights[1], slots.extras, lengths,
                                   bool(direction), self._option)
        return dx if want_dx else None

    def _from_time_major(self, a: Array, batched: bool) -> Array:
        """(T, B, F) back to the caller's layout."""
        if not batched:
            return a[:, 0]
        return np.ascontiguousarray(a.transpose(1, 0, 2)) if self.batch_first else a




class RNN(_Recurrent):
    """Elman RNN layer, torch.nn.RNN's interface: h' = act(W_ih x + b_ih + W_hh h + b_hh).

    ``nonlinearity``: "tanh" (default), "relu", or "sigmoid" (torch lacks it).
    ``forward(x, h0=None, lengths=None) -> (output, h_n)``;
    ``backward(d_output, d_h_n=None) -> (dx, dh0)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        backend: str = "auto",
        dtype: DTypeLike = np.float64,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        self._nonlinearity = check_choice("nonlinearity", nonlinearity, ACTIVATIONS)
        super().__init__("rnn", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, backend, dtype, seed, rng,
                         option=ACTIVATIONS[nonlinearity])

    nonlinearity = property(lambda self: self._nonlinearity, doc="tanh, relu or sigmoid.")

    def _extra_repr(self) -> str:
        return f", nonlinearity={self.nonlinearity!r}"

    def forward(self, x: ArrayLike, h0: ArrayLike | None = None,
                lengths: ArrayLike | None = None) -> tuple[FloatArray, FloatArray]:
        """x (T, B, I) ((B, T, I) with batch_first, (T, I) unbatched) -> output, h_n."""
        output, (h_n,) = self._forward(x, [("h0", h0)], lengths)
        return output, h_n

    def backward(self, d_output: ArrayLike,
                 d_h_n: ArrayLike | None = None) -> tuple[FloatArray, FloatArray]:
        """dL/d(output) (and dL/d(h_n)) in; (dx, dh0) out; parameter gradients added."""
        dx, (dh0,) = self._backward(d_output, [("d_h_n", d_h_n)])
        return dx, dh0


class GRU(_Recurrent):
    """GRU layer, torch.nn.GRU's interface.

    ``variant="torch"`` (default): torch's equations (reset applied after
    W_hn h). ``variant="seed"``: the seed 000/001 equations (reset applied to h
    before W_h, z weighting the candidate), with the same stacked layout:
    rows of weight_ih are [W_rx; W_zx; W_x], of weight_hh [W_rh; W_zh; W_h];
    its biases are all additive, so b_ih and b_hh act as one sum.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        variant: str = "torch",
        backend: str = "auto",
        dtype: DTypeLike = np.float64,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        self._variant = check_choice("variant", variant, ("torch", "seed"))
        super().__init__("gru" if variant == "torch" else "gru_seed", input_size, hidden_size,
                         num_layers, bias, batch_first, dropout, bidirectional, backend, dtype,
                         seed, rng)

    variant = property(lambda self: self._variant, doc="torch or seed.")

    def _extra_repr(self) -> str:
        return f", variant={self.variant!r}"

    # self: _Recurrent, since LayerNormGRU runs this forward and backward too
    def forward(self: _Recurrent, x: ArrayLike, h0: ArrayLike | None = None,
                lengths: ArrayLike | None = None) -> tuple[FloatArray, FloatArray]:
        """x (T, B, I) ((B, T, I) with batch_first, (T, I) unbatched) -> output, h_n."""
        output, (h_n,) = self._forward(x, [("h0", h0)], lengths)
        return output, h_n

    def backward(self: _Recurrent, d_output: ArrayLike,
                 d_h_n: ArrayLike | None = None) -> tuple[FloatArray, FloatArray]:
        """dL/d(output) (and dL/d(h_n)) in; (dx, dh0) out; parameter gradients added."""
        dx, (dh0,) = self._backward(d_output, [("d_h_n", d_h_n)])
        return dx, dh0


class LSTM(_Recurrent):
    """LSTM layer, torch.nn.LSTM's interface (gates i, f, g, o).

    ``forward(x, h0=None, lengths=None) -> (output, (h_n, c_n))`` with
    h0 = (h_0, c_0), the pair torch calls ``hx``;
    ``backward(d_output, d_h_n=None, d_c_n=None) -> (dx, (dh0, dc0))``.

    ``proj_size`` > 0: torch's projected LSTM, h' = W_hr (o (.) tanh(c')), with
    ``weight_hr_l{k}`` (proj_size, hidden_size); h, the output and h0 have
    proj_size features, c keeps hidden_size.

    ``peepholes=True`` and ``clip``: ONNX's LSTM operator (with torch's weight
    layout): i and f also see p_i (.) c and p_f (.) c, o sees p_o (.) c', from
    ``weight_peephole_l{k}`` (3H,) = [p_i | p_o | p_f] in ONNX's order; with
    ``clip`` every gate's pre-activation is clipped to [-clip, clip] before
    its sigmoid or tanh (c' is not clipped).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        *,
        peepholes: bool = False,
        clip: float | None = None,
        backend: str = "auto",
        dtype: DTypeLike = np.float64,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        proj_size = check_proj_size(proj_size, check_size("hidden_size", hidden_size), True)
        self._peepholes = check_bool("peepholes", peepholes)
        self._clip = check_clip(clip)
        family = _lstm_family(proj_size, self._peepholes, self._clip)
        super().__init__(family, input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, backend, dtype, seed, rng, proj_size=proj_size,
                         option=self._clip or 0.0,
                         absent=frozenset() if self._peepholes else {"weight_peephole"})

    peepholes = property(lambda self: self._peepholes, doc="ONNX's peephole weights.")
    clip = property(lambda self: self._clip, doc="The gates' clip threshold, or None.")

    def _extra_repr(self) -> str:
        extra = f", proj_size={self.proj_size}" if self.proj_size else ""
        if self.peepholes:
            extra += ", peepholes=True"
        return extra + (f", clip={self.clip}" if self.clip is not None else "")

    # self: _Recurrent, since LayerNormLSTM runs this forward and backward too
    def forward(
        self: _Recurrent, x: ArrayLike, h0: tuple[ArrayLike, ArrayLike] | None = None,
        lengths: ArrayLike | None = None,
    ) -> tuple[FloatArray, tuple[FloatArray, FloatArray]]:
        """x (T, B, I) ((B, T, I) with batch_first, (T, I) unbatched);
        h0 = (h_0, c_0), zeros if None -> output, (h_n, c_n)."""
        h_0, c_0 = state_pair("h0", h0, "(h_0, c_0)")
        output, (h_n, c_n) = self._forward(x, [("h0", h_0), ("c0", c_0)], lengths)
        return output, (h_n, c_n)

    def backward(
        self: _Recurrent, d_output: ArrayLike, d_h_n: ArrayLike | None = None,
        d_c_n: ArrayLike | None = None,
    ) -> tuple[FloatArray, tuple[FloatArray, FloatArray]]:
        """dL/d(output) (and dL/d(h_n), dL/d(c_n)) in; (dx, (dh0, dc0)) out."""
        dx, (dh0, dc0) = self._backward(d_output, [("d_h_n", d_h_n), ("d_c_n", d_c_n)])
        return dx, (dh0, dc0)


class _LayerNorm(_Recurrent):
    """The layer-normalised layers' constructor: torch's, for the family ``_kind``."""

    _kind: str

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        backend: str = "auto",
        dtype: DTypeLike = np.float64,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__(self._kind, input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, backend, dtype, seed, rng)


class LayerNormGRU(_LayerNorm):
    """Layer-normalised GRU (haste's LayerNormGRU), torch.nn.GRU's interface.

    torch's gate equations on normalised pre-activations, each row's W_ih x
    and W_hh h normalised over their 3H features (eps 1e-5) and scaled by a
    learned gain, the biases added after::

        gi = LN(W_ih x) (.) gamma_ih + b_ih,   gh = LN(W_hh h) (.) gamma_hh + b_hh
        r, z = sigma(gi_r + gh_r), sigma(gi_z + gh_z)
        n  = tanh(gi_n + r (.) gh_n),   h' = (1 - z) (.) n + z (.) h

    Parameters per layer-direction: ``weight_ih``, ``weight_hh``, ``bias_ih``,
    ``bias_hh`` (as torch's GRU), ``layernorm_ih_weight`` and
    ``layernorm_hh_weight`` (3H,), the gains, initialised to 1.
    """

    _kind = "ln_gru"
    forward = GRU.forward
    backward = GRU.backward


class LayerNormLSTM(_LayerNorm):
    """Layer-normalised LSTM (Ba et al. 2016, haste's LayerNormLSTM),
    torch.nn.LSTM's interface (gates i, f, g, o)::

        a  = LN(W_ih x) (.) gamma_ih + b_ih + LN(W_hh h) (.) gamma_hh + b_hh
        i, f, g, o = sigma(a_i), sigma(a_f), tanh(a_g), sigma(a_o)
        c' = f (.) c + i (.) g
        h' = o (.) tanh(LN(c') (.) gamma_c + beta_c)

    Each LN normalises a row over its features (4H, or H for c'; eps 1e-5);
    the carried c' is not normalised. Parameters per layer-direction:
    torch's four, ``layernorm_ih_weight``, ``layernorm_hh_weight`` (4H,),
    ``layernorm_c_weight`` (H,) (gains, initialised to 1) and, with bias,
    ``layernorm_c_bias`` (H,) (initialised to 0).
    """

    _kind = "ln_lstm"
    forward = LSTM.forward
    backward = LSTM.backward
