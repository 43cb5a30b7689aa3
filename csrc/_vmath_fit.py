"""Derive the polynomial coefficients of csrc/_vmath.h (run: python csrc/_vmath_fit.py).

Not part of the package or the build: this is the derivation of the constants
in the header, kept next to it so that anyone can check or refit them. Needs
mpmath (installed with torch, or `pip install mpmath`).

Each polynomial is a weighted minimax fit found by the Remez exchange
algorithm in 60-digit arithmetic, so that the fitted error is that of the
final element function in RELATIVE terms:

exp     exp(r) = 1 + r + r^2 P(r),  |r| <= R = 0.3466 ~ ln(2)/2 (range reduction
        leaves r there; the fit interval is slightly wider). P fits
        g(r) = (exp(r) - 1 - r) / r^2 with weight r^2 / exp(r), which makes the
        fitted error the relative error of exp(r) itself.
tanh    tanh(x) = x + x^3 Q(x^2) for |x| < 0.55 (where tanh(x) ~ 0.5; above it the
        exp form is used). In s = x^2, Q fits q(s) = (tanh(sqrt s) - sqrt s) / s^1.5
        with weight s sqrt(s) / tanh(sqrt s): again the relative error of tanh.

The printed coefficients are rounded to the target precision (float64 or
float32) and the fit's relative error is reported; the header quotes them.
"""

import mpmath as mp

mp.mp.dps = 60


def remez(f, w, a, b, degree, iterations=30, grid=6000):
    """Coefficients c[0..degree] minimising max |w(x) (f(x) - sum c_k x^k)| on [a, b]."""
    n = degree + 1
    # start from Chebyshev extrema
    xs = [(a + b) / 2 + (b - a) / 2 * mp.cos(mp.pi * i / n) for i in range(n + 1)][::-1]
    # a zero weight (r = 0 for exp, s = 0 for tanh) cannot be a reference point
    xs = [x + (b - a) / 100 if w(x) < mp.mpf(10) ** -30 else x for x in xs]
    dense = [a + (b - a) * mp.mpf(i) / grid for i in range(grid + 1)]
    fd = [f(x) for x in dense]
    wd = [w(x) for x in dense]
    c = None
    E = mp.mpf(0)
    for _ in range(iterations):
        # solve w(x_i) (f(x_i) - p(x_i)) = (-1)^i E for c and E
        A = mp.matrix(n + 1, n + 1)
        rhs = mp.matrix(n + 1, 1)
        for i, x in enumerate(xs):
            for k in range(n):
                A[i, k] = x**k
            A[i, n] = (-1) ** i / w(x)
            rhs[i] = f(x)
        sol = mp.lu_solve(A, rhs)
        c = [sol[k] for k in range(n)]
        E = sol[n]
        err = [wd[i] * (fd[i] - mp.polyval(c[::-1], dense[i])) for i in range(len(dense))]
        err = [e if wd[i] > 0 else None for i, e in enumerate(err)]
        live = [i for i, e in enumerate(err) if e is not None]
        # new reference: the extremum of each run of equal sign
        ext = []
        i = 0
        while i < len(live):
            j = i
            best = live[i]
            while j < len(live) and mp.sign(err[live[j]]) == mp.sign(err[live[i]]):
                if abs(err[live[j]]) > abs(err[best]):
                    best = live[j]
                j += 1
            ext.append(best)
            i = j
        if len(ext) < n + 1:
            break
        # keep n + 1 alternating extrema containing the largest one
        while len(ext) > n + 1:
            if abs(err[ext[0]]) < abs(err[ext[-1]]):
                ext.pop(0)
            else:
                ext.pop()
        new = [dense[k] for k in ext]
        if all(abs(p - q) < mp.mpf(10) ** -40 for p, q in zip(new, xs, strict=True)):
            break
        xs = new
    worst = max(abs(e) for e in err if e is not None)
    return c, E, worst


def rounded_error(c, f, w, a, b, to, grid=6000):
    """Max weighted error after rounding each coefficient to the target precision."""
    cr = [mp.mpf(to(float(x))) for x in c]
    worst = 0
    for i in range(grid + 1):
        x = a + (b - a) * mp.mpf(i) / grid
        worst = max(worst, abs(w(x) * (f(x) - mp.polyval(cr[::-1], x))))
    return cr, worst


def g_exp(r):
    return mp.mpf(1) / 2 if r == 0 else (mp.expm1(r) - r) / r**2


def w_exp(r):
    return r**2 / mp.exp(r)


def q_tanh(s):
    if s == 0:
        return -mp.mpf(1) / 3
    x = mp.sqrt(s)
    return (mp.tanh(x) - x) / s / x


def w_tanh(s):
    if s == 0:
        return mp.mpf(0)
    x = mp.sqrt(s)
    return s * x / mp.tanh(x)


def main():
    import numpy as np

    def f64(v):
        return float(np.float64(v))

    def f32(v):
        return float(np.float32(v))

    # Range-reduction constants. LN2_HI is ln 2 cut to few enough bits that
    # n * LN2_HI is exact for every n the clamped argument can produce
    # (|n| <= 1077 < 2^11 in float64, |n| <= 151 < 2^8 in float32), so
    # x - n * LN2_HI is exact (Sterbenz); LN2_LO is the rest of ln 2.
    ln2 = mp.log(2)
    for name, bits, to, fmt in (("float64", 42, f64, "%.17g"), ("float32", 16, f32, "%.9gf")):
        hi = mp.floor(ln2 * 2**bits) / 2**bits
        assert to(float(hi)) == float(hi)
        print(f"{name}: LN2_HI = {fmt % float(hi)} ({float(hi).hex()}), "
              f"LN2_LO = {fmt % to(float(ln2 - hi))}, LOG2E = {fmt % to(float(1 / ln2))}")

    R = mp.mpf("0.3466")
    T = mp.mpf("0.55")
    jobs = [
        ("exp, float64: P(r), degree 9", g_exp, w_exp, -R, R, 9, f64, "%.17g"),
        ("exp, float32: P(r), degree 4", g_exp, w_exp, -R, R, 4, f32, "%.9gf"),
        ("tanh, float64: Q(s), s = x^2, degree 9", q_tanh, w_tanh, 0, T * T, 9, f64, "%.17g"),
        ("tanh, float32: Q(s), s = x^2, degree 4", q_tanh, w_tanh, 0, T * T, 4, f32, "%.9gf"),
    ]
    for name, f, w, a, b, degree, to, fmt in jobs:
        a, b = mp.mpf(a), mp.mpf(b)
        # The leading coefficient is fixed first (rounded to the target
        # precision: 1/2 for exp, the float nearest -1/3 for tanh), then the
        # rest is refitted around it: rounding c0 after the fit would cost
        # far more than the fit's own error.
        c0 = mp.mpf(to(float(f(mp.mpf(0)))))

        def f1(x, f=f, c0=c0):
            return mp.mpf(0) if x == 0 else (f(x) - c0) / x

        def w1(x, w=w):
            return w(x) * abs(x)

        rest, E, worst = remez(f1, w1, a, b, degree - 1)
        c = [c0, *rest]
        cr, worst_r = rounded_error(c, f, w, a, b, to)
        print(f"{name}: minimax relative error {mp.nstr(abs(E), 3)} "
              f"(grid {mp.nstr(worst, 3)}), with rounded coefficients {mp.nstr(worst_r, 3)} "
              f"= 2^{mp.nstr(mp.log(worst_r, 2), 4)}")
        for k, v in enumerate(cr):
            print(f"    c{k} = {fmt % float(v)}")


if __name__ == "__main__":
    main()
