/*
 * _gates_t.h: the gate kernels over one element type, included by _gates.h
 * once per type with VT (double or float), VS(name) (name_d or name_f),
 * VM_SIGMOID_T and VM_TANH_T (the element functions of that type) defined.
 * No include guard, on purpose.
 *
 * Every kernel is one pass over the rows b and, inside, a loop over j that
 * the compiler vectorises: contiguous loads and stores, arithmetic and
 * selects only (the GRU and LSTM forwards have a second form for H below
 * VM_NARROW, the same operations on 16-wide blocks padded with zeros).
 * Constants are cast to VT so that float kernels stay in
 * float (no silent promotion to double). The [tags] name the equations in
 * bptt._numpy and SPEC.md.
 */

/* ---------------------------------------------------------------------------
 * GRU, torch formulation: gates r, z, n
 * ------------------------------------------------------------------------- */

VM_KERNEL VS(gru_gates_forward)(
    VT *VM_RESTRICT h_next,         /* (B, H) written */
    VT *VM_RESTRICT gates,          /* (B, 4H): in, h W_hh^T in [:, :3H]; out [r | z | n | hn] */
    const VT *VM_RESTRICT gi,       /* (B, 3H) x W_ih^T + b_ih */
    const VT *VM_RESTRICT h,        /* (B, H) */
    const VT *VM_RESTRICT bias_hh,  /* (3H,) */
    int B, int H)
{
    ptrdiff_t b, j, k;
    /* the narrow form's blocks: a row's H < 16 units fill no vector, so they
     * are copied into 16-wide blocks (zeros past H), each element function
     * runs once on a whole block, and the results are copied back: the same
     * operations on the same values */
    VT blk_r[VM_NARROW], blk_z[VM_NARROW], blk_hn[VM_NARROW], blk_an[VM_NARROW];
    VT blk_n[VM_NARROW];
    for (b = 0; b < B; b++) {
        VT *g = gates + b * 4 * (ptrdiff_t) H;
        const VT *a = gi + b * 3 * (ptrdiff_t) H;
        const VT *hb = h + b * (ptrdiff_t) H;
        VT *hnext = h_next + b * (ptrdiff_t) H;
        if (H < VM_NARROW) {
            for (k = 0; k < VM_NARROW; k++)
                blk_r[k] = blk_z[k] = blk_hn[k] = blk_an[k] = 0;
            for (j = 0; j < H; j++) {
                blk_r[j] = a[j] + (g[j] + bias_hh[j]);
                blk_z[j] = a[H + j] + (g[H + j] + bias_hh[H + j]);
                blk_hn[j] = g[2 * H + j] + bias_hh[2 * H + j];
                blk_an[j] = a[2 * H + j];
            }
            for (k = 0; k < VM_NARROW; k++) {
                blk_r[k] = VM_SIGMOID_T(blk_r[k]);                               /* [torch-GRU r] */
                blk_z[k] = VM_SIGMOID_T(blk_z[k]);                               /* [torch-GRU z] */
                blk_n[k] = VM_TANH_T(blk_an[k] + blk_r[k] * blk_hn[k]);          /* [torch-GRU n] */
            }
            for (j = 0; j < H; j++) {
                hnext[j] = ((VT) 1 - blk_z[j]) * blk_n[j] + blk_z[j] * hb[j];    /* [torch-GRU h'] */
                g[j] = blk_r[j];
                g[H + j] = blk_z[j];
                g[2 * H + j] = blk_n[j];
                g[3 * H + j] = blk_hn[j];
            }
            continue;
        }
        for (j = 0; j < H; j++) {
            VT r = VM_SIGMOID_T(a[j] + (g[j] + bias_hh[j]));                     /* [torch-GRU r] */
            VT z = VM_SIGMOID_T(a[H + j] + (g[H + j] + bias_hh[H + j]));         /* [torch-GRU z] */
            VT hn = g[2 * H + j] + bias_hh[2 * H + j];
            VT n = VM_TANH_T(a[2 * H + j] + r * hn);                             /* [torch-GRU n] */
            hnext[j] = ((VT) 1 - z) * n + z * hb[j];                             /* [torch-GRU h'] */
            g[j] = r;
            g[H + j] = z;
            g[2 * H + j] = n;
            g[3 * H + j] = hn;
        }
    }
}

VM_KERNEL VS(gru_gates_backward)(
    VT *VM_RESTRICT dgi,            /* (B, 3H) written, dL/d(gi) */
    VT *VM_RESTRICT dgh,            /* (B, 3H) written, dL/d(h W_hh^T + b_hh) */
    VT *VM_RESTRICT dh,             /* (B, H) written: the direct path only */
    const VT *VM_RESTRICT dh_next,  /* (B, H) */
    const VT *VM_RESTRICT gates,    /* (B, 4H) [r | z | n | hn] */
    const VT *VM_RESTRICT h,        /* (B, H) */
    int B, int H)
{
    ptrdiff_t b, j;
    for (b = 0; b < B; b++) {
        const VT *g = gates + b * 4 * (ptrdiff_t) H;
        const VT *hb = h + b * (ptrdiff_t) H;
        const VT *dnext = dh_next + b * (ptrdiff_t) H;
        VT *dhb = dh + b * (ptrdiff_t) H;
        VT *dgib = dgi + b * 3 * (ptrdiff_t) H;
        VT *dghb = dgh + b * 3 * (ptrdiff_t) H;
        for (j = 0; j < H; j++) {
            VT r = g[j], z = g[H + j], n = g[2 * H + j], hn = g[3 * H + j];
            VT d = dnext[j];
            /* h' = (1 - z) n + z h */
            VT dn = d * ((VT) 1 - z);                                    /* [torch-GRU dn] */
            VT dz = d * (hb[j] - n);                                     /* [torch-GRU dz] */
            /* n = tanh(a_n), a_n = gi_n + r hn */
            VT dan = dn * ((VT) 1 - n * n);                              /* [torch-GRU da_n] */
            VT dr = dan * hn;                                            /* [torch-GRU dr] */
            VT dhn = dan * r;                                            /* [torch-GRU dhn] */
            /* r, z = sigma(a_r), sigma(a_z) */
            VT dar = dr * r * ((VT) 1 - r);                              /* [torch-GRU da_r] */
            VT daz = dz * z * ((VT) 1 - z);                              /* [torch-GRU da_z] */
            dhb[j] = d * z;                          /* first term of [torch-GRU dh] */
            dgib[j] = dar;
            dgib[H + j] = daz;
            dgib[2 * H + j] = dan;
            dghb[j] = dar;
            dghb[H + j] = daz;
            dghb[2 * H + j] = dhn;
        }
    }
}

/* ---------------------------------------------------------------------------
 * GRU, seed formulation: gates r, z, h~ (reset before the product). Each
 * direction is two passes with a matrix product between them.
 * ------------------------------------------------------------------------- */

VM_KERNEL VS(gru_seed_gates_forward_rz)(
    VT *VM_RESTRICT rh,             /* (B, H) written: r (.) h */
    VT *VM_RESTRICT gates,          /* (B, 3H): in, h [W_rh; W_zh]^T in [:, :2H]; out [r | z | .] */
    const VT *VM_RESTRICT gi,       /* (B, 3H) x W_ih^T + b_ih */
    const VT *VM_RESTRICT h,        /* (B, H) */
    const VT *VM_RESTRICT bias_hh,  /* (3H,) */
    int B, int H)
{
    ptrdiff_t b, j;
    for (b = 0; b < B; b++) {
        VT *g = gates + b * 3 * (ptrdiff_t) H;
        const VT *a = gi + b * 3 * (ptrdiff_t) H;
        const VT *hb = h + b * (ptrdiff_t) H;
        VT *rhb = rh + b * (ptrdiff_t) H;
        for (j = 0; j < H; j++) {
            VT r = VM_SIGMOID_T(a[j] + (g[j] + bias_hh[j]));                 /* [seed-GRU r] */
            VT z = VM_SIGMOID_T(a[H + j] + (g[H + j] + bias_hh[H + j]));     /* [seed-GRU z] */
            g[j] = r;
            g[H + j] = z;
            rhb[j] = r * hb[j];
        }
    }
}

