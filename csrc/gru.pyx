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
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

from _common cimport (add_colsum, fill_rows, final_index, gemm, hidden_product,
                      hidden_weights_t, input_backward, input_projection, keep_invalid_rows,
                      mask_rows, mask_rows_sum, next_index, prev_index, step_at)
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
    int B, int H,
) noexcept nogil:
    # The fused gate pass (C, _gates_t.h), d = dh_next:
    #   h' = (1 - z) n + z h:   dn = d (1 - z), dz = d (h - n), dh = d z (direct path)
    #   n = tanh(a_n), a_n = gi_n + r hn:   dan = dn (1 - n^2), dr = dan hn, dhn = dan r
    #   r, z = sigma(a_r), sigma(a_z):   dar = dr r (1 - r), daz = dz z (1 - z)
    #   dgi = [dar | daz | dan], dgh = [dar | daz | dhn]
    gru_gates_backward(dgi, dgh, dh, dh_next, gates, h, B, H)
    # dh += dgh W_hh
    gemm(c'n', c'n', B, H, 3 * H, 1, dgh, 3 * H, weight_hh, H, 1, dh, H)


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
    gru_step_backward_work(dgi, dgh, dh, dh_next, gates, h, weight_hh, B, H)
    # gh = h W_hh^T + b_hh
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
                               &gates[0, 0], &h[0, 0], &weight_hh[0, 0], B, H)


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
    int B, int H,
) noexcept nogil:
    # The forward's two loops, in reverse; dh holds drh = dL/d(r h) between
    # them, so dh must not alias dh_next. dweight_hh is left to
    # gru_seed_dweight_hh_work, so that a sequence does it in one product.
    # h' = (1 - z) h + z h~, h~ = tanh(a_h), z = sigma(a_z), d = dh_next:
    #   dah = d z (1 - h~^2), daz = d (h~ - h) z (1 - z)
    gru_seed_gates_backward_zh(dgi, dh_next, gates, h, B, H)
    # drh = dah W_h
    gemm(c'n', c'n', B, H, H, 1, dgi + 2 * H, 3 * H, weight_hh + 2 * H * H, H, 0, dh, H)
    # r (.) h, r = sigma(a_r):   dar = drh h r (1 - r)
    # dh = d (1 - z) + drh r: the direct path of h', then the one through r (.) h
    gru_seed_gates_backward_r(dgi, dh, dh_next, gates, h, B, H)
    # a_r, a_z = gi + h [W_rh; W_zh]^T: dh += [dar | daz] [W_rh; W_zh]
    gemm(c'n', c'n', B, H, 2 * H, 1, dgi, 3 * H, weight_hh, H, 1, dh, H)


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
    gru_seed_step_backward_work(dgi, dh, dh_next, gates, h, weight_hh, B, H)
    gru_seed_dweight_hh_work(dweight_hh, rh, dgi, gates, h, B, H)
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
                                    &h[0, 0], &weight_hh[0, 0], B, H)


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
# GRU_Cell's fast path: one call per step with no memoryviews. Each function
# checks, in C, that its caller-supplied arrays are exactly what the kernels
# take (ndarray, the weights' dtype, C-contiguous, aligned, the right shape)
# and returns None otherwise, so that GRU_Cell validates them in Python and
# explains what is wrong. Nothing here raises on bad input.
# ----------------------------------------------------------------------------


cdef inline bint plain_array(object a, int typenum) noexcept:
    # an exact ndarray of typenum that a raw-pointer kernel can read
    return (cnp.PyArray_CheckExact(a)
            and cnp.PyArray_TYPE(<cnp.ndarray> a) == typenum
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray> a)
            and cnp.PyArray_ISALIGNED(<cnp.ndarray> a))


cdef inline Py_ssize_t rows_of(object a, Py_ssize_t cols, bint batched) noexcept:
    # B for an (B, cols) array when batched, 1 for a (cols,) one; -1 otherwise
    cdef cnp.ndarray arr = <cnp.ndarray> a
    if batched:
        if cnp.PyArray_NDIM(arr) == 2 and cnp.PyArray_DIM(arr, 1) == cols:
            return cnp.PyArray_DIM(arr, 0)
        return -1
    if cnp.PyArray_NDIM(arr) == 1 and cnp.PyArray_DIM(arr, 0) == cols:
        return 1
    return -1


