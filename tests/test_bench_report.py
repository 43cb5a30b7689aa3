"""``bptt bench`` and benchmarks/report.py without running a benchmark: the
FLOP counts, the table made from a hand-written pytest-benchmark JSON, and the
command line's help and its message when there is no benchmarks folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import bptt
from bptt.__main__ import main
from bptt.experiments.bench import PEAK_GROUP, flops, report_table


def test_flops_of_known_shapes():
    # 2 T B G H (I + H): G = 1 (RNN), 3 (GRU), 4 (LSTM)
    assert flops("RNN", 1, 6) == 2 * 6 * 7 == 84
    assert flops("GRU", 1, 6) == 3 * 84
    assert flops("LSTM", 1, 6) == 4 * 84
    assert flops("GRU", 65, 128, batch=32, T=100) == 2 * 100 * 32 * 3 * 128 * 193 == 474316800
    assert flops("GRU", 65, 128, 32, 100, backward=True) == 3 * 474316800
    assert flops("lstm", 1024, 1024, 32, 100) == 2 * 100 * 32 * 4 * 1024 * 2048


def _bench(group, backend, median, work):
    return {"group": group, "name": f"test_x[{backend}]", "params": {},
            "stats": {"median": median},
            "extra_info": {"backend": backend, "flops": work, "threads": 1}}


DATA = {
    "machine_info": {"cpu": {"brand_raw": "Test CPU 9000"}, "python_version": "3.11.7"},
    "benchmarks": [
        # peak: torch's 2 ms beats numpy's 4 ms, so the peak is 2e9 / 2e-3 = 1000 GFLOP/s
        _bench(PEAK_GROUP, "numpy", 4e-3, 2 * 10**9),
        _bench(PEAK_GROUP, "torch", 2e-3, 2 * 10**9),
        # 1e9 FLOPs: cython 4 ms = 250 GFLOP/s = 25% of peak; torch 10 ms: 2.5x
        _bench("GRU T=100 fwd+bwd (65, 128, 32) float32", "cython", 4e-3, 10**9),
        _bench("GRU T=100 fwd+bwd (65, 128, 32) float32", "torch", 10e-3, 10**9),
        # 1e6 FLOPs: cython 50 us = 20 GFLOP/s = 2% of peak; torch 1 ms: 20x
        _bench("GRU T=100 fwd (1, 6, 1) float32", "cython", 50e-6, 10**6),
        _bench("GRU T=100 fwd (1, 6, 1) float32", "torch", 1e-3, 10**6),
    ],
}


def test_report_table_ratios_and_gflops():
    lines = report_table(DATA).splitlines()
    assert lines[0] == "| workload | cython | torch | best GFLOP/s (% of peak) |"
    rows = {line.split(" | ")[0].lstrip("| "): line for line in lines[2:] if line.startswith("|")}
    # the peak group is the footer's figure, not a row
    assert set(rows) == {"GRU T=100 fwd (1, 6, 1) float32",
                         "GRU T=100 fwd+bwd (65, 128, 32) float32"}
    assert rows["GRU T=100 fwd+bwd (65, 128, 32) float32"] == (
        "| GRU T=100 fwd+bwd (65, 128, 32) float32 | 4.00 ms (2.5x) | 10.00 ms "
        "| 250.00 cython (25%) |")
    assert rows["GRU T=100 fwd (1, 6, 1) float32"] == (
        "| GRU T=100 fwd (1, 6, 1) float32 | 50.0 us (20.0x) | 1.00 ms | 20.00 cython (2%) |")
    # rows in natural order: (1, 6, 1) before (65, 128, 32)
    assert lines[2].startswith("| GRU T=100 fwd (1, 6, 1)")
    footer = lines[-1]
    for text in ("Test CPU 9000", "Python 3.11.7", "threads: 1", "1000.00 GFLOP/s",
                 "numpy 500.00", "torch 1000.00"):
        assert text in footer, text


def test_report_table_without_a_peak_or_torch():
    data = {"benchmarks": [_bench("RNN T=100 fwd (1, 6, 1) float32", "numba", 1e-3, 10**6)]}
    table = report_table(data)
    assert "| 1.00 ms |  | 1.00 numba |" in table  # no ratio, no torch time, no share
    assert "no matmul peak in this run" in table


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--benchmarks", "--select", "--out", "--seed"):
        assert flag in out, flag
    assert "runs/bench" in out and "clone" in out


def test_missing_benchmarks_folder_is_a_clear_error(tmp_path, capsys):
    missing = tmp_path / "nonexistent"
    assert main(["bench", "--benchmarks", str(missing), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"no benchmarks folder at {missing}" in err
    assert "from a clone" in err and "--benchmarks DIR" in err
    assert not (tmp_path / "out").exists()  # nothing ran, nothing written


def test_missing_benchmarks_folder_exits_non_zero(tmp_path):
    # the installed command's exit status, not only main()'s return value
    env = dict(os.environ)
    src = str(Path(bptt.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-m", "bptt", "bench", "--benchmarks", "/nonexistent"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "no benchmarks folder at /nonexistent" in done.stderr
    assert not (tmp_path / "runs").exists()
