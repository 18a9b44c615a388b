// `alf`, the asynchronous leapfrog integrator (Zhuang et al., ICLR 2021; nodelab::grad::
// reversible): state (X, V), V_0 = f(t_0, X_0), one f-evaluation per step,
//   X_½ = X + h/2 V,   F = f(t + h/2, X_½),   V' = 2F − V,   X' = X + hF.
// Its exact discrete gradient with O(1) memory: the backward pass reconstructs each step's
// input algebraically, X_½ = X' − h/2 V', F = f(t + h/2, X_½), V = 2F − V', X = X' − hF, and
// runs the step's adjoint with F̄ = h X̄' + 2 V̄':
//   X̄ = X̄' + J(X_½)ᵀF̄,   V̄ = −V̄' + h/2 J(X_½)ᵀF̄,   dL/dθ += F̄ᵀ ∂f/∂θ(X_½);
// at the start V_0 = f(t_0, X_0) adds V̄_0ᵀ ∂f/∂θ(X_0). The loss reads X at the observation
// times on the reversible grid (as reversible_heun.wgsl). Reconstruction error |X_back − y0|.
// The forward and backward steps run in step chunks (common.wgsl), (X, V), (X̄, V̄), the loss
// and θ̄ kept on the device between dispatches.

@compute @workgroup_size(WG)
fn alf(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    let b = params.batch;
    if s >= b {
        return;
    }
    let y0 = load_y0(s);
    let n_steps = params.n_steps;
    let n_obs = params.n_obs;
    // Step chunks (common.wgsl): the sequence is the N forward steps q = n, then the N
    // backward steps q = 2N − 1 − n; this dispatch runs q ∈ [live.q, q_end). Live rows: X (0),
    // V (D), X̄ (2D), V̄ (3D), the loss (4D); θ̄ in grad_ps.
    let live = live_begin(s);
    let q_end = chunk_end(live.q, 2u * n_steps);
    var x = y0;
    var v: Vec;
    var act: Store;
    var dact: Store;
    var f: Vec;
    var xh: Vec;
    var dl: Vec;
    var status = live.status;
    var done_fwd = live.c1;
    var done_bwd = live.c2;
    var loss = 0.0;
    var ax: Vec;
    var av: Vec;
    for (var i = 0u; i < D; i++) {
        ax[i] = 0.0;
        av[i] = 0.0;
    }
    var g: Grad;
    zero_grad(&g);
    let t0 = seg_t0(0u);
    if live.q > 0u {
        x = live_load_vec(s, 0u);
        v = live_load_vec(s, D);
        ax = live_load_vec(s, 2u * D);
        av = live_load_vec(s, 3u * D);
        loss = live_load(s, 4u * D);
        grad_load(s, &g);
    } else {
        mlp_eval(t0, &x, &act, &dact, &v);
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
        if lo < hi && hi == seg0 + ns {
            loss += loss_term(s, k, &x, &dl, true);
            obs_store(k, s, &dl);
        }
        seg0 += ns;
    }
    if live.q < n_steps && q_end >= n_steps {
        if !(all_finite(&x) && all_finite(&v)) {
            status = STATUS_NONFINITE;
        }
        write_state(s, &x);
    }
    // Backward steps n ∈ [n_lo, n_hi) of this chunk, from the top.
    let n_hi_all = 2u * n_steps - max(live.q, n_steps);
    let n_lo_all = 2u * n_steps - max(q_end, n_steps);
    var fbar: Vec;
    var jv: Vec;
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
        seg_end = seg_start;
    }
    if q_end < 2u * n_steps {
        live_save_vec(s, 0u, &x);
        live_save_vec(s, D, &v);
        live_save_vec(s, 2u * D, &ax);
        live_save_vec(s, 3u * D, &av);
        live_save(s, 4u * D, loss);
        grad_save(s, &g);
        live_suspend(s, Live(q_end, done_fwd, done_bwd, status));
        return;
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
