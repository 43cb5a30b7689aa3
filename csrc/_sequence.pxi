# The Cython backend's one time loop: the sequence driver of every cell family.
#
# Not a module: each family's .pyx `include`s this file, and gets from it the
# Python entry points `seq_forward` / `seq_backward` and `seq_infer` (at the end
# of this file).
# The include is a compile-time template: Cython and the C compiler see the
# family's step inline in the loop, as if written there (no call through a
# pointer, nothing looked up at run time). Everything the families share lives
# here, once: the input projection GEMM, state slots and direction, lengths
# masking, output masking, finals, the backward carry and its masking, the
# dgi / dgh buffers and the post-loop dx / dW_ih / db_ih GEMMs; and the speed
# devices of _common.pxd (W_hh^T or panels made once per sequence, gemv at B = 1).
#
# Sizes: T steps, B rows, I inputs; S = N_STATES states, state s of width w_s;
# K = w_0, the width of h (the output); H = w_{S-1}, the width of the last
# state (the hidden size of every family so far; K = H except with a
# projection); G = rows of W_ih, Gh = rows of W_hh (W_hh is (Gh, K));
# C = cache entries per row (0: no gate cache). Buffers are raw pointers to
# C-contiguous row-major arrays; `floating` is float or double, one per module
# instantiation. `state`-like arguments are arrays of S pointers, one per state,
# in the family's order (h first).
#
# Conventions (bptt._numpy._sequence): states[s] (T+1, B, w_s); forward, step t
# reads states[s][t] and writes [t+1], [0] = initial; reverse, step t reads
# [t+1] and writes [t], [T] = initial. Step t is valid for row b iff
# t < lengths[b]; an invalid step keeps the row's states and outputs 0 (the
# driver does this: the hooks compute every row).
#
# THE HOOKS. Before the include, a family module defines, under exactly
# these names, an enum and four `cdef inline ... noexcept nogil` functions
# fused over `floating` (from cython); it also calls `cnp.import_array()`
# once, since the entry points below use NumPy's C API:
#
#   cdef enum:
#       N_STATES        S: 1 (h) or 2 (h, c)
#       N_EXTRAS        how many extra parameter arrays the family has (0: none)
#       SEPARATE_DGH    1: dL/d(h W_hh^T + b_hh) differs from dL/d(gi), and gets
#                       its own (T, B, Gh) buffer; 0: it is dL/d(gi), and the
#                       driver passes the dgi buffer as dgh
#
#   void step_forward(floating **state_next, floating *gates, const floating *gi,
#                     floating **state, const floating *weight_hh,
#                     const floating *weight_hh_t, const floating *bias_hh,
#                     floating **extras, floating option, int B, int H, int K)
#       One step after the input projection.
#       state_next  S of (B, w_s), written: the new states (never aliases state)
#       gates       (B, C), written: the step's cache; NULL when C = 0
#       gi          (B, G) = x_t W_ih^T + b_ih; the driver's scratch, not read
#                   again, so the step may cast the const away and write over it
#       state       S of (B, w_s): the states the step reads
#       weight_hh   (Gh, K); weight_hh_t: hidden_weights_t's W_hh^T or panels,
#                   or NULL: pass both to hidden_product
#       bias_hh     (Gh,)
#       extras      N_EXTRAS parameter arrays, shapes as the family documents
#       option      the family's scalar setting (seq_forward's `option`)
#
#   void step_backward(floating *dgi, floating *dgh, floating **dstate,
#                      floating **dstate_next, const floating *gates,
#                      floating **state, floating **state_next,
#                      const floating *weight_hh, const floating *weight_hh_p,
#                      floating **extras, floating **dextras, floating option,
#                      int B, int H, int K)
#       Mirror of step_forward for one step.
#       dgi         (B, G), written: dL/d(gi), kept for the post-loop dx, dW_ih, db_ih
#       dgh         (B, Gh), written: dL/d(h W_hh^T + b_hh), kept for
#                   weights_backward; dgi itself unless SEPARATE_DGH
#       dstate      S of (B, w_s), written (not added into): dL/d(state);
#                   never aliases dstate_next
#       dstate_next S of (B, w_s): dL/d(state_next), already masked, the
#                   output gradient included in dh'
#       gates       (B, C): step_forward's cache; NULL when C = 0
#       state, state_next  S of (B, w_s): what step_forward read and wrote
#       weight_hh   (Gh, K); weight_hh_p: hidden_weights_p's panels, or NULL:
#                   pass both to hidden_backward_product
#       extras      as in step_forward; dextras: their gradients, added into
#                   (for what must be summed step by step)
#
#   void weights_backward(floating *dweight_hh, floating *dbias_hh,
#                         floating **dextras, floating *work, const floating *dgh,
#                         const floating *gates, floating **state,
#                         floating **extras, int N, int H, int K)
#       Once, after the loop, over all N = T B rows at once (time order):
#       dweight_hh (Gh, K), dbias_hh (Gh,), dextras: added into
#       work        weights_backward_scratch(N, H) entries of scratch
#       dgh         (N, Gh): every step's dgh
#       gates       (N, C): every step's cache; NULL when C = 0
#       state       S of (N, w_s): the states each row's step read
#       extras      as in step_forward
#
#   Py_ssize_t weights_backward_scratch(Py_ssize_t N, int H)
#       how many entries weights_backward's `work` needs (0: none)
#
#   bint row_forward(floating *output, floating **state, bint keep,
#                    floating *gates, const floating *gi,
#                    const floating *weight_hh, const floating *bias_hh,
#                    floating **extras, floating option, int n, int H, int K,
#                    bint reverse)
#   bint row_backward(floating *dgi, floating **dcarry, const floating *doutput,
#                     const floating *gates, floating **states,
#                     const floating *weight_hh, floating **extras,
#                     floating **dextras, floating option, int n, int H, int K,
#                     bint reverse)
#       The whole loop of n valid steps of a single row (B = 1), where the
#       family has one faster than the driver's steps, giving the same bits;
#       False (having done nothing) otherwise. row_forward: output (n, K) and,
#       with keep, the state slots (n+1, w_s) each and gates (n, C) written;
#       without keep, state is one slot per state, the initial state in and
#       the final one out, and gates NULL. row_backward: dgi (n, G) written
#       (and dgh, which must be dgi: SEPARATE_DGH = 0), dcarry dL/d(the last
#       states) in and dL/d(the initial ones) out; parameter gradients are
#       still weights_backward's. Families without one include
#       _no_row_loop.pxi.
#
# A family may call its own hooks outside the driver too (the cells' one-call
# fast paths do, with B rows, T = 1 and NULL for what they do not use).

