"""What the subcommands share on the command line.

The argparse types here refuse a bad value while the arguments are parsed,
so the error names the flag (``argument --hidden: must be > 0, got 0``),
the status is 2, and nothing has started yet. ``as_flags`` rewords a message
from the library (``max_minutes must be > 0``) in the command line's words
(``--max-minutes must be > 0``) for the errors only a run can find.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import zipfile
from pathlib import Path

BACKENDS = ("auto", "cython", "numba", "numpy")


def number(kind, low: float, strict: bool):
    """An argparse type: ``kind`` (int or float), finite, > low (>= low unless strict)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an int' if kind is int else 'a number'},"
                                             f" got {text!r}") from None
        if not math.isfinite(value) or value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"must be {'>' if strict else '>='} {low:g}, "
                                             f"got {text}")
        return value

    return parse


POSITIVE_INT = number(int, 0, strict=True)
COUNT = number(int, 0, strict=False)  # 0, 1, 2, ...: steps, seeds, "every N" (0: never)
POSITIVE = number(float, 0, strict=True)
NON_NEGATIVE = number(float, 0, strict=False)


def out_dir(text: str) -> str:
    """An argparse type for ``--out``: a directory, or a path one can be made at."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a file, not a directory")
    existing = path
    while not existing.exists():  # the nearest ancestor that exists ('.' always does)
        existing = existing.parent
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"cannot make {text!r}: {str(existing)!r} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write into {str(existing)!r}: "
                                         "permission denied")
    return text


def text_file(text: str) -> str:
    """An argparse type for ``--text``: an existing file (read as UTF-8 later)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a directory, not a text file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"text file {text!r} does not exist")
    return text


def checkpoint(text: str) -> str:
    """An argparse type for a checkpoint (a file, or the run directory holding
    checkpoint.npz): it exists and is an .npz archive. Its fields are checked
    when it is loaded."""
    path = Path(text)
    if path.is_dir():
        path = path / "checkpoint.npz"
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"checkpoint {str(path)!r} does not exist")
    if not zipfile.is_zipfile(path):
        raise argparse.ArgumentTypeError(f"{str(path)!r} is not a readable bptt checkpoint "
                                         "(it is not an .npz archive)")
    return text


def as_flags(message: str, flags: dict[str, str]) -> str:
    """``message`` on one line, each Python name in ``flags`` replaced by its
    flag where it is the subject of a complaint: before " must", "=" or a
    quoted value (``out 'x' is a file``). Other uses of the word stay
    (``held out 5%``)."""
    for name, flag in flags.items():
        message = re.sub(rf"(?<![\w-]){re.escape(name)}(?= must\b|=| ')", flag, message)
    return " ".join(message.split())
