"""``bptt bench``: run the pytest-benchmark suite in ``benchmarks/`` and print
its markdown tables.

The suite lives in the repository, not in the installed package, so the
command runs from a clone (or is given ``--benchmarks DIR``). It writes
``bench.json`` (pytest-benchmark's own format, for ``--benchmark-compare``)
and ``bench.md`` (the tables) to ``--out``.

One row per workload group, in up to four tables:

1. bptt's backends against torch, one thread (forward + backward, cells,
   one-step streaming calls):
   each backend's median time with torch's median divided by it, torch's
   time, and the achieved GFLOP/s of the fastest bptt backend against the
   single-thread matrix-multiply peak measured in the same run (the "matmul
   peak float32" group).
2. Inference (groups whose pass is "inference": a forward keeping nothing
   for backward), one thread: bptt's backends, bptt.torch, torch and
   onnxruntime, with torch / bptt and onnxruntime / bptt, "bptt" being the
   fastest bptt backend of the row.
3. Default threads (groups run on more than one thread, named "... threads=N"):
   torch / bptt at N threads, and bptt's and torch's own gain from one thread
   to N (their one-thread group of the same workload, if the run has it).
4. The bptt.torch modules against torch.nn's (benchmarks/test_bench_torch.py:
   training steps at one thread and on every core, and the fixed cost of one
   call): torch's median, bptt.torch's with torch / bptt.torch, and the bare
   bptt layer or cell where the group has one.

Every ratio is the other's median over bptt's: above 1, bptt is faster.
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
#: The ``backend`` of bptt.torch's rows, and the prefix of the group names of
#: benchmarks/test_bench_torch.py, whose groups get their own table.
MODULES_BACKEND = "bptt.torch"
CHARLM_PREFIX = "charlm "  # test_bench_charlm.py's groups: "charlm train step ..." [threads=N]
PEAK_GROUP = "matmul peak float32"
#: The ``pass`` of the inference groups (a forward keeping nothing for backward).
INFERENCE_PASS = "inference"
#: The inference table's rivals, each divided by the fastest bptt backend.
CONTENDERS = ("torch", "onnxruntime")
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


def _info(row: dict[str, dict], key: str, default=None):
    """``key`` of the first of this group's benchmarks whose extra_info has it."""
    for bench in row.values():
        info = bench.get("extra_info") or {}
        if key in info:
            return info[key]
    return default


def _median(row: dict[str, dict], backend: str) -> float | None:
    return row[backend]["stats"]["median"] if backend in row else None


def _fastest(row: dict[str, dict], backends: Sequence[str]) -> dict | None:
    """The benchmark of the fastest of ``backends`` in this group, if any ran."""
    ours = [row[b] for b in backends if b in row]
    return min(ours, key=lambda bench: bench["stats"]["median"]) if ours else None


