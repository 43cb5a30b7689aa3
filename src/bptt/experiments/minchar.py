"""``bptt minchar``: min-char-rnn (seed 004) on bptt's ``RNN``; ``--model lstm``
runs seed 004's LSTM character model the same way.

min-char-rnn, as the seed describes it: a tanh Elman RNN over one-hot
characters with a softmax read-out,

    h_t = tanh(Wxh x_t + Whh h_{t-1} + bh),   y_t = Why h_t + by,
    p_t = softmax(y_t),                       L = -sum_t log p_t[target_t],

one stream (batch 1) reading the text in chunks of ``seq_length`` = 25
characters, the hidden state carried from chunk to chunk and reset to zero
when the pointer wraps to the start, the loss summed over the chunk,
gradients clipped element-wise to [-5, 5], Adagrad with learning rate 0.1
(``mem += d*d; p -= lr * d / sqrt(mem + 1e-8)``), 100 hidden units, weights
``randn * 0.01`` and biases zero, and every 100 iterations a 200-character
sample (drawn from the carried state, seeded with the next input character)
and ``iter N, loss: X``, where X is the smoothed loss
``0.999 * smooth + 0.001 * loss`` starting from ``-log(1/vocab) * seq_length``.

In bptt: ``bptt.RNN(V, H, nonlinearity="tanh")`` (Wxh = ``weight_ih_l0``,
Whh = ``weight_hh_l0``, bh = ``bias_ih_l0 + bias_hh_l0``, both zero at the
start) and ``bptt.Linear(H, V)`` (Why, by), i.e. ``CharModel(cell="rnn")``;
the training loop is ``CharLMTrainer``'s (``MinCharTrainer`` only changes the
initialisation, the optimizer, the samples, the printing and the plot).
Before training the gradients are checked against central differences
(``bptt.gradcheck``, float64) on a short chunk; training is refused if they
disagree. ``--model lstm`` swaps the cell for ``bptt.LSTM`` and keeps the
rest (the seed's LSTM script is PyTorch's ``nn.LSTM``; with torch's uniform
initialisation instead of randn * 0.01 the loss curve was the same here).

Where bptt's parts differ from min-char-rnn's script, this module follows
the script:

- Adagrad keeps eps inside the square root (``MinCharAdagrad``);
  ``bptt.optim.Adagrad`` is torch's rule, eps outside, which moves an entry
  with a tiny gradient by a full ``lr`` on the first step.
- min-char-rnn has one hidden bias bh, bptt.RNN two halves of it: only
  ``bias_ih_l0`` is trained and ``bias_hh_l0`` stays zero, since Adagrad on
  both halves would move their sum twice as far as min-char-rnn moves bh.
- All of the text is trained on (no held-out part).

One small difference stays: the pointer wraps when the next chunk plus its
target would run past the end of the text, so a chunk that ends exactly on
the last character is read (min-char-rnn's ``p + seq_length + 1 >=
len(data)`` skips it).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from .. import optim
from .._gradcheck import GradcheckResult, gradcheck
from ._args import BACKENDS, COUNT, POSITIVE, POSITIVE_INT, as_flags, out_dir, text_file
from .charlm import CharLMConfig, CharLMTrainer, _text_source
from .charmodel import CharModel, blas_threads
from .text import load_text

Array = np.ndarray

MODELS = ("rnn", "lstm")
#: min-char-rnn's settings (``iterations`` is ours: min-char-rnn runs until stopped).
DEFAULTS = {"model": "rnn", "hidden": 100, "seq_length": 25, "lr": 0.1, "clip": 5.0,
            "iterations": 100_000, "sample_every": 100, "sample_length": 200, "seed": 0,
            "dtype": "float64", "out": "runs/minchar"}
SMOOTHING = (0.999, 0.001)  # smooth = 0.999 * smooth + 0.001 * loss
INIT_SCALE = 0.01
GRADCHECK_TOLERANCE = 1e-6
GRADCHECK_CHARS = 10  # the gradient check's chunk
GRADCHECK_ENTRIES = 200  # entries checked per parameter array, at most
GRADCHECK_EPS = 1e-4
FORMAT = "bptt.minchar/1"
#: run_minchar's arguments, the config fields they set, and the words load_text
#: uses, as the flags that set them, for error messages.
_FLAGS = {"seq_length": "--seq-length", "chunk": "--seq-length", "steps": "--iterations",
          **{name: "--" + name.replace("_", "-") for name in
             ("hidden", "lr", "iterations", "sample_every", "sample_length", "seed", "out")},
          "text file": "--text"}
#: min-char-rnn's names for the RNN's parameters.
SEED_NAMES = {"layer.weight_ih_l0": "Wxh", "layer.weight_hh_l0": "Whh",
              "layer.bias_ih_l0": "bh", "layer.bias_hh_l0": "bh's other half, kept 0",
              "readout.weight": "Why", "readout.bias": "by"}


class MinCharAdagrad(optim.Adagrad):
    """min-char-rnn's Adagrad: ``mem += g*g; p -= lr * g / sqrt(mem + eps)``,
    eps (1e-8) inside the square root, unlike ``bptt.optim.Adagrad`` (torch's).

    ``frozen``: parameter arrays (by identity) this optimizer leaves alone.
    """

    def __init__(self, modules, lr: float = 0.1, eps: float = 1e-8, *, frozen=()):
        super().__init__(modules, lr, eps)
        self._frozen = {id(p) for p in frozen}

    def _update(self, name, p, g):
        if id(p) in self._frozen:
            return
        squares = self._buffer(name, p)
        squares += g * g
        p -= self.lr * g / np.sqrt(squares + self.eps)


def min_char_init(model: CharModel, rng: np.random.Generator) -> CharModel:
    """min-char-rnn's initialisation, in place: every weight ``randn * 0.01``
    (drawn from ``rng`` in parameter order), every bias zero."""
    for module in model.modules:
        for name, p in module.parameters().items():
            if name.startswith("bias"):
                p.fill(0)
            else:
                p[...] = rng.standard_normal(p.shape) * INIT_SCALE
    return model


def initial_smoothed_loss(vocab_size: int, seq_length: int) -> float:
    """min-char-rnn's starting value, -log(1/vocab) * seq_length: the summed loss
    of a chunk under the uniform guess."""
    return float(-np.log(1.0 / vocab_size) * seq_length)


def smoothed_losses(chunk_losses, start: float) -> list[float]:
    """[start, s_1, ..., s_n]: s_i = 0.999 s_{i-1} + 0.001 loss_i, with
    ``chunk_losses`` the summed losses of the chunks (min-char-rnn's smooth_loss)."""
    smooth, values = start, [start]
    for loss in chunk_losses:
        smooth = smooth * SMOOTHING[0] + loss * SMOOTHING[1]
        values.append(smooth)
    return values


def check_gradients(model: CharModel, ids: Array, *, chars: int = GRADCHECK_CHARS,
                    seed: int = 0, max_entries: int | None = GRADCHECK_ENTRIES,
                    eps: float = GRADCHECK_EPS) -> GradcheckResult:
    """``bptt.gradcheck`` of the summed loss of ``chars`` characters of
    ``ids`` (from a random position), on a float64 copy of ``model``.

    The chunk starts from a random state (tanh(randn), as the carried state
    is mid-training): with min-char-rnn's small weights and a zero state,
    dL/dWhh is so small that the differences' rounding error dominates it
    (for the LSTM, above 1e-6 of it).
    """
    check = CharModel(model.vocab, model.hidden_size, model.cell, backend=model.backend,
                      dtype=np.float64, seed=0)
    check.load_state_dict({k: v.astype(np.float64) for k, v in model.parameters().items()})
    rng = np.random.default_rng(seed)
    chars = max(1, min(int(chars), len(ids) - 1))
    start = int(rng.integers(0, len(ids) - chars))
    inputs = ids[start : start + chars].reshape(-1, 1)
    targets = ids[start + 1 : start + chars + 1].reshape(-1, 1)
    state = tuple(np.tanh(rng.standard_normal(s.shape)) for s in check.initial_state(1))
    check.zero_grad()
    check.loss_and_grad(inputs, targets, state, reduction="sum")
    analytic = {k: g.copy() for k, g in check.grads.items()}
    return gradcheck(lambda: check.evaluate(inputs, targets, state, reduction="sum")[0],
                     check.parameters(), analytic, eps=eps, max_entries=max_entries,
                     seed=seed)


class MinCharTrainer(CharLMTrainer):
    """``CharLMTrainer`` with min-char-rnn's initialisation, Adagrad, samples,
    ``iter N, loss: X`` lines and smoothed-loss plot."""

    checkpoint_format = FORMAT
    resumable = False  # min-char-rnn runs until stopped; Ctrl-C ends the run

    def build_model(self, rng: np.random.Generator) -> CharModel:
        return min_char_init(super().build_model(rng), rng)

    def build_optimizer(self) -> optim.Optimizer:
        """min-char-rnn's Adagrad. For the RNN, bh = bias_ih_l0 + bias_hh_l0 and
        only bias_ih_l0 is trained (bias_hh_l0 stays zero): Adagrad on both
        halves would move bh twice as far as min-char-rnn's update. The LSTM,
        like torch's, trains both."""
        frozen = [self.model.layer.parameters()["bias_hh_l0"]] if self.config.model == "rnn" else []
        return MinCharAdagrad(self.model.modules, lr=self.config.lr, frozen=frozen)

    # -- the smoothed loss --------------------------------------------------------

    def smoothed(self) -> Array:
        """The smoothed loss before the first iteration and after each (nats per
        chunk), from the loss history (kept per character: times batch * chunk)."""
        per_chunk = self.config.batch * self.config.chunk
        history = self.history["train_loss"]
        cache = getattr(self, "_smoothed", None)
        if cache is None or len(cache) > len(history) + 1:
            cache = self._smoothed = [initial_smoothed_loss(len(self.vocab), self.config.chunk)]
        new = [loss * per_chunk for loss in history[len(cache) - 1 :]]
        cache.extend(smoothed_losses(new, cache[-1])[1:])
        return np.asarray(cache)

    # -- reporting ------------------------------------------------------------------

    def sample(self) -> str:
        """min-char-rnn's sample: ``sample_length`` characters drawn (temperature
        1) from the state the next chunk starts from, seeded with its first
        character (the text's first, from a zero state, when the pointer is
        about to wrap)."""
        streams = self.streams
        if streams.position + streams.chunk + 1 > streams.segment:
            position, state = 0, None
        else:
            position, state = streams.position, self.state
        seed_char = self.vocab.decode(self.train_ids[position : position + 1])
        return self.model.generate(seed_char, self.config.sample_length, greedy=False,
                                   temperature=1.0, rng=self.sample_rng, state=state)

    def sample_report(self) -> str:
        return f"----\n {self.sample()} \n----\niter {self.step}, loss: {self.smoothed()[-1]:f}"

    def title(self) -> str:
        c = self.config
        source = Path(self.source).name if c.text_file is not None else self.source
        name = "min-char-rnn" if c.model == "rnn" else "min-char-rnn's recipe, LSTM"
        return (f"{name}: hidden {c.hidden}, seq_length {c.chunk}, Adagrad lr {c.lr:g}, "
                f"on {source}")

    def plot(self) -> Path | None:
        """loss.png: the smoothed loss against the iteration."""
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError:
            print("matplotlib is not installed: no loss plot", file=sys.stderr)
            return None
        smooth = self.smoothed()
        smooth = np.where(np.isfinite(smooth), smooth, np.nan)  # a diverged run's end
        fig = Figure(figsize=(7, 4.5))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.plot(np.arange(smooth.size), smooth, color="tab:blue", linewidth=1.5,
                label="smoothed loss: s = 0.999 s + 0.001 loss")
        ax.axhline(smooth[0], color="grey", linestyle="--", linewidth=1,
                   label=f"start: -log(1/{len(self.vocab)}) * {self.config.chunk} (uniform guess)")
        ax.set_xlabel(f"iteration (one chunk of {self.config.chunk} characters)")
        ax.set_ylabel(f"loss (nats per {self.config.chunk}-character chunk)")
        ax.set_title(self.title(), fontsize=10)
        ax.set_ylim(0, smooth[0] * 1.1)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = self.out / "loss.png"
        fig.savefig(path, dpi=120)
        return path


def minchar_config(**fields) -> CharLMConfig:
    """The ``CharLMConfig`` of min-char-rnn (RNN, hidden 100, one stream,
    chunks of 25, summed loss, Adagrad lr 0.1, clipping to [-5, 5], all of
    the text, samples every 100 iterations at temperature 1, no time limit),
    with ``fields`` changed."""
    d = DEFAULTS
    config = {"name": "minchar", "model": d["model"], "hidden": d["hidden"], "batch": 1,
              "chunk": d["seq_length"], "lr": d["lr"], "optimizer": "adagrad",
              "clip_norm": None, "clip_value": d["clip"], "reduction": "sum", "held_out": 0.0,
              "seed": d["seed"], "dtype": d["dtype"], "steps": d["iterations"],
              "max_minutes": None, "eval_every": 0, "sample_every": d["sample_every"],
              "sample_length": d["sample_length"], "temperature": 1.0, "checkpoint_every": 0}
    return CharLMConfig(**{**config, **fields})


def _finite_or_none(value):
    return value if value is not None and math.isfinite(value) else None


def run_minchar(
    text_file: str | Path | None = None,
    *,
    text: str | None = None,
    model: str = DEFAULTS["model"],
    hidden: int = DEFAULTS["hidden"],
    seq_length: int = DEFAULTS["seq_length"],
    lr: float = DEFAULTS["lr"],
    iterations: int = DEFAULTS["iterations"],
    sample_every: int = DEFAULTS["sample_every"],
    sample_length: int = DEFAULTS["sample_length"],
    seed: int = DEFAULTS["seed"],
    out: str | Path = DEFAULTS["out"],
    backend: str = "auto",
    dtype: str = DEFAULTS["dtype"],
    progress: bool = True,
    gradcheck_tolerance: float = GRADCHECK_TOLERANCE,
) -> dict:
    """Run min-char-rnn (``model="rnn"``) or the LSTM character model
    (``"lstm"``) for ``iterations`` chunks and return what ``result.json`` holds.

    The text is ``text`` itself, else ``text_file``, else the shipped *On the
    Origin of Species*. The gradient check comes first: ``RuntimeError`` if
    any relative error exceeds ``gradcheck_tolerance``. Writes ``loss.png``,
    ``result.json`` and ``checkpoint.npz`` (the model and the training
    state; ``CharModel.load`` reads the model) to ``out``. Ctrl-C stops the
    run after the iteration under way, and the results are written as usual.
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    config = minchar_config(text_file=None if text_file is None else str(text_file),
                            model=model, hidden=hidden, chunk=seq_length, lr=lr,
                            steps=iterations, sample_every=sample_every,
                            sample_length=sample_length, seed=seed, backend=backend,
                            dtype=dtype)
    given = text is not None
    if not given:
        text = load_text(config.text_file)
    if len(text) < config.chunk + 1:
        raise ValueError(f"the text has {len(text)} characters, too few for one chunk "
                         f"(seq_length={config.chunk}) plus its target")
    trainer = MinCharTrainer(config, out, text=text, progress=progress)
    if not given:  # loaded here, but recorded as its file (or the shipped text's name)
        trainer.source = _text_source(config)
    V = len(trainer.vocab)
    kind = ("RNN (tanh)" if model == "rnn" else "LSTM")
    print(f"bptt minchar: {kind}, hidden {hidden}, seq_length {seq_length}, Adagrad lr {lr:g}, "
          f"gradients clipped to [-{DEFAULTS['clip']:g}, {DEFAULTS['clip']:g}]; "
          f"{len(trainer.text):,} characters, vocabulary {V}; {dtype}, backend "
          f"{trainer.model.backend}, seed {seed}", flush=True)

    with blas_threads(config.threads, log=None):
        t0 = time.perf_counter()
        check = check_gradients(trainer.model, trainer.train_ids, seed=seed)
        check_seconds = time.perf_counter() - t0
    print(f"gradient check (bptt.gradcheck, float64, central differences) on "
          f"{min(GRADCHECK_CHARS, len(trainer.train_ids) - 1)} characters from a random state, "
          f"relative error ({check_seconds:.1f} s):")
    labels = {name: name + (f" ({SEED_NAMES[name]})" if model == "rnn" else "")
              for name in check.errors}
    width = max(map(len, labels.values()))
    for name, error in check.errors.items():
        print(f"  {labels[name]:<{width}}  {error:.2e}  ({check.checked[name]} entries)")
    if not check.passed(gradcheck_tolerance):
        raise RuntimeError(f"gradient check failed: largest relative error "
                           f"{check.max_error:.2e} > {gradcheck_tolerance:.0e}; refusing to train")
    start = trainer.smoothed()[0]
    print(f"smoothed loss at the start: -log(1/{V}) * {seq_length} = {start:f}", flush=True)

    result = trainer.run()
    smooth = trainer.smoothed()
    with blas_threads(config.threads, log=None):
        final_sample = (trainer.sample() if sample_length and result["status"] != "diverged"
                        else "")
    final = float(smooth[-1])
    result.setdefault("config", config.to_dict())
    result.pop("held_out_loss", None)
    result.pop("held_out_unit", None)
    result.update({
        "experiment": "min-char-rnn (seed 004)" if model == "rnn" else
                      "LSTM character model (seed 004), min-char-rnn's recipe",
        "iterations": trainer.step,
        "seconds": trainer.totals["wall_seconds"],
        "chars_per_second": result.get("chars_per_second", trainer.step * seq_length /
                                       max(trainer.totals["train_seconds"], 1e-12)),
        "smoothed_loss": _finite_or_none(final),
        "smoothed_loss_per_char": _finite_or_none(final / seq_length),
        "initial_smoothed_loss": float(smooth[0]),
        "smoothed_loss_unit": f"nats per {seq_length}-character chunk",
        "gradcheck": check.errors,
        "gradcheck_entries": check.checked,
        "gradcheck_tolerance": gradcheck_tolerance,
        "sample": final_sample,
    })
    if "train_loss" in result:
        result["train_loss"] = _finite_or_none(result["train_loss"])
    trainer.out.mkdir(parents=True, exist_ok=True)
    (trainer.out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"iter {trainer.step}, loss: {final:f} (smoothed; {final / seq_length:.4f} nats/char), "
          f"from {smooth[0]:f}; {result['seconds']:.1f} s, "
          f"{result['chars_per_second'] or 0:,.0f} chars/s")
    if final_sample:
        print(f"final sample:\n----\n {final_sample} \n----")
    print(f"wrote {trainer.out / 'loss.png'} and {trainer.out / 'result.json'}")
    return result


# -- command line -------------------------------------------------------------------------


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``bptt minchar``."""
    d = DEFAULTS
    p = subparsers.add_parser(
        "minchar",
        help="seed 004: min-char-rnn (Adagrad, clipping, smoothed loss) on bptt.RNN, or the "
             "LSTM character model",
        description="Seed 004: min-char-rnn on bptt's RNN: 100 tanh units, one stream read "
                    "in chunks of 25 characters with the state carried, summed loss, "
                    "gradients clipped to [-5, 5], Adagrad with lr 0.1, weights randn * 0.01; "
                    "every 100 iterations a 200-character sample and 'iter N, loss: X' "
                    "(the smoothed loss). The gradients are checked against central "
                    "differences first. --model lstm trains the LSTM character model the "
                    "same way. Writes loss.png, result.json and checkpoint.npz to --out; "
                    "Ctrl-C stops and still writes them.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--text", dest="text_file", metavar="FILE", type=text_file, default=None,
                   help="train on this UTF-8 text file (min-char-rnn's input.txt) instead of "
                        "the shipped On the Origin of Species")
    p.add_argument("--model", choices=MODELS, default=d["model"],
                   help="rnn: min-char-rnn; lstm: the LSTM character model")
    p.add_argument("--hidden", type=POSITIVE_INT, default=d["hidden"], help="hidden units")
    p.add_argument("--seq-length", type=POSITIVE_INT, default=d["seq_length"],
                   help="characters per chunk (BPTT length)")
    p.add_argument("--lr", type=POSITIVE, default=d["lr"], help="Adagrad learning rate")
    p.add_argument("--iterations", type=COUNT, default=d["iterations"],
                   help="chunks to train on (min-char-rnn runs until stopped: Ctrl-C "
                        "stops this one too, and still writes the results)")
    p.add_argument("--sample-every", type=COUNT, default=d["sample_every"],
                   help="print a sample and the smoothed loss every N iterations (0: never)")
    p.add_argument("--sample-length", type=COUNT, default=d["sample_length"],
                   help="characters per sample")
    p.add_argument("--seed", type=COUNT, default=d["seed"],
                   help="seed for the weights, the gradient check and the samples")
    p.add_argument("--out", metavar="DIR", type=out_dir, default=d["out"],
                   help="directory for loss.png, result.json and checkpoint.npz")
    p.add_argument("--backend", choices=BACKENDS, default="auto", help="kernel backend")
    p.add_argument("--dtype", choices=("float64", "float32"), default=d["dtype"],
                   help="training dtype (min-char-rnn is NumPy float64; the gradient check "
                        "is always float64)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run_cli(args: argparse.Namespace) -> int:
    """Run ``bptt minchar``: 0 when it trained, 1 if the gradient check failed or
    the loss diverged, 2 on bad input, 130 after Ctrl-C."""
    try:
        result = run_minchar(args.text_file, model=args.model, hidden=args.hidden,
                             seq_length=args.seq_length, lr=args.lr,
                             iterations=args.iterations, sample_every=args.sample_every,
                             sample_length=args.sample_length, seed=args.seed, out=args.out,
                             backend=args.backend, dtype=args.dtype,
                             progress=not args.no_progress)
    except (ValueError, OSError) as exc:
        print(f"bptt minchar: error: {as_flags(str(exc), _FLAGS)}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"bptt minchar: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a second Ctrl-C, or one outside the training loop
        print("bptt minchar: stopped", file=sys.stderr)
        return 130
    return {"completed": 0, "interrupted": 130}.get(result["status"], 1)
