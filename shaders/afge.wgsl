// `afge`: feedforward gradient estimation (forward sensitivities, afge-zero-cost-rk4.md §4).
// S = ∂y/∂θ (D × N_PARAMS, kept in the invocation) is integrated alongside y with the same RK4
// steps: S' = ∂f/∂y S + ∂f/∂θ. Because the S equation is linear given the primal stages, each
// column j is advanced independently with the four stored stages:
//   K1 = J1 s + ∂f/∂θ_j(1),  K2 = J2 (s + h/2 K1) + …,  K3 = J3 (s + h/2 K2) + …,
//   K4 = J4 (s + h K3) + …,   s ← s + h/6 (K1 + 2K2 + 2K3 + K4),
// which is RK4 on [y, S] exactly; each stage's Jacobians J = ∂f/∂y and G_l = ∂f/∂z_l are formed
// once (D reverse passes), after which ∂f/∂θ_j = G_l[:, r]·x_l[c] and every column is O(D²).
// dL/dθ = Σ_k ∂L/∂y(τ_k) · S(τ_k) over the observations (§4.2; one, at T, for the terminal
// losses). With fixed steps this equals the backprop gradient to rounding.

const S_LEN: u32 = D * N_PARAMS;

// K = J u + ∂f/∂θ_j with ∂f/∂θ_j = G_l[:, r] · x: the stage's Jacobians `jac` (mlp_jac), the
// column `goff` = ACT_OFF[l+1] − SIZES[0] + r of G, and x the layer input x_l[c] for the weight
// W_l[r][c] (1 for the bias b_l[r]).
fn jac_apply(jac: ptr<function, Jac>, u: ptr<function, Vec>, goff: u32, x: f32,
             k: ptr<function, Vec>) {
    for (var i = 0u; i < D; i++) {
        var v = (*jac)[JG + i * OUT_TOTAL + goff] * x;
        for (var c = 0u; c < D; c++) {
            v += (*jac)[i * D + c] * (*u)[c];
        }
        (*k)[i] = v;
    }
}

// Advances every column of S over one RK4 step whose four stages are stored in (a_k, j_k), each
// column by the generated `rk4_sens_column` (nodelab::gpu::stages). With the stage Jacobians
// at hand a column costs O(D²), not a pass through the network. Returns the columns done.
fn sens_step(sens: ptr<function, array<f32, S_LEN>>, h: f32,
             a1: ptr<function, Store>, j1: ptr<function, Jac>,
             a2: ptr<function, Store>, j2: ptr<function, Jac>,
             a3: ptr<function, Store>, j3: ptr<function, Jac>,
             a4: ptr<function, Store>, j4: ptr<function, Jac>) -> u32 {
    var col: Vec;
    var nxt: Vec;
    var cols = 0u;
    for (var l = 0u; l < N_LAYERS; l++) {
        let n_in = SIZES[l];
        let n_out = SIZES[l + 1u];
        let w0 = W_OFF[l];
        let b0 = w0 + n_in * n_out;
        let xi = ACT_OFF[l];
        let g0 = ACT_OFF[l + 1u] - SIZES[0];
        for (var r = 0u; r < n_out; r++) {
            // c < n_in: the weight W_l[r][c]; c = n_in: the bias b_l[r].
            for (var c = 0u; c <= n_in; c++) {
                let bias = c == n_in;
                let j = select(w0 + r * n_in + c, b0 + r, bias);
                let xc = min(xi + c, ACT_TOTAL - 1u);
                for (var i = 0u; i < D; i++) {
                    col[i] = (*sens)[i * N_PARAMS + j];
                }
                rk4_sens_column(h, &col, g0 + r, bias, xc, a1, j1, a2, j2, a3, j3, a4, j4, &nxt);
                for (var i = 0u; i < D; i++) {
                    (*sens)[i * N_PARAMS + j] = nxt[i];
                }
                cols++;
            }
        }
    }
    return cols;
}

// Live rows of the chunked fixed-step kernel: [y (D) | loss | S (D·N_PARAMS)]; dL/dθ in the
// sample's `grad_ps` rows.
const AF_LOSS: u32 = D;
const AF_S: u32 = D + 1u;

