// `reversible-rk4` / `reversible-midpoint` (McCallum & Foster; nodelab::grad::reversible,
// PAPER-NOTES; the kernel's tableau is RK4 or midpoint, its `rk_` functions): state (Y, Z),
// Y_0 = Z_0 = y_0, coupling λ ∈ (0, 1] (params.h0 carries λ: no fixed-step kernel has an
// initial step), Ψ_h(t, x) = Φ_h(t, x) − x the tableau step's increment:
//   Y' = λY + (1 − λ)Z + Ψ_h(t, Z),   Z' = Z − Ψ_{−h}(t + h, Y').
// Exact discrete gradient with O(1) memory: reverse Z = Z' + Ψ_{−h}(t + h, Y'),
// Y = λ⁻¹Y' + (1 − λ⁻¹)Z − λ⁻¹Ψ_h(t, Z), and the step's adjoint
//   Ȳ'' = Ȳ' − J_{Ψ−h}(Y')ᵀZ̄',  θ̄ −= Z̄'ᵀ∂Ψ_{−h}/∂θ;
//   Ȳ = λȲ'',  Z̄ = Z̄' + (1 − λ)Ȳ'' + J_{Ψh}(Z)ᵀȲ'',  θ̄ += Ȳ''ᵀ∂Ψ_h/∂θ,
// each increment's VJP being backprop.wgsl's step adjoint less the identity. The loss
// reads Y on the reversible grid. Reconstruction error max(|Y_back − y0|, |Z_back − y0|).
// The forward and backward steps run in step chunks (common.wgsl), (Y, Z), (Ȳ, Z̄), the loss
// and θ̄ kept on the device between dispatches.

// Ψ_h(t, x) = Φ_h(t, x) − x.
fn rk_increment(t: f32, h: f32, x: ptr<function, Vec>) -> Vec {
    var a: Store;
    var d: Store;
    var k1: Vec;
    var k2: Vec;
    var k3: Vec;
    var k4: Vec;
    var yn: Vec;
    mlp_eval(t, x, &a, &d, &k1);
    rk_step(t, h, x, &k1, &k2, &k3, &k4, &a, &d, &yn);
    var out: Vec;
    for (var i = 0u; i < D; i++) {
        out[i] = yn[i] - (*x)[i];
    }
    return out;
}

// J_Ψᵀ ā of Ψ_h at (t, x), with g += āᵀ∂Ψ_h/∂θ: the generated step adjoint `rk_step_vjp`
// (the step's, without ā's identity term).
fn rk_increment_vjp(t: f32, h: f32, x: ptr<function, Vec>, abar: ptr<function, Vec>,
                     g: ptr<function, Grad>) -> Vec {
    var a1: Store;
    var d1: Store;
    var a2: Store;
    var d2: Store;
    var a3: Store;
    var d3: Store;
    var a4: Store;
    var d4: Store;
    var yn: Vec;
    rk_step_kept(t, h, x, &a1, &d1, &a2, &d2, &a3, &d3, &a4, &d4, &yn);
    return rk_step_vjp(h, &a1, &d1, &a2, &d2, &a3, &d3, &a4, &d4, abar, g);
}

