// Forward solves, one sample per invocation, one submission for the whole batch and the
// whole time span (no per-step readback); both run in step chunks (common.wgsl; zc_rk4_forward
// over its attempted steps, zc_rk4.wgsl).
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
    // Step chunks: steps [live.q, n_end) in this dispatch; a sample that stopped is done.
    let live = live_begin(s);
    if live.status != STATUS_OK {
        return;
    }
    let n_end = chunk_end(live.q, params.n_steps);
    var y = load_y0(s);
    if live.q > 0u {
        y = live_load_vec(s, 0u);
    }
    var act: Store;
    var dact: Store;
    var k1: Vec;
    var k2: Vec;
    var k3: Vec;
    var k4: Vec;
    var y_new: Vec;
    var status = STATUS_OK;
    var steps = live.q;
    for (var n = live.q; n < n_end; n++) {
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
    status = completion(status, steps, n_end);
    if status == STATUS_OK && n_end < params.n_steps {
        live_save_vec(s, 0u, &y);
        live_suspend(s, Live(steps, 0u, 0u, STATUS_OK));
        return;
    }
    write_state(s, &y);
    write_stats(s, steps, 0u, 4u * steps, status);
}

@compute @workgroup_size(WG)
fn zc_rk4_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    if s >= params.batch {
        return;
    }
    // Step chunks over the attempted steps (zc_rk4.wgsl): attempts [live.q, q_end) in this
    // dispatch; a sample that finished returns at once. Live rows: [y (D) | controller].
    let live = live_begin(s);
    if (live.status & LIVE_FINISHED) != 0u {
        return;
    }
    let q_end = chunk_end(live.q, params.max_steps);
    let span = zc_span_params();
    let t1 = span.t1;
    var t = span.t0;
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
    var prev: ZcPrev;
    var status = STATUS_OK;
    var nfev = 1u;
    var accepted = 0u;
    var rejected = 0u;
    var attempts = 0u;
    var last_rejected = false;
    var h = params.h0;
    if live.q == 0u {
        mlp_eval(t, &y, &act, &dact, &k1);
        if h <= 0.0 {
            h = initial_step(span, &y, &k1, zc_h_floor(span, t), &act, &dact);
            nfev++;
        }
    } else {
        y = live_load_vec(s, 0u);
        let z = zc_load(s, D, &k1, &prev);
        t = z.t;
        h = z.h;
        last_rejected = z.last_rejected;
        attempts = live.q;
        accepted = live.c1;
        rejected = live.q - live.c1;
        nfev = live.c2;
    }
    var suspended = false;
    loop {
        if t >= t1 {
            break;
        }
        var hh = h;
        var clipped = false;
        status = zc_guard(span, t, attempts, &hh, &clipped);
        if status != STATUS_OK {
            break;
        }
        // The chunk's last attempt was made (the guard, repeated next dispatch, passed).
        if attempts >= q_end {
            suspended = true;
            break;
        }
        attempts++;
        rk4_step(t, hh, &y, &k1, &k2, &k3, &k4, &act, &dact, &y_new);
        if !all_finite(&y_new) {
            status = STATUS_NONFINITE;
            break;
        }
        mlp_eval(t + hh, &y_new, &act, &dact, &k5);
        nfev += 4u;
        let ratio = zc_error_ratio(t, hh, &y, &y_new, &k1, &k2, &k3, &k4, &k5, &coeffs, &prev,
                                   &act, &dact, &nfev);
        if ratio < 0.0 {
            status = STATUS_NONFINITE;
            break;
        }
        let ok = ratio <= 1.0;
        let fac = zc_factor(ratio, ok, last_rejected);
        if ok {
            prev.coeffs = coeffs;
            prev.t = t;
            prev.h = hh;
            prev.valid = true;
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
    if suspended {
        live_save_vec(s, 0u, &y);
        zc_save(s, D, ZcState(t, h, last_rejected), &k1, &prev);
        live_suspend(s, Live(attempts, accepted, nfev, STATUS_OK));
        return;
    }
    if status == STATUS_OK && t < t1 {
        status = STATUS_INCOMPLETE;
    }
    write_state(s, &y);
    write_stats(s, accepted, rejected, nfev, status | LIVE_FINISHED);
}
