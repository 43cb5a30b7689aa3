"""The Numba backend: the NumPy reference's kernels, jitted with ``cache=True``."""
