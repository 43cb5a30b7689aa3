"""Time-loop helpers shared by every family's sequence kernels.

Conventions of a sequence kernel (one layer, one direction):
- x (T, B, I), output (T, B, H); hs (T+1, B, H) holds every state.
- Forward direction: step t reads hs[t] and writes hs[t+1]; hs[0] = h0.
  Reverse direction: step t reads hs[t+1] and writes hs[t]; hs[T] = h0.
- lengths (B,) int64: step t is valid for row b iff t < lengths[b]. On an
  invalid step the row keeps its state and outputs zeros, so a reverse
  sequence starts at the row's last valid step, as with torch's packing.
"""


def steps(T: int, reverse: bool) -> range:
    """Time indices in processing order."""
    return range(T - 1, -1, -1) if reverse else range(T)


def prev_next(t: int, reverse: bool) -> tuple[int, int]:
    """Indices into hs of the state step t reads and the state it writes."""
    return (t + 1, t) if reverse else (t, t + 1)


def final_index(T: int, reverse: bool) -> int:
    """Index into hs of h_n."""
    return 0 if reverse else T


def keep_invalid_rows(state_next, state, valid):
    """Rows past their length carry their state through unchanged."""
    state_next[~valid] = state[~valid]  # backward: the carried gradient, [BPTT lengths]


def input_projection(x, weight_ih, bias_ih):
    """gi (T, B, G) = x W_ih^T + b_ih for every step at once."""
    T, B, I = x.shape
    return (x.reshape(T * B, I) @ weight_ih.T + bias_ih).reshape(T, B, -1)


def input_backward(dx, dweight_ih, dbias_ih, dgi, x, weight_ih):
    """Mirror of ``input_projection``: dx written, dweight_ih, dbias_ih added."""
    T, B, I = x.shape
    dgi2 = dgi.reshape(T * B, -1)
    dx.reshape(T * B, I)[...] = dgi2 @ weight_ih  # [BPTT dW_ih]
    dweight_ih += dgi2.T @ x.reshape(T * B, I)  # [BPTT dW_ih]
    dbias_ih += dgi2.sum(axis=0)  # [BPTT dW_ih]


def previous_states(hs, reverse: bool):
    """(T, B, H): the state each step started from, in time order."""
    return hs[1:] if reverse else hs[:-1]  # h^prev of [BPTT dW_hh]
