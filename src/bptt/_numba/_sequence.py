"""The time loop, written once for every cell family: Numba twin of
``bptt._numpy._sequence``.

A family module defines its step functions, the scratch they need and its
post-loop weight gradients (its hooks, decorated ``jit_inline``), and gets its
kernels from ``sequence_kernels``:

    seq_forward, seq_backward, seq_infer, cell_forward, cell_backward = sequence_kernels(...)

The hooks (S: the number of states the family carries, 1 (h) or 2 (h, c);
tuples of states hold S arrays, h first):

    forward_workspace(initial, weight_hh, extras) -> tuple of arrays
    backward_workspace(dinitial, weight_hh, extras) -> tuple of arrays
        The steps' scratch (``work``), allocated once per call so that a step
        allocates nothing. initial, dinitial: tuples of S arrays (B, w_s).
    step_forward(new, gates, gi, old, weight_hh, bias_hh, extras, option, work)
        new: tuple of the S states after the step, (B, w_s) each, written.
        gates: (B, C) written, the step's cache.  gi: (B, G) = x W_ih^T + b_ih.
        old: tuple of the S states before the step.
    step_backward(dgi, dgh, dold, dnew, gates, old, new, weight_hh, extras, dextras, option, work)
        Mirror of step_forward. dgi: (B, G) written, dL/d(gi). dgh: (B, Gh)
        written, the gradient that weights_backward turns into dW_hh (the same
        array as dgi unless the family asks for a separate one). dold: tuple,
        dL/d(old) written. dnew: tuple, dL/d(new). dextras: added into where a
        family's extra parameter is best summed per step.
    weights_backward(dweight_hh, dbias_hh, dextras, dgh, gates, h_prev, weight_hh, extras, option)
        After the loop, over all N = T B rows at once: dgh (N, Gh), gates
        (N, C), h_prev (N, K) the state h each row's step started from.

The kernels (K: the width of state 0, h; x's dtype throughout):

    seq_forward(output, finals, states, gates, x, initial,
                weight_ih, weight_hh, bias_ih, bias_hh, extras, lengths, reverse, option)
    seq_backward(dx, dinitial, dweight_ih, dweight_hh, dbias_ih, dbias_hh, dextras,
                 doutput, dfinals, gates, states, x,
                 weight_ih, weight_hh, extras, lengths, reverse, option)
    seq_infer(output, finals, gates, x, initial,
              weight_ih, weight_hh, bias_ih, bias_hh, extras, lengths, reverse, option)
        One layer, one direction: see their docstrings. finals, states,
        initial, dinitial, dfinals: tuples of S arrays. seq_infer is
        seq_forward without the cache (gates: one (B, C) scratch).

    cell_forward(*new, gates, x, *old, weight_ih, weight_hh, bias_ih, bias_hh, extras, option)
    cell_backward(dx, *dold, dweight_ih, dweight_hh, dbias_ih, dbias_hh, dextras,
                  *dnew, gates, x, *old, *new, weight_ih, weight_hh, extras, option)
        One step, the states as S separate arrays (B, w_s) each, in the
        places of the tuples above: gru's is
        ``cell_forward(h_next, gates, x, h, weight_ih, ...)``, lstm's
        ``cell_forward(h_next, c_next, gates, x, h, c, weight_ih, ...)``.
        gates: (B, C), written by forward, read by backward.  x: (B, I).
        Forward writes new; backward writes dx (B, I) and dold, and adds into
        the parameter gradients, as seq_backward does. The numbers are those
        of seq_forward / seq_backward with T = 1, lengths = 1 and doutput = 0.
        No written array may share memory with an argument it reads.

    cell_fast_forward, cell_fast_backward = cell_fast_kernels(name)
        The same step for the cells' one-call fast path: the caller's arrays
        as they come, the outputs and what backward needs in one flat array;
        see "the cells' one-call fast path" below. gru, gru_seed, rnn and lstm
        bind them and wrap them for ``bptt.cells`` (``<cell>_forward_fast``).

Conventions of every sequence kernel (one layer, one direction):
- x (T, B, I); output (T, B, K). Or x as ids (T, B) int64: one-hot inputs
  given as the column of W_ih each selects (CharModel's characters); the
  same numbers, no dx in backward.
- states[s] (T+1, B, w_s) holds every value of state s. Forward direction:
  step t reads [t] and writes [t+1]; [0] = initial. Reverse: step t reads
  [t+1] and writes [t]; [T] = initial.
- lengths (B,) int64: step t is valid for row b iff t < lengths[b]. On an
  invalid step a row keeps its states and outputs zeros.

How one driver serves every family with ``cache=True``: a jitted function
passed as an argument, or captured in a closure, never hits numba's on-disk
cache (its type differs in every process). So ``sequence_kernels`` gives each
family its own copy of each kernel's Python function below, whose globals name
that family's hooks, under its own qualified name (numba's cache files are
named after it): ``seq_forward__gru_<hash>``. Numba invalidates a cache entry
when the file of the function's code changes, here this file; the hash in the
name covers the rest of the code compiled into it (every module of this
package and ``bptt._families``).

Speed at small sizes (a step of a few microseconds): the hooks and the
per-step helpers are ``jit_inline`` (inlined into the driver's Numba IR), so
that a step is no function call (a call to a separately compiled function
with tuples of arrays was slower still). Inlined or not, every view, every
tuple of states built or taken apart and every array bound to an inlined
function's argument is reference counted, two atomic operations each: the
drivers run their loops on ``borrowed`` arrays, which numba does not count
(see "borrowed arrays" below). The helpers that touch every state (``at``,
``copy_each`` ...) exist once per state count, ``_1`` and ``_2``, and
``sequence_kernels`` binds the family's (an inlined function cannot branch on
``len`` of a tuple: the untaken branch would still be typed). The cell
kernels take plain arrays because a tuple argument costs numba's dispatcher
about 0.1 us per call; ``cell_forward_1`` / ``_2`` only spell out each state
count's signature around the one ``cell_step_forward``.

Row helpers take the step's t and lengths instead of a boolean mask, so a step
allocates nothing.
"""

