"""The seed experiments, each a function here and a ``bptt`` subcommand.

Every experiment module defines ``add_parser(subparsers)``, which registers
its subcommand (with ``--help``, ``--seed`` and ``--out`` where it writes
results), and ``run_cli(args) -> int``, which runs it from parsed arguments.
``COMMANDS`` lists the modules in the order ``bptt --help`` shows them.
"""

from __future__ import annotations

# charlm, match, minchar: the character models (seeds 001, 004), the matching
# experiment, and min-char-rnn (seed 004)
from .charlm import CharLMConfig, CharLMTrainer, train_charlm  # noqa: F401
from .charmodel import CharModel  # noqa: F401
from .match import match_counts, match_length, run_match  # noqa: F401
from .minchar import run_minchar  # noqa: F401
from .text import TextStreams, Vocabulary, load_text, shipped_text  # noqa: F401

COMMANDS: list[str] = [
    "demo",
    "nback",
    "params",
    "charlm",
    "match",
    "minchar",
]
