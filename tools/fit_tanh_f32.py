#!/usr/bin/env python3
"""Fits the f32 tanh's rational function (src/nn/simd/tanh_lanes.rs: TANH_F32_P, TANH_F32_Q).

tanh x ≈ x P(u)/Q(u), u = x², for |x| ≤ C (8 by default), P of degree m and Q of degree n in u,
P(0) = Q(0) = 1. The fit minimises the largest relative error on 4000 Chebyshev-spaced points in
u by linear programming: |g Q − P| ≤ δ g Q_k with g = tanh(√u)/√u and Q_k the previous
iteration's denominator (Loeb's method), a dozen iterations, keeping the best. It then rounds the
coefficients to f32, evaluates them in f32 with fused multiply-adds (simulated in f64) on a dense
grid, and prints the worst error in units of 2^-23 relative, as the Rust tests measure it.

Usage: python3 tools/fit_tanh_f32.py [m n C]   (default: 6 3 8.0). Needs numpy, scipy, mpmath.
"""
import sys

import mpmath as mp
import numpy as np
from scipy.optimize import linprog

mp.mp.dps = 40


def fit(m, n, c, npts=4000, iters=12):
    s = c * c
    k = np.arange(npts)
    t = 0.5 - 0.5 * np.cos(np.pi * k / (npts - 1))  # u / C² in [0, 1]
    x = np.sqrt(t) * c
    g = np.array([float(mp.tanh(mp.mpf(xi)) / xi) if xi > 0 else 1.0 for xi in x])
    qk = np.ones(npts)
    best = None
    for _ in range(iters):
        a = np.zeros((npts, m + n))
        for i in range(1, m + 1):
            a[:, i - 1] = -t**i
        for j in range(1, n + 1):
            a[:, m + j - 1] = g * t**j
        b0 = g - 1.0
        w = g * qk
        a_ub = np.vstack([np.hstack([a, -w[:, None]]), np.hstack([-a, -w[:, None]])])
        b_ub = np.concatenate([-b0, b0])
        cost = np.zeros(m + n + 1)
        cost[-1] = 1
        r = linprog(cost, A_ub=a_ub, b_ub=b_ub,
                    bounds=[(None, None)] * (m + n) + [(0, None)], method="highs")
        p = np.concatenate([[1.0], r.x[:m]])
        q = np.concatenate([[1.0], r.x[m:m + n]])
        pt, qt = np.polyval(p[::-1], t), np.polyval(q[::-1], t)
        err = np.max(np.abs(pt / qt / g - 1))
        if best is None or err < best[0]:
            best = (err, p, q)
        qk = qt
    err, p, q = best
    # Back from t = u/C² to u.
    return err, np.array([p[i] / s**i for i in range(m + 1)]), np.array([q[j] / s**j for j in range(n + 1)])


def f32_error(pu, qu, c):
    f32 = np.float32

    def fma(a, b, d):
        return (a.astype(np.float64) * b.astype(np.float64) + d).astype(f32)

    x = np.linspace(0, 12, 4_000_001).astype(f32)
    x = np.concatenate([x, (f32(2.0) ** np.arange(-126, 4, 0.125)).astype(f32)])
    xc = np.minimum(f32(c), np.maximum(f32(-c), x))
    u = xc * xc
    p = np.full_like(u, f32(pu[-1]))
    for a in pu[-2::-1]:
        p = fma(p, u, np.float64(f32(a)))
    q = np.full_like(u, f32(qu[-1]))
    for a in qu[-2::-1]:
        q = fma(q, u, np.float64(f32(a)))
    t = (xc * p) / q
    e = np.tanh(x.astype(np.float64))
    rel = np.abs(t.astype(np.float64) - e) / np.maximum(np.abs(e), 1e-38) / 2.0**-23
    return rel.max(), x[np.argmax(rel)], t.max()


if __name__ == "__main__":
    m, n, c = (int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])) if len(sys.argv) > 3 else (6, 3, 8.0)
    err, pu, qu = fit(m, n, c)
    print(f"degrees {2 * m + 1}/{2 * n} on |x| <= {c}: fit error {err:.2e} relative")
    print("P:", ", ".join(repr(float(np.float32(v))) for v in pu))
    print("Q:", ", ".join(repr(float(np.float32(v))) for v in qu))
    worst, at, top = f32_error(pu, qu, c)
    print(f"in f32: worst {worst:.2f} x 2^-23 relative at x = {at}; largest value {top!r}")