import functools
import hashlib
import os
import sys
import types

import numpy as np
from numba import types as nbtypes
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic, overload
from numba.np.arrayobj import make_array, populate_array

from .._families import FAMILIES
from ._config import jit, jit_inline
from ._math import SMALL_PRODUCT, add_dbias, add_dweight, project

# ----------------------------------------------------------------------------
# borrowed arrays: the time loop without reference counting
# ----------------------------------------------------------------------------
# Numba counts references to every array it holds: each view it makes (gi[t],
# a history's row), each tuple of states it builds or takes apart, each array
# bound to an inlined hook's argument is an atomic increment, later an atomic
# decrement, on the array's memory block. A step of the LSTM at hidden size 6
# made ~44 of them: its ``seq_infer`` over T = 100 at (1, 6, 1) took 39 us
# with them and 19 us without (a hand-fused loop: 18 us). The drivers
# therefore run their loops on borrowed arrays: the same arrays without their
# memory block (a null one, which numba's reference counting skips), so that
# every view and tuple made from them is free; the cells' kernels borrow their
# arguments likewise. A borrowed array is only valid while its owner lives: the kernels'
# arguments (their caller holds them), and the arrays a kernel allocates,
# which it names in ``keep_alive`` after their last borrowed use (numba frees
# an array after its own last use). Nothing borrowed is ever returned.


def _borrow(context, builder, ty, value):
    """``borrowed``'s code for one value of numba type ``ty``."""
    if isinstance(ty, nbtypes.Array):
        array = cgutils.create_struct_proxy(ty)(context, builder, value=value)
        array.meminfo = cgutils.get_null_value(array.meminfo.type)
        array.parent = cgutils.get_null_value(array.parent.type)  # no Python object
        return array._getvalue()
    if isinstance(ty, nbtypes.BaseTuple):
        for i, member in enumerate(ty):
            item = _borrow(context, builder, member, builder.extract_value(value, i))
            value = builder.insert_value(value, item, i)
    return value  # a number, or None


def _borrowable(ty):
    """Whether ``borrowed`` takes a value of numba type ``ty``: arrays, and
    numbers and None, which have no reference to drop, in tuples at any depth."""
    return (isinstance(ty, (nbtypes.Array, nbtypes.Number, nbtypes.Boolean, nbtypes.NoneType))
            or (isinstance(ty, nbtypes.BaseTuple) and all(_borrowable(t) for t in ty)))


@intrinsic
def borrowed(typingctx, value):
    """``value``, an array or a (nested) tuple of arrays (and numbers), as the
    same arrays without reference counting, valid while the originals live."""
    if not _borrowable(value):
        return None

    def codegen(context, builder, signature, args):
        return _borrow(context, builder, signature.args[0], args[0])

    return value(value), codegen


@intrinsic
def keep_alive(typingctx, value):
    """Nothing: a use of ``value`` that keeps numba from freeing it earlier."""

    def codegen(context, builder, signature, args):
        return context.get_dummy_value()

    return nbtypes.none(value), codegen


@jit_inline
def step_at(k, T, reverse):
    """The time index of the k-th step in processing order."""
    return T - 1 - k if reverse else k


@jit_inline
def prev_next(t, reverse):
    """Indices into the state histories of the state step t reads and the one it writes."""
    if reverse:
        return t + 1, t
    return t, t + 1


@jit_inline
def final_index(T, reverse):
    """Index into the state histories of the final state (of the initial one
    with reverse flipped)."""
    return 0 if reverse else T


@jit_inline
def keep_invalid_rows(state_next, state, t, lengths):
    """Rows past their length carry their state through unchanged.
    state_next, state: (B, w)."""
    B, W = state.shape
    for b in range(B):
        if t >= lengths[b]:
            for j in range(W):
                state_next[b, j] = state[b, j]  # backward: the carried gradient, [BPTT lengths]


@jit_inline
def masked_output(output_t, state_next, t, lengths):
    """output_t (B, K) = state_next on valid rows, 0 on the others."""
    B, K = state_next.shape
    zero = state_next.dtype.type(0)
    for b in range(B):
        valid = t < lengths[b]
        for j in range(K):
            output_t[b, j] = state_next[b, j] if valid else zero


@jit_inline
def masked_sum(dstate_next, dstate, doutput_t, t, lengths):
    """Mirror of ``masked_output``: dstate_next (B, K) = dstate + doutput_t on
    valid rows, 0 on the others."""
    B, K = dstate.shape
    zero = dstate.dtype.type(0)
    # [BPTT carry] on valid rows, [BPTT lengths]
    for b in range(B):
        valid = t < lengths[b]
        for j in range(K):
            dstate_next[b, j] = dstate[b, j] + doutput_t[b, j] if valid else zero


@jit_inline
def masked_copy(dstate_next, dstate, t, lengths):
    """dstate_next (B, w) = dstate on valid rows, 0 on the others."""
    B, W = dstate.shape
    zero = dstate.dtype.type(0)
    # [BPTT carry] for a state that is not an output, on valid rows, [BPTT lengths]
    for b in range(B):
        valid = t < lengths[b]
        for j in range(W):
            dstate_next[b, j] = dstate[b, j] if valid else zero



# ----------------------------------------------------------------------------
# helpers over every state, one version per state count S (bound per family)
# ----------------------------------------------------------------------------


@jit_inline
def at_1(histories, i):
    """The S states at time index i, as views: (histories[0][i], ...).
    histories: tuple of S arrays (T+1, B, w_s)."""
    return (histories[0][i],)


@jit_inline
def at_2(histories, i):
    return (histories[0][i], histories[1][i])


@jit_inline
def empty_like_each_1(arrays):
    """A tuple of new arrays shaped as the S arrays of ``arrays``."""
    return (np.empty_like(arrays[0]),)


@jit_inline
def empty_like_each_2(arrays):
    return (np.empty_like(arrays[0]), np.empty_like(arrays[1]))


@jit_inline
def copy_each_1(dst, src):
    """dst[s][:] = src[s] for each of the S states."""
    dst[0][:] = src[0]


