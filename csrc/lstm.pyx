"""LSTM cell: the Cython twin of ``bptt._numpy.lstm``. Gates stacked i, f, g, o:

    i = sigma(a_i)   f = sigma(a_f)   g = tanh(a_g)   o = sigma(a_o)
    a = W_ih x + b_ih + W_hh h + b_hh                      (B, 4H)
    c' = f (.) c + i (.) g
    h' = o (.) tanh(c')

The cache is gates (B, 5H) = [i | f | g | o | tanh(c')], all post-activation.
The family module of the Cython backend, as gru.pyx: the driver's hooks (step
functions, ``weights_backward``), then the shared time loop ``_sequence.pxi``
(``seq_forward`` / ``seq_backward``; states (h, c)), then LSTMCell's
one-call fast path (``lstm_cell_*_fast``).
"""

cimport numpy as cnp
from cython cimport floating
from libc.stdlib cimport calloc, free, malloc

from _common cimport (SMALL_PRODUCT, hidden_backward_product, hidden_product,
                      hidden_weights_backward, input_backward, input_projection)
from _fast cimport data, new_array, plain_array, rows_of, step_rows, upstream_fits
from _gates cimport (lstm_gates_backward, lstm_gates_forward, lstm_row_backward,
                     lstm_row_forward)

cnp.import_array()


# ----------------------------------------------------------------------------
# the family: G = Gh = 4H, states (h, c), gates (B, 5H) = [i | f | g | o | tanh(c')]
# ----------------------------------------------------------------------------


cdef enum:
    N_STATES = 2            # h, c
    N_EXTRAS = 0
    SEPARATE_DGH = 0        # dL/d(h W_hh^T + b_hh) = dL/d(gi) = da


cdef inline void step_forward(
    floating **state_next,          # (h', c'): (B, H) each, written
    floating *gates,                # (B, 5H) written: [i | f | g | o | tanh(c')]
    const floating *gi,             # (B, 4H) x W_ih^T + b_ih
    floating **state,               # (h, c): (B, H) each
    const floating *weight_hh,      # (4H, H)
    const floating *weight_hh_t,    # from hidden_weights_t, or NULL
    const floating *bias_hh,        # (4H,)
    floating **extras,              # none
    floating option,                # unused
    int B, int H, int K,
) noexcept nogil:
    # h W_hh^T goes straight into gates[:, :4H]; the fused gate pass (C,
    # _gates_t.h) reads each entry once, before it writes the gate in its place:
    #   i, f, g, o = sigma(a_i), sigma(a_f), tanh(a_g), sigma(a_o),
    #                a = gi + gh + b_hh                 [LSTM i, f, g, o]
    #   c' = f c + i g                                  [LSTM c']
    #   h' = o tanh(c')                                 [LSTM h']
    hidden_product(gates, 5 * H, state[0], weight_hh, weight_hh_t, 0, 4 * H, B, H, 4 * H)
    lstm_gates_forward(state_next[0], state_next[1], gates, gi, state[1], bias_hh, B, H)


cdef inline void step_backward(
    floating *dgi,                  # (B, 4H) written, da = dL/d(pre-activations)
    floating *dgh,                  # dgi itself (SEPARATE_DGH = 0): unused
    floating **dstate,              # (dh, dc): (B, H) each, written
    floating **dstate_next,         # (dh', dc'): (B, H) each, dL/dc' from outside the cell
    const floating *gates,          # (B, 5H) [i | f | g | o | tanh(c')]
    floating **state,               # (h, c): (B, H) each
    floating **state_next,          # (h', c'): unused
    const floating *weight_hh,      # (4H, H)
    const floating *weight_hh_p,    # from hidden_weights_p, or NULL
    floating **extras,              # none
    floating **dextras,             # none
    floating option,                # unused
    int B, int H, int K,
) noexcept nogil:
    # The fused gate pass (C, _gates_t.h), d = dh':
    #   h' = o tanh(c'):   do = d tanh(c'), dc' = dc'_in + d o (1 - tanh(c')^2)
    #   c' = f c + i g:    df = dc' c, di = dc' g, dg = dc' i, dc = dc' f
    #   da = [di i (1 - i) | df f (1 - f) | dg (1 - g^2) | do o (1 - o)]
    lstm_gates_backward(dgi, dstate[1], dstate_next[0], dstate_next[1], gates, state[1], B, H)
    # a = gi + h W_hh^T + b_hh
    # [LSTM dh]
    hidden_backward_product(dstate[0], dgi, 4 * H, weight_hh, weight_hh_p, 0, 4 * H, B, H,
                            4 * H, 0)


