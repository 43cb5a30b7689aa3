"""Layer normalisation of each row, the piece the layer-normalised cells
share: Numba twin of ``bptt._numpy._layernorm``.

    x^ = (x - mean(x)) / sigma,   sigma = sqrt(var(x) + eps)   (per row, biased var)

The gain and bias are applied by the cell, so backward takes the gradient
already multiplied by the gain. Both helpers do one row, so that a step can
take each row through all its passes while the row is in the L1 cache; they
write into the caller's arrays and allocate nothing. The normalised row and
1 / sigma go to columns of the step's cache row (gates), where backward reads
them.

Like csrc/_layernorm.pxd, the row sums are NumPy's own: in the array's dtype
and in its pairwise order (``row_sum``), so that a row's mean and variance are
the NumPy backend's to the last bit. All is compiled by ``jit_exact``: no
fast-math flag may regroup a sum, and each helper's rounding is the same in
every kernel LLVM inlines it into (seq_infer gives seq_forward's bits).

Speed: each pass over a row is a loop over contiguous entries with explicit
column offsets (``unsigned``), so that LLVM vectorises it; a sum is 8
independent scalar running sums, as many as NumPy's order allows.
"""

import numpy as np

from .._families import LAYER_NORM_EPS
from ._config import jit_exact, jit_inline

# NumPy's pairwise summation (its ``pairwise_sum``): a run of up to
# PAIRWISE_BLOCK entries is summed by 8 running sums; a longer one is cut in
# two halves (the first a multiple of 8 long), each summed so, then added
PAIRWISE_BLOCK = 128
# the most halvings ``row_sum`` stacks (the length of its scratch): each about
# halves a run, so 64 is more than any row can need
PAIRWISE_DEPTH = 64


@jit_inline
def row_sum_scratch(like):
    """The scratch ``row_sum`` needs (part of a step's workspace), of like's dtype."""
    return np.empty(PAIRWISE_DEPTH, dtype=like.dtype)


@jit_exact
def unsigned(k):
    """The column index k >= 0 as a uint64. Numba maps a negative signed index
    to the end of the axis, a select on every access; where LLVM cannot prove
    the index non-negative (an offset plus the loop's counter) that select
    stays in the loop, and a loop over contiguous entries becomes scalar code
    or a gather. An unsigned index has no such select."""
    return np.uint64(k)


@jit_exact
def term(a, c, kc, b, k):
    """The k-th term of row b's sum: a[b, k], or a[b, k] c[b, kc + k] (rounded)."""
    if c is None:
        return a[b, unsigned(k)]
    return a[b, unsigned(k)] * c[b, unsigned(kc + k)]


@jit_exact
def block_sum(a, c, kc, b, k0, n):
    """The sum of the terms k0 .. k0 + n - 1 (``term``), n <= PAIRWISE_BLOCK,
    in NumPy's order: under 8 one by one; else 8 running sums, sum i taking
    the terms i, i + 8, i + 16 ..., added as ((0 + 1) + (2 + 3)) + ((4 + 5) +
    (6 + 7)), then the last n % 8 terms one by one."""
    if n < 8:
        s = a.dtype.type(0)
        for k in range(k0, k0 + n):
            s += term(a, c, kc, b, k)
        return s
    r0 = term(a, c, kc, b, k0)
    r1 = term(a, c, kc, b, k0 + 1)
    r2 = term(a, c, kc, b, k0 + 2)
    r3 = term(a, c, kc, b, k0 + 3)
    r4 = term(a, c, kc, b, k0 + 4)
    r5 = term(a, c, kc, b, k0 + 5)
    r6 = term(a, c, kc, b, k0 + 6)
    r7 = term(a, c, kc, b, k0 + 7)
    end = k0 + n - n % 8
    for k in range(k0 + 8, end, 8):
        r0 += term(a, c, kc, b, k)
        r1 += term(a, c, kc, b, k + 1)
        r2 += term(a, c, kc, b, k + 2)
        r3 += term(a, c, kc, b, k + 3)
        r4 += term(a, c, kc, b, k + 4)
        r5 += term(a, c, kc, b, k + 5)
        r6 += term(a, c, kc, b, k + 6)
        r7 += term(a, c, kc, b, k + 7)
    s = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for k in range(end, k0 + n):
        s += term(a, c, kc, b, k)
    return s