VM_KERNEL VS(gru_seed_gates_forward_h)(
    VT *VM_RESTRICT h_next,         /* (B, H) written */
    VT *VM_RESTRICT gates,          /* (B, 3H): in [r | z | (r h) W_h^T]; out [r | z | h~] */
    const VT *VM_RESTRICT gi,       /* (B, 3H) x W_ih^T + b_ih */
    const VT *VM_RESTRICT h,        /* (B, H) */
    const VT *VM_RESTRICT bias_hh,  /* (3H,) */
    int B, int H)
{
    ptrdiff_t b, j;
    for (b = 0; b < B; b++) {
        VT *g = gates + b * 3 * (ptrdiff_t) H;
        const VT *a = gi + b * 3 * (ptrdiff_t) H;
        const VT *hb = h + b * (ptrdiff_t) H;
        VT *hnext = h_next + b * (ptrdiff_t) H;
        for (j = 0; j < H; j++) {
            VT z = g[H + j];
            VT hc = VM_TANH_T(a[2 * H + j] + (g[2 * H + j] + bias_hh[2 * H + j]));  /* [seed-GRU h~] */
            hnext[j] = ((VT) 1 - z) * hb[j] + z * hc;                        /* [seed-GRU h'] */
            g[2 * H + j] = hc;
        }
    }
}

VM_KERNEL VS(gru_seed_gates_backward_zh)(
    VT *VM_RESTRICT dgi,            /* (B, 3H) written in [:, H:]: [. | daz | dah] */
    const VT *VM_RESTRICT dh_next,  /* (B, H) */
    const VT *VM_RESTRICT gates,    /* (B, 3H) [r | z | h~] */
    const VT *VM_RESTRICT h,        /* (B, H) */
    int B, int H)
{
    ptrdiff_t b, j;
    for (b = 0; b < B; b++) {
        const VT *g = gates + b * 3 * (ptrdiff_t) H;
        const VT *hb = h + b * (ptrdiff_t) H;
        const VT *dnext = dh_next + b * (ptrdiff_t) H;
        VT *dg = dgi + b * 3 * (ptrdiff_t) H;
        for (j = 0; j < H; j++) {
            VT z = g[H + j], hc = g[2 * H + j], d = dnext[j];
            /* h' = (1 - z) h + z h~ */
            VT dhc = d * z;                                              /* [seed-GRU dh~] */
            VT dz = d * (hc - hb[j]);                                    /* [seed-GRU dz] */
            /* h~ = tanh(a_h); z = sigma(a_z) */
            dg[H + j] = dz * z * ((VT) 1 - z);                           /* [seed-GRU da_z] */
            dg[2 * H + j] = dhc * ((VT) 1 - hc * hc);                    /* [seed-GRU da_h] */
        }
    }
}

VM_KERNEL VS(gru_seed_gates_backward_r)(
    VT *VM_RESTRICT dgi,            /* (B, 3H) written in [:, :H]: dar */
    VT *VM_RESTRICT dh,             /* (B, H): in drh = dL/d(r h); out the direct paths */
    const VT *VM_RESTRICT dh_next,  /* (B, H) */
    const VT *VM_RESTRICT gates,    /* (B, 3H) [r | z | h~] */
    const VT *VM_RESTRICT h,        /* (B, H) */
    int B, int H)
{
    ptrdiff_t b, j;
    for (b = 0; b < B; b++) {
        const VT *g = gates + b * 3 * (ptrdiff_t) H;
        const VT *hb = h + b * (ptrdiff_t) H;
        const VT *dnext = dh_next + b * (ptrdiff_t) H;
        VT *dhb = dh + b * (ptrdiff_t) H;
        VT *dg = dgi + b * 3 * (ptrdiff_t) H;
        for (j = 0; j < H; j++) {
            VT r = g[j], z = g[H + j], drh = dhb[j];
            /* r (.) h, r = sigma(a_r) */
            VT dr = drh * hb[j];                                         /* [seed-GRU dr] */
            dg[j] = dr * r * ((VT) 1 - r);                               /* [seed-GRU da_r] */
            /* the direct path of h' = (1 - z) h + ..., then the one through r (.) h */
            dhb[j] = dnext[j] * ((VT) 1 - z) + drh * r;        /* [seed-GRU dh], paths 1, 2 */
        }
    }
}

/* ---------------------------------------------------------------------------
 * Elman RNN: h' = act(a), a = gi + h W_hh^T + b_hh; one loop per activation
 * ------------------------------------------------------------------------- */

VM_KERNEL VS(rnn_gates_forward)(
    VT *VM_RESTRICT h_next,         /* (B, H): in h W_hh^T; out h' */
    const VT *VM_RESTRICT gi,       /* (B, H) */
    const VT *VM_RESTRICT bias_hh,  /* (H,) */
    int activation,                 /* VM_TANH, VM_RELU or VM_SIGMOID */
    int B, int H)
{
    ptrdiff_t b, j;
    for (b = 0; b < B; b++) {
        VT *y = h_next + b * (ptrdiff_t) H;
        const VT *a = gi + b * (ptrdiff_t) H;
        if (activation == VM_TANH) {
            for (j = 0; j < H; j++)
                y[j] = VM_TANH_T(a[j] + y[j] + bias_hh[j]);                  /* [RNN h'] */
        } else if (activation == VM_RELU) {
            for (j = 0; j < H; j++) {
                VT v = a[j] + y[j] + bias_hh[j];
                y[j] = v < 0 ? (VT) 0 : v;      /* max(v, 0) that lets NaN through */
            }
        } else {
            for (j = 0; j < H; j++)
                y[j] = VM_SIGMOID_T(a[j] + y[j] + bias_hh[j]);
        }
    }
}

VM_KERNEL VS(rnn_gates_backward)(
    VT *VM_RESTRICT da,             /* (N,) written, dL/d(pre-activation) */
    const VT *VM_RESTRICT dh_next,  /* (N,) */
    const VT *VM_RESTRICT h_next,   /* (N,) h' = act(a) */
    int activation,
    ptrdiff_t N)
{
    /* act'(a) from y = act(a), so pre-activations need not be kept   [RNN da] */
    ptrdiff_t k;
    if (activation == VM_TANH) {
        for (k = 0; k < N; k++)
            da[k] = dh_next[k] * ((VT) 1 - h_next[k] * h_next[k]);
    } else if (activation == VM_RELU) {
        for (k = 0; k < N; k++)
            da[k] = dh_next[k] * (h_next[k] > 0 ? (VT) 1 : (VT) 0);
    } else {
        for (k = 0; k < N; k++)
            da[k] = dh_next[k] * (h_next[k] * ((VT) 1 - h_next[k]));
    }
}

/* ---------------------------------------------------------------------------
 * LSTM: gates i, f, g, o
 * ------------------------------------------------------------------------- */

