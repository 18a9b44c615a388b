// `adjoint`: the continuous adjoint, backsolve (reverse-dynamic) variant. Forward: fixed-step
// RK4 to y(T), nothing stored. Backward, in s = T − t, the augmented system
//   dy/ds = −f(y),   da/ds = (∂f/∂y)ᵀ a,   dg/ds = aᵀ ∂f/∂θ,
// from y(T), a(T) = dL/dy(T), g = 0, integrated with RK4 on the forward steps in reverse order
// (the generated `rk_adjoint_step` of the kernel's tableau — RK4, midpoint or Euler, the
// forward solver's as on the CPU —, nodelab::gpu::stages); g(t0) = dL/dθ (Chen et al. 2018;
// the IRDM paper's §2). g does not feed back, so its RK4 update is the quadrature
// Σ b_i hb aᵢᵀ∂f/∂θ(yᵢ), accumulated stage by stage. The
// reconstruction error max_i |y_back(t0) − y0| is reported per sample.
// With observations τ_1 < … < τ_K (nodelab::grad::adjoint) the forward states y(τ_k) and
// ∂L/∂y(τ_k) are kept (`traj` from obs_off: states of K observations, then their gradients);
// going back, at τ_k the adjoint jumps by ∂L/∂y(τ_k) and y restarts from the stored y(τ_k).
// Each segment is backsolved as the CPU does: steps h from τ_k downwards, the last one
// shortened to land on τ_{k−1}. The forward and backward steps run in step chunks
// (common.wgsl), the live state kept on the device between dispatches.

@compute @workgroup_size(WG)
fn rk4_adjoint(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    let b = params.batch;
    if s >= b {
        return;
    }
    // Step chunks (common.wgsl): the sequence is the N forward steps q = n, then the N
    // backward steps q = N + m, m counted from the last segment's end (segment k's backward
    // steps j = 0 … n_k − 1 at m = m_k + j, m_k the steps of the segments after k); this
    // dispatch runs q ∈ [live.q, q_end). Live rows: y, a, the loss; g in `grad_ps`.
    let n_steps = params.n_steps;
    let n_obs = params.n_obs;
    let live = live_begin(s);
    let q_end = chunk_end(live.q, 2u * n_steps);
    var y = load_y0(s);
    var act: Store;
    var dact: Store;
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
    var a: Vec;
    for (var i = 0u; i < D; i++) {
        a[i] = 0.0;
    }
    var g: Grad;
    zero_grad(&g);
    if live.q > 0u {
        y = live_load_vec(s, 0u);
        a = live_load_vec(s, D);
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
            let t = ts + f32(j) * hs;
            let h = seg_step(k, j);
            mlp_eval(t, &y, &act, &dact, &k1);
            rk_step(t, h, &y, &k1, &k2, &k3, &k4, &act, &dact, &y_new);
            y = y_new;
            done_fwd++;
        }
        if lo < hi && hi == seg0 + ns {
            loss += loss_term(s, k, &y, &dl, true);
            obs_store(k, s, &y);
            obs_store(n_obs + k, s, &dl);
        }
        seg0 += ns;
    }
    if live.q < n_steps && q_end >= n_steps {
        if !all_finite(&y) {
            status = STATUS_NONFINITE;
        }
        write_state(s, &y);
    }
    // Backward steps m ∈ [m_lo, m_hi) of this chunk, segment by segment from the last.
    let m_lo = max(live.q, n_steps) - n_steps;
    let m_hi = max(q_end, n_steps) - n_steps;
    var mk = 0u;
    for (var kk = n_obs; kk > 0u; kk--) {
        let k = kk - 1u;
        let ns = seg_n(k);
        let lo = max(m_lo, mk);
        let hi = min(m_hi, mk + ns);
        if lo < hi && lo == mk {
            y = obs_load(k, s);
            let inj = obs_load(n_obs + k, s);
            for (var i = 0u; i < D; i++) {
                a[i] += inj[i];
            }
        }
        let te = seg_t1(k);
        let hs = seg_h(k);
        for (var m = lo; m < hi; m++) {
            let j = m - mk;
            let hb = seg_step(k, j);
            let t = te - f32(j) * hs;
            rk_adjoint_step(t, hb, &y, &a, &g);
            done_bwd++;
        }
        mk += ns;
    }
    if q_end < 2u * n_steps {
        live_save_vec(s, 0u, &y);
        live_save_vec(s, D, &a);
        live_save(s, 2u * D, loss);
        grad_save(s, &g);
        live_suspend(s, Live(q_end, done_fwd, done_bwd, status));
        return;
    }
    status = completion(completion(status, done_fwd, n_steps), done_bwd, n_steps);
    let y0 = load_y0(s);
    var recon = 0.0;
    for (var i = 0u; i < D; i++) {
        recon = max(recon, abs(y[i] - y0[i]));
    }
    let written_g = write_grad(s, &g, loss, recon);
    status = completion(status, written_g, N_PARAMS);
    write_stats(s, n_steps, 0u, 3u * RK_STAGES * n_steps, status);
}
