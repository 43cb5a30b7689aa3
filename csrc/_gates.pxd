# The C gate kernels of _gates.h (written in _gates_t.h) and the element
# functions of _vmath.h, with one `floating` dispatcher per kernel so that the
# fused Cython workers call them as they call gemm. Everything here is inline:
# no `_gates` module exists at run time.
#
# Buffers are raw pointers to C-contiguous row-major arrays (shapes in
# _gates_t.h). Output buffers must not overlap any other argument (they are
# `restrict` in C).

from cython cimport floating

cdef extern from "_gates.h" nogil:
    const int VM_HAVE_CLONES        # 1: SSE2 / AVX2 / AVX-512F versions, picked at load time

    double vm_sigmoid_d(double x)
    float vm_sigmoid_f(float x)
    double vm_tanh_d(double x)
    float vm_tanh_f(float x)

    void vm_exp_array_d(double *y, const double *x, Py_ssize_t n)
    void vm_exp_array_f(float *y, const float *x, Py_ssize_t n)
    void vm_sigmoid_array_d(double *y, const double *x, Py_ssize_t n)
    void vm_sigmoid_array_f(float *y, const float *x, Py_ssize_t n)
    void vm_tanh_array_d(double *y, const double *x, Py_ssize_t n)
    void vm_tanh_array_f(float *y, const float *x, Py_ssize_t n)

    void gru_gates_forward_d(double *h_next, double *gates, const double *gi, const double *h,
                             const double *bias_hh, int B, int H)
    void gru_gates_forward_f(float *h_next, float *gates, const float *gi, const float *h,
                             const float *bias_hh, int B, int H)
    void gru_gates_backward_d(double *dgi, double *dgh, double *dh, const double *dh_next,
                              const double *gates, const double *h, int B, int H)
    void gru_gates_backward_f(float *dgi, float *dgh, float *dh, const float *dh_next,
                              const float *gates, const float *h, int B, int H)
    void gru_seed_gates_forward_rz_d(double *rh, double *gates, const double *gi,
                                     const double *h, const double *bias_hh, int B, int H)
    void gru_seed_gates_forward_rz_f(float *rh, float *gates, const float *gi,
                                     const float *h, const float *bias_hh, int B, int H)
    void gru_seed_gates_forward_h_d(double *h_next, double *gates, const double *gi,
                                    const double *h, const double *bias_hh, int B, int H)
    void gru_seed_gates_forward_h_f(float *h_next, float *gates, const float *gi,
                                    const float *h, const float *bias_hh, int B, int H)
    void gru_seed_gates_backward_zh_d(double *dgi, const double *dh_next, const double *gates,
                                      const double *h, int B, int H)
    void gru_seed_gates_backward_zh_f(float *dgi, const float *dh_next, const float *gates,
                                      const float *h, int B, int H)
    void gru_seed_gates_backward_r_d(double *dgi, double *dh, const double *dh_next,
                                     const double *gates, const double *h, int B, int H)
    void gru_seed_gates_backward_r_f(float *dgi, float *dh, const float *dh_next,
                                     const float *gates, const float *h, int B, int H)
    void rnn_gates_forward_d(double *h_next, const double *gi, const double *bias_hh,
                             int activation, int B, int H)
    void rnn_gates_forward_f(float *h_next, const float *gi, const float *bias_hh,
                             int activation, int B, int H)
    void rnn_gates_backward_d(double *da, const double *dh_next, const double *h_next,
                              int activation, Py_ssize_t N)
    void rnn_gates_backward_f(float *da, const float *dh_next, const float *h_next,
                              int activation, Py_ssize_t N)
    void lstm_gates_forward_d(double *h_next, double *c_next, double *gates, const double *gi,
                              const double *c, const double *bias_hh, int B, int H)
    void lstm_gates_forward_f(float *h_next, float *c_next, float *gates, const float *gi,
                              const float *c, const float *bias_hh, int B, int H)
    void lstm_gates_backward_d(double *da, double *dc, const double *dh_next,
                               const double *dc_next, const double *gates, const double *c,
                               int B, int H)
    void lstm_gates_backward_f(float *da, float *dc, const float *dh_next,
                               const float *dc_next, const float *gates, const float *c,
                               int B, int H)
    void lstm_peephole_gates_forward_d(double *h_next, double *c_next, double *gates, double *keep,
                                       const double *gi, const double *c, const double *bias_hh,
                                       const double *peephole, double clip, int B, int H)
    void lstm_peephole_gates_forward_f(float *h_next, float *c_next, float *gates, float *keep,
                                       const float *gi, const float *c, const float *bias_hh,
                                       const float *peephole, float clip, int B, int H)
    void lstm_peephole_gates_backward_d(double *da, double *dc, double *dpeephole,
                                        const double *dh_next, const double *dc_next,
                                        const double *gates, const double *c,
                                        const double *c_next, const double *peephole,
                                        int B, int H)
    void lstm_peephole_gates_backward_f(float *da, float *dc, float *dpeephole,
                                        const float *dh_next, const float *dc_next,
                                        const float *gates, const float *c,
                                        const float *c_next, const float *peephole,
                                        int B, int H)
    void lstm_proj_gates_forward_d(double *gi, double *c_next, double *gates, const double *c,
                                   const double *bias_hh, int B, int H)
    void lstm_proj_gates_forward_f(float *gi, float *c_next, float *gates, const float *c,
                                   const float *bias_hh, int B, int H)
    void lstm_proj_gates_backward_d(double *da, double *dc, const double *dc_next,
                                    const double *gates, const double *c, int B, int H)
    void lstm_proj_gates_backward_f(float *da, float *dc, const float *dc_next,
                                    const float *gates, const float *c, int B, int H)


