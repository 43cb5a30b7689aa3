"""Input checks, in one place, run before any compiled code.

Every check raises ``TypeError`` (wrong kind or dtype) or ``ValueError``
(wrong shape, size or value) with a message that names the argument and
states what was expected and what was given. What passes is a C-contiguous,
aligned, writeable array of the expected dtype, which kernels then trust.
"""

from __future__ import annotations

import numbers

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
    return np.random.default_rng(seed)


def _is_tensor(value) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def as_array(name: str, value, dtype: np.dtype) -> np.ndarray:
    """An ndarray of exactly ``dtype``, from an ndarray, a torch tensor, or a list.

    Arrays and tensors keep their dtype: one that differs is an error, never a
    silent conversion. Plain Python sequences have no dtype and take ``dtype``.
    """
    if _is_tensor(value):
        value = value.detach().cpu().numpy()
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


def kernel_ready(a: np.ndarray) -> np.ndarray:
    """Contiguous, aligned and writeable: the only layout kernels are handed."""
    flags = a.flags
    if flags.c_contiguous and flags.aligned and flags.writeable:
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
    if _is_tensor(value):
        value = value.detach().cpu().numpy()
    if isinstance(value, (list, tuple)):
        value = np.asarray(value, dtype=dtype)
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