def gru_seed_cell_forward_fast(
    object x, object h,
    cnp.ndarray weight_ih, cnp.ndarray weight_hh, cnp.ndarray bias,
):
    """``gru_seed_cell_forward`` for GRU_Cell: x (I,) and h (H,), or x (B, I)
    and h (B, H). Returns (h_next, gates) with h_next shaped like h and gates
    (B, 3H), or None if x or h is not exactly what the kernel takes."""
    cdef int typenum = cnp.PyArray_TYPE(weight_hh)
    cdef Py_ssize_t H = cnp.PyArray_DIM(weight_hh, 1), I = cnp.PyArray_DIM(weight_ih, 1)
    if not (plain_array(x, typenum) and plain_array(h, typenum)):
        return None
    cdef bint batched = cnp.PyArray_NDIM(<cnp.ndarray> x) == 2
    cdef Py_ssize_t B = rows_of(x, I, batched)
    if B < 1 or rows_of(h, H, batched) != B:
        return None
    cdef cnp.npy_intp gates_shape[2]
    gates_shape[0] = B
    gates_shape[1] = 3 * H
    cdef cnp.ndarray h_next = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(<cnp.ndarray> h),
                                                cnp.PyArray_DIMS(<cnp.ndarray> h), typenum, 0)
    cdef cnp.ndarray gates = cnp.PyArray_EMPTY(2, gates_shape, typenum, 0)
    cdef size_t itemsize = cnp.PyArray_ITEMSIZE(weight_hh)
    cdef void *gi = malloc(<size_t> B * 3 * H * itemsize)
    if gi == NULL:
        raise MemoryError()
    if typenum == cnp.NPY_FLOAT32:
        gru_seed_cell_forward_work(
            <float *> cnp.PyArray_DATA(h_next), <float *> cnp.PyArray_DATA(gates), <float *> gi,
            <float *> cnp.PyArray_DATA(<cnp.ndarray> x), <float *> cnp.PyArray_DATA(<cnp.ndarray> h),
            <float *> cnp.PyArray_DATA(weight_ih), <float *> cnp.PyArray_DATA(weight_hh),
            <float *> cnp.PyArray_DATA(bias), B, I, H)
    else:
        gru_seed_cell_forward_work(
            <double *> cnp.PyArray_DATA(h_next), <double *> cnp.PyArray_DATA(gates),
            <double *> gi, <double *> cnp.PyArray_DATA(<cnp.ndarray> x),
            <double *> cnp.PyArray_DATA(<cnp.ndarray> h), <double *> cnp.PyArray_DATA(weight_ih),
            <double *> cnp.PyArray_DATA(weight_hh), <double *> cnp.PyArray_DATA(bias), B, I, H)
    free(gi)
    return h_next, gates


