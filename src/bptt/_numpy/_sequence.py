"""The time loop, written once for every cell family (NumPy reference).

A family module defines three functions and gets ``seq_forward``,
``seq_backward``, ``seq_infer`` (forward without the cache) and the one-step
pair ``cell_forward``, ``cell_backward`` from ``sequence_kernels``:

    step_forward(new, gates, gi, old, weight_hh, bias_hh, extras, option)
        new: tuple of the S states after the step, (B, w_s) each, written.
        gates: (B, C) written, the step's cache.  gi: (B, G) = x W_ih^T + b_ih.
        old: tuple of the S states before the step.
    step_backward(dgi, dgh, dold, dnew, gates, old, new, weight_hh, extras, dextras, option)
        Mirror of step_forward. dgi: (B, G) written, dL/d(gi). dgh: (B, Gh)
        written, the gradient that weights_backward turns into dW_hh (the same
        array as dgi in families whose recurrent pre-activations are gi's
        twins). dold: tuple, dL/d(old) written. dnew: tuple, dL/d(new).
        dextras: added into where a family's extra parameter is best summed
        per step.
    weights_backward(dweight_hh, dbias_hh, dextras, dgh, gates, h_prev, weight_hh, extras, option)
        After the loop, over all N = T B rows at once: dgh (N, Gh), gates
        (N, C), h_prev (N, K) the state h each row's step started from.

The one-step pair, the cells' kernels, takes the states as S separate arrays
(B, w_s), as the Numba backend's does; its numbers are those of the
sequence kernels with T = 1, lengths = 1 and doutput = 0:

    cell_forward(*new, gates, x, *old, weight_ih, weight_hh, bias_ih, bias_hh, extras, option)
    cell_backward(dx, *dold, dweight_ih, dweight_hh, dbias_ih, dbias_hh, dextras,
                  *dnew, gates, x, *old, *new, weight_ih, weight_hh, extras, option)

Conventions of every sequence kernel (one layer, one direction):
- x (T, B, I); output (T, B, K), K the width of state 0 (h). Or x as ids
  (T, B) int64: one-hot inputs given as the column of W_ih each selects
  (CharModel's characters); the same numbers, no dx in backward.
- states[s] (T+1, B, w_s) holds every value of state s. Forward direction:
  step t reads [t] and writes [t+1]; [0] = initial. Reverse: step t reads
  [t+1] and writes [t]; [T] = initial.
- lengths (B,) int64: step t is valid for row b iff t < lengths[b]. On an
  invalid step a row keeps its states and outputs zeros, so a reverse
  sequence starts at the row's last valid step, as with torch's packing.
"""

from __future__ import annotations

import numpy as np


def steps(T: int, reverse: bool) -> range:
    """Time indices in processing order."""
    return range(T - 1, -1, -1) if reverse else range(T)


def prev_next(t: int, reverse: bool) -> tuple[int, int]:
    """Indices into the state histories of the state step t reads and the one it writes."""
    return (t + 1, t) if reverse else (t, t + 1)


def final_index(T: int, reverse: bool) -> int:
    """Index into the state histories of the final state (of the initial one with
    reverse flipped)."""
    return 0 if reverse else T


def input_projection(x, weight_ih, bias_ih):
    """gi (T, B, G) = x W_ih^T + b_ih for every step: one matrix product of x
    (T, B, I); of one-hot x given as ids (T, B), W_ih's columns, the same
    numbers (every other term of the sum is 0)."""
    if x.ndim == 2:
        return weight_ih.T[x] + bias_ih
    T, B, I = x.shape
    return (x.reshape(T * B, I) @ weight_ih.T + bias_ih).reshape(T, B, -1)


