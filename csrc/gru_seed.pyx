"""GRU, seed formulation (gates r, z, h~; reset before the product): the
Cython twin of ``bptt._numpy.gru_seed``.

    r  = sigma(x W_rx^T + b_ir + h W_rh^T + b_hr)
    z  = sigma(x W_zx^T + b_iz + h W_zh^T + b_hz)
    h~ = tanh(x W_x^T + b_ih~ + (r (.) h) W_h^T + b_hh~)
    h' = (1 - z) h + z h~

The family module of the Cython backend, as ``bptt._cython.gru`` is for the
torch formulation: the driver's hooks (step functions, ``weights_backward``),
then the shared time loop ``_sequence.pxi`` (``seq_forward`` /
``seq_backward``), then GRU_Cell's one-call fast path
(``gru_seed_cell_*_fast``). Both biases are kept apart: b_ih goes into the
input projection, b_hh is added inside the step, and each gets colsum(dgi)
(every seed bias is additive). GRU_Cell has one bias: its fast path passes it
as b_ih with a zero b_hh.

Backward writes dx, dh and adds (+=) into every parameter gradient.
Inputs arrive C-contiguous and validated; nothing here checks them.
"""

cimport numpy as cnp
from cython cimport floating
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memset

from _common cimport (add_weight_gradient, hidden_backward_product,
                      hidden_product, input_backward, input_projection)
from _fast cimport data, new_array, step_rows, upstream_fits
from _gates cimport (gru_seed_gates_backward_r, gru_seed_gates_backward_zh,
                     gru_seed_gates_forward_h, gru_seed_gates_forward_rz)

cnp.import_array()


# ----------------------------------------------------------------------------
# the family: G = Gh = 3H, states (h,), gates (B, 3H) = [r | z | h~]
# ----------------------------------------------------------------------------


cdef enum:
    N_STATES = 1            # h
    N_EXTRAS = 0
    SEPARATE_DGH = 0        # dL/d(recurrent pre-activations) = dgi


cdef inline void step_forward(
    floating **state_next,          # (h',): (B, H) written; must not be h
    floating *gates,                # (B, 3H) written: [r | z | h~]
    const floating *gi,             # (B, 3H) x W_ih^T + b_ih
    floating **state,               # (h,): (B, H)
    const floating *weight_hh,      # (3H, H) rows [W_rh; W_zh; W_h]
    const floating *weight_hh_t,    # from hidden_weights_t, or NULL
    const floating *bias_hh,        # (3H,) [b_hr; b_hz; b_hh~]
    floating **extras,              # none
    floating option,                # unused
    int B, int H, int K,
) noexcept nogil:
    # Two loops, not one: W_h (r (.) h) needs all of r before h~ can start.
    # h' holds r (.) h between the loops (so it must not alias h).
    # h [W_rh; W_zh]^T goes straight into gates[:, :2H], read before overwritten:
    #   r = sigma(gi_r + (gh_r + b_hr)), z = sigma(gi_z + (gh_z + b_hz))   [seed-GRU r, z]
    # and r (.) h is parked in h' until h' replaces it
    cdef floating *h_next = state_next[0]
    hidden_product(gates, 3 * H, state[0], weight_hh, weight_hh_t, 0, 2 * H, B, H, 3 * H)
    gru_seed_gates_forward_rz(h_next, gates, gi, state[0], bias_hh, B, H)
    # (r (.) h) W_h^T goes into gates[:, 2H:]:
    #   h~ = tanh(gi_h + ((r h) W_h^T + b_hh~))    [seed-GRU h~]
    #   h' = (1 - z) h + z h~                      [seed-GRU h']
    hidden_product(gates + 2 * H, 3 * H, h_next, weight_hh, weight_hh_t, 2 * H, H, B, H, 3 * H)
    gru_seed_gates_forward_h(h_next, gates, gi, state[0], bias_hh, B, H)


