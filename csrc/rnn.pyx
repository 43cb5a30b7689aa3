"""Elman RNN cell: the Cython twin of ``bptt._numpy.rnn``.

    h' = act(W_ih x + b_ih + W_hh h + b_hh),   act in {tanh, relu, sigmoid}

``activation`` is the integer code shared by every backend (TANH, RELU,
SIGMOID). The cache for backward is h' itself. Two levels as in gru.pyx:
raw-pointer ``*_work`` functions without the GIL, memoryview wrappers.
"""

cimport numpy as cnp
from cython cimport floating
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy

from _common cimport (add_colsum, fill_rows, final_index, gemm, hidden_backward_product,
                      hidden_product, hidden_weights_p, hidden_weights_t, input_backward,
                      input_projection, keep_invalid_rows, mask_rows, mask_rows_sum,
                      next_index, prev_index, step_at)
from _fast cimport data, new_array, step_rows, upstream_fits
from _gates cimport rnn_gates_backward, rnn_gates_forward

cnp.import_array()

# the activation codes; _gates.h has them as VM_TANH, VM_RELU, VM_SIGMOID
TANH, RELU, SIGMOID = 0, 1, 2


cdef void rnn_step_forward_work(
    floating *h_next,               # (B, H) written
    const floating *gi,             # (B, H) x W_ih^T + b_ih
    const floating *h,              # (B, H), must not be h_next
    const floating *weight_hh,      # (H, H)
    const floating *weight_hh_t,    # (H, H) its transpose, or NULL (hidden_product)
    const floating *bias_hh,        # (H,)
    int activation,
    int B, int H,
) noexcept nogil:
    # h W_hh^T goes straight into h_next; the gate pass (C, _gates_t.h)
    # finishes each entry in place: h' = act(gi + h W_hh^T + b_hh)   [RNN h']
    hidden_product(h_next, H, h, weight_hh, weight_hh_t, 0, H, B, H, H)
    rnn_gates_forward(h_next, gi, bias_hh, activation, B, H)


cdef void rnn_step_backward_work(
    floating *da,                   # (B, H) written, dL/d(pre-activation)
    floating *dh,                   # (B, H) written
    const floating *dh_next,        # (B, H)
    const floating *h_next,         # (B, H)
    const floating *weight_hh,      # (H, H)
    const floating *weight_hh_p,    # W_hh as panels, or NULL (hidden_backward_product)
    int activation,
    int B, int H,
) noexcept nogil:
    # h' = act(a): da = dh' act'(a), act'(a) from h' itself (tanh: 1 - h'^2,
    # relu: h' > 0, sigmoid: h' (1 - h')), so pre-activations need not be kept
    rnn_gates_backward(da, dh_next, h_next, activation, <Py_ssize_t> B * H)
    # a = gi + h W_hh^T + b_hh
    hidden_backward_product(dh, da, H, weight_hh, weight_hh_p, 0, H, B, H, H, 0)  # [RNN dh]


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
    # gi = x W_ih^T + b_ih
    fill_rows(gi, bias_ih, B, H)
    gemm(c'n', c't', B, H, I, 1, x, I, weight_ih, I, 1, gi, H)
    rnn_step_forward_work(h_next, gi, h, weight_hh, NULL, bias_hh, activation, B, H)


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
    rnn_step_backward_work(da, dh, dh_next, h_next, weight_hh, NULL, activation, B, H)
    # h W_hh^T + b_hh   [RNN dW]
    gemm(c't', c'n', H, H, B, 1, da, H, h, H, 1, dweight_hh, H)
    add_colsum(dbias_hh, da, B, H)
    # gi = x W_ih^T + b_ih
    gemm(c'n', c'n', B, I, H, 1, da, H, weight_ih, I, 0, dx, I)
    gemm(c't', c'n', H, I, B, 1, da, H, x, I, 1, dweight_ih, I)
    add_colsum(dbias_ih, da, B, H)


