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

@compute @workgroup_size(WG)
fn reversible_heun(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    let b = params.batch;
    if s >= b {
        return;
    }
    let y0 = load_y0(s);
    var x = y0;
    var yh = y0;
    var act: Store;
    var dact: Store;
    var fh: Vec;
    var fn_: Vec;
    var yh_new: Vec;
    var dl: Vec;
    var status = STATUS_OK;
    let n_steps = params.n_steps;
    let n_obs = params.n_obs;
    var done_fwd = 0u;
    var done_bwd = 0u;
    var loss = 0.0;
    mlp_eval(seg_t0(0u), &yh, &act, &dact, &fh);
    for (var k = 0u; k < n_obs; k++) {
        let ts = seg_t0(k);
        let hs = seg_h(k);
        let ns = seg_n(k);
        for (var j = 0u; j < ns; j++) {
            let h = seg_step(k, j);
            let t_next = ts + f32(j) * hs + h;
            for (var i = 0u; i < D; i++) {
                yh_new[i] = 2.0 * x[i] - yh[i] + h * fh[i];
            }
            mlp_eval(t_next, &yh_new, &act, &dact, &fn_);
            for (var i = 0u; i < D; i++) {
                x[i] += 0.5 * h * (fh[i] + fn_[i]);
            }
            yh = yh_new;
            fh = fn_;
            done_fwd++;
        }
        loss += loss_term(s, k, &x, &dl, true);
        obs_store(k, s, &dl);
    }
    if !all_finite(&x) {
        status = STATUS_NONFINITE;
    }
    write_state(s, &x);
    var ax: Vec;
    var ay: Vec;
    for (var i = 0u; i < D; i++) {
        ax[i] = 0.0;
        ay[i] = 0.0;
    }
    var g: Grad;
    zero_grad(&g);
    var v: Vec;
    var jv: Vec;
    var bb: Vec;
    var c: Vec;
    var f_next: Vec;
    var f_here: Vec;
    var yh_prev: Vec;
    // (act, dact) hold the evaluation at the current ŷ_{n+1}; refreshed at ŷ_N first.
    let k_last = n_obs - 1u;
    let t_end = seg_t0(k_last) + f32(seg_n(k_last) - 1u) * seg_h(k_last)
        + seg_step(k_last, seg_n(k_last) - 1u);
    mlp_eval(t_end, &yh, &act, &dact, &f_next);
    var act2: Store;
    var dact2: Store;
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
            let t_n = ts + f32(j) * hs;
            for (var i = 0u; i < D; i++) {
                v[i] = 0.5 * h * ax[i];
            }
            mlp_vjp(&act, &dact, &v, 1.0, &g, &jv);
            for (var i = 0u; i < D; i++) {
                bb[i] = ay[i] + jv[i];
                yh_prev[i] = 2.0 * x[i] - yh[i] - h * f_next[i];
            }
            mlp_eval(t_n, &yh_prev, &act2, &dact2, &f_here);
            for (var i = 0u; i < D; i++) {
                c[i] = 0.5 * h * ax[i] + h * bb[i];
            }
            mlp_vjp(&act2, &dact2, &c, 1.0, &g, &jv);
            for (var i = 0u; i < D; i++) {
                x[i] -= 0.5 * h * (f_next[i] + f_here[i]);
                ax[i] += 2.0 * bb[i];
                ay[i] = -bb[i] + jv[i];
            }
            yh = yh_prev;
            f_next = f_here;
            act = act2;
            dact = dact2;
            done_bwd++;
        }
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
