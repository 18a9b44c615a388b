// `backprop`: the exact reverse-mode derivative of the fixed-step solve actually taken (the
// kernel's tableau: RK4, midpoint or Euler, its `rk_` functions with four stage slots).
// The forward pass stores every step's start state y_n in `traj` (a GPU buffer,
// `(n * D + i) * batch + s`); the backward pass recomputes that step's four stages from y_n
// (the same f32 operations, so the same values) and runs the RK4 step backwards with the
// generated `rk_step_vjp` (nodelab::gpu::stages, from the tableau; for RK4):
//   c4 = h/6 ā,  c3 = h/3 ā + h J4ᵀc4,  c2 = h/3 ā + h/2 J3ᵀc3,  c1 = h/6 ā + h/2 J2ᵀc2,
//   ā ← ā + Σ_i J_iᵀ c_i,   dL/dθ += Σ_i c_iᵀ ∂f/∂θ (stage i),
// where ā = dL/dy_{n+1} and J_i is ∂f/∂y at stage i. Step sizes are constants.
// The solve runs segment by segment between the observation times (nodelab::grad::forward):
// at the end of segment k the loss term's gradient ∂L/∂y(τ_k) is stored (`traj` from obs_off)
// and injected into ā when the backward sweep reaches τ_k. The forward and backward steps run
// in step chunks (common.wgsl), the live state kept on the device between dispatches.

@compute @workgroup_size(WG)
fn rk4_backprop(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    let b = params.batch;
    if s >= b {
        return;
    }
    // Step chunks (common.wgsl): the sequence is the N forward steps q = n, then the N
    // backward steps q = 2N − 1 − n; this dispatch runs q ∈ [live.q, q_end).
    let n_steps = params.n_steps;
    let n_obs = params.n_obs;
    let live = live_begin(s);
    let q_end = chunk_end(live.q, 2u * n_steps);
    var y = load_y0(s);
    var a1: Store;
    var d1: Store;
    var a2: Store;
    var d2: Store;
    var a3: Store;
    var d3: Store;
    var a4: Store;
    var d4: Store;
    var k1: Vec;
    var k2: Vec;
    var k3: Vec;
    var k4: Vec;
    var y_new: Vec;
    var dl: Vec;
    var status = live.status;
    var done_fwd = live.c1;
    var done_bwd = live.c2;
    var loss = 0.0;
    var abar: Vec;
    for (var i = 0u; i < D; i++) {
        abar[i] = 0.0;
    }
    var g: Grad;
    zero_grad(&g);
    if live.q > 0u {
        y = live_load_vec(s, 0u);
        abar = live_load_vec(s, D);
        loss = live_load(s, 2u * D);
        grad_load(s, &g);
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
            for (var i = 0u; i < D; i++) {
                traj[(n * D + i) * b + s] = y[i];
            }
            let t = ts + f32(j) * hs;
            let h = seg_step(k, j);
            mlp_eval(t, &y, &a1, &d1, &k1);
            rk_step(t, h, &y, &k1, &k2, &k3, &k4, &a1, &d1, &y_new);
            y = y_new;
            done_fwd++;
        }
        if lo < hi && hi == seg0 + ns {
            loss += loss_term(s, k, &y, &dl, true);
            obs_store(k, s, &dl);
        }
        seg0 += ns;
    }
    if live.q < n_steps && q_end >= n_steps {
        if !all_finite(&y) {
            status = STATUS_NONFINITE;
        }
        write_state(s, &y);
    }
    // Backward steps n ∈ [n_lo, n_hi) of this chunk, from the top.
    let n_hi_all = 2u * n_steps - max(live.q, n_steps);
    let n_lo_all = 2u * n_steps - max(q_end, n_steps);
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
                abar[i] += inj[i];
            }
        }
        let ts = seg_t0(k);
        let hs = seg_h(k);
        for (var nn = n_hi; nn > n_lo; nn--) {
            let n = nn - 1u;
            let j = n - seg_start;
            let t = ts + f32(j) * hs;
            let h = seg_step(k, j);
            var yn: Vec;
            for (var i = 0u; i < D; i++) {
                yn[i] = traj[(n * D + i) * b + s];
            }
            rk_step_kept(t, h, &yn, &a1, &d1, &a2, &d2, &a3, &d3, &a4, &d4, &y_new);
            let back = rk_step_vjp(h, &a1, &d1, &a2, &d2, &a3, &d3, &a4, &d4, &abar, &g);
            for (var i = 0u; i < D; i++) {
                abar[i] += back[i];
            }
            done_bwd++;
        }
        seg_end = seg_start;
    }
    if q_end < 2u * n_steps {
        live_save_vec(s, 0u, &y);
        live_save_vec(s, D, &abar);
        live_save(s, 2u * D, loss);
        grad_save(s, &g);
        live_suspend(s, Live(q_end, done_fwd, done_bwd, status));
        return;
    }
    status = completion(completion(status, done_fwd, n_steps), done_bwd, n_steps);
    let written_g = write_grad(s, &g, loss, 0.0);
    status = completion(status, written_g, N_PARAMS);
    write_stats(s, n_steps, 0u, 2u * RK_STAGES * n_steps, status);
}
