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
    var y = y0;
    var z = y0;
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
        loss += loss_term(s, k, &y, &dl, true);
        obs_store(k, s, &dl);
    }
    if !(all_finite(&y) && all_finite(&z)) {
        status = STATUS_NONFINITE;
    }
    write_state(s, &y);
    var ay: Vec;
    var az: Vec;
    for (var i = 0u; i < D; i++) {
        ay[i] = 0.0;
        az[i] = 0.0;
    }
    var g: Grad;
    zero_grad(&g);
    var cot: Vec;
    for (var kk = n_obs; kk > 0u; kk--) {
        let k = kk - 1u;
        let inj = obs_load(k, s);
        for (var i = 0u; i < D; i++) {
            ay[i] += inj[i];
        }
        let ts = seg_t0(k);
        let hs = seg_h(k);
        let ns = seg_n(k);
        for (var jj = ns; jj > 0u; jj--) {
            let j = jj - 1u;
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
