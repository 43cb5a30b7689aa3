"""``Module``: parameters, their gradients and state dicts, for every bptt object
that learns (cells, sequence layers, the linear read-out).

A module owns two dicts of arrays with the same keys: ``_params`` and
``_grads``. Backward kernels add into the gradient arrays; optimizers update
the parameter arrays in place, so both keep their identity for life.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._typing import FloatArray
from ._validation import check_bool, check_memory, loadable_parameter

Array = np.ndarray


class Module:
    """Shared parameter bookkeeping; subclasses fill ``_params`` / ``_grads``."""

    dtype: np.dtype
    #: sizes and options the parameter arrays and kernels were made for: set once,
    #: in the constructor (as ``name`` or as ``_name`` behind a property), then fixed
    _READ_ONLY: frozenset[str] = frozenset()

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._READ_ONLY and (name in self.__dict__ or "_" + name in self.__dict__):
            raise AttributeError(
                f"{type(self).__name__}.{name} is fixed at construction ({name}="
                f"{getattr(self, name)!r}); build a new {type(self).__name__} to change it"
            )
        super().__setattr__(name, value)

    def _init_parameters(self, shapes: Mapping[str, tuple[int, ...]], fan: int,
                         rng: np.random.Generator) -> None:
        """Create each parameter U(-1/sqrt(fan), 1/sqrt(fan)) (torch's init), in order."""
        total = sum(math.prod(shape) for shape in shapes.values())
        check_memory(f"{type(self).__name__}'s {total:,} parameters and their gradients",
                     2 * total * self.dtype.itemsize)
        bound = 1.0 / math.sqrt(fan)
        self._params: dict[str, Array] = {}
        self._grads: dict[str, Array] = {}
        for name, shape in shapes.items():
            self._params[name] = rng.uniform(-bound, bound, size=shape).astype(self.dtype)
            self._grads[name] = np.zeros(shape, dtype=self.dtype)

    def parameters(self) -> dict[str, FloatArray]:
        """The live parameter arrays by name: update them in place to train."""
        return dict(self._params)

    @property
    def grads(self) -> dict[str, FloatArray]:
        """The accumulated gradient of each parameter, keyed like ``parameters()``."""
        return dict(self._grads)

    def zero_grad(self) -> None:
        """Clear every accumulated gradient."""
        for g in self._grads.values():
            g.fill(0)

    def state_dict(self, *, tensors: bool = False) -> dict[str, Any]:
        """A copy of every parameter, keyed by name.

        With ``tensors=True`` the copies are torch tensors, ready for a torch
        module's ``load_state_dict`` (torch must be installed).
        """
        copies = {name: p.copy() for name, p in self.parameters().items()}
        if not check_bool("tensors", tensors):
            return copies
        try:
            import torch
        except ImportError:
            raise ImportError("state_dict(tensors=True) needs torch installed") from None
        return {name: torch.from_numpy(a) for name, a in copies.items()}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Copy parameters in from numpy arrays or torch tensors.

        Keys must match ``parameters()`` exactly, and shapes too. A float32 or
        float64 value is copied into this module's own dtype, as torch's
        ``load_state_dict`` does, so a float32 torch model loads into a
        float64 bptt one (the module's dtype never changes). Everything is
        checked before anything is written.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a mapping, got {type(state_dict).__name__}")
        params = self.parameters()
        missing = sorted(set(params) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(params))
        if missing or unexpected:
            raise ValueError(
                f"state_dict keys do not match {type(self).__name__}'s parameters: "
                f"missing {missing}, unexpected {unexpected}"
            )
        checked = {
            name: loadable_parameter(name, state_dict[name], p.shape, self.dtype)
            for name, p in params.items()
        }
        for name, value in checked.items():
            np.copyto(params[name], value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``forward(*args, **kwargs)``, as torch modules are called."""
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

