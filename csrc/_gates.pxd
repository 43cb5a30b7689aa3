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
    void lstm_row_forward_d(double *output, double *h_state, double *c_state, double *gates,
                            const double *gi, const double *weight_hh, const double *bias_hh,
                            Py_ssize_t state_step, int n, int H, int reverse)
    void lstm_row_forward_f(float *output, float *h_state, float *c_state, float *gates,
                            const float *gi, const float *weight_hh, const float *bias_hh,
                            Py_ssize_t state_step, int n, int H, int reverse)
    void lstm_row_backward_d(double *da, double *dh, double *dc, const double *doutput,
                             const double *gates, const double *c_state,
                             const double *weight_hh, int n, int H, int reverse)
    void lstm_row_backward_f(float *da, float *dh, float *dc, const float *doutput,
                             const float *gates, const float *c_state,
                             const float *weight_hh, int n, int H, int reverse)
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
    void ln_gru_gates_forward_d(double *h_next, double *gates, const double *u_hat,
                                const double *v_hat, const double *h, const double *b_ih,
                                const double *b_hh, const double *gamma_ih, const double *gamma_hh,
                                int ldg, int B, int H)
    void ln_gru_gates_forward_f(float *h_next, float *gates, const float *u_hat,
                                const float *v_hat, const float *h, const float *b_ih,
                                const float *b_hh, const float *gamma_ih, const float *gamma_hh,
                                int ldg, int B, int H)
    void ln_gru_gates_backward_d(double *dgi, double *dgh, double *dh, const double *dh_next,
                                 const double *gates, const double *h, int ldg, int B, int H)
    void ln_gru_gates_backward_f(float *dgi, float *dgh, float *dh, const float *dh_next,
                                 const float *gates, const float *h, int ldg, int B, int H)
    void ln_lstm_gates_forward_d(double *c_next, double *gates, const double *u_hat,
                                 const double *v_hat, const double *c, const double *b_ih,
                                 const double *b_hh, const double *gamma_ih, const double *gamma_hh,
                                 int ldg, int B, int H)
    void ln_lstm_gates_forward_f(float *c_next, float *gates, const float *u_hat,
                                 const float *v_hat, const float *c, const float *b_ih,
                                 const float *b_hh, const float *gamma_ih, const float *gamma_hh,
                                 int ldg, int B, int H)
    void ln_lstm_output_forward_d(double *h_next, double *tanh_l, const double *o, const double *c_hat,
                                  const double *gamma_c, const double *beta_c, int ldg, int B, int H)
    void ln_lstm_output_forward_f(float *h_next, float *tanh_l, const float *o, const float *c_hat,
                                  const float *gamma_c, const float *beta_c, int ldg, int B, int H)
    void ln_lstm_output_backward_d(double *dl, const double *dh_next, const double *o,
                                   const double *tanh_l, int ldg, int B, int H)
    void ln_lstm_output_backward_f(float *dl, const float *dh_next, const float *o,
                                   const float *tanh_l, int ldg, int B, int H)
    void ln_lstm_gates_backward_d(double *da, double *dc, const double *dh_next, const double *dc_next,
                                  const double *gates, const double *c, int ldg, int B, int H)
    void ln_lstm_gates_backward_f(float *da, float *dc, const float *dh_next, const float *dc_next,
                                  const float *gates, const float *c, int ldg, int B, int H)
    void ln_row_center_d(double *out, const double *x, double mean, Py_ssize_t n)
    void ln_row_center_f(float *out, const float *x, float mean, Py_ssize_t n)
    void ln_row_scale_d(double *row, double inv, Py_ssize_t n)
    void ln_row_scale_f(float *row, float inv, Py_ssize_t n)
    void ln_row_backward_d(double *dx, const double *x_hat, double inv, double mean_d, double mean_dx,
                           Py_ssize_t n)
    void ln_row_backward_f(float *dx, const float *x_hat, float inv, float mean_d, float mean_dx,
                           Py_ssize_t n)
    void ln_scale_columns_d(double *out, int ldo, const double *a, int lda, const double *gain,
                            int B, int F)
    void ln_scale_columns_f(float *out, int ldo, const float *a, int lda, const float *gain,
                            int B, int F)
    void add_colsum_d(double *dst, const double *a, int lda, int B, int F)
    void add_colsum_f(float *dst, const float *a, int lda, int B, int F)
    void ln_add_colsum_product_d(double *dst, const double *a, int lda, const double *c, int ldc,
                                 int B, int F)
    void ln_add_colsum_product_f(float *dst, const float *a, int lda, const float *c, int ldc,
                                 int B, int F)
    double ln_row_sum_d(const double *a, const double *c, Py_ssize_t n)
    float ln_row_sum_f(const float *a, const float *c, Py_ssize_t n)


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


cdef inline void ln_gru_gates_forward(
    floating *h_next, floating *gates, const floating *u_hat, const floating *v_hat,
    const floating *h, const floating *b_ih, const floating *b_hh,
    const floating *gamma_ih, const floating *gamma_hh, int ldg, int B, int H,
) noexcept nogil:
    if floating is float:
        ln_gru_gates_forward_f(h_next, gates, u_hat, v_hat, h, b_ih, b_hh, gamma_ih, gamma_hh, ldg, B, H)
    else:
        ln_gru_gates_forward_d(h_next, gates, u_hat, v_hat, h, b_ih, b_hh, gamma_ih, gamma_hh, ldg, B, H)


