"""``bptt charlm`` killed with SIGKILL at random moments, checkpointing every
step (so many kills land inside a checkpoint write), always resumes, and
the run it finally completes is bit-identical to one never interrupted."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import bptt
from bptt.experiments.charmodel import load_npz

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

TEXT = "the quick brown fox jumps over the lazy dog. " * 40
STEPS = 150


def _command(text: Path, out: Path, resume: bool) -> list[str]:
    if resume:
        return [sys.executable, "-m", "bptt", "charlm", "--resume", str(out), "--no-progress"]
    return [sys.executable, "-m", "bptt", "charlm", "--text", str(text), "--out", str(out),
            "--steps", str(STEPS), "--hidden", "24", "--batch", "4", "--chunk", "12",
            "--checkpoint-every", "1", "--eval-every", "0", "--sample-every", "0",
            "--backend", "numpy", "--seed", "3", "--no-progress"]


def _env() -> dict:
    package_root = str(Path(bptt.__file__).resolve().parent.parent)
    return dict(os.environ, PYTHONPATH=package_root, PYTHONHASHSEED="0")


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def _final_arrays(out: Path) -> dict:
    arrays, meta = load_npz(out / "checkpoint.npz")
    assert meta["step"] == STEPS
    return {k: v for k, v in arrays.items() if k.startswith(("model/", "optim/", "state/"))}


def test_sigkill_at_random_moments_always_resumes_bit_identically(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text(TEXT)
    straight = tmp_path / "straight"
    subprocess.run(_command(text, straight, False), env=_env(), check=True,
                   capture_output=True, timeout=300)
    expected = _final_arrays(straight)

    draw = random.Random(12)
    out = tmp_path / "killed"
    checkpoint = out / "checkpoint.npz"
    kills = 0
    deadline = time.monotonic() + 240
    while True:
        assert time.monotonic() < deadline, "the interrupted run did not finish in time"
        child = subprocess.Popen(_command(text, out, checkpoint.exists()), env=_env(),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if kills < 6:
            # let it write a few checkpoints, then kill it at a random instant: with
            # one checkpoint per step, often in the middle of writing one
            writes, last = draw.randint(1, 12), _mtime(checkpoint)
            while writes and child.poll() is None:
                time.sleep(0.002)
                if _mtime(checkpoint) != last:
                    writes, last = writes - 1, _mtime(checkpoint)
            time.sleep(draw.uniform(0, 0.03))
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
                child.wait()
                kills += 1
                continue
        child.wait(timeout=300)
        stderr = child.stderr.read().decode()
        assert child.returncode == 0, f"a resumed run failed: {stderr}"
        break
    assert kills == 6
    got = _final_arrays(out)
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        assert np.array_equal(got[key], value), key
