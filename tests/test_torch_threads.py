"""bptt.torch on torch's threads (``_common.torch_threads``): a layer call uses
at most ``torch.get_num_threads()`` threads, and the batch rows bptt splits
across threads run in a parallel region of torch's OpenMP runtime, on
torch's own workers (which spin between torch's operations: threads of
bptt's own would share the cores with them). No timing here: what is checked
is which threads run the rows, how many, and that the numbers do not change.
"""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import bptt  # noqa: E402
import bptt.torch as bt  # noqa: E402
from bptt import _threads  # noqa: E402
from bptt import layers as _bptt_layers  # noqa: E402
from bptt.torch import _common  # noqa: E402
from conftest import TOLERANCE, assert_close  # noqa: E402

needs_openmp = pytest.mark.skipif(_common._torch_openmp() is None,
                                  reason="torch does not run on an OpenMP runtime here")

# T * B * (gates * H) * (I + H): past bptt.layers' two-thread threshold, 16 rows per thread
SHAPE = dict(T=16, B=32, I=16, H=64)


@pytest.fixture(autouse=True)
def restore_threads():
    torch_threads = torch.get_num_threads()
    yield
    bptt.set_num_threads(None)
    torch.set_num_threads(torch_threads)


@pytest.fixture
def groups(monkeypatch):
    """Each call of the layers' stack forward and backward (one per row group):
    (pass, rows, native thread id, OpenMP thread number, OpenMP team size)."""
    seen = []
    openmp = _common._torch_openmp()

    def spy(name):
        real = getattr(_bptt_layers._Recurrent, name)

        def stack(self, cache_or_x, *args, **kwargs):
            rows = cache_or_x.B if name == "_stack_backward" else cache_or_x.shape[1]
            team = (openmp[1](), openmp[2]()) if openmp is not None else (0, 1)
            seen.append((name, rows, threading.get_native_id(), *team))
            return real(self, cache_or_x, *args, **kwargs)

        monkeypatch.setattr(_bptt_layers._Recurrent, name, stack)

    spy("_stack_forward")
    spy("_stack_backward")
    return seen


def _train_call(module, T, B, I, H, dtype=torch.float32, seed=0):
    """Forward and backward: output, dx, dh0 and the parameter gradients."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, I, generator=gen, dtype=dtype, requires_grad=True)
    output, _ = module(x)
    module.zero_grad()
    output.backward(torch.randn(output.shape, generator=gen, dtype=dtype))
    return [output.detach(), x.grad] + [p.grad for p in module.parameters()]


def _tasks() -> set[str]:
    return set(os.listdir("/proc/self/task"))


@needs_openmp
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_split_rows_run_on_torchs_openmp_team(kind, groups):
    torch.set_num_threads(2)
    bptt.set_num_threads(2)
    module = getattr(bt, kind)(SHAPE["I"], SHAPE["H"])
    before = _tasks() if os.path.isdir("/proc/self/task") else None
    torch.add(torch.ones(1 << 21), 1.0)      # a parallel torch operation: torch's workers
    workers = None if before is None else {int(t) for t in _tasks() - before}
    _train_call(module, **SHAPE)
    main = threading.get_native_id()
    for name in ("_stack_forward", "_stack_backward"):
        calls = [g for g in groups if g[0] == name]
        assert sorted(g[1] for g in calls) == [16, 16], calls     # two groups of rows ...
        assert sorted(g[3] for g in calls) == [0, 1] and all(g[4] == 2 for g in calls)
        assert [g[2] for g in calls if g[3] == 0] == [main]       # ... the caller's and
        other = [g[2] for g in calls if g[3] == 1]                # an OpenMP worker's:
        assert other != [main]
        if workers:                                               # torch's own
            assert set(other) <= workers, (other, workers)


def test_torchs_thread_count_limits_bptt(groups):
    torch.set_num_threads(1)
    bptt.set_num_threads(2)
    _train_call(bt.LSTM(SHAPE["I"], SHAPE["H"]), **SHAPE)
    assert [g[:2] for g in groups] == [("_stack_forward", 32), ("_stack_backward", 32)]
    assert bptt.get_num_threads() == 2       # outside the call, bptt's own setting
    groups.clear()
    torch.set_num_threads(2)
    bptt.set_num_threads(1)                  # and bptt's limit still holds
    _train_call(bt.LSTM(SHAPE["I"], SHAPE["H"]), **SHAPE)
    assert [g[:2] for g in groups] == [("_stack_forward", 32), ("_stack_backward", 32)]


@pytest.mark.parametrize("openmp", [True, False], ids=["torch-openmp", "bptt-pool"])
@pytest.mark.parametrize("make", [
    lambda: bt.LSTM(16, 64, num_layers=2),
    lambda: bt.GRU(16, 64, bidirectional=True),    # directions at once, too
    lambda: bt.LSTM(16, 64, proj_size=24),
    lambda: bt.RNN(16, 64, nonlinearity="relu"),
], ids=["lstm2", "gru-bi", "lstm-proj", "rnn"])
def test_the_numbers_do_not_depend_on_the_threads(make, openmp, groups, monkeypatch):
    if openmp and _common._torch_openmp() is None:
        pytest.skip("torch does not run on an OpenMP runtime here")
    if not openmp:
        monkeypatch.setattr(_common, "_torch_openmp", lambda: None)
    torch.manual_seed(0)
    module = make().double()
    torch.set_num_threads(1)
    reference = _train_call(module, **SHAPE, dtype=torch.float64)
    assert all(g[1] == 32 for g in groups)
    groups.clear()
    torch.set_num_threads(2)
    bptt.set_num_threads(2)
    split = _train_call(module, **SHAPE, dtype=torch.float64)
    assert any(g[1] == 16 for g in groups) or isinstance(module, bt.GRU)
    if not openmp:
        assert all(g[4] == 1 for g in groups)  # bptt's own pool: no OpenMP team
    for ours, theirs in zip(split, reference, strict=True):
        assert_close(ours.numpy(), theirs.numpy(), TOLERANCE[np.dtype(np.float64)])


@needs_openmp
def test_run_on_torch_threads_keeps_order_and_raises_after_every_item():
    torch.set_num_threads(2)
    done = []

    def work(k):
        done.append(k)
        if k in (3, 1):
            raise ValueError(k)
        return k * k

    assert _common.run_on_torch_threads(lambda k: k * k, range(5)) == [0, 1, 4, 9, 16]
    with pytest.raises(ValueError, match="1"):  # the first item's error
        _common.run_on_torch_threads(work, range(5))
    assert sorted(done) == [0, 1, 2, 3, 4]


def test_running_on_holds_for_the_calling_thread_only_and_nests():
    bptt.set_num_threads(3)
    seen = {}

    def other():
        seen["other"] = _threads.get_num_threads()

    with _threads.running_on(2, None):
        assert _threads.get_num_threads() == 2
        with _threads.running_on(1, None):
            assert _threads.get_num_threads() == 1
            thread = threading.Thread(target=other)
            thread.start()
            thread.join()
        assert _threads.get_num_threads() == 2
        with _threads.running_on(8, None):
            assert _threads.get_num_threads() == 3     # a limit, never more
        ran = _threads.run_parallel(lambda k: threading.get_ident(), range(2))
        assert ran[0] == threading.get_ident() != ran[1]   # bptt's pool without a runner
        with _threads.running_on(2, lambda work, items: ["lent"] * len(items)):
            assert _threads.run_parallel(lambda k: k, range(2)) == ["lent", "lent"]
    assert seen["other"] == 3
    assert _threads.get_num_threads() == 3
