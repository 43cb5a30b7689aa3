"""bptt's own threads (bptt._threads): the rows of a batch split across
threads, a bidirectional layer's two directions at once, and the BLAS held at
one thread meanwhile.

The reference is the same layer on one thread. Splitting the rows changes the
shapes every BLAS call sees, and OpenBLAS blocks a product by its shape, so
the numbers agree to rounding (float64 within 1e-12 relative), not bit for
bit; a given thread count gives the same bits on every run.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import bptt
from bptt import _threads
from conftest import TOLERANCE, assert_close

threadpoolctl = pytest.importorskip("threadpoolctl")


@pytest.fixture(autouse=True)
def restore_threads():
    yield
    bptt.set_num_threads(None)


def make(kind: str, backend: str, dtype, **options):
    I, H = 11, 40
    options.setdefault("seed", 0)
    if kind == "lstm_proj":
        return bptt.LSTM(I, H, proj_size=16, backend=backend, dtype=dtype, **options)
    if kind == "lstm_peephole":
        return bptt.LSTM(I, H, peepholes=True, clip=3.0, backend=backend, dtype=dtype, **options)
    if kind == "gru_seed":
        return bptt.GRU(I, H, variant="seed", backend=backend, dtype=dtype, **options)
    cls = {"gru": bptt.GRU, "rnn": bptt.RNN, "lstm": bptt.LSTM, "ln_gru": bptt.LayerNormGRU,
           "ln_lstm": bptt.LayerNormLSTM}[kind]
    return cls(I, H, backend=backend, dtype=dtype, **options)


def train_step(layer, x, lengths, threads: int, seed: int = 7):
    """Forward and backward on ``threads`` threads: every output, input
    gradient and parameter gradient, by name."""
    bptt.set_num_threads(threads)
    layer._rng = np.random.default_rng(seed)  # the same dropout masks every run
    layer.zero_grad()
    output, finals = layer(x, lengths=lengths)
    finals = finals if isinstance(finals, tuple) else (finals,)
    rng = np.random.default_rng(1)
    d_output = rng.standard_normal(output.shape).astype(output.dtype)
    d_finals = [rng.standard_normal(f.shape).astype(f.dtype) for f in finals]
    dx, d_states = layer.backward(d_output, *d_finals)
    d_states = d_states if isinstance(d_states, tuple) else (d_states,)
    results = {"output": output, "dx": dx}
    results.update({f"final{i}": f for i, f in enumerate(finals)})
    results.update({f"d_state{i}": d for i, d in enumerate(d_states)})
    results.update({f"d{name}": grad.copy() for name, grad in layer.grads.items()})
    return results


KINDS = ("gru", "gru_seed", "rnn", "lstm", "lstm_proj", "lstm_peephole", "ln_gru", "ln_lstm")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_split_rows_agree_with_one_thread(kind, bidirectional, backend, dtype):
    rng = np.random.default_rng(0)
    T, B = 40, 37                     # 37 rows: groups of 18 and 19, or 12, 12, 13
    layer = make(kind, backend, dtype, num_layers=2, bidirectional=bidirectional,
                 dropout=0.25)
    x = rng.standard_normal((T, B, 11)).astype(dtype)
    lengths = rng.integers(1, T + 1, B)
    one = train_step(layer, x, lengths, threads=1)
    tolerance = TOLERANCE[np.dtype(dtype)]
    if dtype == np.float32 and kind.startswith("ln_"):
        # layer norm over few units is ill-conditioned in float32 (dx here
        # reaches 600 from O(1) data): the float64 case is the check
        tolerance = 1e-3
    for threads in (2, 3):
        bptt.set_num_threads(threads)
        assert layer._threads_for(T, B) == threads
        many = train_step(layer, x, lengths, threads=threads)
        for name, expected in one.items():
            assert_close(many[name], expected, tolerance, f"{kind} {threads} threads {name}")


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_a_thread_count_gives_the_same_bits_every_run(kind, backend):
    rng = np.random.default_rng(2)
    layer = make(kind, backend, np.float64, num_layers=2, bidirectional=True)
    x = rng.standard_normal((20, 33, 11))
    first = train_step(layer, x, None, threads=2)
    second = train_step(layer, x, None, threads=2)
    for name, value in first.items():
        np.testing.assert_array_equal(second[name], value, err_msg=name)


@pytest.mark.parametrize("kind", ["gru", "lstm_proj"])
def test_directions_run_at_once_on_a_small_batch(kind, backend):
    # 4 rows cannot be split (8 per thread at least): the two directions run
    # on two threads instead; each adds into its own parameters' gradients
    rng = np.random.default_rng(3)
    T, B = 200, 4
    layer = make(kind, backend, np.float64, num_layers=2, bidirectional=True)
    x = rng.standard_normal((T, B, 11))
    one = train_step(layer, x, None, threads=1)
    assert layer._threads_for(T, B) == 1
    bptt.set_num_threads(2)
    assert layer._threads_for(T, B) == 2
    assert _threads.row_groups(B, 2, 8) is None
    two = train_step(layer, x, None, threads=2)
    for name, expected in one.items():
        np.testing.assert_array_equal(two[name], expected, err_msg=name)


def test_eval_forward_splits_rows_too(backend):
    rng = np.random.default_rng(4)
    layer = make("lstm", backend, np.float64, num_layers=2).eval()
    x = rng.standard_normal((30, 40, 11))
    bptt.set_num_threads(1)
    output_one, (h_one, c_one) = layer(x)
    bptt.set_num_threads(4)
    output, (h, c) = layer(x)
    for name, a, b in (("output", output, output_one), ("h_n", h, h_one), ("c_n", c, c_one)):
        assert_close(a, b, 1e-13, name)


def test_small_work_stays_on_one_thread():
    layer = bptt.GRU(1, 6)
    bptt.set_num_threads(8)
    assert layer._threads_for(100, 1) == 1        # (1, 6, 1): far below a thread's worth
    assert layer._threads_for(100, 64) == 1
    assert bptt.GRU(65, 128)._threads_for(100, 32) == 8


def test_row_groups():
    assert _threads.row_groups(37, 2, 8) == [(0, 18), (18, 37)]
    assert _threads.row_groups(37, 3, 8) == [(0, 12), (12, 24), (24, 37)]
    assert _threads.row_groups(20, 4, 8) == [(0, 10), (10, 20)]   # at least 8 rows each
    assert _threads.row_groups(15, 4, 8) is None
    assert _threads.row_groups(64, 1, 8) is None


def test_set_num_threads_checks_its_argument():
    with pytest.raises(TypeError, match="threads must be an int"):
        bptt.set_num_threads(2.0)
    with pytest.raises(TypeError, match="threads must be an int"):
        bptt.set_num_threads(True)
    with pytest.raises(ValueError, match="threads must be >= 1, got 0"):
        bptt.set_num_threads(0)
    bptt.set_num_threads(3)
    assert bptt.get_num_threads() == 3


def test_default_follows_the_blas_limit():
    bptt.set_num_threads(None)
    with threadpoolctl.threadpool_limits(limits=1):
        assert bptt.get_num_threads() == 1
    with threadpoolctl.threadpool_limits(limits=2):
        assert bptt.get_num_threads() == min(2, _threads.cores())


def test_blas_is_held_at_one_thread_while_bptt_threads_run():
    blas = _threads.kernels_blas()
    assert blas is not None
    with threadpoolctl.threadpool_limits(limits=2):
        before = blas.get_num_threads()
        seen = _threads.run_parallel(lambda _: blas.get_num_threads(), range(3))
        assert seen == [1, 1, 1]
        assert blas.get_num_threads() == before


def test_an_error_on_a_worker_reaches_the_caller_after_every_item_finished():
    finished = []

    def work(item):
        if item == 1:
            raise RuntimeError("item 1 failed")
        finished.append(item)
        return item

    with pytest.raises(RuntimeError, match="item 1 failed"):
        _threads.run_parallel(work, [0, 1, 2])
    assert sorted(finished) == [0, 2]


def test_bptt_num_threads_sets_the_default():
    # the kernels' BLAS is loaded first, so that the limit reaches it
    code = ("import bptt; from threadpoolctl import threadpool_limits\n"
            "bptt.backends()\n"
            "with threadpool_limits(limits=1):\n"
            "    print(bptt.get_num_threads())\n"
            "bptt.set_num_threads(2); print(bptt.get_num_threads())\n")
    for value, expected in (("3", "3\n2\n"), ("", "1\n2\n"), ("zero", "1\n2\n")):
        env = dict(os.environ, BPTT_NUM_THREADS=value)
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout == expected, (value, result.stdout)


def test_a_limit_entered_before_bptt_loads_its_blas_still_holds():
    # scipy's OpenBLAS is loaded on bptt's first use, after the limit began:
    # the limit never reaches it, but numpy's (loaded at import) shows it
    code = ("import bptt\n"
            "from threadpoolctl import threadpool_limits\n"
            "with threadpool_limits(limits=1):\n"
            "    print(bptt.get_num_threads())\n")
    env = {k: v for k, v in os.environ.items() if k != "BPTT_NUM_THREADS"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1\n"


def test_which_package_carries_a_blas_is_read_from_its_folder():
    # numpy's wheels name their OpenBLAS libscipy_openblas64_ too: the file
    # name cannot tell numpy's copy from scipy's (CI lists numpy's first)
    site = "/venv/lib/python3.11/site-packages"
    assert _threads._bundled_by(f"{site}/numpy.libs/libscipy_openblas64_-32a4.so") == "numpy"
    assert _threads._bundled_by(f"{site}/scipy.libs/libscipy_openblas-6cdc.so") == "scipy"
    assert _threads._bundled_by(f"{site}/numpy/.dylibs/libscipy_openblas64_.dylib") == "numpy"
    assert _threads._bundled_by(f"{site}/scipy/.dylibs/libscipy_openblas.dylib") == "scipy"
    assert _threads._bundled_by("/usr/lib/x86_64-linux-gnu/libopenblas.so.0") is None
    assert _threads._bundled_by(f"{site}/torch/lib/libgomp.so.1") is None
    blas = _threads.kernels_blas()
    assert blas is not None and _threads._bundled_by(blas.filepath) in ("scipy", None)
