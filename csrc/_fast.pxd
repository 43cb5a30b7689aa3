# The cells' one-call fast path, shared by gru.pyx, gru_seed.pyx, rnn.pyx and lstm.pyx.
#
# A cell's fast functions take the caller's arrays as objects and check, in
# C, that each is exactly what the raw-pointer kernels take: an ndarray (not
# a subclass) of the weights' dtype, C-contiguous, aligned, of the right
# shape. Anything else makes them return None, and the cell then validates in
# Python, which converts the input or raises the message that names it.
# Nothing here raises on bad input; nothing here is a module at run time.
# Each module that cimports this calls cnp.import_array() once.

cimport numpy as cnp


cdef inline bint plain_array(object a, int typenum) noexcept:
    # an exact ndarray of typenum, in this machine's byte order, that a
    # raw-pointer kernel can read
    return (cnp.PyArray_CheckExact(a)
            and cnp.PyArray_TYPE(<cnp.ndarray> a) == typenum
            and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray> a)
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray> a)
            and cnp.PyArray_ISALIGNED(<cnp.ndarray> a))


cdef inline Py_ssize_t rows_of(object a, Py_ssize_t cols, bint batched) noexcept:
    # B for a plain (B, cols) array when batched, 1 for a (cols,) one; -1 otherwise
    cdef cnp.ndarray arr = <cnp.ndarray> a
    if batched:
        if cnp.PyArray_NDIM(arr) == 2 and cnp.PyArray_DIM(arr, 1) == cols:
            return cnp.PyArray_DIM(arr, 0)
        return -1
    if cnp.PyArray_NDIM(arr) == 1 and cnp.PyArray_DIM(arr, 0) == cols:
        return 1
    return -1


cdef inline Py_ssize_t step_rows(object x, object h, Py_ssize_t I, Py_ssize_t H,
                                 int typenum) noexcept:
    # A step's inputs: x (I,) and h (H,), or x (B, I) and h (B, H) with B >= 1.
    # Returns B, or -1 if they are not exactly that.
    if not (plain_array(x, typenum) and plain_array(h, typenum)):
        return -1
    cdef bint batched = cnp.PyArray_NDIM(<cnp.ndarray> x) == 2
    cdef Py_ssize_t B = rows_of(x, I, batched)
    if B < 1 or rows_of(h, H, batched) != B:
        return -1
    return B


cdef inline bint upstream_fits(object d, Py_ssize_t B, Py_ssize_t H, bint batched,
                               int typenum) noexcept:
    # A gradient into a step's backward: (B, H) batched; (H,) or (1, H) unbatched.
    if not plain_array(d, typenum):
        return False
    return rows_of(d, H, True) == B or (not batched and rows_of(d, H, False) == 1)


cdef inline cnp.ndarray new_array(int ndim, Py_ssize_t rows, Py_ssize_t cols, int typenum):
    # an uninitialised (rows, cols) array, or (cols,) when ndim == 1
    cdef cnp.npy_intp shape[2]
    shape[0] = rows
    shape[1] = cols
    if ndim == 1:
        return cnp.PyArray_EMPTY(1, &shape[1], typenum, 0)
    return cnp.PyArray_EMPTY(2, shape, typenum, 0)


cdef inline void *data(object a) noexcept:
    return cnp.PyArray_DATA(<cnp.ndarray> a)
