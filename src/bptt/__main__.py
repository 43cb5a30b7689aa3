"""The ``bptt`` command line (``python -m bptt`` or the ``bptt`` script)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bptt", description="Fast CPU recurrent-network kernels with hand-derived BPTT."
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser(
        "demo",
        help="show the backends, check gradients, and time GRU_Cell against torch (default)",
    )
    sub.add_parser("backends", help="list the backends this installation has, fastest first")
    args = parser.parse_args(argv)

    if args.command == "backends":
        from . import backends

        print(" ".join(backends()))
        return 0
    from ._demo import run

    return run()


if __name__ == "__main__":
    sys.exit(main())