def _format(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def _timed(seconds: float | None, over: float | None = None) -> str:
    """A median, with ``(seconds / over)x`` when there is something to divide by."""
    if seconds is None:
        return ""
    return _format(seconds) + (f" ({seconds / over:.2f}x)" if over else "")


def _natural(text: str) -> list:
    # "(65, 128, 1)" before "(256, 256, 1)": numbers compare as numbers
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _gflops(bench: dict) -> float | None:
    work = (bench.get("extra_info") or {}).get("flops")
    return work / bench["stats"]["median"] / 1e9 if work else None


def _percent(value: float) -> str:
    # batch-1 rows sit far below 1% of peak: keep a figure that tells them apart
    return f"{value:.0f}%" if value >= 10 else f"{value:.2g}%"


def _rate(best: dict | None, peak: float | None) -> str:
    """The "best GFLOP/s (% of peak)" cell: the fastest bptt backend's rate, its name."""
    rate = _gflops(best) if best else None
    if rate is None:
        return ""
    return f"{rate:.2f} {_backend(best)}" + (f" ({_percent(100 * rate / peak)})" if peak else "")


def _machine(data: dict) -> str:
    info = data.get("machine_info", {})
    cpu = (info.get("cpu") or {}).get("brand_raw", "unknown CPU")
    return f"{cpu}, Python {info.get('python_version', '?')}"


def _header(columns: Sequence[str]) -> list[str]:
    return ["| workload | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]


def report_table(data: dict) -> str:
    """The markdown tables of a ``--benchmark-json`` file's contents, split by kind of
    group: bptt against torch, inference, default threads, bptt.torch's modules,
    ``bptt charlm``'s training step; a table with no group in this run is left out."""
    groups: dict[str, dict[str, dict]] = defaultdict(dict)
    for bench in data["benchmarks"]:
        groups[bench["group"] or bench["name"]][_backend(bench)] = bench
    every = dict(groups)  # the threads table looks up each workload's one-thread group
    modules = {g: groups.pop(g) for g in list(groups) if g.startswith(MODULES_BACKEND + " ")}
    charlm = {g: groups.pop(g) for g in list(groups) if g.startswith(CHARLM_PREFIX)}
    peak_row = groups.pop(PEAK_GROUP, {})
    threaded = {g: groups.pop(g) for g in list(groups) if _info(groups[g], "threads", 1) > 1}
    inference = {g: groups.pop(g) for g in list(groups)
                 if _info(groups[g], "pass") == INFERENCE_PASS}
    peaks = {b: g for b, g in ((b, _gflops(bench)) for b, bench in peak_row.items()) if g}
    tables = []
    if groups or peak_row or not (inference or threaded or modules or charlm):
        tables.append(_backend_table(groups, peak_row, peaks, data))
    if inference:
        tables.append(_inference_table(inference, peaks, data))
    if threaded:
        tables.append(_threads_table(threaded, every, data))
    if modules:
        tables.append(_modules_table(modules, data))
    if charlm:
        tables.append(_charlm_table(charlm, data))
    return "\n\n".join(tables)


def _peak_text(peaks: dict[str, float]) -> str:
    if not peaks:
        return "no matmul peak in this run"
    detail = ", ".join(f"{b} {g:.2f}" for b, g in sorted(peaks.items()))
    return (f"matmul peak {max(peaks.values()):.2f} GFLOP/s (1024^3 float32; {detail}; "
            f"float64 rows are shares of this float32 peak too)")


def _backend_table(groups: dict[str, dict[str, dict]], peak_row: dict[str, dict],
                   peaks: dict[str, float], data: dict) -> str:
    """bptt's backends against torch, with GFLOP/s against the matmul peak."""
    peak = max(peaks.values(), default=None)
    present = [b for b in BPTT_BACKENDS if any(b in row for row in groups.values())]
    lines = _header([*present, "torch", "best GFLOP/s (% of peak)"])
    for group in sorted(groups, key=_natural):
        row = groups[group]
        torch_time = _median(row, "torch")
        cells = [_format(row[b]["stats"]["median"])
                 + (f" ({torch_time / row[b]['stats']['median']:.1f}x)" if torch_time else "")
                 if b in row else "" for b in present]
        cells += [_timed(torch_time), _rate(_fastest(row, present), peak)]
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    threads = sorted({str(b["extra_info"]["threads"]) for row in (*groups.values(), peak_row)
                      for b in row.values() if "threads" in (b.get("extra_info") or {})})
    lines += ["", f"Median times; (Nx) = torch / bptt; GFLOP/s of the fastest bptt backend. "
                  f"{_machine(data)}, threads: {'/'.join(threads) or '?'} (torch and BLAS), "
                  f"{_peak_text(peaks)}."]
    return "\n".join(lines)


def _inference_table(groups: dict[str, dict[str, dict]], peaks: dict[str, float],
                     data: dict) -> str:
    """Inference: bptt's backends, bptt.torch, torch and onnxruntime; torch and
    onnxruntime each divided by the fastest bptt backend of the row."""
    peak = max(peaks.values(), default=None)
    present = [b for b in BPTT_BACKENDS if any(b in row for row in groups.values())]
    wrapper = [MODULES_BACKEND] if any(MODULES_BACKEND in row for row in groups.values()) else []
    lines = _header([*present, *wrapper, *(f"{c} ({c} / bptt)" for c in CONTENDERS),
                     "best GFLOP/s (% of peak)"])
    for group in sorted(groups, key=_natural):
        row = groups[group]
        best = _fastest(row, present)
        ours = best["stats"]["median"] if best else None
        cells = [_timed(_median(row, b)) for b in (*present, *wrapper)]
        cells += [_timed(_median(row, c), ours) for c in CONTENDERS]
        cells.append(_rate(best, peak))
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    versions = sorted({f"onnxruntime {b['extra_info']['onnxruntime']}" for row in groups.values()
                       for b in row.values() if "onnxruntime" in (b.get("extra_info") or {})})
    lines += ["", f"Inference (a forward keeping nothing for backward), one thread: bptt in "
                  f".eval(); torch.nn and {MODULES_BACKEND} in .eval() under "
                  f"torch.inference_mode(); onnxruntime running the torch.nn module exported "
                  f"by torch.onnx.export (the peephole LSTM: ONNX's LSTM operator), one-thread "
                  f"session. Median times; (Nx) = that contender / the fastest bptt backend "
                  f"of the row (> 1: bptt is faster). {_machine(data)}, "
                  f"{'; '.join(versions) or 'no onnxruntime rows'}, {_peak_text(peaks)}."]
    return "\n".join(lines)


def _threads_table(groups: dict[str, dict[str, dict]], every: dict[str, dict[str, dict]],
                   data: dict) -> str:
    """The groups run on N > 1 threads: torch / bptt at N, and each side's one-thread
    median of the same workload over its N-thread one (its gain from more cores)."""
    present = [b for b in BPTT_BACKENDS if any(b in row for row in groups.values())]
    lines = _header(["threads", *present, "torch (torch / bptt)",
                     "bptt, 1 thread (1 / N threads)", "torch, 1 thread (1 / N threads)"])
    for group in sorted(groups, key=_natural):
        row = groups[group]
        workload = re.sub(r" threads=\d+$", "", group)
        alone = every.get(workload, {})  # the same workload's one-thread group
        best, best_alone = _fastest(row, present), _fastest(alone, present)
        ours = best["stats"]["median"] if best else None
        ours_alone = best_alone["stats"]["median"] if best_alone else None
        torch_time = _median(row, "torch")
        cells = [str(_info(row, "threads", "?")), *(_timed(_median(row, b)) for b in present),
                 _timed(torch_time, ours), _timed(ours_alone, ours),
                 _timed(_median(alone, "torch"), torch_time)]
        lines.append(f"| {workload} | " + " | ".join(cells) + " |")
    lines += ["", "Default threads: every core allowed to torch and to every BLAS pool. "
                  "Median times; torch (Nx) = torch / the fastest bptt backend, both at N "
                  "threads; the 1-thread columns are that side's one-thread median (fastest "
                  "backend, for bptt) over its N-thread one: its own gain from more cores. "
                  f"{_machine(data)}."]
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



def _per_second(chars: int | None, seconds: float | None) -> str:
    return f"{chars / seconds:,.0f}" if chars and seconds else ""


def _charlm_table(groups: dict[str, dict[str, dict]], data: dict) -> str:
    """``bptt charlm``'s training step against the same model in torch, one row
    per thread count: the medians with torch / bptt, the characters per second
    each trains (``chars`` a step over its median), and bptt's one-thread
    median over its N-thread one (``--threads N`` against ``--threads 1``)."""
    lines = _header(["bptt", "torch (torch / bptt)", "bptt chars/s", "torch chars/s",
                     "bptt, 1 thread (1 / N threads)"])
    for group in sorted(groups, key=_natural):
        row = groups[group]
        workload = re.sub(r" threads=\d+$", "", group)
        threads = _info(row, "threads", "?")
        chars = _info(row, "chars")
        best = _fastest(row, BPTT_BACKENDS)
        ours = best["stats"]["median"] if best else None
        theirs = _median(row, "torch")
        cells = [f"{_format(ours)} ({_backend(best)})" if best else "",
                 _timed(theirs, ours) if theirs else "",
                 _per_second(chars, ours), _per_second(chars, theirs)]
        alone = _fastest(groups.get(workload, {}), BPTT_BACKENDS)  # its one-thread group
        if threads != 1 and alone and ours:
            base = alone["stats"]["median"]
            cells.append(f"{_format(base)} ({base / ours:.2f}x)")
        else:
            cells.append("")
        lines.append(f"| {workload} threads={threads} | " + " | ".join(cells) + " |")
    config = next((c for row in groups.values() for b in row.values()
                   if (c := (b.get("extra_info") or {}).get("config"))), {})
    model = ", ".join(f"{key} {config[key]}" for key in ("hidden", "batch", "chunk", "lr",
                                                         "clip_norm") if key in config)
    lines += ["", f"charlm: one training step of `bptt charlm`'s default model (seed GRU over "
                  f"one-hot characters, log-softmax read-out, {model or 'its defaults'}) on the "
                  f"shipped text against the same model in torch (nn.GRU), same run. Median "
                  f"times; (Nx) = torch / bptt; chars/s = batch x chunk / median; the 1-thread "
                  f"column is bptt's one-thread median over its N-thread one. {_machine(data)}."]
    return "\n".join(lines)


def run_bench(benchmarks: str | Path = "benchmarks", out: str | Path = "runs/bench",
              select: str | None = None, pytest_args: Sequence[str] = ()) -> tuple[int, str]:
    """Run the suite in ``benchmarks`` with pytest (``select`` is its ``-k``,
    ``pytest_args`` go on its command line), write ``bench.json`` and
    ``bench.md`` to ``out``; return pytest's exit code and the tables."""
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
        help="time every backend against torch and onnxruntime, print the markdown tables",
        description="Run the pytest-benchmark suite (bptt's backends, torch and, for "
                    "inference, onnxruntime, on one thread; the batch-32 training rows "
                    "again on every core) and print markdown tables of median times, "
                    "torch/bptt and onnxruntime/bptt ratios, bptt's gain from more cores "
                    "and GFLOP/s against the matmul peak measured in the same run. Runs "
                    "from a clone of the repository: the suite is not installed with the "
                    "package.",
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
