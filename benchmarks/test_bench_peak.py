"""The machine's own single-thread matrix-multiply peak, measured in the same
run as the layers: a 1024 x 1024 x 1024 float32 product into a preallocated
output, with numpy's BLAS and with torch. report.py takes the faster as the
peak that each workload's GFLOP/s is a share of.

    python -m pytest benchmarks/test_bench_peak.py --benchmark-only
"""

import numpy as np
import pytest

from bptt.experiments.bench import PEAK_GROUP

torch = pytest.importorskip("torch")

N = 1024


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_matmul_peak(benchmark, backend):
    benchmark.group = PEAK_GROUP
    benchmark.extra_info.update({
        "kind": "matmul", "shape": [N, N, N], "T": 1, "dtype": "float32", "pass": "fwd",
        "backend": backend, "threads": torch.get_num_threads(), "flops": 2 * N**3,
    })
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((N, N)).astype(np.float32) for _ in range(2))
    c = np.empty((N, N), np.float32)
    if backend == "torch":
        ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)

        def step():
            torch.mm(ta, tb, out=tc)
    else:
        def step():
            np.dot(a, b, out=c)

    step()
    benchmark(step)
