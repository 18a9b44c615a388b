// `checkpoint`: the `backprop` derivative of the fixed-step solve (the kernel's tableau) from stored checkpoints
// (nodelab::grad::checkpoint, ANODE-style recomputation). The forward pass keeps the state
// before every `stride`-th step (params.max_steps holds the stride: ⌈N/K⌉ for K checkpoints);
// the backward pass, chunk by chunk from the last, recomputes the chunk's step start states
// from its checkpoint into a tape of `stride` states and sweeps back through them exactly as
// backprop.wgsl does. `traj`: [checkpoints (n_ck × D × batch) | tape (stride × D × batch) |
// per-observation ∂L/∂y from obs_off]; the memory is (K + N/K) states instead of N.

// (segment k, index j in it) of global step n (the segments between observations laid end
// to end): located once per chunk and then stepped (ck_next, ck_prev), so a chunk costs
// O(K + steps), not O(K · steps) (a software driver caps a loop's iterations per invocation).
fn ck_locate(n: u32) -> vec2<u32> {
    var base = 0u;
    for (var k = 0u; k < params.n_obs; k++) {
        let ns = seg_n(k);
        if n < base + ns {
            return vec2<u32>(k, n - base);
        }
        base += ns;
    }
    return vec2<u32>(params.n_obs, 0u);
}

fn ck_next(at: vec2<u32>) -> vec2<u32> {
    if at.y + 1u < seg_n(at.x) {
        return vec2<u32>(at.x, at.y + 1u);
    }
    return vec2<u32>(at.x + 1u, 0u);
}

fn ck_prev(at: vec2<u32>) -> vec2<u32> {
    if at.y > 0u {
        return vec2<u32>(at.x, at.y - 1u);
    }
    if at.x > 0u {
        return vec2<u32>(at.x - 1u, seg_n(at.x - 1u) - 1u);
    }
    return at;
}

// (t, h) of step `at`.
fn ck_step(at: vec2<u32>) -> vec2<f32> {
    return vec2<f32>(seg_t0(at.x) + f32(at.y) * seg_h(at.x), seg_step(at.x, at.y));
}

@compute @workgroup_size(WG)
fn rk4_checkpoint(@builtin(global_invocation_id) gid: vec3<u32>) {
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
    let stride = max(params.max_steps, 1u);
    let n_ck = (n_steps + stride - 1u) / stride;
    let tape_off = n_ck * D * b;
    var done_fwd = 0u;
    var done_replay = 0u;
    var done_bwd = 0u;
    var loss = 0.0;
    var n = 0u;
    for (var k = 0u; k < n_obs; k++) {
        let ts = seg_t0(k);
        let hs = seg_h(k);
        let ns = seg_n(k);
        for (var j = 0u; j < ns; j++) {
            if n % stride == 0u {
                for (var i = 0u; i < D; i++) {
                    traj[((n / stride) * D + i) * b + s] = y[i];
                }
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
    for (var cc = n_ck; cc > 0u; cc--) {
        let first = (cc - 1u) * stride;
        let last = min(first + stride, n_steps);
        // Replay the chunk from its checkpoint, keeping every step's start state.
        var yr: Vec;
        for (var i = 0u; i < D; i++) {
            yr[i] = traj[((cc - 1u) * D + i) * b + s];
        }
        var at = ck_locate(first);
        for (var m = first; m < last; m++) {
            for (var i = 0u; i < D; i++) {
                traj[tape_off + ((m - first) * D + i) * b + s] = yr[i];
            }
            let th = ck_step(at);
            mlp_eval(th.x, &yr, &a1, &d1, &k1);
            rk_step(th.x, th.y, &yr, &k1, &k2, &k3, &k4, &a1, &d1, &y_new);
            yr = y_new;
            at = ck_next(at);
            done_replay++;
        }
        // Sweep back through the chunk (the generated step adjoint, as backprop.wgsl).
        var back = ck_locate(last - 1u);
        for (var mm = last; mm > first; mm--) {
            let m = mm - 1u;
            // Step m ends its segment: observation back.x's ∂L/∂y joins the adjoint.
            if back.y + 1u == seg_n(back.x) {
                let inj = obs_load(back.x, s);
                for (var i = 0u; i < D; i++) {
                    abar[i] += inj[i];
                }
            }
            let th = ck_step(back);
            back = ck_prev(back);
            let t = th.x;
            let h = th.y;
            var yn: Vec;
            for (var i = 0u; i < D; i++) {
                yn[i] = traj[tape_off + ((m - first) * D + i) * b + s];
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
    status = completion(status, done_replay, n_steps);
    let written_g = write_grad(s, &g, loss, 0.0);
    status = completion(status, written_g, N_PARAMS);
    write_stats(s, n_steps, 0u, 4u * RK_STAGES * n_steps, status);
}
