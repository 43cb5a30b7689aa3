"""``Linear``: the read-out layer y = x W^T + b, with its hand-written backward."""

from __future__ import annotations

import numpy as np

from ._module import Module
from ._typing import ArrayLike, DTypeLike, FloatArray
from ._validation import as_array, check_bool, check_dtype, check_rng, check_size

Array = np.ndarray


class Linear(Module):
    """torch.nn.Linear's formulation and names: ``weight`` (out, in), ``bias`` (out,).

    ``forward(x)`` takes x (..., in_features) and returns (..., out_features);
    ``backward(dy)`` returns dx shaped like x and adds into ``grads``. The
    input given to forward is kept (not copied) until the next forward.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        dtype: DTypeLike = np.float64,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.in_features = check_size("in_features", in_features)
        self.out_features = check_size("out_features", out_features)
        self.bias = check_bool("bias", bias)
        self.dtype = check_dtype(dtype)
        shapes: dict[str, tuple[int, ...]] = {"weight": (self.out_features, self.in_features)}
        if self.bias:
            shapes["bias"] = (self.out_features,)
        # torch's init: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias
        self._init_parameters(shapes, self.in_features, check_rng(seed, rng))
        self._x: Array | None = None

    def __repr__(self) -> str:
        return (f"Linear({self.in_features}, {self.out_features}, bias={self.bias}, "
                f"dtype={self.dtype.name})")

    def forward(self, x: ArrayLike) -> FloatArray:
        """y = x W^T + b over the last axis."""
        x = as_array("x", x, self.dtype)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"x must have shape (..., {self.in_features}), got {x.shape}")
        self._x = x
        # one product over all leading axes: numpy's matmul would make one per
        # leading index of a 3-D x (at (100, 32, 256) by (256, 76), 1.7x slower)
        y = (x.reshape(-1, self.in_features) @ self._params["weight"].T).reshape(
            *x.shape[:-1], self.out_features)
        if self.bias:
            y += self._params["bias"]
        return y

    def backward(self, dy: ArrayLike) -> FloatArray:
        """dL/dy in; dL/dx out; dL/dW and dL/db added into ``grads``."""
        if self._x is None:
            raise ValueError("Linear.backward() called before forward()")
        x = self._x
        dy = as_array("dy", dy, self.dtype)
        expected = x.shape[:-1] + (self.out_features,)
        if dy.shape != expected:
            raise ValueError(f"dy must have shape {expected} like forward's output, got {dy.shape}")
        x2 = x.reshape(-1, self.in_features)
        dy2 = dy.reshape(-1, self.out_features)
        self._grads["weight"] += dy2.T @ x2
        if self.bias:
            self._grads["bias"] += dy2.sum(axis=0)
        return (dy2 @ self._params["weight"]).reshape(x.shape)
