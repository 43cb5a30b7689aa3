"""The float32 kernels of csrc/_panel.h (the recurrent products and the weight
gradients' products), one per instruction set, each chosen in a child
process with BPTT_SIMD: AVX-512 and AVX2 must give
the same bits (the same fused multiply-adds in the same order), and BLAS
("none", the path every other shape takes) the same numbers to float32
rounding."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import require_backend

CHILD = r"""
import json, sys
import numpy as np
import bptt
from bptt._backend import simd

results = {"simd": simd()}
rng = np.random.default_rng(0)
# widths that are multiples of 32 at batch >= 8 (13 rows leave a partial
# block on both kernels: 8 + 5; 6 + 6 + 1), or at batch 1 over >= 32 steps
# (the matrix-vector kernels: hidden 32, one group of 96 or 128 columns;
# hidden 160, whole groups of 128 and a rest)
# (the weight gradients' kernel, panel_atb, takes T B >= 64 rows in chunks of
# 256: 13 x 25 = 325 rows are a chunk and a part; its rows of W^T are the
# input's 5 or 2 H = 64 and the state's 32 columns; gru_seed reads dL/d(gates)
# in column blocks)
for kind, B, T, H in (("GRU", 13, 9, 32), ("LSTM", 8, 9, 32), ("LSTM", 13, 9, 32),
                      ("GRU", 1, 40, 32), ("LSTM", 1, 40, 32), ("GRU", 1, 40, 160),
                      ("LSTM", 1, 40, 160), ("LSTM", 13, 25, 32), ("GRU_seed", 13, 25, 32)):
    options = {"variant": "seed"} if kind == "GRU_seed" else {}
    layer = getattr(bptt, kind.split("_")[0])(5, H, num_layers=2, bidirectional=True,
                                              backend="cython", dtype=np.float32, seed=1,
                                              **options)
    x = rng.standard_normal((T, B, 5)).astype(np.float32)
    x[..., 0] = 1   # so that dW_ih[:, 0] sums dL/d(gates) as db_ih does
    bptt.set_num_threads(1)
    output, _ = layer(x)
    dx, _ = layer.backward(np.ones_like(output))
    key = f"{kind}{B}T{T}H{H}"
    np.save(sys.argv[1] + f"/{key}_output.npy", output)
    np.save(sys.argv[1] + f"/{key}_dx.npy", dx)
    for name in ("weight_hh_l0", "weight_ih_l0", "weight_ih_l1_reverse", "bias_ih_l0",
                 "bias_hh_l1_reverse"):
        np.save(sys.argv[1] + f"/{key}_d{name}.npy", layer.grads[name])
print(json.dumps(results))
"""


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def run_child(tmp_path: Path, simd: str) -> tuple[str, dict[str, np.ndarray]]:
    out = tmp_path / simd
    out.mkdir()
    env = dict(os.environ, BPTT_SIMD=simd)
    result = subprocess.run([sys.executable, "-c", CHILD, str(out)], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    chosen = json.loads(result.stdout.strip().splitlines()[-1])["simd"]
    return chosen, {p.stem: np.load(p) for p in out.glob("*.npy")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    require_backend("cython")
    tmp = tmp_path_factory.mktemp("simd")
    return {simd: run_child(tmp, simd) for simd in ("avx512", "avx2", "none")}


def test_bptt_simd_picks_the_kernel(runs):
    flags = cpu_flags()
    if not flags:
        pytest.skip("no /proc/cpuinfo to say what this CPU has")
    widest = "avx512" if "avx512f" in flags else "avx2" if {"avx2", "fma"} <= flags else "none"
    order = ["none", "avx2", "avx512"]
    for asked, (chosen, _) in runs.items():
        expected = order[min(order.index(asked), order.index(widest))]
        assert chosen == expected, f"BPTT_SIMD={asked} ran {chosen}"


def test_avx512_and_avx2_give_the_same_bits(runs):
    (isa512, a), (isa2, b) = runs["avx512"], runs["avx2"]
    if isa512 != "avx512" or isa2 != "avx2":
        pytest.skip(f"this CPU runs {isa512} / {isa2}: both kernels are needed")
    assert a.keys() == b.keys() and a
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_bias_gradients_are_the_kernels_row_sums(runs):
    """Where panel_atb runs (T B >= 64 rows), it makes db as it copies
    dL/d(gates): each entry a sum over the rows in order from 0, as
    add_colsum's. x's column 0 is all ones, so dW_ih[:, 0], each entry one
    chain of FMAs over the rows from 0, is that same sum of the same numbers:
    the same bits."""
    checked = 0
    for simd, (chosen, arrays) in runs.items():
        if chosen != simd or simd == "none":
            continue
        for key in {re.match(r"\D+\d+T\d+H\d+", name).group() for name in arrays}:
            B, T = (int(v) for v in re.fullmatch(r"\D+(\d+)T(\d+)H\d+", key).groups())
            if B * T < 64:
                continue
            np.testing.assert_array_equal(arrays[f"{key}_dbias_ih_l0"],
                                          arrays[f"{key}_dweight_ih_l0"][:, 0],
                                          err_msg=f"{simd} {key}")
            checked += 1
    if not checked:
        pytest.skip("this CPU runs neither kernel")


def test_every_kernel_gives_blas_numbers_to_float32_rounding(runs):
    _, reference = runs["none"]
    for simd, (chosen, arrays) in runs.items():
        for name, value in arrays.items():
            expected = reference[name]
            scale = np.abs(expected).max()
            assert np.abs(value - expected).max() <= 1e-5 * scale, f"{simd} ({chosen}) {name}"
