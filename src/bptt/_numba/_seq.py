"""Time-loop helpers shared by every family's sequence kernels: Numba twin of
``bptt._numpy._seq``, same conventions:

- x (T, B, I), output (T, B, H); hs (T+1, B, H) holds every state.
- Forward direction: step t reads hs[t] and writes hs[t+1]; hs[0] = h0.
  Reverse direction: step t reads hs[t+1] and writes hs[t]; hs[T] = h0.
- lengths (B,) int64: step t is valid for row b iff t < lengths[b]. On an
  invalid step the row keeps its state and outputs zeros.

A step allocates nothing: the row helpers take the step's t and lengths
instead of a boolean mask, and each step kernel that needs scratch space is a
thin wrapper over a ``_``-prefixed twin that takes it as arguments, so a
sequence kernel allocates its workspaces once per call.
"""

import numpy as np

from ._config import jit
from ._math import add_dbias, add_dweight, project


@jit
def step_at(k, T, reverse):
    """The time index of the k-th step in processing order."""
    return T - 1 - k if reverse else k


@jit
def prev_next(t, reverse):
    """Indices into hs of the state step t reads and the state it writes."""
    if reverse:
        return t + 1, t
    return t, t + 1


@jit
def final_index(T, reverse):
    """Index into hs of h_n."""
    return 0 if reverse else T


@jit
def keep_invalid_rows(state_next, state, t, lengths):
    """Rows past their length carry their state through unchanged.
    state_next, state: (B, H)."""
    B, H = state.shape
    for b in range(B):
        if t >= lengths[b]:
            for j in range(H):
                state_next[b, j] = state[b, j]  # backward: the carried gradient, [BPTT lengths]


@jit
def masked_output(output_t, state_next, t, lengths):
    """output_t (B, H) = state_next on valid rows, 0 on the others."""
    B, H = state_next.shape
    zero = state_next.dtype.type(0)
    for b in range(B):
        valid = t < lengths[b]
        for j in range(H):
            output_t[b, j] = state_next[b, j] if valid else zero


@jit
def masked_sum(dstate_next, dstate, doutput_t, t, lengths):
    """Mirror of ``masked_output``: dstate_next (B, H) = dstate + doutput_t on
    valid rows, 0 on the others."""
    B, H = dstate.shape
    zero = dstate.dtype.type(0)
    # [BPTT carry] on valid rows, [BPTT lengths]
    for b in range(B):
        valid = t < lengths[b]
        for j in range(H):
            dstate_next[b, j] = dstate[b, j] + doutput_t[b, j] if valid else zero


@jit
def masked_copy(dstate_next, dstate, t, lengths):
    """dstate_next (B, H) = dstate on valid rows, 0 on the others."""
    B, H = dstate.shape
    zero = dstate.dtype.type(0)
    # [BPTT carry] for c on valid rows, [BPTT lengths]
    for b in range(B):
        valid = t < lengths[b]
        for j in range(H):
            dstate_next[b, j] = dstate[b, j] if valid else zero


@jit
def input_projection(gi, x, weight_ih, bias_ih):
    """gi (T, B, G) = x W_ih^T + b_ih for every step, one matrix product."""
    T, B, I = x.shape
    project(gi.reshape(T * B, gi.shape[2]), x.reshape(T * B, I), weight_ih, bias_ih)


@jit
def input_backward(dx, dweight_ih, dbias_ih, dgi, x, weight_ih):
    """Mirror of ``input_projection``: dx written, dweight_ih, dbias_ih added.
    dgi: (T, B, G)."""
    T, B, I = x.shape
    dgi2 = dgi.reshape(T * B, dgi.shape[2])
    np.dot(dgi2, weight_ih, dx.reshape(T * B, I))  # [BPTT dW_ih]
    add_dweight(dweight_ih, dgi2, x.reshape(T * B, I))  # [BPTT dW_ih]
    add_dbias(dbias_ih, dgi2)  # [BPTT dW_ih]


@jit
def previous_states(hs, reverse):
    """(T*B, H): the state each step started from, in time order."""
    T = hs.shape[0] - 1
    h_prev = hs[1:] if reverse else hs[:T]
    return h_prev.reshape(T * hs.shape[1], hs.shape[2])  # h^prev of [BPTT dW_hh]
