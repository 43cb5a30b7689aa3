"""bptt.torch.GRU under DistributedDataParallel: examples/ddp_charlm.py on 2 processes.

torchrun starts two gloo ranks on this machine; each trains on its own block
of every global batch and DDP averages the gradients. With --dropout 0 and
float64 that must be the gradient one process computes on the whole batch
(mean loss): rebuilt here from the saved initial state_dict and step 1's
saved global batch. The ranks' gradients must be identical, and so must
their parameters after the last step.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")

import bptt  # noqa: E402
import bptt.torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ddp_charlm.py"
TIMEOUT = 120  # seconds for the whole 2-process run
RTOL = 1e-10
WORLD = 2
SIZES = ["--batch", "6", "--seq-len", "12", "--hidden", "16", "--embed", "8"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_torchrun(dump: Path) -> str:
    """Run the example on WORLD processes; its combined output, or fail with it."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    # the children import the same bptt as this process, installed or not
    src = str(Path(bptt.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    for attempt in range(2):  # a second try only if the free port was taken meanwhile
        command = [sys.executable, "-m", "torch.distributed.run",
                   "--nproc_per_node", str(WORLD),
                   "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
                   str(EXAMPLE), "--steps", "3", "--dtype", "float64", "--dropout", "0",
                   "--threads", "1", "--dump", str(dump), *SIZES]
        # a session of its own, so a timeout ends torchrun's workers too
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            output, _ = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            pytest.fail(f"torchrun did not finish in {TIMEOUT} s:\n{' '.join(command)}\n"
                        f"{output}")
        if proc.returncode == 0:
            return output
        if attempt == 0 and "address already in use" in output.lower():
            continue
        pytest.fail(f"torchrun exited with {proc.returncode}:\n{' '.join(command)}\n{output}")
    raise AssertionError("unreachable")


def _load(path: Path):
    assert path.is_file(), f"the example did not write {path.name}"
    return torch.load(path, weights_only=True)


class _CharLM(torch.nn.Module):
    """The example's model, rebuilt independently: the same parameter names."""

    def __init__(self, vocab: int, embed: int, hidden: int):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, embed)
        self.gru = bptt.torch.GRU(embed, hidden, num_layers=2, dropout=0.0, batch_first=True)
        self.head = torch.nn.Linear(hidden, vocab)

    def forward(self, ids):
        output, _ = self.gru(self.embed(ids))
        return self.head(output)


def _max_rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """max|a - b| / max(1, max|b|)."""
    return (a - b).abs().max().item() / max(1.0, b.abs().max().item())


def test_ddp_two_processes_match_one_process(tmp_path):
    if not EXAMPLE.is_file():
        pytest.skip(f"{EXAMPLE} is absent (not a source checkout)")
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with the gloo backend is not available")

    started = time.perf_counter()
    output = _run_torchrun(tmp_path)
    seconds = time.perf_counter() - started
    assert "step    3/3" in output, output

    initial = _load(tmp_path / "initial_state.pt")
    batch = _load(tmp_path / "batch_step1.pt")
    grads = [_load(tmp_path / f"grads_rank{r}.pt") for r in range(WORLD)]
    params = [_load(tmp_path / f"params_rank{r}.pt") for r in range(WORLD)]
    local = [_load(tmp_path / f"local_batch_step1_rank{r}.pt") for r in range(WORLD)]
    inputs, targets = batch["inputs"], batch["targets"]
    assert batch["world_size"] == WORLD
    assert inputs.shape == targets.shape == (6, 12)

    # each rank trained on its own contiguous block; in rank order they are the batch
    assert [tuple(b["rows"]) for b in local] == [(0, 3), (3, 6)]
    torch.testing.assert_close(torch.cat([b["inputs"] for b in local]), inputs,
                               rtol=0, atol=0)
    torch.testing.assert_close(torch.cat([b["targets"] for b in local]), targets,
                               rtol=0, atol=0)

    # one process, the whole global batch, the mean loss over all of it
    vocab, embed = initial["embed.weight"].shape
    hidden = initial["gru.weight_hh_l0"].shape[1]
    model = _CharLM(vocab, embed, hidden).double()
    model.load_state_dict(initial, strict=True)
    logits = model(inputs)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1))
    loss.backward()
    expected = {name: p.grad for name, p in model.named_parameters()}

    assert set(grads[0]) == set(expected), (sorted(grads[0]), sorted(expected))
    worst = 0.0
    for name, g in expected.items():
        ddp_grad = grads[0][name]
        assert ddp_grad.dtype == torch.float64 and ddp_grad.shape == g.shape, name
        assert torch.isfinite(ddp_grad).all(), name
        assert g.abs().max() > 0, f"{name}: zero gradient, the check would be vacuous"
        diff = _max_rel_diff(ddp_grad, g)
        worst = max(worst, diff)
        assert diff <= RTOL, f"{name}: DDP gradient differs from one process's by {diff:.3e}"
        assert torch.equal(grads[1][name], ddp_grad), f"{name}: ranks 0 and 1 differ"

    assert set(params[0]) == set(params[1]) == set(expected)
    for name, p in params[0].items():
        assert torch.equal(params[1][name], p), f"{name}: ranks' final parameters differ"
        assert not torch.equal(p, initial[name]), f"{name}: never updated"
    print(f"2-process run {seconds:.1f} s; max relative gradient difference {worst:.2e}")