def gru_seed_cell_backward_fast(
    object delta, bint batched,
    cnp.ndarray gates, cnp.ndarray x, cnp.ndarray h,
    cnp.ndarray weight_ih, cnp.ndarray weight_hh,
    cnp.ndarray dweight_ih, cnp.ndarray dweight_hh, object dbias,
):
    """``gru_seed_cell_backward`` for GRU_Cell, on the arrays its fast forward
    kept. delta: (H,) or (1, H) unbatched, (B, H) batched. dbias None: the
    cell has no bias (its gradient is computed into scratch and dropped).
    Returns (dx (B, I), dh (B, H)), or None if delta is not exactly what the
    kernel takes."""
    cdef int typenum = cnp.PyArray_TYPE(weight_hh)
    cdef Py_ssize_t B = cnp.PyArray_DIM(gates, 0)
    cdef Py_ssize_t H = cnp.PyArray_DIM(weight_hh, 1), I = cnp.PyArray_DIM(weight_ih, 1)
    if not plain_array(delta, typenum):
        return None
    cdef cnp.ndarray d = <cnp.ndarray> delta
    if not (rows_of(d, H, True) == B or (not batched and rows_of(d, H, False) == 1)):
        return None
    cdef cnp.npy_intp shape[2]
    shape[0] = B
    shape[1] = I
    cdef cnp.ndarray dx = cnp.PyArray_EMPTY(2, shape, typenum, 0)
    shape[1] = H
    cdef cnp.ndarray dh = cnp.PyArray_EMPTY(2, shape, typenum, 0)
    cdef size_t itemsize = cnp.PyArray_ITEMSIZE(weight_hh)
    # dgi (B, 3H), rh (B, H), and a scratch bias gradient (3H,)
    cdef char *work = <char *> malloc((<size_t> B * 4 * H + 3 * H) * itemsize)
    if work == NULL:
        raise MemoryError()
    cdef void *dgi = work
    cdef void *rh = work + B * 3 * H * itemsize
    cdef void *db = work + B * 4 * H * itemsize
    if dbias is not None:
        db = cnp.PyArray_DATA(<cnp.ndarray> dbias)
    else:
        memset(db, 0, 3 * H * itemsize)
    if typenum == cnp.NPY_FLOAT32:
        gru_seed_cell_backward_work(
            <float *> cnp.PyArray_DATA(dx), <float *> cnp.PyArray_DATA(dh),
            <float *> cnp.PyArray_DATA(dweight_ih), <float *> cnp.PyArray_DATA(dweight_hh),
            <float *> db, <float *> dgi, <float *> rh, <float *> cnp.PyArray_DATA(d),
            <float *> cnp.PyArray_DATA(gates), <float *> cnp.PyArray_DATA(x),
            <float *> cnp.PyArray_DATA(h), <float *> cnp.PyArray_DATA(weight_ih),
            <float *> cnp.PyArray_DATA(weight_hh), B, I, H)
    else:
        gru_seed_cell_backward_work(
            <double *> cnp.PyArray_DATA(dx), <double *> cnp.PyArray_DATA(dh),
            <double *> cnp.PyArray_DATA(dweight_ih), <double *> cnp.PyArray_DATA(dweight_hh),
            <double *> db, <double *> dgi, <double *> rh, <double *> cnp.PyArray_DATA(d),
            <double *> cnp.PyArray_DATA(gates), <double *> cnp.PyArray_DATA(x),
            <double *> cnp.PyArray_DATA(h), <double *> cnp.PyArray_DATA(weight_ih),
            <double *> cnp.PyArray_DATA(weight_hh), B, I, H)
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
    # dh: dL/d(state), carried backwards through time
    memcpy(dh, dh_n, BH * sizeof(floating))
    for s in range(T):
        t = step_at(T - 1 - s, T, reverse)
        p = prev_index(t, reverse)
        mask_rows_sum(dh_next, dh, doutput + t * BH, lengths, t, B, H)
        gru_step_backward_work(dgi + t * 3 * BH, dgh + t * 3 * BH, dh_prev, dh_next,
                               gates + t * 4 * BH, hs + p * BH, weight_hh, B, H)
        keep_invalid_rows(dh_prev, dh, lengths, t, B, H)
        swap = dh
        dh = dh_prev
        dh_prev = swap
    memcpy(dh0, dh, BH * sizeof(floating))
    # gh = h W_hh^T + b_hh, h the previous states: hs[0:T], or hs[1:T+1] reverse
    gemm(c't', c'n', 3 * H, H, T * B, 1, dgh, 3 * H, hs + prev_index(0, reverse) * BH, H,
         1, dweight_hh, H)
    add_colsum(dbias_hh, dgh, T * B, 3 * H)
    input_backward(dx, dweight_ih, dbias_ih, dgi, x, weight_ih, T * B, I, 3 * H)


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
    memcpy(dh, dh_n, BH * sizeof(floating))
    for s in range(T):
        t = step_at(T - 1 - s, T, reverse)
        p = prev_index(t, reverse)
        mask_rows_sum(dh_next, dh, doutput + t * BH, lengths, t, B, H)
        gru_seed_step_backward_work(dgi + t * 3 * BH, dh_prev, dh_next, gates + t * 3 * BH,
                                    hs + p * BH, weight_hh, B, H)
        keep_invalid_rows(dh_prev, dh, lengths, t, B, H)
        swap = dh
        dh = dh_prev
        dh_prev = swap
    memcpy(dh0, dh, BH * sizeof(floating))
    gru_seed_dweight_hh_work(dweight_hh, rh, dgi, gates, hs + prev_index(0, reverse) * BH,
                             T * B, H)
    input_backward(dx, dweight_ih, dbias, dgi, x, weight_ih, T * B, I, 3 * H)


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
    # dgi, dgh (T, B, 3H) and dh, dh_prev, dh_next (B, H) in one block
    cdef floating *work = <floating *> malloc((2 * TG + 3 * BH) * sizeof(floating))
    if work == NULL:
        raise MemoryError()
    with nogil:
        gru_seq_backward_work(&dx[0, 0, 0], &dh0[0, 0], &dweight_ih[0, 0], &dweight_hh[0, 0],
                              &dbias_ih[0], &dbias_hh[0], work, work + TG, work + 2 * TG,
                              work + 2 * TG + BH, work + 2 * TG + 2 * BH, &doutput[0, 0, 0],
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
    # dgi (T, B, 3H), rh (T, B, H) and dh, dh_prev, dh_next (B, H) in one block
    cdef floating *work = <floating *> malloc((TG + T * BH + 3 * BH) * sizeof(floating))
    if work == NULL:
        raise MemoryError()
    with nogil:
        gru_seed_seq_backward_work(&dx[0, 0, 0], &dh0[0, 0], &dweight_ih[0, 0],
                                   &dweight_hh[0, 0], &dbias[0], work, work + TG,
                                   work + TG + T * BH, work + TG + (T + 1) * BH,
                                   work + TG + (T + 2) * BH, &doutput[0, 0, 0], &dh_n[0, 0],
                                   &gates[0, 0, 0], &hs[0, 0, 0], &x[0, 0, 0],
                                   &weight_ih[0, 0], &weight_hh[0, 0], &lengths[0], reverse,
                                   T, B, I, H)
        free(work)
