"""GRU cells, both formulations: the Cython twin of ``bptt._numpy.gru``.

Same functions, same arguments, same math; see that module for the
equations. Two levels, as in scikit-learn: ``*_work`` functions on raw
pointers do the work without the GIL; the ``def`` wrappers take typed
memoryviews of one ``floating`` type, allocate scratch space and call them.
The step workers are what a sequence kernel calls inside its time loop,
after one input-projection GEMM over all steps.

Backward writes dx, dh and adds (+=) into every parameter gradient.
Inputs arrive C-contiguous and validated; nothing here checks them.
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
from _gates cimport (gru_gates_backward, gru_gates_forward, gru_seed_gates_backward_r,
                     gru_seed_gates_backward_zh, gru_seed_gates_forward_h,
                     gru_seed_gates_forward_rz)

cnp.import_array()


# ----------------------------------------------------------------------------
# torch formulation: gates r, z, n
# ----------------------------------------------------------------------------


cdef void gru_step_forward_work(
    floating *h_next,               # (B, H) written
    floating *gates,                # (B, 4H) written: [r | z | n | hn]
    const floating *gi,             # (B, 3H) x W_ih^T + b_ih
    const floating *h,              # (B, H)
    const floating *weight_hh,      # (3H, H)
    const floating *weight_hh_t,    # (H, 3H) its transpose, or NULL (hidden_product)
    const floating *bias_hh,        # (3H,)
    int B, int H,
) noexcept nogil:
    # h W_hh^T goes straight into gates[:, :3H]: the fused gate pass (C,
    # _gates_t.h) reads each entry once, before it writes the gate in its place:
    #   r  = sigma(gi_r + (gh_r + b_hr))            [torch-GRU r]
    #   z  = sigma(gi_z + (gh_z + b_hz))            [torch-GRU z]
    #   hn = gh_n + b_hn
    #   n  = tanh(gi_n + r hn)                      [torch-GRU n]
    #   h' = (1 - z) n + z h                        [torch-GRU h']
    hidden_product(gates, 4 * H, h, weight_hh, weight_hh_t, 0, 3 * H, B, H, 3 * H)
    gru_gates_forward(h_next, gates, gi, h, bias_hh, B, H)


cdef void gru_step_backward_work(
    floating *dgi,                  # (B, 3H) written, dL/d(gi)
    floating *dgh,                  # (B, 3H) written, dL/d(h W_hh^T + b_hh)
    floating *dh,                   # (B, H) written
    const floating *dh_next,        # (B, H)
    const floating *gates,          # (B, 4H) [r | z | n | hn]
    const floating *h,              # (B, H)
    const floating *weight_hh,      # (3H, H)
    const floating *weight_hh_p,    # W_hh as panels, or NULL (hidden_backward_product)
    int B, int H,
) noexcept nogil:
    # The fused gate pass (C, _gates_t.h), d = dh_next:
    #   h' = (1 - z) n + z h:   dn = d (1 - z), dz = d (h - n), dh = d z (direct path)
    #   n = tanh(a_n), a_n = gi_n + r hn:   dan = dn (1 - n^2), dr = dan hn, dhn = dan r
    #   r, z = sigma(a_r), sigma(a_z):   dar = dr r (1 - r), daz = dz z (1 - z)
    #   dgi = [dar | daz | dan], dgh = [dar | daz | dhn]
    gru_gates_backward(dgi, dgh, dh, dh_next, gates, h, B, H)
    # dh += dgh W_hh
    # [torch-GRU dh]: the direct path (from the gate pass) + dgh W_hh
    hidden_backward_product(dh, dgh, 3 * H, weight_hh, weight_hh_p, 0, 3 * H, B, H, 3 * H, 1)


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
    # gi = x W_ih^T + b_ih
    fill_rows(gi, bias_ih, B, 3 * H)
    gemm(c'n', c't', B, 3 * H, I, 1, x, I, weight_ih, I, 1, gi, 3 * H)
    gru_step_forward_work(h_next, gates, gi, h, weight_hh, NULL, bias_hh, B, H)


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
    gru_step_backward_work(dgi, dgh, dh, dh_next, gates, h, weight_hh, NULL, B, H)
    # gh = h W_hh^T + b_hh   [torch-GRU dW]
    gemm(c't', c'n', 3 * H, H, B, 1, dgh, 3 * H, h, H, 1, dweight_hh, H)
    add_colsum(dbias_hh, dgh, B, 3 * H)
    # gi = x W_ih^T + b_ih
    gemm(c'n', c'n', B, I, 3 * H, 1, dgi, 3 * H, weight_ih, I, 0, dx, I)
    gemm(c't', c'n', 3 * H, I, B, 1, dgi, 3 * H, x, I, 1, dweight_ih, I)
    add_colsum(dbias_ih, dgi, B, 3 * H)


def gru_step_forward(
    floating[:, ::1] h_next,
    floating[:, ::1] gates,
    const floating[:, ::1] gi,
    const floating[:, ::1] h,
    const floating[:, ::1] weight_hh,
    const floating[::1] bias_hh,
):
    """One step after the input projection. h_next: (B, H) written.
    gates: (B, 4H) written [r | z | n | hn]. gi: (B, 3H). h: (B, H).
    weight_hh: (3H, H). bias_hh: (3H,)."""
    cdef int B = h.shape[0], H = h.shape[1]
    with nogil:
        gru_step_forward_work(&h_next[0, 0], &gates[0, 0], &gi[0, 0], &h[0, 0],
                              &weight_hh[0, 0], NULL, &bias_hh[0], B, H)


def gru_step_backward(
    floating[:, ::1] dgi,
    floating[:, ::1] dgh,
    floating[:, ::1] dh,
    const floating[:, ::1] dh_next,
    const floating[:, ::1] gates,
    const floating[:, ::1] h,
    const floating[:, ::1] weight_hh,
):
    """Mirror of ``gru_step_forward``. dgi, dgh: (B, 3H) written.
    dh: (B, H) written. dh_next: (B, H)."""
    cdef int B = h.shape[0], H = h.shape[1]
    with nogil:
        gru_step_backward_work(&dgi[0, 0], &dgh[0, 0], &dh[0, 0], &dh_next[0, 0],
                               &gates[0, 0], &h[0, 0], &weight_hh[0, 0], NULL, B, H)


def gru_cell_forward(
    floating[:, ::1] h_next,
    floating[:, ::1] gates,
    const floating[:, ::1] x,
    const floating[:, ::1] h,
    const floating[:, ::1] weight_ih,
    const floating[:, ::1] weight_hh,
    const floating[::1] bias_ih,
    const floating[::1] bias_hh,
):
    """One GRU cell step, torch formulation. h_next: (B, H) written.
    gates: (B, 4H) written. x: (B, I). h: (B, H). weight_ih: (3H, I).
    weight_hh: (3H, H). bias_ih, bias_hh: (3H,)."""
    cdef int B = h.shape[0], I = x.shape[1], H = h.shape[1]
    cdef floating *gi = <floating *> malloc(<size_t> B * 3 * H * sizeof(floating))
    if gi == NULL:
        raise MemoryError()
    with nogil:
        gru_cell_forward_work(&h_next[0, 0], &gates[0, 0], gi, &x[0, 0], &h[0, 0],
                              &weight_ih[0, 0], &weight_hh[0, 0], &bias_ih[0], &bias_hh[0],
                              B, I, H)
        free(gi)


def gru_cell_backward(
    floating[:, ::1] dx,
    floating[:, ::1] dh,
    floating[:, ::1] dweight_ih,
    floating[:, ::1] dweight_hh,
    floating[::1] dbias_ih,
    floating[::1] dbias_hh,
    const floating[:, ::1] dh_next,
    const floating[:, ::1] gates,
    const floating[:, ::1] x,
    const floating[:, ::1] h,
    const floating[:, ::1] weight_ih,
    const floating[:, ::1] weight_hh,
):
    """Mirror of ``gru_cell_forward``: writes dx (B, I) and dh (B, H), adds
    into dweight_ih (3H, I), dweight_hh (3H, H), dbias_ih, dbias_hh (3H,)."""
    cdef int B = h.shape[0], I = x.shape[1], H = h.shape[1]
    # dgi and dgh, (B, 3H) each, in one block
    cdef floating *work = <floating *> malloc(<size_t> 2 * B * 3 * H * sizeof(floating))
    if work == NULL:
        raise MemoryError()
    with nogil:
        gru_cell_backward_work(&dx[0, 0], &dh[0, 0], &dweight_ih[0, 0], &dweight_hh[0, 0],
                               &dbias_ih[0], &dbias_hh[0], work, work + B * 3 * H,
                               &dh_next[0, 0], &gates[0, 0], &x[0, 0], &h[0, 0],
                               &weight_ih[0, 0], &weight_hh[0, 0], B, I, H)
        free(work)


# ----------------------------------------------------------------------------
# seed formulation: gates r, z, h~ (reset before the product)
# ----------------------------------------------------------------------------


cdef void gru_seed_step_forward_work(
    floating *h_next,               # (B, H) written
    floating *gates,                # (B, 3H) written: [r | z | h~]
    const floating *gi,             # (B, 3H) x W_ih^T + b
    const floating *h,              # (B, H)
    const floating *weight_hh,      # (3H, H) rows [W_rh; W_zh; W_h]
    const floating *weight_hh_t,    # (H, 3H) its transpose, or NULL (hidden_product)
    int B, int H,
) noexcept nogil:
    # Two loops, not one: W_h (r (.) h) needs all of r before h~ can start.
    # h_next must not alias h: it holds r (.) h between the loops.
    # h [W_rh; W_zh]^T goes straight into gates[:, :2H], read before overwritten:
    #   r = sigma(gi_r + gh_r), z = sigma(gi_z + gh_z)   [seed-GRU r, z]
    # and r (.) h is parked in h_next until h' replaces it
    hidden_product(gates, 3 * H, h, weight_hh, weight_hh_t, 0, 2 * H, B, H, 3 * H)
    gru_seed_gates_forward_rz(h_next, gates, gi, h, B, H)
    # (r (.) h) W_h^T goes into gates[:, 2H:]:
    #   h~ = tanh(gi_h + (r h) W_h^T)    [seed-GRU h~]
    #   h' = (1 - z) h + z h~            [seed-GRU h']
    hidden_product(gates + 2 * H, 3 * H, h_next, weight_hh, weight_hh_t, 2 * H, H, B, H, 3 * H)
    gru_seed_gates_forward_h(h_next, gates, gi, h, B, H)


cdef void gru_seed_step_backward_work(
    floating *dgi,                  # (B, 3H) written, dL/d(gi)
    floating *dh,                   # (B, H) written
    const floating *dh_next,        # (B, H)
    const floating *gates,          # (B, 3H) [r | z | h~]
    const floating *h,              # (B, H)
    const floating *weight_hh,      # (3H, H)
    const floating *weight_hh_p,    # W_hh as panels, or NULL (hidden_backward_product)
    int B, int H,
) noexcept nogil:
    # The forward's two loops, in reverse; dh holds drh = dL/d(r h) between
    # them, so dh must not alias dh_next. dweight_hh is left to
    # gru_seed_dweight_hh_work, so that a sequence does it in one product.
    # h' = (1 - z) h + z h~, h~ = tanh(a_h), z = sigma(a_z), d = dh_next:
    #   dah = d z (1 - h~^2), daz = d (h~ - h) z (1 - z)
    gru_seed_gates_backward_zh(dgi, dh_next, gates, h, B, H)
    # drh = dah W_h
    hidden_backward_product(dh, dgi + 2 * H, 3 * H, weight_hh, weight_hh_p, 2 * H, H, B, H,
                            3 * H, 0)       # [seed-GRU drh]
    # r (.) h, r = sigma(a_r):   dar = drh h r (1 - r)
    # dh = d (1 - z) + drh r: the direct path of h', then the one through r (.) h
    gru_seed_gates_backward_r(dgi, dh, dh_next, gates, h, B, H)
    # a_r, a_z = gi + h [W_rh; W_zh]^T: dh += [dar | daz] [W_rh; W_zh]
    # [seed-GRU dh], adding path 3
    hidden_backward_product(dh, dgi, 3 * H, weight_hh, weight_hh_p, 0, 2 * H, B, H, 3 * H, 1)


cdef void gru_seed_dweight_hh_work(
    floating *dweight_hh,           # (3H, H) added into
    floating *rh,                   # (N, H) scratch
    const floating *dgi,            # (N, 3H) from gru_seed_step_backward_work
    const floating *gates,          # (N, 3H) [r | z | h~]
    const floating *h,              # (N, H), the state each row's step started from
    int N, int H,
) noexcept nogil:
    # W_rh and W_zh multiply h, W_h multiplies r (.) h
    cdef Py_ssize_t n, j
    gemm(c't', c'n', 2 * H, H, N, 1, dgi, 3 * H, h, H, 1, dweight_hh, H)
    for n in range(N):
        for j in range(H):
            rh[n * H + j] = gates[n * 3 * H + j] * h[n * H + j]
    gemm(c't', c'n', H, H, N, 1, dgi + 2 * H, 3 * H, rh, H, 1, dweight_hh + 2 * H * H, H)


cdef void gru_seed_cell_forward_work(
    floating *h_next,               # (B, H) written
    floating *gates,                # (B, 3H) written
    floating *gi,                   # (B, 3H) scratch
    const floating *x,              # (B, I)
    const floating *h,              # (B, H)
    const floating *weight_ih,      # (3H, I) rows [W_rx; W_zx; W_x]
    const floating *weight_hh,      # (3H, H) rows [W_rh; W_zh; W_h]
    const floating *bias,           # (3H,) [b_r; b_z; b_h]
    int B, int I, int H,
) noexcept nogil:
    # gi = x W_ih^T + b
    fill_rows(gi, bias, B, 3 * H)
    gemm(c'n', c't', B, 3 * H, I, 1, x, I, weight_ih, I, 1, gi, 3 * H)
    gru_seed_step_forward_work(h_next, gates, gi, h, weight_hh, NULL, B, H)


cdef void gru_seed_cell_backward_work(
    floating *dx,                   # (B, I) written
    floating *dh,                   # (B, H) written
    floating *dweight_ih,           # (3H, I) added into
    floating *dweight_hh,           # (3H, H) added into
    floating *dbias,                # (3H,) added into
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
    gru_seed_step_backward_work(dgi, dh, dh_next, gates, h, weight_hh, NULL, B, H)
    gru_seed_dweight_hh_work(dweight_hh, rh, dgi, gates, h, B, H)      # [seed-GRU dW]
    # gi = x W_ih^T + b
    gemm(c'n', c'n', B, I, 3 * H, 1, dgi, 3 * H, weight_ih, I, 0, dx, I)
    gemm(c't', c'n', 3 * H, I, B, 1, dgi, 3 * H, x, I, 1, dweight_ih, I)
    add_colsum(dbias, dgi, B, 3 * H)


def gru_seed_step_forward(
    floating[:, ::1] h_next,
    floating[:, ::1] gates,
    const floating[:, ::1] gi,
    const floating[:, ::1] h,
    const floating[:, ::1] weight_hh,
):
    """One seed-GRU step after the input projection. h_next: (B, H) written
    (must not be h). gates: (B, 3H) written [r | z | h~]. gi: (B, 3H).
    h: (B, H). weight_hh: (3H, H) rows [W_rh; W_zh; W_h]."""
    cdef int B = h.shape[0], H = h.shape[1]
    with nogil:
        gru_seed_step_forward_work(&h_next[0, 0], &gates[0, 0], &gi[0, 0], &h[0, 0],
                                   &weight_hh[0, 0], NULL, B, H)


def gru_seed_step_backward(
    floating[:, ::1] dgi,
    floating[:, ::1] dh,
    const floating[:, ::1] dh_next,
    const floating[:, ::1] gates,
    const floating[:, ::1] h,
    const floating[:, ::1] weight_hh,
):
    """Mirror of ``gru_seed_step_forward``. dgi: (B, 3H) written, also the
    gradient of the recurrent pre-activations (see ``gru_seed_dweight_hh``).
    dh: (B, H) written (must not be dh_next). dh_next: (B, H)."""
    cdef int B = h.shape[0], H = h.shape[1]
    with nogil:
        gru_seed_step_backward_work(&dgi[0, 0], &dh[0, 0], &dh_next[0, 0], &gates[0, 0],
                                    &h[0, 0], &weight_hh[0, 0], NULL, B, H)


def gru_seed_dweight_hh(
    floating[:, ::1] dweight_hh,
    const floating[:, ::1] dgi,
    const floating[:, ::1] gates,
    const floating[:, ::1] h,
):
    """dweight_hh (3H, H) += the recurrent weights' gradient over N rows.
    dgi: (N, 3H) from ``gru_seed_step_backward``. gates: (N, 3H). h: (N, H)."""
    cdef int N = h.shape[0], H = h.shape[1]
    cdef floating *rh = <floating *> malloc(<size_t> N * H * sizeof(floating))
    if rh == NULL:
        raise MemoryError()
    with nogil:
        gru_seed_dweight_hh_work(&dweight_hh[0, 0], rh, &dgi[0, 0], &gates[0, 0], &h[0, 0], N, H)
        free(rh)


def gru_seed_cell_forward(
    floating[:, ::1] h_next,
    floating[:, ::1] gates,
    const floating[:, ::1] x,
    const floating[:, ::1] h,
    const floating[:, ::1] weight_ih,
    const floating[:, ::1] weight_hh,
    const floating[::1] bias,
):
    """One GRU cell step, seed formulation. h_next: (B, H) written.
    gates: (B, 3H) written. x: (B, I). h: (B, H). weight_ih: (3H, I).
    weight_hh: (3H, H). bias: (3H,)."""
    cdef int B = h.shape[0], I = x.shape[1], H = h.shape[1]
    cdef floating *gi = <floating *> malloc(<size_t> B * 3 * H * sizeof(floating))
    if gi == NULL:
        raise MemoryError()
    with nogil:
        gru_seed_cell_forward_work(&h_next[0, 0], &gates[0, 0], gi, &x[0, 0], &h[0, 0],
                                   &weight_ih[0, 0], &weight_hh[0, 0], &bias[0], B, I, H)
        free(gi)


def gru_seed_cell_backward(
    floating[:, ::1] dx,
    floating[:, ::1] dh,
    floating[:, ::1] dweight_ih,
    floating[:, ::1] dweight_hh,
    floating[::1] dbias,
    const floating[:, ::1] dh_next,
    const floating[:, ::1] gates,
    const floating[:, ::1] x,
    const floating[:, ::1] h,
    const floating[:, ::1] weight_ih,
    const floating[:, ::1] weight_hh,
):
    """Mirror of ``gru_seed_cell_forward``: writes dx (B, I) and dh (B, H),
    adds into dweight_ih (3H, I), dweight_hh (3H, H), dbias (3H,)."""
    cdef int B = h.shape[0], I = x.shape[1], H = h.shape[1]
    # dgi (B, 3H) and rh (B, H) in one block
    cdef floating *work = <floating *> malloc(<size_t> B * 4 * H * sizeof(floating))
    if work == NULL:
        raise MemoryError()
    with nogil:
        gru_seed_cell_backward_work(&dx[0, 0], &dh[0, 0], &dweight_ih[0, 0], &dweight_hh[0, 0],
                                    &dbias[0], work, work + B * 3 * H, &dh_next[0, 0],
                                    &gates[0, 0], &x[0, 0], &h[0, 0], &weight_ih[0, 0],
                                    &weight_hh[0, 0], B, I, H)
        free(work)


# ----------------------------------------------------------------------------
# the cells' one-call fast path (conventions in _fast.pxd): GRU_Cell, GRUCell.
# Each def checks its arguments and dispatches on dtype; the fused cdef below
# it allocates the outputs and runs the same workers as the memoryview
# wrappers above. dbias None: the cell has no bias (scratch, dropped).
# ----------------------------------------------------------------------------


def gru_seed_cell_forward_fast(object x, object h, cnp.ndarray weight_ih,
                               cnp.ndarray weight_hh, cnp.ndarray bias):
    """``gru_seed_cell_forward`` for GRU_Cell: x (I,) and h (H,), or x (B, I)
    and h (B, H). Returns (h_next shaped like h, gates (B, 3H)), or None."""
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
    cdef floating *gi = <floating *> malloc(<size_t> B * 3 * H * sizeof(floating))
    if gi == NULL:
        raise MemoryError()
    cdef floating *h_next_p = <floating *> data(h_next)
    cdef floating *gates_p = <floating *> data(gates)
    cdef floating *x_p = <floating *> data(x)
    cdef floating *h_p = <floating *> data(h)
    cdef floating *weight_ih_p = <floating *> data(weight_ih)
    cdef floating *weight_hh_p = <floating *> data(weight_hh)
    cdef floating *bias_p = <floating *> data(bias)
    with nogil:
        gru_seed_cell_forward_work(h_next_p, gates_p, gi, x_p, h_p, weight_ih_p, weight_hh_p,
                                   bias_p, B, I, H)
        free(gi)
    return h_next, gates


def gru_seed_cell_backward_fast(object delta, bint batched, cnp.ndarray gates, cnp.ndarray x,
                                cnp.ndarray h, cnp.ndarray weight_ih, cnp.ndarray weight_hh,
                                cnp.ndarray dweight_ih, cnp.ndarray dweight_hh, object dbias):
    """``gru_seed_cell_backward`` for GRU_Cell on what its fast forward kept.
    delta: (H,) or (1, H) unbatched, (B, H) batched. Returns (dx (B, I),
    dh (B, H)), or None."""
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


def gru_cell_forward_fast(object x, object h, cnp.ndarray weight_ih, cnp.ndarray weight_hh,
                          cnp.ndarray bias_ih, cnp.ndarray bias_hh):
    """``gru_cell_forward`` for GRUCell: x (I,) and h (H,), or x (B, I) and
    h (B, H). Returns (h_next shaped like h, gates (B, 4H)), or None."""
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
    """``gru_cell_backward`` for GRUCell on what its forward kept. Returns
    (dx, dh), (B, I) and (B, H), or (I,) and (H,) when not batched; or None."""
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


# ----------------------------------------------------------------------------
# sequences: one layer, one direction (conventions in bptt._numpy._seq)
# ----------------------------------------------------------------------------


cdef void gru_seq_forward_work(
    floating *output,               # (T, B, H) written
    floating *h_n,                  # (B, H) written
    floating *hs,                   # (T+1, B, H) written, every state
    floating *gates,                # (T, B, 4H) written
    floating *gi,                   # (T, B, 3H) scratch
    floating *weight_hh_t,          # (H, 3H) scratch
    const floating *x,              # (T, B, I)
    const floating *h0,             # (B, H)
    const floating *weight_ih,      # (3H, I)
    const floating *weight_hh,      # (3H, H)
    const floating *bias_ih,        # (3H,)
    const floating *bias_hh,        # (3H,)
    const long long *lengths,       # (B,)
    bint reverse,
    int T, int B, int I, int H,
) noexcept nogil:
    cdef Py_ssize_t s, t, p, q
    cdef Py_ssize_t BH = <Py_ssize_t> B * H
    cdef const floating *w_t = hidden_weights_t(weight_hh_t, weight_hh, 3 * H, H, B)
    input_projection(gi, x, weight_ih, bias_ih, T * B, I, 3 * H)
    memcpy(hs + final_index(T, not reverse) * BH, h0, BH * sizeof(floating))
    for s in range(T):
        t = step_at(s, T, reverse)
        p = prev_index(t, reverse)
        q = next_index(t, reverse)
        gru_step_forward_work(hs + q * BH, gates + t * 4 * BH, gi + t * 3 * BH, hs + p * BH,
                              weight_hh, w_t, bias_hh, B, H)
        keep_invalid_rows(hs + q * BH, hs + p * BH, lengths, t, B, H)
        mask_rows(output + t * BH, hs + q * BH, lengths, t, B, H)
    memcpy(h_n, hs + final_index(T, reverse) * BH, BH * sizeof(floating))


cdef void gru_seq_backward_work(
    floating *dx,                   # (T, B, I) written
    floating *dh0,                  # (B, H) written
    floating *dweight_ih,           # (3H, I) added into
    floating *dweight_hh,           # (3H, H) added into
    floating *dbias_ih,             # (3H,) added into
    floating *dbias_hh,             # (3H,) added into
    floating *dgi,                  # (T, B, 3H) scratch
    floating *dgh,                  # (T, B, 3H) scratch
    floating *dh,                   # (B, H) scratch
    floating *dh_prev,              # (B, H) scratch
    floating *dh_next,              # (B, H) scratch
    floating *weight_hh_p,          # (3H, H) scratch
    const floating *doutput,        # (T, B, H)
    const floating *dh_n,           # (B, H)
    const floating *gates,          # (T, B, 4H)
    const floating *hs,             # (T+1, B, H)
    const floating *x,              # (T, B, I)
    const floating *weight_ih,      # (3H, I)
    const floating *weight_hh,      # (3H, H)
    const long long *lengths,       # (B,)
    bint reverse,
    int T, int B, int I, int H,
) noexcept nogil:
    cdef Py_ssize_t s, t, p
    cdef Py_ssize_t BH = <Py_ssize_t> B * H
    cdef floating *swap
    cdef const floating *w_p = hidden_weights_p(weight_hh_p, weight_hh, 3 * H, H, B)
    # dh: dL/d(state), carried backwards through time
    memcpy(dh, dh_n, BH * sizeof(floating))
    for s in range(T):
        t = step_at(T - 1 - s, T, reverse)
        p = prev_index(t, reverse)
        mask_rows_sum(dh_next, dh, doutput + t * BH, lengths, t, B, H)
        gru_step_backward_work(dgi + t * 3 * BH, dgh + t * 3 * BH, dh_prev, dh_next,
                               gates + t * 4 * BH, hs + p * BH, weight_hh, w_p, B, H)
        keep_invalid_rows(dh_prev, dh, lengths, t, B, H)
        swap = dh
        dh = dh_prev
        dh_prev = swap
    memcpy(dh0, dh, BH * sizeof(floating))
    # gh = h W_hh^T + b_hh, h the previous states: hs[0:T], or hs[1:T+1] reverse   [BPTT dW_hh]
    gemm(c't', c'n', 3 * H, H, T * B, 1, dgh, 3 * H, hs + prev_index(0, reverse) * BH, H,
         1, dweight_hh, H)
    add_colsum(dbias_hh, dgh, T * B, 3 * H)
    input_backward(dx, dweight_ih, dbias_ih, dgi, x, weight_ih, T * B, I, 3 * H)  # [BPTT dW_ih]


cdef void gru_seed_seq_forward_work(
    floating *output,               # (T, B, H) written
    floating *h_n,                  # (B, H) written
    floating *hs,                   # (T+1, B, H) written, every state
    floating *gates,                # (T, B, 3H) written
    floating *gi,                   # (T, B, 3H) scratch
    floating *weight_hh_t,          # (H, 3H) scratch
    const floating *x,              # (T, B, I)
    const floating *h0,             # (B, H)
    const floating *weight_ih,      # (3H, I) rows [W_rx; W_zx; W_x]
    const floating *weight_hh,      # (3H, H) rows [W_rh; W_zh; W_h]
    const floating *bias,           # (3H,) [b_r; b_z; b_h]
    const long long *lengths,       # (B,)
    bint reverse,
    int T, int B, int I, int H,
) noexcept nogil:
    # hs[p] and hs[q] are distinct slots, as gru_seed_step_forward_work needs
    cdef Py_ssize_t s, t, p, q
    cdef Py_ssize_t BH = <Py_ssize_t> B * H
    cdef const floating *w_t = hidden_weights_t(weight_hh_t, weight_hh, 3 * H, H, B)
    input_projection(gi, x, weight_ih, bias, T * B, I, 3 * H)
    memcpy(hs + final_index(T, not reverse) * BH, h0, BH * sizeof(floating))
    for s in range(T):
        t = step_at(s, T, reverse)
        p = prev_index(t, reverse)
        q = next_index(t, reverse)
        gru_seed_step_forward_work(hs + q * BH, gates + t * 3 * BH, gi + t * 3 * BH,
                                   hs + p * BH, weight_hh, w_t, B, H)
        keep_invalid_rows(hs + q * BH, hs + p * BH, lengths, t, B, H)
        mask_rows(output + t * BH, hs + q * BH, lengths, t, B, H)
    memcpy(h_n, hs + final_index(T, reverse) * BH, BH * sizeof(floating))


cdef void gru_seed_seq_backward_work(
    floating *dx,                   # (T, B, I) written
    floating *dh0,                  # (B, H) written
    floating *dweight_ih,           # (3H, I) added into
    floating *dweight_hh,           # (3H, H) added into
    floating *dbias,                # (3H,) added into
    floating *dgi,                  # (T, B, 3H) scratch
    floating *rh,                   # (T, B, H) scratch
    floating *dh,                   # (B, H) scratch
    floating *dh_prev,              # (B, H) scratch
    floating *dh_next,              # (B, H) scratch
    floating *weight_hh_p,          # (3H, H) scratch
    const floating *doutput,        # (T, B, H)
    const floating *dh_n,           # (B, H)
    const floating *gates,          # (T, B, 3H)
    const floating *hs,             # (T+1, B, H)
    const floating *x,              # (T, B, I)
    const floating *weight_ih,      # (3H, I)
    const floating *weight_hh,      # (3H, H)
    const long long *lengths,       # (B,)
    bint reverse,
    int T, int B, int I, int H,
) noexcept nogil:
    # dh_prev and dh_next are distinct, as gru_seed_step_backward_work needs
    cdef Py_ssize_t s, t, p
    cdef Py_ssize_t BH = <Py_ssize_t> B * H
    cdef floating *swap
    cdef const floating *w_p = hidden_weights_p(weight_hh_p, weight_hh, 3 * H, H, B)
    memcpy(dh, dh_n, BH * sizeof(floating))
    for s in range(T):
        t = step_at(T - 1 - s, T, reverse)
        p = prev_index(t, reverse)
        mask_rows_sum(dh_next, dh, doutput + t * BH, lengths, t, B, H)
        gru_seed_step_backward_work(dgi + t * 3 * BH, dh_prev, dh_next, gates + t * 3 * BH,
                                    hs + p * BH, weight_hh, w_p, B, H)
        keep_invalid_rows(dh_prev, dh, lengths, t, B, H)
        swap = dh
        dh = dh_prev
        dh_prev = swap
    memcpy(dh0, dh, BH * sizeof(floating))
    # [BPTT dW_hh]
    gru_seed_dweight_hh_work(dweight_hh, rh, dgi, gates, hs + prev_index(0, reverse) * BH,
                             T * B, H)
    input_backward(dx, dweight_ih, dbias, dgi, x, weight_ih, T * B, I, 3 * H)  # [BPTT dW_ih]


def gru_seq_forward(
    floating[:, :, ::1] output,
    floating[:, ::1] h_n,
    floating[:, :, ::1] hs,
    floating[:, :, ::1] gates,
    const floating[:, :, ::1] x,
    const floating[:, ::1] h0,
    const floating[:, ::1] weight_ih,
    const floating[:, ::1] weight_hh,
    const floating[::1] bias_ih,
    const floating[::1] bias_hh,
    const long long[::1] lengths,
    bint reverse,
):
    """output: (T, B, H) written.  h_n: (B, H) written.  hs: (T+1, B, H) and
    gates: (T, B, 4H) written, the cache.  x: (T, B, I).  h0: (B, H).
    lengths: (B,) int64.  reverse: process t = T-1 .. 0."""
    cdef int T = x.shape[0], B = x.shape[1], I = x.shape[2], H = h0.shape[1]
    # gi (T, B, 3H) and W_hh^T (H, 3H) in one block
    cdef floating *gi = <floating *> malloc(<size_t> (T * B + H) * 3 * H * sizeof(floating))
    if gi == NULL:
        raise MemoryError()
    with nogil:
        gru_seq_forward_work(&output[0, 0, 0], &h_n[0, 0], &hs[0, 0, 0], &gates[0, 0, 0], gi,
                             gi + <size_t> T * B * 3 * H, &x[0, 0, 0], &h0[0, 0], &weight_ih[0, 0], &weight_hh[0, 0],
                             &bias_ih[0], &bias_hh[0], &lengths[0], reverse, T, B, I, H)
        free(gi)


def gru_seq_backward(
    floating[:, :, ::1] dx,
    floating[:, ::1] dh0,
    floating[:, ::1] dweight_ih,
    floating[:, ::1] dweight_hh,
    floating[::1] dbias_ih,
    floating[::1] dbias_hh,
    const floating[:, :, ::1] doutput,
    const floating[:, ::1] dh_n,
    const floating[:, :, ::1] gates,
    const floating[:, :, ::1] hs,
    const floating[:, :, ::1] x,
    const floating[:, ::1] weight_ih,
    const floating[:, ::1] weight_hh,
    const long long[::1] lengths,
    bint reverse,
):
    """Mirror of ``gru_seq_forward``: dx (T, B, I) and dh0 (B, H) written,
    parameter gradients added. doutput: (T, B, H); dh_n: (B, H)."""
    cdef int T = x.shape[0], B = x.shape[1], I = x.shape[2], H = dh0.shape[1]
    cdef size_t TG = <size_t> T * B * 3 * H, BH = <size_t> B * H
    # dgi, dgh (T, B, 3H), dh, dh_prev, dh_next (B, H) and W_hh's panels in one block
    cdef floating *work = <floating *> malloc((2 * TG + 3 * BH + 3 * <size_t> H * H)
                                              * sizeof(floating))
    if work == NULL:
        raise MemoryError()
    with nogil:
        gru_seq_backward_work(&dx[0, 0, 0], &dh0[0, 0], &dweight_ih[0, 0], &dweight_hh[0, 0],
                              &dbias_ih[0], &dbias_hh[0], work, work + TG, work + 2 * TG,
                              work + 2 * TG + BH, work + 2 * TG + 2 * BH,
                              work + 2 * TG + 3 * BH, &doutput[0, 0, 0],
                              &dh_n[0, 0], &gates[0, 0, 0], &hs[0, 0, 0], &x[0, 0, 0],
                              &weight_ih[0, 0], &weight_hh[0, 0], &lengths[0], reverse,
                              T, B, I, H)
        free(work)


def gru_seed_seq_forward(
    floating[:, :, ::1] output,
    floating[:, ::1] h_n,
    floating[:, :, ::1] hs,
    floating[:, :, ::1] gates,
    const floating[:, :, ::1] x,
    const floating[:, ::1] h0,
    const floating[:, ::1] weight_ih,
    const floating[:, ::1] weight_hh,
    const floating[::1] bias,
    const long long[::1] lengths,
    bint reverse,
):
    """As ``gru_seq_forward``, seed formulation: gates (T, B, 3H), one bias (3H,)."""
    cdef int T = x.shape[0], B = x.shape[1], I = x.shape[2], H = h0.shape[1]
    # gi (T, B, 3H) and W_hh^T (H, 3H) in one block
    cdef floating *gi = <floating *> malloc(<size_t> (T * B + H) * 3 * H * sizeof(floating))
    if gi == NULL:
        raise MemoryError()
    with nogil:
        gru_seed_seq_forward_work(&output[0, 0, 0], &h_n[0, 0], &hs[0, 0, 0], &gates[0, 0, 0],
                                  gi, gi + <size_t> T * B * 3 * H, &x[0, 0, 0], &h0[0, 0], &weight_ih[0, 0],
                                  &weight_hh[0, 0], &bias[0], &lengths[0], reverse, T, B, I, H)
        free(gi)


def gru_seed_seq_backward(
    floating[:, :, ::1] dx,
    floating[:, ::1] dh0,
    floating[:, ::1] dweight_ih,
    floating[:, ::1] dweight_hh,
    floating[::1] dbias,
    const floating[:, :, ::1] doutput,
    const floating[:, ::1] dh_n,
    const floating[:, :, ::1] gates,
    const floating[:, :, ::1] hs,
    const floating[:, :, ::1] x,
    const floating[:, ::1] weight_ih,
    const floating[:, ::1] weight_hh,
    const long long[::1] lengths,
    bint reverse,
):
    """Mirror of ``gru_seed_seq_forward``."""
    cdef int T = x.shape[0], B = x.shape[1], I = x.shape[2], H = dh0.shape[1]
    cdef size_t TG = <size_t> T * B * 3 * H, BH = <size_t> B * H
    # dgi (T, B, 3H), rh (T, B, H), dh, dh_prev, dh_next (B, H) and W_hh's panels
    cdef floating *work = <floating *> malloc((TG + (T + 3) * BH + 3 * <size_t> H * H)
                                              * sizeof(floating))
    if work == NULL:
        raise MemoryError()
    with nogil:
        gru_seed_seq_backward_work(&dx[0, 0, 0], &dh0[0, 0], &dweight_ih[0, 0],
                                   &dweight_hh[0, 0], &dbias[0], work, work + TG,
                                   work + TG + T * BH, work + TG + (T + 1) * BH,
                                   work + TG + (T + 2) * BH, work + TG + (T + 3) * BH,
                                   &doutput[0, 0, 0], &dh_n[0, 0],
                                   &gates[0, 0, 0], &hs[0, 0, 0], &x[0, 0, 0],
                                   &weight_ih[0, 0], &weight_hh[0, 0], &lengths[0], reverse,
                                   T, B, I, H)
        free(work)
