"""GRU, torch formulation (gates r, z, n): the Cython twin of ``bptt._numpy.gru``.

    r  = sigma(W_ir x + b_ir + W_hr h + b_hr)
    z  = sigma(W_iz x + b_iz + W_hz h + b_hz)
    n  = tanh(W_in x + b_in + r (.) (W_hn h + b_hn))
    h' = (1 - z) (.) n + z (.) h

The family module of the Cython backend: the driver's hooks (``step_forward``
/ ``step_backward``, ``weights_backward``) below, then the one time loop of
every family, ``_sequence.pxi``, which gives ``seq_forward`` /
``seq_backward``; last, GRUCell's one-call fast path (``gru_cell_*_fast``).
The seed formulation is ``bptt._cython.gru_seed``.

Backward writes dx, dh and adds (+=) into every parameter gradient.
Inputs arrive C-contiguous and validated; nothing here checks them.
"""

cimport numpy as cnp
from cython cimport floating
from libc.stdlib cimport calloc, free, malloc

from _common cimport (hidden_backward_product, hidden_product, hidden_weights_backward,
                      input_backward, input_projection)
from _fast cimport data, new_array, step_rows, upstream_fits
from _gates cimport gru_gates_backward, gru_gates_forward

cnp.import_array()


# ----------------------------------------------------------------------------
# the family: G = Gh = 3H, states (h,), gates (B, 4H) = [r | z | n | hn]
# ----------------------------------------------------------------------------


cdef enum:
    N_STATES = 1            # h
    N_EXTRAS = 0
    SEPARATE_DGH = 1        # dgh_n = da_n r, dgi_n = da_n


cdef inline void step_forward(
    floating **state_next,          # (h',): (B, H) written
    floating *gates,                # (B, 4H) written: [r | z | n | hn]
    const floating *gi,             # (B, 3H) x W_ih^T + b_ih
    floating **state,               # (h,): (B, H)
    const floating *weight_hh,      # (3H, H)
    const floating *weight_hh_t,    # from hidden_weights_t, or NULL
    const floating *bias_hh,        # (3H,)
    floating **extras,              # none
    floating option,                # unused
    int B, int H, int K,
) noexcept nogil:
    # h W_hh^T goes straight into gates[:, :3H]: the fused gate pass (C,
    # _gates_t.h) reads each entry once, before it writes the gate in its place:
    #   r  = sigma(gi_r + (gh_r + b_hr))            [torch-GRU r]
    #   z  = sigma(gi_z + (gh_z + b_hz))            [torch-GRU z]
    #   hn = gh_n + b_hn
    #   n  = tanh(gi_n + r hn)                      [torch-GRU n]
    #   h' = (1 - z) n + z h                        [torch-GRU h']
    hidden_product(gates, 4 * H, state[0], weight_hh, weight_hh_t, 0, 3 * H, B, H, 3 * H)
    gru_gates_forward(state_next[0], gates, gi, state[0], bias_hh, B, H)


cdef inline void step_backward(
    floating *dgi,                  # (B, 3H) written, dL/d(gi)
    floating *dgh,                  # (B, 3H) written, dL/d(h W_hh^T + b_hh)
    floating **dstate,              # (dh,): (B, H) written
    floating **dstate_next,         # (dh',): (B, H)
    const floating *gates,          # (B, 4H) [r | z | n | hn]
    floating **state,               # (h,): (B, H)
    floating **state_next,          # (h',): unused
    const floating *weight_hh,      # (3H, H)
    const floating *weight_hh_p,    # from hidden_weights_p, or NULL
    floating **extras,              # none
    floating **dextras,             # none
    floating option,                # unused
    int B, int H, int K,
) noexcept nogil:
    # The fused gate pass (C, _gates_t.h), d = dh':
    #   h' = (1 - z) n + z h:   dn = d (1 - z), dz = d (h - n), dh = d z (direct path)
    #   n = tanh(a_n), a_n = gi_n + r hn:   dan = dn (1 - n^2), dr = dan hn, dhn = dan r
    #   r, z = sigma(a_r), sigma(a_z):   dar = dr r (1 - r), daz = dz z (1 - z)
    #   dgi = [dar | daz | dan], dgh = [dar | daz | dhn]
    gru_gates_backward(dgi, dgh, dstate[0], dstate_next[0], gates, state[0], B, H)
    # dh += dgh W_hh
    # [torch-GRU dh]: the direct path (from the gate pass) + dgh W_hh
    hidden_backward_product(dstate[0], dgh, 3 * H, weight_hh, weight_hh_p, 0, 3 * H, B, H,
                            3 * H, 1)