VM_KERNEL VS(lstm_gates_forward)(
    VT *VM_RESTRICT h_next,         /* (B, H) written */
    VT *VM_RESTRICT c_next,         /* (B, H) written */
    VT *VM_RESTRICT gates,          /* (B, 5H): in, h W_hh^T in [:, :4H]; out [i | f | g | o | tanh(c')] */
    const VT *VM_RESTRICT gi,       /* (B, 4H) */
    const VT *VM_RESTRICT c,        /* (B, H) */
    const VT *VM_RESTRICT bias_hh,  /* (4H,) */
    int B, int H)
{
    ptrdiff_t b, j, k;
    /* the narrow form's blocks, as in gru_gates_forward */
    VT blk_i[VM_NARROW], blk_f[VM_NARROW], blk_g[VM_NARROW], blk_o[VM_NARROW];
    VT blk_c[VM_NARROW], blk_cn[VM_NARROW], blk_tc[VM_NARROW];
    for (b = 0; b < B; b++) {
        VT *g = gates + b * 5 * (ptrdiff_t) H;
        const VT *a = gi + b * 4 * (ptrdiff_t) H;
        const VT *cb = c + b * (ptrdiff_t) H;
        VT *hnext = h_next + b * (ptrdiff_t) H;
        VT *cnext = c_next + b * (ptrdiff_t) H;
        if (H < VM_NARROW) {
            for (k = 0; k < VM_NARROW; k++)
                blk_i[k] = blk_f[k] = blk_g[k] = blk_o[k] = blk_c[k] = 0;
            for (j = 0; j < H; j++) {
                blk_i[j] = a[j] + g[j] + bias_hh[j];
                blk_f[j] = a[H + j] + g[H + j] + bias_hh[H + j];
                blk_g[j] = a[2 * H + j] + g[2 * H + j] + bias_hh[2 * H + j];
                blk_o[j] = a[3 * H + j] + g[3 * H + j] + bias_hh[3 * H + j];
                blk_c[j] = cb[j];
            }
            for (k = 0; k < VM_NARROW; k++) {
                blk_i[k] = VM_SIGMOID_T(blk_i[k]);                               /* [LSTM i] */
                blk_f[k] = VM_SIGMOID_T(blk_f[k]);                               /* [LSTM f] */
                blk_g[k] = VM_TANH_T(blk_g[k]);                                  /* [LSTM g] */
                blk_o[k] = VM_SIGMOID_T(blk_o[k]);                               /* [LSTM o] */
                blk_cn[k] = blk_f[k] * blk_c[k] + blk_i[k] * blk_g[k];           /* [LSTM c'] */
                blk_tc[k] = VM_TANH_T(blk_cn[k]);
            }
            for (j = 0; j < H; j++) {
                cnext[j] = blk_cn[j];
                hnext[j] = blk_o[j] * blk_tc[j];                                 /* [LSTM h'] */
                g[j] = blk_i[j];
                g[H + j] = blk_f[j];
                g[2 * H + j] = blk_g[j];
                g[3 * H + j] = blk_o[j];
                g[4 * H + j] = blk_tc[j];
            }
            continue;
        }
        /* one element function per loop over a row's contiguous gates (i and
         * f side by side): short dependency chains, which the out-of-order
         * core overlaps across iterations (~6% faster than one loop doing
         * all five; the same operations, the same bits) */
        for (j = 0; j < 2 * H; j++)
            g[j] = VM_SIGMOID_T(a[j] + g[j] + bias_hh[j]);                      /* [LSTM i], [LSTM f] */
        for (j = 2 * H; j < 3 * H; j++)
            g[j] = VM_TANH_T(a[j] + g[j] + bias_hh[j]);                         /* [LSTM g] */
        for (j = 3 * H; j < 4 * H; j++)
            g[j] = VM_SIGMOID_T(a[j] + g[j] + bias_hh[j]);                      /* [LSTM o] */
        for (j = 0; j < H; j++) {
            VT cn = g[H + j] * cb[j] + g[j] * g[2 * H + j];                      /* [LSTM c'] */
            VT tc = VM_TANH_T(cn);
            cnext[j] = cn;
            hnext[j] = g[3 * H + j] * tc;                                        /* [LSTM h'] */
            g[4 * H + j] = tc;
        }
    }
}

VM_KERNEL VS(lstm_gates_backward)(
    VT *VM_RESTRICT da,             /* (B, 4H) written, dL/d(pre-activations) */
    VT *VM_RESTRICT dc,             /* (B, H) written */
    const VT *VM_RESTRICT dh_next,  /* (B, H) */
    const VT *VM_RESTRICT dc_next,  /* (B, H), dL/dc' from outside the cell */
    const VT *VM_RESTRICT gates,    /* (B, 5H) [i | f | g | o | tanh(c')] */
    const VT *VM_RESTRICT c,        /* (B, H) */
    int B, int H)
{
    ptrdiff_t b, j;
    for (b = 0; b < B; b++) {
        const VT *g = gates + b * 5 * (ptrdiff_t) H;
        const VT *cb = c + b * (ptrdiff_t) H;
        const VT *dhn_b = dh_next + b * (ptrdiff_t) H;
        const VT *dcn_b = dc_next + b * (ptrdiff_t) H;
        VT *dcb = dc + b * (ptrdiff_t) H;
        VT *d = da + b * 4 * (ptrdiff_t) H;
        for (j = 0; j < H; j++) {
            VT i = g[j], f = g[H + j], gg = g[2 * H + j], o = g[3 * H + j], tc = g[4 * H + j];
            VT dhn = dhn_b[j];
            /* h' = o tanh(c') */
            VT dout = dhn * tc;                                          /* [LSTM do] */
            VT dc_total = dcn_b[j] + dhn * o * ((VT) 1 - tc * tc);       /* [LSTM dc'] */
            /* c' = f c + i g */
            VT df = dc_total * cb[j];                                    /* [LSTM df] */
            VT di = dc_total * gg;                                       /* [LSTM di] */
            VT dg = dc_total * i;                                        /* [LSTM dg] */
            dcb[j] = dc_total * f;                                       /* [LSTM dc] */
            /* i, f, g, o = sigma(a_i), sigma(a_f), tanh(a_g), sigma(a_o):   [LSTM da] */
            d[j] = di * i * ((VT) 1 - i);
            d[H + j] = df * f * ((VT) 1 - f);
            d[2 * H + j] = dg * ((VT) 1 - gg * gg);
            d[3 * H + j] = dout * o * ((VT) 1 - o);
        }
    }
}

/* ---------------------------------------------------------------------------
 * LSTM, one row's whole time loop at a tiny hidden size (H < VM_NARROW, and
 * 4 H H small enough that the drivers' per-step products are plain loops):
 * the steps of the driver (the recurrent product, lstm_gates_forward or
 * lstm_gates_backward, the carry) with the same operations in the same order,
 * so the same bits, but with the state and the weights kept in 16-wide
 * blocks padded with zeros across steps. At hidden 6 a step of the general
 * loop is mostly calls and scalar copies into blocks, whose reload as a
 * vector waits for the copies' stores; here a row's H values are read and
 * written as whole blocks under a mask (j < H), and nothing is copied.
 * (Written as copy loops, which GCC turned into memcpy calls, the loop
 * took 1.4x as long.)
 *
 * Step s runs time t = s (t = n-1-s when reverse); it reads state slot t
 * (t+1 when reverse) and writes slot t+1 (t): slots are state_step apart,
 * and state_step 0 keeps one slot, the initial state in, the final one out.
 * ------------------------------------------------------------------------- */

