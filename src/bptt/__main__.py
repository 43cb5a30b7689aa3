"""The ``bptt`` command line (``python -m bptt`` or the ``bptt`` script)."""

from __future__ import annotations

import argparse
import importlib
import sys

from .experiments import COMMANDS


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad argument reported on one line (the flag, what is
    wrong, where the usage is) instead of the whole usage and then the error.
    Subcommands' parsers are of this class too."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bptt", description="Fast CPU recurrent-network kernels with hand-derived BPTT."
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"bptt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser(
        "check",
        help="show the backends, check gradients, and time GRU_Cell against torch",
        description="Show the backends, check GRU_Cell's gradients, time it against torch.",
    )
    sub.add_parser("backends", help="list the backends this installation has, fastest first",
                   description="List the backends this installation has, fastest first.")
    for name in COMMANDS:
        importlib.import_module(f"bptt.experiments.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit status (2: bad input, named by its flag).

    A bad flag is refused while the arguments are parsed, before any work:
    one error line naming it on stderr, and ``main`` returns 2.
    ``--help`` and ``--version`` still exit (status 0) as argparse does.
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        if exc.code in (0, None):
            raise
        return exc.code if isinstance(exc.code, int) else 2
    if args.command == "backends":
        from . import backends

        print(" ".join(backends()))
        return 0
    if args.command is None:  # a command is required: argparse's usage error
        build_parser().print_help(sys.stderr)
        return 2
    if args.command == "check":
        from ._check import run

        return run()
    try:
        return importlib.import_module(f"bptt.experiments.{args.command}").run_cli(args)
    except (ValueError, TypeError, OSError, MemoryError) as exc:
        # bad input met inside a command: one line, argparse's status, no traceback
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"bptt {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