cdef inline void weights_backward(
    floating *dweight_hh,           # (3H, H) added into
    floating *dbias_hh,             # (3H,) added into
    floating **dextras,             # none
    floating *work,                 # none
    const floating *dgh,            # (N, 3H)
    const floating *gates,          # (N, 4H)
    floating **state,               # (h,): (N, H), the state each row's step read
    floating **extras,              # none
    int N, int H, int K,
) noexcept nogil:
    # gh = h W_hh^T + b_hh   [torch-GRU dW]
    hidden_weights_backward(dweight_hh, dbias_hh, dgh, state[0], N, H, 3 * H)


cdef inline Py_ssize_t weights_backward_scratch(Py_ssize_t N, int H) noexcept nogil:
    return 0


include "_no_row_loop.pxi"
include "_sequence.pxi"


# ----------------------------------------------------------------------------
# one cell step: the input projection of one step, then the family's step
# ----------------------------------------------------------------------------


cdef void gru_cell_forward_work(
    floating *h_next,               # (B, H) written
    floating *gates,                # (B, 4H) written
    floating *gi,                   # (B, 3H) scratch
    const floating *x,              # (B, I)
    const floating *h,              # (B, H)
    const floating *weight_ih,      # (3H, I)
    const floating *weight_hh,      # (3H, H)
    const floating *bias_ih,        # (3H,)
    const floating *bias_hh,        # (3H,)
    int B, int I, int H,
) noexcept nogil:
    cdef floating *state = <floating *> h
    input_projection(gi, x, weight_ih, NULL, bias_ih, B, I, 3 * H)  # gi = x W_ih^T + b_ih
    step_forward(&h_next, gates, gi, &state, weight_hh, NULL, bias_hh, NULL, 0, B, H, H)


cdef void gru_cell_backward_work(
    floating *dx,                   # (B, I) written
    floating *dh,                   # (B, H) written
    floating *dweight_ih,           # (3H, I) added into
    floating *dweight_hh,           # (3H, H) added into
    floating *dbias_ih,             # (3H,) added into
    floating *dbias_hh,             # (3H,) added into
    floating *dgi,                  # (B, 3H) scratch
    floating *dgh,                  # (B, 3H) scratch
    const floating *dh_next,        # (B, H)
    const floating *gates,          # (B, 4H)
    const floating *x,              # (B, I)
    const floating *h,              # (B, H)
    const floating *weight_ih,      # (3H, I)
    const floating *weight_hh,      # (3H, H)
    int B, int I, int H,
) noexcept nogil:
    cdef floating *state = <floating *> h
    cdef floating *dstate_next = <floating *> dh_next
    step_backward(dgi, dgh, &dh, &dstate_next, gates, &state, NULL, weight_hh, NULL, NULL, NULL,
                  0, B, H, H)
    weights_backward(dweight_hh, dbias_hh, NULL, NULL, dgh, gates, &state, NULL, B, H, H)
    # gi = x W_ih^T + b_ih
    input_backward(dx, dweight_ih, dbias_ih, dgi, x, weight_ih, B, I, 3 * H)


# ----------------------------------------------------------------------------
# GRUCell's one-call fast path (conventions in _fast.pxd). The def checks its
# arguments and dispatches on dtype; the fused cdef below it allocates the
# outputs and scratch and runs the *_work function above without the GIL.
# dbias None: the cell has no bias (scratch, dropped).
# ----------------------------------------------------------------------------


def gru_cell_forward_fast(object x, object h, cnp.ndarray weight_ih, cnp.ndarray weight_hh,
                          cnp.ndarray bias_ih, cnp.ndarray bias_hh):
    """One GRUCell step: x (I,) and h (H,), or x (B, I) and h (B, H);
    weight_ih (3H, I), weight_hh (3H, H), bias_ih and bias_hh (3H,). Returns
    (h_next shaped like h, gates (B, 4H)), or None if an argument is not
    exactly that."""
    cdef int typenum = cnp.PyArray_TYPE(weight_hh)
    cdef Py_ssize_t B = step_rows(x, h, cnp.PyArray_DIM(weight_ih, 1),
                                  cnp.PyArray_DIM(weight_hh, 1), typenum)
    if B < 0:
        return None
    if typenum == cnp.NPY_FLOAT32:
        return torch_forward_fast(<float *> NULL, x, h, weight_ih, weight_hh, bias_ih, bias_hh, B)
    return torch_forward_fast(<double *> NULL, x, h, weight_ih, weight_hh, bias_ih, bias_hh, B)