cimport numpy as cnp
from cython cimport floating
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from _common cimport (final_index, hidden_weights_p, hidden_weights_t, input_backward,
                      input_gather, input_projection, input_scatter_backward,
                      input_weights_t, keep_invalid_rows, mask_rows, mask_rows_sum, min_length,
                      next_index, panel_isa, prev_index, step_at, transpose)
from _fast cimport data


cdef inline floating *rows_at(floating *base, Py_ssize_t t, Py_ssize_t size) noexcept nogil:
    # base + t * size: block t of a (T, size) buffer; NULL for an empty one
    # (C = 0), which is passed as NULL and never offset
    return base + t * size if base != NULL else NULL


cdef void seq_forward_work(
    floating *output,               # (T, B, K) written
    floating **finals,              # N_STATES of (B, w_s) written: h_n (, c_n)
    floating **states,              # N_STATES of (T+1, B, w_s) written, the cache
    floating *gates,                # (T, B, C) written, the cache; NULL when C = 0
    floating *gi,                   # (T, B, G) scratch
    floating *weight_hh_t,          # (K, Gh) scratch
    floating *weight_ih_t,          # (I, G) scratch
    const floating *x,              # (T, B, I), or NULL: one-hot x given as ids
    const long long *ids,           # (T, B) x's one-hot columns, or NULL: x given
    floating **initial,             # N_STATES of (B, w_s)
    const floating *weight_ih,      # (G, I)
    const floating *weight_hh,      # (Gh, K)
    const floating *bias_ih,        # (G,)
    const floating *bias_hh,        # (Gh,)
    floating **extras,              # N_EXTRAS arrays
    const long long *lengths,       # (B,)
    bint reverse,
    floating option,
    const int *width,               # (N_STATES,) w_s; width[0] = K
    int T, int B, int I, int H, int G, int Gh, int C,
) noexcept nogil:
    cdef Py_ssize_t s, t, p, q, k
    cdef int K = width[0]
    cdef Py_ssize_t BW[N_STATES]                # B w_s: one (B, w_s) slot of states[s]
    cdef floating *state[N_STATES]              # (B, w_s) each: what step t reads
    cdef floating *state_next[N_STATES]         # (B, w_s) each: what step t writes
    cdef const floating *w_t = hidden_weights_t(weight_hh_t, weight_hh, Gh, K, B, T)
    for k in range(N_STATES):
        BW[k] = <Py_ssize_t> B * width[k]
    # gi = x W_ih^T + b_ih, every step at once; of one-hot x, W_ih's columns
    if ids != NULL:
        transpose(weight_ih_t, weight_ih, G, I)
        input_gather(gi, ids, weight_ih_t, bias_ih, T * B, G)
    else:
        input_projection(gi, x, weight_ih, input_weights_t(weight_ih_t, weight_ih, G, I, T * B),
                         bias_ih, T * B, I, G)
    for k in range(N_STATES):
        memcpy(states[k] + final_index(T, not reverse) * BW[k], initial[k],
               BW[k] * sizeof(floating))
    # the family's one-row loop runs every step where it has one, else the steps
    if not (B == 1 and lengths[0] >= T
            and row_forward(output, states, True, gates, gi, weight_hh, bias_hh, extras,
                            option, T, H, K, reverse)):
        for s in range(T):
            t = step_at(s, T, reverse)
            p = prev_index(t, reverse)
            q = next_index(t, reverse)
            for k in range(N_STATES):
                state[k] = states[k] + p * BW[k]
                state_next[k] = states[k] + q * BW[k]
            step_forward(state_next, rows_at(gates, t, <Py_ssize_t> B * C),
                         gi + t * B * G, state, weight_hh, w_t, bias_hh, extras, option, B, H, K)
            for k in range(N_STATES):
                keep_invalid_rows(state_next[k], state[k], lengths, t, B, width[k])
            mask_rows(output + t * B * K, state_next[0], lengths, t, B, K)
    for k in range(N_STATES):
        memcpy(finals[k], states[k] + final_index(T, reverse) * BW[k], BW[k] * sizeof(floating))



