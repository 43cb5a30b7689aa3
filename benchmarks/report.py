"""Turn a pytest-benchmark JSON file into a markdown table: one row per
workload, one column per backend, each bptt cell with its speed-up over torch
(torch's median time / that backend's median time, same run).

    python -m pytest benchmarks --benchmark-only --benchmark-json=bench.json
    python benchmarks/report.py bench.json
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict

BACKENDS = ("cython", "numba", "numpy", "torch")


def _backend(bench: dict) -> str:
    params = bench.get("params") or {}
    if "backend" in params:
        return params["backend"]
    return "torch" if "torch" in bench["name"] else "?"


def _format(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def table(data: dict) -> str:
    groups: dict[str, dict[str, float]] = defaultdict(dict)
    for bench in data["benchmarks"]:
        groups[bench["group"]][_backend(bench)] = bench["stats"]["median"]
    present = [b for b in BACKENDS if any(b in row for row in groups.values())]
    lines = [
        "| workload | " + " | ".join(present) + " |",
        "|---" * (len(present) + 1) + "|",
    ]
    for group in sorted(groups, key=lambda g: [int(t) if t.isdigit() else t
                                               for t in re.split(r"(\d+)", g)]):
        row = groups[group]
        cells = []
        for backend in present:
            if backend not in row:
                cells.append("")
                continue
            text = _format(row[backend])
            if backend != "torch" and "torch" in row:
                text += f" ({row['torch'] / row[backend]:.1f}x)"
            cells.append(text)
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    info = data.get("machine_info", {})
    cpu = info.get("cpu", {}).get("brand_raw", "unknown CPU")
    lines.append("")
    lines.append(f"Median times; (Nx) = torch / bptt. {cpu}, Python "
                 f"{info.get('python_version', '?')}, one thread for torch and BLAS.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json_file", help="output of pytest --benchmark-json")
    args = parser.parse_args(argv)
    with open(args.json_file) as f:
        print(table(json.load(f)))


if __name__ == "__main__":
    main()
