"""``bptt match``: match_length on hand-made cases and on seed 001's own
example, and the subcommand on a tiny trained checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bptt.__main__ import main
from bptt.experiments import match_counts, match_length, shipped_text, train_charlm


def naive_match_length(text: str, prime: str, generated: str) -> int:
    """Slow and obviously right: every start position, character by character."""
    best = 0
    for start in range(len(text) - len(prime) + 1):
        if text[start : start + len(prime)] != prime:
            continue
        n = 0
        follow = start + len(prime)
        while n < len(generated) and follow + n < len(text) and text[follow + n] == generated[n]:
            n += 1
        best = max(best, n)
    return best


# -- match_length ------------------------------------------------------------------


def test_no_occurrence_scores_zero():
    assert match_length("the cat sat on the mat", "dog", "anything") == 0


def test_prime_at_the_very_end_has_nothing_to_match():
    assert match_length("abcxyz", "xyz", "abc") == 0
    # ... unless another occurrence has a continuation
    assert match_length("xyzab xyz", "xyz", "abc") == 2


def test_overlapping_occurrences_all_count():
    # 'aa' occurs at 0, 1 and 2 of 'aaab'; only the one at 2 is followed by 'b'
    assert match_length("aaab", "aa", "b") == 1
    assert match_length("aaab", "aa", "ab") == 2  # the occurrence at 1
    assert match_length("aaab", "aa", "aab") == 1  # at 0 'ab' follows: 'a', then 'b' != 'a'
    for generated in ("b", "ab", "aab", "abx", "x"):
        assert match_length("aaab", "aa", generated) == naive_match_length("aaab", "aa",
                                                                           generated)


def test_longest_over_occurrences_and_generated_limits():
    text = "prime:12345 prime:123 prime:1234567"
    assert match_length(text, "prime:", "1234599") == 5
    assert match_length(text, "prime:", "12345678") == 7
    assert match_length(text, "prime:", "") == 0


def test_full_100_character_match():
    text = shipped_text()
    start = 123_456
    prime, generated = text[start : start + 10], text[start + 10 : start + 110]
    assert len(generated) == 100
    assert match_length(text, prime, generated) == 100


def test_agrees_with_the_naive_version_on_random_strings():
    rng = np.random.default_rng(0)
    for _ in range(200):
        text = "".join(rng.choice(list("ab"), size=int(rng.integers(1, 40))))
        prime = "".join(rng.choice(list("ab"), size=int(rng.integers(1, 4))))
        generated = "".join(rng.choice(list("ab"), size=int(rng.integers(0, 10))))
        assert match_length(text, prime, generated) == naive_match_length(text, prime,
                                                                          generated)


def test_empty_prime_is_an_error():
    with pytest.raises(ValueError, match="prime"):
        match_length("abc", "", "a")


def test_the_seed_example():
    """Seed 001: 'ch species' occurs 3 times between characters 1,000 and 11,000;
    the prediction 'ch species has been independestly foll...' matches one of
    them for 19 characters and the other two for 1 and 3: it scores 19."""
    segment = shipped_text()[1000:11000]
    prime = "ch species"
    starts, i = [], segment.find(prime)
    while i >= 0:
        starts.append(i)
        i = segment.find(prime, i + 1)
    assert len(starts) == 3
    generated = " has been independestly foll"  # the seed's prediction, after its prime
    # each occurrence on its own, in text order: 3 (' had'), 1 (' are'), 19 (' has been ...')
    alone = [match_length(segment[s : s + 200], prime, generated) for s in starts]
    assert sorted(alone) == [1, 3, 19]
    assert alone == [3, 1, 19]
    follow = starts[2] + len(prime)
    assert segment[follow : follow + 19] == generated[:19]
    assert segment[follow + 19] != generated[19]
    assert match_length(segment, prime, generated) == 19


def test_match_counts_are_at_least_n():
    counts = match_counts([0, 3, 3, 100], 100)
    assert counts.shape == (101,)
    assert counts[0] == 4 and counts[1] == 3 and counts[3] == 3 and counts[4] == 1
    assert counts[100] == 1


# -- the subcommand ------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("charlm")
    text = "the quick brown fox jumps over the lazy dog. " * 20
    path = out / "text.txt"
    path.write_text(text)
    train_charlm(text_file=str(path), out=out, hidden=16, batch=4, chunk=10, steps=40, lr=1e-2,
                 eval_every=0, sample_every=0, checkpoint_every=0, progress=False)
    return out / "checkpoint.npz"


def test_match_subcommand_writes_plot_and_counts(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "match"
    assert main(["match", str(tiny_checkpoint), "--out", str(out), "--seed", "1"]) == 0
    assert "mean match length" in capsys.readouterr().out
    assert (out / "match.png").stat().st_size > 0
    result = json.loads((out / "result.json").read_text())
    counts = result["counts"]
    assert len(counts) == 101
    assert counts[0] == result["trials"] == 200
    assert all(a >= b for a, b in zip(counts, counts[1:], strict=False))
    assert result["mean_match_length"] == pytest.approx(np.mean(result["lengths"]))
    assert result["mean_match_length"] == pytest.approx(sum(counts[1:]) / counts[0])


def test_match_subcommand_reports_a_missing_checkpoint(tmp_path, capsys):
    assert main(["match", str(tmp_path / "nothing.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_match_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["match", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "CHECKPOINT" in out and "--trials" in out
