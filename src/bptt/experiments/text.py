"""Text for the character models: loading, the vocabulary, the held-out split,
and the mini-batched streams truncated BPTT reads.

The default text, *On the Origin of Species* (seed 001's), ships inside the
package gzipped (``bptt/data/origin_of_species.txt.gz``) and is read with
``importlib.resources``, so nothing outside the installed package is needed.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
from collections.abc import Iterable
from pathlib import Path

import numpy as np

Array = np.ndarray

#: The shipped text's name, as configs and checkpoints record it.
DEFAULT_TEXT = "origin_of_species"
_SHIPPED = {DEFAULT_TEXT: "origin_of_species.txt.gz"}


def shipped_text(name: str = DEFAULT_TEXT) -> str:
    """A text shipped inside the package, by name (``"origin_of_species"``)."""
    if name not in _SHIPPED:
        raise ValueError(f"no shipped text {name!r}; the package ships {sorted(_SHIPPED)}")
    resource = importlib.resources.files("bptt").joinpath("data", _SHIPPED[name])
    with resource.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8", newline="") as f:
        return f.read()


def load_text(path: str | Path | None = None) -> str:
    """The text at ``path`` (UTF-8, newlines kept as they are), or the shipped
    default text when ``path`` is None."""
    if path is None:
        return shipped_text()
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"text file {str(path)!r} is a directory")
    if not path.is_file():
        raise FileNotFoundError(f"text file {str(path)!r} does not exist")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
                return f.read()
        with open(path, encoding="utf-8", newline="") as f:
            return f.read()
    except UnicodeDecodeError as exc:  # a ValueError, as before, but naming the file
        raise ValueError(f"text file {str(path)!r} is not UTF-8 text ({exc.reason} at byte "
                         f"{exc.start})") from None


def text_digest(text: str) -> str:
    """SHA-256 of the text's UTF-8 bytes: how a checkpoint recognises its text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Vocabulary:
    """The characters of a text, sorted, each with an integer id.

    ``encode(str) -> int64 ids``, ``decode(ids) -> str``; ``chars`` (a str)
    is all a checkpoint needs to rebuild it.
    """

    def __init__(self, chars: Iterable[str]):
        chars = "".join(chars)
        if not chars:
            raise ValueError("a vocabulary needs at least one character")
        if len(set(chars)) != len(chars):
            raise ValueError("vocabulary characters must be distinct")
        self.chars = chars
        self._index = {c: i for i, c in enumerate(chars)}
        self._table = np.array(list(chars))

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        """Every distinct character of ``text``, in code-point order."""
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char: str) -> bool:
        return char in self._index

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and other.chars == self.chars

    def __hash__(self) -> int:
        return hash(self.chars)

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} characters)"

    def encode(self, text: str) -> Array:
        """(len(text),) int64 ids."""
        try:
            return np.fromiter((self._index[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError as exc:
            raise ValueError(f"character {exc.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids) -> str:
        """The characters of ``ids`` (any int array), as one string."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        return "".join(self._table[ids].tolist())


def split_held_out(n: int, fraction: float = 0.05) -> int:
    """Where the held-out tail of a text of ``n`` characters begins: the last
    ``fraction`` of it (at least 2 characters on each side)."""
    if not 0 < fraction < 1:
        raise ValueError(f"held-out fraction must lie in (0, 1), got {fraction}")
    split = n - int(round(n * fraction))
    if split < 2 or n - split < 2:
        raise ValueError(f"a text of {n} characters is too short to hold out {fraction:.0%} "
                         "of it (each side needs at least 2 characters)")
    return split


class TextStreams:
    """B parallel streams over one encoded text, read in chunks of T steps.

    The text (N ids) is cut into B contiguous segments of ``N // B`` ids;
    stream b reads segment b from the start. ``next_chunk()`` returns inputs
    (T, B) and the targets one step ahead (T, B). When a segment cannot
    supply another full chunk, every stream goes back to its start (a new
    epoch): ``next_chunk`` then reports ``reset=True`` so the caller drops
    the carried hidden state. The position and the epoch are the whole
    state, so a checkpoint restores reading exactly where it stopped.
    """

    def __init__(self, ids: Array, batch: int, chunk: int):
        ids = np.asarray(ids, dtype=np.int64)
        if ids.ndim != 1:
            raise ValueError(f"ids must be 1-D, got shape {ids.shape}")
        self.batch, self.chunk = int(batch), int(chunk)
        if self.batch < 1 or self.chunk < 1:
            raise ValueError(f"batch and chunk must be >= 1, got {batch}, {chunk}")
        segment = ids.size // self.batch
        if segment < self.chunk + 1:
            raise ValueError(
                f"a text of {ids.size} characters gives {self.batch} streams of {segment}, "
                f"too short for one chunk of {self.chunk} steps plus its target; "
                "use a smaller --batch or --chunk, or a longer text"
            )
        # (B, segment): row b is stream b's text
        self._segments = np.ascontiguousarray(ids[: segment * self.batch].reshape(self.batch,
                                                                                  segment))
        self.segment = segment
        self.position = 0
        self.epoch = 0

    @property
    def chunks_per_epoch(self) -> int:
        return (self.segment - 1) // self.chunk

    def next_chunk(self) -> tuple[Array, Array, bool]:
        """(inputs (T, B), targets (T, B), reset): the next chunk of every stream."""
        reset = self.position == 0
        if self.position + self.chunk + 1 > self.segment:
            self.position, self.epoch, reset = 0, self.epoch + 1, True
        p, T = self.position, self.chunk
        window = self._segments[:, p : p + T + 1].T  # (T+1, B)
        self.position += T
        return np.ascontiguousarray(window[:-1]), np.ascontiguousarray(window[1:]), reset

    def state_dict(self) -> dict:
        return {"position": self.position, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        position = int(state["position"])
        if not 0 <= position <= self.segment:
            raise ValueError(f"stream position {position} lies outside 0..{self.segment}")
        self.position, self.epoch = position, int(state["epoch"])


def stream_windows(ids: Array, batch: int, chunk: int) -> Iterable[tuple[Array, Array]]:
    """Every (inputs (t, B), targets (t, B)) chunk of ``ids`` cut into ``batch``
    contiguous streams, in order, the last chunk possibly shorter: a single
    pass that predicts each character of the streams but the first, for
    evaluation with the state carried between chunks."""
    ids = np.asarray(ids, dtype=np.int64)
    batch = max(1, min(int(batch), (ids.size - 1) // 2))
    segment = ids.size // batch
    segments = ids[: segment * batch].reshape(batch, segment).T  # (segment, B)
    for start in range(0, segment - 1, chunk):
        stop = min(start + chunk, segment - 1)
        yield (np.ascontiguousarray(segments[start:stop]),
               np.ascontiguousarray(segments[start + 1 : stop + 1]))
