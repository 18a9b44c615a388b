// Forward solves, one sample per invocation, one dispatch for the whole batch and the whole
// time span (no per-step readback).
//
// `rk4_forward`: classical RK4 with the fixed schedule t_n = t0 + n h, last step shortened
// (mirrors nodelab::solver::fixed).
// `zc_rk4_forward`: the zero-cost adaptive RK4 with the robust estimator of
// nodelab::solver::zc_rk4 (Dabounou's FSAL step, estimate e1 + e2, guarded controller), where
// every sample adapts its own step size and records its own accepted/rejected counts.

@compute @workgroup_size(WG)
fn rk4_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    if s >= params.batch {
        return;
    }
    var y = load_y0(s);
    var act: Store;
    var dact: Store;
    var k1: Vec;
    var k2: Vec;
    var k3: Vec;
    var k4: Vec;
    var y_new: Vec;
    var status = STATUS_OK;
    var steps = 0u;
    for (var n = 0u; n < params.n_steps; n++) {
        let t = fixed_t(n);
        let h = fixed_h(n);
        mlp_eval(t, &y, &act, &dact, &k1);
        rk4_step(t, h, &y, &k1, &k2, &k3, &k4, &act, &dact, &y_new);
        if !all_finite(&y_new) {
            status = STATUS_NONFINITE;
            break;
        }
        y = y_new;
        steps++;
    }
    status = completion(status, steps, params.n_steps);
    write_state(s, &y);
    write_stats(s, steps, 0u, 4u * steps, status);
}

// p(τ) = a0 + a1 τ + a2 τ² (paper eq. 17), coefficients [a0 | a1 | a2] of paper eq. (15).
fn p_at(c: ptr<function, array<f32, 3 * D>>, tau: f32, i: u32) -> f32 {
    return (*c)[i] + tau * ((*c)[D + i] + tau * (*c)[2u * D + i]);
}

// Lagrange basis value L_j(x) on five nodes.
fn lagrange(nodes: array<f32, 5>, j: u32, x: f32) -> f32 {
    var nd = nodes;
    var w = 1.0;
    for (var k = 0u; k < 5u; k++) {
        if k != j {
            w *= (x - nd[k]) / (nd[j] - nd[k]);
        }
    }
    return w;
}

// Automatic initial step (Hairer, Nørsett & Wanner, Solving ODEs I, §II.4) for order 4, as in
// nodelab::solver::common::initial_step. Costs one evaluation.
fn initial_step(y0: ptr<function, Vec>, f0: ptr<function, Vec>, h_floor: f32,
                act: ptr<function, Store>, dact: ptr<function, Store>) -> f32 {
    var d0 = 0.0;
    var d1 = 0.0;
    for (var i = 0u; i < D; i++) {
        let sc = params.tol + params.rtol * abs((*y0)[i]);
        d0 = max(d0, abs((*y0)[i]) / sc);
        d1 = max(d1, abs((*f0)[i]) / sc);
    }
    var h0 = 1e-6;
    if !(d0 < 1e-5 || d1 < 1e-5) {
        h0 = 0.01 * d0 / d1;
    }
    h0 = min(h0, params.h_max);
    var y1: Vec;
    for (var i = 0u; i < D; i++) {
        y1[i] = (*y0)[i] + h0 * (*f0)[i];
    }
    var f1: Vec;
    mlp_eval(params.t0 + h0, &y1, act, dact, &f1);
    var d2 = 0.0;
    for (var i = 0u; i < D; i++) {
        let sc = params.tol + params.rtol * abs((*y0)[i]);
        d2 = max(d2, abs(f1[i] - (*f0)[i]) / sc);
    }
    d2 /= h0;
    let dm = max(d1, d2);
    var h1 = max(h0 * 1e-3, 1e-6);
    if dm > 1e-15 {
        h1 = pow(0.01 / dm, 0.2);
    }
    return max(min(min(100.0 * h0, h1), params.h_max), h_floor);
}

