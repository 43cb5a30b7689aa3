"""Input checks, in one place, run before any compiled code.

Every check raises ``TypeError`` (wrong kind or dtype) or ``ValueError``
(wrong shape, size or value) with a message that names the argument and
states what was expected and what was given. What passes is a C-contiguous,
aligned, writeable array of the expected dtype, which kernels then trust.
"""

from __future__ import annotations

import functools
import numbers
import os

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_dtype(dtype) -> np.dtype:
    """Accept float32 or float64 in any spelling numpy understands."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


def check_size(name: str, value) -> int:
    """A positive integer size (input_size, hidden_size, ...)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


def check_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def check_rng(seed, rng) -> np.random.Generator:
    """Either a seed or a Generator (or neither: fresh entropy)."""
    if rng is not None:
        if seed is not None:
            raise ValueError("pass either seed or rng, not both")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return rng
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"seed must be an int >= 0 or None, got {type(seed).__name__} "
                            f"{seed!r}")
        if seed < 0:
            raise ValueError(f"seed must be an int >= 0 or None, got {seed}")
    return np.random.default_rng(seed)


def _is_tensor(value) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def plain(name: str, value):
    """An ndarray subclass as a plain ndarray (np.matrix, memmap, ...), so every
    backend sees the same thing; a masked array is refused, as its mask would
    be silently ignored; a torch tensor becomes its numpy view. Anything else
    passes through unchanged."""
    if _is_tensor(value):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray) and type(value) is not np.ndarray:
        if isinstance(value, np.ma.MaskedArray):
            raise TypeError(f"{name} is a masked array, whose mask bptt cannot honour: pass "
                            f"{name}.filled(value) or a plain numpy array")
        return value.view(np.ndarray)
    return value


def as_array(name: str, value, dtype: np.dtype) -> np.ndarray:
    """An ndarray of exactly ``dtype``, from an ndarray, a torch tensor, or a list.

    Arrays and tensors keep their dtype: one that differs is an error, never a
    silent conversion. Plain Python sequences have no dtype and take ``dtype``.
    """
    if type(value) is not np.ndarray:   # (a plain ndarray, the common case, as it is)
        value = plain(name, value)
    if isinstance(value, np.ndarray):
        if value.dtype != dtype:
            hint = f"convert it with .astype(np.{dtype})"
            if value.dtype in FLOAT_DTYPES:
                hint += f" or build the layer with dtype={value.dtype}"
            raise TypeError(f"{name} must have dtype {dtype}, got {value.dtype} ({hint})")
        return value
    if isinstance(value, (list, tuple, numbers.Real)):
        try:
            return np.asarray(value, dtype=dtype)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} could not be read as a {dtype} array: {exc}") from None
    raise TypeError(f"{name} must be a numpy array, got {type(value).__name__}")


def is_kernel_ready(a: np.ndarray) -> bool:
    """Contiguous, aligned and writeable: the only layout kernels are handed."""
    flags = a.flags
    return bool(flags.c_contiguous and flags.aligned and flags.writeable)


def kernel_ready(a: np.ndarray) -> np.ndarray:
    """``a`` if ``is_kernel_ready(a)``, else a copy that is."""
    if is_kernel_ready(a):
        return a
    return np.array(a, order="C", copy=True)


def check_shape(name: str, a: np.ndarray, shape: tuple[int, ...]) -> None:
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")


def check_finite(name: str, a: np.ndarray) -> None:
    if not np.isfinite(a).all():
        bad = int(a.size - np.count_nonzero(np.isfinite(a)))
        raise ValueError(f"{name} must be finite, got {bad} NaN or infinite value(s)")


def parameter(name: str, value, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A weight or bias: right dtype, right shape, all finite."""
    a = as_array(name, value, dtype)
    check_shape(name, a, shape)
    check_finite(name, a)
    return a


def loadable_parameter(name: str, value, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A state-dict value converted to ``dtype``, ready to copy in: float32 or
    float64 (either byte order), ``shape``, all finite, also after the
    conversion (a float64 beyond float32's range is refused). Unlike
    ``parameter``, which refuses any other dtype, this converts, as torch's
    ``load_state_dict`` does."""
    if isinstance(value, (list, tuple)):
        value = np.asarray(value, dtype=dtype)
    value = plain(name, value)
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(value).__name__}")
    if value.dtype.newbyteorder("=") not in FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype float32 or float64, got {value.dtype}")
    check_shape(name, value, shape)
    check_finite(name, value)
    with np.errstate(over="ignore"):
        converted = value.astype(dtype)
    if not np.isfinite(converted).all():
        raise ValueError(f"{name} has values beyond the range of {dtype} "
                         f"(largest magnitude {np.abs(value).max():.3g})")
    return converted


