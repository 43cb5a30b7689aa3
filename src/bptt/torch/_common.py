"""What the torch layers and cells share: when bptt can run a call, the
warning when it cannot, handing torch tensors to bptt's kernels, and
running bptt's threads as torch's (``torch_threads``).

A module keeps one bptt engine (a ``bptt.layers`` layer or ``bptt.cells``
cell, time-major, without parameters of its own) per dtype. The engine runs
on numpy views of the module's parameter tensors, re-bound only when a
tensor's storage changes (``.to()``, ``.double()``, assigning ``.data``);
optimizers update parameters in place, which the views see.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.util
import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from .._backend import get_backend
from .._threads import running_on

_DTYPES: dict[torch.dtype, type[np.floating[Any]]] = {torch.float32: np.float32,
                                                      torch.float64: np.float64}
_warned: set[tuple[str, str]] = set()


def warn_fallback(module: object, reason: str) -> None:
    """Say once per class and reason that torch's implementation runs instead."""
    key = (type(module).__name__, reason)
    if key in _warned:
        return
    _warned.add(key)
    warnings.warn(
        f"bptt.torch.{type(module).__name__}: running torch's own implementation for this "
        f"call ({reason}); bptt's kernels run float32/float64 CPU tensors",
        UserWarning,
        stacklevel=4,
    )


_PLAIN_TYPES = (torch.Tensor, torch.nn.Parameter)
_is_wrapped = getattr(torch._C._functorch, "is_functorch_wrapped_tensor", lambda t: False)


def _plain(t: torch.Tensor) -> bool:
    """A tensor whose memory numpy can read: not a subclass or a functorch wrapper."""
    return type(t) in _PLAIN_TYPES and not _is_wrapped(t)


def unsupported(data: object, tensors: Sequence[torch.Tensor],
                weights: Sequence[torch.Tensor]) -> str | None:
    """Why bptt cannot run a call on these tensors, or None if it can.
    ``data`` is the input (a PackedSequence's data), ``tensors`` the given
    states, ``weights`` the parameters in use."""
    if torch.jit.is_tracing():
        return "torch.jit tracing or torch.onnx.export, which record torch's operators"
    if torch.compiler.is_compiling():
        return "torch.compile, which compiles torch's operators"
    if not isinstance(data, torch.Tensor):
        return f"input of type {type(data).__name__}"
    if data.device.type != "cpu":
        return f"{data.device.type} tensors"
    if data.dtype not in _DTYPES:
        return f"dtype {data.dtype}"
    if data.numel() == 0:
        return "an empty input"
    for t in (*tensors, *weights):
        if t.device != data.device or t.dtype != data.dtype:
            return (f"a parameter or state of {t.dtype} on {t.device} with input of "
                    f"{data.dtype} on {data.device}")
    if not all(_plain(t) for t in (data, *tensors, *weights)):
        return "a tensor subclass or functorch transform"
    return None


def array(t: torch.Tensor | None) -> np.ndarray | None:
    """The numpy view of a CPU tensor (None stays None); never a copy."""
    return None if t is None else t.detach().numpy()


def tensor(a: np.ndarray) -> torch.Tensor:
    """A torch tensor sharing ``a``'s memory."""
    return torch.from_numpy(a)


_BODY = ctypes.CFUNCTYPE(None, ctypes.c_void_p)  # an OpenMP region's body: void fn(void *)


@functools.cache
def _torch_openmp() -> tuple[Any, Any, Any] | None:
    """``GOMP_parallel``, ``omp_get_thread_num`` and ``omp_get_num_threads``
    of the OpenMP runtime whose threads run torch's intra-op parallelism, or
    None: torch built on another threading backend, no threadpoolctl to
    find the runtime, several runtimes loaded and none of them torch's own
    copy, or a runtime without the GNU entry point (libgomp has it since
    GCC 4.9; LLVM's libomp and Intel's libiomp have it too). Looked up once:
    torch, and with it its runtime, is imported before bptt.torch runs."""
    if "parallel backend: OpenMP" not in torch.__config__.parallel_info():
        return None
    if importlib.util.find_spec("threadpoolctl") is None:
        return None
    from threadpoolctl import ThreadpoolController

    paths = [c.filepath for c in ThreadpoolController().select(user_api="openmp").lib_controllers]
    torch_dir = os.path.dirname(os.path.realpath(torch.__file__))
    own = [p for p in paths if os.path.realpath(p).startswith(torch_dir + os.sep)]
    if len(own) != 1 and len(paths) != 1:  # which one torch calls is unknown
        return None
    try:
        runtime = ctypes.CDLL((own or paths)[0])
        parallel = runtime.GOMP_parallel
        thread_num = runtime.omp_get_thread_num
        num_threads = runtime.omp_get_num_threads
    except (OSError, AttributeError):
        return None
    parallel.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
    parallel.restype = None
    thread_num.argtypes = num_threads.argtypes = []
    thread_num.restype = num_threads.restype = ctypes.c_int
    return parallel, thread_num, num_threads