def rnn_step_forward(
    floating[:, ::1] h_next,
    const floating[:, ::1] gi,
    const floating[:, ::1] h,
    const floating[:, ::1] weight_hh,
    const floating[::1] bias_hh,
    int activation,
):
    """h_next: (B, H) written (must not be h). gi: (B, H) = x W_ih^T + b_ih.
    h: (B, H). weight_hh: (H, H). bias_hh: (H,)."""
    cdef int B = h.shape[0], H = h.shape[1]
    with nogil:
        rnn_step_forward_work(&h_next[0, 0], &gi[0, 0], &h[0, 0], &weight_hh[0, 0], NULL,
                              &bias_hh[0], activation, B, H)


def rnn_step_backward(
    floating[:, ::1] da,
    floating[:, ::1] dh,
    const floating[:, ::1] dh_next,
    const floating[:, ::1] h_next,
    const floating[:, ::1] weight_hh,
    int activation,
):
    """Mirror of ``rnn_step_forward``. da: (B, H) written, dL/d(pre-activation).
    dh: (B, H) written."""
    cdef int B = h_next.shape[0], H = h_next.shape[1]
    with nogil:
        rnn_step_backward_work(&da[0, 0], &dh[0, 0], &dh_next[0, 0], &h_next[0, 0],
                               &weight_hh[0, 0], NULL, activation, B, H)


def rnn_cell_forward(
    floating[:, ::1] h_next,
    const floating[:, ::1] x,
    const floating[:, ::1] h,
    const floating[:, ::1] weight_ih,
    const floating[:, ::1] weight_hh,
    const floating[::1] bias_ih,
    const floating[::1] bias_hh,
    int activation,
):
    """h_next: (B, H) written. x: (B, I). h: (B, H). weight_ih: (H, I).
    weight_hh: (H, H). bias_ih, bias_hh: (H,)."""
    cdef int B = h.shape[0], I = x.shape[1], H = h.shape[1]
    cdef floating *gi = <floating *> malloc(<size_t> B * H * sizeof(floating))
    if gi == NULL:
        raise MemoryError()
    with nogil:
        rnn_cell_forward_work(&h_next[0, 0], gi, &x[0, 0], &h[0, 0], &weight_ih[0, 0],
                              &weight_hh[0, 0], &bias_ih[0], &bias_hh[0], activation, B, I, H)
        free(gi)


def rnn_cell_backward(
    floating[:, ::1] dx,
    floating[:, ::1] dh,
    floating[:, ::1] dweight_ih,
    floating[:, ::1] dweight_hh,
    floating[::1] dbias_ih,
    floating[::1] dbias_hh,
    const floating[:, ::1] dh_next,
    const floating[:, ::1] h_next,
    const floating[:, ::1] x,
    const floating[:, ::1] h,
    const floating[:, ::1] weight_ih,
    const floating[:, ::1] weight_hh,
    int activation,
):
    """Mirror of ``rnn_cell_forward``: writes dx (B, I), dh (B, H), adds into
    the four parameter gradients."""
    cdef int B = h.shape[0], I = x.shape[1], H = h.shape[1]
    cdef floating *da = <floating *> malloc(<size_t> B * H * sizeof(floating))
    if da == NULL:
        raise MemoryError()
    with nogil:
        rnn_cell_backward_work(&dx[0, 0], &dh[0, 0], &dweight_ih[0, 0], &dweight_hh[0, 0],
                               &dbias_ih[0], &dbias_hh[0], da, &dh_next[0, 0], &h_next[0, 0],
                               &x[0, 0], &h[0, 0], &weight_ih[0, 0], &weight_hh[0, 0],
                               activation, B, I, H)
        free(da)


# ----------------------------------------------------------------------------
# RNNCell's one-call fast path (conventions in _fast.pxd; as in gru.pyx)
# ----------------------------------------------------------------------------