cdef inline void step_backward(
    floating *dgi,                  # (B, 3H) written, dL/d(gi) = dL/d(recurrent pre-activations)
    floating *dgh,                  # dgi itself (SEPARATE_DGH = 0): unused
    floating **dstate,              # (dh,): (B, H) written; must not be dh'
    floating **dstate_next,         # (dh',): (B, H)
    const floating *gates,          # (B, 3H) [r | z | h~]
    floating **state,               # (h,): (B, H)
    floating **state_next,          # (h',): unused
    const floating *weight_hh,      # (3H, H)
    const floating *weight_hh_p,    # from hidden_weights_p, or NULL
    floating **extras,              # none
    floating **dextras,             # none
    floating option,                # unused
    int B, int H, int K,
) noexcept nogil:
    # The forward's two loops, in reverse; dh holds drh = dL/d(r h) between
    # them. dweight_hh is left to weights_backward (one product per sequence).
    # h' = (1 - z) h + z h~, h~ = tanh(a_h), z = sigma(a_z), d = dh':
    #   dah = d z (1 - h~^2), daz = d (h~ - h) z (1 - z)
    cdef floating *dh = dstate[0]
    cdef const floating *dh_next = dstate_next[0]
    gru_seed_gates_backward_zh(dgi, dh_next, gates, state[0], B, H)
    # drh = dah W_h
    hidden_backward_product(dh, dgi + 2 * H, 3 * H, weight_hh, weight_hh_p, 2 * H, H, B, H,
                            3 * H, 0)       # [seed-GRU drh]
    # r (.) h, r = sigma(a_r):   dar = drh h r (1 - r)
    # dh = d (1 - z) + drh r: the direct path of h', then the one through r (.) h
    gru_seed_gates_backward_r(dgi, dh, dh_next, gates, state[0], B, H)
    # a_r, a_z = gi + h [W_rh; W_zh]^T + b: dh += [dar | daz] [W_rh; W_zh]
    # [seed-GRU dh], adding path 3
    hidden_backward_product(dh, dgi, 3 * H, weight_hh, weight_hh_p, 0, 2 * H, B, H, 3 * H, 1)


cdef inline void weights_backward(
    floating *dweight_hh,           # (3H, H) added into
    floating *dbias_hh,             # (3H,) added into
    floating **dextras,             # none
    floating *work,                 # (N, H) scratch: r (.) h
    const floating *dgh,            # (N, 3H), = dgi
    const floating *gates,          # (N, 3H) [r | z | h~]
    floating **state,               # (h,): (N, H), the state each row's step read
    floating **extras,              # none
    int N, int H, int K,
) noexcept nogil:
    # [seed-GRU dW]; b_hh is added where b_ih is: db_hh += colsum(dgi), made
    # by the two products
    gru_seed_dweight_hh_work(dweight_hh, dbias_hh, work, dgh, gates, state[0], N, H)


cdef inline Py_ssize_t weights_backward_scratch(Py_ssize_t N, int H) noexcept nogil:
    return N * H                    # r (.) h, (N, H)


cdef void gru_seed_dweight_hh_work(
    floating *dweight_hh,           # (3H, H) added into
    floating *dbias_hh,             # (3H,) added into: colsum(dgi); NULL: not wanted
    floating *rh,                   # (N, H) scratch
    const floating *dgi,            # (N, 3H) from step_backward
    const floating *gates,          # (N, 3H) [r | z | h~]
    const floating *h,              # (N, H), the state each row's step started from
    int N, int H,
) noexcept nogil:
    # W_rh and W_zh multiply h, W_h multiplies r (.) h
    cdef Py_ssize_t n, j
    add_weight_gradient(dweight_hh, H, dbias_hh, dgi, 3 * H, h, H, N, 2 * H, H)
    for n in range(N):
        for j in range(H):
            rh[n * H + j] = gates[n * 3 * H + j] * h[n * H + j]
    add_weight_gradient(dweight_hh + 2 * H * H, H,
                        dbias_hh + 2 * H if dbias_hh != NULL else NULL,
                        dgi + 2 * H, 3 * H, rh, H, N, H, H)


include "_no_row_loop.pxi"
include "_sequence.pxi"


# ----------------------------------------------------------------------------
# one cell step (GRU_Cell: one bias, passed as b_ih with a zero b_hh)
# ----------------------------------------------------------------------------


