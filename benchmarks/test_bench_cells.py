"""One cell step, batch 1: bptt's GRU_Cell forward + backward against
torch.nn.GRUCell forward + autograd backward, in the same run, same shapes.

    python -m pytest benchmarks/test_bench_cells.py --benchmark-only
"""

import numpy as np
import pytest

import bptt

torch = pytest.importorskip("torch")

SHAPES = [(1, 6), (16, 32), (65, 128)]
DTYPES = [np.float32, np.float64]
TORCH_DTYPES = {np.float32: torch.float32, np.float64: torch.float64}


def _inputs(in_dim, hidden, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(in_dim).astype(dtype)
    h = rng.standard_normal(hidden).astype(dtype)
    delta = rng.standard_normal((1, hidden)).astype(dtype)
    return x, h, delta


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"d{s[0]}-h{s[1]}")
@pytest.mark.parametrize("backend", ["cython", "numba", "numpy"])
def test_gru_cell_forward_backward(benchmark, backend, shape, dtype):
    if backend not in bptt.backends():
        pytest.skip(f"{backend} not available")
    benchmark.group = f"GRU cell fwd+bwd {shape} {np.dtype(dtype).name}"
    x, h, delta = _inputs(*shape, dtype)
    cell = bptt.GRU_Cell(*shape, backend=backend, dtype=dtype, seed=0)

    def step():
        cell.forward(x, h)
        return cell.backward(delta)

    step()
    benchmark(step)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"d{s[0]}-h{s[1]}")
def test_torch_gru_cell_forward_backward(benchmark, shape, dtype):
    benchmark.group = f"GRU cell fwd+bwd {shape} {np.dtype(dtype).name}"
    x, h, delta = _inputs(*shape, dtype)
    cell = torch.nn.GRUCell(*shape).to(TORCH_DTYPES[dtype])
    tx = torch.from_numpy(x)[None].requires_grad_()
    th = torch.from_numpy(h)[None].requires_grad_()
    tdelta = torch.from_numpy(delta)

    def step():
        cell(tx, th).backward(tdelta)

    step()
    benchmark(step)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"d{s[0]}-h{s[1]}")
@pytest.mark.parametrize("backend", ["cython", "numba", "numpy", "torch"])
def test_gru_cell_forward(benchmark, backend, shape):
    benchmark.group = f"GRU cell fwd {shape} float32"
    x, h, _ = _inputs(*shape, np.float32)
    if backend == "torch":
        cell = torch.nn.GRUCell(*shape)
        tx, th = torch.from_numpy(x)[None], torch.from_numpy(h)[None]

        def step():
            with torch.no_grad():
                return cell(tx, th)
    else:
        if backend not in bptt.backends():
            pytest.skip(f"{backend} not available")
        cell = bptt.GRU_Cell(*shape, backend=backend, dtype=np.float32, seed=0)

        def step():
            return cell.forward(x, h)

    step()
    benchmark(step)
