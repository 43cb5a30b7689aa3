"""The seed experiments, each a function here and a ``bptt`` subcommand.

Every experiment module defines ``add_parser(subparsers)``, which registers
its subcommand (with ``--help``, ``--seed`` and ``--out`` where it writes
results), and ``run_cli(args) -> int``, which runs it from parsed arguments.
``COMMANDS`` lists the modules in the order ``bptt --help`` shows them.
"""

from __future__ import annotations

COMMANDS: list[str] = [
    "nback",
    "params",
]
