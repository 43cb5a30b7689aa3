"""``bptt params``: how many weights and biases an RNN, LSTM and GRU layer has
(seed 004, question 2; derived in docs/derivations.md, section 9).

With input n, hidden h and G gate blocks (RNN 1, GRU 3, LSTM 4), one layer
in one direction has G h (n + h) weights, and

- G h biases in the one-bias layout of the textbooks (one bias per block):
  RNN h(n+h) + h, LSTM 4 (h(n+h) + h), GRU 3 (h(n+h) + h);
- 2 G h biases in torch's layout (b_ih and b_hh), which is what
  ``bptt.count_parameters`` and ``sum(p.numel() for p in layer.parameters())``
  count.

Stacked layers take the D h outputs of the layer below as their input
(D = 2 when bidirectional), and every direction has its own parameters.

Like the other subcommands it writes ``result.json`` to ``--out``, holding
the counts it prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..layers import count_parameters
from ._args import COUNT, POSITIVE_INT, as_flags, out_dir

KINDS = ("rnn", "lstm", "gru")
_LABELS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
_GATES = {"rnn": 1, "lstm": 4, "gru": 3}
#: parameter_counts' arguments as the flags that set them, for error messages.
_FLAGS = {"input_size": "--input", "hidden_size": "--hidden", "num_layers": "--layers"}


def parameter_counts(
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
) -> dict[str, dict[str, int]]:
    """Counts per kind ("rnn", "lstm", "gru"): ``gates``, ``weights``,
    ``biases_one`` / ``total_one`` (one bias per gate block) and
    ``biases_torch`` / ``total_torch`` (torch's b_ih and b_hh; ``total_torch``
    equals ``bptt.count_parameters`` and torch's ``sum(p.numel())``)."""
    counts = {}
    for kind in KINDS:
        shape = dict(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers,
                     bidirectional=bidirectional)
        weights = count_parameters(kind, bias=False, **shape)
        total_torch = count_parameters(kind, bias=True, **shape)
        biases_torch = total_torch - weights
        counts[kind] = {
            "gates": _GATES[kind],
            "weights": weights,
            "biases_one": biases_torch // 2,
            "total_one": weights + biases_torch // 2,
            "biases_torch": biases_torch,
            "total_torch": total_torch,
        }
    return counts


def format_table(counts: dict[str, dict[str, int]]) -> str:
    """The counts as a plain-text table, one row per kind."""
    header = ("layer", "gates", "weights", "one bias", "total", "torch biases", "torch total")
    keys = ("gates", "weights", "biases_one", "total_one", "biases_torch", "total_torch")
    rows = [header] + [(_LABELS[k], *(str(c[key]) for key in keys)) for k, c in counts.items()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    return "\n".join(lines)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``bptt params``."""
    p = subparsers.add_parser(
        "params",
        help="seed 004 Q2: weight and bias counts of RNN, LSTM and GRU layers",
        description="Seed 004, question 2: the number of weights and biases of an RNN, LSTM "
                    "and GRU layer with no output layer, in the one-bias layout "
                    "(h(n+h) + h per gate block) and in torch's two-bias layout "
                    "(h(n+h) + 2h per gate block, = sum(p.numel()) in torch).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--input", type=POSITIVE_INT, required=True, metavar="N",
                   help="input size n")
    p.add_argument("--hidden", type=POSITIVE_INT, required=True, metavar="H",
                   help="hidden size h")
    p.add_argument("--layers", type=POSITIVE_INT, default=1, help="number of stacked layers")
    p.add_argument("--bidirectional", action="store_true", help="two directions per layer")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    # --seed only so that every subcommand takes one: counting draws nothing at random
    p.add_argument("--seed", type=COUNT, default=0,
                   help="accepted like every subcommand's --seed, but unused: nothing is random")
    p.add_argument("--out", metavar="DIR", type=out_dir, default="runs/params",
                   help="directory for result.json")
    return p


def run_cli(args: argparse.Namespace) -> int:
    """Print the counts as a table (or JSON with ``--json``) and write them to
    ``result.json`` in ``--out``."""
    try:
        counts = parameter_counts(args.input, args.hidden, args.layers, args.bidirectional)
    except ValueError as exc:
        print(f"bptt params: error: {as_flags(str(exc), _FLAGS)}", file=sys.stderr)
        return 2
    result = {"input_size": args.input, "hidden_size": args.hidden, "num_layers": args.layers,
              "bidirectional": args.bidirectional, "counts": counts}
    path = Path(args.out) / "result.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
    except OSError as exc:
        print(f"bptt params: error: --out: cannot write {path}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))  # stdout stays pure JSON: no "wrote" line
        return 0
    n, h = args.input, args.hidden
    directions = "bidirectional" if args.bidirectional else "one direction"
    print(f"input n = {n}, hidden h = {h}, {args.layers} layer(s), {directions}, no output layer")
    print(format_table(counts))
    if args.layers == 1 and not args.bidirectional:
        print(f"one bias:   G (h(n+h) + h),  h(n+h) + h = {h * (n + h) + h}")
        print(f"torch:      G (h(n+h) + 2h), h(n+h) + 2h = {h * (n + h) + 2 * h}")
        print("G = 1 (RNN), 4 (LSTM), 3 (GRU)")
    print(f"wrote {path}")
    return 0
