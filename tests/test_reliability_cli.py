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
from bptt.__main__ import main
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
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0] and "--help" in lines[0]
    assert not (tmp_path / "run").exists()


def test_out_that_is_a_file_and_garbage_resume_are_one_line(tmp_path):
    (tmp_path / "file.txt").write_text("not a directory")
    result = _cli("charlm", "--steps", "1", "--out", "file.txt", "--no-progress", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "argument --out: 'file.txt' is a file" in result.stderr
    (tmp_path / "noise.npz").write_bytes(np.random.default_rng(0).bytes(300))
    result = _cli("charlm", "--resume", "noise.npz", "--no-progress", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "argument --resume: 'noise.npz' is not a readable bptt checkpoint" in result.stderr
    assert "allow_pickle" not in result.stderr


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    train_charlm(text=TINY, out=out, steps=3, **TINY_RUN)
    return out / "checkpoint.npz"


# -- every subcommand: a bad flag is named, status 2, before any work ----------------------

#: Each command line with one bad value, and the flag its error must name.
#: {file}: a plain file; {dir}: a directory; {ckpt}: a charlm checkpoint;
#: {out}: an --out that must not be created.
BAD_FLAGS = [
    ("nback --n -1", "--n"),
    ("nback --length 0", "--length"),
    ("nback --lr 0", "--lr"),
    ("nback --lr nan", "--lr"),
    ("nback --iterations -1", "--iterations"),
    ("nback --target-loss -1", "--target-loss"),
    ("nback --seed -1", "--seed"),
    ("nback --print-every 0", "--print-every"),
    ("nback --backend foo", "--backend"),
    ("nback --out {file}", "--out"),
    ("nback --out {file}/sub", "--out"),
    ("demo --seed -1", "--seed"),
    ("demo --backend foo", "--backend"),
    ("demo --out {file}/sub", "--out"),
    ("params --input 0 --hidden 3", "--input"),
    ("params --input 2 --hidden -1", "--hidden"),
    ("params --input 2 --hidden 3 --layers 0", "--layers"),
    ("params --input 2 --hidden 3 --seed -1", "--seed"),
    ("params --input 2 --hidden 3 --out {file}", "--out"),
    ("match {ckpt} --trials 0", "--trials"),
    ("match {ckpt} --seed -1", "--seed"),
    ("match {ckpt} --out {file}", "--out"),
    ("match {ckpt} --text {dir}/missing.txt", "--text"),
    ("match {ckpt} --text {dir}", "--text"),
    ("minchar --hidden 0", "--hidden"),
    ("minchar --seq-length 0", "--seq-length"),
    ("minchar --lr -1", "--lr"),
    ("minchar --iterations -1", "--iterations"),
    ("minchar --sample-every -1", "--sample-every"),
    ("minchar --sample-length -1", "--sample-length"),
    ("minchar --seed -1", "--seed"),
    ("minchar --backend foo", "--backend"),
    ("minchar --out {file}/sub", "--out"),
    ("minchar --text {dir}", "--text"),
    ("charlm --out {file}/sub", "--out"),
    ("charlm --text {dir}/missing.txt", "--text"),
    ("charlm --resume {file}", "--resume"),
    ("charlm --resume {dir}/missing.npz", "--resume"),
]

#: The work each subcommand starts: none of it may run when a flag is bad.
WORK = ["bptt.experiments.nback.run_nback", "bptt.experiments.demo.run_demo",
        "bptt.experiments.params.parameter_counts", "bptt.experiments.match.run_match",
        "bptt.experiments.minchar.run_minchar", "bptt.experiments.charlm.train_charlm"]


def _command_line(template: str, tmp_path: Path, ckpt: Path) -> list[str]:
    (tmp_path / "file.txt").write_text("not a directory, not a checkpoint")
    words = template.format(file=tmp_path / "file.txt", dir=tmp_path, ckpt=ckpt).split()
    if "--out" not in words:
        words += ["--out", str(tmp_path / "out")]
    return words


def _one_line_error(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"bptt {command}: error: "), err
    return err[0]


@pytest.mark.parametrize("template, flag", BAD_FLAGS)
def test_every_subcommand_names_a_bad_flag_before_any_work(template, flag, checkpoint,
                                                           tmp_path, monkeypatch, capsys):
    for target in WORK:
        monkeypatch.setattr(target, lambda *a, **k: pytest.fail("work started"))
    argv = _command_line(template, tmp_path, checkpoint)
    assert main(argv) == 2
    assert flag in _one_line_error(capsys, argv[0])
    assert not (tmp_path / "out").exists()


@pytest.fixture
def texts(tmp_path) -> dict[str, Path]:
    (tmp_path / "binary.txt").write_bytes(bytes(range(128, 256)))
    (tmp_path / "short.txt").write_text("hi\n")
    return {"binary": tmp_path / "binary.txt", "short": tmp_path / "short.txt"}


#: Errors only a run can find (two flags together, a file's content): still one
#: line, in the flags' words, status 2, before training. The last column must
#: not appear (charlm once turned "hold out 5%" into "hold --out 5%").
LATE_ERRORS = [
    ("nback --n 60", ["--n", "--length"], None),
    ("minchar --text {binary}", ["--text", "not UTF-8"], None),
    ("minchar --text {short}", ["--seq-length"], "seq_length"),
    ("charlm --text {binary}", ["--text", "not UTF-8"], None),
    ("charlm --text {short}", ["hold out 5%"], "--out"),
    ("charlm --resume {ckpt} --hidden 99", ["--hidden=99", "--max-minutes", "--temperature"],
     "max_minutes"),
]


@pytest.mark.parametrize("template, wanted, unwanted", LATE_ERRORS)
def test_late_errors_speak_in_flags(template, wanted, unwanted, checkpoint, texts, tmp_path,
                                    capsys):
    argv = template.format(ckpt=checkpoint, **texts).split()
    argv += ["--out", str(tmp_path / "out"), "--no-progress"]
    assert main(argv) == 2
    line = _one_line_error(capsys, argv[0])
    assert all(word in line for word in wanted), line
    assert unwanted is None or unwanted not in line
    assert not (tmp_path / "out").exists()


def test_bad_flag_in_a_subprocess_is_one_line(tmp_path):
    """As a user sees it: one line on stderr, status 2, no usage dump, no traceback."""
    result = _cli("minchar", "--seq-length", "0", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == ("bptt minchar: error: argument --seq-length: must be > 0, got 0 "
                             "(see bptt minchar --help)\n")


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
