"""``bptt bench`` and benchmarks/report.py without running a benchmark: the
FLOP counts, the tables made from hand-written pytest-benchmark JSON (bptt
against torch, inference with onnxruntime, default threads, bptt.torch,
charlm against torch), and the command line's help and its message when there
is no benchmarks folder."""

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


def _bench(group, backend, median, work, **info):
    return {"group": group, "name": f"test_x[{backend}]", "params": {},
            "stats": {"median": median},
            "extra_info": {"backend": backend, "flops": work, "threads": 1, **info}}


def _tables(data: dict) -> tuple[list[str], list[str]]:
    """The report's tables and their footers: each table is followed by a blank line
    and its footer."""
    chunks = report_table(data).split("\n\n")
    return chunks[0::2], chunks[1::2]


def _rows(table: str) -> dict[str, str]:
    """Each row of a markdown table (the header's too), by its first cell."""
    return {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines()
            if line.startswith("| ") and not line.startswith("|---")}


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


INFER = "LSTM T=100 inference (65, 128, 32) float32"
TRAIN = "GRU T=100 fwd+bwd (65, 128, 32) float32"
INFERENCE = {"pass": "inference"}  # extra_info of an inference row
SPLIT_DATA = {
    "machine_info": {"cpu": {"brand_raw": "Test CPU 9000"}, "python_version": "3.11.7"},
    "benchmarks": [
        _bench(PEAK_GROUP, "torch", 2e-3, 2 * 10**9),  # peak 1000 GFLOP/s
        # inference, 1e9 FLOPs: numba 5 ms beats cython 8 ms, so bptt = 5 ms = 200 GFLOP/s
        _bench(INFER, "cython", 8e-3, 10**9, **INFERENCE),
        _bench(INFER, "numba", 5e-3, 10**9, **INFERENCE),
        _bench(INFER, "bptt.torch", 6e-3, 10**9, **INFERENCE),
        _bench(INFER, "torch", 10e-3, 10**9, **INFERENCE),  # 10 / 5 = 2.00x
        _bench(INFER, "onnxruntime", 4e-3, 10**9, onnxruntime="1.32.0",
               **INFERENCE),  # 4 / 5 = 0.80x: onnxruntime is faster here
        # an inference group without onnxruntime (float64): an empty cell, no ratio
        _bench("GRU T=100 inference (65, 128, 32) float64", "cython", 2e-3, 10**6,
               **INFERENCE),
        # one thread: bptt 20 ms (cython), torch 30 ms
        _bench(TRAIN, "cython", 20e-3, 10**9, **{"pass": "fwd+bwd"}),
        _bench(TRAIN, "torch", 30e-3, 10**9, **{"pass": "fwd+bwd"}),
        # two threads: bptt 16 ms (numpy beats cython's 18 ms), torch 12 ms
        _bench(TRAIN + " threads=2", "cython", 18e-3, 10**9, threads=2),
        _bench(TRAIN + " threads=2", "numpy", 16e-3, 10**9, threads=2),
        _bench(TRAIN + " threads=2", "torch", 12e-3, 10**9, threads=2),
        # bptt.torch's own suite keeps its table
        _bench("bptt.torch GRU T=100 train (65, 128, 32) float32 threads=1", "torch",
               9e-3, None),
        _bench("bptt.torch GRU T=100 train (65, 128, 32) float32 threads=1", "bptt.torch",
               3e-3, None),
    ],
}


def test_report_splits_groups_into_tables():
    tables, _ = _tables(SPLIT_DATA)
    heads = [t.splitlines()[0] for t in tables]
    assert heads == [
        "| workload | cython | torch | best GFLOP/s (% of peak) |",
        "| workload | cython | numba | bptt.torch | torch (torch / bptt) "
        "| onnxruntime (onnxruntime / bptt) | best GFLOP/s (% of peak) |",
        "| workload | threads | cython | numpy | torch (torch / bptt) "
        "| bptt, 1 thread (1 / N threads) | torch, 1 thread (1 / N threads) |",
        "| workload | threads | torch | bptt.torch (torch / bptt.torch) |",
    ]
    backend, _, _, modules = map(_rows, tables)
    # the one-thread training row stays in the first table, the N-thread one does not
    assert set(backend) == {"workload", TRAIN}
    assert set(modules) == {"workload", "GRU T=100 train (65, 128, 32) float32"}
    assert "(3.00x)" in modules["GRU T=100 train (65, 128, 32) float32"]


