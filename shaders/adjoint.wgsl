// `adjoint`: the continuous adjoint, backsolve (reverse-dynamic) variant. Forward: fixed-step
// RK4 to y(T), nothing stored. Backward, in s = T − t, the augmented system
//   dy/ds = −f(y),   da/ds = (∂f/∂y)ᵀ a,   dg/ds = aᵀ ∂f/∂θ,
// from y(T), a(T) = dL/dy(T), g = 0, integrated with RK4 on the forward steps in reverse order;
// g(t0) = dL/dθ (Chen et al. 2018; the IRDM paper's §2). g does not feed back, so its RK4
// update is the quadrature Σ b_i hb aᵢᵀ∂f/∂θ(yᵢ), accumulated stage by stage. The
// reconstruction error max_i |y_back(t0) − y0| is reported per sample.

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
    var status = STATUS_OK;
    let n_steps = params.n_steps;
    var done_fwd = 0u;
    var done_bwd = 0u;
    for (var n = 0u; n < n_steps; n++) {
        let t = fixed_t(n);
        let h = fixed_h(n);
        mlp_eval(t, &y, &act, &dact, &k1);
        rk4_step(t, h, &y, &k1, &k2, &k3, &k4, &act, &dact, &y_new);
        y = y_new;
        done_fwd++;
    }
    if !all_finite(&y) {
        status = STATUS_NONFINITE;
    }
    write_state(s, &y);
    var a: Vec;
    let loss = loss_and_grad(s, &y, &a);
    var g: Grad;
    zero_grad(&g);
    var f: Vec;
    var ja: Vec;
    var ys: Vec;
    var as_: Vec;
    var fsum: Vec;
    var gsum: Vec;
    for (var k = n_steps; k > 0u; k--) {
        let n = k - 1u;
        let hb = fixed_h(n);
        let t = fixed_t(n) + hb;
        // Stage 1.
        mlp_eval(t, &y, &act, &dact, &f);
        mlp_vjp(&act, &dact, &a, hb / 6.0, &g, &ja);
        fsum = f;
        gsum = ja;
        for (var i = 0u; i < D; i++) {
            ys[i] = y[i] - 0.5 * hb * f[i];
            as_[i] = a[i] + 0.5 * hb * ja[i];
        }
        // Stage 2.
        mlp_eval(t - 0.5 * hb, &ys, &act, &dact, &f);
        mlp_vjp(&act, &dact, &as_, hb / 3.0, &g, &ja);
        for (var i = 0u; i < D; i++) {
            fsum[i] += 2.0 * f[i];
            gsum[i] += 2.0 * ja[i];
            ys[i] = y[i] - 0.5 * hb * f[i];
            as_[i] = a[i] + 0.5 * hb * ja[i];
        }
        // Stage 3.
        mlp_eval(t - 0.5 * hb, &ys, &act, &dact, &f);
        mlp_vjp(&act, &dact, &as_, hb / 3.0, &g, &ja);
        for (var i = 0u; i < D; i++) {
            fsum[i] += 2.0 * f[i];
            gsum[i] += 2.0 * ja[i];
            ys[i] = y[i] - hb * f[i];
            as_[i] = a[i] + hb * ja[i];
        }
        // Stage 4.
        mlp_eval(t - hb, &ys, &act, &dact, &f);
        mlp_vjp(&act, &dact, &as_, hb / 6.0, &g, &ja);
        for (var i = 0u; i < D; i++) {
            fsum[i] += f[i];
            gsum[i] += ja[i];
            y[i] -= hb / 6.0 * fsum[i];
            a[i] += hb / 6.0 * gsum[i];
        }
        done_bwd++;
    }
    status = completion(completion(status, done_fwd, n_steps), done_bwd, n_steps);
    var recon = 0.0;
    for (var i = 0u; i < D; i++) {
        recon = max(recon, abs(y[i] - y0[i]));
    }
    let written_g = write_grad(s, &g, loss, recon);
    status = completion(status, written_g, N_PARAMS);
    write_stats(s, n_steps, 0u, 12u * n_steps, status);
}
