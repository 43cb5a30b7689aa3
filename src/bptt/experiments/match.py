"""``bptt match``: seed 001's matching experiment on a trained character model.

Draw priming strings of 10 characters at random from the training text; for
each, the model reads the prime and writes 100 characters greedily (argmax).
The match length of a trial is the longest run of leading generated
characters equal to the text that follows ANY occurrence of the prime (every
occurrence is considered, the longest match kept). The plot shows, for
n = 0..100, how many trials matched at least n characters.

Seed 001's own example: 'ch species' occurs 3 times between characters
1,000 and 11,000 of the text; a prediction that follows one occurrence for
19 characters and the others for 1 and 3 scores 19.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ._args import BACKENDS, COUNT, POSITIVE_INT, as_flags, out_dir, text_file
from .charmodel import CharModel, blas_threads, load_npz
from .text import DEFAULT_TEXT, load_text, split_held_out, text_digest

PRIME_LENGTH = 10
GENERATE_LENGTH = 100
#: run_match's arguments, and the words load_text uses, as the flags that set them.
_FLAGS = {"trials": "--trials", "seed": "--seed", "out": "--out", "text file": "--text"}


def _common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix of a and b."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n  # a[:lo] == b[:lo], a[:hi] != b[:hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid
    return lo


def match_length(text: str, prime: str, generated: str) -> int:
    """The longest run of leading characters of ``generated`` equal to the
    text right after an occurrence of ``prime`` in ``text``, over every
    occurrence (overlapping ones too); 0 if ``prime`` does not occur."""
    if not prime:
        raise ValueError("prime must be a non-empty string")
    best, n = 0, len(generated)
    start = text.find(prime)
    while start >= 0 and best < n:
        follow = start + len(prime)
        best = max(best, _common_prefix(text[follow : follow + n], generated))
        start = text.find(prime, start + 1)
    return best


def match_counts(lengths, n_max: int = GENERATE_LENGTH) -> np.ndarray:
    """(n_max + 1,) counts: entry n is how many trials matched at least n characters."""
    lengths = np.asarray(lengths, dtype=np.int64)
    return np.array([(lengths >= n).sum() for n in range(n_max + 1)], dtype=np.int64)


def plot_match(path: Path, counts: np.ndarray, title: str) -> Path | None:
    """Trials with a match of at least n characters, n = 0..100."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        print("matplotlib is not installed: no match plot", file=sys.stderr)
        return None
    fig = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(np.arange(counts.size), counts, "o", markersize=3)
    ax.set_xlabel("Matching String Length")
    ax.set_ylabel("Trials")
    ax.set_title(title)
    ax.set_xlim(-1, counts.size)
    ax.set_ylim(0, counts[0] * 1.05 if counts.size else 1)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def _checkpoint_text(meta: dict, text: str | None) -> str:
    """The text a checkpoint was trained on (or ``text``, checked against it)."""
    info = meta.get("text")
    if text is None:
        source = info["source"] if info else None
        if source == DEFAULT_TEXT:
            text = load_text(None)
        elif source is not None and Path(source).is_file():
            text = load_text(source)
        else:
            raise ValueError(f"cannot find the checkpoint's text ({source or 'unknown'}); "
                             "pass it with --text")
    if info is not None and text_digest(text) != info["sha256"]:
        raise ValueError(f"the text differs from the one the checkpoint was trained on "
                         f"({info['source']})")
    return text


