"""Compiled Cython kernels (built from csrc/ by setup.py); absent if the build failed."""