cdef void seq_infer_work(
    floating *output,               # (T, B, K) written
    floating **finals,              # N_STATES of (B, w_s) written: h_n (, c_n)
    floating *gates,                # (B, C) scratch, every step's; NULL when C = 0
    floating *gi,                   # (chunk, B, G) scratch
    floating *weight_hh_t,          # (K, Gh) scratch
    floating *weight_ih_t,          # (I, G) scratch
    floating *slots,                # 2 (B, w_s) per state, scratch
    const floating *x,              # (T, B, I), or NULL: one-hot x given as ids
    const long long *ids,           # (T, B) x's one-hot columns, or NULL: x given
    floating **initial,             # N_STATES of (B, w_s)
    const floating *weight_ih,      # (G, I)
    const floating *weight_hh,      # (Gh, K)
    const floating *bias_ih,        # (G,)
    const floating *bias_hh,        # (Gh,)
    floating **extras,              # N_EXTRAS arrays
    const long long *lengths,       # (B,)
    bint reverse,
    floating option,
    const int *width,               # (N_STATES,) w_s; width[0] = K
    int T, int B, int I, int H, int G, int Gh, int chunk,
) noexcept nogil:
    # seq_forward_work without the cache: the same steps on the same numbers,
    # but each state lives in two (B, w_s) slots used in turn, the gates in
    # one (B, C) block, and the input projection is made `chunk` steps at a
    # time. What a step touches then stays in cache (at batch 32, hidden 128,
    # the training forward streams 8 MB of gates and states per 100 steps).
    # A step valid on every row (t < the shortest length) writes h' straight
    # into output[t], which the next step reads: no copy of h' per step.
    cdef Py_ssize_t s, t, t0, n, first, k
    cdef int K = width[0]
    cdef Py_ssize_t BW[N_STATES]                # B w_s
    cdef floating *state[N_STATES]              # (B, w_s) each: what step t reads
    cdef floating *state_next[N_STATES]         # (B, w_s) each: what step t writes
    cdef floating *h_slots[2]                   # h's two slots; state[0] may be in output
    cdef floating *swap
    cdef long long shortest = min_length(lengths, B)
    cdef const floating *w_t = hidden_weights_t(weight_hh_t, weight_hh, Gh, K, B, T)
    # packed (or, for ids, transposed) once for every chunk; chosen by the
    # whole call's rows, as seq_forward's
    cdef const floating *w_ih_t
    if ids != NULL:
        transpose(weight_ih_t, weight_ih, G, I)
        w_ih_t = weight_ih_t
    else:
        w_ih_t = input_weights_t(weight_ih_t, weight_ih, G, I, <Py_ssize_t> T * B)
    for k in range(N_STATES):
        BW[k] = <Py_ssize_t> B * width[k]
        state[k] = slots
        state_next[k] = slots + BW[k]
        slots += 2 * BW[k]
        memcpy(state[k], initial[k], BW[k] * sizeof(floating))
    h_slots[0] = state[0]
    h_slots[1] = state_next[0]
    first = 0
    while first < T:
        n = min(<Py_ssize_t> chunk, T - first)
        t0 = T - first - n if reverse else first      # the chunk holds times t0 .. t0 + n - 1
        # gi = x W_ih^T + b_ih for the chunk's steps
        if ids != NULL:
            input_gather(gi, ids + t0 * B, w_ih_t, bias_ih, <int> (n * B), G)
        else:
            input_projection(gi, x + t0 * B * I, weight_ih, w_ih_t, bias_ih, <int> (n * B), I,
                             G)
        if B == 1 and shortest >= T and row_forward(output + t0 * K, state, False, NULL, gi,
                                                    weight_hh, bias_hh, extras, option,
                                                    <int> n, H, K, reverse):
            first += n              # the family's one-row loop ran the chunk's steps
            continue
        for s in range(first, first + n):
            t = step_at(s, T, reverse)
            if t < shortest:                    # every row valid: output[t] = h'
                state_next[0] = output + t * B * K
            else:                               # the h slot step t does not read
                state_next[0] = h_slots[1] if state[0] == h_slots[0] else h_slots[0]
            step_forward(state_next, gates, gi + (t - t0) * B * G, state, weight_hh, w_t,
                         bias_hh, extras, option, B, H, K)
            for k in range(N_STATES):
                keep_invalid_rows(state_next[k], state[k], lengths, t, B, width[k])
                swap = state[k]
                state[k] = state_next[k]
                state_next[k] = swap
            if t >= shortest:
                mask_rows(output + t * B * K, state[0], lengths, t, B, K)
        first += n
    for k in range(N_STATES):
        memcpy(finals[k], state[k], BW[k] * sizeof(floating))


