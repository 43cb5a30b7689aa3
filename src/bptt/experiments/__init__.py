"""The seed experiments, each a function here and a ``bptt`` subcommand.

Every experiment module defines ``add_parser(subparsers)``, which registers
its subcommand (with ``--help``, ``--seed`` and ``--out``), and
``run_cli(args) -> int``, which runs it from parsed arguments.
``COMMANDS`` lists the modules in the order ``bptt --help`` shows them.

The functions the subcommands run: ``run_demo``, ``run_nback``,
``parameter_counts`` (params), ``train_charlm``, ``run_match``,
``run_minchar`` and ``run_bench`` (bench: the pytest-benchmark suite in the
repository's benchmarks/). None of these modules imports matplotlib
or tqdm before it draws a plot or a bar, and ``import bptt`` does not import
this package.
"""

from __future__ import annotations

from .bench import run_bench

# charlm, match, minchar: the character models (seeds 001, 004), the matching
# experiment, and min-char-rnn (seed 004)
from .charlm import CharLMConfig, CharLMTrainer, train_charlm
from .charmodel import CharModel
from .demo import run_demo
from .match import match_counts, match_length, run_match
from .minchar import run_minchar
from .nback import run_nback
from .params import parameter_counts
from .text import TextStreams, Vocabulary, load_text, shipped_text

__all__ = [
    "COMMANDS",
    # the experiments, in COMMANDS order
    "run_demo",
    "run_nback",
    "parameter_counts",
    "train_charlm",
    "run_match",
    "run_minchar",
    "run_bench",
    # what they are built from
    "CharLMConfig",
    "CharLMTrainer",
    "CharModel",
    "TextStreams",
    "Vocabulary",
    "load_text",
    "match_counts",
    "match_length",
    "shipped_text",
]

COMMANDS: list[str] = [
    "demo",
    "nback",
    "params",
    "charlm",
    "match",
    "minchar",
    "bench",
]
