// `alf`, the asynchronous leapfrog integrator (Zhuang et al., ICLR 2021; nodelab::grad::
// reversible): state (X, V), V_0 = f(t_0, X_0), one f-evaluation per step,
//   X_½ = X + h/2 V,   F = f(t + h/2, X_½),   V' = 2F − V,   X' = X + hF.
// Its exact discrete gradient with O(1) memory: the backward pass reconstructs each step's
// input algebraically, X_½ = X' − h/2 V', F = f(t + h/2, X_½), V = 2F − V', X = X' − hF, and
// runs the step's adjoint with F̄ = h X̄' + 2 V̄':
//   X̄ = X̄' + J(X_½)ᵀF̄,   V̄ = −V̄' + h/2 J(X_½)ᵀF̄,   dL/dθ += F̄ᵀ ∂f/∂θ(X_½);
// at the start V_0 = f(t_0, X_0) adds V̄_0ᵀ ∂f/∂θ(X_0). The loss reads X at the observation
// times on the reversible grid (as reversible_heun.wgsl). Reconstruction error |X_back − y0|.

@compute @workgroup_size(WG)
fn alf(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    let b = params.batch;
    if s >= b {
        return;
    }
    let y0 = load_y0(s);
    var x = y0;
    var v: Vec;
    var act: Store;
    var dact: Store;
    var f: Vec;
    var xh: Vec;
    var dl: Vec;
    var status = STATUS_OK;
    let n_steps = params.n_steps;
    let n_obs = params.n_obs;
    var done_fwd = 0u;
    var done_bwd = 0u;
    var loss = 0.0;
    let t0 = seg_t0(0u);
    mlp_eval(t0, &x, &act, &dact, &v);
    for (var k = 0u; k < n_obs; k++) {
        let ts = seg_t0(k);
        let hs = seg_h(k);
        let ns = seg_n(k);
        for (var j = 0u; j < ns; j++) {
            let h = seg_step(k, j);
            let t = ts + f32(j) * hs;
            for (var i = 0u; i < D; i++) {
                xh[i] = x[i] + 0.5 * h * v[i];
            }
            mlp_eval(t + 0.5 * h, &xh, &act, &dact, &f);
            for (var i = 0u; i < D; i++) {
                v[i] = 2.0 * f[i] - v[i];
                x[i] += h * f[i];
            }
            done_fwd++;
        }
        loss += loss_term(s, k, &x, &dl, true);
        obs_store(k, s, &dl);
    }
    if !(all_finite(&x) && all_finite(&v)) {
        status = STATUS_NONFINITE;
    }
    write_state(s, &x);
    var ax: Vec;
    var av: Vec;
    for (var i = 0u; i < D; i++) {
        ax[i] = 0.0;
        av[i] = 0.0;
    }
    var g: Grad;
    zero_grad(&g);
    var fbar: Vec;
    var jv: Vec;
    for (var kk = n_obs; kk > 0u; kk--) {
        let k = kk - 1u;
        let inj = obs_load(k, s);
        for (var i = 0u; i < D; i++) {
            ax[i] += inj[i];
        }
        let ts = seg_t0(k);
        let hs = seg_h(k);
        let ns = seg_n(k);
        for (var jj = ns; jj > 0u; jj--) {
            let j = jj - 1u;
            let h = seg_step(k, j);
            let t = ts + f32(j) * hs;
            for (var i = 0u; i < D; i++) {
                xh[i] = x[i] - 0.5 * h * v[i];
                fbar[i] = h * ax[i] + 2.0 * av[i];
            }
            mlp_eval(t + 0.5 * h, &xh, &act, &dact, &f);
            mlp_vjp(&act, &dact, &fbar, 1.0, &g, &jv);
            for (var i = 0u; i < D; i++) {
                v[i] = 2.0 * f[i] - v[i];
                x[i] -= h * f[i];
                ax[i] += jv[i];
                av[i] = -av[i] + 0.5 * h * jv[i];
            }
            done_bwd++;
        }
    }
    // V_0 = f(t_0, X_0).
    var y_start = y0;
    mlp_eval(t0, &y_start, &act, &dact, &f);
    mlp_vjp(&act, &dact, &av, 1.0, &g, &jv);
    status = completion(completion(status, done_fwd, n_steps), done_bwd, n_steps);
    var recon = 0.0;
    for (var i = 0u; i < D; i++) {
        recon = max(recon, abs(x[i] - y0[i]));
    }
    let written_g = write_grad(s, &g, loss, recon);
    status = completion(status, written_g, N_PARAMS);
    write_stats(s, n_steps, 0u, 2u * n_steps + 2u, status);
}
