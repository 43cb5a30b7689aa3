"""Turn a pytest-benchmark JSON file into a markdown table: one row per
workload, each bptt backend's median time with its speed-up over torch
(torch's median / that backend's, same run), torch's time, and the fastest
bptt backend's GFLOP/s as a share of the matmul peak measured in that run;
then, if the run has them, bptt.torch's modules against torch.nn's (training
steps and per-call costs, test_bench_torch.py) with torch / bptt.torch.

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
