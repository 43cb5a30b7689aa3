"""The Numba backend's layer normalisation (bptt/_numba/_layernorm.py).

Its row sums are NumPy's own, in NumPy's pairwise order (runs of up to 128 by
8 running sums, longer rows cut in halves, walked without recursion), so a
row's mean and variance, and the means of the backward pass, are the NumPy
backend's bit for bit, on rows of any length, in both dtypes; and so are the
normalised rows and the gradients of ``layer_norm_forward`` /
``layer_norm_backward``. The backends' agreement tests cannot see a wrong
summation order (any order is within their tolerance): these can.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import require_backend

DTYPES = (np.float64, np.float32)
# one by one below 8; one block up to 128; the halvings after (a first half of
# 128 or not, odd tails, several levels)
LENGTHS = (*range(1, 40), 120, 127, 128, 129, 135, 136, 255, 256, 257, 264, 383, 384, 1000,
           1024, 4099, 100003)


@pytest.fixture(scope="module")
def kernels():
    require_backend("numba")
    import numba

    from bptt._numba import _layernorm as ln

    @numba.njit
    def sums(out, out_product, a, c, kc):
        partial = ln.row_sum_scratch(a)
        for b in range(a.shape[0]):
            out[b] = ln.row_sum(a, None, 0, b, a.shape[1], partial)
            out_product[b] = ln.row_sum(a, c, kc, b, a.shape[1], partial)

    @numba.njit
    def forward(x_hat, cache, col, col_sigma, x):
        partial = ln.row_sum_scratch(x)
        for b in range(x.shape[0]):
            ln.layer_norm_forward(x_hat, cache, col, col_sigma, x, b, partial)

    @numba.njit
    def backward(dx, cache, col, col_sigma):
        partial = ln.row_sum_scratch(dx)
        for b in range(dx.shape[0]):
            ln.layer_norm_backward(dx, cache, col, col_sigma, b, partial)

    return sums, forward, backward


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_row_sums_are_numpys(kernels, dtype):
    sums = kernels[0]
    rng = np.random.default_rng(0)
    for n in LENGTHS:
        # magnitudes over 8 decades: a different order rounds differently
        a = (rng.standard_normal((3, n)) * 10.0 ** rng.integers(-4, 4, (3, n))).astype(dtype)
        c = rng.standard_normal((3, n + 5)).astype(dtype)
        out, out_product = np.empty(3, dtype), np.empty(3, dtype)
        sums(out, out_product, a, c, 3)
        np.testing.assert_array_equal(out, a.sum(axis=1), err_msg=f"n = {n}")
        np.testing.assert_array_equal(out_product, (a * c[:, 3 : 3 + n]).sum(axis=1),
                                      err_msg=f"n = {n}, products")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("F", [3, 18, 128, 384, 1000])
def test_layer_norm_is_numpys(kernels, dtype, F):
    from bptt._numpy import _layernorm as reference

    _, forward, backward = kernels
    rng = np.random.default_rng(F)
    x = (rng.standard_normal((4, F)) * 3 + 1).astype(dtype)
    col, C = 2, 2 * F + 5  # x^ in columns 2 .. F + 1 of a wider cache row, 1/sigma last
    cache = np.zeros((4, C), dtype)
    x_hat = np.empty_like(x)
    forward(x_hat, cache, col, C - 1, x)
    expected = np.empty_like(x)
    inv_sigma = reference.layer_norm_forward(expected, x)
    np.testing.assert_array_equal(x_hat, expected)
    np.testing.assert_array_equal(cache[:, col : col + F], expected)
    np.testing.assert_array_equal(cache[:, C - 1], inv_sigma)
    # in place, as the cells normalise h W_hh^T
    x_in_place = x.copy()
    forward(x_in_place, cache, col, C - 1, x_in_place)
    np.testing.assert_array_equal(x_in_place, expected)

    dx_hat = rng.standard_normal((4, F)).astype(dtype)
    dx = dx_hat.copy()
    backward(dx, cache, col, C - 1)
    expected_dx = np.empty_like(dx)
    reference.layer_norm_backward(expected_dx, dx_hat, expected, inv_sigma)
    np.testing.assert_array_equal(dx, expected_dx)