cdef inline floating sigmoid(floating a) noexcept nogil:
    # 1 / (1 + exp(-a)) from exp(-|a|): never overflows, NaN stays NaN
    if floating is float:
        return vm_sigmoid_f(a)
    else:
        return vm_sigmoid_d(a)


cdef inline floating tanh_(floating a) noexcept nogil:
    if floating is float:
        return vm_tanh_f(a)
    else:
        return vm_tanh_d(a)


cdef inline void gru_gates_forward(
    floating *h_next, floating *gates, const floating *gi, const floating *h,
    const floating *bias_hh, int B, int H,
) noexcept nogil:
    if floating is float:
        gru_gates_forward_f(h_next, gates, gi, h, bias_hh, B, H)
    else:
        gru_gates_forward_d(h_next, gates, gi, h, bias_hh, B, H)


cdef inline void gru_gates_backward(
    floating *dgi, floating *dgh, floating *dh, const floating *dh_next,
    const floating *gates, const floating *h, int B, int H,
) noexcept nogil:
    if floating is float:
        gru_gates_backward_f(dgi, dgh, dh, dh_next, gates, h, B, H)
    else:
        gru_gates_backward_d(dgi, dgh, dh, dh_next, gates, h, B, H)


cdef inline void gru_seed_gates_forward_rz(
    floating *rh, floating *gates, const floating *gi, const floating *h,
    const floating *bias_hh, int B, int H,
) noexcept nogil:
    if floating is float:
        gru_seed_gates_forward_rz_f(rh, gates, gi, h, bias_hh, B, H)
    else:
        gru_seed_gates_forward_rz_d(rh, gates, gi, h, bias_hh, B, H)


cdef inline void gru_seed_gates_forward_h(
    floating *h_next, floating *gates, const floating *gi, const floating *h,
    const floating *bias_hh, int B, int H,
) noexcept nogil:
    if floating is float:
        gru_seed_gates_forward_h_f(h_next, gates, gi, h, bias_hh, B, H)
    else:
        gru_seed_gates_forward_h_d(h_next, gates, gi, h, bias_hh, B, H)


cdef inline void gru_seed_gates_backward_zh(
    floating *dgi, const floating *dh_next, const floating *gates, const floating *h,
    int B, int H,
) noexcept nogil:
    if floating is float:
        gru_seed_gates_backward_zh_f(dgi, dh_next, gates, h, B, H)
    else:
        gru_seed_gates_backward_zh_d(dgi, dh_next, gates, h, B, H)


