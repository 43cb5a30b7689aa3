"""``bptt bench``: run the pytest-benchmark suite in ``benchmarks/`` and print
its markdown table.

The suite lives in the repository, not in the installed package, so the
command runs from a clone (or is given ``--benchmarks DIR``). It writes
``bench.json`` (pytest-benchmark's own format, for ``--benchmark-compare``)
and ``bench.md`` (the table) to ``--out``.

The table has one row per workload group: each bptt backend's median time
with torch's median divided by it, torch's time, and the achieved GFLOP/s of
the fastest bptt backend against the single-thread matrix-multiply peak
measured in the same run (the "matmul peak float32" group). The bptt.torch
modules against torch.nn's (benchmarks/test_bench_torch.py: training steps at
one and at the default thread count, and the fixed cost of one call) get a
second table: torch's median, bptt.torch's with torch / bptt.torch, and the
bare bptt layer or cell where the group has one.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

BPTT_BACKENDS = ("cython", "numba", "numpy")
#: The ``backend`` of benchmarks/test_bench_torch.py's bptt.torch rows: their own table.
MODULES_BACKEND = "bptt.torch"
PEAK_GROUP = "matmul peak float32"
_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4, "LAYERNORMGRU": 3, "LAYERNORMLSTM": 4,
          "PEEPHOLELSTM": 4}


def flops(kind: str, input_size: int, hidden_size: int, batch: int = 1, T: int = 1,
          backward: bool = False) -> int:
    """Multiply-add FLOPs of ``kind`` ("RNN", "GRU", "LSTM", "LSTMP",
    "PeepholeLSTM", "LayerNormGRU", "LayerNormLSTM") over T steps: 2 M N K
    per matrix product, G gate blocks of H rows against the input and the
    hidden state, so forward = 2 T B G H (I + H); "LSTMP" (proj_size
    P = H // 2) is 2 T B (4 H (I + P) + P H). Backward forms dx, dW_ih, dh and
    dW_hh, twice the forward products: forward + backward = 3x. A cell call is
    T = 1, B = 1. Element math (gates, layer norms, peepholes) is not counted."""
    if kind.upper() == "LSTMP":
        P = hidden_size // 2
        forward = 2 * T * batch * (4 * hidden_size * (input_size + P) + P * hidden_size)
        return 3 * forward if backward else forward
    forward = 2 * T * batch * _GATES[kind.upper()] * hidden_size * (input_size + hidden_size)
    return 3 * forward if backward else forward


def _backend(bench: dict) -> str:
    for source in (bench.get("extra_info") or {}, bench.get("params") or {}):
        if "backend" in source:
            return source["backend"]
    return "torch" if "torch" in bench["name"] else "?"


def _format(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def _natural(text: str) -> list:
    # "(65, 128, 1)" before "(256, 256, 1)": numbers compare as numbers
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _gflops(bench: dict) -> float | None:
    work = (bench.get("extra_info") or {}).get("flops")
    return work / bench["stats"]["median"] / 1e9 if work else None


def _percent(value: float) -> str:
    # batch-1 rows sit far below 1% of peak: keep a figure that tells them apart
    return f"{value:.0f}%" if value >= 10 else f"{value:.2g}%"


def report_table(data: dict) -> str:
    """The markdown table of a ``--benchmark-json`` file's contents; groups with a
    "bptt.torch" row (benchmarks/test_bench_torch.py) get a second table."""
    groups: dict[str, dict[str, dict]] = defaultdict(dict)
    for bench in data["benchmarks"]:
        groups[bench["group"] or bench["name"]][_backend(bench)] = bench
    modules = {group: groups.pop(group) for group in list(groups)
               if MODULES_BACKEND in groups[group]}
    if not modules:
        return _backend_table(groups, data)
    # the second table's rows need none of the first's: a bptt.torch-only run has one table
    first = _backend_table(groups, data) + "\n\n" if groups else ""
    return first + _modules_table(modules, data)


def _backend_table(groups: dict[str, dict[str, dict]], data: dict) -> str:
    """bptt's backends against torch, with GFLOP/s against the matmul peak."""
    peak_row = groups.pop(PEAK_GROUP, {})
    peaks = {b: g for b, g in ((b, _gflops(bench)) for b, bench in peak_row.items()) if g}
    peak = max(peaks.values(), default=None)
    present = [b for b in BPTT_BACKENDS if any(b in row for row in groups.values())]
    columns = [*present, "torch", "best GFLOP/s (% of peak)"]
    lines = ["| workload | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for group in sorted(groups, key=_natural):
        row = groups[group]
        torch_time = row["torch"]["stats"]["median"] if "torch" in row else None
        cells = []
        for backend in present:
            if backend not in row:
                cells.append("")
                continue
            seconds = row[backend]["stats"]["median"]
            ratio = f" ({torch_time / seconds:.1f}x)" if torch_time else ""
            cells.append(_format(seconds) + ratio)
        cells.append(_format(torch_time) if torch_time else "")
        ours = [row[b] for b in present if b in row]
        best = min(ours, key=lambda bench: bench["stats"]["median"]) if ours else None
        rate = _gflops(best) if best else None
        if rate is None:
            cells.append("")
        else:
            share = f" ({_percent(100 * rate / peak)})" if peak else ""
            cells.append(f"{rate:.2f} {_backend(best)}{share}")
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    info = data.get("machine_info", {})
    cpu = (info.get("cpu") or {}).get("brand_raw", "unknown CPU")
    threads = sorted({str(b["extra_info"]["threads"]) for row in (*groups.values(), peak_row)
                      for b in row.values() if "threads" in (b.get("extra_info") or {})})
    if peak:
        detail = ", ".join(f"{b} {g:.2f}" for b, g in sorted(peaks.items()))
        peak_text = (f"matmul peak {peak:.2f} GFLOP/s (1024^3 float32; {detail}; float64 "
                     f"rows are shares of this float32 peak too)")
    else:
        peak_text = "no matmul peak in this run"
    lines += ["", f"Median times; (Nx) = torch / bptt; GFLOP/s of the fastest bptt backend. "
                  f"{cpu}, Python {info.get('python_version', '?')}, "
                  f"threads: {'/'.join(threads) or '?'} (torch and BLAS), {peak_text}."]
    return "\n".join(lines)


def _modules_table(groups: dict[str, dict[str, dict]], data: dict) -> str:
    """bptt.torch's modules against torch.nn's: one row per workload and thread count,
    with the bare bptt layer or cell where the group has one (the wrapper's cost is the
    difference)."""
    bare = [b for b in BPTT_BACKENDS if any(b in row for row in groups.values())]
    columns = ["threads", "torch", f"{MODULES_BACKEND} (torch / {MODULES_BACKEND})"]
    if bare:
        columns += ["bare bptt", f"{MODULES_BACKEND} - bare"]
    lines = ["| workload | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for group in sorted(groups, key=_natural):
        row = groups[group]
        ours = row[MODULES_BACKEND]
        seconds = ours["stats"]["median"]
        torch_time = row["torch"]["stats"]["median"] if "torch" in row else None
        info = ours.get("extra_info") or {}
        workload = re.sub(r" threads=\d+$", "", group.removeprefix(MODULES_BACKEND + " "))
        cells = [str(info.get("threads", "?")), _format(torch_time) if torch_time else "",
                 _format(seconds) + (f" ({torch_time / seconds:.2f}x)" if torch_time else "")]
        if bare:
            own = next((row[b] for b in bare if b in row), None)
            if own is None:
                cells += ["", ""]
            else:
                base = own["stats"]["median"]
                cells += [f"{_format(base)} ({_backend(own)})", _format(seconds - base)]
        lines.append(f"| {workload} | " + " | ".join(cells) + " |")
    info = data.get("machine_info", {})
    cpu = (info.get("cpu") or {}).get("brand_raw", "unknown CPU")
    kernels = sorted({f"{lib.get('internal_api')} {lib.get('version')} "
                      f"{lib.get('architecture')}"
                      for row in groups.values() for b in row.values()
                      for lib in (b.get("extra_info") or {}).get("blas") or ()
                      if lib.get("architecture")})
    lines += ["", f"Median times; (Nx) = torch / {MODULES_BACKEND}, same run; \"train\" is "
                  f"a whole training step (embedding, layer, linear, cross-entropy, backward, "
                  f"Adam); bare = bptt's own layer or cell on numpy arrays. {cpu}, Python "
                  f"{info.get('python_version', '?')}, BLAS: {'; '.join(kernels) or '?'}."]
    return "\n".join(lines)


def run_bench(benchmarks: str | Path = "benchmarks", out: str | Path = "runs/bench",
              select: str | None = None, pytest_args: Sequence[str] = ()) -> tuple[int, str]:
    """Run the suite in ``benchmarks`` with pytest (``select`` is its ``-k``,
    ``pytest_args`` go on its command line), write ``bench.json`` and
    ``bench.md`` to ``out``; return pytest's exit code and the table."""
    folder = Path(benchmarks)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"no benchmarks folder at {folder.absolute()}: the suite lives in the repository, "
            f"not in the installed package; run bptt bench from a clone, or pass "
            f"--benchmarks DIR")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "bench.json"
    json_path.unlink(missing_ok=True)  # a stale file would pass for this run's
    command = [sys.executable, "-m", "pytest", str(folder), "--benchmark-only",
               f"--benchmark-json={json_path}", "-q"]
    if select:
        command += ["-k", select]
    command += list(pytest_args)
    code = subprocess.run(command).returncode
    if not json_path.exists():
        raise RuntimeError(f"pytest exited with {code} and wrote no {json_path}"
                           + (" (did --select match any benchmark?)" if code == 5 else ""))
    table = report_table(json.loads(json_path.read_text()))
    (out / "bench.md").write_text(table + "\n")
    return code, table


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``bptt bench``."""
    p = subparsers.add_parser(
        "bench",
        help="time every backend against torch, print the markdown table",
        description="Run the pytest-benchmark suite (bptt's backends and torch, one thread) "
                    "and print a markdown table of median times, torch/bptt ratios and "
                    "GFLOP/s against the matmul peak measured in the same run. Runs from a "
                    "clone of the repository: the suite is not installed with the package.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--benchmarks", metavar="DIR", default="benchmarks",
                   help="the repository's benchmarks folder")
    p.add_argument("--select", metavar="EXPR", default=None,
                   help="run only the benchmarks matching this pytest -k expression")
    # --seed only so that every subcommand takes one: the suite's data are seeded with 0
    p.add_argument("--seed", type=int, default=0,
                   help="accepted like every subcommand's --seed, but unused: the data are fixed")
    p.add_argument("--out", metavar="DIR", default="runs/bench",
                   help="directory for bench.json and bench.md")
    p.add_argument("pytest_args", nargs="*", default=[], metavar="-- PYTEST_ARGS",
                   help="after --, options for pytest, e.g. --benchmark-min-rounds=1")
    return p


def run_cli(args: argparse.Namespace) -> int:
    """Run the suite, print the table; non-zero if a benchmark failed."""
    try:
        code, table = run_bench(args.benchmarks, args.out, args.select, args.pytest_args)
    except (FileNotFoundError, RuntimeError, OSError) as exc:
        print(f"bptt bench: error: {exc}", file=sys.stderr)
        return 2
    print(table)
    print(f"wrote {Path(args.out) / 'bench.json'} and {Path(args.out) / 'bench.md'}")
    return code
