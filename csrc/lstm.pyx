"""LSTM cell: the Cython twin of ``bptt._numpy.lstm``. Gates stacked i, f, g, o:

    i = sigma(a_i)   f = sigma(a_f)   g = tanh(a_g)   o = sigma(a_o)
    a = W_ih x + b_ih + W_hh h + b_hh                      (B, 4H)
    c' = f (.) c + i (.) g
    h' = o (.) tanh(c')

The cache is gates (B, 5H) = [i | f | g | o | tanh(c')], all post-activation.
Two levels as in gru.pyx: raw-pointer ``*_work`` functions without the GIL,
memoryview wrappers.
"""

cimport numpy as cnp
from cython cimport floating
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy

from _common cimport (add_colsum, fill_rows, final_index, gemm, hidden_backward_product,
                      hidden_product, hidden_weights_p, hidden_weights_t, input_backward,
                      input_projection, keep_invalid_rows, mask_rows, mask_rows_sum,
                      next_index, prev_index, step_at)
from _fast cimport data, new_array, plain_array, rows_of, step_rows, upstream_fits
from _gates cimport lstm_gates_backward, lstm_gates_forward

cnp.import_array()


cdef void lstm_step_forward_work(
    floating *h_next,               # (B, H) written
    floating *c_next,               # (B, H) written
    floating *gates,                # (B, 5H) written: [i | f | g | o | tanh(c')]
    const floating *gi,             # (B, 4H) x W_ih^T + b_ih
    const floating *h,              # (B, H)
    const floating *c,              # (B, H)
    const floating *weight_hh,      # (4H, H)
    const floating *weight_hh_t,    # (H, 4H) its transpose, or NULL (hidden_product)
    const floating *bias_hh,        # (4H,)
    int B, int H,
) noexcept nogil:
    # h W_hh^T goes straight into gates[:, :4H]; the fused gate pass (C,
    # _gates_t.h) reads each entry once, before it writes the gate in its place:
    #   i, f, g, o = sigma(a_i), sigma(a_f), tanh(a_g), sigma(a_o),
    #                a = gi + gh + b_hh                 [LSTM i, f, g, o]
    #   c' = f c + i g                                  [LSTM c']
    #   h' = o tanh(c')                                 [LSTM h']
    hidden_product(gates, 5 * H, h, weight_hh, weight_hh_t, 0, 4 * H, B, H, 4 * H)
    lstm_gates_forward(h_next, c_next, gates, gi, c, bias_hh, B, H)


cdef void lstm_step_backward_work(
    floating *da,                   # (B, 4H) written, dL/d(pre-activations)
    floating *dh,                   # (B, H) written
    floating *dc,                   # (B, H) written
    const floating *dh_next,        # (B, H)
    const floating *dc_next,        # (B, H), dL/dc' from outside the cell
    const floating *gates,          # (B, 5H) [i | f | g | o | tanh(c')]
    const floating *c,              # (B, H)
    const floating *weight_hh,      # (4H, H)
    const floating *weight_hh_p,    # W_hh as panels, or NULL (hidden_backward_product)
    int B, int H,
) noexcept nogil:
    # The fused gate pass (C, _gates_t.h), d = dh_next:
    #   h' = o tanh(c'):   do = d tanh(c'), dc' = dc_next + d o (1 - tanh(c')^2)
    #   c' = f c + i g:    df = dc' c, di = dc' g, dg = dc' i, dc = dc' f
    #   da = [di i (1 - i) | df f (1 - f) | dg (1 - g^2) | do o (1 - o)]
    lstm_gates_backward(da, dc, dh_next, dc_next, gates, c, B, H)
    # a = gi + h W_hh^T + b_hh
    # [LSTM dh]
    hidden_backward_product(dh, da, 4 * H, weight_hh, weight_hh_p, 0, 4 * H, B, H, 4 * H, 0)


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
    # gi = x W_ih^T + b_ih
    fill_rows(gi, bias_ih, B, 4 * H)
    gemm(c'n', c't', B, 4 * H, I, 1, x, I, weight_ih, I, 1, gi, 4 * H)
    lstm_step_forward_work(h_next, c_next, gates, gi, h, c, weight_hh, NULL, bias_hh, B, H)


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
    lstm_step_backward_work(da, dh, dc, dh_next, dc_next, gates, c, weight_hh, NULL, B, H)
    # h W_hh^T + b_hh   [LSTM dW]
    gemm(c't', c'n', 4 * H, H, B, 1, da, 4 * H, h, H, 1, dweight_hh, H)
    add_colsum(dbias_hh, da, B, 4 * H)
    # gi = x W_ih^T + b_ih
    gemm(c'n', c'n', B, I, 4 * H, 1, da, 4 * H, weight_ih, I, 0, dx, I)
    gemm(c't', c'n', 4 * H, I, B, 1, da, 4 * H, x, I, 1, dweight_ih, I)
    add_colsum(dbias_ih, da, B, 4 * H)


