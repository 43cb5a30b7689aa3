"""bptt demo: the main job. Runs the seed experiments one after another
with their default settings and says where their plots are:

1. nback  (seed 002): the 6-unit RNN trained by SGD until J < 0.05; loss.png.
2. charlm (seed 001): the GRU character model on On the Origin of Species
   (shipped with bptt), at most 4.75 minutes; loss.png, samples.
3. match  (seed 001): the matching experiment on that model; match.png.

--quick shrinks the character model to a run of well under a minute (its
held-out loss is then far from the full run's). Ctrl-C during charlm saves
its checkpoint and stops the demo (status 130).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ._args import BACKENDS, COUNT, out_dir

QUICK = {"hidden": 128, "steps": 500, "chunk": 50, "eval_every": 100, "sample_every": 100}


def run_demo(out: str | Path = "runs/demo", *, seed: int = 0, quick: bool = False,
             progress: bool = True, backend: str = "auto") -> dict:
    """Run nback, charlm and match into ``out``/{nback,charlm,match}; return their results."""
    from .charlm import train_charlm
    from .match import run_match
    from .nback import run_nback

    out = Path(out)
    t0 = time.perf_counter()
    print("=" * 72)
    print("1/3  bptt nback: seed 002's 6-unit tanh RNN on the 2-back task")
    print("=" * 72)
    nback = run_nback(seed=seed, out=out / "nback", progress=progress, backend=backend)
    print()
    print("=" * 72)
    print("2/3  bptt charlm: seed 001's GRU character model on On the Origin of Species")
    print("=" * 72)
    overrides = dict(QUICK) if quick else {}
    charlm = train_charlm(out=out / "charlm", progress=progress, seed=seed, backend=backend,
                          overwrite=True, **overrides)  # a demo rerun starts afresh
    if charlm["status"] == "interrupted":  # Ctrl-C: stop here, not match a half-trained model
        print(f"stopped: charlm was interrupted; its checkpoint is {charlm['checkpoint']}")
        return {"status": "interrupted", "checkpoint": charlm["checkpoint"]}
    print()
    print("=" * 72)
    print("3/3  bptt match: how far does the model's text follow the book?")
    print("=" * 72)
    match = run_match(charlm["checkpoint"], out=out / "match", seed=seed, backend=backend)
    counts = match["counts"]
    print(f"mean match length {match['mean_match_length']:.2f} characters over {counts[0]} "
          f"trials; matched at least 1, 5, 10, 20 characters: "
          f"{counts[1]}, {counts[5]}, {counts[10]}, {counts[20]}")
    summary = {
        "nback_final_loss": nback["final_loss"],
        "charlm_held_out_nats_per_char": charlm.get("held_out_loss"),
        "charlm_chars_per_second": charlm.get("chars_per_second"),
        "match_mean_length": match["mean_match_length"],
        "seconds": time.perf_counter() - t0,
        "plots": [str(p) for p in (out / "nback" / "loss.png", out / "charlm" / "loss.png",
                                   out / "match" / "match.png") if p.exists()],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print()
    print(f"done in {summary['seconds']:.0f} s. Plots to look at:")
    for plot in summary["plots"]:
        print(f"  {plot}")
    print(f"numbers: {out / 'summary.json'}")
    return summary


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "demo",
        help="the main job: nback, then charlm and match on the built-in text (under 5 min)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=out_dir, default="runs/demo",
                   help="output directory (default: runs/demo)")
    p.add_argument("--seed", type=COUNT, default=0, help="random seed (default: 0)")
    p.add_argument("--quick", action="store_true",
                   help="a short smoke run of charlm (well under a minute)")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="kernel backend (default: auto)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def run_cli(args: argparse.Namespace) -> int:
    try:
        summary = run_demo(args.out, seed=args.seed, quick=args.quick,
                           progress=not args.no_progress, backend=args.backend)
    except KeyboardInterrupt:  # outside charlm's loop, which saves and returns instead
        print("bptt demo: stopped", file=sys.stderr)
        return 130
    return 130 if summary.get("status") == "interrupted" else 0