@jit_exact
def first_half(n):
    """The length of the first half NumPy cuts a run of n entries into."""
    h = n // 2
    return h - h % 8


@jit_exact
def row_sum(a, c, kc, b, n, partial):
    """sum(a[b, :n]), or sum(a[b, :n] * c[b, kc : kc + n]) with each product
    rounded first (c None or not), as NumPy sums a row: ``block_sum`` up to
    PAIRWISE_BLOCK terms, else the two halves' sums (``first_half``) added,
    each by the same rule. partial: (PAIRWISE_DEPTH,) scratch.

    NumPy recurses; a recursive function does not survive numba's cache, so
    the tree of halves is walked here. ``path`` holds the turns from the whole
    row down to the current part (bit d set: the second half at depth d + 1),
    ``depth`` how many; partial[d] holds the sum of the first half of the part
    at depth d while its second half is being summed. A short row is the walk's
    one leaf: a separate branch to ``block_sum`` for it would make numba keep
    the reference counting of the arrays passed in (atomic operations on
    every call, costlier than the sum of a short row).
    """
    path = 0
    depth = 0
    while True:
        # the part at ``path``: the halvings replayed from the whole row
        k0 = 0
        m = n
        for d in range(depth):
            h = first_half(m)
            if (path >> d) & 1:
                k0 += h
                m -= h
            else:
                m = h
        while m > PAIRWISE_BLOCK:  # down its first halves to a block
            m = first_half(m)
            depth += 1
        s = block_sum(a, c, kc, b, k0, m)
        while depth > 0 and (path >> (depth - 1)) & 1:  # a second half: add to its first
            depth -= 1
            path ^= 1 << depth
            s = partial[depth] + s
        if depth == 0:
            return s
        partial[depth - 1] = s  # a first half: on to the second
        path |= 1 << (depth - 1)


@jit_exact
def layer_norm_forward(x_hat, cache, col, col_sigma, x, b, partial):
    """Row b of each array (B rows).  x_hat: (B, F), its row b written, the
    normalised row; x_hat may be x itself.  cache: (B, C): x^ written again
    into its columns col .. col + F - 1, and 1 / sigma into column col_sigma.
    x: (B, F).  partial: ``row_sum``'s scratch."""
    F = x.shape[1]
    one = x.dtype.type(1)
    count = x.dtype.type(F)
    mean = row_sum(x, None, 0, b, F, partial) / count
    for k in range(F):
        x_hat[b, k] = x[b, k] - mean  # centred
    var = row_sum(x_hat, x_hat, 0, b, F, partial) / count
    inv = one / np.sqrt(var + x.dtype.type(LAYER_NORM_EPS))  # [LN sigma]
    cache[b, col_sigma] = inv
    for k in range(F):
        v = x_hat[b, k] * inv  # [LN x^]
        x_hat[b, k] = v
        cache[b, unsigned(col + k)] = v


@jit_exact
def layer_norm_backward(dx, cache, col, col_sigma, b, partial):
    """Mirror of ``layer_norm_forward``, row b: dx (B, F), its row b dL/d(x^)
    in, dL/dx out, from x^ = cache[b, col : col + F] and 1 / sigma =
    cache[b, col_sigma]. The row's means are taken before it is written.  [LN dx]"""
    F = dx.shape[1]
    count = dx.dtype.type(F)
    mean_d = row_sum(dx, None, 0, b, F, partial) / count
    mean_dx = row_sum(dx, cache, col, b, F, partial) / count
    inv = cache[b, col_sigma]
    for k in range(F):
        dx[b, k] = inv * (dx[b, k] - mean_d - cache[b, unsigned(col + k)] * mean_dx)  # [LN dx]
