"""A character language model trained with DistributedDataParallel on bptt's GRU.

Start N processes on this machine (gloo backend, CPU)::

    torchrun --nproc_per_node 2 examples/ddp_charlm.py --steps 50

The model is Embedding(V, E) -> ``bptt.torch.GRU(E, H, num_layers=2,
dropout=p, batch_first=True)`` -> Linear(H, V), trained on mean
cross-entropy with Adam and ``torch.nn.utils.clip_grad_norm_``. The GRU is
a drop-in ``torch.nn.GRU``, so DDP treats it like any torch module: its
gradients (computed by bptt's hand-derived BPTT) are all-reduced by DDP's
hooks.

Data: the text (by default the one shipped inside bptt) is cut into
``--batch`` contiguous streams read ``--seq-len`` characters at a time, the
hidden state carried from chunk to chunk (detached: truncated BPTT) and
dropped when the streams start over. Every rank reads the same global batch
of ``--batch`` rows and keeps a contiguous block of ``--batch / world``
rows: rank r gets rows ``r*b .. (r+1)*b - 1`` with ``b = batch / world``, so
the ranks' blocks concatenated in rank order are the global batch. Each rank
takes the mean loss over its own rows and DDP averages the gradients over
ranks; with equal blocks that is the gradient of the mean loss over the
whole global batch, so an N-process run computes what one process would on
the concatenated batch (to rounding).

Rank 0 prints the loss (the mean over the global batch) per step and the
global chars/s.

The script ends with ``os._exit`` (after flushing its output): with torch
2.13, DDP keeps the gloo process group and its worker threads alive past
``destroy_process_group``, and a worker that drops its reference to a
finished collective's tensors while the interpreter shuts down cannot take
the GIL and aborts the process ("terminate called without an active
exception", rank exit code -6) after all the work is done. Skipping the
interpreter's shutdown leaves nothing for that thread to race with.

Dropout: with ``--dropout`` > 0 each rank draws its own masks for its own
rows from its own generator (seeded ``--seed + 1 + rank`` after the model is
built), as torch.nn.GRU under DDP would; the masks then differ from the ones
a single process would draw, so only ``--dropout 0`` makes runs with
different process counts agree.

``--dump DIR`` is a test hook: after step 1's backward (gradients already
averaged by DDP, before clipping and the optimizer step) rank r saves its
gradients by parameter name to ``DIR/grads_rank{r}.pt``; after the last step
it saves its parameters to ``DIR/params_rank{r}.pt``. Rank 0 also saves the
initial state_dict (``DIR/initial_state.pt``) and step 1's global batch
(``DIR/batch_step1.pt``: ``inputs`` and ``targets``, (batch, seq-len) int64,
and the run's settings), so a single process can recompute the gradient;
each rank saves the rows it trained on in step 1 to
``DIR/local_batch_step1_rank{r}.pt``.

Run without torchrun, it trains in one process (a world of one).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

import bptt.torch
from bptt.experiments.charmodel import blas_threads
from bptt.experiments.text import TextStreams, Vocabulary, load_text

DTYPES = {"float32": torch.float32, "float64": torch.float64}


class CharLM(torch.nn.Module):
    """Embedding -> 2-layer bptt.torch.GRU (batch_first) -> Linear."""

    def __init__(self, vocab: int, embed: int, hidden: int, dropout: float,
                 backend: str = "auto"):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, embed)
        self.gru = bptt.torch.GRU(embed, hidden, num_layers=2, dropout=dropout,
                                  batch_first=True, backend=backend)
        self.head = torch.nn.Linear(hidden, vocab)

    def forward(self, ids: torch.Tensor, h0: torch.Tensor | None = None):
        """ids (B, T) int64 -> logits (B, T, V) and the final state (2, B, H)."""
        output, h_n = self.gru(self.embed(ids), h0)
        return self.head(output), h_n


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Train a character language model with DistributedDataParallel "
                    "(gloo, CPU) on bptt.torch.GRU; start with "
                    "'torchrun --nproc_per_node N examples/ddp_charlm.py [options]'.")
    p.add_argument("--steps", type=int, default=50,
                   help="--steps: optimizer steps to run (default 50)")
    p.add_argument("--batch", type=int, default=32,
                   help="--batch: global batch size (streams), split evenly over the "
                        "ranks, so it must be divisible by the world size (default 32)")
    p.add_argument("--seq-len", type=int, default=64,
                   help="--seq-len: characters per chunk, the BPTT truncation length "
                        "(default 64)")
    p.add_argument("--hidden", type=int, default=128,
                   help="--hidden: GRU hidden size H (default 128)")
    p.add_argument("--embed", type=int, default=32,
                   help="--embed: embedding size E (default 32)")
    p.add_argument("--lr", type=float, default=3e-3, help="--lr: Adam learning rate "
                   "(default 3e-3)")
    p.add_argument("--clip", type=float, default=5.0,
                   help="--clip: max global gradient norm for clip_grad_norm_ (default 5)")
    p.add_argument("--dropout", type=float, default=0.1,
                   help="--dropout: dropout between the two GRU layers; each rank draws "
                        "its own masks, so use 0 for runs that must match across process "
                        "counts (default 0.1)")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="float32",
                   help="--dtype: float32 or float64 parameters (default float32)")
    p.add_argument("--seed", type=int, default=0,
                   help="--seed: torch seed for the initial model, the same on every rank "
                        "(default 0)")
    p.add_argument("--threads", type=int, default=1,
                   help="--threads: torch.set_num_threads and BLAS threads per process "
                        "(default 1)")
    p.add_argument("--backend", default="auto",
                   help="--backend: bptt backend, auto|cython|numba|numpy (default auto)")
    p.add_argument("--text", default=None,
                   help="--text: a UTF-8 text file (.gz allowed) to train on (default: the "
                        "text shipped with bptt)")
    p.add_argument("--dump", default=None, metavar="DIR",
                   help="--dump DIR: test hook; save step 1's averaged gradients, the last "
                        "parameters (per rank), the initial state_dict and step 1's global "
                        "batch (rank 0) to DIR")
    args = p.parse_args(argv)
    for name in ("steps", "batch", "seq_len", "hidden", "embed", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if not 0 <= args.dropout < 1:
        p.error("--dropout must lie in [0, 1)")
    return args


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init_distributed() -> tuple[int, int]:
    """Join the process group torchrun describes in the environment (RANK,
    WORLD_SIZE, MASTER_ADDR, MASTER_PORT), or form a world of one without it."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        dist.init_process_group("gloo")
    else:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{_free_port()}",
                                rank=0, world_size=1)
    return dist.get_rank(), dist.get_world_size()


