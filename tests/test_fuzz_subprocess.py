"""Runs the hypothesis fuzz suite (tests/test_fuzz.py, its ``ci`` profile) in
a child process, so that an input that crashed the interpreter would fail
this test instead of taking the whole suite down with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import bptt

pytest.importorskip("hypothesis")
FUZZ = Path(__file__).resolve().parent / "test_fuzz.py"


def test_fuzz_suite_runs_clean_in_a_subprocess(tmp_path):
    report = tmp_path / "fuzz.json"
    package_root = str(Path(bptt.__file__).resolve().parent.parent)
    env = dict(os.environ, BPTT_FUZZ="1", BPTT_FUZZ_REPORT=str(report),
               HYPOTHESIS_PROFILE="ci",
               PYTHONPATH=os.pathsep.join(p for p in (package_root,
                                                      os.environ.get("PYTHONPATH")) if p))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(FUZZ), "-q", "-p", "no:cacheprovider",
        ],
        cwd=FUZZ.parent, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (
        f"fuzz run failed (status {result.returncode}; a negative status is a signal, "
        f"i.e. a crash):\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}")
    counts = json.loads(report.read_text())
    assert counts["cases"] >= 500 and counts["results checked"] >= 100