VM_KERNEL VS(lstm_row_forward)(
    VT *VM_RESTRICT output,         /* (n, H) written: h' of each step */
    VT *VM_RESTRICT h_state,        /* h slots, state_step apart */
    VT *VM_RESTRICT c_state,        /* c slots, state_step apart */
    VT *VM_RESTRICT gates,          /* (n, 5H) written [i | f | g | o | tanh(c')], or NULL */
    const VT *VM_RESTRICT gi,       /* (n, 4H) x W_ih^T + b_ih */
    const VT *VM_RESTRICT weight_hh,/* (4H, H) */
    const VT *VM_RESTRICT bias_hh,  /* (4H,) */
    ptrdiff_t state_step, int n, int H, int reverse)
{
    /* blocks of 4 VM_NARROW: gate q's units at [q VM_NARROW, q VM_NARROW + H) */
    enum { W4 = 4 * VM_NARROW };
    ptrdiff_t s, t, j, k, q, u, read, write;
    VT w[VM_NARROW][W4];            /* w[k]: column k of W_hh, in blocks */
    VT bias[W4], a[W4], prod[W4], act[W4];
    VT h[VM_NARROW], c[VM_NARROW], tc[VM_NARROW];
    for (j = 0; j < W4; j++) {      /* entry j: gate q's unit u */
        q = j / VM_NARROW;
        u = j % VM_NARROW;
        for (k = 0; k < H; k++)     /* rows k >= H are never read */
            w[k][j] = u < H ? weight_hh[(q * H + u) * (ptrdiff_t) H + k] : 0;
        bias[j] = u < H ? bias_hh[q * H + u] : 0;
    }
    read = reverse ? n * state_step : 0;
    for (j = 0; j < VM_NARROW; j++) {
        h[j] = j < H ? h_state[read + j] : 0;
        c[j] = j < H ? c_state[read + j] : 0;
    }
    for (s = 0; s < n; s++) {
        t = reverse ? n - 1 - s : s;
        write = (reverse ? t : t + 1) * state_step;
        const VT *at = gi + t * 4 * (ptrdiff_t) H;
        for (q = 0; q < 4; q++)
            for (j = 0; j < VM_NARROW; j++)
                a[q * VM_NARROW + j] = j < H ? at[q * H + j] : 0;
        /* h W_hh^T, each entry summed over k in order (as small_gemm) */
        for (j = 0; j < W4; j++)
            prod[j] = 0;
        for (k = 0; k < H; k++) {
            VT hk = h[k];
            for (j = 0; j < W4; j++)
                prod[j] = prod[j] + hk * w[k][j];
        }
        for (j = 0; j < W4; j++)
            act[j] = a[j] + prod[j] + bias[j];
        for (j = 0; j < VM_NARROW; j++) {
            VT i = VM_SIGMOID_T(act[j]);                                       /* [LSTM i] */
            VT f = VM_SIGMOID_T(act[VM_NARROW + j]);                           /* [LSTM f] */
            VT g = VM_TANH_T(act[2 * VM_NARROW + j]);                          /* [LSTM g] */
            VT o = VM_SIGMOID_T(act[3 * VM_NARROW + j]);                       /* [LSTM o] */
            c[j] = f * c[j] + i * g;                                           /* [LSTM c'] */
            tc[j] = VM_TANH_T(c[j]);
            h[j] = o * tc[j];                                                  /* [LSTM h'] */
            act[j] = i;
            act[VM_NARROW + j] = f;
            act[2 * VM_NARROW + j] = g;
            act[3 * VM_NARROW + j] = o;
        }
        /* the stores, under the mask */
        VT *out = output + t * (ptrdiff_t) H;
        for (j = 0; j < VM_NARROW; j++)
            if (j < H) {
                out[j] = h[j];
                h_state[write + j] = h[j];
                c_state[write + j] = c[j];
            }
        if (gates != NULL) {
            VT *g = gates + t * 5 * (ptrdiff_t) H;
            for (q = 0; q < 4; q++)
                for (j = 0; j < VM_NARROW; j++)
                    if (j < H)
                        g[q * H + j] = act[q * VM_NARROW + j];
            for (j = 0; j < VM_NARROW; j++)
                if (j < H)
                    g[4 * H + j] = tc[j];
        }
    }
}

VM_KERNEL VS(lstm_row_backward)(
    VT *VM_RESTRICT da,             /* (n, 4H) written, dL/d(pre-activations) */
    VT *VM_RESTRICT dh,             /* (H,): dL/dh of the last state in, of the initial out */
    VT *VM_RESTRICT dc,             /* (H,): the same for c */
    const VT *VM_RESTRICT doutput,  /* (n, H) */
    const VT *VM_RESTRICT gates,    /* (n, 5H) lstm_row_forward's */
    const VT *VM_RESTRICT c_state,  /* (n + 1, H) the c slots lstm_row_forward wrote */
    const VT *VM_RESTRICT weight_hh,/* (4H, H) */
    int n, int H, int reverse)
{
    ptrdiff_t s, t, j, k, p;
    /* w[p][k] = W_hh[p, k]: row p of W_hh */
    VT w[4 * VM_NARROW][VM_NARROW];
    VT dcn[VM_NARROW], total[VM_NARROW];
    VT i[VM_NARROW], f[VM_NARROW], gg[VM_NARROW], o[VM_NARROW], tc[VM_NARROW];
    VT cb[VM_NARROW], dout[VM_NARROW];
    VT d[4 * VM_NARROW];            /* da of the step, gate q's block at d[q VM_NARROW] */
    /* zeros, then the entries (rows p >= 4H are never read) */
    for (p = 0; p < 4 * H; p++) {
        for (k = 0; k < VM_NARROW; k++)
            w[p][k] = 0;
        for (k = 0; k < H; k++)
            w[p][k] = weight_hh[p * (ptrdiff_t) H + k];
    }
    for (j = 0; j < VM_NARROW; j++)
        i[j] = f[j] = gg[j] = o[j] = tc[j] = cb[j] = dout[j] = total[j] = dcn[j] = 0;
    for (j = 0; j < H; j++) {
        total[j] = dh[j];                           /* the carry: dL/dh of the state */
        dcn[j] = dc[j];
    }
    for (s = 0; s < n; s++) {
        t = reverse ? s : n - 1 - s;
        const VT *g = gates + t * 5 * (ptrdiff_t) H;
        const VT *c = c_state + (reverse ? t + 1 : t) * (ptrdiff_t) H;
        const VT *dy = doutput + t * (ptrdiff_t) H;
        /* the step's cache and gradient, read under the mask */
        for (j = 0; j < VM_NARROW; j++) {
            i[j] = j < H ? g[j] : 0;
            f[j] = j < H ? g[H + j] : 0;
            gg[j] = j < H ? g[2 * H + j] : 0;
            o[j] = j < H ? g[3 * H + j] : 0;
            tc[j] = j < H ? g[4 * H + j] : 0;
            cb[j] = j < H ? c[j] : 0;
            dout[j] = j < H ? dy[j] : 0;
        }
        for (j = 0; j < VM_NARROW; j++) {
            VT dhn = total[j] + dout[j];            /* the carry plus the output's gradient */
            /* h' = o tanh(c') */
            VT dO = dhn * tc[j];                                           /* [LSTM do] */
            VT dct = dcn[j] + dhn * o[j] * ((VT) 1 - tc[j] * tc[j]);       /* [LSTM dc'] */
            /* c' = f c + i g */
            VT dF = dct * cb[j];                                           /* [LSTM df] */
            VT dI = dct * gg[j];                                           /* [LSTM di] */
            VT dG = dct * i[j];                                            /* [LSTM dg] */
            dcn[j] = dct * f[j];                                           /* [LSTM dc] */
            /* [LSTM da] */
            d[j] = dI * i[j] * ((VT) 1 - i[j]);
            d[VM_NARROW + j] = dF * f[j] * ((VT) 1 - f[j]);
            d[2 * VM_NARROW + j] = dG * ((VT) 1 - gg[j] * gg[j]);
            d[3 * VM_NARROW + j] = dO * o[j] * ((VT) 1 - o[j]);
        }
        VT *dat = da + t * 4 * (ptrdiff_t) H;
        for (p = 0; p < 4; p++)
            for (j = 0; j < VM_NARROW; j++)
                if (j < H)
                    dat[p * H + j] = d[p * VM_NARROW + j];
        /* [LSTM dh]: dh = da W_hh, each entry summed over the 4H rows in order */
        for (k = 0; k < VM_NARROW; k++)
            total[k] = 0;
        for (p = 0; p < 4; p++)
            for (j = 0; j < H; j++) {
                VT dp = d[p * VM_NARROW + j];
                const VT *row = w[p * H + j];
                VM_KEEP_LOOP
                for (k = 0; k < VM_NARROW; k++)
                    total[k] = total[k] + dp * row[k];
            }
    }
    for (j = 0; j < H; j++) {
        dh[j] = total[j];
        dc[j] = dcn[j];
    }
}

/* ---------------------------------------------------------------------------
 * LSTM with peepholes and a clip of the gates' pre-activations (ONNX):
 * peepholes P = [p_i | p_o | p_f] (3H,); clip 0 for none. Cache (B, 9H):
 * [i | f | g | o | tanh(c') | k_i | k_f | k_g | k_o], k = 1 where the gate's
 * pre-activation lay within the clip, else 0 (NaN: 0, as NumPy's
 * |NaN| <= clip; with no clip every k is 1). The clip is two selects,
 * min(max(a, -clip), clip), that let NaN through.
 * ------------------------------------------------------------------------- */