def input_backward(dx, dweight_ih, dbias_ih, dgi, x, weight_ih) -> None:
    """Mirror of ``input_projection``: dx written, dweight_ih, dbias_ih added.
    dx of shape (0, B, I): not wanted, not computed. Of ids, no dx: row
    (t, b) of dgi is added into column ids[t, b] of dweight_ih, in order."""
    T, B, G = dgi.shape
    dgi2 = dgi.reshape(T * B, G)
    if x.ndim == 2:
        dweight_ih_t = np.zeros((weight_ih.shape[1], G), dtype=dgi.dtype)
        np.add.at(dweight_ih_t, x.reshape(T * B), dgi2)  # [BPTT dW_ih]
        dweight_ih += dweight_ih_t.T
    else:
        I = x.shape[2]
        if dx.shape[0] == T:
            dx.reshape(T * B, I)[...] = dgi2 @ weight_ih  # [BPTT dW_ih]
        dweight_ih += dgi2.T @ x.reshape(T * B, I)  # [BPTT dW_ih]
    dbias_ih += dgi2.sum(axis=0)  # [BPTT dW_ih]


def keep_invalid_rows(new, old, valid) -> None:
    """Rows past their length carry their state through unchanged."""
    new[~valid] = old[~valid]  # backward: the carried gradient, [BPTT lengths]


def masked(a, valid):
    """a on valid rows, exactly 0 on the others (0, not a * 0: NaN stays out)."""
    return np.where(valid[:, None], a, 0).astype(a.dtype, copy=False)


