// `reversible-heun` (Kidger et al. 2021; reversible-solvers.md): state (x, ŷ), x0 = ŷ0 = y0,
//   ŷ_{n+1} = 2 x_n − ŷ_n + h f(ŷ_n),   x_{n+1} = x_n + h/2 (f(ŷ_n) + f(ŷ_{n+1})),
// one f-evaluation per step. Its exact discrete gradient with O(1) memory: the states are
// reconstructed backwards algebraically,
//   ŷ_n = 2 x_{n+1} − ŷ_{n+1} − h f(ŷ_{n+1}),   x_n = x_{n+1} − h/2 (f(ŷ_{n+1}) + f(ŷ_n)),
// and the adjoints (a_x, a_ŷ) of one step run backwards as
//   b = a_ŷ + J(ŷ_{n+1})ᵀ (h/2 a_x),   c = h/2 a_x + h b,
//   a_x ← a_x + 2b,   a_ŷ ← −b + J(ŷ_n)ᵀ c,   dL/dθ += (h/2 a_x)ᵀ∂f/∂θ(ŷ_{n+1}) + cᵀ∂f/∂θ(ŷ_n).
// The loss reads x at the observation times; the grid is nodelab::grad::reversible's: per
// segment [τ_{k−1}, τ_k] n_k equal steps (n_k ∝ its length), ∂L/∂x(τ_k) kept in `traj` and
// added to a_x when the backward pass reaches τ_k.
// Reconstruction error: max(|x_back(t0) − y0|, |ŷ_back(t0) − y0|).
// The forward and backward steps run in step chunks (common.wgsl), (x, ŷ, f(ŷ)), (a_x, a_ŷ),
// the loss and θ̄ kept on the device between dispatches.

// Time of the evaluation at the start of global step m (the t_n = t_start + j h that the
// backward step of m evaluates at; m < N).
fn heun_step_time(m: u32) -> f32 {
    var seg0 = 0u;
    var t = 0.0;
    for (var k = 0u; k < params.n_obs; k++) {
        let ns = seg_n(k);
        if m >= seg0 && m < seg0 + ns {
            t = seg_t0(k) + f32(m - seg0) * seg_h(k);
        }
        seg0 += ns;
    }
    return t;
}