def run_on_torch_threads(work: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """``[work(item) for item in items]`` in one OpenMP parallel region of
    torch's runtime, ``len(items)`` threads: the calling thread and torch's
    intra-op workers (the team may be smaller; its threads then take the
    items in turn). Every item finishes before it returns; then the
    exception of the first item that raised, if any, is raised."""
    openmp = _torch_openmp()
    assert openmp is not None, "run_on_torch_threads without torch's OpenMP runtime"
    parallel, thread_num, num_threads = openmp
    n = len(items)
    results: list[Any] = [None] * n
    errors: dict[int, BaseException] = {}

    def body(_: Any) -> None:  # each thread of the team (ctypes gives it the GIL)
        me, team = thread_num(), num_threads()
        for k in range(me, n, team):
            try:
                results[k] = work(items[k])
            except BaseException as error:  # raised in the caller, below
                errors[k] = error

    callback = _BODY(body)  # alive until the region is over
    parallel(ctypes.cast(callback, ctypes.c_void_p), None, n, 0)
    if errors:
        raise errors[min(errors)]
    return results


def torch_threads() -> contextlib.AbstractContextManager[None]:
    """bptt's loops on torch's threads for the duration of a call (bptt._threads'
    ``running_on``, on this thread): at most ``torch.get_num_threads()`` of
    them, and the rows bptt splits across threads run on torch's OpenMP
    team, not on bptt's own pool.

    After each parallel operation, torch's OpenMP workers keep spinning,
    waiting for the next one (libgomp's default: 300,000 spins, a few
    milliseconds). Threads of bptt's own, started right after a torch
    operation (the embedding before a layer's forward, the head's backward
    before its backward), would share the cores with those spinners, and on
    as many threads as cores would run no faster than on one. On the
    spinning workers themselves, the split starts at once. Without torch's
    OpenMP runtime (see ``_torch_openmp``), bptt's pool runs the rows, still
    on at most torch's count of threads."""
    threads = torch.get_num_threads()
    run = run_on_torch_threads if threads > 1 and _torch_openmp() is not None else None
    return running_on(threads, run)


def needs_grad(*tensors: torch.Tensor | None) -> bool:
    """Whether autograd will want gradients from this call."""
    return torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in tensors)


class Engine:
    """A bptt layer or cell run on a torch module's parameters, by name.

    ``bind(weights)`` hands the kernels numpy views of the tensors (copies
    only where a tensor is not contiguous); it rebuilds the argument lists
    only when some tensor's storage or layout changed since the last call.
    """

    def __init__(self, model: Any, names: tuple[str, ...]) -> None:
        self.model = model
        self.names = names
        self.shapes = tuple(model._params[name].shape for name in names)
        self._key: tuple[tuple[int, bool], ...] | None = None

    def shapes_match(self, weights: Sequence[torch.Tensor]) -> bool:
        return all(tuple(w.shape) == s for w, s in zip(weights, self.shapes, strict=True))

    def bind(self, weights: Sequence[torch.Tensor]) -> None:
        key = tuple((w.data_ptr(), w.is_contiguous()) for w in weights)
        if key == self._key:
            return
        views = {}
        for name, w in zip(self.names, weights, strict=True):
            a = w.detach().numpy()
            views[name] = a if a.flags.c_contiguous else np.ascontiguousarray(a)
        self.model._bind(views)
        # strided parameters were copied: copy them again next call too
        self._key = key if all(w.is_contiguous() for w in weights) else None

    def grads(self) -> list[torch.Tensor]:
        """The gradients the last backward accumulated, as new tensors."""
        grads = self.model._grads
        return [torch.from_numpy(grads[name].copy()) for name in self.names]


def first_derivatives_only(engine: Engine) -> None:
    """Refuse a backward that would record a graph (create_graph=True): bptt's
    backward is not itself differentiable, and a gradient that silently
    carried no graph would drop a gradient penalty's contribution."""
    if torch.is_grad_enabled():
        name = type(engine.model).__name__
        raise RuntimeError(
            f"bptt.torch.{name}: double backward (backward with create_graph=True, e.g. for "
            f"a gradient penalty) is not supported: bptt's kernels give first derivatives; "
            f"use torch.nn.{name} for this model")


def backend_name(backend: str) -> str:
    """Check ``backend`` now (a clear error at construction, not at the first call)."""
    return get_backend(backend).name if backend != "auto" else "auto"


class BpttModule:
    """What every bptt.torch module adds to its torch class: the backend it
    asked for and its engines, one per configuration (dtype and sizes), built
    on first use and never copied or pickled (they hold views of this
    module's tensors; a copy builds its own)."""

    def _bptt_setup(self, backend: str) -> None:
        self._bptt_backend = backend_name(backend)
        self._bptt_engines: dict[tuple[Any, ...], Engine] = {}

    def __getstate__(self) -> dict[str, Any]:
        # a mixin: torch.nn.Module, after it in the MRO, has both
        state = dict(super().__getstate__())  # type: ignore[misc]
        state["_bptt_engines"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)  # type: ignore[misc]
        self._bptt_engines = {}

    @property
    def backend(self) -> str:
        """The backend requested ("auto" picks the fastest installed)."""
        return self._bptt_backend

    def _backend_repr(self) -> str:
        return f", backend={self._bptt_backend!r}" if self._bptt_backend != "auto" else ""

    def _engine_for(self, key: tuple[Any, ...], build: Callable[[], Any],
                    names: tuple[str, ...]) -> Engine:
        engine = self._bptt_engines.get(key)
        if engine is None:
            engine = self._bptt_engines[key] = Engine(build(), names)
        return engine