fn sens_save(s: u32, r0: u32, sens: ptr<function, array<f32, S_LEN>>) {
    for (var j = 0u; j < S_LEN; j++) {
        live_save(s, r0 + j, (*sens)[j]);
    }
}

fn sens_load(s: u32, r0: u32, sens: ptr<function, array<f32, S_LEN>>) {
    for (var j = 0u; j < S_LEN; j++) {
        (*sens)[j] = live_load(s, r0 + j);
    }
}

// dL/dθ += ∂L/∂y(τ_k) · S(τ_k); returns the entries added.
fn sens_grad(dl: ptr<function, Vec>, sens: ptr<function, array<f32, S_LEN>>,
             g: ptr<function, Grad>) -> u32 {
    var written = 0u;
    for (var j = 0u; j < N_PARAMS; j++) {
        var v = 0.0;
        for (var i = 0u; i < D; i++) {
            v += (*dl)[i] * (*sens)[i * N_PARAMS + j];
        }
        (*g)[j] += v;
        written++;
    }
    return written;
}

// Step chunks (common.wgsl): the sequence is the N steps; this dispatch runs steps
// [live.q, q_end), the live state (y, the loss, S, dL/dθ) saved between dispatches.
@compute @workgroup_size(WG)
fn rk4_afge(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    let b = params.batch;
    if s >= b {
        return;
    }
    let n_steps = params.n_steps;
    let n_obs = params.n_obs;
    let live = live_begin(s);
    let q_end = chunk_end(live.q, n_steps);
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
    var j1: Jac;
    var j2: Jac;
    var j3: Jac;
    var j4: Jac;
    var y_new: Vec;
    var status = live.status;
    var done = live.q;
    var cols = 0u;
    var loss = 0.0;
    var dl: Vec;
    var g: Grad;
    zero_grad(&g);
    var written = 0u;
    var ends = 0u;
    if live.q > 0u {
        y = live_load_vec(s, 0u);
        loss = live_load(s, AF_LOSS);
        sens_load(s, AF_S, &sens);
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
            let jj = n - seg0;
            let t = ts + f32(jj) * hs;
            let h = seg_step(k, jj);
            rk4_step_kept(t, h, &y, &a1, &d1, &a2, &d2, &a3, &d3, &a4, &d4, &y_new);
            mlp_jac(&a1, &d1, &j1);
            mlp_jac(&a2, &d2, &j2);
            mlp_jac(&a3, &d3, &j3);
            mlp_jac(&a4, &d4, &j4);
            cols += sens_step(&sens, h, &a1, &j1, &a2, &j2, &a3, &j3, &a4, &j4);
            y = y_new;
            done++;
        }
        // Segment k ends in this chunk: dL/dθ += ∂L/∂y(τ_k) · S(τ_k).
        if lo < hi && hi == seg0 + ns {
            loss += loss_term(s, k, &y, &dl, true);
            written += sens_grad(&dl, &sens, &g);
            ends++;
        }
        seg0 += ns;
    }
    // Loops cut short by a driver, in this chunk.
    status = completion(completion(status, done, q_end), cols, (q_end - live.q) * N_PARAMS);
    status = completion(status, written, ends * N_PARAMS);
    if q_end < n_steps {
        live_save_vec(s, 0u, &y);
        live_save(s, AF_LOSS, loss);
        sens_save(s, AF_S, &sens);
        grad_save(s, &g);
        live_suspend(s, Live(q_end, 0u, 0u, status));
        return;
    }
    if !all_finite(&y) {
        status = STATUS_NONFINITE;
    }
    write_state(s, &y);
    let written_g = write_grad(s, &g, loss, 0.0);
    status = completion(status, written_g, N_PARAMS);
    write_stats(s, n_steps, 0u, 4u * n_steps, status);
}