cdef inline void weights_backward(
    floating *dweight_hh,           # (4H, H) added into
    floating *dbias_hh,             # (4H,) added into
    floating **dextras,             # none
    floating *work,                 # none
    const floating *dgh,            # (N, 4H) da
    const floating *gates,          # (N, 5H)
    floating **state,               # (h, c): (N, H) each, the states each row's step read
    floating **extras,              # none
    int N, int H, int K,
) noexcept nogil:
    # a = gi + h W_hh^T + b_hh   [LSTM dW]
    hidden_weights_backward(dweight_hh, dbias_hh, dgh, state[0], N, H, 4 * H)


cdef inline Py_ssize_t weights_backward_scratch(Py_ssize_t N, int H) noexcept nogil:
    return 0


cdef inline bint row_loop_fits(int H) noexcept nogil:
    # Hidden sizes whose per-step products are small_gemm's plain loops: there
    # the one-row loop of C (_gates_t.h) does the same operations in the same order
    return 4 * H * H <= SMALL_PRODUCT


cdef inline bint row_forward(
    floating *output,               # (n, K) written
    floating **state,               # (h, c): slots of H, the initial one first (see keep)
    bint keep,                      # slots H apart, (n+1) each; else one slot, in and out
    floating *gates,                # (n, 5H) written; NULL when not keep
    const floating *gi,             # (n, 4H)
    const floating *weight_hh,      # (4H, H)
    const floating *bias_hh,        # (4H,)
    floating **extras,              # none
    floating option,                # unused
    int n, int H, int K, bint reverse,
) noexcept nogil:
    if not row_loop_fits(H):
        return False
    lstm_row_forward(output, state[0], state[1], gates, gi, weight_hh, bias_hh,
                     H if keep else 0, n, H, reverse)
    return True


cdef inline bint row_backward(
    floating *dgi,                  # (n, 4H) written, da
    floating **dcarry,              # (dh, dc): (H,) each, of the last state in, of the first out
    const floating *doutput,        # (n, K)
    const floating *gates,          # (n, 5H)
    floating **states,              # (h, c): (n+1, H) each
    const floating *weight_hh,      # (4H, H)
    floating **extras,              # none
    floating **dextras,             # none
    floating option,                # unused
    int n, int H, int K, bint reverse,
) noexcept nogil:
    # Mirror of row_forward
    if not row_loop_fits(H):
        return False
    lstm_row_backward(dgi, dcarry[0], dcarry[1], doutput, gates, states[1], weight_hh, n, H,
                      reverse)
    return True


include "_sequence.pxi"


# ----------------------------------------------------------------------------
# one cell step: the input projection of one step, then the family's step
# ----------------------------------------------------------------------------


cdef void lstm_cell_forward_work(
    floating *h_next,               # (B, H) written
    floating *c_next,               # (B, H) written
    floating *gates,                # (B, 5H) written
    floating *gi,                   # (B, 4H) scratch
    const floating *x,              # (B, I)
    const floating *h,              # (B, H)
    const floating *c,              # (B, H)
    const floating *weight_ih,      # (4H, I)
    const floating *weight_hh,      # (4H, H)
    const floating *bias_ih,        # (4H,)
    const floating *bias_hh,        # (4H,)
    int B, int I, int H,
) noexcept nogil:
    cdef floating *state[2]
    cdef floating *state_next[2]
    state[0] = <floating *> h
    state[1] = <floating *> c
    state_next[0] = h_next
    state_next[1] = c_next
    input_projection(gi, x, weight_ih, NULL, bias_ih, B, I, 4 * H)  # gi = x W_ih^T + b_ih
    step_forward(state_next, gates, gi, state, weight_hh, NULL, bias_hh, NULL, 0, B, H, H)


