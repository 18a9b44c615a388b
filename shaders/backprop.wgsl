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
// and injected into ā when the backward sweep reaches τ_k.

@compute @workgroup_size(WG)
fn rk4_backprop(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    let b = params.batch;
    if s >= b {
        return;
    }
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
    var status = STATUS_OK;
    let n_steps = params.n_steps;
    let n_obs = params.n_obs;
    var done_fwd = 0u;
    var done_bwd = 0u;
    var loss = 0.0;
    var n = 0u;
    for (var k = 0u; k < n_obs; k++) {
        let ts = seg_t0(k);
        let hs = seg_h(k);
        let ns = seg_n(k);
        for (var j = 0u; j < ns; j++) {
            for (var i = 0u; i < D; i++) {
                traj[(n * D + i) * b + s] = y[i];
            }
            let t = ts + f32(j) * hs;
            let h = seg_step(k, j);
            mlp_eval(t, &y, &a1, &d1, &k1);
            rk_step(t, h, &y, &k1, &k2, &k3, &k4, &a1, &d1, &y_new);
            y = y_new;
            n++;
            done_fwd++;
        }
        loss += loss_term(s, k, &y, &dl, true);
        obs_store(k, s, &dl);
    }
    if !all_finite(&y) {
        status = STATUS_NONFINITE;
    }
    write_state(s, &y);
    var abar: Vec;
    for (var i = 0u; i < D; i++) {
        abar[i] = 0.0;
    }
    var g: Grad;
    zero_grad(&g);
    for (var kk = n_obs; kk > 0u; kk--) {
        let k = kk - 1u;
        let inj = obs_load(k, s);
        for (var i = 0u; i < D; i++) {
            abar[i] += inj[i];
        }
        let ts = seg_t0(k);
        let hs = seg_h(k);
        let ns = seg_n(k);
        for (var jj = ns; jj > 0u; jj--) {
            let j = jj - 1u;
            n--;
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
    }
    status = completion(completion(status, done_fwd, n_steps), done_bwd, n_steps);
    let written_g = write_grad(s, &g, loss, 0.0);
    status = completion(status, written_g, N_PARAMS);
    write_stats(s, n_steps, 0u, 2u * RK_STAGES * n_steps, status);
}
