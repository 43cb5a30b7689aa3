"""Smoke test of an installed bptt wheel: the compiled backend is there and right.

Run it outside the source tree, with warnings as errors, in an environment
that has only the wheel and its dependencies:

    python -W error tools/check_wheel.py

cibuildwheel runs it on every wheel it builds (pyproject.toml's test-command),
tests/test_wheel.py on the wheel of tools/build_wheel.sh. Exits non-zero if
the Cython backend is missing or a GRU's forward or backward pass through it
differs from the NumPy reference by more than 1e-12 (float64, relative).
"""

import numpy as np

import bptt

RTOL = 1e-12  # the float64 tolerance of the test suite (tests/conftest.py)


def gru_pass(backend, x, d_output):
    """A two-layer bidirectional GRU's forward and backward on one backend."""
    gru = bptt.GRU(5, 8, num_layers=2, bidirectional=True, backend=backend, seed=0)
    output, h_n = gru.forward(x)
    dx, dh0 = gru.backward(d_output)
    return {"output": output, "h_n": h_n, "dx": dx, "dh0": dh0, **gru.grads}


def main():
    # compiled modules missing, or present but failing to load (an undefined
    # symbol, a numpy ABI mismatch): unavailable() says which and why
    assert "cython" in bptt.backends(), f"no Cython backend: {bptt.unavailable()}"

    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 3, 5))  # (T, B, I)
    d_output = rng.standard_normal((6, 3, 16))  # (T, B, 2H)
    compiled = gru_pass("cython", x, d_output)
    reference = gru_pass("numpy", x, d_output)
    for name, want in reference.items():
        got = compiled[name]
        err = np.max(np.abs(got - want)) / np.max(np.abs(want))
        assert err <= RTOL, f"{name}: cython differs from numpy by {err:.2e} (relative)"
    print(f"bptt {bptt.__version__} from {bptt.__file__}: backends {bptt.backends()}, "
          f"a GRU's forward and backward match NumPy's to {RTOL}")


if __name__ == "__main__":
    main()