VM_KERNEL VS(lstm_peephole_gates_forward)(
    VT *VM_RESTRICT h_next,         /* (B, H) written */
    VT *VM_RESTRICT c_next,         /* (B, H) written */
    VT *VM_RESTRICT gates,          /* (B, 9H): in, h W_hh^T in [:, :4H]; out [:, :5H] */
    VT *VM_RESTRICT keep,           /* gates + 5H, row stride 9H: out [k_i | k_f | k_g | k_o];
                                     * apart from gates so that the compiler need not check
                                     * the nine blocks of a row against each other */
    const VT *VM_RESTRICT gi,       /* (B, 4H) */
    const VT *VM_RESTRICT c,        /* (B, H) */
    const VT *VM_RESTRICT bias_hh,  /* (4H,) */
    const VT *VM_RESTRICT peephole, /* (3H,) [p_i | p_o | p_f] */
    VT clip,                        /* 0: no clip */
    int B, int H)
{
    ptrdiff_t b, j;
    /* no clip: the bounds are +-inf (clip(a) = a, NaN too) and k is 1 even for NaN */
    const VT hi = clip != 0 ? clip : (VT) INFINITY, lo = -hi;
    const VT k_out = clip != 0 ? (VT) 0 : (VT) 1;   /* k outside the bounds (or NaN) */
    const VT *p_i = peephole, *p_o = peephole + H, *p_f = peephole + 2 * (ptrdiff_t) H;
    for (b = 0; b < B; b++) {
        VT *g = gates + b * 9 * (ptrdiff_t) H;
        VT *gk = keep + b * 9 * (ptrdiff_t) H;
        const VT *a = gi + b * 4 * (ptrdiff_t) H;
        const VT *cb = c + b * (ptrdiff_t) H;
        VT *hnext = h_next + b * (ptrdiff_t) H;
        VT *cnext = c_next + b * (ptrdiff_t) H;
        /* each g[kH + j] is read (k < 4) before it is written, by the same j:
         * no dependence across j, which GCC would otherwise check at run time
         * for each pair of blocks (more pairs than it is willing to) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC ivdep
#endif
        for (j = 0; j < H; j++) {
            VT cj = cb[j];
            VT ai = (a[j] + g[j]) + bias_hh[j] + p_i[j] * cj;
            VT af = (a[H + j] + g[H + j]) + bias_hh[H + j] + p_f[j] * cj;
            VT ag = (a[2 * H + j] + g[2 * H + j]) + bias_hh[2 * H + j];
            VT ao = (a[3 * H + j] + g[3 * H + j]) + bias_hh[3 * H + j];
            /* [peephole clip]: k, then clip(a) */
            VT ki = ((ai >= lo) & (ai <= hi)) ? (VT) 1 : k_out;
            VT kf = ((af >= lo) & (af <= hi)) ? (VT) 1 : k_out;
            VT kg = ((ag >= lo) & (ag <= hi)) ? (VT) 1 : k_out;
            VT i, f, gg, o, cn, tc, ko;
            ai = ai > hi ? hi : ai;
            ai = ai < lo ? lo : ai;
            af = af > hi ? hi : af;
            af = af < lo ? lo : af;
            ag = ag > hi ? hi : ag;
            ag = ag < lo ? lo : ag;
            i = VM_SIGMOID_T(ai);                                    /* [peephole i, f, g] */
            f = VM_SIGMOID_T(af);
            gg = VM_TANH_T(ag);
            cn = f * cj + i * gg;                                    /* [LSTM c'] */
            ao = ao + p_o[j] * cn;
            ko = ((ao >= lo) & (ao <= hi)) ? (VT) 1 : k_out;
            ao = ao > hi ? hi : ao;
            ao = ao < lo ? lo : ao;
            o = VM_SIGMOID_T(ao);                                    /* [peephole o] */
            tc = VM_TANH_T(cn);
            cnext[j] = cn;
            hnext[j] = o * tc;                                       /* [LSTM h'] */
            g[j] = i;
            g[H + j] = f;
            g[2 * H + j] = gg;
            g[3 * H + j] = o;
            g[4 * H + j] = tc;
            gk[j] = ki;
            gk[1 * H + j] = kf;
            gk[2 * H + j] = kg;
            gk[3 * H + j] = ko;
        }
    }
}

VM_KERNEL VS(lstm_peephole_gates_backward)(
    VT *VM_RESTRICT da,             /* (B, 4H) written, dL/d(pre-activations) */
    VT *VM_RESTRICT dc,             /* (B, H) written */
    VT *VM_RESTRICT dpeephole,      /* (3H,) added into: [dp_i | dp_o | dp_f] */
    const VT *VM_RESTRICT dh_next,  /* (B, H) */
    const VT *VM_RESTRICT dc_next,  /* (B, H), dL/dc' from outside the cell */
    const VT *VM_RESTRICT gates,    /* (B, 9H), the cache */
    const VT *VM_RESTRICT c,        /* (B, H) */
    const VT *VM_RESTRICT c_next,   /* (B, H) */
    const VT *VM_RESTRICT peephole, /* (3H,) [p_i | p_o | p_f] */
    int B, int H)
{
    enum { CHUNK = 64 };
    ptrdiff_t b, j, j0, n;
    const VT *p_i = peephole, *p_o = peephole + H, *p_f = peephole + 2 * (ptrdiff_t) H;
    VT s_i[CHUNK], s_o[CHUNK], s_f[CHUNK];
    for (b = 0; b < B; b++) {
        const VT *g = gates + b * 9 * (ptrdiff_t) H;
        const VT *cb = c + b * (ptrdiff_t) H;
        const VT *dhn_b = dh_next + b * (ptrdiff_t) H;
        const VT *dcn_b = dc_next + b * (ptrdiff_t) H;
        VT *dcb = dc + b * (ptrdiff_t) H;
        VT *d = da + b * 4 * (ptrdiff_t) H;
        for (j = 0; j < H; j++) {
            VT i = g[j], f = g[H + j], gg = g[2 * H + j], o = g[3 * H + j], tc = g[4 * H + j];
            VT dhn = dhn_b[j];
            /* h' = o tanh(c'), o = sigma(clip(a_o + p_o c')) */
            VT dao = dhn * tc * o * ((VT) 1 - o) * g[8 * H + j];                 /* [peephole da_o] */
            VT dct = dcn_b[j] + dhn * o * ((VT) 1 - tc * tc) + dao * p_o[j];     /* [peephole dc'] */
            /* c' = f c + i g */
            VT dai = dct * gg * i * ((VT) 1 - i) * g[5 * H + j];                 /* [peephole da_i] */
            VT daf = dct * cb[j] * f * ((VT) 1 - f) * g[6 * H + j];              /* [peephole da_f] */
            VT dag = dct * i * ((VT) 1 - gg * gg) * g[7 * H + j];                /* [peephole da_g] */
            dcb[j] = dct * f + dai * p_i[j] + daf * p_f[j];                      /* [peephole dc] */
            d[j] = dai;
            d[H + j] = daf;
            d[2 * H + j] = dag;
            d[3 * H + j] = dao;
        }
    }
    /* [peephole dP]: summed over the batch (row after row, NumPy's order) into
     * a zeroed chunk, then added; rows are the outer loop so j stays contiguous */
    for (j0 = 0; j0 < H; j0 += CHUNK) {
        n = H - j0 < CHUNK ? H - j0 : CHUNK;
        for (j = 0; j < n; j++) {
            s_i[j] = 0;
            s_o[j] = 0;
            s_f[j] = 0;
        }
        for (b = 0; b < B; b++) {
            const VT *d = da + b * 4 * (ptrdiff_t) H + j0;
            const VT *cb = c + b * (ptrdiff_t) H + j0;
            const VT *cnb = c_next + b * (ptrdiff_t) H + j0;
            for (j = 0; j < n; j++) {
                s_i[j] = s_i[j] + d[j] * cb[j];
                s_o[j] = s_o[j] + d[3 * H + j] * cnb[j];
                s_f[j] = s_f[j] + d[H + j] * cb[j];
            }
        }
        for (j = 0; j < n; j++) {
            dpeephole[j0 + j] += s_i[j];
            dpeephole[H + j0 + j] += s_o[j];
            dpeephole[2 * H + j0 + j] += s_f[j];
        }
    }
}