def step_input(name: str, value, features: int, dtype: np.dtype, batch: int | None = None):
    """One step's input or state: (features,) unbatched or (B, features).

    Returns ``(array2d, batched)`` where array2d is (B, features), kernel-ready.
    With ``batch`` given, a batched array must have that many rows.
    """
    a = as_array(name, value, dtype)
    if a.ndim == 1:
        if a.shape[0] != features:
            raise ValueError(
                f"{name} must have shape ({features},) or (B, {features}), got {a.shape}"
            )
        return kernel_ready(a.reshape(1, features)), False
    if a.ndim == 2:
        if a.shape[1] != features or (batch is not None and a.shape[0] != batch):
            rows = "B" if batch is None else str(batch)
            raise ValueError(f"{name} must have shape ({rows}, {features}), got {a.shape}")
        if a.shape[0] == 0:
            raise ValueError(f"{name} must have at least one row, got shape {a.shape}")
        return kernel_ready(a), True
    raise ValueError(
        f"{name} must be 1-D ({features},) or 2-D (B, {features}), got {a.ndim}-D shape {a.shape}"
    )


def check_choice(name: str, value, choices) -> str:
    """One of a fixed set of names (a nonlinearity, a variant, a kind)."""
    if not isinstance(value, str) or value not in choices:
        names = tuple(choices)
        allowed = (f"{names[0]!r} or {names[1]!r}" if len(names) == 2
                   else f"one of {names}")
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return value


# ----------------------------------------------------------------------------
# sequence layers: x, lengths, initial states and incoming gradients
# ----------------------------------------------------------------------------


def sequence_input(x, input_size: int, batch_first: bool, dtype: np.dtype):
    """x as a kernel-ready (T, B, I) array, and whether it was batched (3-D)."""
    x = as_array("x", x, dtype)
    I = input_size
    layout = "(B, T, input_size)" if batch_first else "(T, B, input_size)"
    if x.ndim == 2:
        if x.shape[1] != I or x.shape[0] == 0:
            raise ValueError(f"x must have shape (T, {I}) unbatched or {layout} batched "
                             f"with input_size={I}, got {x.shape}")
        return kernel_ready(x[:, None, :]), False
    if x.ndim != 3:
        raise ValueError(f"x must be 2-D (T, {I}) or 3-D {layout}, got {x.ndim}-D {x.shape}")
    if batch_first:
        x = x.transpose(1, 0, 2)
    if x.shape[2] != I or x.shape[0] == 0 or x.shape[1] == 0:
        shown = x.transpose(1, 0, 2).shape if batch_first else x.shape
        raise ValueError(f"x must have shape {layout} with input_size={I} and T, B >= 1, "
                         f"got {shown}")
    return kernel_ready(x), True


@functools.lru_cache(maxsize=64)
def full_lengths(B: int, T: int) -> np.ndarray:
    """(B,) int64 of T, read-only: made once per shape (a stream of chunks, a
    training loop) instead of on every call; the kernels only read it."""
    lengths = np.full(B, T, dtype=np.int64)
    lengths.flags.writeable = False
    return lengths


def sequence_lengths(lengths, T: int, B: int, batched: bool, input_size: int):
    """lengths as (B,) int64, and whether any row is shorter than T (None: all T)."""
    if lengths is None:
        return full_lengths(B, T), False
    if not batched:
        raise ValueError(f"lengths needs batched 3-D x (one length per batch row), "
                         f"got unbatched 2-D x of shape ({T}, {input_size})")
    lengths = np.asarray(plain("lengths", lengths))
    if lengths.shape != (B,):
        raise ValueError(f"lengths must have shape ({B},), one per batch row, "
                         f"got {lengths.shape}")
    if lengths.dtype.kind not in "iu":
        raise TypeError(f"lengths must hold integers, got dtype {lengths.dtype}")
    if lengths.min() < 1 or lengths.max() > T:
        raise ValueError(f"lengths must lie in 1..{T} (the sequence length), "
                         f"got values from {lengths.min()} to {lengths.max()}")
    lengths = np.array(lengths, dtype=np.int64, order="C")  # a copy: never the caller's
    # read-only like full_lengths': numba compiles a kernel once per argument
    # type, and a writeable array is another type than a read-only one
    lengths.flags.writeable = False
    return lengths, bool(lengths.min() < T)


def sequence_state(name: str, value, shape: tuple[int, int, int], batched: bool,
                   dtype: np.dtype, features: str = "hidden_size") -> np.ndarray:
    """An initial state (or a final state's gradient) as kernel-ready
    (L*D, B, w); zeros if None. Unbatched, it is (L*D, w). ``features``
    names w in the message."""
    if value is None:
        return np.zeros(shape, dtype=dtype)
    a = as_array(name, value, dtype)
    expected = shape if batched else (shape[0], shape[2])
    if a.shape != expected:
        raise ValueError(f"{name} must have shape {expected} "
                         f"(num_layers * num_directions, {'B, ' if batched else ''}"
                         f"{features}), got {a.shape}")
    return kernel_ready(a if batched else a[:, None, :])


