"""bptt.torch's modules against their torch.nn twins, float32, in the same run.

1. A whole training step of a character model: tokens (T = 100, batch B) ->
   ``Embedding(65, I)`` -> recurrent layer ``(I, H)`` -> ``Linear(H, 65)`` ->
   cross-entropy -> backward -> ``Adam.step()`` (``zero_grad()`` first), with
   ``torch.nn.GRU`` / ``torch.nn.LSTM`` against ``bptt.torch.GRU`` /
   ``bptt.torch.LSTM``. Shapes (I, H, B), I being the embedding size:
   (1, 6, 1) (a one-float embedding, the existing tables' "(1, 6, 1)" rows),
   (65, 128, 32) and (256, 256, 32). Each pair starts from the same weights
   (the torch model's ``state_dict`` loaded into the bptt.torch one) and
   trains on the same tokens, at one thread and on every core this process
   may use (_threads.py).
2. The fixed cost of one call, T = 1, (1, 6, 1): ``GRU`` and ``GRUCell``,
   forward + backward and forward alone under ``torch.no_grad()``, torch.nn
   against bptt.torch, with bptt's bare layer or cell on numpy arrays
   (backend "cython" or whichever ``auto`` picks) in the same group: the
   difference between bptt.torch and the bare row is the autograd wrapper.

A group holds one workload, shape and thread count; its rows' ``backend`` is
"torch", "bptt.torch" or a bptt backend, so report.py's bptt.torch table
gives torch / bptt.torch. ``extra_info`` follows the ``describe`` fixture (kind,
shape (I, H, B), T, dtype, pass, backend, threads) and adds each BLAS
library's kernel and thread count as threadpoolctl reports them.

    python -m pytest benchmarks/test_bench_torch.py --benchmark-only
"""

import numpy as np
import pytest

import bptt
from _threads import THREAD_COUNTS

torch = pytest.importorskip("torch")
threadpoolctl = pytest.importorskip("threadpoolctl")

import bptt.torch as bt  # noqa: E402 - after the importorskip of torch

# Load every bptt backend (and with Cython's, scipy's BLAS) at collection, before the
# session fixture limits the thread pools: threadpoolctl limits only loaded libraries.
BACKENDS = bptt.backends()

VOCAB = 65
T = 100
TRAIN_SHAPES = [(1, 6, 1), (65, 128, 32), (256, 256, 32)]  # (embedding I, hidden H, batch B)
OVERHEAD_SHAPE = (1, 6, 1)
KINDS = {"GRU": (torch.nn.GRU, bt.GRU), "LSTM": (torch.nn.LSTM, bt.LSTM)}
CELLS = {"GRUCell": (torch.nn.GRUCell, bt.GRUCell)}
BARE = {"GRU": bptt.GRU, "GRUCell": bptt.GRUCell}

# enough rounds on a noisy VM for medians and minimums to settle
TRAIN_MARK = pytest.mark.benchmark(min_rounds=30, max_time=2.0, warmup=True,
                                   warmup_iterations=5)
CALL_MARK = pytest.mark.benchmark(min_rounds=2000, max_time=1.0, warmup=True,
                                  warmup_iterations=2000)


# torch's own BLAS (MKL) and oneDNN are linked in, out of threadpoolctl's sight
TORCH_INFO = {"version": torch.__version__, "mkl": torch.backends.mkl.is_available(),
              "mkldnn": torch.backends.mkldnn.is_available()}


def _blas_info() -> list[dict]:
    """Each BLAS/OpenMP pool: which library, kernel (OpenBLAS's "architecture") and threads."""
    return [{key: info.get(key) for key in ("internal_api", "version", "architecture",
                                            "num_threads", "prefix")}
            | {"file": info["filepath"].rsplit("/", 1)[-1]}
            for info in threadpoolctl.threadpool_info()]


@pytest.fixture
def label(benchmark, describe):
    """``describe`` with this suite's group names: the thread count in the name (the
    same workload runs on one thread and on every core), "bptt.torch" first so that
    none collides with the bptt-only suites' groups (test_bench_cells.py has a
    "GRUCell fwd+bwd (1, 6)")."""

    def label(kind, shape, pass_, backend, T, **extra):
        describe(kind, shape, np.float32, pass_, backend, T=T)
        threads = torch.get_num_threads()
        benchmark.group = f"bptt.torch {kind} T={T} {pass_} {tuple(shape)} float32 " \
                          f"threads={threads}"
        if pass_ == "train":  # describe's FLOPs count the recurrent layer's forward only
            benchmark.extra_info.pop("flops", None)
        benchmark.extra_info.update({"suite": "bptt.torch", "blas": _blas_info(),
                                     "torch": TORCH_INFO, **extra})

    return label


# --- 1. a training step of a character model -------------------------------------------

