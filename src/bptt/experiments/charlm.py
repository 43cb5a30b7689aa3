"""``bptt charlm``: seed 001's GRU character model, trained by truncated BPTT.

B parallel streams read the training text (all but its last 5%) in chunks
of T characters; the hidden state is carried from chunk to chunk (h_n fed
back as h0) and each chunk's backward stops at its start (no carry). The
loss is the mean NLL in nats per character, the optimizer bptt's own (Adam
by default), gradients clipped by global norm. The held-out loss is the
last 5% of the text, read once by the layer in eval mode.

``--resume`` continues bit-identically: a checkpoint holds the parameters,
the optimizer state, the step, the stream positions, the carried state, the
sampling RNG, the loss history and the configuration, so N steps straight
and N/2 + N/2 give the same losses and parameters. Ctrl-C finishes the
step under way, saves a checkpoint and exits.

``CharLMConfig`` holds every setting; ``train_charlm`` takes one (or
keyword overrides), so the other character models (``bptt minchar``) are a
different config, not different code.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import optim
from .._threads import cores
from ._args import (
    BACKENDS,
    COUNT,
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    as_flags,
    checkpoint,
    out_dir,
    text_file,
)
from .charmodel import CELLS, CharModel, blas_threads, load_npz
from .text import (
    DEFAULT_TEXT,
    TextStreams,
    Vocabulary,
    load_text,
    split_held_out,
    stream_windows,
    text_digest,
)

Array = np.ndarray

CHECKPOINT = "checkpoint.npz"
#: A training loss this many times log(vocabulary) (a uniform guess's) means divergence.
DIVERGED = 1000
FORMAT = "bptt.charlm/1"
OPTIMIZERS = ("adam", "adagrad", "sgd")
#: The held-out text is read as this many contiguous streams, state carried.
EVAL_STREAMS = 16


@dataclasses.dataclass
class CharLMConfig:
    """Everything a character-model run depends on.

    The fields in ``RUN_FIELDS`` only say how long to run and what to report;
    a resumed run may change them. The rest define the training itself and a
    resumed run keeps them from its checkpoint.
    """

    name: str = "charlm"
    text_file: str | None = None  # None: the shipped origin_of_species
    model: str = "gru"  # gru (seed 001) | rnn (min-char-rnn) | lstm (seed 004)
    hidden: int = 256
    batch: int = 32
    chunk: int = 100
    lr: float = 3e-3
    optimizer: str = "adam"  # adam | adagrad | sgd
    clip_norm: float | None = 5.0  # global-norm clipping (None: off)
    clip_value: float | None = None  # element-wise clipping to [-v, v] (min-char-rnn: 5)
    reduction: str = "mean"  # mean: nats/char per chunk; sum: min-char-rnn's summed loss
    held_out: float = 0.05  # 0: train on all of the text (min-char-rnn), no held-out loss
    seed: int = 0
    dtype: str = "float32"
    # run fields
    steps: int = 2000
    max_minutes: float | None = 4.75  # None: no time limit
    backend: str = "auto"
    # threads for bptt's loops and its BLAS (None: leave BLAS alone); every
    # core by default: the batch's rows are split across them
    threads: int | None = dataclasses.field(default_factory=cores)
    eval_every: int = 250
    sample_every: int = 250
    sample_length: int = 200
    temperature: float = 0.8
    checkpoint_every: int = 500

    RUN_FIELDS = ("steps", "max_minutes", "backend", "threads", "eval_every", "sample_every",
                  "sample_length", "temperature", "checkpoint_every")

    def __post_init__(self):
        if self.model not in CELLS:
            raise ValueError(f"model must be one of {CELLS}, got {self.model!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {self.reduction!r}")
        for name in ("hidden", "batch", "chunk", "sample_length"):
            if int(getattr(self, name)) < (0 if name == "sample_length" else 1):
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)}")
        if int(self.steps) < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        for name in ("eval_every", "sample_every", "checkpoint_every"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0 (0: never), got {getattr(self, name)}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be finite and > 0, got {self.lr}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError(f"max_minutes must be > 0, got {self.max_minutes}")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be finite and > 0, got {self.temperature}")
        if int(self.threads) < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if int(self.seed) < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.clip_norm is not None and not (math.isfinite(self.clip_norm)
                                               and self.clip_norm > 0):
            raise ValueError(f"clip_norm must be finite and > 0 (or None), got {self.clip_norm}")
        if self.text_file is not None:
            self.text_file = str(self.text_file)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> CharLMConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


# -- helpers ----------------------------------------------------------------------


class _Interrupt:
    """While active, Ctrl-C (SIGINT) only raises a flag the loop checks
    between steps, so a checkpoint is always of a finished step."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def _handler(self, signum, frame):
        if self.requested:  # a second Ctrl-C: stop at once
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _flag(name: str) -> str:
    """The flag of a config field: max_minutes -> --max-minutes."""
    return "--text" if name == "text_file" else "--" + name.replace("_", "-")