cdef void gru_seed_cell_forward_work(
    floating *h_next,               # (B, H) written
    floating *gates,                # (B, 3H) written
    floating *gi,                   # (B, 3H) scratch
    const floating *x,              # (B, I)
    const floating *h,              # (B, H)
    const floating *weight_ih,      # (3H, I) rows [W_rx; W_zx; W_x]
    const floating *weight_hh,      # (3H, H) rows [W_rh; W_zh; W_h]
    const floating *bias_ih,        # (3H,)
    const floating *bias_hh,        # (3H,)
    int B, int I, int H,
) noexcept nogil:
    cdef floating *state = <floating *> h
    input_projection(gi, x, weight_ih, NULL, bias_ih, B, I, 3 * H)  # gi = x W_ih^T + b_ih
    step_forward(&h_next, gates, gi, &state, weight_hh, NULL, bias_hh, NULL, 0, B, H, H)


cdef void gru_seed_cell_backward_work(
    floating *dx,                   # (B, I) written
    floating *dh,                   # (B, H) written
    floating *dweight_ih,           # (3H, I) added into
    floating *dweight_hh,           # (3H, H) added into
    floating *dbias,                # (3H,) added into: the one bias of GRU_Cell
    floating *dgi,                  # (B, 3H) scratch
    floating *rh,                   # (B, H) scratch
    const floating *dh_next,        # (B, H)
    const floating *gates,          # (B, 3H)
    const floating *x,              # (B, I)
    const floating *h,              # (B, H)
    const floating *weight_ih,      # (3H, I)
    const floating *weight_hh,      # (3H, H)
    int B, int I, int H,
) noexcept nogil:
    cdef floating *state = <floating *> h
    cdef floating *dstate_next = <floating *> dh_next
    step_backward(dgi, dgi, &dh, &dstate_next, gates, &state, NULL, weight_hh, NULL, NULL, NULL,
                  0, B, H, H)
    gru_seed_dweight_hh_work(dweight_hh, NULL, rh, dgi, gates, h, B, H)  # [seed-GRU dW]
    # gi = x W_ih^T + b
    input_backward(dx, dweight_ih, dbias, dgi, x, weight_ih, B, I, 3 * H)


# ----------------------------------------------------------------------------
# GRU_Cell's one-call fast path (conventions in _fast.pxd; as in gru.pyx).
# dbias None: the cell has no bias (scratch, dropped).
# ----------------------------------------------------------------------------


def gru_seed_cell_forward_fast(object x, object h, cnp.ndarray weight_ih,
                               cnp.ndarray weight_hh, cnp.ndarray bias):
    """One GRU_Cell step: x (I,) and h (H,), or x (B, I) and h (B, H);
    weight_ih (3H, I), weight_hh (3H, H), bias (3H,). Returns (h_next shaped
    like h, gates (B, 3H)), or None if an argument is not exactly that."""
    cdef int typenum = cnp.PyArray_TYPE(weight_hh)
    cdef Py_ssize_t B = step_rows(x, h, cnp.PyArray_DIM(weight_ih, 1),
                                  cnp.PyArray_DIM(weight_hh, 1), typenum)
    if B < 0:
        return None
    if typenum == cnp.NPY_FLOAT32:
        return seed_forward_fast(<float *> NULL, x, h, weight_ih, weight_hh, bias, B)
    return seed_forward_fast(<double *> NULL, x, h, weight_ih, weight_hh, bias, B)