class CharModel(torch.nn.Module):
    """Embedding -> recurrent layer -> Linear, time-major tokens (T, B) -> logits (T, B, V)."""

    def __init__(self, recurrent, embed: int, hidden: int):
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, embed)
        self.rnn = recurrent(embed, hidden)
        self.head = torch.nn.Linear(hidden, VOCAB)

    def forward(self, tokens):
        output, _ = self.rnn(self.embed(tokens))
        return self.head(output)


def _tokens(batch: int):
    rng = np.random.default_rng(0)
    tokens = torch.from_numpy(rng.integers(0, VOCAB, size=(T + 1, batch)))
    return tokens[:-1], tokens[1:].reshape(-1)


def _models(kind: str, shape):
    """The torch model and the bptt.torch one with its weights."""
    embed, hidden, _ = shape
    torch.manual_seed(0)
    reference = CharModel(KINDS[kind][0], embed, hidden)
    ours = CharModel(KINDS[kind][1], embed, hidden)
    ours.load_state_dict(reference.state_dict())
    return reference, ours


def _loss(model, inputs, targets):
    return torch.nn.functional.cross_entropy(model(inputs).reshape(-1, VOCAB), targets)


@TRAIN_MARK
@pytest.mark.parametrize("backend", ["torch", "bptt.torch"])
@pytest.mark.parametrize("shape", TRAIN_SHAPES, ids=lambda s: "I{}-H{}-B{}".format(*s))
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("threads", THREAD_COUNTS, indirect=True, ids=lambda n: f"threads{n}")
def test_train_step(benchmark, label, threads, kind, shape, backend):
    inputs, targets = _tokens(shape[2])
    reference, ours = _models(kind, shape)
    with torch.no_grad():  # same model, same data: the same loss before any step
        torch.testing.assert_close(_loss(ours, inputs, targets),
                                   _loss(reference, inputs, targets), rtol=1e-5, atol=1e-5)
    model = reference if backend == "torch" else ours
    label(kind, shape, "train", backend, T, threads=threads, vocab=VOCAB,
          module=f"{type(model.rnn).__module__}.{type(model.rnn).__qualname__}",
          bptt_backend=bptt.get_backend().name if backend == "bptt.torch" else None)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        optimizer.zero_grad()
        loss = _loss(model, inputs, targets)
        loss.backward()
        optimizer.step()
        return loss

    assert torch.isfinite(step())
    benchmark(step)


# --- 2. the fixed cost of one call: T = 1, hidden 6, batch 1 ---------------------------

def _call_data(kind):
    """x, h and the output gradient, as the layer (T, B, I) or the cell (B, I) takes them."""
    I, H, B = OVERHEAD_SHAPE
    rng = np.random.default_rng(0)
    lead = (B,) if kind in CELLS else (1, B)
    x = rng.standard_normal((*lead, I)).astype(np.float32)
    h = rng.standard_normal((*lead, H)).astype(np.float32)  # a layer's (layers, B, H)
    d_output = rng.standard_normal((*lead, H)).astype(np.float32)
    return x, h, d_output


def _torch_call(kind, backend, pass_):
    torch_class, bptt_class = {**KINDS, **CELLS}[kind]
    torch.manual_seed(0)
    module = (torch_class if backend == "torch" else bptt_class)(*OVERHEAD_SHAPE[:2])
    x, h, d_output = map(torch.from_numpy, _call_data(kind))
    cell = kind in CELLS

    if pass_ == "fwd":
        def step():
            with torch.no_grad():
                return module(x, h)
    else:
        x.requires_grad_()  # so that both form dx, as bptt's bare layer does

        def step():
            output = module(x, h)
            (output if cell else output[0]).backward(d_output)

    return module, step


def _bare_call(kind, pass_):
    x, h, d_output = _call_data(kind)
    module = BARE[kind](*OVERHEAD_SHAPE[:2], dtype=np.float32, seed=0)
    if pass_ == "fwd":
        if hasattr(module, "eval"):  # a layer keeps no cache then; a cell keeps its last
            module.eval()

        def step():
            return module.forward(x, h)
    else:
        def step():
            module.forward(x, h)
            return module.backward(d_output)

    return module, step


@CALL_MARK
@pytest.mark.parametrize("backend", ["torch", "bptt.torch", "bare"])
@pytest.mark.parametrize("pass_", ["fwd+bwd", "fwd"])
@pytest.mark.parametrize("kind", ["GRU", "GRUCell"])
def test_call_overhead(benchmark, label, threads, kind, pass_, backend):
    if backend == "bare":
        module, step = _bare_call(kind, pass_)
        backend = module.backend  # the bptt backend that ran: cython, numba or numpy
    else:
        module, step = _torch_call(kind, backend, pass_)
    label(kind, OVERHEAD_SHAPE, pass_, backend, 1,
          module=f"{type(module).__module__}.{type(module).__qualname__}")
    step()
    benchmark(step)