def sequence_gradient(name: str, value, shape: tuple[int, int, int], batched: bool,
                      batch_first: bool, dtype: np.dtype) -> np.ndarray:
    """dL/d(output) shaped like forward's output, as kernel-ready (T, B, F)."""
    T, B, F = shape
    a = as_array(name, value, dtype)
    if batched:
        expected: tuple[int, ...] = (B, T, F) if batch_first else (T, B, F)
    else:
        expected = (T, F)
    if a.shape != expected:
        raise ValueError(f"{name} must have shape {expected} like forward's output, "
                         f"got {a.shape}")
    if not batched:
        a = a[:, None, :]
    elif batch_first:
        a = a.transpose(1, 0, 2)
    return kernel_ready(a)


def state_pair(name: str, value, parts: str) -> tuple:
    """An LSTM's (h, c) pair, or (None, None) for None; ``parts`` names them
    in the message, e.g. "(h_0, c_0)"."""
    if value is None:
        return None, None
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return tuple(value)
    length = f" of length {len(value)}" if isinstance(value, (tuple, list)) else ""
    raise TypeError(f"{name} must be a tuple {parts} or None, got {type(value).__name__}{length}")


# ----------------------------------------------------------------------------
# cells: one step's state and the gradient coming into its backward
# ----------------------------------------------------------------------------


def step_state(name: str, value, features: int, batch: int, batched: bool,
               dtype: np.dtype) -> np.ndarray:
    """A cell's hidden or cell state matching x's batch, as (B, features);
    ``None`` means zeros."""
    if value is None:
        return np.zeros((batch, features), dtype=dtype)
    a, a_batched = step_input(name, value, features, dtype, batch=batch if batched else None)
    if a_batched != batched:
        expected, like = (((batch, features), f"x's batch of {batch}") if batched
                          else ((features,), "1-D x"))
        raise ValueError(
            f"{name} must have shape {expected} to match {like} (x and {name} must both be "
            f"unbatched or both batched), got {np.shape(value)}"
        )
    return a


def step_gradient(name: str, value, features: int, batch: int, batched: bool,
                  dtype: np.dtype) -> np.ndarray:
    """A gradient coming into a cell's backward: (features,) or (1, features)
    unbatched, (B, features) batched; returned as kernel-ready (B, features)."""
    a = as_array(name, value, dtype)
    expected = ((batch, features),) if batched else ((features,), (1, features))
    if a.shape not in expected:
        raise ValueError(
            f"{name} must have shape {' or '.join(str(s) for s in expected)}, got {a.shape}"
        )
    return kernel_ready(a.reshape(batch, features))


def check_proj_size(proj_size, hidden_size: int, allowed: bool) -> int:
    """0 (no projection) or a size below hidden_size, as torch requires."""
    if isinstance(proj_size, bool) or not isinstance(proj_size, numbers.Integral):
        raise TypeError(f"proj_size must be an int, got {type(proj_size).__name__} {proj_size!r}")
    # typeshed's numbers.Integral declares no comparisons; every concrete one has them
    if proj_size < 0 or proj_size >= hidden_size:  # type: ignore[operator]
        raise ValueError(f"proj_size must lie in 0..hidden_size - 1 = {hidden_size - 1}, "
                         f"got {proj_size}")
    if proj_size and not allowed:
        raise ValueError("proj_size is only supported by LSTM layers")
    return int(proj_size)


def check_clip(clip) -> float | None:
    """None (no clipping) or a positive finite threshold."""
    if clip is None:
        return None
    if isinstance(clip, bool) or not isinstance(clip, numbers.Real):
        raise TypeError(f"clip must be a positive float or None, got {type(clip).__name__}")
    # numpy's stubs do not take typeshed's numbers.Real (a concrete one is a float)
    if not np.isfinite(clip) or clip <= 0:  # type: ignore[call-overload]
        raise ValueError(f"clip must be a positive finite float or None, got {clip!r}")
    return float(clip)


def check_dropout(dropout) -> float:
    """A dropout probability in [0, 1] (torch's rule: a number, not a bool)."""
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real):
        raise TypeError(f"dropout must be a float in [0, 1], got {type(dropout).__name__} "
                        f"{dropout!r}")
    # typeshed's numbers.Real declares no comparisons; every concrete one has them
    if not 0 <= dropout <= 1:  # type: ignore[operator]
        raise ValueError(f"dropout must lie in [0, 1], got {dropout!r}")
    return float(dropout)


@functools.lru_cache(maxsize=1)
def machine_memory() -> int:
    """Bytes of physical memory here: more than any allocation can get."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows): no estimate
        return 2**62


def check_memory(what: str, nbytes: int, error: type[Exception] = ValueError) -> None:
    """Refuse, before allocating, what could never fit in this machine's memory."""
    have = machine_memory()
    if nbytes > have:
        raise error(f"{what} would take {nbytes / 2**30:,.1f} GiB, more than this machine's "
                    f"{have / 2**30:,.1f} GiB of memory")