@jit_inline
def copy_each_2(dst, src):
    dst[0][:] = src[0]
    dst[1][:] = src[1]


@jit_inline
def keep_invalid_rows_each_1(new, old, t, lengths):
    """``keep_invalid_rows`` for each of the S states."""
    keep_invalid_rows(new[0], old[0], t, lengths)


@jit_inline
def keep_invalid_rows_each_2(new, old, t, lengths):
    keep_invalid_rows(new[0], old[0], t, lengths)
    keep_invalid_rows(new[1], old[1], t, lengths)


@jit_inline
def masked_carry_1(dnew, carry, doutput_t, t, lengths):
    """dnew = the carry on valid rows (+ doutput_t for h), 0 on the others."""
    masked_sum(dnew[0], carry[0], doutput_t, t, lengths)  # [BPTT carry], [BPTT lengths]


@jit_inline
def masked_carry_2(dnew, carry, doutput_t, t, lengths):
    masked_sum(dnew[0], carry[0], doutput_t, t, lengths)  # [BPTT carry], [BPTT lengths]
    masked_copy(dnew[1], carry[1], t, lengths)  # [BPTT carry], [BPTT lengths]


_PER_STATE = ("at", "empty_like_each", "copy_each", "keep_invalid_rows_each", "masked_carry")


@jit_inline
def hidden_weights_transposed(weight_hh):
    """weight_hh (Gh, K) for a sequence's forward steps, its entries stored
    transposed: a C-contiguous (K, Gh) copy, seen as (Gh, K). A step's
    ``dot_t(out, h, weight_hh)`` then hands BLAS a contiguous operand
    without the transpose flag, with which OpenBLAS repacks W_hh on every call
    (1.3-1.5x slower at batch 32; csrc/_common.pxd does the same)."""
    return np.ascontiguousarray(weight_hh.T).T


@jit_inline
def hidden_weights_as_is(weight_hh):
    """weight_hh unchanged: for a family whose step multiplies by row blocks of
    W_hh (gru_seed), where the transposed copy would make them strided."""
    return weight_hh


def input_projection(gi, x, weight_ih, bias_ih):
    """gi (T, B, G) = x W_ih^T + b_ih for every step: one matrix product of x
    (T, B, I); of one-hot x given as its columns, ids (T, B) integers, a copy
    of W_ih's columns, the same numbers (every other term of the sum is 0).
    In jitted code only."""
    raise NotImplementedError("input_projection runs in jitted code only")


@overload(input_projection)
def _input_projection(gi, x, weight_ih, bias_ih):
    # chosen by x's type when the kernel is typed
    if x.ndim == 2:
        def gather(gi, x, weight_ih, bias_ih):
            T, B = x.shape
            G = gi.shape[2]
            for t in range(T):
                for b in range(B):
                    c = x[t, b]
                    for g in range(G):
                        gi[t, b, g] = weight_ih[g, c] + bias_ih[g]
        return gather

    def product(gi, x, weight_ih, bias_ih):
        T, B, I = x.shape
        project(gi.reshape(T * B, gi.shape[2]), x.reshape(T * B, I), weight_ih, bias_ih)
    return product


def input_backward(dx, dweight_ih, dbias_ih, dgi, x, weight_ih):
    """Mirror of ``input_projection``: dx written, dweight_ih, dbias_ih added.
    dgi: (T, B, G). dx of shape (0, B, I): not wanted, not computed. Of ids
    (T, B), no dx: row (t, b) of dgi is added into column ids[t, b] of
    dweight_ih, in order (np.add.at's), in a transposed copy first. In jitted
    code only."""
    raise NotImplementedError("input_backward runs in jitted code only")


@overload(input_backward)
def _input_backward(dx, dweight_ih, dbias_ih, dgi, x, weight_ih):
    if x.ndim == 2:
        def scatter(dx, dweight_ih, dbias_ih, dgi, x, weight_ih):
            T, B = x.shape
            G, I = weight_ih.shape
            dweight_ih_t = np.zeros((I, G), dtype=dgi.dtype)
            for t in range(T):
                for b in range(B):
                    column = dweight_ih_t[x[t, b]]
                    for g in range(G):
                        column[g] += dgi[t, b, g]  # [BPTT dW_ih]
            for g in range(G):
                for i in range(I):
                    dweight_ih[g, i] += dweight_ih_t[i, g]
            add_dbias(dbias_ih, dgi.reshape(T * B, G))  # [BPTT dW_ih]
        return scatter

    def product(dx, dweight_ih, dbias_ih, dgi, x, weight_ih):
        T, B, I = x.shape
        dgi2 = dgi.reshape(T * B, dgi.shape[2])
        if dx.shape[0] == T:
            np.dot(dgi2, weight_ih, dx.reshape(T * B, I))  # [BPTT dW_ih]
        add_dweight(dweight_ih, dgi2, x.reshape(T * B, I))  # [BPTT dW_ih]
        add_dbias(dbias_ih, dgi2)  # [BPTT dW_ih]
    return product


@jit
def previous_states(hs, reverse):
    """(T*B, K): the state each step started from, in time order. hs: (T+1, B, K)."""
    T = hs.shape[0] - 1
    h_prev = hs[1:] if reverse else hs[:T]
    return h_prev.reshape(T * hs.shape[1], hs.shape[2])  # h^prev of [BPTT dW_hh]


@jit
def recurrent_weights_backward(dweight_hh, dbias_hh, dgh, h_prev):
    """The ``weights_backward`` of families whose recurrent pre-activations are
    h W_hh^T + b_hh: dW_hh += dgh^T h_prev, db_hh += colsum(dgh).
    dgh: (N, Gh).  h_prev: (N, K)."""
    add_dweight(dweight_hh, dgh, h_prev)  # [BPTT dW_hh]
    add_dbias(dbias_hh, dgh)  # [BPTT dW_hh]


# ----------------------------------------------------------------------------
# the kernels: Python functions that ``sequence_kernels`` re-binds per family
# ----------------------------------------------------------------------------