def _make_optimizer(config: CharLMConfig, model: CharModel) -> optim.Optimizer:
    if config.optimizer == "adam":
        return optim.Adam(model.modules, lr=config.lr)
    if config.optimizer == "adagrad":
        return optim.Adagrad(model.modules, lr=config.lr)
    return optim.SGD(model.modules, lr=config.lr)


#: The text source recorded when the text itself was passed, not a file.
GIVEN_TEXT = "<given>"


def _text_source(config: CharLMConfig, given: bool = False) -> str:
    if config.text_file is not None:
        return str(Path(config.text_file).resolve())
    return GIVEN_TEXT if given else DEFAULT_TEXT


def held_out_loss(model: CharModel, ids: Array, chunk: int, streams: int = EVAL_STREAMS
                  ) -> float:
    """Mean NLL (nats/char) of ``ids`` read once as ``streams`` contiguous
    streams, the state carried between chunks, the layer in eval mode."""
    total, count, state = 0.0, 0, None
    for inputs, targets in stream_windows(ids, streams, chunk):
        loss, state = model.evaluate(inputs, targets, state, reduction="sum")
        total += loss
        count += targets.size
    return total / max(count, 1)


def plot_losses(path: Path, history: dict, title: str) -> Path | None:
    """Train loss per step (and its running mean) and held-out loss vs step."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        print("matplotlib is not installed: no loss plot", file=sys.stderr)
        return None
    fig = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    steps, train = np.asarray(history["step"]), np.asarray(history["train_loss"])
    if steps.size:
        ax.plot(steps, train, color="tab:blue", alpha=0.25, linewidth=0.8)
        window = max(1, min(50, steps.size // 10))
        smooth = np.convolve(train, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1 :], smooth, color="tab:blue", label="train (running mean)")
    if len(history["eval_step"]):
        ax.plot(history["eval_step"], history["eval_loss"], "o-", color="tab:orange",
                label="held-out")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats per character)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


# -- the trainer --------------------------------------------------------------------


class CharLMTrainer:
    """One training run: build (or restore) everything, then ``run()``."""

    #: Written into checkpoints; ``resume`` accepts only its own format.
    checkpoint_format = FORMAT
    #: Whether the message after Ctrl-C suggests ``--resume``.
    resumable = True

    def __init__(self, config: CharLMConfig, out: str | Path, *, text: str | None = None,
                 progress: bool = True, log: Callable[[str], None] | None = None):
        self.config = config
        self.out = Path(out)
        if self.out.exists() and not self.out.is_dir():
            raise ValueError(f"out {str(out)!r} is a file, not a directory")
        self.progress = progress
        self._log = log
        self.source = _text_source(config, given=text is not None)
        if text is None:
            text = load_text(config.text_file)
        self.text = text
        self.digest = text_digest(text)
        self.split = (len(text) if config.held_out == 0
                      else split_held_out(len(text), config.held_out))
        self.vocab = Vocabulary.from_text(text)
        ids = self.vocab.encode(text)
        self.train_ids, self.held_ids = ids[: self.split], ids[self.split :]
        seeds = np.random.SeedSequence(config.seed).spawn(2)
        self.model = self.build_model(np.random.default_rng(seeds[0]))
        self.optimizer = self.build_optimizer()
        self.streams = TextStreams(self.train_ids, config.batch, config.chunk)
        self.sample_rng = np.random.default_rng(seeds[1])
        self.state: tuple[Array, ...] | None = None
        self.step = 0
        self.history: dict[str, list] = {"step": [], "train_loss": [], "eval_step": [],
                                         "eval_loss": []}
        self.totals = {"train_seconds": 0.0, "wall_seconds": 0.0, "chars": 0}

    def build_model(self, rng: np.random.Generator) -> CharModel:
        """The model before training (torch's uniform init). A subclass may
        override this to initialise differently (min-char-rnn: randn * 0.01);
        a resumed run then overwrites the parameters from its checkpoint."""
        c = self.config
        return CharModel(self.vocab, c.hidden, c.model, backend=c.backend, dtype=c.dtype,
                         rng=rng)

    def build_optimizer(self) -> optim.Optimizer:
        """``config.optimizer`` over ``self.model`` (torch's update rules). A
        subclass may override this (min-char-rnn's Adagrad); a resumed run
        then loads the optimizer's state from its checkpoint."""
        return _make_optimizer(self.config, self.model)

    # -- checkpoints ----------------------------------------------------------------

    @property
    def checkpoint_path(self) -> Path:
        return self.out / CHECKPOINT

    def save(self) -> Path:
        arrays = {f"optim/{k}": v for k, v in self.optimizer.state_dict()["state"].items()}
        if self.state is not None:
            arrays.update({f"state/{i}": s for i, s in enumerate(self.state)})
        arrays["history/step"] = np.asarray(self.history["step"], dtype=np.int64)
        arrays["history/train_loss"] = np.asarray(self.history["train_loss"], dtype=np.float64)
        arrays["history/eval_step"] = np.asarray(self.history["eval_step"], dtype=np.int64)
        arrays["history/eval_loss"] = np.asarray(self.history["eval_loss"], dtype=np.float64)
        opt = self.optimizer.state_dict()
        meta = {
            "format": self.checkpoint_format,
            "config": self.config.to_dict(),
            "step": self.step,
            "streams": self.streams.state_dict(),
            "optimizer": {"kind": self.config.optimizer, "steps": opt["steps"], "lr": opt["lr"]},
            "sample_rng": self.sample_rng.bit_generator.state,
            "text": {"source": self.source, "sha256": self.digest,
                     "chars": len(self.text), "split": self.split},
            "totals": self.totals,
        }
        return self.model.save(self.checkpoint_path, arrays=arrays, meta=meta)

    @classmethod
    def resume(cls, checkpoint: str | Path, *, out: str | Path | None = None,
               overrides: dict | None = None, text: str | None = None, progress: bool = True,
               log: Callable[[str], None] | None = None) -> CharLMTrainer:
        """A trainer restored from ``checkpoint`` (a file, or a run directory).

        ``overrides`` may change the run fields (``steps``, ``max_minutes``, ...);
        any other field must equal the checkpoint's.
        """
        arrays, meta = load_npz(checkpoint)
        if meta.get("format") != cls.checkpoint_format:
            raise ValueError(f"{str(checkpoint)!r} is not a {cls.checkpoint_format} training "
                             f"checkpoint (format {meta.get('format')!r})")
        try:
            return cls._restore(checkpoint, arrays, meta, out, overrides, text, progress, log)
        except (KeyError, TypeError, IndexError, AttributeError) as exc:
            raise ValueError(f"{str(checkpoint)!r} is a damaged checkpoint ({type(exc).__name__}:"
                             f" {exc})") from None

    @classmethod
    def _restore(cls, checkpoint, arrays, meta, out, overrides, text, progress, log):
        """``resume`` past the format check; every field is checked as it is read."""
        step = meta["step"]
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"{str(checkpoint)!r} is a damaged checkpoint (step {step!r})")
        saved = meta["config"]
        for key, value in (overrides or {}).items():
            if key not in CharLMConfig.RUN_FIELDS and key in saved and saved[key] != value:
                changeable = ", ".join(_flag(name) for name in CharLMConfig.RUN_FIELDS)
                raise ValueError(f"--resume keeps the checkpoint's {key}={saved[key]!r}; "
                                 f"got {key}={value!r} (only {changeable} may change)")
        config = CharLMConfig.from_dict({**saved, **(overrides or {})})
        source = meta["text"]["source"]
        if text is None:
            if source == GIVEN_TEXT:
                raise ValueError("this checkpoint was trained on a text passed directly; "
                                 "pass the same text again (text=...)")
            text = load_text(None if source == DEFAULT_TEXT else source)
        if text_digest(text) != meta["text"]["sha256"]:
            raise ValueError("the text differs from the one this checkpoint was trained on "
                             f"({meta['text']['source']}, sha256 {meta['text']['sha256'][:12]}...)")
        if out is None:
            out = Path(checkpoint) if Path(checkpoint).is_dir() else Path(checkpoint).parent
        trainer = cls(config, out, text=text, progress=progress, log=log)
        trainer.source = source
        try:
            trainer._load_state(arrays, meta)
        except ValueError as exc:
            raise ValueError(f"{str(checkpoint)!r} is a damaged checkpoint ({exc})") from None
        trainer.step = step
        for key in trainer.history:
            trainer.history[key] = arrays[f"history/{key}"].tolist()
        if (len(trainer.history["step"]) != len(trainer.history["train_loss"])
                or len(trainer.history["eval_step"]) != len(trainer.history["eval_loss"])):
            raise ValueError(f"{str(checkpoint)!r} is a damaged checkpoint (its loss history's "
                             "columns differ in length)")
        trainer.totals = dict(meta["totals"])
        return trainer

    def _load_state(self, arrays, meta) -> None:
        """The model, optimizer, streams, carried state and sampler from a checkpoint."""
        model_arrays = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
        self.model.load_state_dict(model_arrays)
        self.optimizer.load_state_dict({
            "steps": meta["optimizer"]["steps"], "lr": meta["optimizer"]["lr"],
            "state": {k[len("optim/"):]: v for k, v in arrays.items() if k.startswith("optim/")},
        })
        self.streams.load_state_dict(meta["streams"])
        states = sorted(k for k in arrays if k.startswith("state/"))
        self.state = tuple(arrays[k] for k in states) if states else None
        self.sample_rng.bit_generator.state = meta["sample_rng"]

    # -- reporting --------------------------------------------------------------------

    def log(self, message: str) -> None:
        if self._log is not None:
            self._log(message)
        else:
            print(message, flush=True)

    def sample(self) -> str:
        """``sample_length`` characters after a random 10-character piece of
        the training text, drawn at ``temperature``."""
        start = int(self.sample_rng.integers(0, max(1, self.split - 10)))
        prime = self.text[start : start + 10]
        generated = self.model.generate(prime, self.config.sample_length, greedy=False,
                                        temperature=self.config.temperature,
                                        rng=self.sample_rng)
        return prime + generated

    def sample_report(self) -> str:
        """What is printed every ``sample_every`` steps."""
        return f"--- step {self.step}, sample ---\n{self.sample()}\n---"

    def evaluate(self) -> float | None:
        """The held-out loss (None without held-out text), recorded in the history."""
        if not self.held_ids.size:
            return None
        loss = held_out_loss(self.model, self.held_ids, self.config.chunk)
        if not self.history["eval_step"] or self.history["eval_step"][-1] != self.step:
            self.history["eval_step"].append(self.step)
            self.history["eval_loss"].append(loss)
        return loss

    def plot(self) -> Path | None:
        """Write ``loss.png`` to the output directory."""
        return plot_losses(self.out / "loss.png", self.history, self.title())

    def title(self) -> str:
        c = self.config
        source = Path(self.source).name if c.text_file is not None else self.source
        return (f"{c.name}: {c.model.upper()} hidden {c.hidden}, batch {c.batch}, "
                f"chunk {c.chunk}, on {source}")

    # -- the loop -----------------------------------------------------------------------

    def run(self, on_step: Callable[[CharLMTrainer], None] | None = None) -> dict:
        """Train up to ``config.steps`` (or ``max_minutes``), then evaluate,
        checkpoint, plot and write ``result.json``; return the result."""
        with blas_threads(self.config.threads, self.log):
            return self._run(on_step)

    def _run(self, on_step) -> dict:
        c = self.config
        self.out.mkdir(parents=True, exist_ok=True)
        self.log(f"{self.title()}; {len(self.train_ids):,} training and {len(self.held_ids):,} "
                 f"held-out characters, vocabulary {len(self.vocab)}, backend "
                 f"{self.model.backend}, {c.dtype}; steps {self.step}..{c.steps}")
        wall_start = time.perf_counter()
        deadline = wall_start + (math.inf if c.max_minutes is None else 60.0 * c.max_minutes)
        start_step, train_seconds = self.step, 0.0
        stopped = "completed"
        bar = self._bar()
        # what exists now (the text, the imported libraries) lives to the end:
        # kept out of the collector's full passes, which would walk it again
        # and again over a run (3-5% of a training step in a profile)
        gc.freeze()
        try:
            with _Interrupt() as interrupt:
                while self.step < c.steps:
                    t0 = time.perf_counter()
                    loss = self._train_step()
                    train_seconds += time.perf_counter() - t0
                    self.totals["chars"] += c.batch * c.chunk
                    if not math.isfinite(loss) or loss > DIVERGED * math.log(len(self.vocab)):
                        # a guess at uniform costs log V; this far beyond it, training broke
                        stopped = "diverged"
                        self.log(f"step {self.step}: the loss is {loss:.4g} nats per character; "
                                 "training diverged, stopping (try a smaller --lr)")
                        break
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
                    if (c.eval_every and self.step % c.eval_every == 0 and self.step < c.steps
                            and self.held_ids.size):
                        self._report_eval(bar)
                    if c.sample_every and self.step % c.sample_every == 0:
                        self._write(bar, self.sample_report())
                    if c.checkpoint_every and self.step % c.checkpoint_every == 0:
                        self.save()
                    if on_step is not None:
                        on_step(self)
                    if interrupt.requested:
                        stopped = "interrupted"
                        break
                    if time.perf_counter() > deadline and self.step < c.steps:
                        stopped = "time limit"
                        self._write(bar, f"--max-minutes {c.max_minutes} reached at step "
                                         f"{self.step} of {c.steps}: stopping")
                        break
        finally:
            gc.unfreeze()
            if bar is not None:
                bar.close()
        self.totals["train_seconds"] += train_seconds
        if stopped == "interrupted":
            self.totals["wall_seconds"] += time.perf_counter() - wall_start
            path = self.save()
            self.plot()
            hint = f"; continue with --resume {path}" if self.resumable else ""
            self.log(f"interrupted at step {self.step}: checkpoint saved to {path}{hint}")
            return {"status": stopped, "step": self.step, "checkpoint": str(path)}
        held = self.evaluate() if stopped != "diverged" else None
        self.totals["wall_seconds"] += time.perf_counter() - wall_start
        path = self.save()
        self.plot()
        steps_run = self.step - start_step
        result = {
            "status": stopped,
            "held_out_loss": held,
            "held_out_unit": "nats per character",
            "train_loss": (float(np.mean(self.history["train_loss"][-50:]))
                           if self.history["train_loss"] else None),
            "chars_per_second": (c.batch * c.chunk * steps_run / train_seconds
                                 if train_seconds > 0 else None),
            "wall_seconds": self.totals["wall_seconds"],
            "train_seconds": self.totals["train_seconds"],
            "steps": self.step,
            "steps_this_run": steps_run,
            "characters_trained": self.totals["chars"],
            "epochs": self.totals["chars"] / max(len(self.train_ids), 1),
            "backend": self.model.backend,
            "vocabulary": len(self.vocab),
            "parameters": int(sum(p.size for p in self.model.parameters().values())),
            "text": {"source": self.source, "chars": len(self.text),
                     "train_chars": len(self.train_ids), "held_out_chars": len(self.held_ids)},
            "checkpoint": str(path),
            "config": c.to_dict(),
        }
        (self.out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
        shown = "n/a" if held is None else f"{held:.4f}"
        shown = f"held-out loss {shown} nats/char, " if self.held_ids.size else ""
        self.log(f"{stopped} at step {self.step}: {shown}"
                 f"{result['chars_per_second'] or 0:,.0f} chars/s, "
                 f"wall {self.totals['wall_seconds']:.1f} s; wrote {self.out}")
        return result

    def _train_step(self) -> float:
        c = self.config
        inputs, targets, reset = self.streams.next_chunk()
        if reset:
            self.state = None
        self.model.zero_grad()
        loss, self.state = self.model.loss_and_grad(inputs, targets, self.state,
                                                    reduction=c.reduction)
        if c.clip_value is not None:
            optim.clip_grad_value(self.model.modules, c.clip_value)
        if c.clip_norm is not None:
            optim.clip_grad_norm(self.model.modules, c.clip_norm)
        self.optimizer.step()
        self.step += 1
        if c.reduction == "sum":
            loss /= targets.size  # history and reports are per character
        self.history["step"].append(self.step)
        self.history["train_loss"].append(loss)
        return loss

    def _report_eval(self, bar) -> None:
        loss = self.evaluate()
        recent = self.history["train_loss"][-self.config.eval_every:]
        self._write(bar, f"step {self.step}: train {np.mean(recent):.4f}, "
                         f"held-out {loss:.4f} nats/char")

    def _bar(self):
        if not self.progress:
            return None
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return None
        return tqdm(total=self.config.steps, initial=self.step, desc=self.config.name,
                    unit="step", dynamic_ncols=True)

    def _write(self, bar, message: str) -> None:
        if bar is not None:
            bar.write(message)
            if self._log is not None:
                self._log(message)
        else:
            self.log(message)


def train_charlm(config: CharLMConfig | None = None, *, out: str | Path | None = None,
                 text: str | None = None, resume: str | Path | None = None,
                 progress: bool = True, on_step: Callable | None = None,
                 overwrite: bool = False, **overrides) -> dict:
    """Train a character model and return its result (as ``result.json``).

    ``config`` defaults to ``CharLMConfig()`` (the seed 001 GRU on the shipped
    text); keyword ``overrides`` change single fields, e.g.
    ``train_charlm(hidden=64, steps=100, out="/tmp/run")``. ``text`` passes
    the text itself instead of a file (``text_file=``). ``resume`` continues from a checkpoint
    (then only the run fields may be overridden). ``out`` defaults to
    ``runs/charlm``, or the checkpoint's directory when resuming.
    ``on_step(trainer)`` is called after every step. A fresh run refuses an
    ``out`` that already holds a checkpoint unless ``overwrite=True``.
    """
    if resume is None and not overwrite:
        existing = Path(out or "runs/charlm") / CHECKPOINT
        if existing.is_file():
            raise ValueError(
                f"out {str(existing.parent)!r} already holds a checkpoint; continue it with "
                f"--resume {existing.parent}, or pass --overwrite to start afresh")
    if resume is not None:
        trainer = CharLMTrainer.resume(resume, out=out, overrides=overrides, text=text,
                                       progress=progress)
    else:
        config = dataclasses.replace(config or CharLMConfig(), **overrides)
        trainer = CharLMTrainer(config, out or "runs/charlm", text=text, progress=progress)
    return trainer.run(on_step=on_step)


# -- command line -------------------------------------------------------------------------

_D = CharLMConfig()


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "charlm",
        help="train seed 001's GRU character model (or an RNN/LSTM) on a text",
        description=(
            "Train a character-level language model by truncated BPTT: seed 001's GRU "
            "(bptt.GRU(variant='seed')) with a log-softmax read-out, on On the Origin of "
            "Species (shipped) or --text FILE. B streams, chunks of T steps, state carried. "
            "Writes checkpoint.npz, loss.png and result.json (held-out loss on the last 5% "
            "of the text, in nats per character) to --out. Ctrl-C saves a checkpoint; "
            "--resume continues it bit-identically."
        ),
    )
    p.add_argument("--text", dest="text_file", metavar="FILE", type=text_file,
                   help="train on this UTF-8 text file instead of the shipped On the Origin of "
                   "Species")
    p.add_argument("--model", choices=CELLS, help=f"the recurrent cell (default {_D.model})")
    p.add_argument("--hidden", type=POSITIVE_INT, help=f"hidden units (default {_D.hidden})")
    p.add_argument("--batch", type=POSITIVE_INT, help=f"parallel streams B (default {_D.batch})")
    p.add_argument("--chunk", type=POSITIVE_INT, help=f"BPTT chunk length T (default {_D.chunk})")
    p.add_argument("--steps", type=COUNT, help=f"training steps, one chunk each "
                   f"(default {_D.steps})")
    p.add_argument("--lr", type=POSITIVE, help=f"learning rate (default {_D.lr})")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help=f"default {_D.optimizer}")
    p.add_argument("--clip-norm", type=NON_NEGATIVE, help=f"clip gradients to this global norm "
                   f"(default {_D.clip_norm}; 0 turns it off)")
    p.add_argument("--max-minutes", type=POSITIVE, help=f"stop training after this many minutes "
                   f"(default {_D.max_minutes})")
    p.add_argument("--backend", choices=BACKENDS, help=f"kernel backend (default {_D.backend})")
    p.add_argument("--dtype", choices=("float32", "float64"), help=f"default {_D.dtype}")
    p.add_argument("--threads", type=POSITIVE_INT, help=f"threads while training, for "
                   f"bptt's loops and its BLAS (default {_D.threads})")
    p.add_argument("--eval-every", type=COUNT, help=f"held-out loss every N steps "
                   f"(default {_D.eval_every}; 0: only at the end)")
    p.add_argument("--sample-every", type=COUNT, help=f"print a sample every N steps "
                   f"(default {_D.sample_every}; 0: never)")
    p.add_argument("--sample-length", type=COUNT, help=f"characters per sample "
                   f"(default {_D.sample_length})")
    p.add_argument("--temperature", type=POSITIVE, help=f"sampling temperature "
                   f"(default {_D.temperature})")
    p.add_argument("--checkpoint-every", type=COUNT, help=f"save a checkpoint every N steps "
                   f"(default {_D.checkpoint_every}; 0: only at the end)")
    p.add_argument("--seed", type=COUNT, help=f"initialisation and sampling seed "
                   f"(default {_D.seed})")
    p.add_argument("--out", metavar="DIR", type=out_dir, help="output directory (default "
                   "runs/charlm; with --resume, the checkpoint's directory)")
    p.add_argument("--resume", metavar="CHECKPOINT", type=checkpoint, help="continue from "
                   "this checkpoint (a checkpoint.npz or its directory)")
    p.add_argument("--overwrite", action="store_true", help="start afresh even if --out "
                   "already holds a checkpoint (which is then replaced)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


_FLAG_FIELDS = ("text_file", "model", "hidden", "batch", "chunk", "steps", "lr", "optimizer",
                "clip_norm", "max_minutes", "backend", "dtype", "threads", "eval_every",
                "sample_every", "sample_length", "temperature", "checkpoint_every", "seed")


#: Config fields, and the words load_text and the trainer use, as the flags that set them.
_FLAGS = {**{name: _flag(name) for name in _FLAG_FIELDS}, "out": "--out", "text file": "--text"}


def _as_flags(message: str) -> str:
    """A message about config fields in the command line's words, on one line."""
    return as_flags(message, _FLAGS)


def run_cli(args: argparse.Namespace) -> int:
    overrides = {k: getattr(args, k) for k in _FLAG_FIELDS if getattr(args, k, None) is not None}
    if overrides.get("clip_norm") == 0:
        overrides["clip_norm"] = None
    try:
        result = train_charlm(out=args.out, resume=args.resume, progress=not args.no_progress,
                              overwrite=args.overwrite,
                              **overrides)
    except (ValueError, TypeError, OSError, MemoryError) as exc:
        print(f"bptt charlm: error: {_as_flags(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a second Ctrl-C, or one outside the training loop
        print("bptt charlm: stopped; the last checkpoint saved (if any) is in --out",
              file=sys.stderr)
        return 130
    if result["status"] == "interrupted":
        return 130
    return 0 if result["status"] in ("completed", "time limit") else 1