// `afge` with the zero-cost adaptive RK4, each sample its own steps: the step size is
// controlled on y alone (zc_rk4.wgsl) and S is advanced only on accepted steps, with that step's
// stored stages — the derivative of the discrete forward map actually taken (step sizes held
// constant), as `nodelab grad`'s afge with `--afge-control state`. Rejected attempts cost no
// sensitivity work. The solve runs segment by segment between the observation times, each a
// fresh adaptive solve (initial step, first-step estimator, attempt budget) as
// nodelab::grad::forward::run_segment; segment k's table entry is [t0, t1, h_min, h_max, −],
// and dL/dθ = Σ_k ∂L/∂y(τ_k) · S(τ_k).
//
// Step chunks over the attempted steps of all segments (zc_rk4.wgsl): attempts [live.q, q_end)
// in this dispatch, out of `attempt_budget()` = max_steps per segment; a sample that finished
// returns at once. Live rows below; dL/dθ in the sample's `grad_ps` rows.
const AA_Y: u32 = 0u;
const AA_ZC: u32 = D;
const AA_LOSS: u32 = AA_ZC + ZC_LIVE_ROWS;
const AA_SEG: u32 = AA_LOSS + 1u;
// The segment's first attempt (q when it began), two rows.
const AA_SEG_Q0: u32 = AA_SEG + 1u;
// Stage 1's activation store (the FSAL evaluation at t, y), ACT_TOTAL rows each.
const AA_A1: u32 = AA_SEG_Q0 + 2u;
const AA_D1: u32 = AA_A1 + ACT_TOTAL;
const AA_S: u32 = AA_D1 + ACT_TOTAL;

// Attempts of the whole sequence: max_steps per segment (saturated at 2³² − 1, as on the host).
fn attempt_budget() -> u32 {
    let m = params.max_steps;
    let n = params.n_obs;
    if n > 0u && m > 0xFFFFFFFFu / n {
        return 0xFFFFFFFFu;
    }
    return m * n;
}