# The family's part, named here so that the kernels' code reads (and lints);
# every family's copy sees its own instead.
step_forward = step_backward = weights_backward = None
forward_workspace = backward_workspace = None
separate_dgh = False
at = empty_like_each = copy_each = keep_invalid_rows_each = masked_carry = None
hidden_weights = None


def seq_forward(output, finals, states, gates, x, initial,
                weight_ih, weight_hh, bias_ih, bias_hh, extras, lengths, reverse, option):
    """output: (T, B, K) written.  finals: S arrays (B, w_s) written.
    states: S arrays (T+1, B, w_s) and gates: (T, B, C) written, the cache.
    x: (T, B, I).  initial: S arrays (B, w_s).  weight_ih: (G, I).
    weight_hh: (Gh, K).  bias_ih: (G,).  bias_hh: (Gh,).  extras: the family's
    further parameters.  lengths: (B,) int64.  reverse: process t = T-1 .. 0.
    option: the family's scalar setting (float)."""
    T, B = x.shape[0], x.shape[1]  # x: (T, B, I), or ids (T, B)
    gi = np.empty((T, B, weight_ih.shape[0]), dtype=output.dtype)  # x W_ih^T + b_ih
    input_projection(gi, x, weight_ih, bias_ih)
    w_hh = hidden_weights(weight_hh)  # the steps' W_hh
    work = forward_workspace(initial, w_hh, extras)
    copy_each(at(states, final_index(T, not reverse)), initial)
    # the loop runs on borrowed arrays; those made here live until keep_alive
    owned = (gi, w_hh, work)
    output, states, gates, gi, w_hh, bias_hh, extras, work, lengths = borrowed(
        (output, states, gates, gi, w_hh, bias_hh, extras, work, lengths))
    for k in range(T):
        t = step_at(k, T, reverse)
        p, q = prev_next(t, reverse)
        old, new = at(states, p), at(states, q)
        step_forward(new, gates[t], gi[t], old, w_hh, bias_hh, extras, option, work)
        keep_invalid_rows_each(new, old, t, lengths)
        masked_output(output[t], new[0], t, lengths)
    keep_alive(owned)
    copy_each(finals, at(states, final_index(T, reverse)))


# rows of seq_infer's input projection per chunk: chunk * B * G entries stay
# in a core's L2 cache with the step's states (as csrc/_sequence.pxi's), but
# at least INFER_MIN_CHUNK steps: each chunk's product is one BLAS call, which
# copies (packs) all of W_ih, and at (1024, 1024, 32) a product every step made
# numba's inference 2x Cython's (whose float32 projection packs W_ih once)
INFER_CHUNK_ENTRIES = 131072
INFER_MIN_CHUNK = 8


