"""Elman RNN cell: the Cython twin of ``bptt._numpy.rnn``.

    h' = act(W_ih x + b_ih + W_hh h + b_hh),   act in {tanh, relu, sigmoid}

``activation`` is the integer code shared by every backend
(``bptt._families.ACTIVATIONS``: tanh 0, relu 1, sigmoid 2; _gates.h's
VM_TANH, VM_RELU, VM_SIGMOID); the driver takes it as its ``option``. The
cache for backward is h' itself (gates: C = 0). The family module of the
Cython backend, as gru.pyx: the driver's hooks (step functions,
``weights_backward``), then the shared time loop ``_sequence.pxi``
(``seq_forward`` / ``seq_backward``), then RNNCell's one-call fast path
(``rnn_cell_*_fast``).
"""

cimport numpy as cnp
from cython cimport floating
from libc.stdlib cimport calloc, free, malloc

from _common cimport (hidden_backward_product, hidden_product, hidden_weights_backward,
                      input_backward, input_projection)
from _fast cimport data, new_array, step_rows, upstream_fits
from _gates cimport rnn_gates_backward, rnn_gates_forward

cnp.import_array()


# ----------------------------------------------------------------------------
# the family: G = Gh = H, states (h,), no gates (C = 0), option = activation
# ----------------------------------------------------------------------------


cdef enum:
    N_STATES = 1            # h
    N_EXTRAS = 0
    SEPARATE_DGH = 0        # dL/d(h W_hh^T + b_hh) = dL/d(gi) = da


cdef inline void step_forward(
    floating **state_next,          # (h',): (B, H) written; must not be h
    floating *gates,                # none (C = 0): the cache is h'
    const floating *gi,             # (B, H) x W_ih^T + b_ih
    floating **state,               # (h,): (B, H)
    const floating *weight_hh,      # (H, H)
    const floating *weight_hh_t,    # from hidden_weights_t, or NULL
    const floating *bias_hh,        # (H,)
    floating **extras,              # none
    floating option,                # the activation code
    int B, int H, int K,
) noexcept nogil:
    # h W_hh^T goes straight into h'; the gate pass (C, _gates_t.h)
    # finishes each entry in place: h' = act(gi + h W_hh^T + b_hh)   [RNN h']
    hidden_product(state_next[0], H, state[0], weight_hh, weight_hh_t, 0, H, B, H, H)
    rnn_gates_forward(state_next[0], gi, bias_hh, <int> option, B, H)


cdef inline void step_backward(
    floating *dgi,                  # (B, H) written, da = dL/d(pre-activation)
    floating *dgh,                  # dgi itself (SEPARATE_DGH = 0): unused
    floating **dstate,              # (dh,): (B, H) written
    floating **dstate_next,         # (dh',): (B, H)
    const floating *gates,          # none
    floating **state,               # (h,): unused
    floating **state_next,          # (h',): (B, H)
    const floating *weight_hh,      # (H, H)
    const floating *weight_hh_p,    # from hidden_weights_p, or NULL
    floating **extras,              # none
    floating **dextras,             # none
    floating option,                # the activation code
    int B, int H, int K,
) noexcept nogil:
    # h' = act(a): da = dh' act'(a), act'(a) from h' itself (tanh: 1 - h'^2,
    # relu: h' > 0, sigmoid: h' (1 - h')), so pre-activations need not be kept
    rnn_gates_backward(dgi, dstate_next[0], state_next[0], <int> option, <Py_ssize_t> B * H)
    # a = gi + h W_hh^T + b_hh
    hidden_backward_product(dstate[0], dgi, H, weight_hh, weight_hh_p, 0, H, B, H, H,
                            0)      # [RNN dh]


cdef inline void weights_backward(
    floating *dweight_hh,           # (H, H) added into
    floating *dbias_hh,             # (H,) added into
    floating **dextras,             # none
    floating *work,                 # none
    const floating *dgh,            # (N, H) da
    const floating *gates,          # none
    floating **state,               # (h,): (N, H), the state each row's step read
    floating **extras,              # none
    int N, int H, int K,
) noexcept nogil:
    # a = gi + h W_hh^T + b_hh   [RNN dW]
    hidden_weights_backward(dweight_hh, dbias_hh, dgh, state[0], N, H, H)


cdef inline Py_ssize_t weights_backward_scratch(Py_ssize_t N, int H) noexcept nogil:
    return 0