cdef void seq_backward_work(
    floating *dx,                   # (T, B, I) written, or NULL: not wanted
    floating **dinitial,            # N_STATES of (B, w_s) written
    floating *dweight_ih,           # (G, I) added into
    floating *dweight_hh,           # (Gh, K) added into
    floating *dbias_ih,             # (G,) added into
    floating *dbias_hh,             # (Gh,) added into
    floating **dextras,             # N_EXTRAS arrays, added into
    floating *dgi,                  # (T, B, G) scratch, dL/d(gi)
    floating *dgh,                  # (T, B, Gh) scratch, dL/d(h W_hh^T + b_hh); dgi itself
                                    # unless SEPARATE_DGH
    floating *dstate_work,          # 3 (B, w_s) per state, scratch
    floating *weight_hh_p,          # (Gh, K) scratch
    floating *dweight_ih_t,         # (I, G) scratch
    floating *work,                 # (weights_backward_scratch(T B, H),) scratch
    const floating *doutput,        # (T, B, K)
    floating **dfinals,             # N_STATES of (B, w_s)
    const floating *gates,          # (T, B, C); NULL when C = 0
    floating **states,              # N_STATES of (T+1, B, w_s)
    const floating *x,              # (T, B, I), or NULL: one-hot x given as ids
    const long long *ids,           # (T, B) x's one-hot columns, or NULL: x given
    const floating *weight_ih,      # (G, I)
    const floating *weight_hh,      # (Gh, K)
    floating **extras,              # N_EXTRAS arrays
    const long long *lengths,       # (B,)
    bint reverse,
    floating option,
    const int *width,               # (N_STATES,) w_s; width[0] = K
    int T, int B, int I, int H, int G, int Gh, int C,
) noexcept nogil:
    cdef Py_ssize_t s, t, p, q, k
    cdef int K = width[0]
    cdef Py_ssize_t BW[N_STATES]                # B w_s
    cdef floating *state[N_STATES]              # (B, w_s) each: what step t read
    cdef floating *state_next[N_STATES]         # (B, w_s) each: what step t wrote
    cdef floating *dcarry[N_STATES]             # (B, w_s) each: dL/d(state), carried back
    cdef floating *dstate[N_STATES]             # (B, w_s) each: what step t's backward writes
    cdef floating *dstate_next[N_STATES]        # (B, w_s) each: dL/d(state_next), masked
    cdef floating *swap
    cdef const floating *w_p = hidden_weights_p(weight_hh_p, weight_hh, Gh, K, B, T)
    for k in range(N_STATES):
        BW[k] = <Py_ssize_t> B * width[k]
        dcarry[k] = dstate_work
        dstate[k] = dstate_work + BW[k]
        dstate_next[k] = dstate_work + 2 * BW[k]
        dstate_work += 3 * BW[k]
        memcpy(dcarry[k], dfinals[k], BW[k] * sizeof(floating))
    # the family's one-row loop runs every step where it has one, else the steps
    if not (B == 1 and lengths[0] >= T
            and row_backward(dgi, dcarry, doutput, gates, states, weight_hh, extras, dextras,
                             option, T, H, K, reverse)):
        for s in range(T):
            t = step_at(T - 1 - s, T, reverse)
            p = prev_index(t, reverse)
            q = next_index(t, reverse)
            for k in range(N_STATES):
                state[k] = states[k] + p * BW[k]
                state_next[k] = states[k] + q * BW[k]
            # forward: output[t] = h' on valid rows, h' carried on invalid ones   [BPTT lengths]
            mask_rows_sum(dstate_next[0], dcarry[0], doutput + t * B * K, lengths, t, B, K)
            for k in range(1, N_STATES):
                mask_rows(dstate_next[k], dcarry[k], lengths, t, B, width[k])
            step_backward(dgi + t * B * G, dgh + t * B * Gh, dstate, dstate_next,
                          rows_at(<floating *> gates, t, <Py_ssize_t> B * C), state, state_next,
                          weight_hh, w_p, extras, dextras, option, B, H, K)
            for k in range(N_STATES):
                keep_invalid_rows(dstate[k], dcarry[k], lengths, t, B, width[k])
                swap = dcarry[k]
                dcarry[k] = dstate[k]
                dstate[k] = swap
    for k in range(N_STATES):
        memcpy(dinitial[k], dcarry[k], BW[k] * sizeof(floating))
    # gi = x W_ih^T + b_ih   [BPTT dW_ih]; ids have no dx
    if ids != NULL:
        input_scatter_backward(dweight_ih, dbias_ih, dweight_ih_t, dgi, ids, T * B, I, G)
    else:
        input_backward(dx, dweight_ih, dbias_ih, dgi, x, weight_ih, T * B, I, G)
    # the state each step read, in time order: states[s][0:T], or [1:T+1] reverse
    for k in range(N_STATES):
        state[k] = states[k] + prev_index(0, reverse) * BW[k]
    weights_backward(dweight_hh, dbias_hh, dextras, work, dgh, gates, state, extras,
                     T * B, H, K)           # [BPTT dW_hh]


