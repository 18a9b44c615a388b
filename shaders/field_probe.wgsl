// `field_probe`: one evaluation of the field and one vector–Jacobian product at it, per
// sample, so that tests can hold the generated MLP functions (plain or the density field's
// trace form) against the CPU: y = y0[s] at t = params.t0 and v = the targets' row s (upload
// with the terminal targets). Writes out[s] = F(t, y), sample s's gradient column
// vᵀ ∂F/∂θ (reduced over the batch after), and the first two components of vy = vᵀ ∂F/∂Y in
// the sample's loss and reconstruction slots (D ≥ 2).

@compute @workgroup_size(WG)
fn field_probe(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    if s >= params.batch {
        return;
    }
    var y = load_y0(s);
    var v: Vec;
    for (var i = 0u; i < D; i++) {
        v[i] = data[params.target_off + s * D + i];
    }
    var act: Store;
    var dact: Store;
    var f: Vec;
    mlp_eval(params.t0, &y, &act, &dact, &f);
    var g: Grad;
    zero_grad(&g);
    var vy: Vec;
    mlp_vjp(&act, &dact, &v, 1.0, &g, &vy);
    write_state(s, &f);
    let written = write_grad(s, &g, vy[0], vy[min(1u, D - 1u)]);
    write_stats(s, 0u, 0u, 1u, completion(STATUS_OK, written, N_PARAMS));
}
