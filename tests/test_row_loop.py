"""The Cython LSTM's one-row loop (csrc/_gates_t.h, lstm_row_forward and
lstm_row_backward): a layer direction on a single row (B = 1), every step
valid, at a hidden size whose per-step products are plain loops (4 H^2 <= 512,
H <= 11) runs its whole time loop in one C function instead of the driver's
steps. It must give the driver's bits: the driver still runs those steps for
each row of a batch, so a row alone and the same row twice in a batch (H <= 8,
where the batch's products are plain loops too) agree bit for bit; at every
size the NumPy backend agrees within tolerance."""

from __future__ import annotations

import numpy as np
import pytest

import bptt
from conftest import TOLERANCE, assert_close, require_backend

T = 23


def _data(H, D, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, 1, 3)).astype(dtype)
    d_output = rng.standard_normal((T, 1, D * H)).astype(dtype)
    h0, c0, d_h_n = (rng.standard_normal((D, 1, H)).astype(dtype) for _ in range(3))
    return x, d_output, h0, c0, d_h_n


def _run(backend, H, bidirectional, dtype, x, d_output, h0, c0, d_h_n):
    layer = bptt.LSTM(3, H, bidirectional=bidirectional, backend=backend, dtype=dtype, seed=1)
    output, (h_n, c_n) = layer.forward(x, (h0, c0))
    dx, (dh0, dc0) = layer.backward(d_output, d_h_n, None)
    inference = layer.eval().forward(x, (h0, c0))
    return [output, h_n, c_n, dx, dh0, dc0], layer.grads, inference


def _twice(a):
    return np.concatenate([a, a], axis=1)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["forward", "bidirectional"])
@pytest.mark.parametrize("H", range(1, 9))
def test_a_row_alone_gives_the_bits_of_that_row_in_a_batch(H, bidirectional, dtype):
    require_backend("cython")
    D = 2 if bidirectional else 1
    x, d_output, h0, c0, d_h_n = _data(H, D, dtype, seed=H)
    alone, _, (output, (h_n, c_n)) = _run("cython", H, bidirectional, dtype,
                                          x, d_output, h0, c0, d_h_n)
    batch, _, _ = _run("cython", H, bidirectional, dtype,
                       *(_twice(a) for a in (x, d_output, h0, c0, d_h_n)))
    for name, a, b in zip(["output", "h_n", "c_n", "dx", "dh0", "dc0"], alone, batch,
                          strict=True):
        if name == "dx":
            # dx comes after the loop, from one BLAS product over all T B rows,
            # whose blocking may differ with the row count: rounding only
            assert_close(a[:, 0], b[:, 1], TOLERANCE[np.dtype(dtype)], name)
            continue
        np.testing.assert_array_equal(a[:, 0], b[:, 0], err_msg=name)
        np.testing.assert_array_equal(a[:, 0], b[:, 1], err_msg=name)
    # inference runs the same loop without keeping states or gates
    for name, a, b in zip(["output", "h_n", "c_n"], (output, h_n, c_n), alone[:3],
                          strict=True):
        np.testing.assert_array_equal(a, b, err_msg=f"eval {name}")


@pytest.mark.parametrize("bidirectional", [False, True], ids=["forward", "bidirectional"])
@pytest.mark.parametrize("H", [1, 6, 9, 11, 12])
def test_a_row_matches_numpy(H, bidirectional, dtype):
    require_backend("cython")
    D = 2 if bidirectional else 1
    data = _data(H, D, dtype, seed=100 + H)
    values, grads, _ = _run("cython", H, bidirectional, dtype, *data)
    expected, expected_grads, _ = _run("numpy", H, bidirectional, dtype, *data)
    for name, a, b in zip(["output", "h_n", "c_n", "dx", "dh0", "dc0"], values, expected,
                          strict=True):
        assert_close(a, b, TOLERANCE[np.dtype(dtype)], name)
    for name in expected_grads:
        assert_close(grads[name], expected_grads[name], TOLERANCE[np.dtype(dtype)], name)


def test_a_long_inference_crosses_the_projection_chunks():
    # seq_infer projects the input 131072 entries at a time: 5461 steps of
    # one row at hidden 6, so 12000 steps take three chunks of the row loop
    require_backend("cython")
    rng = np.random.default_rng(7)
    layer = bptt.LSTM(2, 6, bidirectional=True, backend="cython", seed=3)
    x = rng.standard_normal((12000, 1, 2))
    output, (h_n, c_n) = layer.forward(x)
    layer._caches.clear()
    inference_output, (inference_h_n, inference_c_n) = layer.eval().forward(x)
    np.testing.assert_array_equal(inference_output, output)
    np.testing.assert_array_equal(inference_h_n, h_n)
    np.testing.assert_array_equal(inference_c_n, c_n)


def test_a_row_with_a_shorter_length_takes_the_driver_steps():
    # lengths below T leave the row loop to the driver, which masks; the
    # valid part agrees with the row loop on the row cut to its length
    require_backend("cython")
    rng = np.random.default_rng(9)
    x = rng.standard_normal((T, 1, 3))
    layer = bptt.LSTM(3, 6, backend="cython", seed=2)
    full, (h_full, _) = layer.eval().forward(x[:15])
    masked, (h_masked, _) = layer.forward(x, lengths=[15])
    np.testing.assert_array_equal(masked[:15], full)
    np.testing.assert_array_equal(masked[15:], 0)
    np.testing.assert_array_equal(h_masked, h_full)
