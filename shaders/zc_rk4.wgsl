// The zero-cost adaptive RK4 (Dabounou; robust estimator of nodelab::solver::zc_rk4), shared by
// the per-sample adaptive kernels (forward.wgsl, afge.wgsl).

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

// The span one adaptive solve covers, with its step bounds: the whole [t0, t1] of `params`
// (forward solve), or one segment between observation times (afge with a trajectory loss: the
// solve restarts at each observation, as nodelab::grad::forward::run_segment does).
struct ZcSpan {
    t0: f32,
    t1: f32,
    h_min: f32,
    h_max: f32,
}

fn zc_span_params() -> ZcSpan {
    return ZcSpan(params.t0, params.t1, params.h_min, params.h_max);
}

// Automatic initial step (Hairer, Nørsett & Wanner, Solving ODEs I, §II.4) for order 4, as in
// nodelab::solver::common::initial_step. Costs one evaluation.
fn initial_step(span: ZcSpan, y0: ptr<function, Vec>, f0: ptr<function, Vec>, h_floor: f32,
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
    h0 = min(h0, span.h_max);
    var y1: Vec;
    for (var i = 0u; i < D; i++) {
        y1[i] = (*y0)[i] + h0 * (*f0)[i];
    }
    var f1: Vec;
    mlp_eval(span.t0 + h0, &y1, act, dact, &f1);
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
    return max(min(min(100.0 * h0, h1), span.h_max), h_floor);
}

// Previous accepted step's polynomial p (robust estimator's quadrature part).
struct ZcPrev {
    coeffs: array<f32, 3 * D>,
    t: f32,
    h: f32,
    valid: bool,
}

// Error ratio of one attempt from (t, y) with step hh: the robust zero-cost estimate
// max_i (|e1_i| + |e2_i|) / (tol + rtol·max(|y_i|, |y_new,i|)), e1 = (h/6)|k4 − k5| (the embedded
// FSAL 3rd-order pair), e2 the quadrature part against the quartic through the previous step's
// p (first step: one extra evaluation, counted in nfev). Writes the step's [a0 | a1 | a2] to
// `coeffs`. Returns −1 when the estimate is undefined (NaN).
fn zc_error_ratio(t: f32, hh: f32, y: ptr<function, Vec>, y_new: ptr<function, Vec>,
                  k1: ptr<function, Vec>, k2: ptr<function, Vec>, k3: ptr<function, Vec>,
                  k4: ptr<function, Vec>, k5: ptr<function, Vec>,
                  coeffs: ptr<function, array<f32, 3 * D>>, prev: ptr<function, ZcPrev>,
                  act: ptr<function, Store>, dact: ptr<function, Store>,
                  nfev: ptr<function, u32>) -> f32 {
    for (var i = 0u; i < D; i++) {
        let sm = (*k2)[i] + (*k3)[i];
        (*coeffs)[i] = (*k1)[i];
        (*coeffs)[D + i] = -3.0 * (*k1)[i] + 2.0 * sm - (*k4)[i];
        (*coeffs)[2u * D + i] = 2.0 * ((*k1)[i] - sm + (*k4)[i]);
    }
    // Robust zero-cost estimate: e1 = (h/6)|k4 − k5| plus the quadrature part e2.
    var e: Vec;
    for (var i = 0u; i < D; i++) {
        e[i] = abs(hh / 6.0 * ((*k4)[i] - (*k5)[i]));
    }
    if !(*prev).valid {
        // First step: sample g once at τ = 1/4 on the cubic q and compare with p(1/4).
        var q: Vec;
        for (var i = 0u; i < D; i++) {
            let inner = (*coeffs)[i] + 0.25 * ((*coeffs)[D + i] / 2.0 + 0.25 * (*coeffs)[2u * D + i] / 3.0);
            q[i] = (*y)[i] + hh * 0.25 * inner;
        }
        var g: Vec;
        mlp_eval(t + 0.25 * hh, &q, act, dact, &g);
        *nfev += 1u;
        for (var i = 0u; i < D; i++) {
            e[i] += hh * abs(g[i] - p_at(coeffs, 0.25, i));
        }
    } else {
        // Two samples of g before t_n from the previous step's p, five evenly placed nodes.
        // A local copy: pointers to struct members cannot be passed to functions in SPIR-V.
        var pc = (*prev).coeffs;
        var nodes: array<f32, 5>;
        var b0: Vec;
        var b1: Vec;
        if hh >= (*prev).h {
            nodes = array<f32, 5>(((*prev).t - t) / hh, ((*prev).t + 0.5 * (*prev).h - t) / hh, 0.0, 0.5, 1.0);
            for (var i = 0u; i < D; i++) {
                b0[i] = pc[i];
                b1[i] = p_at(&pc, 0.5, i);
            }
        } else {
            nodes = array<f32, 5>(-1.0, -0.5, 0.0, 0.5, 1.0);
            for (var i = 0u; i < D; i++) {
                b0[i] = p_at(&pc, 1.0 - hh / (*prev).h, i);
                b1[i] = p_at(&pc, 1.0 - 0.5 * hh / (*prev).h, i);
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
                let mid = 0.5 * ((*k2)[i] + (*k3)[i]);
                let quartic = w0 * b0[i] + w1 * b1[i] + w2 * (*k1)[i] + w3 * mid + w4 * (*k5)[i];
                dev[i] = max(dev[i], hh * abs(quartic - p_at(coeffs, tau, i)));
            }
        }
        for (var i = 0u; i < D; i++) {
            e[i] += dev[i];
        }
    }
    var ratio = 0.0;
    var undefined_estimate = false;
    for (var i = 0u; i < D; i++) {
        let sc = params.tol + params.rtol * max(abs((*y)[i]), abs((*y_new)[i]));
        let r = e[i] / sc;
        undefined_estimate = undefined_estimate || !(r == r);
        ratio = max(ratio, r);
    }
    if undefined_estimate {
        return -1.0;
    }
    return ratio;
}