@compute @workgroup_size(WG)
fn reversible_rk4(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    let b = params.batch;
    if s >= b {
        return;
    }
    let lambda = params.h0;
    let y0 = load_y0(s);
    let n_steps = params.n_steps;
    let n_obs = params.n_obs;
    // Step chunks (common.wgsl): the sequence is the N forward steps q = n, then the N
    // backward steps q = 2N − 1 − n; this dispatch runs q ∈ [live.q, q_end). Live rows:
    // Y (0), Z (D), Ȳ (2D), Z̄ (3D), the loss (4D); θ̄ in grad_ps.
    let live = live_begin(s);
    let q_end = chunk_end(live.q, 2u * n_steps);
    var y = y0;
    var z = y0;
    var dl: Vec;
    var status = live.status;
    var done_fwd = live.c1;
    var done_bwd = live.c2;
    var loss = 0.0;
    var ay: Vec;
    var az: Vec;
    for (var i = 0u; i < D; i++) {
        ay[i] = 0.0;
        az[i] = 0.0;
    }
    var g: Grad;
    zero_grad(&g);
    if live.q > 0u {
        y = live_load_vec(s, 0u);
        z = live_load_vec(s, D);
        ay = live_load_vec(s, 2u * D);
        az = live_load_vec(s, 3u * D);
        loss = live_load(s, 4u * D);
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
            let h = seg_step(k, j);
            let t = ts + f32(j) * hs;
            let pf = rk_increment(t, h, &z);
            for (var i = 0u; i < D; i++) {
                y[i] = lambda * y[i] + (1.0 - lambda) * z[i] + pf[i];
            }
            let pb = rk_increment(t + h, -h, &y);
            for (var i = 0u; i < D; i++) {
                z[i] -= pb[i];
            }
            done_fwd++;
        }
        if lo < hi && hi == seg0 + ns {
            loss += loss_term(s, k, &y, &dl, true);
            obs_store(k, s, &dl);
        }
        seg0 += ns;
    }
    if live.q < n_steps && q_end >= n_steps {
        if !(all_finite(&y) && all_finite(&z)) {
            status = STATUS_NONFINITE;
        }
        write_state(s, &y);
    }
    // Backward steps n ∈ [n_lo, n_hi) of this chunk, from the top.
    let n_hi_all = 2u * n_steps - max(live.q, n_steps);
    let n_lo_all = 2u * n_steps - max(q_end, n_steps);
    var cot: Vec;
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
                ay[i] += inj[i];
            }
        }
        let ts = seg_t0(k);
        let hs = seg_h(k);
        for (var nn = n_hi; nn > n_lo; nn--) {
            let j = nn - 1u - seg_start;
            let h = seg_step(k, j);
            let t = ts + f32(j) * hs;
            // Z' = Z − Ψ_{−h}(t + h, Y'): its adjoint, then Z reconstructed.
            for (var i = 0u; i < D; i++) {
                cot[i] = -az[i];
            }
            let jb = rk_increment_vjp(t + h, -h, &y, &cot, &g);
            let pb = rk_increment(t + h, -h, &y);
            for (var i = 0u; i < D; i++) {
                ay[i] += jb[i];
                z[i] += pb[i];
            }
            // Y' = λY + (1 − λ)Z + Ψ_h(t, Z): its adjoint, then Y reconstructed.
            let jf = rk_increment_vjp(t, h, &z, &ay, &g);
            let pf = rk_increment(t, h, &z);
            for (var i = 0u; i < D; i++) {
                az[i] += (1.0 - lambda) * ay[i] + jf[i];
                y[i] = (y[i] - (1.0 - lambda) * z[i] - pf[i]) / lambda;
                ay[i] *= lambda;
            }
            done_bwd++;
        }
        seg_end = seg_start;
    }
    if q_end < 2u * n_steps {
        live_save_vec(s, 0u, &y);
        live_save_vec(s, D, &z);
        live_save_vec(s, 2u * D, &ay);
        live_save_vec(s, 3u * D, &az);
        live_save(s, 4u * D, loss);
        grad_save(s, &g);
        live_suspend(s, Live(q_end, done_fwd, done_bwd, status));
        return;
    }
    status = completion(completion(status, done_fwd, n_steps), done_bwd, n_steps);
    var recon = 0.0;
    for (var i = 0u; i < D; i++) {
        recon = max(recon, max(abs(y[i] - y0[i]), abs(z[i] - y0[i])));
    }
    let written_g = write_grad(s, &g, loss, recon);
    status = completion(status, written_g, N_PARAMS);
    write_stats(s, n_steps, 0u, 6u * RK_STAGES * n_steps, status);
}
