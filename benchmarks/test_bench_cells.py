"""One cell step, batch 1: bptt's GRU_Cell forward, and forward + backward,
against torch.nn.GRUCell forward (no_grad) and forward + autograd backward,
in the same run, same shapes, same seeded data; and the torch-style cells
(GRUCell, RNNCell, LSTMCell) forward + backward against their torch twins.

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


def _cell(backend, shape, dtype):
    if backend not in bptt.backends():
        pytest.skip(f"{backend} not available")
    return bptt.GRU_Cell(*shape, backend=backend, dtype=dtype, seed=0)


# the test names and ids are those of earlier runs, for --benchmark-compare
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"d{s[0]}-h{s[1]}")
@pytest.mark.parametrize("backend", ["cython", "numba", "numpy"])
def test_gru_cell_forward_backward(benchmark, describe, backend, shape, dtype):
    describe("GRU_Cell", (*shape, 1), dtype, "fwd+bwd", backend)
    x, h, delta = _inputs(*shape, dtype)
    cell = _cell(backend, shape, dtype)

    def step():
        cell.forward(x, h)
        return cell.backward(delta)

    step()
    benchmark(step)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"d{s[0]}-h{s[1]}")
def test_torch_gru_cell_forward_backward(benchmark, describe, shape, dtype):
    describe("GRU_Cell", (*shape, 1), dtype, "fwd+bwd", "torch")
    x, h, delta = _inputs(*shape, dtype)
    torch.manual_seed(0)
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
def test_gru_cell_forward(benchmark, describe, backend, shape):
    describe("GRU_Cell", (*shape, 1), np.float32, "fwd", backend)
    x, h, _ = _inputs(*shape, np.float32)
    if backend == "torch":
        torch.manual_seed(0)
        cell = torch.nn.GRUCell(*shape)
        tx, th = torch.from_numpy(x)[None], torch.from_numpy(h)[None]

        def step():
            with torch.no_grad():
                return cell(tx, th)
    else:
        cell = _cell(backend, shape, np.float32)

        def step():
            return cell.forward(x, h)

    step()
    benchmark(step)


TORCH_STYLE = {
    "GRUCell": (bptt.GRUCell, torch.nn.GRUCell),
    "RNNCell": (bptt.RNNCell, torch.nn.RNNCell),
    "LSTMCell": (bptt.LSTMCell, torch.nn.LSTMCell),
}


@pytest.mark.parametrize("backend", ["cython", "numba", "numpy", "torch"])
@pytest.mark.parametrize("shape", [(1, 6), (65, 128)], ids=lambda s: f"d{s[0]}-h{s[1]}")
@pytest.mark.parametrize("kind", list(TORCH_STYLE))
def test_torch_style_cell_forward_backward(benchmark, describe, kind, shape, backend):
    describe(kind, (*shape, 1), np.float32, "fwd+bwd", backend)
    x, h, delta = _inputs(*shape, np.float32)
    lstm = kind == "LSTMCell"
    if backend == "torch":
        torch.manual_seed(0)
        cell = TORCH_STYLE[kind][1](*shape)
        tx = torch.from_numpy(x)[None].requires_grad_()
        th = torch.from_numpy(h)[None].requires_grad_()
        tdelta = torch.from_numpy(delta)

        def step():
            out = cell(tx, (th, th)) if lstm else cell(tx, th)
            (out[0] if lstm else out).backward(tdelta)
    else:
        if backend not in bptt.backends():
            pytest.skip(f"{backend} not available")
        cell = TORCH_STYLE[kind][0](*shape, backend=backend, dtype=np.float32, seed=0)
        dh = delta[0]

        def step():
            cell.forward(x, (h, h)) if lstm else cell.forward(x, h)
            return cell.backward(dh)

    step()
    benchmark(step)