def lstm_step_forward(
    floating[:, ::1] h_next,
    floating[:, ::1] c_next,
    floating[:, ::1] gates,
    const floating[:, ::1] gi,
    const floating[:, ::1] h,
    const floating[:, ::1] c,
    const floating[:, ::1] weight_hh,
    const floating[::1] bias_hh,
):
    """h_next, c_next: (B, H) written. gates: (B, 5H) written.
    gi: (B, 4H) = x W_ih^T + b_ih. h, c: (B, H). weight_hh: (4H, H)."""
    cdef int B = h.shape[0], H = h.shape[1]
    with nogil:
        lstm_step_forward_work(&h_next[0, 0], &c_next[0, 0], &gates[0, 0], &gi[0, 0],
                               &h[0, 0], &c[0, 0], &weight_hh[0, 0], NULL, &bias_hh[0], B, H)


def lstm_step_backward(
    floating[:, ::1] da,
    floating[:, ::1] dh,
    floating[:, ::1] dc,
    const floating[:, ::1] dh_next,
    const floating[:, ::1] dc_next,
    const floating[:, ::1] gates,
    const floating[:, ::1] c,
    const floating[:, ::1] weight_hh,
):
    """Mirror of ``lstm_step_forward``. da: (B, 4H) written. dh, dc: (B, H)
    written. dh_next, dc_next: (B, H)."""
    cdef int B = c.shape[0], H = c.shape[1]
    with nogil:
        lstm_step_backward_work(&da[0, 0], &dh[0, 0], &dc[0, 0], &dh_next[0, 0],
                                &dc_next[0, 0], &gates[0, 0], &c[0, 0], &weight_hh[0, 0], NULL,
                                B, H)


def lstm_cell_forward(
    floating[:, ::1] h_next,
    floating[:, ::1] c_next,
    floating[:, ::1] gates,
    const floating[:, ::1] x,
    const floating[:, ::1] h,
    const floating[:, ::1] c,
    const floating[:, ::1] weight_ih,
    const floating[:, ::1] weight_hh,
    const floating[::1] bias_ih,
    const floating[::1] bias_hh,
):
    """h_next, c_next: (B, H) written. gates: (B, 5H) written. x: (B, I).
    h, c: (B, H). weight_ih: (4H, I). weight_hh: (4H, H). biases: (4H,)."""
    cdef int B = h.shape[0], I = x.shape[1], H = h.shape[1]
    cdef floating *gi = <floating *> malloc(<size_t> B * 4 * H * sizeof(floating))
    if gi == NULL:
        raise MemoryError()
    with nogil:
        lstm_cell_forward_work(&h_next[0, 0], &c_next[0, 0], &gates[0, 0], gi, &x[0, 0],
                               &h[0, 0], &c[0, 0], &weight_ih[0, 0], &weight_hh[0, 0],
                               &bias_ih[0], &bias_hh[0], B, I, H)
        free(gi)