@compute @workgroup_size(WG)
fn zc_rk4_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    if s >= params.batch {
        return;
    }
    let t1 = params.t1;
    var t = params.t0;
    var y = load_y0(s);
    var act: Store;
    var dact: Store;
    var k1: Vec;
    var k2: Vec;
    var k3: Vec;
    var k4: Vec;
    var k5: Vec;
    var y_new: Vec;
    var coeffs: array<f32, 3 * D>;
    var prev: array<f32, 3 * D>;
    var prev_t = 0.0;
    var prev_h = 0.0;
    var have_prev = false;
    var status = STATUS_OK;
    var nfev = 1u;
    var accepted = 0u;
    var rejected = 0u;
    var attempts = 0u;
    var last_rejected = false;
    let eps = 1.1920929e-7;
    mlp_eval(t, &y, &act, &dact, &k1);
    var h = params.h0;
    if h <= 0.0 {
        let floor0 = max(params.h_min, 16.0 * eps * max(max(abs(t), abs(t1)), 1.0));
        h = initial_step(&y, &k1, floor0, &act, &dact);
        nfev++;
    }
    loop {
        if t >= t1 {
            break;
        }
        // Guards: attempt budget, step floor, h_max, landing on t1 (solver::common::guard_step).
        if attempts >= params.max_steps {
            status = STATUS_MAX_STEPS;
            break;
        }
        let h_floor = max(params.h_min, 16.0 * eps * max(max(abs(t), abs(t1)), 1.0));
        var hh = min(h, params.h_max);
        if !(hh >= h_floor) {
            status = STATUS_UNDERFLOW;
            break;
        }
        var clipped = false;
        // f32: a remainder below 1e-5 h is absorbed (f64 solver: 1e-10 h).
        if t + hh >= t1 || t1 - (t + hh) < 1e-5 * hh {
            hh = t1 - t;
            clipped = true;
        }
        attempts++;
        rk4_step(t, hh, &y, &k1, &k2, &k3, &k4, &act, &dact, &y_new);
        if !all_finite(&y_new) {
            status = STATUS_NONFINITE;
            break;
        }
        mlp_eval(t + hh, &y_new, &act, &dact, &k5);
        nfev += 4u;
        for (var i = 0u; i < D; i++) {
            let sm = k2[i] + k3[i];
            coeffs[i] = k1[i];
            coeffs[D + i] = -3.0 * k1[i] + 2.0 * sm - k4[i];
            coeffs[2u * D + i] = 2.0 * (k1[i] - sm + k4[i]);
        }
        // Robust zero-cost estimate: e1 = (h/6)|k4 − k5| plus the quadrature part e2.
        var e: Vec;
        for (var i = 0u; i < D; i++) {
            e[i] = abs(hh / 6.0 * (k4[i] - k5[i]));
        }
        if !have_prev {
            // First step: sample g once at τ = 1/4 on the cubic q and compare with p(1/4).
            var q: Vec;
            for (var i = 0u; i < D; i++) {
                let inner = coeffs[i] + 0.25 * (coeffs[D + i] / 2.0 + 0.25 * coeffs[2u * D + i] / 3.0);
                q[i] = y[i] + hh * 0.25 * inner;
            }
            var g: Vec;
            mlp_eval(t + 0.25 * hh, &q, &act, &dact, &g);
            nfev++;
            for (var i = 0u; i < D; i++) {
                e[i] += hh * abs(g[i] - p_at(&coeffs, 0.25, i));
            }
        } else {
            // Two samples of g before t_n from the previous step's p, five evenly placed nodes.
            var nodes: array<f32, 5>;
            var b0: Vec;
            var b1: Vec;
            if hh >= prev_h {
                nodes = array<f32, 5>((prev_t - t) / hh, (prev_t + 0.5 * prev_h - t) / hh, 0.0, 0.5, 1.0);
                for (var i = 0u; i < D; i++) {
                    b0[i] = prev[i];
                    b1[i] = p_at(&prev, 0.5, i);
                }
            } else {
                nodes = array<f32, 5>(-1.0, -0.5, 0.0, 0.5, 1.0);
                for (var i = 0u; i < D; i++) {
                    b0[i] = p_at(&prev, 1.0 - hh / prev_h, i);
                    b1[i] = p_at(&prev, 1.0 - 0.5 * hh / prev_h, i);
                }
            }
            var dev: Vec;
            for (var i = 0u; i < D; i++) {
                dev[i] = 0.0;
            }
            for (var m = 0u; m < 2u; m++) {
                let tau = select(0.25, 0.75, m == 1u);
                let w0 = lagrange(nodes, 0u, tau);
                let w1 = lagrange(nodes, 1u, tau);
                let w2 = lagrange(nodes, 2u, tau);
                let w3 = lagrange(nodes, 3u, tau);
                let w4 = lagrange(nodes, 4u, tau);
                for (var i = 0u; i < D; i++) {
                    let mid = 0.5 * (k2[i] + k3[i]);
                    let quartic = w0 * b0[i] + w1 * b1[i] + w2 * k1[i] + w3 * mid + w4 * k5[i];
                    dev[i] = max(dev[i], hh * abs(quartic - p_at(&coeffs, tau, i)));
                }
            }
            for (var i = 0u; i < D; i++) {
                e[i] += dev[i];
            }
        }
        var ratio = 0.0;
        var undefined_estimate = false;
        for (var i = 0u; i < D; i++) {
            let sc = params.tol + params.rtol * max(abs(y[i]), abs(y_new[i]));
            let r = e[i] / sc;
            undefined_estimate = undefined_estimate || !(r == r);
            ratio = max(ratio, r);
        }
        if undefined_estimate {
            status = STATUS_NONFINITE;
            break;
        }
        let ok = ratio <= 1.0;
        var fac = 5.0;
        if ratio > 0.0 {
            fac = clamp(0.9 * pow(ratio, -0.25), 0.2, 5.0);
        }
        if ok && last_rejected {
            fac = min(fac, 1.0);
        }
        if ok {
            prev = coeffs;
            prev_t = t;
            prev_h = hh;
            have_prev = true;
            t = select(t + hh, t1, clipped);
            y = y_new;
            k1 = k5;
            accepted++;
        } else {
            rejected++;
        }
        last_rejected = !ok;
        h = hh * fac;
    }
    if status == STATUS_OK && t < t1 {
        status = STATUS_INCOMPLETE;
    }
    write_state(s, &y);
    write_stats(s, accepted, rejected, nfev, status);
}