cdef object torch_forward_fast(floating *kind, object x, object h, cnp.ndarray weight_ih,
                               cnp.ndarray weight_hh, cnp.ndarray bias_ih, cnp.ndarray bias_hh,
                               Py_ssize_t B):
    cdef int typenum = cnp.PyArray_TYPE(weight_hh)
    cdef int I = cnp.PyArray_DIM(weight_ih, 1), H = cnp.PyArray_DIM(weight_hh, 1)
    cdef cnp.ndarray h_next = new_array(cnp.PyArray_NDIM(<cnp.ndarray> h), B, H, typenum)
    cdef cnp.ndarray gates = new_array(2, B, 4 * H, typenum)
    cdef floating *gi = <floating *> malloc(<size_t> B * 3 * H * sizeof(floating))
    if gi == NULL:
        raise MemoryError()
    cdef floating *h_next_p = <floating *> data(h_next)
    cdef floating *gates_p = <floating *> data(gates)
    cdef floating *x_p = <floating *> data(x)
    cdef floating *h_p = <floating *> data(h)
    cdef floating *weight_ih_p = <floating *> data(weight_ih)
    cdef floating *weight_hh_p = <floating *> data(weight_hh)
    cdef floating *bias_ih_p = <floating *> data(bias_ih)
    cdef floating *bias_hh_p = <floating *> data(bias_hh)
    with nogil:
        gru_cell_forward_work(h_next_p, gates_p, gi, x_p, h_p, weight_ih_p, weight_hh_p, bias_ih_p,
                              bias_hh_p, B, I, H)
        free(gi)
    return h_next, gates


def gru_cell_backward_fast(object dh_next, bint batched, cnp.ndarray gates, cnp.ndarray x,
                           cnp.ndarray h, cnp.ndarray weight_ih, cnp.ndarray weight_hh,
                           cnp.ndarray dweight_ih, cnp.ndarray dweight_hh, object dbias_ih,
                           object dbias_hh):
    """Mirror of ``gru_cell_forward_fast`` on what it kept (gates, and the x
    and h it read): adds into dweight_ih, dweight_hh and dbias_ih,
    dbias_hh (None: no bias). dh_next: (B, H), or (H,) or (1, H) when not
    batched. Returns (dx, dh), (B, I) and (B, H), or (I,) and (H,) when not
    batched; or None."""
    cdef int typenum = cnp.PyArray_TYPE(weight_hh)
    if not upstream_fits(dh_next, cnp.PyArray_DIM(gates, 0), cnp.PyArray_DIM(weight_hh, 1),
                         batched, typenum):
        return None
    cdef int ndim = 2 if batched else 1
    if typenum == cnp.NPY_FLOAT32:
        return torch_backward_fast(<float *> NULL, ndim, dh_next, gates, x, h, weight_ih,
                                   weight_hh, dweight_ih, dweight_hh, dbias_ih, dbias_hh)
    return torch_backward_fast(<double *> NULL, ndim, dh_next, gates, x, h, weight_ih,
                               weight_hh, dweight_ih, dweight_hh, dbias_ih, dbias_hh)


cdef object torch_backward_fast(floating *kind, int ndim, object dh_next, cnp.ndarray gates,
                                cnp.ndarray x, cnp.ndarray h, cnp.ndarray weight_ih,
                                cnp.ndarray weight_hh, cnp.ndarray dweight_ih,
                                cnp.ndarray dweight_hh, object dbias_ih, object dbias_hh):
    cdef int typenum = cnp.PyArray_TYPE(weight_hh)
    cdef int B = cnp.PyArray_DIM(gates, 0)
    cdef int I = cnp.PyArray_DIM(weight_ih, 1), H = cnp.PyArray_DIM(weight_hh, 1)
    cdef cnp.ndarray dx = new_array(ndim, B, I, typenum)
    cdef cnp.ndarray dh = new_array(ndim, B, H, typenum)
    # dgi, dgh (B, 3H), and two bias gradients (3H,) for a bias-free cell
    cdef floating *work = <floating *> calloc(<size_t> (2 * B + 2) * 3 * H, sizeof(floating))
    if work == NULL:
        raise MemoryError()
    cdef floating *db_ih = work + 2 * B * 3 * H
    cdef floating *db_hh = db_ih + 3 * H
    if dbias_ih is not None:
        db_ih = <floating *> data(dbias_ih)
        db_hh = <floating *> data(dbias_hh)
    cdef floating *dx_p = <floating *> data(dx)
    cdef floating *dh_p = <floating *> data(dh)
    cdef floating *dweight_ih_p = <floating *> data(dweight_ih)
    cdef floating *dweight_hh_p = <floating *> data(dweight_hh)
    cdef floating *dh_next_p = <floating *> data(dh_next)
    cdef floating *gates_p = <floating *> data(gates)
    cdef floating *x_p = <floating *> data(x)
    cdef floating *h_p = <floating *> data(h)
    cdef floating *weight_ih_p = <floating *> data(weight_ih)
    cdef floating *weight_hh_p = <floating *> data(weight_hh)
    with nogil:
        gru_cell_backward_work(dx_p, dh_p, dweight_ih_p, dweight_hh_p, db_ih, db_hh, work,
                               work + B * 3 * H, dh_next_p, gates_p, x_p, h_p, weight_ih_p,
                               weight_hh_p, B, I, H)
        free(work)
    return dx, dh