def rnn_cell_forward_fast(object x, object h, cnp.ndarray weight_ih, cnp.ndarray weight_hh,
                          cnp.ndarray bias_ih, cnp.ndarray bias_hh, int activation):
    """``rnn_cell_forward`` for RNNCell: x (I,) and h (H,), or x (B, I) and
    h (B, H). Returns h_next shaped like h, or None."""
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
    """``rnn_cell_backward`` for RNNCell on what its forward kept (h_next is
    its output, B rows). Returns (dx, dh), (B, I) and (B, H), or (I,) and
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


# ----------------------------------------------------------------------------
# sequences: one layer, one direction (conventions in bptt._numpy._seq)
# ----------------------------------------------------------------------------


cdef void rnn_seq_forward_work(
    floating *output,               # (T, B, H) written
    floating *h_n,                  # (B, H) written
    floating *hs,                   # (T+1, B, H) written, every state: the whole cache
    floating *gi,                   # (T, B, H) scratch
    floating *weight_hh_t,          # (H, H) scratch
    const floating *x,              # (T, B, I)
    const floating *h0,             # (B, H)
    const floating *weight_ih,      # (H, I)
    const floating *weight_hh,      # (H, H)
    const floating *bias_ih,        # (H,)
    const floating *bias_hh,        # (H,)
    const long long *lengths,       # (B,)
    bint reverse,
    int activation,
    int T, int B, int I, int H,
) noexcept nogil:
    # hs[p] and hs[q] are distinct slots, as rnn_step_forward_work needs
    cdef Py_ssize_t s, t, p, q
    cdef Py_ssize_t BH = <Py_ssize_t> B * H
    cdef const floating *w_t = hidden_weights_t(weight_hh_t, weight_hh, H, H, B)
    input_projection(gi, x, weight_ih, bias_ih, T * B, I, H)
    memcpy(hs + final_index(T, not reverse) * BH, h0, BH * sizeof(floating))
    for s in range(T):
        t = step_at(s, T, reverse)
        p = prev_index(t, reverse)
        q = next_index(t, reverse)
        rnn_step_forward_work(hs + q * BH, gi + t * BH, hs + p * BH, weight_hh, w_t, bias_hh,
                              activation, B, H)
        keep_invalid_rows(hs + q * BH, hs + p * BH, lengths, t, B, H)
        mask_rows(output + t * BH, hs + q * BH, lengths, t, B, H)
    memcpy(h_n, hs + final_index(T, reverse) * BH, BH * sizeof(floating))


cdef void rnn_seq_backward_work(
    floating *dx,                   # (T, B, I) written
    floating *dh0,                  # (B, H) written
    floating *dweight_ih,           # (H, I) added into
    floating *dweight_hh,           # (H, H) added into
    floating *dbias_ih,             # (H,) added into
    floating *dbias_hh,             # (H,) added into
    floating *da,                   # (T, B, H) scratch
    floating *dh,                   # (B, H) scratch
    floating *dh_prev,              # (B, H) scratch
    floating *dh_next,              # (B, H) scratch
    floating *weight_hh_p,          # (H, H) scratch
    const floating *doutput,        # (T, B, H)
    const floating *dh_n,           # (B, H)
    const floating *hs,             # (T+1, B, H)
    const floating *x,              # (T, B, I)
    const floating *weight_ih,      # (H, I)
    const floating *weight_hh,      # (H, H)
    const long long *lengths,       # (B,)
    bint reverse,
    int activation,
    int T, int B, int I, int H,
) noexcept nogil:
    cdef Py_ssize_t s, t, q
    cdef Py_ssize_t BH = <Py_ssize_t> B * H
    cdef floating *swap
    cdef const floating *w_p = hidden_weights_p(weight_hh_p, weight_hh, H, H, B)
    # dh: dL/d(state), carried backwards through time
    memcpy(dh, dh_n, BH * sizeof(floating))
    for s in range(T):
        t = step_at(T - 1 - s, T, reverse)
        q = next_index(t, reverse)
        mask_rows_sum(dh_next, dh, doutput + t * BH, lengths, t, B, H)
        rnn_step_backward_work(da + t * BH, dh_prev, dh_next, hs + q * BH, weight_hh, w_p,
                               activation, B, H)
        keep_invalid_rows(dh_prev, dh, lengths, t, B, H)
        swap = dh
        dh = dh_prev
        dh_prev = swap
    memcpy(dh0, dh, BH * sizeof(floating))
    # a = gi + h W_hh^T + b_hh, h the previous states: hs[0:T], or hs[1:T+1] reverse   [BPTT dW_hh]
    gemm(c't', c'n', H, H, T * B, 1, da, H, hs + prev_index(0, reverse) * BH, H,
         1, dweight_hh, H)
    add_colsum(dbias_hh, da, T * B, H)
    input_backward(dx, dweight_ih, dbias_ih, da, x, weight_ih, T * B, I, H)  # [BPTT dW_ih]


def rnn_seq_forward(
    floating[:, :, ::1] output,
    floating[:, ::1] h_n,
    floating[:, :, ::1] hs,
    const floating[:, :, ::1] x,
    const floating[:, ::1] h0,
    const floating[:, ::1] weight_ih,
    const floating[:, ::1] weight_hh,
    const floating[::1] bias_ih,
    const floating[::1] bias_hh,
    const long long[::1] lengths,
    bint reverse,
    int activation,
):
    """output: (T, B, H) written.  h_n: (B, H) written.  hs: (T+1, B, H)
    written, the whole cache.  x: (T, B, I).  h0: (B, H).  lengths: (B,)."""
    cdef int T = x.shape[0], B = x.shape[1], I = x.shape[2], H = h0.shape[1]
    # gi (T, B, H) and W_hh^T (H, H) in one block
    cdef floating *gi = <floating *> malloc(<size_t> (T * B + H) * H * sizeof(floating))
    if gi == NULL:
        raise MemoryError()
    with nogil:
        rnn_seq_forward_work(&output[0, 0, 0], &h_n[0, 0], &hs[0, 0, 0], gi,
                             gi + <size_t> T * B * H, &x[0, 0, 0],
                             &h0[0, 0], &weight_ih[0, 0], &weight_hh[0, 0], &bias_ih[0],
                             &bias_hh[0], &lengths[0], reverse, activation, T, B, I, H)
        free(gi)


def rnn_seq_backward(
    floating[:, :, ::1] dx,
    floating[:, ::1] dh0,
    floating[:, ::1] dweight_ih,
    floating[:, ::1] dweight_hh,
    floating[::1] dbias_ih,
    floating[::1] dbias_hh,
    const floating[:, :, ::1] doutput,
    const floating[:, ::1] dh_n,
    const floating[:, :, ::1] hs,
    const floating[:, :, ::1] x,
    const floating[:, ::1] weight_ih,
    const floating[:, ::1] weight_hh,
    const long long[::1] lengths,
    bint reverse,
    int activation,
):
    """Mirror of ``rnn_seq_forward``: dx (T, B, I) and dh0 (B, H) written,
    parameter gradients added. doutput: (T, B, H); dh_n: (B, H)."""
    cdef int T = x.shape[0], B = x.shape[1], I = x.shape[2], H = dh0.shape[1]
    cdef size_t BH = <size_t> B * H
    # da (T, B, H), dh, dh_prev, dh_next (B, H) and W_hh's panels in one block
    cdef floating *work = <floating *> malloc(((T + 3) * BH + <size_t> H * H)
                                              * sizeof(floating))
    if work == NULL:
        raise MemoryError()
    with nogil:
        rnn_seq_backward_work(&dx[0, 0, 0], &dh0[0, 0], &dweight_ih[0, 0], &dweight_hh[0, 0],
                              &dbias_ih[0], &dbias_hh[0], work, work + T * BH,
                              work + (T + 1) * BH, work + (T + 2) * BH, work + (T + 3) * BH,
                              &doutput[0, 0, 0],
                              &dh_n[0, 0], &hs[0, 0, 0], &x[0, 0, 0], &weight_ih[0, 0],
                              &weight_hh[0, 0], &lengths[0], reverse, activation, T, B, I, H)
        free(work)
