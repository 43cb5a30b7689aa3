"""Optimizers and gradient clipping over bptt modules.

An optimizer holds (parameter, gradient) array pairs taken from one or more
modules (``module.parameters()`` and ``module.grads``) and updates the
parameters in place, with torch.optim's update rules:

- ``SGD``: p -= lr * g, or with momentum mu: v = mu v + g (v = g at first), p -= lr v.
- ``Adagrad``: s += g^2, p -= lr g / (sqrt(s) + eps): torch's rule, with eps
  outside the square root (min-char-rnn puts it inside; ``bptt minchar`` does
  that with its own subclass).
- ``Adam``: bias-corrected first and second moments.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, TypeAlias

import numpy as np

from ._module import Module

Array = np.ndarray

#: What an optimizer or clip takes: one bptt module (a layer, cell or Linear) or several.
Modules: TypeAlias = Module | Iterable[Module]


def _pairs(modules: Modules) -> list[tuple[str, Array, Array]]:
    """(name, parameter, gradient) for every parameter of one module or several."""
    if isinstance(modules, Module):
        modules = [modules]
    if not isinstance(modules, Iterable):
        raise TypeError(f"modules must be a bptt module or an iterable of them, "
                        f"got {type(modules).__name__}")
    pairs = []
    for i, module in enumerate(modules):
        if not isinstance(module, Module):
            raise TypeError(f"modules[{i}] must be a bptt module, got {type(module).__name__}")
        grads = module.grads
        for name, p in module.parameters().items():
            pairs.append((f"{i}.{name}", p, grads[name]))
    if not pairs:
        raise ValueError("the optimizer got no parameters")
    return pairs


def _positive(name: str, value: float, allow_zero: bool = False) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value}")
    return value


class Optimizer:
    """Base: the parameter list, ``zero_grad``, and state for checkpoints."""

    #: The state buffers kept per parameter are named parameter + suffix.
    _buffer_suffixes: tuple[str, ...] = ("",)

    def __init__(self, modules: Modules, lr: float) -> None:
        self._pairs = _pairs(modules)
        self.lr = _positive("lr", lr)
        self.steps = 0
        self._state: dict[str, Array] = {}

    def zero_grad(self) -> None:
        """Clear the gradients of every parameter this optimizer updates."""
        for _, _, g in self._pairs:
            g.fill(0)

    def step(self) -> None:
        """Apply one update to every parameter from its current gradient."""
        self.steps += 1
        for name, p, g in self._pairs:
            self._update(name, p, g)

    def _update(self, name: str, p: Array, g: Array) -> None:  # pragma: no cover
        raise NotImplementedError

    def _buffer(self, key: str, like: Array, fill: float = 0.0) -> Array:
        if key not in self._state:
            self._state[key] = np.full_like(like, fill)
        return self._state[key]

    def state_dict(self) -> dict[str, Any]:
        """Everything ``load_state_dict`` needs to continue bit-identically."""
        return {"steps": self.steps, "lr": self.lr,
                "state": {k: v.copy() for k, v in self._state.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``'s output. Every buffer must belong to one of
        this optimizer's parameters and have its shape; nothing is changed
        unless all of them do."""
        if not isinstance(state, dict) or not {"state", "steps", "lr"} <= set(state):
            keys = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"{type(self).__name__}.load_state_dict needs a dict with keys "
                             f"'state', 'steps' and 'lr' (from state_dict()), got {keys}")
        owners = {name + suffix: p for name, p, _ in self._pairs
                  for suffix in self._buffer_suffixes}
        buffers = {}
        if not isinstance(state["state"], dict):
            raise ValueError(f"state['state'] must be a dict of buffers, got "
                             f"{type(state['state']).__name__}")
        for key, value in state["state"].items():
            if key not in owners:
                raise ValueError(f"state buffer {key!r} does not belong to this "
                                 f"{type(self).__name__}; expected keys among {sorted(owners)}")
            buffer = np.array(value, dtype=owners[key].dtype, copy=True)
            if buffer.shape != owners[key].shape:
                raise ValueError(f"state buffer {key!r} must have shape {owners[key].shape}, "
                                 f"got {buffer.shape}")
            if not np.isfinite(buffer).all():
                raise ValueError(f"state buffer {key!r} holds NaN or infinite values")
            buffers[key] = buffer
        steps = state["steps"]
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
            raise ValueError(f"steps must be an int >= 0, got {steps!r}")
        steps, lr = int(steps), _positive("lr", state["lr"])
        self.steps, self.lr, self._state = steps, lr, buffers


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (heavy-ball) momentum."""

    def __init__(self, modules: Modules, lr: float, momentum: float = 0.0) -> None:
        super().__init__(modules, lr)
        self.momentum = _positive("momentum", momentum, allow_zero=True)

    def _update(self, name: str, p: Array, g: Array) -> None:
        if self.momentum == 0:
            p -= self.lr * g
            return
        if name not in self._state:
            velocity = self._state[name] = g.copy()
        else:
            velocity = self._state[name]
            velocity *= self.momentum
            velocity += g
        p -= self.lr * velocity


class Adagrad(Optimizer):
    """Adagrad: per-entry step lr / (sqrt(sum of squared gradients) + eps)."""

    def __init__(self, modules: Modules, lr: float = 0.1, eps: float = 1e-8) -> None:
        super().__init__(modules, lr)
        self.eps = _positive("eps", eps, allow_zero=True)

    def _update(self, name: str, p: Array, g: Array) -> None:
        squares = self._buffer(name, p)
        squares += g * g
        p -= self.lr * g / (np.sqrt(squares) + self.eps)


class Adam(Optimizer):
    """Adam (Kingma & Ba) with torch's bias correction."""

    _buffer_suffixes = (".m", ".v")

    def __init__(self, modules: Modules, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        super().__init__(modules, lr)
        try:
            beta1, beta2 = betas
        except (TypeError, ValueError):
            raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        self.betas = (float(beta1), float(beta2))
        self.eps = _positive("eps", eps, allow_zero=True)

    def _update(self, name: str, p: Array, g: Array) -> None:
        beta1, beta2 = self.betas
        m = self._buffer(name + ".m", p)
        v = self._buffer(name + ".v", p)
        m += (1 - beta1) * (g - m)
        v *= beta2
        v += (1 - beta2) * g * g
        correction1 = 1 - beta1 ** self.steps
        correction2 = 1 - beta2 ** self.steps
        denominator = np.sqrt(v) / math.sqrt(correction2) + self.eps
        p -= (self.lr / correction1) * m / denominator


def clip_grad_value(modules: Modules, clip_value: float) -> None:
    """Clamp every gradient entry to [-clip_value, clip_value] in place
    (min-char-rnn clips to [-5, 5])."""
    clip_value = _positive("clip_value", clip_value)
    for _, _, g in _pairs(modules):
        np.clip(g, -clip_value, clip_value, out=g)


def clip_grad_norm(modules: Modules, max_norm: float) -> float:
    """Scale all gradients together so their global L2 norm is at most
    ``max_norm``; returns the norm before clipping (as torch does)."""
    max_norm = _positive("max_norm", max_norm)
    pairs = _pairs(modules)
    total = math.sqrt(sum(float(np.vdot(g, g)) for _, _, g in pairs))
    coefficient = max_norm / (total + 1e-6)
    if coefficient < 1:
        for _, _, g in pairs:
            g *= coefficient
    return total