def sequence_kernels(step_forward, step_backward, weights_backward, separate_dgh: bool):
    """``seq_forward``, ``seq_backward``, ``seq_infer``, ``cell_forward`` and
    ``cell_backward`` for one cell family.

    ``separate_dgh``: the family's recurrent pre-activation gradient differs
    from dL/d(gi) (torch's GRU: r multiplies W_hn h + b_hn), so backward keeps
    a second (T, B, Gh) array for it.
    """

    def seq_forward(output, finals, states, gates, x, initial,
                    weight_ih, weight_hh, bias_ih, bias_hh, extras, lengths, reverse, option):
        """output: (T, B, K) written.  finals: S arrays (B, w_s) written.
        states: S arrays (T+1, B, w_s) and gates: (T, B, C) written, the cache.
        x: (T, B, I) or ids (T, B).  initial: S arrays (B, w_s).  lengths: (B,) int64."""
        T = x.shape[0]
        gi = input_projection(x, weight_ih, bias_ih)  # (T, B, G)
        first = final_index(T, not reverse)
        for history, state0 in zip(states, initial, strict=True):
            history[first] = state0
        for t in steps(T, reverse):
            p, q = prev_next(t, reverse)
            valid = t < lengths
            old = tuple(s[p] for s in states)
            new = tuple(s[q] for s in states)
            step_forward(new, gates[t], gi[t], old, weight_hh, bias_hh, extras, option)
            for n, o in zip(new, old, strict=True):
                keep_invalid_rows(n, o, valid)
            output[t] = masked(new[0], valid)
        last = final_index(T, reverse)
        for final, history in zip(finals, states, strict=True):
            final[...] = history[last]

    def seq_backward(dx, dinitial, dweight_ih, dweight_hh, dbias_ih, dbias_hh, dextras,
                     doutput, dfinals, gates, states, x,
                     weight_ih, weight_hh, extras, lengths, reverse, option):
        """Mirror of ``seq_forward``: dx (T, B, I) and dinitial written, the
        parameter gradients added into. doutput: (T, B, K); dfinals: S arrays.
        dx of shape (0, B, I): dL/dx is not wanted, and not computed."""
        T, B = x.shape[0], x.shape[1]
        dgi = np.empty((T, B, weight_ih.shape[0]), dtype=doutput.dtype)
        dgh = np.empty((T, B, weight_hh.shape[0]), dtype=doutput.dtype) if separate_dgh else dgi
        carry = [d.copy() for d in dfinals]  # dL/d(state), carried back in time; [BPTT carry]
        for t in reversed(steps(T, reverse)):
            p, q = prev_next(t, reverse)
            valid = t < lengths
            # dL/d(output) joins h's carry; invalid rows get 0  [BPTT carry], [BPTT lengths]
            dnew = (masked(carry[0] + doutput[t], valid),
                    *(masked(c, valid) for c in carry[1:]))
            dold = tuple(np.empty_like(c) for c in carry)
            step_backward(dgi[t], dgh[t], dold, dnew, gates[t],
                          tuple(s[p] for s in states), tuple(s[q] for s in states),
                          weight_hh, extras, dextras, option)
            for d, c in zip(dold, carry, strict=True):
                keep_invalid_rows(d, c, valid)  # [BPTT lengths]
            carry = list(dold)  # [BPTT carry]
        for d0, c in zip(dinitial, carry, strict=True):
            d0[...] = c  # [BPTT carry]: the carry is now dL/d(initial)
        h_prev = (states[0][1:] if reverse else states[0][:-1]).reshape(T * B, -1)
        weights_backward(dweight_hh, dbias_hh, dextras, dgh.reshape(T * B, -1),
                         gates.reshape(T * B, -1), h_prev, weight_hh, extras, option)
        input_backward(dx, dweight_ih, dbias_ih, dgi, x, weight_ih)  # [BPTT dW_ih]

    def seq_infer(output, finals, gates, x, initial,
                  weight_ih, weight_hh, bias_ih, bias_hh, extras, lengths, reverse, option):
        """``seq_forward`` for inference: the same output and finals, nothing
        kept. gates: (B, C), the steps' scratch; each state lives in two
        (B, w_s) arrays used in turn."""
        T = x.shape[0]
        gi = input_projection(x, weight_ih, bias_ih)  # (T, B, G)
        old = tuple(state0.copy() for state0 in initial)
        new = tuple(np.empty_like(state0) for state0 in initial)
        for t in steps(T, reverse):
            valid = t < lengths
            step_forward(new, gates, gi[t], old, weight_hh, bias_hh, extras, option)
            for n, o in zip(new, old, strict=True):
                keep_invalid_rows(n, o, valid)
            output[t] = masked(new[0], valid)
            old, new = new, old
        for final, state in zip(finals, old, strict=True):
            final[...] = state

    def cell_forward(*args):
        """One step without the loop's bookkeeping (see the module docstring):
        gi = x W_ih^T + b_ih, then the family's step."""
        S = (len(args) - 8) // 2
        new, (gates, x), old = args[:S], args[S : S + 2], args[S + 2 : 2 * S + 2]
        weight_ih, weight_hh, bias_ih, bias_hh, extras, option = args[2 * S + 2 :]
        gi = x @ weight_ih.T + bias_ih  # (B, G)
        step_forward(new, gates, gi, old, weight_hh, bias_hh, extras, option)

    def cell_backward(*args):
        """Mirror of ``cell_forward``: dx, dold written, parameter gradients added."""
        S = (len(args) - 12) // 4
        dx, dold = args[0], args[1 : S + 1]
        dweight_ih, dweight_hh, dbias_ih, dbias_hh, dextras = args[S + 1 : S + 6]
        dnew, (gates, x) = args[S + 6 : 2 * S + 6], args[2 * S + 6 : 2 * S + 8]
        old, new = args[2 * S + 8 : 3 * S + 8], args[3 * S + 8 : 4 * S + 8]
        weight_ih, weight_hh, extras, option = args[4 * S + 8 :]
        dgi = np.empty((x.shape[0], weight_ih.shape[0]), dtype=x.dtype)
        dgh = np.empty((x.shape[0], weight_hh.shape[0]), dtype=x.dtype) if separate_dgh else dgi
        step_backward(dgi, dgh, dold, dnew, gates, old, new, weight_hh, extras, dextras, option)
        weights_backward(dweight_hh, dbias_hh, dextras, dgh, gates, old[0], weight_hh, extras,
                         option)  # [BPTT dW_hh]
        dx[...] = dgi @ weight_ih  # [BPTT dW_ih]
        dweight_ih += dgi.T @ x  # [BPTT dW_ih]
        dbias_ih += dgi.sum(axis=0)  # [BPTT dW_ih]

    return seq_forward, seq_backward, seq_infer, cell_forward, cell_backward


def recurrent_weights_backward(dweight_hh, dbias_hh, dgh, h_prev) -> None:
    """The ``weights_backward`` of families whose recurrent pre-activations are
    h W_hh^T + b_hh: dW_hh += dgh^T h_prev, db_hh += colsum(dgh)."""
    dweight_hh += dgh.T @ h_prev  # [BPTT dW_hh]
    dbias_hh += dgh.sum(axis=0)  # [BPTT dW_hh]
