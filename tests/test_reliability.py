"""The promises of issue 12's defect list, one test each: read-only sizes,
no caller buffer kept by reference, zero padding whatever the state holds,
ndarray subclasses, bounded memory from one argument or a forgotten
.eval(), and layers and cells shared between threads."""

from __future__ import annotations

import threading
import tracemalloc
import warnings

import numpy as np
import pytest

import bptt
from conftest import assert_close

CELL_CLASSES = [bptt.GRU_Cell, bptt.GRUCell, bptt.RNNCell, bptt.LSTMCell]
LAYER_CLASSES = [bptt.GRU, bptt.RNN, bptt.LSTM]


@pytest.mark.parametrize("cls", CELL_CLASSES)
def test_cell_sizes_are_read_only(cls, backend):
    cell = cls(3, 4, backend=backend)
    for name in ("input_size", "hidden_size", "bias", "dtype"):
        with pytest.raises(AttributeError, match="fixed at construction"):
            setattr(cell, name, getattr(cell, name))
    x = np.ones((2, 3))
    h = np.zeros((2, 4))
    state = (h, h) if cls is bptt.LSTMCell else h
    assert cell.forward(x, state) is not None


def _stream(cell, xs, h0, overwrite: bool):
    """A streaming loop; with ``overwrite`` the new state is written into the
    buffers passed to forward, as a loop that reuses its buffers does."""
    lstm = isinstance(cell, bptt.LSTMCell)
    x_buffer = np.empty_like(xs[0])
    h = [s.copy() for s in h0]
    grads = []
    for x in xs:
        np.copyto(x_buffer, x)
        new = cell.forward(x_buffer, tuple(h) if lstm else h[0])
        new = new if lstm else (new,)
        if overwrite:
            for buffer, value in zip(h, new, strict=True):
                np.copyto(buffer, value)
            x_buffer.fill(np.nan)
        else:
            h = [v.copy() for v in new]
        ones = np.ones_like(new[0])
        dx, d_old = cell.backward(ones, ones) if lstm else cell.backward(ones)
        grads.append(dx.copy())
    return grads, {name: g.copy() for name, g in cell.grads.items()}


@pytest.mark.parametrize("cls", CELL_CLASSES)
def test_cells_keep_their_own_copies(cls, backend):
    """Refilling x or the state after forward does not change backward."""
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((2, 3)) for _ in range(4)]
    h0 = [rng.standard_normal((2, 4)) for _ in range(2 if cls is bptt.LSTMCell else 1)]
    results = []
    for overwrite in (False, True):
        cell = cls(3, 4, backend=backend, seed=1)
        results.append(_stream(cell, xs, h0, overwrite))
    (dx_a, g_a), (dx_b, g_b) = results
    for a, b in zip(dx_a, dx_b, strict=True):
        assert_close(a, b, 1e-12)
    for name in g_a:
        assert_close(g_b[name], g_a[name], 1e-12, name)


def test_layers_do_not_keep_the_callers_lengths(backend):
    x = np.random.default_rng(0).standard_normal((6, 3, 2))
    grads = []
    for refill in (False, True):
        layer = bptt.GRU(2, 4, backend=backend, seed=0)
        lengths = np.array([6, 2, 4])
        output, _ = layer.forward(x, lengths=lengths)
        if refill:
            lengths[:] = 1
        layer.backward(np.ones_like(output))
        grads.append(layer.grads["weight_hh_l0"].copy())
    assert_close(grads[1], grads[0], 1e-12)


@pytest.mark.parametrize("cls", LAYER_CLASSES)
def test_padding_is_zero_whatever_the_state_holds(cls, backend):
    layer = cls(2, 3, num_layers=2, bidirectional=True, backend=backend, seed=0)
    x = np.ones((5, 2, 2))
    x[3:, 1] = np.nan                       # padding may hold anything
    h0 = np.zeros((4, 2, 3))
    h0[:, 1] = np.nan                       # and the short row's state is NaN
    hx = (h0, np.zeros_like(h0)) if cls is bptt.LSTM else h0
    output, _ = layer.forward(x, hx, lengths=[5, 3])
    dx, _ = layer.backward(np.ones_like(output))
    assert np.all(output[3:, 1] == 0) and np.all(dx[3:, 1] == 0)
    assert np.isfinite(output[:, 0]).all() and np.isfinite(dx[:, 0]).all()