def seq_infer(output, finals, gates, x, initial,
              weight_ih, weight_hh, bias_ih, bias_hh, extras, lengths, reverse, option):
    """``seq_forward`` for inference: the same output and finals, nothing
    kept. gates: (B, C), the steps' scratch. Each state lives in two (B, w_s)
    arrays used in turn, and the input projection is made a chunk of steps
    at a time."""
    T, B = x.shape[0], x.shape[1]  # x: (T, B, I), or ids (T, B)
    G = weight_ih.shape[0]
    chunk = max(1, min(T, max(INFER_MIN_CHUNK, INFER_CHUNK_ENTRIES // max(1, B * G))))
    gi = np.empty((chunk, B, G), dtype=output.dtype)  # x W_ih^T + b_ih, a chunk's steps
    w_hh = hidden_weights(weight_hh)  # the steps' W_hh
    work = forward_workspace(initial, w_hh, extras)
    old = empty_like_each(initial)
    new = empty_like_each(initial)
    copy_each(old, initial)
    # the loop runs on borrowed arrays; those made here live until keep_alive
    owned = (gi, w_hh, work, old, new)
    output, gates, gi, w_hh, bias_hh, extras, work, old, new, lengths = borrowed(
        (output, gates, gi, w_hh, bias_hh, extras, work, old, new, lengths))
    for first in range(0, T, chunk):
        n = min(chunk, T - first)
        t0 = T - first - n if reverse else first  # the chunk holds times t0 .. t0 + n - 1
        input_projection(gi[:n], x[t0 : t0 + n], weight_ih, bias_ih)
        for k in range(first, first + n):
            t = step_at(k, T, reverse)
            step_forward(new, gates, gi[t - t0], old, w_hh, bias_hh, extras, option, work)
            keep_invalid_rows_each(new, old, t, lengths)
            masked_output(output[t], new[0], t, lengths)
            old, new = new, old
    copy_each(finals, old)
    keep_alive(owned)


def seq_backward(dx, dinitial, dweight_ih, dweight_hh, dbias_ih, dbias_hh, dextras,
                 doutput, dfinals, gates, states, x,
                 weight_ih, weight_hh, extras, lengths, reverse, option):
    """Mirror of ``seq_forward``: dx (T, B, I) and dinitial (S arrays (B, w_s))
    written; dweight_ih, dweight_hh, dbias_ih, dbias_hh and dextras added into.
    doutput: (T, B, K).  dfinals: S arrays (B, w_s). dx of shape (0, B, I):
    dL/dx is not wanted, and not computed."""
    T, B = x.shape[0], x.shape[1]  # x: (T, B, I), or ids (T, B)
    dgi = np.empty((T, B, weight_ih.shape[0]), dtype=doutput.dtype)  # dL/d(gi)
    dgh = np.empty((T, B, weight_hh.shape[0]), dtype=doutput.dtype) if separate_dgh else dgi
    work = backward_workspace(dinitial, weight_hh, extras)
    carry = empty_like_each(dinitial)  # dL/d(state), carried backwards through time; [BPTT carry]
    dold = empty_like_each(dinitial)  # the step writes here; swapped with carry
    dnew = empty_like_each(dinitial)  # the step's input: the carry, masked, + doutput[t] for h
    copy_each(carry, dfinals)
    # the loop runs on borrowed arrays; those made here live until keep_alive
    owned = (dgi, dgh, work, carry, dold, dnew)
    (dgi, dgh, work, carry, dold, dnew, doutput, gates, states, weight_hh, extras, dextras,
     lengths) = borrowed((dgi, dgh, work, carry, dold, dnew, doutput, gates, states, weight_hh,
                          extras, dextras, lengths))
    for k in range(T - 1, -1, -1):
        t = step_at(k, T, reverse)
        p, q = prev_next(t, reverse)
        masked_carry(dnew, carry, doutput[t], t, lengths)  # [BPTT carry], [BPTT lengths]
        step_backward(dgi[t], dgh[t], dold, dnew, gates[t], at(states, p), at(states, q),
                      weight_hh, extras, dextras, option, work)
        keep_invalid_rows_each(dold, carry, t, lengths)  # [BPTT lengths]
        carry, dold = dold, carry  # [BPTT carry]
    copy_each(dinitial, carry)  # [BPTT carry]: the carry is now dL/d(initial)
    # over all T*B rows at once
    weights_backward(dweight_hh, dbias_hh, dextras, dgh.reshape(T * B, dgh.shape[2]),
                     gates.reshape(T * B, gates.shape[2]), previous_states(states[0], reverse),
                     weight_hh, extras, option)  # [BPTT dW_hh]
    input_backward(dx, dweight_ih, dbias_ih, dgi, x, weight_ih)  # [BPTT dW_ih]
    keep_alive(owned)


def cell_step_forward(new, gates, x, old, weight_ih, weight_hh, bias_ih, bias_hh, extras,
                      option):
    """One step, ``seq_forward``'s with T = 1: new (S arrays (B, w_s)) and
    gates (B, C) written.  x: (B, I).  old: S arrays (B, w_s)."""
    gi = np.empty((x.shape[0], weight_ih.shape[0]), dtype=x.dtype)  # x W_ih^T + b_ih
    work = forward_workspace(old, weight_hh, extras)
    owned = (gi, work)  # the callers borrow the rest
    gi, work = borrowed((gi, work))
    project(gi, x, weight_ih, bias_ih)
    step_forward(new, gates, gi, old, weight_hh, bias_hh, extras, option, work)
    keep_alive(owned)


def cell_step_backward(dx, dold, dweight_ih, dweight_hh, dbias_ih, dbias_hh, dextras,
                       dnew, gates, x, old, new, weight_ih, weight_hh, extras, option):
    """Mirror of ``cell_step_forward``, ``seq_backward``'s with T = 1: dx
    (B, I) and dold (S arrays (B, w_s)) written, parameter gradients added.
    dnew: S arrays (B, w_s), dL/d(new)."""
    B = x.shape[0]
    dgi = np.empty((B, weight_ih.shape[0]), dtype=x.dtype)  # dL/d(gi)
    dgh = np.empty((B, weight_hh.shape[0]), dtype=x.dtype) if separate_dgh else dgi
    work = backward_workspace(dold, weight_hh, extras)
    owned = (dgi, dgh, work)  # the callers borrow the rest
    dgi, dgh, work = borrowed((dgi, dgh, work))
    step_backward(dgi, dgh, dold, dnew, gates, old, new, weight_hh, extras, dextras, option, work)
    weights_backward(dweight_hh, dbias_hh, dextras, dgh, gates, old[0], weight_hh, extras,
                     option)  # [BPTT dW_hh]
    np.dot(dgi, weight_ih, dx)  # [BPTT dW_ih]
    add_dweight(dweight_ih, dgi, x)  # [BPTT dW_ih]
    add_dbias(dbias_ih, dgi)  # [BPTT dW_ih]
    keep_alive(owned)


# The cell kernels' signatures, one per state count: the states as separate
# arrays (the dispatcher takes those faster than tuples).

def cell_forward_1(h_next, gates, x, h, weight_ih, weight_hh, bias_ih, bias_hh, extras, option):
    """``cell_step_forward`` of a family with one state."""
    h_next, gates, x, h, weight_ih, weight_hh, bias_ih, bias_hh, extras = borrowed(
        (h_next, gates, x, h, weight_ih, weight_hh, bias_ih, bias_hh, extras))
    cell_step_forward((h_next,), gates, x, (h,), weight_ih, weight_hh, bias_ih, bias_hh, extras,
                      option)


def cell_forward_2(h_next, c_next, gates, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh,
                   extras, option):
    """``cell_step_forward`` of a family with two states."""
    h_next, c_next, gates, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh, extras = borrowed(
        (h_next, c_next, gates, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh, extras))
    cell_step_forward((h_next, c_next), gates, x, (h, c), weight_ih, weight_hh, bias_ih, bias_hh,
                      extras, option)


def cell_backward_1(dx, dh, dweight_ih, dweight_hh, dbias_ih, dbias_hh, dextras,
                    dh_next, gates, x, h, h_next, weight_ih, weight_hh, extras, option):
    """``cell_step_backward`` of a family with one state."""
    (dx, dh, dweight_ih, dweight_hh, dbias_ih, dbias_hh, dextras, dh_next, gates, x, h, h_next,
     weight_ih, weight_hh, extras) = borrowed(
        (dx, dh, dweight_ih, dweight_hh, dbias_ih, dbias_hh, dextras, dh_next, gates, x, h,
         h_next, weight_ih, weight_hh, extras))
    cell_step_backward(dx, (dh,), dweight_ih, dweight_hh, dbias_ih, dbias_hh, dextras,
                       (dh_next,), gates, x, (h,), (h_next,), weight_ih, weight_hh, extras, option)


def cell_backward_2(dx, dh, dc, dweight_ih, dweight_hh, dbias_ih, dbias_hh, dextras,
                    dh_next, dc_next, gates, x, h, c, h_next, c_next, weight_ih, weight_hh,
                    extras, option):
    """``cell_step_backward`` of a family with two states."""
    (dx, dh, dc, dweight_ih, dweight_hh, dbias_ih, dbias_hh, dextras, dh_next, dc_next, gates,
     x, h, c, h_next, c_next, weight_ih, weight_hh, extras) = borrowed(
        (dx, dh, dc, dweight_ih, dweight_hh, dbias_ih, dbias_hh, dextras, dh_next, dc_next,
         gates, x, h, c, h_next, c_next, weight_ih, weight_hh, extras))
    cell_step_backward(dx, (dh, dc), dweight_ih, dweight_hh, dbias_ih, dbias_hh, dextras,
                       (dh_next, dc_next), gates, x, (h, c), (h_next, c_next),
                       weight_ih, weight_hh, extras, option)


# ----------------------------------------------------------------------------
# the cells' one-call fast path (bptt.cells; the Cython backend's is csrc/_fast.pxd)
# ----------------------------------------------------------------------------
# A cell's step at hidden size 6 computes for ~0.3 us; the validating path
# around ``cell_forward`` spent ~3 us more in Python (checks, reshapes, copies)
# and in numba's dispatcher (each array argument ~0.06 us). The fast path:
# each family's Python wrapper (``<cell>_forward_fast``, in its module) checks
# with ``plain_step`` that the caller's arrays are exactly what a kernel
# takes, x (I,) or (B, I) and each state (K,) or (B, K), allocates the outputs
# (NumPy makes an array in ~0.15 us, numba returns one in ~0.4 us) and makes one
# call. The kernel checks the shapes, which numba's types do not tell, and
# declines what does not fit by returning False, having written nothing; the
# cell then takes the validating path, which converts the input or raises the
# message that names it.
#
# Forward keeps what backward needs in one flat array, ``saved``:
# [the cache (B, C) | x (B, I) | each state before the step (B, K)], where the
# cache is the gates, or h' for a family whose cache is h' (the RNN: C = K).
# The cell keeps that array and the shapes of x and the states, nothing else.


def plain_step(x, h, dtype):
    """Whether x and h are arrays the fast kernels take as they are: exact
    ndarrays (a subclass goes to the validating path, which views it as a
    plain array or refuses it) of exactly ``dtype`` (a byte-swapped dtype is
    another object), C-contiguous, aligned and writeable (numba would compile
    a read-only array's kernel anew), both 1-D or both 2-D. Shapes are the
    kernels' to check."""
    return (type(x) is np.ndarray and type(h) is np.ndarray and x.dtype is dtype
            and h.dtype is dtype and x.flags.carray and h.flags.carray
            and 0 < x.ndim == h.ndim < 3)


def plain_step_2(x, h, c, dtype):
    """``plain_step`` for a step of a family with two states (h, c)."""
    return (plain_step(x, h, dtype) and type(c) is np.ndarray and c.dtype is dtype
            and c.flags.carray and c.ndim == h.ndim)


def bias_gradient(dbias, rows, dtype):
    """``dbias``, or for a cell without biases (None) zeros to add into and
    drop: the fast kernels then always get an array there, and numba compiles
    one version of each instead of one per case (about 1.5 s each)."""
    return np.zeros(rows, dtype) if dbias is None else dbias


def plain_upstream(d, dtype):
    """Whether a gradient coming into backward is exactly right, as
    ``plain_step`` (1-D or 2-D; the kernel checks its shape)."""
    return type(d) is np.ndarray and d.dtype is dtype and d.flags.carray and 0 < d.ndim < 3


@intrinsic
def block(typingctx, a, start, rows, cols):
    """Entries start .. start + rows cols of the C-contiguous array ``a`` (the
    caller has checked that it holds them), as a (rows, cols) C-contiguous
    view: ``a.ravel()[start:].reshape(rows, cols)`` without the call into a C
    helper that numba's ``reshape`` makes (~20 ns, a dozen times a step). The
    rows come from the caller at run time, as they do on the validating path:
    a constant number of rows (``a[np.newaxis]``) lets LLVM reorder a step's
    fast-math arithmetic otherwise, a last-bit difference."""
    if not (isinstance(a, nbtypes.Array) and a.layout == "C"):
        return None
    matrix = a.copy(ndim=2)

    def codegen(context, builder, signature, args):
        array = make_array(signature.args[0])(context, builder, args[0])
        first, n, m = (context.cast(builder, value, ty, nbtypes.intp)
                       for value, ty in zip(args[1:], signature.args[1:], strict=True))
        view = make_array(matrix)(context, builder)
        populate_array(view, data=builder.gep(array.data, [first]), shape=(n, m),
                       strides=(builder.mul(m, array.itemsize), array.itemsize),
                       itemsize=array.itemsize, meminfo=array.meminfo, parent=array.parent)
        return impl_ret_borrowed(context, builder, matrix, view._getvalue())

    return matrix(a, start, rows, cols), codegen


def or_zeros(a, shape, dtype):
    """``a``, or zeros of ``shape`` and ``dtype`` for None: GRU_Cell's bias_hh
    (its one bias fills bias_ih), a bias-free cell's bias gradients (scratch),
    LSTMCell's dc_next. In jitted code only."""
    raise NotImplementedError("or_zeros runs in jitted code only")


@overload(or_zeros, inline="always")
def _or_zeros(a, shape, dtype):
    # chosen by a's type when the kernel is typed (a test ``a is None`` in the
    # kernel would leave an optional array once a is borrowed, no longer the
    # argument numba prunes such tests on)
    if isinstance(a, nbtypes.NoneType):
        return lambda a, shape, dtype: np.zeros(shape, dtype)
    return lambda a, shape, dtype: a


@jit_inline
def fits(a, B, width):
    """Whether ``a`` holds B rows of ``width``: (B, width), or (width,) for B = 1
    (the wrappers saw to it that a is 1-D or 2-D)."""
    return B >= 1 and a.shape[-1] == width and a.size == B * width


@jit_inline
def upstream_fits(d, B, K, batched):
    """A gradient into backward: (B, K) batched; (K,) or (1, K) unbatched."""
    return fits(d, B, K) and (d.ndim == 2 or not batched)


CACHE, CACHE_EXTRA = 0, 0  # the family's cache width, CACHE K + CACHE_EXTRA; bound per family
CACHE_IS_H = False  # the family's cache is h' itself (the RNN's); bound per family


def cell_fast_forward_1(h_next, saved, x, h, weight_ih, weight_hh, bias_ih, bias_hh, option):
    """One step of a family with one state: h_next shaped as h and ``saved``
    (B (C + I + K),) written, where B = h.size // K; True. False, writing
    nothing, if x is not (B, I) (or (I,) for B = 1) or h not (B, K). The
    outputs may not share memory with the inputs. bias_hh None: zeros."""
    h_next, saved, x, h, weight_ih, weight_hh, bias_ih, bias_hh = borrowed(
        (h_next, saved, x, h, weight_ih, weight_hh, bias_ih, bias_hh))
    I, K = weight_ih.shape[1], weight_hh.shape[1]
    B = h.size // K
    C = K if CACHE_IS_H else CACHE * K + CACHE_EXTRA
    if not (fits(x, B, I) and fits(h, B, K) and fits(h_next, B, K)
            and saved.size == B * (C + I + K)):  # (the last two: the wrapper's own)
        return False
    x, h, h_next = block(x, 0, B, I), block(h, 0, B, K), block(h_next, 0, B, K)
    block(saved, B * C, B, I)[:] = x
    block(saved, B * (C + I), B, K)[:] = h
    gates = np.empty((B, 0), saved.dtype) if CACHE_IS_H else block(saved, 0, B, C)
    cell_step_forward((h_next,), gates, x, (h,), weight_ih, weight_hh, bias_ih,
                      or_zeros(bias_hh, bias_ih.shape, bias_ih.dtype), (), option)
    if CACHE_IS_H:
        block(saved, 0, B, K)[:] = h_next
    return True


def cell_fast_forward_2(h_next, c_next, saved, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh,
                        option):
    """``cell_fast_forward_1`` for a family with two states (h, c) and gates:
    saved (B (C + I + 2K),)."""
    h_next, c_next, saved, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh = borrowed(
        (h_next, c_next, saved, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh))
    I, K = weight_ih.shape[1], weight_hh.shape[1]
    B = h.size // K
    C = CACHE * K + CACHE_EXTRA
    if not (fits(x, B, I) and fits(h, B, K) and fits(c, B, K) and fits(h_next, B, K)
            and fits(c_next, B, K) and saved.size == B * (C + I + 2 * K)):
        return False
    x, h, c = block(x, 0, B, I), block(h, 0, B, K), block(c, 0, B, K)
    block(saved, B * C, B, I)[:] = x
    block(saved, B * (C + I), B, K)[:] = h
    block(saved, B * (C + I + K), B, K)[:] = c
    cell_step_forward((block(h_next, 0, B, K), block(c_next, 0, B, K)), block(saved, 0, B, C),
                      x, (h, c), weight_ih, weight_hh, bias_ih,
                      or_zeros(bias_hh, bias_ih.shape, bias_ih.dtype), (), option)
    return True


def cell_fast_backward_1(dx, dh, dh_next, saved, batched, weight_ih, weight_hh,
                         dweight_ih, dweight_hh, dbias_ih, dbias_hh, option):
    """Mirror of ``cell_fast_forward_1`` on its ``saved``: dx (B I) and dh
    (B K) written, of any shape of that size; the parameter gradients added
    into (dbias None: scratch); True. False, writing nothing, if dh_next is
    not (B, K), or (K,) or (1, K) when not ``batched``."""
    (dx, dh, dh_next, saved, weight_ih, weight_hh, dweight_ih, dweight_hh, dbias_ih,
     dbias_hh) = borrowed((dx, dh, dh_next, saved, weight_ih, weight_hh, dweight_ih,
                           dweight_hh, dbias_ih, dbias_hh))
    I, K = weight_ih.shape[1], weight_hh.shape[1]
    C = K if CACHE_IS_H else CACHE * K + CACHE_EXTRA
    B = saved.size // (C + I + K)
    if not (upstream_fits(dh_next, B, K, batched) and dx.size == B * I and dh.size == B * K):
        return False
    h = block(saved, B * (C + I), B, K)
    if CACHE_IS_H:  # the step's backward reads h' ...
        gates, new = np.empty((B, 0), saved.dtype), block(saved, 0, B, K)
    else:  # ... or the gates, and no h' (h stands in)
        gates, new = block(saved, 0, B, C), h
    cell_step_backward(block(dx, 0, B, I), (block(dh, 0, B, K),), dweight_ih, dweight_hh,
                       or_zeros(dbias_ih, weight_ih.shape[0], saved.dtype),
                       or_zeros(dbias_hh, weight_hh.shape[0], saved.dtype), (),
                       (block(dh_next, 0, B, K),), gates, block(saved, B * C, B, I), (h,),
                       (new,), weight_ih, weight_hh, (), option)
    return True


def cell_fast_backward_2(dx, dh, dc, dh_next, dc_next, saved, batched, weight_ih, weight_hh,
                         dweight_ih, dweight_hh, dbias_ih, dbias_hh, option):
    """``cell_fast_backward_1`` for a family with two states whose backward
    reads no state after the step (the ones before stand in). dc_next None:
    zeros."""
    (dx, dh, dc, dh_next, dc_next, saved, weight_ih, weight_hh, dweight_ih, dweight_hh,
     dbias_ih, dbias_hh) = borrowed((dx, dh, dc, dh_next, dc_next, saved, weight_ih, weight_hh,
                                     dweight_ih, dweight_hh, dbias_ih, dbias_hh))
    I, K = weight_ih.shape[1], weight_hh.shape[1]
    C = CACHE * K + CACHE_EXTRA
    B = saved.size // (C + I + 2 * K)
    dc_next = or_zeros(dc_next, dh_next.shape, saved.dtype)
    if not (upstream_fits(dh_next, B, K, batched) and upstream_fits(dc_next, B, K, batched)
            and dx.size == B * I and dh.size == B * K and dc.size == B * K):
        return False
    old = (block(saved, B * (C + I), B, K), block(saved, B * (C + I + K), B, K))
    cell_step_backward(block(dx, 0, B, I), (block(dh, 0, B, K), block(dc, 0, B, K)),
                       dweight_ih, dweight_hh, or_zeros(dbias_ih, weight_ih.shape[0], saved.dtype),
                       or_zeros(dbias_hh, weight_hh.shape[0], saved.dtype), (),
                       (block(dh_next, 0, B, K), block(dc_next, 0, B, K)), block(saved, 0, B, C),
                       block(saved, B * C, B, I), old, old, weight_ih, weight_hh, (), option)
    return True


@functools.cache
def _sources_digest():
    """A hash of every module whose code the kernels compile in: this package
    and ``bptt._families`` (whose constants are compiled in)."""
    here = os.path.dirname(os.path.abspath(__file__))
    paths = sorted(os.path.join(here, name) for name in os.listdir(here) if name.endswith(".py"))
    paths.append(os.path.join(os.path.dirname(here), "_families.py"))
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:12]


def _bind(template, family, namespace, decorate=jit):
    """The template's code with the family's functions as its globals, jitted
    under its own name ``<template>__<family>_<hash>``."""
    function = types.FunctionType(template.__code__, {**template.__globals__, **namespace},
                                  template.__name__, template.__defaults__, template.__closure__)
    function.__qualname__ = f"{template.__qualname__}__{family}"
    function.__module__ = template.__module__
    function.__doc__ = template.__doc__
    return decorate(function)


# family name -> (its kernels' name stem, S, namespace), as sequence_kernels bound them
_namespaces: dict[str, tuple[str, int, dict]] = {}


def sequence_kernels(step_forward, step_backward, weights_backward,
                     forward_workspace, backward_workspace, separate_dgh, transposed_hh=True):
    """``seq_forward``, ``seq_backward``, ``seq_infer``, ``cell_forward`` and
    ``cell_backward`` for one cell family: the jitted functions of its module, named as in this
    module's docstring. The family is the module's name in
    ``bptt._families.FAMILIES``, which says how many states it carries.

    ``separate_dgh``: the family's recurrent pre-activation gradient differs
    from dL/d(gi) (torch's GRU: r multiplies W_hn h + b_hn), so backward keeps
    a second (T, B, Gh) array for it.

    ``transposed_hh``: the sequence kernels give step_forward W_hh stored
    transposed (``hidden_weights_transposed``); False for a family whose step
    slices W_hh into row blocks.
    """
    module = sys.modules[step_forward.py_func.__module__]
    name = module.__name__.rpartition(".")[2]
    S = len(FAMILIES[name].states)
    family = f"{name}_{_sources_digest()}"
    namespace = {
        "step_forward": step_forward, "step_backward": step_backward,
        "weights_backward": weights_backward, "forward_workspace": forward_workspace,
        "backward_workspace": backward_workspace, "separate_dgh": bool(separate_dgh),
    }
    g = globals()
    namespace.update({helper: g[f"{helper}_{S}"] for helper in _PER_STATE})
    namespace["hidden_weights"] = (hidden_weights_transposed if transposed_hh
                                   else hidden_weights_as_is)
    namespace.update(CACHE=FAMILIES[name].cache, CACHE_EXTRA=FAMILIES[name].cache_extra,
                     CACHE_IS_H=FAMILIES[name].cache_width(1) == 0)  # (the fast kernels')
    namespace["cell_step_forward"] = _bind(cell_step_forward, family, namespace, jit_inline)
    namespace["cell_step_backward"] = _bind(cell_step_backward, family, namespace, jit_inline)
    _namespaces[name] = (family, S, namespace)  # for cell_fast_kernels
    forward = _bind(seq_forward, family, namespace)
    infer = _bind(seq_infer, family, namespace)
    if transposed_hh:
        # At batch 1 a step's product is a matrix-vector product, which BLAS
        # runs as fast from W_hh as it is: there the transposed copy only
        # costs (most of a one-step call at hidden 128, where Cython reads
        # W_hh as it is too). The loops for that layout compile on first use.
        as_is = {**namespace, "hidden_weights": hidden_weights_as_is}
        forward = _one_row(forward, _bind(seq_forward, f"{family}_rows", as_is), 7)
        infer = _one_row(infer, _bind(seq_infer, f"{family}_rows", as_is), 6)
    return (forward, _bind(seq_backward, family, namespace), infer,
            _bind(g[f"cell_forward_{S}"], family, namespace),
            _bind(g[f"cell_backward_{S}"], family, namespace))


def _one_row(general, one_row, weight_hh_at):
    """A kernel that runs ``one_row`` (W_hh as it is) for a call on one row
    whose recurrent product is a BLAS call (output (T, 1, K), W_hh larger than
    SMALL_PRODUCT entries: dot_t's rule), else ``general`` (W_hh transposed).
    Both give a call the same rule, so forward and inference agree bit for bit;
    ``weight_hh_at``: W_hh's position among the kernel's arguments."""
    def kernel(*args):
        if args[0].shape[1] == 1 and args[weight_hh_at].size > SMALL_PRODUCT:
            return one_row(*args)
        return general(*args)

    kernel.__name__, kernel.__doc__ = general.__name__, general.__doc__
    kernel.kernels = (general, one_row)  # the jitted functions it chooses between
    return kernel


def cell_fast_kernels(name):
    """``cell_fast_forward`` and ``cell_fast_backward`` of the family ``name``
    (its module's, after its ``sequence_kernels``), for its cell's fast path,
    and the entries of their ``saved`` array per entry of h, beside x's: the
    cache's width over K (h' itself for a family whose cache is h') plus the
    S states, as the kernels lay it out and check it."""
    family, S, namespace = _namespaces[name]
    if namespace["CACHE_EXTRA"]:  # saved would not be a multiple of h's size
        raise ValueError(f"{name}: the fast path takes no per-row cache entries")
    per_h = (1 if namespace["CACHE_IS_H"] else namespace["CACHE"]) + S
    g = globals()
    return (_bind(g[f"cell_fast_forward_{S}"], family, namespace),
            _bind(g[f"cell_fast_backward_{S}"], family, namespace), per_h)
