"""Inference mode: ``.eval()`` forwards run each backend's ``seq_infer``,
which keeps nothing for backward (two state slots, one block of gates, the
input projection made a chunk of steps at a time) and must give the training
forward's numbers."""

from __future__ import annotations

import numpy as np
import pytest

import bptt
from conftest import TOLERANCE, assert_close, require_backend
from test_threads import KINDS, make


@pytest.fixture(autouse=True)
def one_thread():
    bptt.set_num_threads(1)  # the split across threads has its own tests
    yield
    bptt.set_num_threads(None)


def forward(layer, x, lengths):
    output, finals = layer(x, lengths=lengths)
    return [output, *(finals if isinstance(finals, tuple) else (finals,))]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(23, 5, False), (30, 48, True)],
                         ids=["one-chunk", "chunked"])
def test_eval_gives_the_training_forward(kind, shape, backend, dtype):
    # (30, 48): 48 rows x the LSTM's 160 gate columns = 7680 entries a step,
    # so the projection comes in chunks of 17 steps (131072 entries)
    T, B, bidirectional = shape
    rng = np.random.default_rng(5)
    layer = make(kind, backend, dtype, num_layers=2, bidirectional=bidirectional)
    x = rng.standard_normal((T, B, 11)).astype(dtype)
    lengths = rng.integers(1, T + 1, B)
    training = forward(layer.train(), x, lengths)
    layer._caches.clear()
    inference = forward(layer.eval(), x, lengths)
    for a, b in zip(inference, training, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        if dtype == np.float64:
            # the chunks' products sum each entry in the same order
            np.testing.assert_array_equal(a, b)
        else:
            # float32: OpenBLAS may block a chunk's product differently from
            # the whole sequence's, a difference of rounding only
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-6 * np.abs(b).max())


def test_eval_keeps_nothing(backend):
    layer = bptt.LSTM(4, 8, num_layers=2, bidirectional=True, backend=backend).eval()
    x = np.random.default_rng(0).standard_normal((50, 3, 4))
    free_before = {shape: len(arrays) for shape, arrays in layer._pool._free.items()}
    layer(x)
    assert not layer._caches
    assert {shape: len(arrays) for shape, arrays in layer._pool._free.items()} == free_before
    with pytest.raises(ValueError, match="eval mode"):
        layer.backward(np.zeros((50, 3, 16)))


@pytest.mark.parametrize("reverse", [False, True])
def test_seq_infer_matches_seq_forward_at_kernel_level(backend, reverse):
    # every chunk boundary case: T not a multiple of the chunk, chunk of 1 step
    family = bptt.get_backend(backend).family("lstm")
    rng = np.random.default_rng(6)
    for T, B, H in ((7, 1, 3), (9, 300, 128), (1, 2, 5)):
        G, I = 4 * H, 3
        x = rng.standard_normal((T, B, I))
        initial = (rng.standard_normal((B, H)), rng.standard_normal((B, H)))
        weights = (rng.standard_normal((G, I)), rng.standard_normal((G, H)) / H,
                   rng.standard_normal(G), rng.standard_normal(G))
        lengths = rng.integers(1, T + 1, B).astype(np.int64)
        lengths.flags.writeable = False   # as the layers hand it (one numba signature)
        C = 5 * H
        expected = np.empty((T, B, H)), (np.empty((B, H)), np.empty((B, H)))
        family.seq_forward(expected[0], expected[1],
                           (np.empty((T + 1, B, H)), np.empty((T + 1, B, H))),
                           np.empty((T, B, C)), x, initial, *weights, (), lengths, reverse, 0.0)
        actual = np.empty((T, B, H)), (np.empty((B, H)), np.empty((B, H)))
        family.seq_infer(actual[0], actual[1], np.empty((B, C)), x, initial, *weights, (),
                         lengths, reverse, 0.0)
        np.testing.assert_array_equal(actual[0], expected[0])
        np.testing.assert_array_equal(actual[1][0], expected[1][0])
        np.testing.assert_array_equal(actual[1][1], expected[1][1])


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_seq_infer_writes_output_in_place_where_every_row_is_valid(backend, kind, reverse):
    # the steps below the shortest length write h' straight into output[t]
    # (Cython), the steps past it go through the state slots; both, and the
    # switch between them either way, give seq_forward's numbers. float32 at
    # batch 8, hidden 32 runs on the panel kernels where the CPU has them.
    family = bptt.get_backend(backend).family(kind)
    rng = np.random.default_rng(7)
    T, B, H, I = 9, 8, 32, 3
    G = (4 if kind == "lstm" else 3) * H
    C = (5 if kind == "lstm" else 4) * H
    S = 2 if kind == "lstm" else 1
    for dtype in (np.float64, np.float32):
        for lengths in ([T] * B, [T, 4, T, 7, T, T, 5, T], [1] * B):
            lengths = np.array(lengths, dtype=np.int64)
            lengths.flags.writeable = False   # as the layers hand it
            x = rng.standard_normal((T, B, I)).astype(dtype)
            initial = tuple(rng.standard_normal((B, H)).astype(dtype) for _ in range(S))
            weights = tuple(a.astype(dtype) for a in (
                rng.standard_normal((G, I)), rng.standard_normal((G, H)) / H,
                rng.standard_normal(G), rng.standard_normal(G)))
            expected = np.empty((T, B, H), dtype), tuple(np.empty((B, H), dtype) for _ in range(S))
            family.seq_forward(expected[0], expected[1],
                               tuple(np.empty((T + 1, B, H), dtype) for _ in range(S)),
                               np.empty((T, B, C), dtype), x, initial, *weights, (), lengths,
                               reverse, 0.0)
            actual = np.empty((T, B, H), dtype), tuple(np.empty((B, H), dtype) for _ in range(S))
            family.seq_infer(actual[0], actual[1], np.empty((B, C), dtype), x, initial,
                             *weights, (), lengths, reverse, 0.0)
            np.testing.assert_array_equal(actual[0], expected[0])
            for a, b in zip(actual[1], expected[1], strict=True):
                np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["lstm", "gru", "ln_gru"])
def test_numba_one_row_keeps_every_promise(kind):
    """Numba runs a call on one row (B = 1) whose recurrent product is a BLAS
    call with W_hh as it is rather than transposed (``_one_row`` in
    bptt._numba._sequence): eval and training forwards still agree bit for
    bit, a stream fed in two pieces gives one call's bits, and the NumPy
    backend agrees."""
    require_backend("numba")
    rng = np.random.default_rng(8)
    layer = make(kind, "numba", np.float64)     # hidden 40: W_hh far above SMALL_PRODUCT
    x = rng.standard_normal((9, 1, 11))
    training = forward(layer.train(), x, None)
    layer._caches.clear()
    inference = forward(layer.eval(), x, None)
    for a, b in zip(inference, training, strict=True):
        np.testing.assert_array_equal(a, b)
    first = layer(x[:4])
    second = layer(x[4:], first[1])
    np.testing.assert_array_equal(np.concatenate([first[0], second[0]]), inference[0])
    reference = make(kind, "numpy", np.float64)
    reference.load_state_dict(layer.state_dict())
    for a, b in zip(inference, forward(reference.eval(), x, None), strict=True):
        assert_close(a, b, TOLERANCE[np.dtype(np.float64)])
    kernels = bptt.get_backend("numba").family(kind)
    for name in ("seq_forward", "seq_infer"):   # the one-row kernels ran
        assert getattr(kernels, name).kernels[1].signatures, name