# ----------------------------------------------------------------------------
# Python's entry points, the same in every backend's family module. Arrays
# arrive C-contiguous, of one float dtype, validated by the caller (nothing
# here checks them); states, finals, initial values and extras as tuples of
# arrays. Every size is read from the arrays' shapes. Each def dispatches on
# dtype to a fused cdef that collects the raw pointers, allocates the scratch
# in one block and runs the nogil worker above.
# ----------------------------------------------------------------------------


def seq_forward(cnp.ndarray output, tuple finals, tuple states, cnp.ndarray gates,
                cnp.ndarray x, tuple initial, cnp.ndarray weight_ih, cnp.ndarray weight_hh,
                cnp.ndarray bias_ih, cnp.ndarray bias_hh, tuple extras, cnp.ndarray lengths,
                bint reverse, double option):
    """One layer, one direction. output: (T, B, K) written. finals: tuple of
    (B, w_s) written. states: tuple of (T+1, B, w_s) and gates: (T, B, C)
    written, the cache. x: (T, B, I). initial: tuple of (B, w_s).
    weight_ih: (G, I). weight_hh: (Gh, K). bias_ih: (G,). bias_hh: (Gh,).
    extras: tuple of the family's extra parameters. lengths: (B,) int64.
    reverse: process t = T-1 .. 0. option: the family's scalar setting.
    x may instead be (T, B) int64: one-hot inputs, given as their columns."""
    if cnp.PyArray_TYPE(output) == cnp.NPY_FLOAT32:
        seq_forward_arrays(<float *> NULL, output, finals, states, gates, x, initial,
                           weight_ih, weight_hh, bias_ih, bias_hh, extras, lengths, reverse,
                           option)
    else:
        seq_forward_arrays(<double *> NULL, output, finals, states, gates, x, initial,
                           weight_ih, weight_hh, bias_ih, bias_hh, extras, lengths, reverse,
                           option)


