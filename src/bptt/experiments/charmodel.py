"""``CharModel``: a character-level language model made of bptt parts.

One recurrent layer over one-hot characters, then a log-softmax read-out
(seed 001: y_t = log_softmax(h_t V + b_y)):

    x_t = onehot(c_t)                        # (T, B, V)
    h_t = cell(x_t, h_{t-1})                 # bptt.GRU(variant="seed") / RNN / LSTM
    y_t = log_softmax(h_t W^T + b)           # bptt.Linear(H, V), (T, B, V)
    L   = -sum_t y_t[c_{t+1}]  (or the mean) # nats

``cell``: "gru" (seed 001's GRU, with biases), "rnn" (min-char-rnn's tanh
Elman RNN) or "lstm" (seed 004). The one-hot input keeps the model exactly
the seeds', but no one-hot array is made: the layer takes the character ids
(``_forward_ids``), so the input projection x_t W^T is a copy of W's column
c_t (the same numbers as the product) and its weight gradient a sum into
those columns, where the product would cost (T*B) V G*H multiply-adds each
way, a sixth of a training step's at hidden 256.

Checkpoints are ``.npz`` files read with ``allow_pickle=False``: named
arrays plus one JSON string (``save_npz`` / ``load_npz``), so loading one
never runs code.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from .. import losses
from .._validation import check_dtype, check_rng, check_size
from ..layers import GRU, LSTM, RNN
from ..linear import Linear
from .text import Vocabulary

Array = np.ndarray

CELLS = ("gru", "rnn", "lstm")
_META = "__meta__"


# -- BLAS threads ---------------------------------------------------------------


def blas_threads(threads: int | None = 1, log: Callable[[str], None] | None = print):
    """Context manager: bptt's own loops and its BLAS (the one its compiled
    kernels call, scipy's) limited to ``threads`` and every other BLAS
    (numpy's, which only the small read-out products use) to one, if
    threadpoolctl is installed; None leaves them alone. numpy and scipy each
    bring their own OpenBLAS: given N threads each, their pools spin against
    each other on N cores (measured on 2 cores: --threads 2 at half the speed
    of --threads 1)."""
    if threads is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        if log is not None:
            log("threadpoolctl is not installed, so BLAS keeps its own thread count "
                "(OPENBLAS_NUM_THREADS=1 in the environment is usually faster)")
        return contextlib.nullcontext()
    from .._threads import all_blas, kernels_blas
    from .._threads import using as using_threads

    ours = kernels_blas()  # scipy's: the one bptt's kernels call
    others = [c.filepath for c in all_blas() if c is not ours]
    blas = ThreadpoolController().select(user_api="blas")
    stack = contextlib.ExitStack()
    # bptt's own loops get the threads too (its default would follow the
    # fewest any BLAS has, numpy's one)
    stack.enter_context(using_threads(int(threads)))
    stack.enter_context(blas.select(filepath=[ours.filepath]).limit(limits=int(threads)))
    if others:  # numpy's copy (numpy.libs); where one BLAS serves both, none
        stack.enter_context(blas.select(filepath=others).limit(limits=1))
    return stack


# -- pickle-free checkpoint files ---------------------------------------------


def save_npz(path: str | Path, arrays: Mapping[str, Array], meta: Mapping) -> Path:
    """Write named arrays and a JSON-serialisable ``meta`` to an ``.npz`` file.

    The file is written next to its destination and then renamed over it, so
    an interruption never leaves a half-written checkpoint behind.
    """
    path = Path(path)
    if _META in arrays:
        raise ValueError(f"{_META!r} is reserved for the metadata")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **{_META: np.array(json.dumps(meta))}, **arrays)
        f.flush()
        os.fsync(f.fileno())          # the bytes are on disk before the name points at them
    os.replace(tmp, path)
    _fsync_directory(path.parent)     # and the rename itself survives a crash
    return path


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows, where directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_npz(path: str | Path) -> tuple[dict[str, Array], dict]:
    """(arrays, meta) from a file written by ``save_npz``; never unpickles."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.npz"
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise ValueError("it holds one array, not a checkpoint's named arrays")
            if _META not in data.files:
                raise ValueError(f"it has no {_META!r}")
            meta = json.loads(str(data[_META]))
            arrays = {k: data[k] for k in data.files if k != _META}
    except Exception as exc:  # a damaged or foreign file: zip, zlib, npy, JSON errors
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "allow_pickle" in reason or "pickled" in reason:
            reason = "it is not an .npz archive"
        raise ValueError(f"{str(path)!r} is not a readable bptt checkpoint ({reason})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{str(path)!r} is not a readable bptt checkpoint (its metadata is "
                         f"a {type(meta).__name__}, not a mapping)")
    return arrays, meta


# -- the model ------------------------------------------------------------------


class CharModel:
    """Recurrent layer + log-softmax read-out over a ``Vocabulary``.

    ``forward(inputs (T, B) ids, state) -> (log_probs (T, B, V), state)`` and
    ``backward(dlog_probs)`` (gradients added into the layer's and read-out's
    ``grads``; each backward consumes the one forward before it).
    ``loss_and_grad`` does both with the NLL in between; ``evaluate`` is the
    loss alone. A state is a tuple: ``(h,)`` for gru and rnn, ``(h, c)`` for
    lstm, each (1, B, H); None means zeros.
    """

    def __init__(
        self,
        vocab: Vocabulary | str,
        hidden_size: int,
        cell: str = "gru",
        *,
        backend: str = "auto",
        dtype=np.float32,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
    ):
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        self.vocab = vocab if isinstance(vocab, Vocabulary) else Vocabulary(vocab)
        self.hidden_size = check_size("hidden_size", hidden_size)
        self.cell = cell
        self.dtype = check_dtype(dtype)
        rng = check_rng(seed, rng)
        V, H = len(self.vocab), self.hidden_size
        options = {"backend": backend, "dtype": self.dtype, "rng": rng}
        if cell == "gru":
            self.layer = GRU(V, H, variant="seed", **options)
        elif cell == "rnn":
            self.layer = RNN(V, H, nonlinearity="tanh", **options)
        else:
            self.layer = LSTM(V, H, **options)
        self.readout = Linear(H, V, dtype=self.dtype, rng=rng)
        self._pending: Array | None = None  # log_probs (T, B, V) awaiting backward

    # -- parameters -------------------------------------------------------------

    @property
    def modules(self) -> list:
        """[layer, readout]: what optimizers and clipping take."""
        return [self.layer, self.readout]

    @property
    def backend(self) -> str:
        return self.layer.backend

    @property
    def training(self) -> bool:
        return self.layer.training

    def train(self, mode: bool = True) -> CharModel:
        """Training mode keeps what backward needs (the default)."""
        if not mode:
            self._pending = None
        self.layer.train(mode)
        return self

    def eval(self) -> CharModel:
        return self.train(False)

    def zero_grad(self) -> None:
        for m in self.modules:
            m.zero_grad()

    def parameters(self) -> dict[str, Array]:
        """The live parameter arrays, ``layer.<name>`` and ``readout.<name>``."""
        return {f"{prefix}.{k}": v for prefix, m in self._named() for k, v in
                m.parameters().items()}

    @property
    def grads(self) -> dict[str, Array]:
        return {f"{prefix}.{k}": v for prefix, m in self._named() for k, v in m.grads.items()}

    def state_dict(self) -> dict[str, Array]:
        return {k: v.copy() for k, v in self.parameters().items()}

    def load_state_dict(self, state: Mapping[str, Array]) -> None:
        for prefix, m in self._named():
            part = {k[len(prefix) + 1 :]: v for k, v in state.items()
                    if k.startswith(prefix + ".")}
            m.load_state_dict(part)
        known = set(self.parameters())
        unexpected = sorted(set(state) - known)
        if unexpected:
            raise ValueError(f"unexpected CharModel parameters {unexpected}")

    def _named(self):
        return (("layer", self.layer), ("readout", self.readout))

    def config(self) -> dict:
        """What ``from_config`` needs to rebuild the architecture."""
        return {"cell": self.cell, "hidden_size": self.hidden_size,
                "vocab": self.vocab.chars, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config: Mapping, *, backend: str = "auto") -> CharModel:
        return cls(config["vocab"], config["hidden_size"], config["cell"], backend=backend,
                   dtype=config["dtype"], seed=0)

    def __repr__(self) -> str:
        return (f"CharModel(cell={self.cell!r}, vocab={len(self.vocab)}, "
                f"hidden_size={self.hidden_size}, backend={self.backend!r}, "
                f"dtype={self.dtype.name})")

    # -- states -----------------------------------------------------------------

    def initial_state(self, batch: int) -> tuple[Array, ...]:
        """Zeros: (h,) or, for lstm, (h, c); each (1, B, H)."""
        shape = (1, batch, self.hidden_size)
        count = 2 if self.cell == "lstm" else 1
        return tuple(np.zeros(shape, dtype=self.dtype) for _ in range(count))

    # -- forward and backward ---------------------------------------------------

    def _ids(self, inputs) -> Array:
        ids = np.asarray(inputs)
        if ids.dtype.kind not in "iu" or ids.ndim != 2:
            raise ValueError(f"inputs must be a 2-D (T, B) integer array of character ids, "
                             f"got {ids.dtype} of shape {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.vocab)):
            raise ValueError(f"character ids must lie in 0..{len(self.vocab) - 1}")
        return ids

    def forward(self, inputs, state=None) -> tuple[Array, tuple[Array, ...]]:
        """inputs (T, B) ids, state -> log_probs (T, B, V), the state after step T."""
        ids = self._ids(inputs)
        if self.training and self._pending is not None:
            raise ValueError("CharModel.forward() in training mode while the previous "
                             "forward still awaits its backward(); call backward() first, "
                             "or use eval() (or evaluate()) for forward passes alone")
        names = ("h0", "c0") if self.cell == "lstm" else ("h0",)
        if state is None:
            state = (None,) * len(names)
        elif not isinstance(state, (tuple, list)) or len(state) != len(names):
            raise ValueError(f"state must be a tuple of {len(names)} arrays "
                             f"({', '.join(names)}) or None, got {_describe(state)}")
        # x_t = onehot(c_t), given to the layer as the ids themselves
        output, finals = self.layer._forward_ids(ids, list(zip(names, state, strict=True)))
        state = tuple(finals)
        log_probs = losses.log_softmax(self.readout.forward(output))  # (T, B, V)
        if self.training:
            self._pending = log_probs
        return log_probs, state

    def backward(self, dlog_probs) -> None:
        """dL/d(log_probs) (T, B, V) in; parameter gradients added (no carry
        through the final state: truncated BPTT)."""
        if self._pending is None:
            raise ValueError("CharModel.backward() needs a forward() in training mode first")
        log_probs, self._pending = self._pending, None
        dlogits = losses.log_softmax_backward(dlog_probs, log_probs)  # (T, B, V)
        doutput = self.readout.backward(dlogits)  # (T, B, H)
        # the one-hot input needs no gradient: the layer leaves out dx's product
        states = ("h", "c") if self.cell == "lstm" else ("h",)
        self.layer._backward(doutput, [(f"d_{s}_n", None) for s in states], want_dx=False)

    def loss_and_grad(self, inputs, targets, state=None, *, reduction: str = "mean"
                      ) -> tuple[float, tuple[Array, ...]]:
        """Forward, NLL of ``targets`` (T, B), backward: (loss, state after the chunk).
        ``reduction="mean"`` gives nats per character."""
        log_probs, state = self.forward(inputs, state)
        loss, dlog_probs = losses.nll_loss(log_probs, targets, reduction=reduction)
        self.backward(dlog_probs)
        return loss, state

    def evaluate(self, inputs, targets, state=None, *, reduction: str = "mean"
                 ) -> tuple[float, tuple[Array, ...]]:
        """The loss alone, in eval mode (no cache, no gradients)."""
        with _mode(self, False):
            log_probs, state = self.forward(inputs, state)
        loss, _ = losses.nll_loss(log_probs, targets, reduction=reduction)
        return loss, state

    # -- generation -------------------------------------------------------------

    def generate(self, prime: str, n: int, *, greedy: bool = True, temperature: float = 1.0,
                 rng: np.random.Generator | None = None, state=None) -> str:
        """Read ``prime``, then write ``n`` characters, each fed back as the
        next input: the most likely one (``greedy``) or one drawn from
        softmax(log_probs / temperature) with ``rng``."""
        return self.generate_batch([prime], n, greedy=greedy, temperature=temperature,
                                   rng=rng, state=state)[0]

    def generate_batch(self, primes: Sequence[str], n: int, *, greedy: bool = True,
                       temperature: float = 1.0, rng: np.random.Generator | None = None,
                       state=None) -> list[str]:
        """``generate`` for several primes of one length at once, one batch row each."""
        primes = list(primes)
        if not primes or any(len(p) != len(primes[0]) for p in primes) or not primes[0]:
            raise ValueError("primes must be non-empty strings, all of one length")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if not greedy and not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not greedy and rng is None:
            rng = np.random.default_rng()
        ids = np.stack([self.vocab.encode(p) for p in primes], axis=1)  # (P, B)
        out = np.empty((n, len(primes)), dtype=np.int64)
        with _mode(self, False):
            log_probs, state = self.forward(ids, state)
            last = log_probs[-1]  # (B, V)
            for t in range(n):
                out[t] = self._choose(last, greedy, temperature, rng)
                if t + 1 < n:
                    log_probs, state = self.forward(out[t : t + 1], state)
                    last = log_probs[0]
        return [self.vocab.decode(out[:, b]) for b in range(len(primes))]

    @staticmethod
    def _choose(log_probs: Array, greedy: bool, temperature: float, rng) -> Array:
        """(B, V) log-probabilities -> (B,) character ids."""
        if greedy:
            return log_probs.argmax(axis=1)
        p = np.exp(losses.log_softmax(log_probs.astype(np.float64) / temperature))
        cdf = np.cumsum(p, axis=1)
        u = rng.random(p.shape[0])[:, None] * cdf[:, -1:]
        return np.minimum((cdf <= u).sum(axis=1), p.shape[1] - 1)

    # -- files ------------------------------------------------------------------

    def save(self, path: str | Path, *, arrays: Mapping[str, Array] | None = None,
             meta: Mapping | None = None) -> Path:
        """Write the model (``model/...`` arrays, ``meta["model"]``) plus any
        extra arrays and metadata to one ``.npz``."""
        payload = {f"model/{k}": v for k, v in self.parameters().items()}
        payload.update(arrays or {})
        return save_npz(path, payload, {**(meta or {}), "model": self.config()})

    @classmethod
    def load(cls, path: str | Path, *, backend: str = "auto") -> CharModel:
        """The model from a file written by ``save`` (or a training checkpoint;
        a directory means its ``checkpoint.npz``)."""
        arrays, meta = load_npz(path)
        if "model" not in meta:
            raise ValueError(f"{str(path)!r} holds no CharModel (its metadata has no 'model')")
        model = cls.from_config(meta["model"], backend=backend)
        model.load_state_dict({k[len("model/"):]: v for k, v in arrays.items()
                               if k.startswith("model/")})
        return model


def _describe(value) -> str:
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return f"a {type(value).__name__}"


class _mode:
    """Context manager: the model in train/eval mode, the previous mode restored after."""

    def __init__(self, model: CharModel, training: bool):
        self.model, self.training = model, training

    def __enter__(self):
        self.previous = self.model.training
        if self.previous != self.training:
            if self.previous and self.model._pending is not None:
                raise ValueError("a training-mode forward still awaits its backward()")
            self.model.train(self.training)

    def __exit__(self, *exc):
        if self.model.training != self.previous:
            self.model.train(self.previous)
