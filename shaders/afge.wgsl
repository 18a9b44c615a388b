// `afge`: feedforward gradient estimation (forward sensitivities, afge-zero-cost-rk4.md §4).
// S = ∂y/∂θ (D × N_PARAMS, kept in the invocation) is integrated alongside y with the same RK4
// steps: S' = ∂f/∂y S + ∂f/∂θ. Because the S equation is linear given the primal stages, each
// column j is advanced independently with the four stored stages:
//   K1 = J1 s + ∂f/∂θ_j(1),  K2 = J2 (s + h/2 K1) + …,  K3 = J3 (s + h/2 K2) + …,
//   K4 = J4 (s + h K3) + …,   s ← s + h/6 (K1 + 2K2 + 2K3 + K4),
// which is RK4 on [y, S] exactly. At T, dL/dθ = ∂L/∂y(T) · S(T). With fixed steps this equals
// the backprop gradient to rounding.

const S_LEN: u32 = D * N_PARAMS;

@compute @workgroup_size(WG)
fn rk4_afge(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    let b = params.batch;
    if s >= b {
        return;
    }
    var y = load_y0(s);
    var sens: array<f32, S_LEN>;
    for (var j = 0u; j < S_LEN; j++) {
        sens[j] = 0.0;
    }
    var a1: Store;
    var d1: Store;
    var a2: Store;
    var d2: Store;
    var a3: Store;
    var d3: Store;
    var a4: Store;
    var d4: Store;
    var y_new: Vec;
    var u: Vec;
    var kk: Vec;
    var acc: Vec;
    var col: Vec;
    var status = STATUS_OK;
    let n_steps = params.n_steps;
    var done = 0u;
    var cols = 0u;
    for (var n = 0u; n < n_steps; n++) {
        let t = fixed_t(n);
        let h = fixed_h(n);
        rk4_step_kept(t, h, &y, &a1, &d1, &a2, &d2, &a3, &d3, &a4, &d4, &y_new);
        for (var j = 0u; j < N_PARAMS; j++) {
            for (var i = 0u; i < D; i++) {
                col[i] = sens[i * N_PARAMS + j];
            }
            mlp_jvp(&a1, &d1, &col, j, &kk);
            for (var i = 0u; i < D; i++) {
                acc[i] = kk[i];
                u[i] = col[i] + 0.5 * h * kk[i];
            }
            mlp_jvp(&a2, &d2, &u, j, &kk);
            for (var i = 0u; i < D; i++) {
                acc[i] += 2.0 * kk[i];
                u[i] = col[i] + 0.5 * h * kk[i];
            }
            mlp_jvp(&a3, &d3, &u, j, &kk);
            for (var i = 0u; i < D; i++) {
                acc[i] += 2.0 * kk[i];
                u[i] = col[i] + h * kk[i];
            }
            mlp_jvp(&a4, &d4, &u, j, &kk);
            for (var i = 0u; i < D; i++) {
                sens[i * N_PARAMS + j] = col[i] + h / 6.0 * (acc[i] + kk[i]);
            }
            cols++;
        }
        y = y_new;
        done++;
    }
    status = completion(completion(status, done, n_steps), cols, n_steps * N_PARAMS);
    if !all_finite(&y) {
        status = STATUS_NONFINITE;
    }
    write_state(s, &y);
    var dl: Vec;
    let loss = loss_and_grad(s, &y, &dl);
    var g: Grad;
    var written = 0u;
    for (var j = 0u; j < N_PARAMS; j++) {
        var v = 0.0;
        for (var i = 0u; i < D; i++) {
            v += dl[i] * sens[i * N_PARAMS + j];
        }
        g[j] = v;
        written++;
    }
    status = completion(status, written, N_PARAMS);
    let written_g = write_grad(s, &g, loss, 0.0);
    status = completion(status, written_g, N_PARAMS);
    write_stats(s, n_steps, 0u, 4u * n_steps, status);
}