cdef object seq_forward_arrays(floating *kind, cnp.ndarray output, tuple finals, tuple states,
                               cnp.ndarray gates, cnp.ndarray x, tuple initial,
                               cnp.ndarray weight_ih, cnp.ndarray weight_hh,
                               cnp.ndarray bias_ih, cnp.ndarray bias_hh, tuple extras,
                               cnp.ndarray lengths, bint reverse, double option):
    cdef int T = cnp.PyArray_DIM(x, 0), B = cnp.PyArray_DIM(x, 1)
    cdef int I = cnp.PyArray_DIM(weight_ih, 1)
    cdef bint by_id = cnp.PyArray_NDIM(x) == 2   # one-hot x as its columns
    cdef int G = cnp.PyArray_DIM(weight_ih, 0), Gh = cnp.PyArray_DIM(weight_hh, 0)
    cdef int C = cnp.PyArray_DIM(gates, 2)
    cdef int width[N_STATES]                    # w_s
    cdef floating *finals_p[N_STATES]
    cdef floating *states_p[N_STATES]
    cdef floating *initial_p[N_STATES]
    cdef floating *extras_p[N_EXTRAS + 1]
    cdef Py_ssize_t k
    for k in range(N_STATES):
        width[k] = cnp.PyArray_DIM(<cnp.ndarray> initial[k], 1)
        finals_p[k] = <floating *> data(finals[k])
        states_p[k] = <floating *> data(states[k])
        initial_p[k] = <floating *> data(initial[k])
    for k in range(N_EXTRAS):
        extras_p[k] = <floating *> data(extras[k])
    cdef int H = width[N_STATES - 1], K = width[0]
    # gi (T, B, G), W_hh^T (K, Gh) and W_ih^T (I, G) in one block
    cdef floating *gi = <floating *> malloc(
        (<size_t> T * B * G + <size_t> K * Gh + <size_t> I * G) * sizeof(floating))
    if gi == NULL:
        raise MemoryError()
    cdef floating *output_p = <floating *> data(output)
    cdef floating *gates_p = <floating *> data(gates) if C > 0 else NULL
    cdef floating *x_p = NULL if by_id else <floating *> data(x)
    cdef long long *ids_p = <long long *> data(x) if by_id else NULL
    cdef floating *weight_ih_p = <floating *> data(weight_ih)
    cdef floating *weight_hh_p = <floating *> data(weight_hh)
    cdef floating *bias_ih_p = <floating *> data(bias_ih)
    cdef floating *bias_hh_p = <floating *> data(bias_hh)
    cdef long long *lengths_p = <long long *> data(lengths)
    with nogil:
        seq_forward_work(output_p, finals_p, states_p, gates_p, gi, gi + <size_t> T * B * G,
                         gi + <size_t> T * B * G + <size_t> K * Gh, x_p, ids_p, initial_p,
                         weight_ih_p, weight_hh_p, bias_ih_p, bias_hh_p, extras_p, lengths_p,
                         reverse, <floating> option, width, T, B, I, H, G, Gh, C)
        free(gi)



# rows of the input projection per chunk of seq_infer: chunk * B * G entries
# (128 K: 512 KB of float32) stay in a core's L2 cache with the step's state
cdef enum:
    INFER_CHUNK_ENTRIES = 131072


def seq_infer(cnp.ndarray output, tuple finals, cnp.ndarray gates, cnp.ndarray x,
              tuple initial, cnp.ndarray weight_ih, cnp.ndarray weight_hh, cnp.ndarray bias_ih,
              cnp.ndarray bias_hh, tuple extras, cnp.ndarray lengths, bint reverse,
              double option):
    """``seq_forward`` for inference: the same output and finals, nothing kept.
    gates: (B, C), the steps' scratch. The other arguments as in seq_forward."""
    if cnp.PyArray_TYPE(output) == cnp.NPY_FLOAT32:
        seq_infer_arrays(<float *> NULL, output, finals, gates, x, initial, weight_ih,
                         weight_hh, bias_ih, bias_hh, extras, lengths, reverse, option)
    else:
        seq_infer_arrays(<double *> NULL, output, finals, gates, x, initial, weight_ih,
                         weight_hh, bias_ih, bias_hh, extras, lengths, reverse, option)