// Next (or retry) step factor: h·clamp(0.9 r^(−1/4), 0.2, 5), no growth right after a rejection.
fn zc_factor(ratio: f32, ok: bool, last_rejected: bool) -> f32 {
    var fac = STEP_FAC_MAX;
    if ratio > 0.0 {
        fac = clamp(STEP_SAFETY * pow(ratio, -0.25), STEP_FAC_MIN, STEP_FAC_MAX);
    }
    if ok && last_rejected {
        fac = min(fac, 1.0);
    }
    return fac;
}

// Smallest step at t (solver::common::Setup::h_floor in f32).
fn zc_h_floor(span: ZcSpan, t: f32) -> f32 {
    return max(span.h_min, 16.0 * 1.1920929e-7 * max(max(abs(t), abs(span.t1)), 1.0));
}

// The guards before an attempt (solver::common::guard_step): the attempt budget, the step
// floor, h_max, and the shortening of the last step (a remainder below 1e-5 h is absorbed; the
// f64 solver uses 1e-10 h). Returns the status; `hh` is the step to attempt.
fn zc_guard(span: ZcSpan, t: f32, attempts: u32, hh: ptr<function, f32>,
            clipped: ptr<function, bool>) -> u32 {
    if attempts >= params.max_steps {
        return STATUS_MAX_STEPS;
    }
    let t1 = span.t1;
    var h = min(*hh, span.h_max);
    if !(h >= zc_h_floor(span, t)) {
        return STATUS_UNDERFLOW;
    }
    *clipped = false;
    if t + h >= t1 || t1 - (t + h) < STEP_ABSORB * h {
        h = t1 - t;
        *clipped = true;
    }
    *hh = h;
    return STATUS_OK;
}

// Step chunks of the adaptive kernels (common.wgsl, "Step chunks"; nodelab::gpu::engine::
// chunks): the sequence is the ATTEMPTED steps, q = attempts so far (over all segments), and one
// dispatch runs attempts [live.q, q_end). A running sample's `stats` row is
// [q, accepted, nfev, STATUS_OK] (rejected = q − accepted: every attempt of a running sample was
// accepted or rejected); a finished one writes its final row [accepted, rejected, nfev, status]
// with LIVE_FINISHED set in the status, so that the later dispatches of the submission return at
// once (the host clears the mark, nodelab::gpu::engine::chunks::FINISHED_MARK).
const LIVE_FINISHED: u32 = 0x80000000u;

// The controller's state between attempts, beside the step's k1 and the previous step's p.
struct ZcState {
    t: f32,
    h: f32,
    last_rejected: bool,
}

// Live rows of the controller from r0: [k1 (D) | prev.coeffs (3D) | t, h, prev.t, prev.h,
// prev.valid, last_rejected].
const ZC_LIVE_ROWS: u32 = 4u * D + 6u;

fn zc_save(s: u32, r0: u32, st: ZcState, k1: ptr<function, Vec>, prev: ptr<function, ZcPrev>) {
    live_save_vec(s, r0, k1);
    for (var i = 0u; i < 3u * D; i++) {
        live_save(s, r0 + D + i, (*prev).coeffs[i]);
    }
    let r = r0 + 4u * D;
    live_save(s, r, st.t);
    live_save(s, r + 1u, st.h);
    live_save(s, r + 2u, (*prev).t);
    live_save(s, r + 3u, (*prev).h);
    live_save(s, r + 4u, select(0.0, 1.0, (*prev).valid));
    live_save(s, r + 5u, select(0.0, 1.0, st.last_rejected));
}

fn zc_load(s: u32, r0: u32, k1: ptr<function, Vec>, prev: ptr<function, ZcPrev>) -> ZcState {
    *k1 = live_load_vec(s, r0);
    for (var i = 0u; i < 3u * D; i++) {
        (*prev).coeffs[i] = live_load(s, r0 + D + i);
    }
    let r = r0 + 4u * D;
    (*prev).t = live_load(s, r + 2u);
    (*prev).h = live_load(s, r + 3u);
    (*prev).valid = live_load(s, r + 4u) > 0.5;
    return ZcState(live_load(s, r), live_load(s, r + 1u), live_load(s, r + 5u) > 0.5);
}

// A whole number of any size in two live rows (16 bits each, exact in f32).
fn live_save_u32(s: u32, r: u32, x: u32) {
    live_save(s, r, f32(x >> 16u));
    live_save(s, r + 1u, f32(x & 0xFFFFu));
}

fn live_load_u32(s: u32, r: u32) -> u32 {
    return (u32(live_load(s, r)) << 16u) | u32(live_load(s, r + 1u));
}
