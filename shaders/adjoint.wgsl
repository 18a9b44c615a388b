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
// shortened to land on τ_{k−1}.

@compute @workgroup_size(WG)
fn rk4_adjoint(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    let b = params.batch;
    if s >= b {
        return;
    }
    let y0 = load_y0(s);
    var y = y0;
    var act: Store;
    var dact: Store;
    var k1: Vec;
    var k2: Vec;
    var k3: Vec;
    var k4: Vec;
    var y_new: Vec;
    var dl: Vec;
    var status = STATUS_OK;
    let n_steps = params.n_steps;
    let n_obs = params.n_obs;
    var done_fwd = 0u;
    var done_bwd = 0u;
    var loss = 0.0;
    for (var k = 0u; k < n_obs; k++) {
        let ts = seg_t0(k);
        let hs = seg_h(k);
        let ns = seg_n(k);
        for (var j = 0u; j < ns; j++) {
            let t = ts + f32(j) * hs;
            let h = seg_step(k, j);
            mlp_eval(t, &y, &act, &dact, &k1);
            rk_step(t, h, &y, &k1, &k2, &k3, &k4, &act, &dact, &y_new);
            y = y_new;
            done_fwd++;
        }
        loss += loss_term(s, k, &y, &dl, true);
        obs_store(k, s, &y);
        obs_store(n_obs + k, s, &dl);
    }
    if !all_finite(&y) {
        status = STATUS_NONFINITE;
    }
    write_state(s, &y);
    var a: Vec;
    for (var i = 0u; i < D; i++) {
        a[i] = 0.0;
    }
    var g: Grad;
    zero_grad(&g);
    for (var kk = n_obs; kk > 0u; kk--) {
        let k = kk - 1u;
        y = obs_load(k, s);
        let inj = obs_load(n_obs + k, s);
        for (var i = 0u; i < D; i++) {
            a[i] += inj[i];
        }
        let te = seg_t1(k);
        let hs = seg_h(k);
        let ns = seg_n(k);
        for (var j = 0u; j < ns; j++) {
            let hb = seg_step(k, j);
            let t = te - f32(j) * hs;
            rk_adjoint_step(t, hb, &y, &a, &g);
            done_bwd++;
        }
    }
    status = completion(completion(status, done_fwd, n_steps), done_bwd, n_steps);
    var recon = 0.0;
    for (var i = 0u; i < D; i++) {
        recon = max(recon, abs(y[i] - y0[i]));
    }
    let written_g = write_grad(s, &g, loss, recon);
    status = completion(status, written_g, N_PARAMS);
    write_stats(s, n_steps, 0u, 3u * RK_STAGES * n_steps, status);
}