def test_inference_table_ratios_over_the_fastest_bptt_backend():
    tables, footers = _tables(SPLIT_DATA)
    rows = _rows(tables[1])
    # the bptt.torch row is a column here, not a move to bptt.torch's table
    assert rows[INFER] == (
        f"| {INFER} | 8.00 ms | 5.00 ms | 6.00 ms | 10.00 ms (2.00x) | 4.00 ms (0.80x) "
        f"| 200.00 numba (20%) |")
    assert rows["GRU T=100 inference (65, 128, 32) float64"] == (
        "| GRU T=100 inference (65, 128, 32) float64 | 2.00 ms |  |  |  |  "
        "| 0.50 cython (0.05%) |")
    for text in ("onnxruntime 1.32.0", "torch.inference_mode()", "> 1: bptt is faster",
                 "1000.00 GFLOP/s"):
        assert text in footers[1], text


def test_threads_table_gains_from_more_cores():
    rows = _rows(_tables(SPLIT_DATA)[0][2])
    # torch / bptt at 2 threads: 12 / 16; bptt's gain: 20 / 16; torch's: 30 / 12
    assert rows[TRAIN] == (
        f"| {TRAIN} | 2 | 18.00 ms | 16.00 ms | 12.00 ms (0.75x) | 20.00 ms (1.25x) "
        f"| 30.00 ms (2.50x) |")


def test_threads_table_without_its_one_thread_group():
    data = {"benchmarks": [b for b in SPLIT_DATA["benchmarks"] if b["group"] != TRAIN]}
    rows = _rows(_tables(data)[0][-2])  # the threads table, before bptt.torch's
    assert rows[TRAIN] == f"| {TRAIN} | 2 | 18.00 ms | 16.00 ms | 12.00 ms (0.75x) |  |  |"


CHARLM = "charlm train step (default model)"
CHARLM_INFO = {"pass": "train", "suite": "charlm", "chars": 3200,
               "config": {"hidden": 256, "batch": 32, "chunk": 100}}
CHARLM_DATA = {
    **SPLIT_DATA,
    "benchmarks": [
        *SPLIT_DATA["benchmarks"],
        # one thread: bptt 40 ms (cython), torch 100 ms
        _bench(CHARLM, "cython", 40e-3, None, **CHARLM_INFO),
        _bench(CHARLM, "torch", 100e-3, None, **CHARLM_INFO),
        # two threads: bptt 25 ms, torch 55 ms
        _bench(CHARLM + " threads=2", "cython", 25e-3, None, **CHARLM_INFO, threads=2),
        _bench(CHARLM + " threads=2", "torch", 55e-3, None, **CHARLM_INFO, threads=2),
    ],
}


def test_charlm_table_throughput_and_gain():
    text = report_table(CHARLM_DATA)
    # the other tables first, exactly as they are without the charlm rows
    assert text.startswith(report_table(SPLIT_DATA) + "\n\n")
    chunks = text.split("\n\n")
    tables, footers = chunks[0::2], chunks[1::2]
    assert len(tables) == len(_tables(SPLIT_DATA)[0]) + 1
    assert tables[-1].splitlines()[0] == (
        "| workload | bptt | torch (torch / bptt) | bptt chars/s | torch chars/s "
        "| bptt, 1 thread (1 / N threads) |")
    rows = _rows(tables[-1])
    # one thread: 100 / 40 = 2.50x; 3200 chars / 40 ms and / 100 ms; no gain to show
    assert rows[CHARLM + " threads=1"] == (
        f"| {CHARLM} threads=1 | 40.00 ms (cython) | 100.00 ms (2.50x) | 80,000 | 32,000 |  |")
    # two threads: 55 / 25 = 2.20x; 3200 / 25 ms, 3200 / 55 ms = 58,182; gain 40 / 25
    assert rows[CHARLM + " threads=2"] == (
        f"| {CHARLM} threads=2 | 25.00 ms (cython) | 55.00 ms (2.20x) | 128,000 | 58,182 "
        f"| 40.00 ms (1.60x) |")
    for text in ("hidden 256, batch 32, chunk 100", "torch / bptt", "Test CPU 9000"):
        assert text in footers[-1], text


def test_charlm_table_alone():
    # bptt bench --select charlm: no other table, not even an empty one
    charlm = [b for b in CHARLM_DATA["benchmarks"] if b["group"].startswith("charlm ")]
    text = report_table({"benchmarks": charlm})
    assert text.startswith("| workload | bptt | torch (torch / bptt) |")
    assert text.count("| workload |") == 1
    # without its one-thread group the N-thread row has no gain to show
    alone = report_table({"benchmarks": [b for b in charlm if b["group"] != CHARLM]})
    assert f"| {CHARLM} threads=2 | 25.00 ms (cython) | 55.00 ms (2.20x) | 128,000 | 58,182 |  |" \
        in alone


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