def test_ndarray_subclasses_behave_as_plain_arrays(backend):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 2, 3))
    h0 = rng.standard_normal((1, 2, 4))
    d_out = rng.standard_normal((5, 2, 4))
    layer = bptt.GRU(3, 4, backend=backend, seed=0)
    output, h_n = layer.forward(x, h0)
    dx, dh0 = layer.backward(d_out, h0[0:1] * 0 + 1)
    # np.matrix: a 2-D subclass; an unbatched layer and a cell take 2-D arrays
    unbatched = bptt.GRU(3, 4, backend=backend, seed=0)
    h_plain = unbatched.forward(x[:, 0], h0[:, 0])[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        as_matrix = np.asmatrix(h0[:, 0])
    h_matrix = unbatched.forward(x[:, 0], as_matrix)[1]
    assert type(h_matrix) is np.ndarray and h_matrix.shape == h_plain.shape
    assert_close(h_matrix, h_plain, 0)
    masked = np.ma.masked_array(d_out, mask=np.zeros_like(d_out, dtype=bool))
    layer.forward(x, h0)
    with pytest.raises(TypeError, match="d_output is a masked array"):
        layer.backward(masked)
    layer.backward(d_out, np.ones((1, 2, 4)))          # the cache was not consumed
    cell = bptt.GRUCell(3, 4, backend=backend)
    with pytest.raises(TypeError, match="x is a masked array"):
        cell.forward(np.ma.masked_array(x[0]))
    with pytest.raises(TypeError, match="masked"):
        bptt.losses.sum_of_squares(np.ma.masked_array(x), x)


def test_sizes_beyond_the_machine_are_refused_before_allocating():
    # refused from the sizes alone: none of the asked-for memory (0.2 TB of
    # weights, a 0.7 TB cache) is ever requested, and no Python list of 2^31
    # layers is built first. tracemalloc sees numpy's allocations too.
    layer = bptt.GRU(1, 2**11, backend="numpy")
    x = np.zeros((100_000, 64, 1))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="GiB, more than this machine"):
            bptt.GRU(1, 1, num_layers=2**31)
        with pytest.raises(ValueError, match="GiB, more than this machine"):
            bptt.LSTMCell(1, 10**6)
        with pytest.raises(MemoryError, match="forward on x of 100000 steps"):
            layer.forward(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**24, f"{peak / 2**20:.1f} MiB allocated on the way to refusing"
    assert bptt.count_parameters("gru", 1, 1, num_layers=2**31) == 12 * 2**31


def test_forgotten_eval_keeps_at_most_max_pending_caches():
    layer = bptt.GRU(3, 8)
    x = np.ones((10, 2, 3))
    with pytest.warns(UserWarning, match="call .eval()"):
        for _ in range(3 * layer.max_pending):
            layer.forward(x)
    assert len(layer._caches) == layer.max_pending
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer.forward(x)                      # warned once
    layer.eval()
    assert not layer._caches


def _in_threads(work, jobs) -> None:
    """``work(job)`` for every job, each in its own thread, all released at once."""
    barrier = threading.Barrier(len(jobs))

    def run(job):
        barrier.wait()
        work(job)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _train_steps(module, chunk, step) -> None:
    for x in chunk:
        step(module, x)


def _layer_step(layer, x):
    output, _ = layer.forward(x)
    layer.backward(np.ones_like(output))


def test_training_a_layer_shared_between_threads_is_safe(backend):
    """Each thread's backward consumes its own forward; the gradients add
    up to the serial run's."""
    rng = np.random.default_rng(0)
    data = [[rng.standard_normal((20, 4, 3)) for _ in range(15)] for _ in range(4)]
    serial = bptt.LSTM(3, 8, backend=backend, seed=0)
    for chunk in data:
        _train_steps(serial, chunk, _layer_step)
    shared = bptt.LSTM(3, 8, backend=backend, seed=0)
    _in_threads(lambda chunk: _train_steps(shared, chunk, _layer_step), data)
    for name, g in serial.grads.items():
        assert_close(shared.grads[name], g, 1e-12, name)


def test_cells_shared_between_threads_backward_their_own_step(backend):
    rng = np.random.default_rng(1)
    data = [[rng.standard_normal((3, 4)) for _ in range(40)] for _ in range(4)]
    serial = bptt.GRUCell(4, 5, backend=backend, seed=0)
    shared = bptt.GRUCell(4, 5, backend=backend, seed=0)
    h = np.zeros((3, 5))

    def cell_step(cell, x):
        cell.forward(x, h)
        cell.backward(np.ones((3, 5)))

    for chunk in data:
        _train_steps(serial, chunk, cell_step)
    _in_threads(lambda chunk: _train_steps(shared, chunk, cell_step), data)
    for name, g in serial.grads.items():
        assert_close(shared.grads[name], g, 1e-12, name)


def test_eval_forward_of_a_shared_layer_is_safe(backend):
    rng = np.random.default_rng(2)
    layer = bptt.GRU(3, 6, num_layers=2, backend=backend, seed=0).eval()
    inputs = [rng.standard_normal((30, 5, 3)) for _ in range(8)]
    expected = [layer.forward(x)[0] for x in inputs]
    results = [None] * len(inputs)

    def work(k):
        for _ in range(10):
            results[k] = layer.forward(inputs[k])[0]

    _in_threads(work, list(range(len(inputs))))
    for got, want in zip(results, expected, strict=True):
        assert np.array_equal(got, want)