cdef inline void gru_seed_gates_backward_r(
    floating *dgi, floating *dh, const floating *dh_next, const floating *gates,
    const floating *h, int B, int H,
) noexcept nogil:
    if floating is float:
        gru_seed_gates_backward_r_f(dgi, dh, dh_next, gates, h, B, H)
    else:
        gru_seed_gates_backward_r_d(dgi, dh, dh_next, gates, h, B, H)


cdef inline void rnn_gates_forward(
    floating *h_next, const floating *gi, const floating *bias_hh, int activation, int B, int H,
) noexcept nogil:
    if floating is float:
        rnn_gates_forward_f(h_next, gi, bias_hh, activation, B, H)
    else:
        rnn_gates_forward_d(h_next, gi, bias_hh, activation, B, H)


cdef inline void rnn_gates_backward(
    floating *da, const floating *dh_next, const floating *h_next, int activation, Py_ssize_t N,
) noexcept nogil:
    if floating is float:
        rnn_gates_backward_f(da, dh_next, h_next, activation, N)
    else:
        rnn_gates_backward_d(da, dh_next, h_next, activation, N)


cdef inline void lstm_gates_forward(
    floating *h_next, floating *c_next, floating *gates, const floating *gi,
    const floating *c, const floating *bias_hh, int B, int H,
) noexcept nogil:
    if floating is float:
        lstm_gates_forward_f(h_next, c_next, gates, gi, c, bias_hh, B, H)
    else:
        lstm_gates_forward_d(h_next, c_next, gates, gi, c, bias_hh, B, H)


cdef inline void lstm_gates_backward(
    floating *da, floating *dc, const floating *dh_next, const floating *dc_next,
    const floating *gates, const floating *c, int B, int H,
) noexcept nogil:
    if floating is float:
        lstm_gates_backward_f(da, dc, dh_next, dc_next, gates, c, B, H)
    else:
        lstm_gates_backward_d(da, dc, dh_next, dc_next, gates, c, B, H)


cdef inline void lstm_peephole_gates_forward(
    floating *h_next, floating *c_next, floating *gates, const floating *gi,
    const floating *c, const floating *bias_hh, const floating *peephole, floating clip,
    int B, int H,
) noexcept nogil:
    if floating is float:
        lstm_peephole_gates_forward_f(h_next, c_next, gates, gates + 5 * H, gi, c,
                                      bias_hh, peephole, clip, B, H)
    else:
        lstm_peephole_gates_forward_d(h_next, c_next, gates, gates + 5 * H, gi, c,
                                      bias_hh, peephole, clip, B, H)


cdef inline void lstm_peephole_gates_backward(
    floating *da, floating *dc, floating *dpeephole, const floating *dh_next,
    const floating *dc_next, const floating *gates, const floating *c, const floating *c_next,
    const floating *peephole, int B, int H,
) noexcept nogil:
    if floating is float:
        lstm_peephole_gates_backward_f(da, dc, dpeephole, dh_next, dc_next, gates, c, c_next,
                                       peephole, B, H)
    else:
        lstm_peephole_gates_backward_d(da, dc, dpeephole, dh_next, dc_next, gates, c, c_next,
                                       peephole, B, H)


cdef inline void lstm_proj_gates_forward(
    floating *gi, floating *c_next, floating *gates, const floating *c,
    const floating *bias_hh, int B, int H,
) noexcept nogil:
    if floating is float:
        lstm_proj_gates_forward_f(gi, c_next, gates, c, bias_hh, B, H)
    else:
        lstm_proj_gates_forward_d(gi, c_next, gates, c, bias_hh, B, H)


cdef inline void lstm_proj_gates_backward(
    floating *da, floating *dc, const floating *dc_next, const floating *gates,
    const floating *c, int B, int H,
) noexcept nogil:
    if floating is float:
        lstm_proj_gates_backward_f(da, dc, dc_next, gates, c, B, H)
    else:
        lstm_proj_gates_backward_d(da, dc, dc_next, gates, c, B, H)