cdef void lstm_cell_backward_work(
    floating *dx,                   # (B, I) written
    floating *dh,                   # (B, H) written
    floating *dc,                   # (B, H) written
    floating *dweight_ih,           # (4H, I) added into
    floating *dweight_hh,           # (4H, H) added into
    floating *dbias_ih,             # (4H,) added into
    floating *dbias_hh,             # (4H,) added into
    floating *da,                   # (B, 4H) scratch
    const floating *dh_next,        # (B, H)
    const floating *dc_next,        # (B, H)
    const floating *gates,          # (B, 5H)
    const floating *x,              # (B, I)
    const floating *h,              # (B, H)
    const floating *c,              # (B, H)
    const floating *weight_ih,      # (4H, I)
    const floating *weight_hh,      # (4H, H)
    int B, int I, int H,
) noexcept nogil:
    cdef floating *state[2]
    cdef floating *dstate[2]
    cdef floating *dstate_next[2]
    state[0] = <floating *> h
    state[1] = <floating *> c
    dstate[0] = dh
    dstate[1] = dc
    dstate_next[0] = <floating *> dh_next
    dstate_next[1] = <floating *> dc_next
    step_backward(da, da, dstate, dstate_next, gates, state, NULL, weight_hh, NULL, NULL, NULL,
                  0, B, H, H)
    weights_backward(dweight_hh, dbias_hh, NULL, NULL, da, gates, state, NULL, B, H, H)
    # gi = x W_ih^T + b_ih
    input_backward(dx, dweight_ih, dbias_ih, da, x, weight_ih, B, I, 4 * H)



# ----------------------------------------------------------------------------
# LSTMCell's one-call fast path (conventions in _fast.pxd; as in gru.pyx)
# ----------------------------------------------------------------------------


def lstm_cell_forward_fast(object x, object h, object c, cnp.ndarray weight_ih,
                           cnp.ndarray weight_hh, cnp.ndarray bias_ih, cnp.ndarray bias_hh):
    """One LSTMCell step: x (I,), h and c (H,), or x (B, I), h and c (B, H);
    weight_ih (4H, I), weight_hh (4H, H), bias_ih and bias_hh (4H,). Returns
    (h_next, c_next shaped like h, gates (B, 5H)), or None if an argument is
    not exactly that."""
    cdef int typenum = cnp.PyArray_TYPE(weight_hh)
    cdef Py_ssize_t H = cnp.PyArray_DIM(weight_hh, 1)
    cdef Py_ssize_t B = step_rows(x, h, cnp.PyArray_DIM(weight_ih, 1), H, typenum)
    if B < 0 or not plain_array(c, typenum):
        return None
    if rows_of(c, H, cnp.PyArray_NDIM(<cnp.ndarray> h) == 2) != B:
        return None
    if typenum == cnp.NPY_FLOAT32:
        return forward_fast(<float *> NULL, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh, B)
    return forward_fast(<double *> NULL, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh, B)


cdef object forward_fast(floating *kind, object x, object h, object c, cnp.ndarray weight_ih,
                         cnp.ndarray weight_hh, cnp.ndarray bias_ih, cnp.ndarray bias_hh,
                         Py_ssize_t B):
    cdef int typenum = cnp.PyArray_TYPE(weight_hh)
    cdef int I = cnp.PyArray_DIM(weight_ih, 1), H = cnp.PyArray_DIM(weight_hh, 1)
    cdef int ndim = cnp.PyArray_NDIM(<cnp.ndarray> h)
    cdef cnp.ndarray h_next = new_array(ndim, B, H, typenum)
    cdef cnp.ndarray c_next = new_array(ndim, B, H, typenum)
    cdef cnp.ndarray gates = new_array(2, B, 5 * H, typenum)
    cdef floating *gi = <floating *> malloc(<size_t> B * 4 * H * sizeof(floating))
    if gi == NULL:
        raise MemoryError()
    cdef floating *h_next_p = <floating *> data(h_next)
    cdef floating *c_next_p = <floating *> data(c_next)
    cdef floating *gates_p = <floating *> data(gates)
    cdef floating *x_p = <floating *> data(x)
    cdef floating *h_p = <floating *> data(h)
    cdef floating *c_p = <floating *> data(c)
    cdef floating *weight_ih_p = <floating *> data(weight_ih)
    cdef floating *weight_hh_p = <floating *> data(weight_hh)
    cdef floating *bias_ih_p = <floating *> data(bias_ih)
    cdef floating *bias_hh_p = <floating *> data(bias_hh)
    with nogil:
        lstm_cell_forward_work(h_next_p, c_next_p, gates_p, gi, x_p, h_p, c_p, weight_ih_p,
                               weight_hh_p, bias_ih_p, bias_hh_p, B, I, H)
        free(gi)
    return h_next, c_next, gates


