"""``bptt check``: a one-minute tour that proves the kernels on this machine.

1. which backends this installation has;
2. a central-difference gradient check of ``GRU_Cell`` on every backend;
3. if torch is installed, parity of ``GRUCell`` with ``torch.nn.GRUCell``;
4. the time of one ``GRU_Cell`` forward + backward on each backend next to
   ``torch.nn.GRUCell`` forward + autograd backward, in one run, one thread.
"""

from __future__ import annotations

import os
import platform
import timeit
from typing import Any

import numpy as np

from . import __version__
from ._backend import backends, simd, unavailable
from ._threads import get_num_threads
from .cells import GRU_Cell, GRUCell


def _loss_and_grads(cell: GRU_Cell, x, h, weight_out):
    """L = sum(weight_out * h_t): L, {name: dL/dname}, dx, dh."""
    cell.zero_grad()
    out = cell.forward(x, h)
    dx, dh = cell.backward(weight_out[None, :])
    grads = {k: g.copy() for k, g in cell.grads.items()}
    return float(np.sum(weight_out * out)), grads, dx[0], dh[0]


def gradient_check(backend: str, in_dim: int = 5, hidden_dim: int = 7, eps: float = 1e-6) -> float:
    """Largest relative error between GRU_Cell's analytic gradients and central differences."""
    rng = np.random.default_rng(0)
    cell = GRU_Cell(in_dim, hidden_dim, bias=True, backend=backend, seed=1)
    x = rng.standard_normal(in_dim)
    h = rng.standard_normal(hidden_dim)
    weight_out = rng.standard_normal(hidden_dim)
    _, grads, dx, dh = _loss_and_grads(cell, x, h, weight_out)
    analytic = dict(grads, x=dx, h=dh)
    inputs = {"x": x, "h": h}
    worst = 0.0
    for name, exact in analytic.items():
        target = inputs[name] if name in inputs else cell.parameters()[name]
        numeric = np.empty_like(target)
        for i in np.ndindex(target.shape):
            saved = target[i]
            target[i] = saved + eps
            up = float(np.sum(weight_out * cell.forward(x, h)))
            target[i] = saved - eps
            down = float(np.sum(weight_out * cell.forward(x, h)))
            target[i] = saved
            numeric[i] = (up - down) / (2 * eps)
        err = np.linalg.norm(numeric - exact) / max(np.linalg.norm(exact), 1e-300)
        worst = max(worst, float(err))
    return worst


def torch_parity() -> float | None:
    """Largest relative difference between bptt.GRUCell and torch.nn.GRUCell (float64)."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    ref = torch.nn.GRUCell(4, 6).double()
    ours = GRUCell(4, 6)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    h = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    out = ref(x, h)
    upstream = torch.randn_like(out)
    (out * upstream).sum().backward()
    mine = ours.forward(x.detach().numpy(), h.detach().numpy())
    dx, dh = ours.backward(upstream.numpy())
    # backward() above filled every .grad, which torch's stubs type as optional
    pairs = [(mine, out.detach().numpy()), (dx, x.grad.numpy()),  # type: ignore[union-attr]
             (dh, h.grad.numpy())]  # type: ignore[union-attr]
    pairs += [(ours.grads[k], p.grad.numpy())  # type: ignore[union-attr]
              for k, p in ref.named_parameters()]
    return max(float(np.abs(a - b).max() / np.abs(b).max()) for a, b in pairs)


def _best_seconds(fn, number: int) -> float:
    fn()  # compile / warm up
    return min(timeit.repeat(fn, number=number, repeat=5)) / number


def _bptt_step(cell: GRU_Cell, x, h, delta):
    def step():
        cell.forward(x, h)
        cell.backward(delta)

    return step


def _torch_step(torch, in_dim: int, hidden: int, x, h, delta):
    ref = torch.nn.GRUCell(in_dim, hidden).double()
    tx = torch.from_numpy(x)[None].requires_grad_()
    th = torch.from_numpy(h)[None].requires_grad_()
    tdelta = torch.from_numpy(delta)

    def step():
        ref(tx, th).backward(tdelta)

    return step


def time_cells(shapes=((1, 6), (65, 128))) -> list[dict]:
    """Per-call seconds of GRU_Cell forward+backward per backend and of torch.nn.GRUCell."""
    rows = []
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        torch = None  # type: ignore[assignment]  # the module, or None without it
    for in_dim, hidden in shapes:
        rng = np.random.default_rng(0)
        x = rng.standard_normal(in_dim)
        h = rng.standard_normal(hidden)
        delta = rng.standard_normal((1, hidden))
        number = 2000 if hidden < 64 else 300
        row: dict[str, Any] = {"shape": (in_dim, hidden)}
        for name in backends():
            cell = GRU_Cell(in_dim, hidden, backend=name, seed=0)
            row[name] = _best_seconds(_bptt_step(cell, x, h, delta), number)
        if torch is not None:
            row["torch"] = _best_seconds(_torch_step(torch, in_dim, hidden, x, h, delta), number)
        rows.append(row)
    return rows


def run() -> int:
    print(f"bptt {__version__} on Python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs")
    have = backends()
    print(f"backends here, fastest first: {', '.join(have)}")
    for name, why in unavailable().items():
        print(f"  not available: {name} ({why})")
    if simd() is not None:
        print(f"float32 recurrent products (Cython): {simd()} kernel "
              f"(BPTT_SIMD={os.environ.get('BPTT_SIMD', 'unset')})")
    print(f"threads for bptt's own loops: {get_num_threads()}")

    print("\nGRU_Cell gradient check against central differences (float64, d=5, h=7, bias):")
    for name in have:
        err = gradient_check(name)
        print(f"  {name:7s} largest relative error {err:.2e}  {'ok' if err < 1e-7 else 'FAILED'}")

    parity = torch_parity()
    if parity is None:
        print("\ntorch is not installed: skipping the parity check and the torch timings.")
    else:
        print(f"\nGRUCell vs torch.nn.GRUCell (float64): largest relative difference {parity:.1e}")

    print("\nOne GRU_Cell forward + backward, batch 1, float64, 1 torch thread (best of 5):")
    rows = time_cells()
    columns = [*have] + (["torch"] if parity is not None else [])
    print("| (d, h) | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for row in rows:
        cells = []
        for col in columns:
            text = f"{row[col] * 1e6:.1f} us"
            if col != "torch" and "torch" in row:
                text += f" ({row['torch'] / row[col]:.0f}x)"
            cells.append(text)
        print(f"| {row['shape']} | " + " | ".join(cells) + " |")
    if parity is not None:
        print("(Nx) = torch's time / that backend's time")
    return 0
