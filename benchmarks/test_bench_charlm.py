"""``bptt charlm``'s training step against the same model in torch, in the same run.

bptt: one round is ``CharLMTrainer._train_step`` itself, the step the command
line trains with, on the default config (seed 001's GRU, ``bptt.GRU(variant=
"seed")`` over one-hot characters, hidden 256, then ``Linear(256, V)`` and
log-softmax; 32 streams, chunks of 100, the state carried; mean NLL; global
norm clipped to 5; Adam at 0.003) and the shipped text (origin_of_species,
V = 76 characters). It runs inside charmodel's ``blas_threads(N)``, as
``bptt charlm --threads N`` does: bptt's loops and the BLAS its kernels call
at N threads, numpy's BLAS at one.

torch: the same model and step as a torch user writes them: ``one_hot`` input,
``torch.nn.GRU(V, 256)``, ``torch.nn.Linear(256, V)``, ``log_softmax`` and
``nll_loss``, ``clip_grad_norm_``, ``torch.optim.Adam``, the final state
detached and fed back as the next chunk's initial state (truncated BPTT),
reading the same text's chunks through charlm's own ``TextStreams``.

Both at one thread and on every core this process may use (_threads.py), so
report.py's charlm table can give torch / bptt (the target: >= 2 at default
threads) and bptt's gain from one thread to N (``--threads N`` >= ``--threads
1``). Groups: "charlm train step (default model)" at one thread, with
" threads=N" appended on N; ``backend`` is the bptt backend that ran, or
"torch"; ``extra_info`` is the ``describe`` fixture's (kind GRU, shape
(V, H, B), T = chunk, pass "train", without FLOPs: a whole step is more than
the layer) plus ``chars`` (B T, the characters one step trains on) and, for
bptt, the thread count its loops ran with.

    python -m pytest benchmarks/test_bench_charlm.py --benchmark-only
    bptt bench --select charlm
"""

import contextlib
import gc
import math

import pytest

import bptt
from _threads import ONE, THREAD_COUNTS
from bptt.experiments.charlm import CharLMConfig, CharLMTrainer
from bptt.experiments.charmodel import blas_threads
from bptt.experiments.text import TextStreams

torch = pytest.importorskip("torch")
# without it charmodel's blas_threads would leave every BLAS at its own count
pytest.importorskip("threadpoolctl")

# Load every bptt backend (and with Cython's, scipy's BLAS) at collection, before the
# session fixture limits the thread pools: threadpoolctl limits only loaded libraries.
BACKENDS = bptt.backends()

GROUP = "charlm train step (default model)"
#: steps run before timing: the first ones allocate the workspaces and Adam's moments
WARMUP_STEPS = 3
# 40-100 ms a step: max_time gives 20-50 rounds, enough on a noisy VM for the median
# to settle; min_rounds stays low because torch on N threads of a busy machine can take
# seconds a step (OpenMP's workers waiting on cores others hold)
STEP_MARK = pytest.mark.benchmark(min_rounds=10, max_time=2.0, warmup=False)


class TorchCharModel(torch.nn.Module):
    """CharModel in torch.nn: one-hot characters (T, B, V) -> GRU -> Linear -> log_softmax.

    torch has no seed-variant GRU. ``torch.nn.GRU`` has the same weights
    (3H x V and 3H x H, two bias vectors) and the same multiply-adds a step;
    the seed's reset gate scales h before its candidate's product instead of
    after, so only the order of the work differs, not its amount."""

    def __init__(self, vocab: int, hidden: int):
        super().__init__()
        self.vocab = vocab
        self.rnn = torch.nn.GRU(vocab, hidden)
        self.head = torch.nn.Linear(hidden, vocab)

    def forward(self, ids, h=None):
        x = torch.nn.functional.one_hot(ids, self.vocab).to(self.head.weight.dtype)
        output, h_n = self.rnn(x, h)
        return torch.nn.functional.log_softmax(self.head(output), dim=-1), h_n


def _torch_step(trainer: CharLMTrainer):
    """One training step of the torch model, the trainer's config and text; the
    state carried from step to step, dropped when the streams start over."""
    c = trainer.config
    vocab = len(trainer.vocab)
    torch.manual_seed(c.seed)
    model = TorchCharModel(vocab, c.hidden).to(getattr(torch, c.dtype))
    optimizer = torch.optim.Adam(model.parameters(), lr=c.lr)
    streams = TextStreams(trainer.train_ids, c.batch, c.chunk)  # its own reading position
    state = None

    def step() -> float:
        nonlocal state
        inputs, targets, reset = streams.next_chunk()
        if reset:
            state = None
        optimizer.zero_grad()
        log_probs, h_n = model(torch.from_numpy(inputs), state)
        loss = torch.nn.functional.nll_loss(log_probs.reshape(-1, vocab),
                                            torch.from_numpy(targets).reshape(-1),
                                            reduction=c.reduction)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), c.clip_norm)
        optimizer.step()
        state = h_n.detach()  # truncated BPTT: the next chunk's backward stops here
        return loss.item()

    return model, step


@contextlib.contextmanager
def _frozen_gc():
    """What is alive now kept out of the collector's full passes, as ``bptt charlm``
    does for its run; done for both sides, since this process (pytest, torch) holds
    far more objects than the command line's does."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@pytest.fixture
def trainer(tmp_path, threads):
    """The command line's trainer on the default config, at this test's thread count;
    nothing is written to its out directory unless it saves."""
    return CharLMTrainer(CharLMConfig(threads=threads), tmp_path / "charlm", progress=False)


@STEP_MARK
@pytest.mark.parametrize("side", ["bptt", "torch"])
@pytest.mark.parametrize("threads", THREAD_COUNTS, indirect=True, ids=lambda n: f"threads{n}")
def test_charlm_train_step(benchmark, describe, threads, trainer, side):
    c = trainer.config
    vocab = len(trainer.vocab)
    if side == "bptt":
        step, backend = trainer._train_step, trainer.model.backend
        layer = trainer.model.layer
        module = f"{type(layer).__module__}.{type(layer).__qualname__}(variant={layer.variant!r})"
        # what `bptt charlm --threads N` enters around its loop
        running = blas_threads(c.threads, log=None)
    else:
        model, step = _torch_step(trainer)
        backend = "torch"
        module = f"{type(model.rnn).__module__}.{type(model.rnn).__qualname__}"
        running = contextlib.nullcontext()
    with running, _frozen_gc():
        # from torch's uniform initialisation both start near a uniform guess, log V:
        # a wrong input, read-out or reduction would show here
        first = step()
        assert abs(first - math.log(vocab)) < 0.1 * math.log(vocab), first
        for _ in range(WARMUP_STEPS - 1):
            step()
        # described inside the thread limits, so extra_info shows what the step ran on
        describe("GRU", (vocab, c.hidden, c.batch), c.dtype, "train", backend, T=c.chunk)
        benchmark.group = GROUP + (f" threads={threads}" if threads != ONE else "")
        benchmark.extra_info.pop("flops", None)  # describe's count is the layer's forward
        benchmark.extra_info.update({
            "suite": "charlm", "chars": c.batch * c.chunk, "module": module,
            "config": {key: getattr(c, key) for key in
                       ("model", "hidden", "batch", "chunk", "lr", "optimizer", "clip_norm",
                        "reduction", "dtype")},
            "text": trainer.source, "torch_version": torch.__version__,
        })
        if side == "bptt":
            assert bptt.get_num_threads() == threads  # --threads N reached bptt's loops
            benchmark.extra_info["bptt_threads"] = bptt.get_num_threads()
        benchmark(step)