@compute @workgroup_size(WG)
fn reversible_heun(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    let b = params.batch;
    if s >= b {
        return;
    }
    let y0 = load_y0(s);
    let n_steps = params.n_steps;
    let n_obs = params.n_obs;
    // Step chunks (common.wgsl): the sequence is the N forward steps q = n, then the N
    // backward steps q = 2N − 1 − n; this dispatch runs q ∈ [live.q, q_end). Live rows: x (0),
    // ŷ (D), f(ŷ) (2D), a_x (3D), a_ŷ (4D), the loss (5D); θ̄ in grad_ps. The evaluation at
    // ŷ the backward step's first VJP reads is recomputed when a chunk resumes the backward
    // pass (the same f32 operations at the same (t, ŷ): the same values).
    let live = live_begin(s);
    let q_end = chunk_end(live.q, 2u * n_steps);
    var x = y0;
    var yh = y0;
    var act: Store;
    var dact: Store;
    // f at the current ŷ: f(ŷ_n) forward, f(ŷ_{n+1}) backward.
    var fy: Vec;
    var fn_: Vec;
    var yh_new: Vec;
    var dl: Vec;
    var status = live.status;
    var done_fwd = live.c1;
    var done_bwd = live.c2;
    var loss = 0.0;
    var ax: Vec;
    var ay: Vec;
    for (var i = 0u; i < D; i++) {
        ax[i] = 0.0;
        ay[i] = 0.0;
    }
    var g: Grad;
    zero_grad(&g);
    if live.q > 0u {
        x = live_load_vec(s, 0u);
        yh = live_load_vec(s, D);
        fy = live_load_vec(s, 2u * D);
        ax = live_load_vec(s, 3u * D);
        ay = live_load_vec(s, 4u * D);
        loss = live_load(s, 5u * D);
        grad_load(s, &g);
    } else {
        mlp_eval(seg_t0(0u), &yh, &act, &dact, &fy);
    }
    var seg0 = 0u;
    for (var k = 0u; k < n_obs; k++) {
        let ts = seg_t0(k);
        let hs = seg_h(k);
        let ns = seg_n(k);
        let lo = max(live.q, seg0);
        let hi = min(q_end, seg0 + ns);
        for (var n = lo; n < hi; n++) {
            let j = n - seg0;
            let h = seg_step(k, j);
            let t_next = ts + f32(j) * hs + h;
            for (var i = 0u; i < D; i++) {
                yh_new[i] = 2.0 * x[i] - yh[i] + h * fy[i];
            }
            mlp_eval(t_next, &yh_new, &act, &dact, &fn_);
            for (var i = 0u; i < D; i++) {
                x[i] += 0.5 * h * (fy[i] + fn_[i]);
            }
            yh = yh_new;
            fy = fn_;
            done_fwd++;
        }
        if lo < hi && hi == seg0 + ns {
            loss += loss_term(s, k, &x, &dl, true);
            obs_store(k, s, &dl);
        }
        seg0 += ns;
    }
    if live.q < n_steps && q_end >= n_steps {
        if !all_finite(&x) {
            status = STATUS_NONFINITE;
        }
        write_state(s, &x);
    }
    // Backward steps n ∈ [n_lo, n_hi) of this chunk, from the top.
    let n_hi_all = 2u * n_steps - max(live.q, n_steps);
    let n_lo_all = 2u * n_steps - max(q_end, n_steps);
    var v: Vec;
    var jv: Vec;
    var bb: Vec;
    var c: Vec;
    var f_here: Vec;
    var yh_prev: Vec;
    // (act, dact) hold the evaluation at the current ŷ_{n+1}: at ŷ_N where the backward pass
    // begins, else recomputed where the previous backward step (of n + 1) evaluated it.
    if n_lo_all < n_hi_all {
        if live.q <= n_steps {
            let k_last = n_obs - 1u;
            let t_end = seg_t0(k_last) + f32(seg_n(k_last) - 1u) * seg_h(k_last)
                + seg_step(k_last, seg_n(k_last) - 1u);
            mlp_eval(t_end, &yh, &act, &dact, &fy);
        } else {
            var f_again: Vec;
            mlp_eval(heun_step_time(n_hi_all), &yh, &act, &dact, &f_again);
        }
    }
    var act2: Store;
    var dact2: Store;
    var seg_end = n_steps;
    for (var kk = n_obs; kk > 0u; kk--) {
        let k = kk - 1u;
        let ns = seg_n(k);
        let seg_start = seg_end - ns;
        let n_hi = min(seg_end, n_hi_all);
        let n_lo = max(seg_start, n_lo_all);
        if n_lo < n_hi && n_hi == seg_end {
            let inj = obs_load(k, s);
            for (var i = 0u; i < D; i++) {
                ax[i] += inj[i];
            }
        }
        let ts = seg_t0(k);
        let hs = seg_h(k);
        for (var nn = n_hi; nn > n_lo; nn--) {
            let j = nn - 1u - seg_start;
            let h = seg_step(k, j);
            let t_n = ts + f32(j) * hs;
            for (var i = 0u; i < D; i++) {
                v[i] = 0.5 * h * ax[i];
            }
            mlp_vjp(&act, &dact, &v, 1.0, &g, &jv);
            for (var i = 0u; i < D; i++) {
                bb[i] = ay[i] + jv[i];
                yh_prev[i] = 2.0 * x[i] - yh[i] - h * fy[i];
            }
            mlp_eval(t_n, &yh_prev, &act2, &dact2, &f_here);
            for (var i = 0u; i < D; i++) {
                c[i] = 0.5 * h * ax[i] + h * bb[i];
            }
            mlp_vjp(&act2, &dact2, &c, 1.0, &g, &jv);
            for (var i = 0u; i < D; i++) {
                x[i] -= 0.5 * h * (fy[i] + f_here[i]);
                ax[i] += 2.0 * bb[i];
                ay[i] = -bb[i] + jv[i];
            }
            yh = yh_prev;
            fy = f_here;
            act = act2;
            dact = dact2;
            done_bwd++;
        }
        seg_end = seg_start;
    }
    if q_end < 2u * n_steps {
        live_save_vec(s, 0u, &x);
        live_save_vec(s, D, &yh);
        live_save_vec(s, 2u * D, &fy);
        live_save_vec(s, 3u * D, &ax);
        live_save_vec(s, 4u * D, &ay);
        live_save(s, 5u * D, loss);
        grad_save(s, &g);
        live_suspend(s, Live(q_end, done_fwd, done_bwd, status));
        return;
    }
    status = completion(completion(status, done_fwd, n_steps), done_bwd, n_steps);
    var recon = 0.0;
    for (var i = 0u; i < D; i++) {
        recon = max(recon, max(abs(x[i] - y0[i]), abs(yh[i] - y0[i])));
    }
    let written_g = write_grad(s, &g, loss, recon);
    status = completion(status, written_g, N_PARAMS);
    write_stats(s, n_steps, 0u, 4u * n_steps, status);
}
