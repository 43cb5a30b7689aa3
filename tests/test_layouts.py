"""Memory layout and dtype: what goes in may be any view, what comes out keeps the dtype.

Non-contiguous inputs (transposed, strided) and read-only inputs must give
the same numbers as contiguous ones and must not be written to; float32 in
means float32 out everywhere, float64 likewise.
"""

from __future__ import annotations

import numpy as np
import pytest

from _cells import KINDS, draw, make_cell, run
from conftest import assert_close


def _fortran(a):
    """Same values, column-major (a transposed view of a contiguous array)."""
    return np.ascontiguousarray(a.T).T if a.ndim == 2 else a


def _strided(a):
    """Same values, every other element of a larger buffer along each axis."""
    big = np.full(tuple(2 * n for n in a.shape), np.nan, dtype=a.dtype)
    view = big[tuple(slice(None, None, 2) for _ in a.shape)]
    view[...] = a
    return view


def _readonly(a):
    a = a.copy()
    a.setflags(write=False)
    return a


def _readonly_strided(a):
    a = _strided(a)
    a.setflags(write=False)
    return a


LAYOUTS = {
    "fortran": _fortran,
    "strided": _strided,
    "readonly": _readonly,
    "readonly-strided": _readonly_strided,
}


# a 1-D array has no column-major layout
INPUT_CASES = [(b, lay) for b in (None, 3) for lay in LAYOUTS if b or lay != "fortran"]


@pytest.mark.parametrize("batch, layout", INPUT_CASES,
                         ids=[f"{'batched' if b else 'unbatched'}-{lay}" for b, lay in INPUT_CASES])
@pytest.mark.parametrize("kind", KINDS)
def test_any_input_layout_gives_the_same_numbers(kind, batch, layout, backend):
    make = LAYOUTS[layout]
    reference = make_cell(kind, 3, 4, backend=backend, seed=1)
    cell = make_cell(kind, 3, 4, backend=backend, seed=1)
    data = draw(np.random.default_rng(1), kind, reference, batch)
    expected = run(reference, kind, data)

    views = {k: make(v) for k, v in data.items()}
    for k, v in views.items():  # the layouts are what they claim
        if layout.startswith("readonly"):
            assert not v.flags.writeable, k
        if layout in ("fortran", "strided", "readonly-strided"):
            assert not v.flags.c_contiguous, k
    snapshot = {k: v.copy() for k, v in views.items()}
    actual = run(cell, kind, views)
    for key, value in expected.items():
        assert_close(actual[key], value, 1e-12, name=key)
    for k, v in views.items():
        np.testing.assert_array_equal(v, snapshot[k], err_msg=f"input {k} was modified")


@pytest.mark.parametrize("layout", ["fortran", "readonly", "readonly-strided"])
@pytest.mark.parametrize("kind", KINDS)
def test_any_weight_layout_loads_the_same_numbers(kind, layout, backend):
    reference = make_cell(kind, 3, 4, backend=backend, seed=2)
    cell = make_cell(kind, 3, 4, backend=backend, seed=3)
    cell.load_state_dict({k: LAYOUTS[layout](v) for k, v in reference.state_dict().items()})
    data = draw(np.random.default_rng(2), kind, reference, 2)
    expected = run(reference, kind, data)
    actual = run(cell, kind, data)
    for key, value in expected.items():
        assert_close(actual[key], value, 1e-12, name=key)


@pytest.mark.parametrize("layout", ["fortran", "readonly-strided"])
def test_init_weights_takes_any_layout(layout, backend):
    reference = make_cell("gru_seed", 3, 4, bias=True, backend=backend, seed=4)
    names = ("Wzh", "Wrh", "Wh", "Wzx", "Wrx", "Wx", "bz", "br", "bh")
    cell = make_cell("gru_seed", 3, 4, bias=True, backend=backend, seed=5)
    cell.init_weights(*(LAYOUTS[layout](np.array(getattr(reference, n))) for n in names))
    data = draw(np.random.default_rng(4), "gru_seed", reference, 2)
    expected = run(reference, "gru_seed", data)
    actual = run(cell, "gru_seed", data)
    for key, value in expected.items():
        assert_close(actual[key], value, 1e-12, name=key)


@pytest.mark.parametrize("batch", [None, 2], ids=["unbatched", "batched"])
@pytest.mark.parametrize("kind", KINDS)
def test_dtype_is_preserved(kind, batch, dtype, backend):
    """No silent promotion: every output, gradient and parameter keeps the cell's dtype."""
    cell = make_cell(kind, 3, 4, backend=backend, dtype=dtype, seed=6)
    data = draw(np.random.default_rng(6), kind, cell, batch)
    for key, value in run(cell, kind, data).items():
        assert isinstance(value, np.ndarray), key
        assert value.dtype == dtype, f"{key} is {value.dtype}, expected {dtype}"
    for name, p in cell.parameters().items():
        assert p.dtype == dtype, f"parameter {name} is {p.dtype}"
    for name, p in cell.state_dict().items():
        assert p.dtype == dtype, f"state_dict[{name!r}] is {p.dtype}"
