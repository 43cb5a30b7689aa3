/*
 * _gates.h: the element-wise gate math of every cell, one fused pass over a
 * step's (B, H) block, in C so that the compiler vectorises the loop over j
 * (the element functions come from _vmath.h: no libm calls, no branches).
 * The Cython step functions (gru.pyx, gru_seed.pyx, rnn.pyx, lstm.pyx,
 * lstm_peephole.pyx, lstm_proj.pyx) call these between their BLAS products;
 * the loops are the ones those files used to hold, with the same operations
 * in the same order.
 *
 * The kernels are written once, in _gates_t.h, over an element type VT and a
 * name suffix VS(name), and instantiated here for double (_d) and float (_f).
 * Each is multi-versioned (VM_CLONES: SSE2 / AVX2 / AVX-512F, chosen at load
 * time). Buffers are C-contiguous row-major; the comments give their shapes.
 * Pointers marked VM_RESTRICT must not overlap any other argument (the one
 * exception, lstm_peephole_gates_forward's keep, points into gates but at
 * elements that no other argument reaches).
 */
#ifndef BPTT_GATES_H
#define BPTT_GATES_H

#include <math.h>       /* INFINITY */

#include "_vmath.h"

/* Below this hidden size a loop over the units fills no vector: the GRU and
 * LSTM forward kernels then run on blocks of this many, padded with zeros */
#define VM_NARROW 16

/* Before a loop over one block, whose iterations are one vector operation:
 * GCC otherwise unrolls it completely before vectorising, and then vectorises
 * the loop around it instead, into in-order scalar sums. */
#if defined(__GNUC__) && !defined(__clang__)
#define VM_KEEP_LOOP _Pragma("GCC unroll 1")
#else
#define VM_KEEP_LOOP
#endif

/* add_colsum's accumulators (on the stack) */
#define VM_COLSUM_BLOCK 256

/* the activation codes of bptt's RNN: bptt._families.ACTIVATIONS */
#define VM_TANH 0
#define VM_RELU 1
#define VM_SIGMOID 2

#define VT double
#define VS(name) name##_d
#define VM_SIGMOID_T vm_sigmoid_d
#define VM_TANH_T vm_tanh_d
#include "_gates_t.h"
#undef VT
#undef VS
#undef VM_SIGMOID_T
#undef VM_TANH_T

#define VT float
#define VS(name) name##_f
#define VM_SIGMOID_T vm_sigmoid_f
#define VM_TANH_T vm_tanh_f
#include "_gates_t.h"
#undef VT
#undef VS
#undef VM_SIGMOID_T
#undef VM_TANH_T

/* the element functions over whole arrays (tests: bptt._cython._vmath_check) */
VM_ARRAY(vm_exp_array_d, double, vm_exp_d)
VM_ARRAY(vm_exp_array_f, float, vm_exp_f)
VM_ARRAY(vm_sigmoid_array_d, double, vm_sigmoid_d)
VM_ARRAY(vm_sigmoid_array_f, float, vm_sigmoid_f)
VM_ARRAY(vm_tanh_array_d, double, vm_tanh_d)
VM_ARRAY(vm_tanh_array_f, float, vm_tanh_f)

#endif /* BPTT_GATES_H */