def run_match(checkpoint: str | Path, *, trials: int = 200, out: str | Path | None = None,
              seed: int = 0, text: str | None = None, backend: str = "auto",
              prime_length: int = PRIME_LENGTH, length: int = GENERATE_LENGTH,
              plot: bool = True, threads: int | None = 1) -> dict:
    """Run the matching experiment on a checkpoint; write ``match.png`` and
    ``result.json`` to ``out`` (default: the checkpoint's directory /
    ``match``) and return the result.

    Primes start at random positions of the training text (the part before
    the held-out split); their occurrences are searched in the same text.
    """
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    t0 = time.perf_counter()
    arrays, meta = load_npz(checkpoint)
    model = CharModel.load(checkpoint, backend=backend)
    text = _checkpoint_text(meta, text)
    split = meta.get("text", {}).get("split")
    if split is None:
        split = split_held_out(len(text), meta.get("config", {}).get("held_out", 0.05))
    train = text[:split]
    if len(train) < prime_length + 1:
        raise ValueError(f"the training text ({len(train)} characters) is shorter than a prime")
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(train) - prime_length + 1, size=trials)
    primes = [train[s : s + prime_length] for s in starts]
    with blas_threads(threads, log=None):
        generated = model.generate_batch(primes, length, greedy=True)
    lengths = np.array([match_length(train, p, g) for p, g in zip(primes, generated,
                                                                   strict=True)])
    counts = match_counts(lengths, length)
    if out is None:
        base = Path(checkpoint) if Path(checkpoint).is_dir() else Path(checkpoint).parent
        out = base / "match"
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = meta.get("config", {})
    title = (f"{cfg.get('name', 'charlm')} ({model.cell.upper()} hidden {model.hidden_size}, "
             f"step {meta.get('step', '?')}): {trials} primes of {prime_length}")
    if plot:
        plot_match(out / "match.png", counts, title)
    best = int(np.argmax(lengths))
    result = {
        "counts": counts.tolist(),
        "mean_match_length": float(lengths.mean()),
        "median_match_length": float(np.median(lengths)),
        "trials": trials,
        "prime_length": prime_length,
        "generated_length": length,
        "lengths": lengths.tolist(),
        "example": {"prime": primes[best], "generated": generated[best],
                    "match_length": int(lengths[best])},
        "checkpoint": str(checkpoint),
        "step": meta.get("step"),
        "seed": seed,
        "seconds": time.perf_counter() - t0,
        "out": str(out),
    }
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "match",
        help="seed 001's matching experiment on a charlm checkpoint",
        description=(
            "Seed 001's matching experiment: prime a trained character model with random "
            "10-character strings of its training text, generate 100 characters greedily, "
            "and measure how far each matches the text after any occurrence of its prime. "
            "Writes match.png (trials matching at least n characters, n = 0..100) and "
            "result.json to --out."
        ),
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT",
                   help="a checkpoint.npz written by bptt charlm, or its directory")
    p.add_argument("--trials", type=POSITIVE_INT, default=200,
                   help="priming strings (default 200)")
    p.add_argument("--seed", type=COUNT, default=0, help="seed for the prime positions "
                   "(default 0)")
    p.add_argument("--out", metavar="DIR", type=out_dir, help="output directory "
                   "(default: CHECKPOINT's directory/match)")
    p.add_argument("--text", metavar="FILE", type=text_file, help="the training text, if "
                   "the checkpoint's cannot be found where it was")
    p.add_argument("--backend", default="auto", choices=BACKENDS,
                   help="kernel backend (default auto)")
    return p


def run_cli(args: argparse.Namespace) -> int:
    try:
        text = load_text(args.text) if args.text is not None else None
        result = run_match(args.checkpoint, trials=args.trials, out=args.out, seed=args.seed,
                           text=text, backend=args.backend)
    except (ValueError, OSError) as exc:
        print(f"bptt match: error: {as_flags(str(exc), _FLAGS)}", file=sys.stderr)
        return 2
    counts = result["counts"]
    shown = ", ".join(f">={n}: {counts[n]}" for n in (0, 1, 2, 5, 10, 20, 50, 100)
                      if n < len(counts))
    print(f"{result['trials']} trials: mean match length {result['mean_match_length']:.2f} "
          f"characters; {shown}")
    ex = result["example"]
    print(f"longest: {ex['prime']!r} -> {ex['generated'][:60]!r}... matched "
          f"{ex['match_length']}")
    print(f"wrote {result['out']}")
    return 0
