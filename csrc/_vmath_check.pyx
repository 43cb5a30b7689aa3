"""Test-only access to the element functions of _vmath.h (exp, sigmoid, tanh).

tests/test_vmath.py measures their error against extended-precision
references through these wrappers. Each applies the function to a whole
1-D array with the same multi-versioned, vectorised C loop the gate kernels
are built from, so what is measured is what the kernels run.
"""

from cython cimport floating

from _gates cimport (VM_HAVE_CLONES, vm_exp_array_d, vm_exp_array_f, vm_sigmoid_array_d,
                     vm_sigmoid_array_f, vm_tanh_array_d, vm_tanh_array_f)

#: True if the kernels were built for SSE2, AVX2 and AVX-512F, picked at load time
HAVE_TARGET_CLONES = bool(VM_HAVE_CLONES)


def exp(floating[::1] y, const floating[::1] x):
    """y[i] = exp(x[i]); y and x of one length and dtype, not overlapping."""
    with nogil:
        if floating is float:
            vm_exp_array_f(&y[0], &x[0], x.shape[0])
        else:
            vm_exp_array_d(&y[0], &x[0], x.shape[0])


def sigmoid(floating[::1] y, const floating[::1] x):
    """y[i] = 1 / (1 + exp(-x[i]))."""
    with nogil:
        if floating is float:
            vm_sigmoid_array_f(&y[0], &x[0], x.shape[0])
        else:
            vm_sigmoid_array_d(&y[0], &x[0], x.shape[0])


def tanh(floating[::1] y, const floating[::1] x):
    """y[i] = tanh(x[i])."""
    with nogil:
        if floating is float:
            vm_tanh_array_f(&y[0], &x[0], x.shape[0])
        else:
            vm_tanh_array_d(&y[0], &x[0], x.shape[0])