def lstm_cell_backward(
    floating[:, ::1] dx,
    floating[:, ::1] dh,
    floating[:, ::1] dc,
    floating[:, ::1] dweight_ih,
    floating[:, ::1] dweight_hh,
    floating[::1] dbias_ih,
    floating[::1] dbias_hh,
    const floating[:, ::1] dh_next,
    const floating[:, ::1] dc_next,
    const floating[:, ::1] gates,
    const floating[:, ::1] x,
    const floating[:, ::1] h,
    const floating[:, ::1] c,
    const floating[:, ::1] weight_ih,
    const floating[:, ::1] weight_hh,
):
    """Mirror of ``lstm_cell_forward``: writes dx (B, I), dh, dc (B, H), adds
    into the four parameter gradients."""
    cdef int B = h.shape[0], I = x.shape[1], H = h.shape[1]
    cdef floating *da = <floating *> malloc(<size_t> B * 4 * H * sizeof(floating))
    if da == NULL:
        raise MemoryError()
    with nogil:
        lstm_cell_backward_work(&dx[0, 0], &dh[0, 0], &dc[0, 0], &dweight_ih[0, 0],
                                &dweight_hh[0, 0], &dbias_ih[0], &dbias_hh[0], da,
                                &dh_next[0, 0], &dc_next[0, 0], &gates[0, 0], &x[0, 0],
                                &h[0, 0], &c[0, 0], &weight_ih[0, 0], &weight_hh[0, 0], B, I, H)
        free(da)


# ----------------------------------------------------------------------------
# LSTMCell's one-call fast path (conventions in _fast.pxd; as in gru.pyx)
# ----------------------------------------------------------------------------