def lstm_cell_backward_fast(object dh_next, object dc_next, bint batched, cnp.ndarray gates,
                            cnp.ndarray x, cnp.ndarray h, cnp.ndarray c, cnp.ndarray weight_ih,
                            cnp.ndarray weight_hh, cnp.ndarray dweight_ih,
                            cnp.ndarray dweight_hh, object dbias_ih, object dbias_hh):
    """Mirror of ``lstm_cell_forward_fast`` on what it kept (gates, and the x,
    h and c it read): adds into dweight_ih, dweight_hh and dbias_ih, dbias_hh
    (None: no bias); dc_next None means zeros. Returns (dx, dh, dc), (B, I) and (B, H), or (I,) and
    (H,) when not batched; or None."""
    cdef int typenum = cnp.PyArray_TYPE(weight_hh)
    cdef Py_ssize_t B = cnp.PyArray_DIM(gates, 0), H = cnp.PyArray_DIM(weight_hh, 1)
    if not upstream_fits(dh_next, B, H, batched, typenum):
        return None
    if dc_next is not None and not upstream_fits(dc_next, B, H, batched, typenum):
        return None
    cdef int ndim = 2 if batched else 1
    if typenum == cnp.NPY_FLOAT32:
        return backward_fast(<float *> NULL, ndim, dh_next, dc_next, gates, x, h, c, weight_ih,
                             weight_hh, dweight_ih, dweight_hh, dbias_ih, dbias_hh)
    return backward_fast(<double *> NULL, ndim, dh_next, dc_next, gates, x, h, c, weight_ih,
                         weight_hh, dweight_ih, dweight_hh, dbias_ih, dbias_hh)


cdef object backward_fast(floating *kind, int ndim, object dh_next, object dc_next,
                          cnp.ndarray gates, cnp.ndarray x, cnp.ndarray h, cnp.ndarray c,
                          cnp.ndarray weight_ih, cnp.ndarray weight_hh, cnp.ndarray dweight_ih,
                          cnp.ndarray dweight_hh, object dbias_ih, object dbias_hh):
    cdef int typenum = cnp.PyArray_TYPE(weight_hh)
    cdef int B = cnp.PyArray_DIM(gates, 0)
    cdef int I = cnp.PyArray_DIM(weight_ih, 1), H = cnp.PyArray_DIM(weight_hh, 1)
    cdef cnp.ndarray dx = new_array(ndim, B, I, typenum)
    cdef cnp.ndarray dh = new_array(ndim, B, H, typenum)
    cdef cnp.ndarray dc = new_array(ndim, B, H, typenum)
    # da (B, 4H), a zero dc_next (B, H), and two bias gradients (4H,) for a bias-free cell
    cdef floating *work = <floating *> calloc(<size_t> B * 5 * H + 8 * H, sizeof(floating))
    if work == NULL:
        raise MemoryError()
    cdef floating *dc_next_p = work + B * 4 * H
    cdef floating *dbias_ih_p = dc_next_p + B * H
    cdef floating *dbias_hh_p = dbias_ih_p + 4 * H
    if dc_next is not None:
        dc_next_p = <floating *> data(dc_next)
    if dbias_ih is not None:
        dbias_ih_p = <floating *> data(dbias_ih)
        dbias_hh_p = <floating *> data(dbias_hh)
    cdef floating *dx_p = <floating *> data(dx)
    cdef floating *dh_p = <floating *> data(dh)
    cdef floating *dc_p = <floating *> data(dc)
    cdef floating *dweight_ih_p = <floating *> data(dweight_ih)
    cdef floating *dweight_hh_p = <floating *> data(dweight_hh)
    cdef floating *dh_next_p = <floating *> data(dh_next)
    cdef floating *gates_p = <floating *> data(gates)
    cdef floating *x_p = <floating *> data(x)
    cdef floating *h_p = <floating *> data(h)
    cdef floating *c_p = <floating *> data(c)
    cdef floating *weight_ih_p = <floating *> data(weight_ih)
    cdef floating *weight_hh_p = <floating *> data(weight_hh)
    with nogil:
        lstm_cell_backward_work(dx_p, dh_p, dc_p, dweight_ih_p, dweight_hh_p, dbias_ih_p,
                                dbias_hh_p, work, dh_next_p, dc_next_p, gates_p, x_p, h_p, c_p,
                                weight_ih_p, weight_hh_p, B, I, H)
        free(work)
    return dx, dh, dc
