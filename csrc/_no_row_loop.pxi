# The driver's one-row hooks (_sequence.pxi) for a family without a one-row
# loop: each answers False, and the driver runs its steps. A family module
# includes this file before _sequence.pxi.


cdef inline bint row_forward(
    floating *output, floating **state, bint keep, floating *gates, const floating *gi,
    const floating *weight_hh, const floating *bias_hh, floating **extras, floating option,
    int n, int H, int K, bint reverse,
) noexcept nogil:
    return False


cdef inline bint row_backward(
    floating *dgi, floating **dcarry, const floating *doutput, const floating *gates,
    floating **states, const floating *weight_hh, floating **extras, floating **dextras,
    floating option, int n, int H, int K, bint reverse,
) noexcept nogil:
    return False
