"""Clear errors from the command line and from damaged checkpoints: one
line naming the flag or the file, exit status 2, no traceback; a run whose
loss explodes stops and says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import bptt
from bptt.experiments.charlm import train_charlm
from bptt.experiments.charmodel import load_npz, save_npz

TINY = "the quick brown fox jumps over the lazy dog. " * 12
TINY_RUN = {"hidden": 8, "batch": 2, "chunk": 5, "lr": 1e-2, "eval_every": 0,
            "sample_every": 0, "checkpoint_every": 0, "progress": False}


def _cli(*args, cwd):
    package_root = str(Path(bptt.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=package_root)
    return subprocess.run([sys.executable, "-m", "bptt", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env=env)


@pytest.mark.parametrize("flag, value", [
    ("--threads", "0"), ("--threads", "-1"), ("--temperature", "0"), ("--lr", "nan"),
    ("--seed", "-1"), ("--hidden", "1.5"), ("--steps", "-3"), ("--max-minutes", "inf"),
])
def test_bad_flags_give_one_line_and_status_2(flag, value, tmp_path):
    result = _cli("charlm", flag, value, "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert flag in last and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_out_that_is_a_file_and_garbage_resume_are_one_line(tmp_path):
    (tmp_path / "file.txt").write_text("not a directory")
    result = _cli("charlm", "--steps", "1", "--out", "file.txt", "--no-progress", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--out 'file.txt' is a file" in result.stderr
    (tmp_path / "noise.npz").write_bytes(np.random.default_rng(0).bytes(300))
    result = _cli("charlm", "--resume", "noise.npz", "--no-progress", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "not a readable bptt checkpoint" in result.stderr
    assert "allow_pickle" not in result.stderr


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    train_charlm(text=TINY, out=out, steps=3, **TINY_RUN)
    return out / "checkpoint.npz"


def _damaged(checkpoint: Path, tmp_path: Path, how: str) -> Path:
    data = checkpoint.read_bytes()
    path = tmp_path / f"{how}.npz"
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "bitflip":
        flipped = bytearray(data)
        for k in range(40, len(flipped), 97):
            flipped[k] ^= 0x5A
        path.write_bytes(bytes(flipped))
    elif how == "pickled":
        np.save(path.with_suffix(""), np.array([{"a": 1}], dtype=object), allow_pickle=True)
        path.with_suffix(".npy").rename(path)
    else:  # a field changed in the metadata or the arrays
        arrays, meta = load_npz(checkpoint)
        if how == "negative_step":
            meta["step"] = -5
        elif how == "nan_optimizer":
            key = next(k for k in arrays if k.startswith("optim/"))
            arrays[key] = np.full_like(arrays[key], np.nan)
        elif how == "missing_field":
            del meta["streams"]
        elif how == "short_history":
            arrays["history/step"] = arrays["history/step"][:-1]
        save_npz(path, arrays, meta)
    return path


@pytest.mark.parametrize("how", ["empty", "truncated", "bitflip", "pickled", "negative_step",
                                 "nan_optimizer", "missing_field", "short_history"])
def test_damaged_checkpoints_are_refused_in_one_line(checkpoint, tmp_path, how):
    path = _damaged(checkpoint, tmp_path, how)
    with pytest.raises(ValueError) as info:
        train_charlm(text=TINY, resume=path, progress=False)
    message = str(info.value)
    assert "\n" not in message and str(path.name) in message


def test_checkpoint_is_written_whole_and_resumes(checkpoint, tmp_path):
    """The writer leaves no temporary file, and the result reads back."""
    assert not list(checkpoint.parent.glob("*.tmp"))
    arrays, meta = load_npz(checkpoint)
    assert meta["step"] == 3 and zipfile.is_zipfile(checkpoint)
    json.dumps(meta)


def test_optimizer_state_dicts_are_checked():
    layer = bptt.GRU(2, 3)
    opt = bptt.optim.Adam([layer], lr=1e-3)
    with pytest.raises(ValueError, match="'state', 'steps' and 'lr'"):
        opt.load_state_dict({"state": {}})
    state = opt.state_dict()
    state["steps"] = -1
    with pytest.raises(ValueError, match="steps must be an int >= 0"):
        opt.load_state_dict(state)


@pytest.mark.parametrize("seed, error", [(-1, ValueError), (1.5, TypeError), (True, TypeError)])
def test_seed_errors_name_seed(seed, error):
    with pytest.raises(error, match="seed must be an int >= 0"):
        bptt.GRU(2, 3, seed=seed)


def test_exploding_loss_stops_the_run(tmp_path):
    result = train_charlm(text=TINY, out=tmp_path, steps=20, **{**TINY_RUN, "lr": 1e30})
    assert result["status"] == "diverged" and result["steps"] < 20


def test_a_fresh_run_never_overwrites_a_checkpoint(checkpoint, tmp_path):
    out = checkpoint.parent
    with pytest.raises(ValueError, match="already holds a checkpoint.*--resume.*--overwrite"):
        train_charlm(text=TINY, out=out, steps=1, **TINY_RUN)
    _, meta = load_npz(checkpoint)
    assert meta["step"] == 3                                  # untouched
    fresh = tmp_path / "fresh"
    train_charlm(text=TINY, out=fresh, steps=1, **TINY_RUN)
    result = train_charlm(text=TINY, out=fresh, steps=2, overwrite=True, **TINY_RUN)
    assert result["steps"] == 2


def test_demo_stops_when_charlm_is_interrupted(tmp_path, monkeypatch):
    from bptt.experiments import demo

    calls = []
    monkeypatch.setattr("bptt.experiments.nback.run_nback",
                        lambda **kw: {"final_loss": 0.01})
    monkeypatch.setattr("bptt.experiments.charlm.train_charlm",
                        lambda **kw: {"status": "interrupted", "checkpoint": "c.npz"})
    monkeypatch.setattr("bptt.experiments.match.run_match",
                        lambda *a, **kw: calls.append("match"))
    summary = demo.run_demo(tmp_path, quick=True, progress=False)
    assert summary["status"] == "interrupted" and calls == []


def test_version_bare_command_and_plain_help(tmp_path):
    assert _cli("--version", cwd=tmp_path).stdout.strip() == f"bptt {bptt.__version__}"
    bare = _cli(cwd=tmp_path)
    assert bare.returncode == 2 and "usage: bptt" in bare.stderr
    demo_help = _cli("demo", "--help", cwd=tmp_path).stdout
    assert "``" not in demo_help and "issue 6" not in _cli("bench", "--help", cwd=tmp_path).stdout
