// `checkpoint`: the `backprop` derivative of the fixed-step solve (the kernel's tableau) from stored checkpoints
// (nodelab::grad::checkpoint, ANODE-style recomputation). The forward pass keeps the state
// before every `stride`-th step (params.max_steps holds the stride: ⌈N/K⌉ for K checkpoints);
// the backward pass, block by block from the last, recomputes the block's step start states
// from its checkpoint into a tape of `stride` states and sweeps back through them exactly as
// backprop.wgsl does. `traj`: [checkpoints (n_ck × D × batch) | tape (stride × D × batch) |
// per-observation ∂L/∂y from obs_off]; the memory is (K + N/K) states instead of N. The
// forward, replay and backward steps run in step chunks (common.wgsl), the live state kept on
// the device between dispatches.

// (segment k, index j in it) of global step n (the segments between observations laid end
// to end): located once per block and dispatch and then stepped (ck_next, ck_prev), so a block
// costs O(K + steps), not O(K · steps) (a software driver caps a loop's iterations per invocation).
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
    // Step chunks (common.wgsl): the sequence is the N forward steps q = n, then per
    // checkpoint block c = n_ck − 1 … 0 (steps [first_c, last_c)) its len_c replay steps and
    // len_c backward steps, block c from q = N + 2 (N − last_c): 3N in all. This dispatch runs
    // q ∈ [live.q, q_end). Live rows: y, ā, the loss, the replay state yr; θ̄ in `grad_ps`;
    // the block's tape stays in `traj`. Counters: forward steps, replay + backward steps.
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
    let n_steps = params.n_steps;
    let n_obs = params.n_obs;
    let stride = max(params.max_steps, 1u);
    let n_ck = (n_steps + stride - 1u) / stride;
    let tape_off = n_ck * D * b;
    let live = live_begin(s);
    let q_end = chunk_end(live.q, 3u * n_steps);
    var status = live.status;
    var done_fwd = live.c1;
    var done_back = live.c2;
    var y = load_y0(s);
    var yr = y;
    var loss = 0.0;
    var abar: Vec;
    for (var i = 0u; i < D; i++) {
        abar[i] = 0.0;
    }
    var g: Grad;
    zero_grad(&g);
    if live.q > 0u {
        y = live_load_vec(s, 0u);
        abar = live_load_vec(s, D);
        loss = live_load(s, 2u * D);
        yr = live_load_vec(s, 2u * D + 1u);
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
            if n % stride == 0u {
                for (var i = 0u; i < D; i++) {
                    traj[((n / stride) * D + i) * b + s] = y[i];
                }
            }
            let j = n - seg0;
            let t = ts + f32(j) * hs;
            let h = seg_step(k, j);
            mlp_eval(t, &y, &a1, &d1, &k1);
            rk_step(t, h, &y, &k1, &k2, &k3, &k4, &a1, &d1, &y_new);
            y = y_new;
            done_fwd++;
        }
        if lo < hi && hi == seg0 + ns {
            loss += loss_term(s, k, &y, &dl, true);
            obs_store(k, s, &dl);
        }
        seg0 += ns;
    }
    if live.q < n_steps && q_end >= n_steps {
        if !all_finite(&y) {
            status = STATUS_NONFINITE;
        }
        write_state(s, &y);
    }
    // Backward phase: this chunk's part r ∈ [r_lo, r_hi) of each block (r < len: replay
    // step first + r; r ≥ len: backward step last − 1 − (r − len)).
    let p_lo = max(live.q, n_steps) - n_steps;
    let p_hi = max(q_end, n_steps) - n_steps;
    for (var cc = n_ck; cc > 0u; cc--) {
        let first = (cc - 1u) * stride;
        let last = min(first + stride, n_steps);
        let len = last - first;
        let p0 = 2u * (n_steps - last);
        let r_lo = max(p_lo, p0) - p0;
        let r_hi = min(p_hi, p0 + 2u * len) - min(p_hi, p0);
        if r_lo >= r_hi {
            continue;
        }
        // Replay the block from its checkpoint (or where the last chunk stopped), keeping
        // every step's start state in the tape.
        if r_lo == 0u {
            for (var i = 0u; i < D; i++) {
                yr[i] = traj[((cc - 1u) * D + i) * b + s];
            }
        }
        let replay_hi = min(r_hi, len);
        if r_lo < replay_hi {
            var at = ck_locate(first + r_lo);
            for (var m = first + r_lo; m < first + replay_hi; m++) {
                for (var i = 0u; i < D; i++) {
                    traj[tape_off + ((m - first) * D + i) * b + s] = yr[i];
                }
                let th = ck_step(at);
                mlp_eval(th.x, &yr, &a1, &d1, &k1);
                rk_step(th.x, th.y, &yr, &k1, &k2, &k3, &k4, &a1, &d1, &y_new);
                yr = y_new;
                at = ck_next(at);
                done_back++;
            }
        }
        // Sweep back through the block (the generated step adjoint, as backprop.wgsl).
        let bwd_lo = max(r_lo, len) - len;
        let bwd_hi = max(r_hi, len) - len;
        if bwd_lo < bwd_hi {
            var back = ck_locate(last - 1u - bwd_lo);
            for (var mm = last - bwd_lo; mm > last - bwd_hi; mm--) {
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
                let back_a = rk_step_vjp(h, &a1, &d1, &a2, &d2, &a3, &d3, &a4, &d4, &abar, &g);
                for (var i = 0u; i < D; i++) {
                    abar[i] += back_a[i];
                }
                done_back++;
            }
        }
    }
    if q_end < 3u * n_steps {
        live_save_vec(s, 0u, &y);
        live_save_vec(s, D, &abar);
        live_save(s, 2u * D, loss);
        live_save_vec(s, 2u * D + 1u, &yr);
        grad_save(s, &g);
        live_suspend(s, Live(q_end, done_fwd, done_back, status));
        return;
    }
    status = completion(completion(status, done_fwd, n_steps), done_back, 2u * n_steps);
    let written_g = write_grad(s, &g, loss, 0.0);
    status = completion(status, written_g, N_PARAMS);
    write_stats(s, n_steps, 0u, 4u * RK_STAGES * n_steps, status);
}