@compute @workgroup_size(WG)
fn zc_rk4_afge(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    let b = params.batch;
    if s >= b {
        return;
    }
    let live = live_begin(s);
    if (live.status & LIVE_FINISHED) != 0u {
        return;
    }
    let total = attempt_budget();
    let q_end = chunk_end(live.q, total);
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
    var a5: Store;
    var d5: Store;
    var ax: Store;
    var dx: Store;
    var j1: Jac;
    var j2: Jac;
    var j3: Jac;
    var j4: Jac;
    var k1: Vec;
    var k2: Vec;
    var k3: Vec;
    var k4: Vec;
    var k5: Vec;
    var y_new: Vec;
    var coeffs: array<f32, 3 * D>;
    var prev: ZcPrev;
    var status = STATUS_OK;
    var nfev = 0u;
    var accepted = 0u;
    var rejected = 0u;
    // Attempts over all segments (the sequence number), and this dispatch's counts.
    var q = live.q;
    var cols = 0u;
    var accepted_here = 0u;
    var ends = 0u;
    var loss = 0.0;
    var dl: Vec;
    var g: Grad;
    zero_grad(&g);
    var written = 0u;
    let n_obs = params.n_obs;
    var k = 0u;
    var t = 0.0;
    var h = 0.0;
    var last_rejected = false;
    var seg_q0 = 0u;
    // Resuming inside segment k (a running sample is always inside a begun segment).
    var resume = live.q > 0u;
    if resume {
        y = live_load_vec(s, AA_Y);
        let z = zc_load(s, AA_ZC, &k1, &prev);
        t = z.t;
        h = z.h;
        last_rejected = z.last_rejected;
        loss = live_load(s, AA_LOSS);
        k = u32(live_load(s, AA_SEG));
        seg_q0 = live_load_u32(s, AA_SEG_Q0);
        for (var i = 0u; i < ACT_TOTAL; i++) {
            a1[i] = live_load(s, AA_A1 + i);
            d1[i] = live_load(s, AA_D1 + i);
        }
        sens_load(s, AA_S, &sens);
        grad_load(s, &g);
        accepted = live.c1;
        rejected = live.q - live.c1;
        nfev = live.c2;
    }
    var suspended = false;
    for (; k < n_obs; k++) {
        let span = ZcSpan(seg_t0(k), seg_t1(k), data[params.seg_off + 5u * k + 2u],
                          data[params.seg_off + 5u * k + 3u]);
        let t1 = span.t1;
        if !resume {
            t = span.t0;
            seg_q0 = q;
            last_rejected = false;
            prev.valid = false;
            mlp_eval(t, &y, &a1, &d1, &k1);
            nfev++;
            h = params.h0;
            if h <= 0.0 {
                h = initial_step(span, &y, &k1, zc_h_floor(span, t), &ax, &dx);
                nfev++;
            }
        }
        resume = false;
        loop {
            if t >= t1 {
                break;
            }
            var hh = h;
            var clipped = false;
            status = zc_guard(span, t, q - seg_q0, &hh, &clipped);
            if status != STATUS_OK {
                break;
            }
            // The chunk's last attempt was made (the guard, repeated next dispatch, passed).
            if q >= q_end && q_end < total {
                suspended = true;
                break;
            }
            q++;
            rk4_stages_kept(t, hh, &y, &k1, &a2, &d2, &a3, &d3, &a4, &d4, &k2, &k3, &k4,
                            &y_new);
            if !all_finite(&y_new) {
                status = STATUS_NONFINITE;
                break;
            }
            mlp_eval(t + hh, &y_new, &a5, &d5, &k5);
            nfev += 4u;
            let ratio = zc_error_ratio(t, hh, &y, &y_new, &k1, &k2, &k3, &k4, &k5, &coeffs,
                                       &prev, &ax, &dx, &nfev);
            if ratio < 0.0 {
                status = STATUS_NONFINITE;
                break;
            }
            let ok = ratio <= 1.0;
            let fac = zc_factor(ratio, ok, last_rejected);
            if ok {
                mlp_jac(&a1, &d1, &j1);
                mlp_jac(&a2, &d2, &j2);
                mlp_jac(&a3, &d3, &j3);
                mlp_jac(&a4, &d4, &j4);
                cols += sens_step(&sens, hh, &a1, &j1, &a2, &j2, &a3, &j3, &a4, &j4);
                prev.coeffs = coeffs;
                prev.t = t;
                prev.h = hh;
                prev.valid = true;
                t = select(t + hh, t1, clipped);
                y = y_new;
                k1 = k5;
                a1 = a5;
                d1 = d5;
                accepted++;
                accepted_here++;
            } else {
                rejected++;
            }
            last_rejected = !ok;
            h = hh * fac;
        }
        if suspended {
            break;
        }
        if status == STATUS_OK && t < t1 {
            status = STATUS_INCOMPLETE;
        }
        if status != STATUS_OK {
            break;
        }
        // dL/dθ += ∂L/∂y(τ_k) · S(τ_k).
        loss += loss_term(s, k, &y, &dl, true);
        written += sens_grad(&dl, &sens, &g);
        ends++;
    }
    // Loops cut short by a driver, in this dispatch.
    status = completion(status, cols, accepted_here * N_PARAMS);
    status = completion(status, written, ends * N_PARAMS);
    if suspended && status == STATUS_OK {
        live_save_vec(s, AA_Y, &y);
        zc_save(s, AA_ZC, ZcState(t, h, last_rejected), &k1, &prev);
        live_save(s, AA_LOSS, loss);
        live_save(s, AA_SEG, f32(k));
        live_save_u32(s, AA_SEG_Q0, seg_q0);
        for (var i = 0u; i < ACT_TOTAL; i++) {
            live_save(s, AA_A1 + i, a1[i]);
            live_save(s, AA_D1 + i, d1[i]);
        }
        sens_save(s, AA_S, &sens);
        grad_save(s, &g);
        live_suspend(s, Live(q, accepted, nfev, STATUS_OK));
        return;
    }
    if !suspended {
        status = completion(status, k, n_obs);
    }
    write_state(s, &y);
    let written_g = write_grad(s, &g, loss, 0.0);
    status = completion(status, written_g, N_PARAMS);
    write_stats(s, accepted, rejected, nfev, status | LIVE_FINISHED);
}
