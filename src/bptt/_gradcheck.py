"""``gradcheck``: analytic gradients against central differences, like
``scipy.optimize.check_grad``, for any loss over named arrays."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

Array = np.ndarray


@dataclass
class GradcheckResult:
    """Relative error per array: ||analytic - numeric|| / max(||analytic||, ||numeric||)."""

    errors: dict[str, float] = field(default_factory=dict)
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def max_error(self) -> float:
        return max(self.errors.values(), default=0.0)

    def passed(self, tolerance: float = 1e-6) -> bool:
        return self.max_error <= tolerance

    def __str__(self) -> str:
        width = max((len(n) for n in self.errors), default=4)
        lines = [f"{'array':<{width}}  entries  relative error"]
        for name, err in self.errors.items():
            lines.append(f"{name:<{width}}  {self.checked[name]:7d}  {err:.2e}")
        return "\n".join(lines)


def gradcheck(
    loss: Callable[[], float],
    arrays: Mapping[str, Array],
    analytic: Mapping[str, Array],
    *,
    eps: float = 1e-6,
    max_entries: int | None = None,
    seed: int = 0,
) -> GradcheckResult:
    """Compare ``analytic[name]`` with central differences of ``loss``.

    ``loss()`` evaluates the loss from the current contents of ``arrays``;
    each checked entry is nudged by +-eps in place and then restored.
    ``max_entries`` checks a random sample of at most that many entries per
    array (all of them if None). Use float64 arrays: float32 differences are
    too coarse for a meaningful check.
    """
    if max_entries is not None and (isinstance(max_entries, bool)
                                    or not isinstance(max_entries, numbers.Integral)
                                    or max_entries < 1):
        raise ValueError(f"max_entries must be a positive int or None, got {max_entries!r}")
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be finite and > 0, got {eps!r}")
    missing = sorted(set(arrays) - set(analytic))
    if missing:
        raise ValueError(f"analytic has no gradient for {missing}")
    rng = np.random.default_rng(seed)
    result = GradcheckResult()
    for name, target in arrays.items():
        exact = np.asarray(analytic[name])
        if exact.shape != target.shape:
            raise ValueError(f"analytic[{name!r}] must have shape {target.shape}, "
                             f"got {exact.shape}")
        flat = target.reshape(-1)  # a view: nudges reach the array the loss reads
        if not np.shares_memory(flat, target):
            raise ValueError(f"arrays[{name!r}] must be contiguous so it can be nudged in place")
        indices = np.arange(flat.size)
        if max_entries is not None and flat.size > max_entries:
            indices = rng.choice(flat.size, size=max_entries, replace=False)
        numeric = np.empty(indices.size)
        for k, i in enumerate(indices):
            saved = flat[i]
            flat[i] = saved + eps
            up = float(loss())
            flat[i] = saved - eps
            down = float(loss())
            flat[i] = saved
            numeric[k] = (up - down) / (2 * eps)
        chosen = exact.reshape(-1)[indices]
        scale = max(np.linalg.norm(chosen), np.linalg.norm(numeric), 1e-300)
        result.errors[name] = float(np.linalg.norm(chosen - numeric) / scale)
        result.checked[name] = int(indices.size)
    return result