/* ---------------------------------------------------------------------------
 * LSTM with projections: the LSTM's gates, but h' = W_hr m with m = o tanh(c')
 * (B, H) left for the caller's product, written over gi[:, :H] (the slot of
 * the step's a_i, read just before) so that no (B, H) scratch is needed; and
 * backward from dm, read from da[:, H:2H] before da is written over it. Each
 * in/out buffer is read at [kH + j] before it is written there, by the same j.
 * ------------------------------------------------------------------------- */

VM_KERNEL VS(lstm_proj_gates_forward)(
    VT *VM_RESTRICT gi,             /* (B, 4H): in x W_ih^T + b_ih; out [:, :H] m = o tanh(c') */
    VT *VM_RESTRICT c_next,         /* (B, H) written */
    VT *VM_RESTRICT gates,          /* (B, 5H): in, h W_hh^T in [:, :4H]; out [i | f | g | o | tanh(c')] */
    const VT *VM_RESTRICT c,        /* (B, H) */
    const VT *VM_RESTRICT bias_hh,  /* (4H,) */
    int B, int H)
{
    ptrdiff_t b, j;
    for (b = 0; b < B; b++) {
        VT *g = gates + b * 5 * (ptrdiff_t) H;
        VT *a = gi + b * 4 * (ptrdiff_t) H;
        const VT *cb = c + b * (ptrdiff_t) H;
        VT *cnext = c_next + b * (ptrdiff_t) H;
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC ivdep
#endif
        for (j = 0; j < H; j++) {
            VT i = VM_SIGMOID_T(a[j] + g[j] + bias_hh[j]);                           /* [LSTM i] */
            VT f = VM_SIGMOID_T(a[H + j] + g[H + j] + bias_hh[H + j]);               /* [LSTM f] */
            VT gg = VM_TANH_T(a[2 * H + j] + g[2 * H + j] + bias_hh[2 * H + j]);     /* [LSTM g] */
            VT o = VM_SIGMOID_T(a[3 * H + j] + g[3 * H + j] + bias_hh[3 * H + j]);   /* [LSTM o] */
            VT cn = f * cb[j] + i * gg;                                              /* [LSTM c'] */
            VT tc = VM_TANH_T(cn);
            cnext[j] = cn;
            a[j] = o * tc;                                                /* m, [LSTMP h'] */
            g[j] = i;
            g[H + j] = f;
            g[2 * H + j] = gg;
            g[3 * H + j] = o;
            g[4 * H + j] = tc;
        }
    }
}

VM_KERNEL VS(lstm_proj_gates_backward)(
    VT *VM_RESTRICT da,             /* (B, 4H): in [:, H:2H] dm = dL/dm; out dL/d(pre-activations) */
    VT *VM_RESTRICT dc,             /* (B, H) written */
    const VT *VM_RESTRICT dc_next,  /* (B, H), dL/dc' from outside the cell */
    const VT *VM_RESTRICT gates,    /* (B, 5H) [i | f | g | o | tanh(c')] */
    const VT *VM_RESTRICT c,        /* (B, H) */
    int B, int H)
{
    ptrdiff_t b, j;
    for (b = 0; b < B; b++) {
        const VT *g = gates + b * 5 * (ptrdiff_t) H;
        const VT *cb = c + b * (ptrdiff_t) H;
        const VT *dcn_b = dc_next + b * (ptrdiff_t) H;
        VT *dcb = dc + b * (ptrdiff_t) H;
        VT *d = da + b * 4 * (ptrdiff_t) H;
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC ivdep
#endif
        for (j = 0; j < H; j++) {
            VT i = g[j], f = g[H + j], gg = g[2 * H + j], o = g[3 * H + j], tc = g[4 * H + j];
            VT dm = d[H + j];
            /* m = o tanh(c') */
            VT dout = dm * tc;                                           /* [LSTM do] */
            VT dct = dcn_b[j] + dm * o * ((VT) 1 - tc * tc);             /* [LSTM dc'] */
            /* c' = f c + i g */
            dcb[j] = dct * f;                                            /* [LSTM dc] */
            d[j] = dct * gg * i * ((VT) 1 - i);                          /* [LSTM da] */
            d[H + j] = dct * cb[j] * f * ((VT) 1 - f);
            d[2 * H + j] = dct * i * ((VT) 1 - gg * gg);
            d[3 * H + j] = dout * o * ((VT) 1 - o);
        }
    }
}

/* ---------------------------------------------------------------------------
 * Bias gradients: dst += a.sum(axis=0), in NumPy's order (for each column,
 * row 0, 1, 2, ...). The rows are walked in order, one contiguous pass each,
 * into VM_COLSUM_BLOCK accumulators at a time; summing column by column
 * instead strides through memory (~8x slower for a (T B, 4H) gradient). In C
 * and multi-versioned so that the pass runs on the widest vectors (the
 * Cython-generated code is baseline SSE2).
 * ------------------------------------------------------------------------- */

VM_KERNEL VS(add_colsum)(
    VT *VM_RESTRICT dst,            /* (F,) added into */
    const VT *VM_RESTRICT a, int lda,   /* (B, F), row stride lda */
    int B, int F)
{
    VT s[VM_COLSUM_BLOCK];
    ptrdiff_t b, j, j0, w;
    for (j0 = 0; j0 < F; j0 += VM_COLSUM_BLOCK) {
        w = F - j0 < VM_COLSUM_BLOCK ? F - j0 : VM_COLSUM_BLOCK;
        for (j = 0; j < w; j++)
            s[j] = 0;
        for (b = 0; b < B; b++) {
            const VT *row = a + b * (ptrdiff_t) lda + j0;
            for (j = 0; j < w; j++)
                s[j] = s[j] + row[j];
        }
        for (j = 0; j < w; j++)
            dst[j0 + j] += s[j];
    }
}

/* ---------------------------------------------------------------------------
 * Layer-normalised GRU and LSTM (ln_gru.pyx, ln_lstm.pyx): the gates read
 * the normalised products u^ = LN(x W_ih^T) and v^ = LN(h W_hh^T), which live
 * in the cache row next to the gates, with a gain and a bias each. A cache
 * row has ldg elements; the kernels take its blocks as separate pointers, the
 * ones they write and the ones they read never the same elements. The
 * expressions are in the NumPy twin's order (bptt._numpy.ln_gru, ln_lstm),
 * all in VT: float kernels compute in float, as NumPy does.
 * ------------------------------------------------------------------------- */