include "_no_row_loop.pxi"
include "_sequence.pxi"


# ----------------------------------------------------------------------------
# one cell step: the input projection of one step, then the family's step
# ----------------------------------------------------------------------------


cdef void rnn_cell_forward_work(
    floating *h_next,               # (B, H) written
    floating *gi,                   # (B, H) scratch
    const floating *x,              # (B, I)
    const floating *h,              # (B, H)
    const floating *weight_ih,      # (H, I)
    const floating *weight_hh,      # (H, H)
    const floating *bias_ih,        # (H,)
    const floating *bias_hh,        # (H,)
    int activation,
    int B, int I, int H,
) noexcept nogil:
    cdef floating *state = <floating *> h
    input_projection(gi, x, weight_ih, NULL, bias_ih, B, I, H)  # gi = x W_ih^T + b_ih
    step_forward(&h_next, NULL, gi, &state, weight_hh, NULL, bias_hh, NULL, activation, B, H, H)


cdef void rnn_cell_backward_work(
    floating *dx,                   # (B, I) written
    floating *dh,                   # (B, H) written
    floating *dweight_ih,           # (H, I) added into
    floating *dweight_hh,           # (H, H) added into
    floating *dbias_ih,             # (H,) added into
    floating *dbias_hh,             # (H,) added into
    floating *da,                   # (B, H) scratch
    const floating *dh_next,        # (B, H)
    const floating *h_next,         # (B, H)
    const floating *x,              # (B, I)
    const floating *h,              # (B, H)
    const floating *weight_ih,      # (H, I)
    const floating *weight_hh,      # (H, H)
    int activation,
    int B, int I, int H,
) noexcept nogil:
    cdef floating *state = <floating *> h
    cdef floating *state_next = <floating *> h_next
    cdef floating *dstate_next = <floating *> dh_next
    step_backward(da, da, &dh, &dstate_next, NULL, &state, &state_next, weight_hh, NULL, NULL,
                  NULL, activation, B, H, H)
    weights_backward(dweight_hh, dbias_hh, NULL, NULL, da, NULL, &state, NULL, B, H, H)
    # gi = x W_ih^T + b_ih
    input_backward(dx, dweight_ih, dbias_ih, da, x, weight_ih, B, I, H)



# ----------------------------------------------------------------------------
# RNNCell's one-call fast path (conventions in _fast.pxd; as in gru.pyx)
# ----------------------------------------------------------------------------


def rnn_cell_forward_fast(object x, object h, cnp.ndarray weight_ih, cnp.ndarray weight_hh,
                          cnp.ndarray bias_ih, cnp.ndarray bias_hh, int activation):
    """One RNNCell step: x (I,) and h (H,), or x (B, I) and h (B, H);
    weight_ih (H, I), weight_hh (H, H), bias_ih and bias_hh (H,); activation
    the code. Returns h_next shaped like h, or None if an argument is not
    exactly that."""
    cdef int typenum = cnp.PyArray_TYPE(weight_hh)
    cdef Py_ssize_t B = step_rows(x, h, cnp.PyArray_DIM(weight_ih, 1),
                                  cnp.PyArray_DIM(weight_hh, 1), typenum)
    if B < 0:
        return None
    if typenum == cnp.NPY_FLOAT32:
        return forward_fast(<float *> NULL, x, h, weight_ih, weight_hh, bias_ih, bias_hh,
                            activation, B)
    return forward_fast(<double *> NULL, x, h, weight_ih, weight_hh, bias_ih, bias_hh,
                        activation, B)


cdef object forward_fast(floating *kind, object x, object h, cnp.ndarray weight_ih,
                         cnp.ndarray weight_hh, cnp.ndarray bias_ih, cnp.ndarray bias_hh,
                         int activation, Py_ssize_t B):
    cdef int typenum = cnp.PyArray_TYPE(weight_hh)
    cdef int I = cnp.PyArray_DIM(weight_ih, 1), H = cnp.PyArray_DIM(weight_hh, 1)
    cdef cnp.ndarray h_next = new_array(cnp.PyArray_NDIM(<cnp.ndarray> h), B, H, typenum)
    cdef floating *gi = <floating *> malloc(<size_t> B * H * sizeof(floating))
    if gi == NULL:
        raise MemoryError()
    cdef floating *h_next_p = <floating *> data(h_next)
    cdef floating *x_p = <floating *> data(x)
    cdef floating *h_p = <floating *> data(h)
    cdef floating *weight_ih_p = <floating *> data(weight_ih)
    cdef floating *weight_hh_p = <floating *> data(weight_hh)
    cdef floating *bias_ih_p = <floating *> data(bias_ih)
    cdef floating *bias_hh_p = <floating *> data(bias_hh)
    with nogil:
        rnn_cell_forward_work(h_next_p, gi, x_p, h_p, weight_ih_p, weight_hh_p, bias_ih_p,
                              bias_hh_p, activation, B, I, H)
        free(gi)
    return h_next