def train(args: argparse.Namespace, rank: int, world: int) -> None:
    log = print if rank == 0 else (lambda *a, **k: None)
    if args.batch % world:
        raise SystemExit(f"--batch {args.batch} is not divisible by the world size {world}")
    local = args.batch // world
    rows = slice(rank * local, (rank + 1) * local)  # this rank's contiguous block
    dtype = DTYPES[args.dtype]
    dump = Path(args.dump) if args.dump else None
    if dump is not None:
        dump.mkdir(parents=True, exist_ok=True)

    text = load_text(args.text)
    vocab = Vocabulary.from_text(text)
    streams = TextStreams(vocab.encode(text), args.batch, args.seq_len)

    torch.manual_seed(args.seed)  # the same initial model on every rank
    model = CharLM(len(vocab), args.embed, args.hidden, args.dropout, args.backend).to(dtype)
    if dump is not None and rank == 0:
        torch.save({k: v.clone() for k, v in model.state_dict().items()},
                   dump / "initial_state.pt")
    ddp = DistributedDataParallel(model)  # also broadcasts rank 0's parameters
    torch.manual_seed(args.seed + 1 + rank)  # each rank its own dropout masks
    ddp.train()
    optimizer = torch.optim.Adam(ddp.parameters(), lr=args.lr)
    loss_fn = torch.nn.CrossEntropyLoss()  # mean over this rank's B/world * T characters

    n_params = sum(p.numel() for p in model.parameters())
    log(f"ddp_charlm: {world} process(es), gloo; text {len(text)} chars, vocabulary "
        f"{len(vocab)}; model E={args.embed} H={args.hidden} x2 layers ({n_params} "
        f"parameters, {args.dtype}, bptt backend {args.backend}); global batch "
        f"{args.batch} ({local} per rank) x {args.seq_len} chars; {args.threads} thread(s) "
        f"per process", flush=True)

    h = None
    chars_per_step = args.batch * args.seq_len
    timed_chars, timed_seconds = 0, 0.0
    for step in range(1, args.steps + 1):
        start = time.perf_counter()
        inputs, targets, reset = streams.next_chunk()  # (T, B) each, the global batch
        inputs = torch.from_numpy(inputs.T.copy())  # (B, T)
        targets = torch.from_numpy(targets.T.copy())
        if reset:
            h = None
        if dump is not None and rank == 0 and step == 1:
            torch.save({"inputs": inputs.clone(), "targets": targets.clone(),
                        "settings": vars(args), "world_size": world, "vocabulary": vocab.chars},
                       dump / "batch_step1.pt")
        x, y = inputs[rows], targets[rows]
        if dump is not None and step == 1:
            torch.save({"inputs": x.clone(), "targets": y.clone(), "rows": (rows.start, rows.stop)},
                       dump / f"local_batch_step1_rank{rank}.pt")

        optimizer.zero_grad(set_to_none=True)
        logits, h_n = ddp(x, h)
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss.backward()  # DDP has averaged the gradients over the ranks when this returns
        h = h_n.detach()
        if dump is not None and step == 1:
            torch.save({name: p.grad.detach().clone() for name, p in model.named_parameters()},
                       dump / f"grads_rank{rank}.pt")
        norm = torch.nn.utils.clip_grad_norm_(ddp.parameters(), args.clip)
        optimizer.step()

        global_loss = loss.detach().to(torch.float64)
        dist.all_reduce(global_loss)  # summed over the ranks: the global mean, times world
        seconds = time.perf_counter() - start
        if step > 1:  # step 1 includes compiling (numba) and DDP's first-call setup
            timed_chars += chars_per_step
            timed_seconds += seconds
        log(f"step {step:4d}/{args.steps}  loss {global_loss.item() / world:.4f} nats/char  "
            f"grad norm {norm.item():.3f}  {chars_per_step / seconds:,.0f} chars/s", flush=True)

    if dump is not None:
        torch.save({name: p.detach().clone() for name, p in model.named_parameters()},
                   dump / f"params_rank{rank}.pt")
    if timed_seconds > 0:
        log(f"done: {timed_chars / timed_seconds:,.0f} chars/s over steps 2..{args.steps} "
            f"({world} process(es), global batch {args.batch} x {args.seq_len})", flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    rank, world = init_distributed()
    try:
        with blas_threads(args.threads, log=None):
            train(args, rank, world)
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # no interpreter shutdown for gloo's worker threads to race (see above)