VM_KERNEL VS(ln_gru_gates_forward)(
    VT *VM_RESTRICT h_next,         /* (B, H) written */
    VT *VM_RESTRICT gates,          /* (B, 4H), row stride ldg: out [r | z | n | gh_n] */
    const VT *VM_RESTRICT u_hat,    /* (B, 3H), row stride ldg: LN(x W_ih^T) */
    const VT *VM_RESTRICT v_hat,    /* (B, 3H), row stride ldg: LN(h W_hh^T) */
    const VT *VM_RESTRICT h,        /* (B, H) */
    const VT *VM_RESTRICT b_ih,     /* (3H,) */
    const VT *VM_RESTRICT b_hh,     /* (3H,) */
    const VT *VM_RESTRICT gamma_ih, /* (3H,) */
    const VT *VM_RESTRICT gamma_hh, /* (3H,) */
    int ldg, int B, int H)
{
    ptrdiff_t b, j;
    for (b = 0; b < B; b++) {
        VT *g = gates + b * (ptrdiff_t) ldg;
        const VT *u = u_hat + b * (ptrdiff_t) ldg;
        const VT *v = v_hat + b * (ptrdiff_t) ldg;
        const VT *hb = h + b * (ptrdiff_t) H;
        VT *hnext = h_next + b * (ptrdiff_t) H;
        for (j = 0; j < H; j++) {
            /* gi = u^ gamma_ih + b_ih, gh = v^ gamma_hh + b_hh   [LN-GRU gi], [LN-GRU gh] */
            VT air = u[j] * gamma_ih[j] + b_ih[j];
            VT aiz = u[H + j] * gamma_ih[H + j] + b_ih[H + j];
            VT ain = u[2 * H + j] * gamma_ih[2 * H + j] + b_ih[2 * H + j];
            VT ahr = v[j] * gamma_hh[j] + b_hh[j];
            VT ahz = v[H + j] * gamma_hh[H + j] + b_hh[H + j];
            VT ahn = v[2 * H + j] * gamma_hh[2 * H + j] + b_hh[2 * H + j];
            VT r = VM_SIGMOID_T(air + ahr);                                      /* [torch-GRU r] */
            VT z = VM_SIGMOID_T(aiz + ahz);                                      /* [torch-GRU z] */
            VT n = VM_TANH_T(ain + r * ahn);                                     /* [torch-GRU n] */
            hnext[j] = ((VT) 1 - z) * n + z * hb[j];                         /* [torch-GRU h'] */
            g[j] = r;
            g[H + j] = z;
            g[2 * H + j] = n;
            g[3 * H + j] = ahn;
        }
    }
}

VM_KERNEL VS(ln_gru_gates_backward)(
    VT *VM_RESTRICT dgi,            /* (B, 3H) written, dL/d(gi) = [dar | daz | dan] */
    VT *VM_RESTRICT dgh,            /* (B, 3H) written, dL/d(gh) = [dar | daz | dhn] */
    VT *VM_RESTRICT dh,             /* (B, H) written: the direct path only */
    const VT *VM_RESTRICT dh_next,  /* (B, H) */
    const VT *VM_RESTRICT gates,    /* (B, 4H), row stride ldg: [r | z | n | gh_n] */
    const VT *VM_RESTRICT h,        /* (B, H) */
    int ldg, int B, int H)
{
    ptrdiff_t b, j;
    for (b = 0; b < B; b++) {
        const VT *g = gates + b * (ptrdiff_t) ldg;
        const VT *hb = h + b * (ptrdiff_t) H;
        const VT *dnext = dh_next + b * (ptrdiff_t) H;
        VT *dhb = dh + b * (ptrdiff_t) H;
        VT *dgib = dgi + b * 3 * (ptrdiff_t) H;
        VT *dghb = dgh + b * 3 * (ptrdiff_t) H;
        for (j = 0; j < H; j++) {
            VT r = g[j], z = g[H + j], n = g[2 * H + j], hn = g[3 * H + j];
            VT d = dnext[j];
            VT dn = d * ((VT) 1 - z);                                /* [torch-GRU dn] */
            VT dz = d * (hb[j] - n);                                     /* [torch-GRU dz] */
            VT dan = dn * ((VT) 1 - n * n);                          /* [torch-GRU da_n] */
            VT dr = dan * hn;                                            /* [torch-GRU dr] */
            VT dhn = dan * r;                                            /* [torch-GRU dhn] */
            VT dar = dr * r * ((VT) 1 - r);                          /* [torch-GRU da_r] */
            VT daz = dz * z * ((VT) 1 - z);                          /* [torch-GRU da_z] */
            dgib[j] = dar;
            dgib[H + j] = daz;
            dgib[2 * H + j] = dan;
            dghb[j] = dar;
            dghb[H + j] = daz;
            dghb[2 * H + j] = dhn;
            dhb[j] = d * z;                                              /* [LN-GRU dh], first term */
        }
    }
}

VM_KERNEL VS(ln_lstm_gates_forward)(
    VT *VM_RESTRICT c_next,         /* (B, H) written */
    VT *VM_RESTRICT gates,          /* (B, 4H), row stride ldg: out [i | f | g | o] */
    const VT *VM_RESTRICT u_hat,    /* (B, 4H), row stride ldg: LN(x W_ih^T) */
    const VT *VM_RESTRICT v_hat,    /* (B, 4H), row stride ldg: LN(h W_hh^T) */
    const VT *VM_RESTRICT c,        /* (B, H) */
    const VT *VM_RESTRICT b_ih,     /* (4H,) */
    const VT *VM_RESTRICT b_hh,     /* (4H,) */
    const VT *VM_RESTRICT gamma_ih, /* (4H,) */
    const VT *VM_RESTRICT gamma_hh, /* (4H,) */
    int ldg, int B, int H)
{
    ptrdiff_t b, j;
    for (b = 0; b < B; b++) {
        VT *g = gates + b * (ptrdiff_t) ldg;
        const VT *u = u_hat + b * (ptrdiff_t) ldg;
        const VT *v = v_hat + b * (ptrdiff_t) ldg;
        const VT *cb = c + b * (ptrdiff_t) H;
        VT *cnext = c_next + b * (ptrdiff_t) H;
        for (j = 0; j < H; j++) {
            /* a = u^ gamma_ih + b_ih + v^ gamma_hh + b_hh   [LN-LSTM a] */
            VT ai = (u[j] * gamma_ih[j] + b_ih[j])
                    + (v[j] * gamma_hh[j] + b_hh[j]);
            VT af = (u[H + j] * gamma_ih[H + j] + b_ih[H + j])
                    + (v[H + j] * gamma_hh[H + j] + b_hh[H + j]);
            VT ag = (u[2 * H + j] * gamma_ih[2 * H + j] + b_ih[2 * H + j])
                    + (v[2 * H + j] * gamma_hh[2 * H + j] + b_hh[2 * H + j]);
            VT ao = (u[3 * H + j] * gamma_ih[3 * H + j] + b_ih[3 * H + j])
                    + (v[3 * H + j] * gamma_hh[3 * H + j] + b_hh[3 * H + j]);
            VT i = VM_SIGMOID_T(ai);                                             /* [LSTM i] */
            VT f = VM_SIGMOID_T(af);                                             /* [LSTM f] */
            VT gg = VM_TANH_T(ag);                                               /* [LSTM g] */
            VT o = VM_SIGMOID_T(ao);                                             /* [LSTM o] */
            cnext[j] = f * cb[j] + i * gg;                                       /* [LSTM c'] */
            g[j] = i;
            g[H + j] = f;
            g[2 * H + j] = gg;
            g[3 * H + j] = o;
        }
    }
}

VM_KERNEL VS(ln_lstm_output_forward)(
    VT *VM_RESTRICT h_next,         /* (B, H) written */
    VT *VM_RESTRICT tanh_l,         /* (B, H), row stride ldg, written: tanh(c'^ gamma_c + beta_c) */
    const VT *VM_RESTRICT o,        /* (B, H), row stride ldg: the output gate */
    const VT *VM_RESTRICT c_hat,    /* (B, H), row stride ldg: LN(c') */
    const VT *VM_RESTRICT gamma_c,  /* (H,) */
    const VT *VM_RESTRICT beta_c,   /* (H,) */
    int ldg, int B, int H)
{
    ptrdiff_t b, j;
    for (b = 0; b < B; b++) {
        VT *tl = tanh_l + b * (ptrdiff_t) ldg;
        const VT *ob = o + b * (ptrdiff_t) ldg;
        const VT *ch = c_hat + b * (ptrdiff_t) ldg;
        VT *hnext = h_next + b * (ptrdiff_t) H;
        for (j = 0; j < H; j++) {
            VT tc = VM_TANH_T(ch[j] * gamma_c[j] + beta_c[j]);
            hnext[j] = ob[j] * tc;                                               /* [LN-LSTM h'] */
            tl[j] = tc;
        }
    }
}