def lstm_cell_forward_fast(object x, object h, object c, cnp.ndarray weight_ih,
                           cnp.ndarray weight_hh, cnp.ndarray bias_ih, cnp.ndarray bias_hh):
    """``lstm_cell_forward`` for LSTMCell: x (I,), h and c (H,), or x (B, I),
    h and c (B, H). Returns (h_next, c_next shaped like h, gates (B, 5H)), or None."""
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
    """``lstm_cell_backward`` for LSTMCell on what its forward kept; dc_next
    None means zeros. Returns (dx, dh, dc), (B, I) and (B, H), or (I,) and
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


# ----------------------------------------------------------------------------
# sequences: one layer, one direction (conventions in bptt._numpy._seq)
# ----------------------------------------------------------------------------


cdef void lstm_seq_forward_work(
    floating *output,               # (T, B, H) written
    floating *h_n,                  # (B, H) written
    floating *c_n,                  # (B, H) written
    floating *hs,                   # (T+1, B, H) written, every state
    floating *cs,                   # (T+1, B, H) written, every cell state
    floating *gates,                # (T, B, 5H) written
    floating *gi,                   # (T, B, 4H) scratch
    floating *weight_hh_t,          # (H, 4H) scratch
    const floating *x,              # (T, B, I)
    const floating *h0,             # (B, H)
    const floating *c0,             # (B, H)
    const floating *weight_ih,      # (4H, I)
    const floating *weight_hh,      # (4H, H)
    const floating *bias_ih,        # (4H,)
    const floating *bias_hh,        # (4H,)
    const long long *lengths,       # (B,)
    bint reverse,
    int T, int B, int I, int H,
) noexcept nogil:
    cdef Py_ssize_t s, t, p, q
    cdef Py_ssize_t BH = <Py_ssize_t> B * H
    cdef Py_ssize_t first = final_index(T, not reverse), last = final_index(T, reverse)
    cdef const floating *w_t = hidden_weights_t(weight_hh_t, weight_hh, 4 * H, H, B)
    input_projection(gi, x, weight_ih, bias_ih, T * B, I, 4 * H)
    memcpy(hs + first * BH, h0, BH * sizeof(floating))
    memcpy(cs + first * BH, c0, BH * sizeof(floating))
    for s in range(T):
        t = step_at(s, T, reverse)
        p = prev_index(t, reverse)
        q = next_index(t, reverse)
        lstm_step_forward_work(hs + q * BH, cs + q * BH, gates + t * 5 * BH, gi + t * 4 * BH,
                               hs + p * BH, cs + p * BH, weight_hh, w_t, bias_hh, B, H)
        keep_invalid_rows(hs + q * BH, hs + p * BH, lengths, t, B, H)
        keep_invalid_rows(cs + q * BH, cs + p * BH, lengths, t, B, H)
        mask_rows(output + t * BH, hs + q * BH, lengths, t, B, H)
    memcpy(h_n, hs + last * BH, BH * sizeof(floating))
    memcpy(c_n, cs + last * BH, BH * sizeof(floating))


cdef void lstm_seq_backward_work(
    floating *dx,                   # (T, B, I) written
    floating *dh0,                  # (B, H) written
    floating *dc0,                  # (B, H) written
    floating *dweight_ih,           # (4H, I) added into
    floating *dweight_hh,           # (4H, H) added into
    floating *dbias_ih,             # (4H,) added into
    floating *dbias_hh,             # (4H,) added into
    floating *da,                   # (T, B, 4H) scratch
    floating *dh,                   # (B, H) scratch
    floating *dh_prev,              # (B, H) scratch
    floating *dh_next,              # (B, H) scratch
    floating *dc,                   # (B, H) scratch
    floating *dc_prev,              # (B, H) scratch
    floating *dc_next,              # (B, H) scratch
    floating *weight_hh_p,          # (4H, H) scratch
    const floating *doutput,        # (T, B, H)
    const floating *dh_n,           # (B, H)
    const floating *dc_n,           # (B, H)
    const floating *gates,          # (T, B, 5H)
    const floating *hs,             # (T+1, B, H)
    const floating *cs,             # (T+1, B, H)
    const floating *x,              # (T, B, I)
    const floating *weight_ih,      # (4H, I)
    const floating *weight_hh,      # (4H, H)
    const long long *lengths,       # (B,)
    bint reverse,
    int T, int B, int I, int H,
) noexcept nogil:
    cdef Py_ssize_t s, t, p
    cdef Py_ssize_t BH = <Py_ssize_t> B * H
    cdef floating *swap
    cdef const floating *w_p = hidden_weights_p(weight_hh_p, weight_hh, 4 * H, H, B)
    # dh, dc: dL/d(state), carried backwards through time
    memcpy(dh, dh_n, BH * sizeof(floating))
    memcpy(dc, dc_n, BH * sizeof(floating))
    for s in range(T):
        t = step_at(T - 1 - s, T, reverse)
        p = prev_index(t, reverse)
        mask_rows_sum(dh_next, dh, doutput + t * BH, lengths, t, B, H)
        mask_rows(dc_next, dc, lengths, t, B, H)
        lstm_step_backward_work(da + t * 4 * BH, dh_prev, dc_prev, dh_next, dc_next,
                                gates + t * 5 * BH, cs + p * BH, weight_hh, w_p, B, H)
        keep_invalid_rows(dh_prev, dh, lengths, t, B, H)
        keep_invalid_rows(dc_prev, dc, lengths, t, B, H)
        swap = dh
        dh = dh_prev
        dh_prev = swap
        swap = dc
        dc = dc_prev
        dc_prev = swap
    memcpy(dh0, dh, BH * sizeof(floating))
    memcpy(dc0, dc, BH * sizeof(floating))
    # a = gi + h W_hh^T + b_hh, h the previous states: hs[0:T], or hs[1:T+1] reverse   [BPTT dW_hh]
    gemm(c't', c'n', 4 * H, H, T * B, 1, da, 4 * H, hs + prev_index(0, reverse) * BH, H,
         1, dweight_hh, H)
    add_colsum(dbias_hh, da, T * B, 4 * H)
    input_backward(dx, dweight_ih, dbias_ih, da, x, weight_ih, T * B, I, 4 * H)  # [BPTT dW_ih]


def lstm_seq_forward(
    floating[:, :, ::1] output,
    floating[:, ::1] h_n,
    floating[:, ::1] c_n,
    floating[:, :, ::1] hs,
    floating[:, :, ::1] cs,
    floating[:, :, ::1] gates,
    const floating[:, :, ::1] x,
    const floating[:, ::1] h0,
    const floating[:, ::1] c0,
    const floating[:, ::1] weight_ih,
    const floating[:, ::1] weight_hh,
    const floating[::1] bias_ih,
    const floating[::1] bias_hh,
    const long long[::1] lengths,
    bint reverse,
):
    """output: (T, B, H) written.  h_n, c_n: (B, H) written.  hs, cs:
    (T+1, B, H) and gates: (T, B, 5H) written, the cache.  x: (T, B, I).
    h0, c0: (B, H).  lengths: (B,) int64."""
    cdef int T = x.shape[0], B = x.shape[1], I = x.shape[2], H = h0.shape[1]
    # gi (T, B, 4H) and W_hh^T (H, 4H) in one block
    cdef floating *gi = <floating *> malloc(<size_t> (T * B + H) * 4 * H * sizeof(floating))
    if gi == NULL:
        raise MemoryError()
    with nogil:
        lstm_seq_forward_work(&output[0, 0, 0], &h_n[0, 0], &c_n[0, 0], &hs[0, 0, 0],
                              &cs[0, 0, 0], &gates[0, 0, 0], gi, gi + <size_t> T * B * 4 * H,
                              &x[0, 0, 0], &h0[0, 0], &c0[0, 0], &weight_ih[0, 0],
                              &weight_hh[0, 0], &bias_ih[0], &bias_hh[0], &lengths[0],
                              reverse, T, B, I, H)
        free(gi)


def lstm_seq_backward(
    floating[:, :, ::1] dx,
    floating[:, ::1] dh0,
    floating[:, ::1] dc0,
    floating[:, ::1] dweight_ih,
    floating[:, ::1] dweight_hh,
    floating[::1] dbias_ih,
    floating[::1] dbias_hh,
    const floating[:, :, ::1] doutput,
    const floating[:, ::1] dh_n,
    const floating[:, ::1] dc_n,
    const floating[:, :, ::1] gates,
    const floating[:, :, ::1] hs,
    const floating[:, :, ::1] cs,
    const floating[:, :, ::1] x,
    const floating[:, ::1] weight_ih,
    const floating[:, ::1] weight_hh,
    const long long[::1] lengths,
    bint reverse,
):
    """Mirror of ``lstm_seq_forward``: dx (T, B, I), dh0 and dc0 (B, H)
    written, parameter gradients added. doutput: (T, B, H); dh_n, dc_n: (B, H)."""
    cdef int T = x.shape[0], B = x.shape[1], I = x.shape[2], H = dh0.shape[1]
    cdef size_t TG = <size_t> T * B * 4 * H, BH = <size_t> B * H
    # da (T, B, 4H), dh, dh_prev, dh_next, dc, dc_prev, dc_next (B, H) and W_hh's
    # panels in one block
    cdef floating *work = <floating *> malloc((TG + 6 * BH + 4 * <size_t> H * H)
                                              * sizeof(floating))
    if work == NULL:
        raise MemoryError()
    with nogil:
        lstm_seq_backward_work(&dx[0, 0, 0], &dh0[0, 0], &dc0[0, 0], &dweight_ih[0, 0],
                               &dweight_hh[0, 0], &dbias_ih[0], &dbias_hh[0], work,
                               work + TG, work + TG + BH, work + TG + 2 * BH,
                               work + TG + 3 * BH, work + TG + 4 * BH, work + TG + 5 * BH,
                               work + TG + 6 * BH, &doutput[0, 0, 0], &dh_n[0, 0], &dc_n[0, 0], &gates[0, 0, 0],
                               &hs[0, 0, 0], &cs[0, 0, 0], &x[0, 0, 0], &weight_ih[0, 0],
                               &weight_hh[0, 0], &lengths[0], reverse, T, B, I, H)
        free(work)
