"""Turn a pytest-benchmark JSON file into markdown tables, one row per
workload group: bptt's backends against torch (each backend's median with
torch / that backend, torch's time, the fastest backend's GFLOP/s as a share
of the matmul peak measured in that run); inference, with bptt.torch, torch
and onnxruntime, torch / bptt and onnxruntime / bptt (bptt = the row's
fastest backend); the default-threads groups, torch / bptt at N threads and
each side's gain from one thread to N; and bptt.torch's modules against
torch.nn's (test_bench_torch.py) with torch / bptt.torch; and ``bptt
charlm``'s training step against the same model in torch (test_bench_charlm.py),
with each side's characters per second. Above 1, bptt is faster.

    python -m pytest benchmarks --benchmark-only --benchmark-json=bench.json
    python benchmarks/report.py bench.json

``bptt bench`` does both; the table code is ``bptt.experiments.bench.report_table``.
"""

from __future__ import annotations

import argparse
import json

from bptt.experiments.bench import report_table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json_file", help="output of pytest --benchmark-json")
    args = parser.parse_args(argv)
    with open(args.json_file) as f:
        print(report_table(json.load(f)))


if __name__ == "__main__":
    main()