VM_KERNEL VS(ln_lstm_output_backward)(
    VT *VM_RESTRICT dl,             /* (B, H) written: dL/dl, l = c'^ gamma_c + beta_c */
    const VT *VM_RESTRICT dh_next,  /* (B, H) */
    const VT *VM_RESTRICT o,        /* (B, H), row stride ldg: the output gate */
    const VT *VM_RESTRICT tanh_l,   /* (B, H), row stride ldg: tanh(l) */
    int ldg, int B, int H)
{
    ptrdiff_t b, j;
    for (b = 0; b < B; b++) {
        const VT *ob = o + b * (ptrdiff_t) ldg;
        const VT *tl = tanh_l + b * (ptrdiff_t) ldg;
        const VT *dnext = dh_next + b * (ptrdiff_t) H;
        VT *dlb = dl + b * (ptrdiff_t) H;
        for (j = 0; j < H; j++)
            dlb[j] = dnext[j] * ob[j] * ((VT) 1 - tl[j] * tl[j]);          /* [LN-LSTM dc'] */
    }
}

VM_KERNEL VS(ln_lstm_gates_backward)(
    VT *VM_RESTRICT da,             /* (B, 4H) written, dL/d(pre-activations) */
    VT *VM_RESTRICT dc,             /* (B, H): in the LN path's dL/dc'; out dL/dc */
    const VT *VM_RESTRICT dh_next,  /* (B, H) */
    const VT *VM_RESTRICT dc_next,  /* (B, H), dL/dc' from outside the cell */
    const VT *VM_RESTRICT gates,    /* (B, 5H), row stride ldg: [i | f | g | o | tanh(l)] */
    const VT *VM_RESTRICT c,        /* (B, H) */
    int ldg, int B, int H)
{
    ptrdiff_t b, j;
    for (b = 0; b < B; b++) {
        const VT *g = gates + b * (ptrdiff_t) ldg;
        const VT *cb = c + b * (ptrdiff_t) H;
        const VT *dhn_b = dh_next + b * (ptrdiff_t) H;
        const VT *dcn_b = dc_next + b * (ptrdiff_t) H;
        VT *dcb = dc + b * (ptrdiff_t) H;
        VT *d = da + b * 4 * (ptrdiff_t) H;
        for (j = 0; j < H; j++) {
            VT i = g[j], f = g[H + j], gg = g[2 * H + j], o = g[3 * H + j], tc = g[4 * H + j];
            VT dhn = dhn_b[j];
            VT dct = dcb[j] + dcn_b[j];
            /* c' = f c + i g, and the gates   [LSTM df] ... [LSTM da] */
            d[j] = dct * gg * i * ((VT) 1 - i);
            d[H + j] = dct * cb[j] * f * ((VT) 1 - f);
            d[2 * H + j] = dct * i * ((VT) 1 - gg * gg);
            d[3 * H + j] = dhn * tc * o * ((VT) 1 - o);
            dcb[j] = dct * f;                                            /* [LSTM dc] */
        }
    }
}

/* ---------------------------------------------------------------------------
 * Layer normalisation's passes over a row (_layernorm.pxd): the row sums
 * (ln_row_sum, in NumPy's pairwise order) and the element-wise loops between
 * them; and the gains' scaling and column sums. In place is allowed where noted (no restrict: the compiler checks the
 * overlap once per call and still vectorises).
 * ------------------------------------------------------------------------- */

VM_KERNEL VS(ln_row_center)(
    VT *out,                        /* (n,) written: x - mean; may be x itself */
    const VT *x,                    /* (n,) */
    VT mean, ptrdiff_t n)
{
    ptrdiff_t j;
    for (j = 0; j < n; j++)
        out[j] = x[j] - mean;
}

VM_KERNEL VS(ln_row_scale)(
    VT *VM_RESTRICT row,            /* (n,) scaled in place */
    VT inv, ptrdiff_t n)
{
    ptrdiff_t j;
    for (j = 0; j < n; j++)
        row[j] = row[j] * inv;                                           /* [LN x^] */
}

VM_KERNEL VS(ln_row_backward)(
    VT *VM_RESTRICT dx,             /* (n,): dL/d(x^) in, dL/dx out */
    const VT *VM_RESTRICT x_hat,    /* (n,) */
    VT inv, VT mean_d, VT mean_dx, ptrdiff_t n)
{
    ptrdiff_t j;
    for (j = 0; j < n; j++)
        dx[j] = inv * (dx[j] - mean_d - x_hat[j] * mean_dx);             /* [LN dx] */
}

VM_KERNEL VS(ln_scale_columns)(
    VT *out, int ldo,               /* (B, F) written, row stride ldo; may be a itself */
    const VT *a, int lda,           /* (B, F), row stride lda */
    const VT *VM_RESTRICT gain,     /* (F,) */
    int B, int F)
{
    ptrdiff_t b, j;
    for (b = 0; b < B; b++) {
        VT *o = out + b * (ptrdiff_t) ldo;
        const VT *ab = a + b * (ptrdiff_t) lda;
        for (j = 0; j < F; j++)
            o[j] = ab[j] * gain[j];
    }
}

/* dst += (a (.) c).sum(axis=0), in NumPy's order (each column summed from
 * zero over rows 0, 1, 2, ..., then added), the rows walked contiguously as
 * in add_colsum */
VM_KERNEL VS(ln_add_colsum_product)(
    VT *VM_RESTRICT dst,            /* (F,) added into */
    const VT *VM_RESTRICT a, int lda,   /* (B, F), row stride lda */
    const VT *VM_RESTRICT c, int ldc,   /* (B, F), row stride ldc */
    int B, int F)
{
    VT s[VM_COLSUM_BLOCK];
    ptrdiff_t b, j, j0, w;
    for (j0 = 0; j0 < F; j0 += VM_COLSUM_BLOCK) {
        w = F - j0 < VM_COLSUM_BLOCK ? F - j0 : VM_COLSUM_BLOCK;
        for (j = 0; j < w; j++)
            s[j] = 0;
        for (b = 0; b < B; b++) {
            const VT *ra = a + b * (ptrdiff_t) lda + j0;
            const VT *rc = c + b * (ptrdiff_t) ldc + j0;
            for (j = 0; j < w; j++)
                s[j] = s[j] + ra[j] * rc[j];
        }
        for (j = 0; j < w; j++)
            dst[j0 + j] += s[j];
    }
}

/* sum(a), or sum(a (.) c) with each product rounded first, in NumPy's order
 * (its pairwise_sum: 8 accumulators per block of up to 128, blocks halved
 * recursively), so that a row's mean is NumPy's to the last bit. The loop
 * over the 8 accumulators is one vector of them (each lane its own sum, in
 * the same order); the rest is _layernorm.pxd's row_sum, operation for
 * operation. c may be NULL. */
VM_CLONES __attribute__((unused)) static VT VS(ln_row_sum)(
    const VT *VM_RESTRICT a,        /* (n,) */
    const VT *VM_RESTRICT c,        /* (n,), or NULL */
    ptrdiff_t n)
{
    VT r[8];
    VT res;
    ptrdiff_t i, k, n2;
    if (n < 8) {
        res = 0;
        if (c == NULL) {
            for (i = 0; i < n; i++)
                res += a[i];
        } else {
            for (i = 0; i < n; i++)
                res += a[i] * c[i];
        }
        return res;
    }
    if (n <= 128) {                 /* PW_BLOCKSIZE, NumPy's block */
        if (c == NULL) {
            for (k = 0; k < 8; k++)
                r[k] = a[k];
            for (i = 8; i < n - n % 8; i += 8)
                for (k = 0; k < 8; k++)
                    r[k] += a[i + k];
        } else {
            for (k = 0; k < 8; k++)
                r[k] = a[k] * c[k];
            for (i = 8; i < n - n % 8; i += 8)
                for (k = 0; k < 8; k++)
                    r[k] += a[i + k] * c[i + k];
        }
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        if (c == NULL) {
            for (; i < n; i++)
                res += a[i];
        } else {
            for (; i < n; i++)
                res += a[i] * c[i];
        }
        return res;
    }
    n2 = n / 2;
    n2 -= n2 % 8;
    return VS(ln_row_sum)(a, c, n2) + VS(ln_row_sum)(a + n2, c != NULL ? c + n2 : NULL, n - n2);
}