cdef object seed_forward_fast(floating *kind, object x, object h, cnp.ndarray weight_ih,
                              cnp.ndarray weight_hh, cnp.ndarray bias, Py_ssize_t B):
    cdef int typenum = cnp.PyArray_TYPE(weight_hh)
    cdef int I = cnp.PyArray_DIM(weight_ih, 1), H = cnp.PyArray_DIM(weight_hh, 1)
    cdef cnp.ndarray h_next = new_array(cnp.PyArray_NDIM(<cnp.ndarray> h), B, H, typenum)
    cdef cnp.ndarray gates = new_array(2, B, 3 * H, typenum)
    # gi (B, 3H) and a zero b_hh (3H,) in one block
    cdef floating *gi = <floating *> malloc(<size_t> (B + 1) * 3 * H * sizeof(floating))
    if gi == NULL:
        raise MemoryError()
    cdef floating *zero = gi + <size_t> B * 3 * H
    memset(zero, 0, 3 * <size_t> H * sizeof(floating))
    cdef floating *h_next_p = <floating *> data(h_next)
    cdef floating *gates_p = <floating *> data(gates)
    cdef floating *x_p = <floating *> data(x)
    cdef floating *h_p = <floating *> data(h)
    cdef floating *weight_ih_p = <floating *> data(weight_ih)
    cdef floating *weight_hh_p = <floating *> data(weight_hh)
    cdef floating *bias_p = <floating *> data(bias)
    with nogil:
        gru_seed_cell_forward_work(h_next_p, gates_p, gi, x_p, h_p, weight_ih_p, weight_hh_p,
                                   bias_p, zero, B, I, H)
        free(gi)
    return h_next, gates


def gru_seed_cell_backward_fast(object delta, bint batched, cnp.ndarray gates, cnp.ndarray x,
                                cnp.ndarray h, cnp.ndarray weight_ih, cnp.ndarray weight_hh,
                                cnp.ndarray dweight_ih, cnp.ndarray dweight_hh, object dbias):
    """Mirror of ``gru_seed_cell_forward_fast`` on what it kept (gates, and
    the x and h it read): adds into dweight_ih, dweight_hh and dbias (None: no
    bias). delta: (H,) or (1, H) unbatched, (B, H) batched. Returns
    (dx (B, I), dh (B, H)), or None."""
    cdef int typenum = cnp.PyArray_TYPE(weight_hh)
    if not upstream_fits(delta, cnp.PyArray_DIM(gates, 0), cnp.PyArray_DIM(weight_hh, 1),
                         batched, typenum):
        return None
    if typenum == cnp.NPY_FLOAT32:
        return seed_backward_fast(<float *> NULL, delta, gates, x, h, weight_ih, weight_hh,
                                  dweight_ih, dweight_hh, dbias)
    return seed_backward_fast(<double *> NULL, delta, gates, x, h, weight_ih, weight_hh,
                              dweight_ih, dweight_hh, dbias)


cdef object seed_backward_fast(floating *kind, object delta, cnp.ndarray gates, cnp.ndarray x,
                               cnp.ndarray h, cnp.ndarray weight_ih, cnp.ndarray weight_hh,
                               cnp.ndarray dweight_ih, cnp.ndarray dweight_hh, object dbias):
    cdef int typenum = cnp.PyArray_TYPE(weight_hh)
    cdef int B = cnp.PyArray_DIM(gates, 0)
    cdef int I = cnp.PyArray_DIM(weight_ih, 1), H = cnp.PyArray_DIM(weight_hh, 1)
    cdef cnp.ndarray dx = new_array(2, B, I, typenum)
    cdef cnp.ndarray dh = new_array(2, B, H, typenum)
    # dgi (B, 3H), rh (B, H), and a bias gradient (3H,) for a bias-free cell
    cdef floating *work = <floating *> calloc(<size_t> B * 4 * H + 3 * H, sizeof(floating))
    if work == NULL:
        raise MemoryError()
    cdef floating *db = work + B * 4 * H if dbias is None else <floating *> data(dbias)
    cdef floating *dx_p = <floating *> data(dx)
    cdef floating *dh_p = <floating *> data(dh)
    cdef floating *dweight_ih_p = <floating *> data(dweight_ih)
    cdef floating *dweight_hh_p = <floating *> data(dweight_hh)
    cdef floating *delta_p = <floating *> data(delta)
    cdef floating *gates_p = <floating *> data(gates)
    cdef floating *x_p = <floating *> data(x)
    cdef floating *h_p = <floating *> data(h)
    cdef floating *weight_ih_p = <floating *> data(weight_ih)
    cdef floating *weight_hh_p = <floating *> data(weight_hh)
    with nogil:
        gru_seed_cell_backward_work(dx_p, dh_p, dweight_ih_p, dweight_hh_p, db, work,
                                    work + B * 3 * H, delta_p, gates_p, x_p, h_p, weight_ih_p,
                                    weight_hh_p, B, I, H)
        free(work)
    return dx, dh
