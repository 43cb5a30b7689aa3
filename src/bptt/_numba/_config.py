"""The one jit setting every Numba kernel uses.

``cache=True`` keeps the compiled machine code on disk, so only the first
import of a fresh install pays for compilation; ``nogil=True`` lets callers
run kernels from several threads.

The fastmath flags leave out ``nnan`` and ``ninf`` (NaN and inf must still
propagate: a diverging model should show NaN, not garbage) and ``afn`` (exp
and tanh keep their accurate implementations). They also leave out
``contract``: fusing ``1 - n * n`` into one FMA skips the rounding of ``n * n``
that NumPy does, and where tanh saturates that cancellation turns one rounding
into a relative difference of up to ~4e-9 (float64) and ~9e-5 (float32),
beyond the 1e-12 / 1e-5 agreement the backends promise. FMA bought no
measurable speed here.

``jit_exact`` compiles the element functions of ``_vmath`` (and the small
per-step products) with no fast-math flag at all (their error-free
transformations need IEEE arithmetic as written; a product's sums must round
alike in every kernel LLVM inlines it into) and NumPy's error model (a float
division is never checked for a zero divisor: no branch in a vectorised
loop). Both are given explicitly: numba compiles a function first called from
another jitted function with the caller's fastmath and error model unless its
own are set. It is inlined by LLVM (``forceinline``), which keeps each
instruction's flags, so a loop calling it still vectorises.
"""

import numba

FASTMATH = {"nsz", "arcp", "reassoc"}


def jit(function):
    """``numba.njit`` with the shared settings and an on-disk cache.

    Numba caches next to the source, else in the user's cache directory (or
    ``NUMBA_CACHE_DIR``). When neither is writable it refuses ``cache=True``
    at decoration time; the kernel is then compiled in every process instead.
    """
    try:
        return numba.njit(cache=True, nogil=True, fastmath=FASTMATH)(function)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return numba.njit(cache=False, nogil=True, fastmath=FASTMATH)(function)


def jit_inline(function):
    """``jit`` whose calls are inlined into the caller's Numba IR."""
    try:
        return numba.njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")(function)
    except RuntimeError:
        return numba.njit(cache=False, nogil=True, fastmath=FASTMATH, inline="always")(function)


def jit_exact(function):
    """``numba.njit`` without fast-math flags, NumPy's error model, cached."""
    try:
        return numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy",
                          forceinline=True)(function)
    except RuntimeError:
        return numba.njit(cache=False, nogil=True, fastmath=False, error_model="numpy",
                          forceinline=True)(function)