def rnn_cell_backward_fast(object dh_next, bint batched, cnp.ndarray h_next, cnp.ndarray x,
                           cnp.ndarray h, cnp.ndarray weight_ih, cnp.ndarray weight_hh,
                           cnp.ndarray dweight_ih, cnp.ndarray dweight_hh, object dbias_ih,
                           object dbias_hh, int activation):
    """Mirror of ``rnn_cell_forward_fast`` on what it kept (h_next, its
    output, B rows; the x and h it read): adds into dweight_ih, dweight_hh and
    dbias_ih, dbias_hh (None: no bias). Returns (dx, dh), (B, I) and (B, H), or (I,) and
    (H,) when not batched; or None."""
    cdef int typenum = cnp.PyArray_TYPE(weight_hh)
    cdef Py_ssize_t H = cnp.PyArray_DIM(weight_hh, 1)
    if not upstream_fits(dh_next, cnp.PyArray_SIZE(h_next) // H, H, batched, typenum):
        return None
    cdef int ndim = 2 if batched else 1
    if typenum == cnp.NPY_FLOAT32:
        return backward_fast(<float *> NULL, ndim, dh_next, h_next, x, h, weight_ih, weight_hh,
                             dweight_ih, dweight_hh, dbias_ih, dbias_hh, activation)
    return backward_fast(<double *> NULL, ndim, dh_next, h_next, x, h, weight_ih, weight_hh,
                         dweight_ih, dweight_hh, dbias_ih, dbias_hh, activation)


cdef object backward_fast(floating *kind, int ndim, object dh_next, cnp.ndarray h_next,
                          cnp.ndarray x, cnp.ndarray h, cnp.ndarray weight_ih,
                          cnp.ndarray weight_hh, cnp.ndarray dweight_ih, cnp.ndarray dweight_hh,
                          object dbias_ih, object dbias_hh, int activation):
    cdef int typenum = cnp.PyArray_TYPE(weight_hh)
    cdef int I = cnp.PyArray_DIM(weight_ih, 1), H = cnp.PyArray_DIM(weight_hh, 1)
    cdef int B = cnp.PyArray_SIZE(h_next) // H
    cdef cnp.ndarray dx = new_array(ndim, B, I, typenum)
    cdef cnp.ndarray dh = new_array(ndim, B, H, typenum)
    # da (B, H), and two bias gradients (H,) for a bias-free cell
    cdef floating *work = <floating *> calloc(<size_t> (B + 2) * H, sizeof(floating))
    if work == NULL:
        raise MemoryError()
    cdef floating *dbias_ih_p = work + B * H
    cdef floating *dbias_hh_p = dbias_ih_p + H
    if dbias_ih is not None:
        dbias_ih_p = <floating *> data(dbias_ih)
        dbias_hh_p = <floating *> data(dbias_hh)
    cdef floating *dx_p = <floating *> data(dx)
    cdef floating *dh_p = <floating *> data(dh)
    cdef floating *dweight_ih_p = <floating *> data(dweight_ih)
    cdef floating *dweight_hh_p = <floating *> data(dweight_hh)
    cdef floating *dh_next_p = <floating *> data(dh_next)
    cdef floating *h_next_p = <floating *> data(h_next)
    cdef floating *x_p = <floating *> data(x)
    cdef floating *h_p = <floating *> data(h)
    cdef floating *weight_ih_p = <floating *> data(weight_ih)
    cdef floating *weight_hh_p = <floating *> data(weight_hh)
    with nogil:
        rnn_cell_backward_work(dx_p, dh_p, dweight_ih_p, dweight_hh_p, dbias_ih_p, dbias_hh_p,
                               work, dh_next_p, h_next_p, x_p, h_p, weight_ih_p, weight_hh_p,
                               activation, B, I, H)
        free(work)
    return dx, dh