cdef object seq_infer_arrays(floating *kind, cnp.ndarray output, tuple finals,
                             cnp.ndarray gates, cnp.ndarray x, tuple initial,
                             cnp.ndarray weight_ih, cnp.ndarray weight_hh, cnp.ndarray bias_ih,
                             cnp.ndarray bias_hh, tuple extras, cnp.ndarray lengths,
                             bint reverse, double option):
    cdef int T = cnp.PyArray_DIM(x, 0), B = cnp.PyArray_DIM(x, 1)
    cdef int I = cnp.PyArray_DIM(weight_ih, 1)
    cdef bint by_id = cnp.PyArray_NDIM(x) == 2   # one-hot x as its columns
    cdef int G = cnp.PyArray_DIM(weight_ih, 0), Gh = cnp.PyArray_DIM(weight_hh, 0)
    cdef int C = cnp.PyArray_DIM(gates, 1)
    cdef int chunk = max(1, min(T, INFER_CHUNK_ENTRIES // max(1, B * G)))
    cdef int width[N_STATES]                    # w_s
    cdef floating *finals_p[N_STATES]
    cdef floating *initial_p[N_STATES]
    cdef floating *extras_p[N_EXTRAS + 1]
    cdef size_t slots_size = 0                  # 2 (B, w_s) per state
    cdef Py_ssize_t k
    for k in range(N_STATES):
        width[k] = cnp.PyArray_DIM(<cnp.ndarray> initial[k], 1)
        finals_p[k] = <floating *> data(finals[k])
        initial_p[k] = <floating *> data(initial[k])
        slots_size += 2 * <size_t> B * width[k]
    for k in range(N_EXTRAS):
        extras_p[k] = <floating *> data(extras[k])
    cdef int H = width[N_STATES - 1], K = width[0]
    # gi (chunk, B, G), W_hh^T (K, Gh), W_ih^T (I, G) and the state slots in one block
    cdef size_t gi_size = <size_t> chunk * B * G
    cdef floating *gi = <floating *> malloc(
        (gi_size + <size_t> K * Gh + <size_t> I * G + slots_size) * sizeof(floating))
    if gi == NULL:
        raise MemoryError()
    cdef floating *output_p = <floating *> data(output)
    cdef floating *gates_p = <floating *> data(gates) if C > 0 else NULL
    cdef floating *x_p = NULL if by_id else <floating *> data(x)
    cdef long long *ids_p = <long long *> data(x) if by_id else NULL
    cdef floating *weight_ih_p = <floating *> data(weight_ih)
    cdef floating *weight_hh_p = <floating *> data(weight_hh)
    cdef floating *bias_ih_p = <floating *> data(bias_ih)
    cdef floating *bias_hh_p = <floating *> data(bias_hh)
    cdef long long *lengths_p = <long long *> data(lengths)
    with nogil:
        seq_infer_work(output_p, finals_p, gates_p, gi, gi + gi_size,
                       gi + gi_size + <size_t> K * Gh,
                       gi + gi_size + <size_t> K * Gh + <size_t> I * G, x_p, ids_p, initial_p,
                       weight_ih_p, weight_hh_p, bias_ih_p, bias_hh_p, extras_p, lengths_p,
                       reverse, <floating> option, width, T, B, I, H, G, Gh, chunk)
        free(gi)


def seq_backward(cnp.ndarray dx, tuple dinitial, cnp.ndarray dweight_ih,
                 cnp.ndarray dweight_hh, cnp.ndarray dbias_ih, cnp.ndarray dbias_hh,
                 tuple dextras, cnp.ndarray doutput, tuple dfinals, cnp.ndarray gates,
                 tuple states, cnp.ndarray x, cnp.ndarray weight_ih, cnp.ndarray weight_hh,
                 tuple extras, cnp.ndarray lengths, bint reverse, double option):
    """Mirror of ``seq_forward``: dx (T, B, I) and dinitial (tuple of
    (B, w_s)) written; dweight_ih, dweight_hh, dbias_ih, dbias_hh and dextras
    added into. doutput: (T, B, K). dfinals: tuple of (B, w_s). gates, states:
    the forward's cache. dx of shape (0, B, I): dL/dx is not wanted, and not
    computed. x (T, B) int64 (one-hot inputs as their columns) has no dx."""
    if cnp.PyArray_TYPE(doutput) == cnp.NPY_FLOAT32:
        seq_backward_arrays(<float *> NULL, dx, dinitial, dweight_ih, dweight_hh, dbias_ih,
                            dbias_hh, dextras, doutput, dfinals, gates, states, x, weight_ih,
                            weight_hh, extras, lengths, reverse, option)
    else:
        seq_backward_arrays(<double *> NULL, dx, dinitial, dweight_ih, dweight_hh, dbias_ih,
                            dbias_hh, dextras, doutput, dfinals, gates, states, x, weight_ih,
                            weight_hh, extras, lengths, reverse, option)


cdef object seq_backward_arrays(floating *kind, cnp.ndarray dx, tuple dinitial,
                                cnp.ndarray dweight_ih, cnp.ndarray dweight_hh,
                                cnp.ndarray dbias_ih, cnp.ndarray dbias_hh, tuple dextras,
                                cnp.ndarray doutput, tuple dfinals, cnp.ndarray gates,
                                tuple states, cnp.ndarray x, cnp.ndarray weight_ih,
                                cnp.ndarray weight_hh, tuple extras, cnp.ndarray lengths,
                                bint reverse, double option):
    cdef int T = cnp.PyArray_DIM(x, 0), B = cnp.PyArray_DIM(x, 1)
    cdef int I = cnp.PyArray_DIM(weight_ih, 1)
    cdef bint by_id = cnp.PyArray_NDIM(x) == 2   # one-hot x as its columns
    cdef int G = cnp.PyArray_DIM(weight_ih, 0), Gh = cnp.PyArray_DIM(weight_hh, 0)
    cdef int C = cnp.PyArray_DIM(gates, 2)
    cdef int width[N_STATES]                    # w_s
    cdef floating *dinitial_p[N_STATES]
    cdef floating *dfinals_p[N_STATES]
    cdef floating *states_p[N_STATES]
    cdef floating *extras_p[N_EXTRAS + 1]
    cdef floating *dextras_p[N_EXTRAS + 1]
    cdef size_t dstate_size = 0                 # 3 (B, w_s) per state
    cdef Py_ssize_t k
    for k in range(N_STATES):
        width[k] = cnp.PyArray_DIM(<cnp.ndarray> dfinals[k], 1)
        dinitial_p[k] = <floating *> data(dinitial[k])
        dfinals_p[k] = <floating *> data(dfinals[k])
        states_p[k] = <floating *> data(states[k])
        dstate_size += 3 * <size_t> B * width[k]
    for k in range(N_EXTRAS):
        extras_p[k] = <floating *> data(extras[k])
        dextras_p[k] = <floating *> data(dextras[k])
    cdef int H = width[N_STATES - 1], K = width[0]
    cdef size_t TBG = <size_t> T * B * G
    cdef size_t TBGh = <size_t> T * B * Gh if SEPARATE_DGH else 0
    # dgi (T, B, G), dgh (T, B, Gh) if separate, the carried state gradients,
    # W_hh's panels (Gh, K), dW_ih^T (I, G) for ids and weights_backward's
    # scratch, in one block
    cdef size_t IG = <size_t> I * G if by_id else 0
    cdef floating *dgi = <floating *> malloc(
        (TBG + TBGh + dstate_size + <size_t> Gh * K + IG
         + <size_t> weights_backward_scratch(<Py_ssize_t> T * B, H)) * sizeof(floating))
    if dgi == NULL:
        raise MemoryError()
    cdef floating *dgh = dgi + TBG if SEPARATE_DGH else dgi
    cdef floating *dstate_work = dgi + TBG + TBGh
    cdef floating *weight_hh_panels = dstate_work + dstate_size
    cdef floating *dweight_ih_t = weight_hh_panels + <size_t> Gh * K
    cdef floating *work = dweight_ih_t + IG
    # dx with no steps (0, B, I): the caller does not want dL/dx (the first
    # layer on data), and its product is left out
    cdef floating *dx_p = (<floating *> data(dx)
                           if cnp.PyArray_DIM(dx, 0) == T and not by_id else NULL)
    cdef floating *dweight_ih_p = <floating *> data(dweight_ih)
    cdef floating *dweight_hh_p = <floating *> data(dweight_hh)
    cdef floating *dbias_ih_p = <floating *> data(dbias_ih)
    cdef floating *dbias_hh_p = <floating *> data(dbias_hh)
    cdef floating *doutput_p = <floating *> data(doutput)
    cdef floating *gates_p = <floating *> data(gates) if C > 0 else NULL
    cdef floating *x_p = NULL if by_id else <floating *> data(x)
    cdef long long *ids_p = <long long *> data(x) if by_id else NULL
    cdef floating *weight_ih_p = <floating *> data(weight_ih)
    cdef floating *weight_hh_p = <floating *> data(weight_hh)
    cdef long long *lengths_p = <long long *> data(lengths)
    with nogil:
        seq_backward_work(dx_p, dinitial_p, dweight_ih_p, dweight_hh_p, dbias_ih_p, dbias_hh_p,
                          dextras_p, dgi, dgh, dstate_work, weight_hh_panels, dweight_ih_t,
                          work, doutput_p, dfinals_p, gates_p, states_p, x_p, ids_p,
                          weight_ih_p, weight_hh_p,
                          extras_p, lengths_p, reverse, <floating> option, width,
                          T, B, I, H, G, Gh, C)
        free(dgi)


def simd():
    """The instruction set of this module's float32 recurrent-product kernel
    (_panel.h): "avx512", "avx2", or "none" (BLAS runs those products). The
    widest the CPU has, capped by the environment variable BPTT_SIMD, read
    once, on first use."""
    return ("none", "avx2", "avx512")[panel_isa()]