cdef inline void ln_gru_gates_backward(
    floating *dgi, floating *dgh, floating *dh, const floating *dh_next,
    const floating *gates, const floating *h, int ldg, int B, int H,
) noexcept nogil:
    if floating is float:
        ln_gru_gates_backward_f(dgi, dgh, dh, dh_next, gates, h, ldg, B, H)
    else:
        ln_gru_gates_backward_d(dgi, dgh, dh, dh_next, gates, h, ldg, B, H)


cdef inline void lstm_row_forward(
    floating *output, floating *h_state, floating *c_state, floating *gates,
    const floating *gi, const floating *weight_hh, const floating *bias_hh,
    Py_ssize_t state_step, int n, int H, bint reverse,
) noexcept nogil:
    if floating is float:
        lstm_row_forward_f(output, h_state, c_state, gates, gi, weight_hh, bias_hh, state_step,
                           n, H, reverse)
    else:
        lstm_row_forward_d(output, h_state, c_state, gates, gi, weight_hh, bias_hh, state_step,
                           n, H, reverse)


cdef inline void lstm_row_backward(
    floating *da, floating *dh, floating *dc, const floating *doutput, const floating *gates,
    const floating *c_state, const floating *weight_hh, int n, int H, bint reverse,
) noexcept nogil:
    if floating is float:
        lstm_row_backward_f(da, dh, dc, doutput, gates, c_state, weight_hh, n, H, reverse)
    else:
        lstm_row_backward_d(da, dh, dc, doutput, gates, c_state, weight_hh, n, H, reverse)


cdef inline void ln_lstm_gates_forward(
    floating *c_next, floating *gates, const floating *u_hat, const floating *v_hat,
    const floating *c, const floating *b_ih, const floating *b_hh,
    const floating *gamma_ih, const floating *gamma_hh, int ldg, int B, int H,
) noexcept nogil:
    if floating is float:
        ln_lstm_gates_forward_f(c_next, gates, u_hat, v_hat, c, b_ih, b_hh, gamma_ih, gamma_hh, ldg, B, H)
    else:
        ln_lstm_gates_forward_d(c_next, gates, u_hat, v_hat, c, b_ih, b_hh, gamma_ih, gamma_hh, ldg, B, H)


cdef inline void ln_lstm_output_forward(
    floating *h_next, floating *tanh_l, const floating *o, const floating *c_hat,
    const floating *gamma_c, const floating *beta_c, int ldg, int B, int H,
) noexcept nogil:
    if floating is float:
        ln_lstm_output_forward_f(h_next, tanh_l, o, c_hat, gamma_c, beta_c, ldg, B, H)
    else:
        ln_lstm_output_forward_d(h_next, tanh_l, o, c_hat, gamma_c, beta_c, ldg, B, H)


cdef inline void ln_lstm_output_backward(
    floating *dl, const floating *dh_next, const floating *o, const floating *tanh_l,
    int ldg, int B, int H,
) noexcept nogil:
    if floating is float:
        ln_lstm_output_backward_f(dl, dh_next, o, tanh_l, ldg, B, H)
    else:
        ln_lstm_output_backward_d(dl, dh_next, o, tanh_l, ldg, B, H)


cdef inline void ln_lstm_gates_backward(
    floating *da, floating *dc, const floating *dh_next, const floating *dc_next,
    const floating *gates, const floating *c, int ldg, int B, int H,
) noexcept nogil:
    if floating is float:
        ln_lstm_gates_backward_f(da, dc, dh_next, dc_next, gates, c, ldg, B, H)
    else:
        ln_lstm_gates_backward_d(da, dc, dh_next, dc_next, gates, c, ldg, B, H)


cdef inline void ln_row_center(
    floating *out, const floating *x, floating mean, Py_ssize_t n,
) noexcept nogil:
    if floating is float:
        ln_row_center_f(out, x, mean, n)
    else:
        ln_row_center_d(out, x, mean, n)


cdef inline void ln_row_scale(
    floating *row, floating inv, Py_ssize_t n,
) noexcept nogil:
    if floating is float:
        ln_row_scale_f(row, inv, n)
    else:
        ln_row_scale_d(row, inv, n)


cdef inline void ln_row_backward(
    floating *dx, const floating *x_hat, floating inv, floating mean_d,
    floating mean_dx, Py_ssize_t n,
) noexcept nogil:
    if floating is float:
        ln_row_backward_f(dx, x_hat, inv, mean_d, mean_dx, n)
    else:
        ln_row_backward_d(dx, x_hat, inv, mean_d, mean_dx, n)


cdef inline void ln_scale_columns(
    floating *out, int ldo, const floating *a, int lda, const floating *gain,
    int B, int F,
) noexcept nogil:
    if floating is float:
        ln_scale_columns_f(out, ldo, a, lda, gain, B, F)
    else:
        ln_scale_columns_d(out, ldo, a, lda, gain, B, F)


cdef inline void add_colsum_ld(
    floating *dst, const floating *a, int lda, int B, int F,
) noexcept nogil:
    # dst (F,) += a (B, F, row stride lda).sum(axis=0), in NumPy's order
    if floating is float:
        add_colsum_f(dst, a, lda, B, F)
    else:
        add_colsum_d(dst, a, lda, B, F)


cdef inline void ln_add_colsum_product(
    floating *dst, const floating *a, int lda, const floating *c, int ldc,
    int B, int F,
) noexcept nogil:
    if floating is float:
        ln_add_colsum_product_f(dst, a, lda, c, ldc, B, F)
    else:
        ln_add_colsum_product_d(dst, a, lda, c, ldc, B, F)


cdef inline floating ln_row_sum(const floating *a, const floating *c, Py_ssize_t n) noexcept nogil:
    if floating is float:
        return ln_row_sum_f(a, c, n)
    else:
        return ln_row_sum_d(a, c, n)
