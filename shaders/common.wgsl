// nodelab GPU kernels: shared declarations (prepended to every kernel file).
//
// One invocation integrates one sample: its whole solve (and, for the gradient kernels, its
// whole backward pass) runs inside that invocation, so a forward solve is one dispatch and a
// gradient is two (the per-sample kernel, then `reduce.wgsl`); the chunked kernels split the
// solve over several dispatches of the same submission ("Step chunks" below). All arithmetic
// is f32.
//
// The block between the shape markers is replaced by `nodelab::gpu::shader::specialise` with the
// constants of the MLP actually run (WGSL private arrays need constant sizes). The default block
// below describes a 2-8-2 tanh MLP, so that this file is valid WGSL on its own.
//
// Layouts: the MLP parameters θ are the weights-file order (layer by layer, weight row-major
// [out][in], then bias). Per-sample state vectors are sample-major (`s * D + i`); per-sample
// parameter gradients are parameter-major (`j * batch + s`), so that neighbouring invocations
// write neighbouring addresses and the reduction reads them contiguously.

// D: state dimension (= network outputs d; d + 1 for the density field's [z, ℓ]); TIME_INPUT:
// the input is [y, t]; N_LAYERS: affine layers; N_PARAMS: |θ|; MAX_W: widest layer (inputs
// included); ACT_TOTAL: sum of all layer widths (the activation store of one evaluation; times
// 1 + d tangent channels for the density field, nodelab::gpu::codegen's trace form); OUT_TOTAL: the same without the inputs; ACTIVATION: 0 tanh, 1 softplus, 2 relu,
// 3 sigmoid, 4 identity; SIZES: [n_in, n_1, …, n_out]; W_OFF: offset of layer l's weight in θ;
// ACT_OFF: offset of layer l's input in the activation store.
// @shape-begin
const D: u32 = 2u;
const TIME_INPUT: bool = false;
const N_LAYERS: u32 = 2u;
const N_PARAMS: u32 = 42u;
const MAX_W: u32 = 8u;
const ACT_TOTAL: u32 = 12u;
const OUT_TOTAL: u32 = 10u;
const ACTIVATION: u32 = 0u;
const SIZES = array<u32, 3>(2u, 8u, 2u);
const W_OFF = array<u32, 2>(0u, 24u);
const ACT_OFF = array<u32, 3>(0u, 2u, 10u);
// @shape-end

const WG: u32 = 64u;

// Status codes written to stats[4 s + 3] (0: success; 4: a loop stopped before its end
// without the kernel breaking out of it, as software drivers cap an invocation's loop
// iterations), loss codes, activation codes and the step controller's constants. The block
// between the codes markers is nodelab::gpu::codes::wgsl_block(), written from Rust.
// @codes-begin
const STATUS_OK: u32 = 0u;
const STATUS_NONFINITE: u32 = 1u;
const STATUS_UNDERFLOW: u32 = 2u;
const STATUS_MAX_STEPS: u32 = 3u;
const STATUS_INCOMPLETE: u32 = 4u;
const LOSS_HALF_SSE: u32 = 0u;
const LOSS_MSE: u32 = 1u;
const LOSS_TRAJECTORY_MSE: u32 = 2u;
const LOSS_CROSS_ENTROPY: u32 = 3u;
const LOSS_NLL: u32 = 4u;
const LOSS_TRAJECTORY_L1: u32 = 5u;
const LOSS_TRAJECTORY_SSE: u32 = 6u;
const ACT_TANH: u32 = 0u;
const ACT_SOFTPLUS: u32 = 1u;
const ACT_RELU: u32 = 2u;
const ACT_SIGMOID: u32 = 3u;
const ACT_IDENTITY: u32 = 4u;
const STEP_SAFETY: f32 = 0.9;
const STEP_FAC_MIN: f32 = 0.2;
const STEP_FAC_MAX: f32 = 5.0;
const STEP_ABSORB: f32 = 1e-5;
// @codes-end

// Mirrored by `nodelab::gpu::buffers::Params` (#[repr(C)], 96 bytes).
struct Params {
    batch: u32,
    n_steps: u32,     // fixed-step methods: number of steps (all segments)
    max_steps: u32,   // adaptive: most attempted steps
    loss_kind: u32,
    t0: f32,
    t1: f32,
    h: f32,           // fixed step (all steps but the last)
    h_last: f32,      // the last fixed step, shortened to land on t1
    tol: f32,
    rtol: f32,
    h0: f32,          // adaptive initial step; 0 = automatic (Hairer–Nørsett–Wanner)
    h_min: f32,
    h_max: f32,
    target_off: u32,  // offset of the targets (or cross-entropy labels) in `data`
    n_obs: u32,       // observations K (segments of the fixed-step gradient kernels)
    n_classes: u32,   // cross-entropy: classes C (0 otherwise)
    readout_off: u32, // cross-entropy: offset of the read-out [W (C × D) | c (C)] in `data`
    seg_off: u32,     // offset of the segment table in `data` (5 numbers per segment)
    obs_off: u32,     // offset of the per-observation region (states / ∂L/∂y) in `traj`
    n_extra: u32,     // read-out parameters C·(D + 1): rows after N_PARAMS in `grad_ps`
    chunk_steps: u32, // steps of the step sequence one dispatch runs (0: all; see chunk_end)
    live_off: u32,    // offset of the live state kept between chunks in `traj`
    chunk_pad0: u32,
    chunk_pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
// θ, updated in place between iterations.
@group(0) @binding(1) var<storage, read> theta: array<f32>;
// [y0 (batch × D) | targets (K × batch × D, observation-major) or labels (batch) |
//  read-out (C × D + C) | segment table (K × [t_start, t_end, h, h_last, n])]; labels and step
// counts are whole numbers below 2^24, exact in f32 (not bit patterns: denormals may flush).
@group(0) @binding(2) var<storage, read> data: array<f32>;
// [y(T) (batch × D) | per-sample loss (batch) | per-sample reconstruction error (batch)].
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
// [accepted, rejected, nfev, status] per sample.
@group(0) @binding(4) var<storage, read_write> stats: array<u32>;
// Per-sample dL/dθ, then dL/d(read-out) (n_extra rows), parameter-major.
@group(0) @binding(5) var<storage, read_write> grad_ps: array<f32>;
// Trajectory y_n of every step (backprop), `(n * D + i) * batch + s`; from `obs_off` the
// per-observation states / loss gradients `(k * D + i) * batch + s`.
@group(0) @binding(6) var<storage, read_write> traj: array<f32>;
// [dL/dθ summed over the batch (N_PARAMS) | dL/d(read-out) (n_extra) | L].
@group(0) @binding(7) var<storage, read_write> grad_out: array<f32>;

alias Vec = array<f32, D>;
alias Store = array<f32, ACT_TOTAL>;
alias Grad = array<f32, N_PARAMS>;
alias Wide = array<f32, MAX_W>;
// One evaluation's Jacobians: J = ∂f/∂y (D × D, row-major) at 0, then at JG the matrices
// G_l = ∂f/∂z_l (D × n_{l+1}, rows i at i·OUT_TOTAL, layer l at ACT_OFF[l+1] − SIZES[0]) of every
// layer's pre-activation z_l (the last layer's is the identity).
const JG: u32 = D * D;
alias Jac = array<f32, D * D + D * OUT_TOTAL>;

// σ(z). tanh written through exp(−2|z|) so that it cannot overflow to inf/inf.
fn act_apply(z: f32) -> f32 {
    if ACTIVATION == ACT_TANH {
        let e = exp(-2.0 * abs(z));
        return sign(z) * (1.0 - e) / (1.0 + e);
    } else if ACTIVATION == ACT_SOFTPLUS {
        return max(z, 0.0) + log(1.0 + exp(-abs(z)));
    } else if ACTIVATION == ACT_RELU {
        return max(z, 0.0);
    } else if ACTIVATION == ACT_SIGMOID {
        return 1.0 / (1.0 + exp(-z));
    }
    return z;
}

// σ'(z), through z and s = σ(z).
fn act_deriv(z: f32, s: f32) -> f32 {
    if ACTIVATION == ACT_TANH {
        return 1.0 - s * s;
    } else if ACTIVATION == ACT_SOFTPLUS {
        return 1.0 / (1.0 + exp(-z));
    } else if ACTIVATION == ACT_RELU {
        return select(0.0, 1.0, z > 0.0);
    } else if ACTIVATION == ACT_SIGMOID {
        return s * (1.0 - s);
    }
    return 1.0;
}

// σ''(z), through s = σ(z) and ds = σ'(z) (nodelab::nn::Activation::second_derivative):
// tanh'' = −2 s ds, softplus'' = ds (1 − ds) (ds is the logistic), sigmoid'' = ds (1 − 2 s);
// relu and identity 0. The trace form's VJP (density tasks) needs it.
fn act_deriv2(s: f32, ds: f32) -> f32 {
    if ACTIVATION == ACT_TANH {
        return -2.0 * s * ds;
    } else if ACTIVATION == ACT_SOFTPLUS {
        return ds * (1.0 - ds);
    } else if ACTIVATION == ACT_SIGMOID {
        return ds * (1.0 - 2.0 * s);
    }
    return 0.0;
}

// The three MLP functions below are the reference form, loops over the layers. The solver
// runs `nodelab::gpu::codegen`'s straight-line form of the same functions (every loop over
// layers, rows and columns unrolled with constant indices: the weights' addresses are
// compile-time constants and the activation stores live in registers), which replaces the
// block between the mlp markers.
// @mlp-begin
// f(t, y) into `f`; every layer's output goes to `act` and σ' of the hidden layers to `dact`
// (layout ACT_OFF), ready for `mlp_vjp` / `mlp_jvp` at the same point.
fn mlp_eval(t: f32, y: ptr<function, Vec>, act: ptr<function, Store>,
            dact: ptr<function, Store>, f: ptr<function, Vec>) {
    for (var i = 0u; i < D; i++) {
        (*act)[i] = (*y)[i];
    }
    if TIME_INPUT {
        (*act)[D] = t;
    }
    for (var l = 0u; l < N_LAYERS; l++) {
        let n_in = SIZES[l];
        let n_out = SIZES[l + 1u];
        let w0 = W_OFF[l];
        let b0 = w0 + n_in * n_out;
        let xi = ACT_OFF[l];
        let xo = ACT_OFF[l + 1u];
        let hidden = l + 1u < N_LAYERS;
        for (var r = 0u; r < n_out; r++) {
            var z = theta[b0 + r];
            for (var c = 0u; c < n_in; c++) {
                z += theta[w0 + r * n_in + c] * (*act)[xi + c];
            }
            if hidden {
                let s = act_apply(z);
                (*act)[xo + r] = s;
                (*dact)[xo + r] = act_deriv(z, s);
            } else {
                (*act)[xo + r] = z;
            }
        }
    }
    let o = ACT_OFF[N_LAYERS];
    for (var i = 0u; i < D; i++) {
        (*f)[i] = (*act)[o + i];
    }
}

// Vector–Jacobian product at the point stored in (act, dact): `vy = vᵀ ∂f/∂y`, and
// `g += scale · vᵀ ∂f/∂θ` (reverse mode through the layers).
fn mlp_vjp(act: ptr<function, Store>, dact: ptr<function, Store>, v: ptr<function, Vec>,
           scale: f32, g: ptr<function, Grad>, vy: ptr<function, Vec>) {
    var cot: Wide;   // dL/d(output of the layer being processed)
    var prev: Wide;  // dL/d(its input)
    for (var i = 0u; i < D; i++) {
        cot[i] = (*v)[i];
    }
    for (var k = N_LAYERS; k > 0u; k--) {
        let l = k - 1u;
        let n_in = SIZES[l];
        let n_out = SIZES[l + 1u];
        let w0 = W_OFF[l];
        let b0 = w0 + n_in * n_out;
        let xi = ACT_OFF[l];
        let xo = ACT_OFF[l + 1u];
        if l + 1u < N_LAYERS {
            for (var r = 0u; r < n_out; r++) {
                cot[r] *= (*dact)[xo + r];
            }
        }
        for (var c = 0u; c < n_in; c++) {
            prev[c] = 0.0;
        }
        for (var r = 0u; r < n_out; r++) {
            let gr = cot[r];
            (*g)[b0 + r] += scale * gr;
            for (var c = 0u; c < n_in; c++) {
                (*g)[w0 + r * n_in + c] += scale * gr * (*act)[xi + c];
                prev[c] += theta[w0 + r * n_in + c] * gr;
            }
        }
        for (var c = 0u; c < n_in; c++) {
            cot[c] = prev[c];
        }
    }
    for (var i = 0u; i < D; i++) {
        (*vy)[i] = cot[i];
    }
}

// Jacobian–vector product at the point stored in (act, dact): `out = ∂f/∂y · u + ∂f/∂θ_j`
// (forward mode; one column j of the sensitivity equation S' = ∂f/∂y S + ∂f/∂θ).
fn mlp_jvp(act: ptr<function, Store>, dact: ptr<function, Store>, u: ptr<function, Vec>,
           j: u32, res: ptr<function, Vec>) {
    var tng: Wide;
    var nxt: Wide;
    for (var i = 0u; i < MAX_W; i++) {
        tng[i] = 0.0;
    }
    for (var i = 0u; i < D; i++) {
        tng[i] = (*u)[i];
    }
    for (var l = 0u; l < N_LAYERS; l++) {
        let n_in = SIZES[l];
        let n_out = SIZES[l + 1u];
        let w0 = W_OFF[l];
        let b0 = w0 + n_in * n_out;
        let xi = ACT_OFF[l];
        let xo = ACT_OFF[l + 1u];
        for (var r = 0u; r < n_out; r++) {
            var dz = 0.0;
            for (var c = 0u; c < n_in; c++) {
                dz += theta[w0 + r * n_in + c] * tng[c];
            }
            nxt[r] = dz;
        }
        // The parameter's own perturbation enters at its layer.
        if j >= w0 && j < b0 {
            let r = (j - w0) / n_in;
            let c = (j - w0) % n_in;
            nxt[r] += (*act)[xi + c];
        } else if j >= b0 && j < b0 + n_out {
            nxt[j - b0] += 1.0;
        }
        let hidden = l + 1u < N_LAYERS;
        for (var r = 0u; r < n_out; r++) {
            tng[r] = select(nxt[r], nxt[r] * (*dact)[xo + r], hidden);
        }
    }
    for (var i = 0u; i < D; i++) {
        (*res)[i] = tng[i];
    }
}

// The Jacobians of the point stored in (act, dact): one reverse pass per output i with the
// cotangent e_i, recording every layer's pre-activation cotangent (a row of G_l) and, at the
// input, row i of J.
fn mlp_jac(act: ptr<function, Store>, dact: ptr<function, Store>, jac: ptr<function, Jac>) {
    for (var i = 0u; i < D; i++) {
        var cot: Wide;
        var prev: Wide;
        for (var r = 0u; r < MAX_W; r++) {
            cot[r] = select(0.0, 1.0, r == i);
        }
        for (var k = N_LAYERS; k > 0u; k--) {
            let l = k - 1u;
            let n_in = SIZES[l];
            let n_out = SIZES[l + 1u];
            let w0 = W_OFF[l];
            let xo = ACT_OFF[l + 1u];
            for (var r = 0u; r < n_out; r++) {
                if l + 1u < N_LAYERS {
                    cot[r] *= (*dact)[xo + r];
                }
                (*jac)[JG + i * OUT_TOTAL + xo - SIZES[0] + r] = cot[r];
            }
            for (var c = 0u; c < n_in; c++) {
                var v = 0.0;
                for (var r = 0u; r < n_out; r++) {
                    v += theta[w0 + r * n_in + c] * cot[r];
                }
                prev[c] = v;
            }
            for (var c = 0u; c < n_in; c++) {
                cot[c] = prev[c];
            }
        }
        for (var c = 0u; c < D; c++) {
            (*jac)[i * D + c] = cot[c];
        }
    }
}

// @mlp-end

fn load_y0(s: u32) -> Vec {
    var y: Vec;
    for (var i = 0u; i < D; i++) {
        y[i] = data[y0_at(s, i)];
    }
    return y;
}

fn all_finite(y: ptr<function, Vec>) -> bool {
    var ok = true;
    for (var i = 0u; i < D; i++) {
        let v = (*y)[i];
        // NaN fails every comparison; ±inf fails the bound.
        ok = ok && (abs(v) <= 3.4e38);
    }
    return ok;
}

// Logit j of the linear read-out z = W y + c (cross-entropy).
fn logit(j: u32, y: ptr<function, Vec>) -> f32 {
    let w0 = params.readout_off;
    var z = data[w0 + params.n_classes * D + j];
    for (var i = 0u; i < D; i++) {
        z += data[w0 + j * D + i] * (*y)[i];
    }
    return z;
}

// Indices of y0, targets and the observed-component mask in `data` and of a window's rows in
// the training set: nodelab::gpu::observation::wgsl_block, written from Rust.
// @observations-begin
fn y0_at(s: u32, i: u32) -> u32 {
    return s * D + i;
}
fn target_at(k: u32, s: u32, i: u32) -> u32 {
    return params.target_off + (k * params.batch + s) * D + i;
}
fn mask_at(i: u32) -> u32 {
    return params.target_off + params.n_obs * params.batch * D + i;
}
fn window_row(start: u32, k: u32) -> u32 {
    return start + 1u + k;
}
// @observations-end

// Sample s's term of the loss at observation k and its gradient ∂L/∂y into `dl` (issue 3's
// conventions, nodelab::grad::loss):
// nll on the density field's [z, ℓ]: L = (½|z|² + (d/2) ln 2π − ℓ) / batch;
// half-sse L = ½ Σ_i (y_i − ŷ_i)²; mse L = Σ_i (y_i − ŷ_i)² / (batch · D);
// trajectory-mse L = Σ_i (y_i(τ_k) − ŷ_k,i)² / (K · batch · D);
// trajectory-l1 L = Σ_i |y_i(τ_k) − ŷ_k,i| / ((K + 1) · batch · D), ∂L/∂y = sign · scale (0 at 0);
// trajectory-sse L = Σ_i (y_i(τ_k) − ŷ_k,i)²; the sums over the observed components only
// (D there: their count), the others masked out;
// cross-entropy after z = W y + c: L = (logsumexp(z) − z_label) / batch,
// ∂L/∂y = Wᵀ δ, δ = (softmax(z) − e_label) / batch; with `readout`, the sample's read-out
// gradient ∂L/∂W = δ yᵀ, ∂L/∂c = δ goes to its rows of `grad_ps`.
fn loss_term(s: u32, k: u32, y: ptr<function, Vec>, dl: ptr<function, Vec>,
             readout: bool) -> f32 {
    let b = params.batch;
    if params.loss_kind == LOSS_NLL {
        // y = [z, ℓ] (density field): L = (½|z|² + (d/2) ln 2π − ℓ) / batch,
        // ∂L/∂z = z / batch, ∂L/∂ℓ = −1 / batch (nodelab::grad::loss, nll).
        let inv_b = 1.0 / f32(b);
        var sq = 0.0;
        for (var i = 0u; i + 1u < D; i++) {
            sq += (*y)[i] * (*y)[i];
            (*dl)[i] = (*y)[i] * inv_b;
        }
        (*dl)[D - 1u] = -inv_b;
        return (0.5 * sq + 0.5 * f32(D - 1u) * 1.8378770664093453 - (*y)[D - 1u]) * inv_b;
    }
    if params.loss_kind == LOSS_CROSS_ENTROPY {
        let c = params.n_classes;
        let label = u32(data[params.target_off + s]);
        var zmax = -3.4e38;
        for (var j = 0u; j < c; j++) {
            zmax = max(zmax, logit(j, y));
        }
        var sum = 0.0;
        for (var j = 0u; j < c; j++) {
            sum += exp(logit(j, y) - zmax);
        }
        let lse = zmax + log(sum);
        let inv_b = 1.0 / f32(b);
        for (var i = 0u; i < D; i++) {
            (*dl)[i] = 0.0;
        }
        var z_label = 0.0;
        for (var j = 0u; j < c; j++) {
            let z = logit(j, y);
            let is_label = j == label;
            z_label = select(z_label, z, is_label);
            let delta = (exp(z - lse) - select(0.0, 1.0, is_label)) * inv_b;
            for (var i = 0u; i < D; i++) {
                (*dl)[i] += data[params.readout_off + j * D + i] * delta;
                if readout {
                    grad_ps[(N_PARAMS + j * D + i) * b + s] = delta * (*y)[i];
                }
            }
            if readout {
                grad_ps[(N_PARAMS + c * D + j) * b + s] = delta;
            }
        }
        return (lse - z_label) * inv_b;
    }
    // The regression losses on the observed components C (mask 1; nodelab::gpu::observation).
    var observed = 0.0;
    for (var i = 0u; i < D; i++) {
        observed += data[mask_at(i)];
    }
    var scale = 0.5;
    var kk = 0u;
    if params.loss_kind == LOSS_MSE {
        scale = 1.0 / (f32(b) * observed);
    } else if params.loss_kind == LOSS_TRAJECTORY_MSE {
        scale = 1.0 / (f32(params.n_obs * b) * observed);
        kk = k;
    } else if params.loss_kind == LOSS_TRAJECTORY_L1 {
        scale = 1.0 / (f32((params.n_obs + 1u) * b) * observed);
        kk = k;
    } else if params.loss_kind == LOSS_TRAJECTORY_SSE {
        scale = 1.0;
        kk = k;
    }
    let l1 = params.loss_kind == LOSS_TRAJECTORY_L1;
    var l = 0.0;
    for (var i = 0u; i < D; i++) {
        let m = data[mask_at(i)];
        let r = (*y)[i] - data[target_at(kk, s, i)];
        if l1 {
            l += m * abs(r);
            // sign(r), 0 at r = 0 (the CPU's subgradient).
            (*dl)[i] = m * select(select(0.0, -scale, r < 0.0), scale, r > 0.0);
        } else {
            l += m * r * r;
            (*dl)[i] = m * 2.0 * scale * r;
        }
    }
    return scale * l;
}

// The fixed-step gradient kernels run K segments [t_start, t_end] (one per observation; K = 1
// for the terminal losses), each of n steps h with the last one h_last (nodelab::solver::fixed:
// the last step shortened to land on t_end; the reversible grid: all equal).
fn seg_t0(k: u32) -> f32 {
    return data[params.seg_off + 5u * k];
}

fn seg_t1(k: u32) -> f32 {
    return data[params.seg_off + 5u * k + 1u];
}

fn seg_h(k: u32) -> f32 {
    return data[params.seg_off + 5u * k + 2u];
}

fn seg_n(k: u32) -> u32 {
    return u32(data[params.seg_off + 5u * k + 4u]);
}

// Step j of segment k: h, or h_last for the last one.
fn seg_step(k: u32, j: u32) -> f32 {
    return select(seg_h(k), data[params.seg_off + 5u * k + 3u], j + 1u == seg_n(k));
}

// Per-observation region of `traj` (states or ∂L/∂y of observation k).
fn obs_store(k: u32, s: u32, v: ptr<function, Vec>) {
    for (var i = 0u; i < D; i++) {
        traj[params.obs_off + (k * D + i) * params.batch + s] = (*v)[i];
    }
}

fn obs_load(k: u32, s: u32) -> Vec {
    var v: Vec;
    for (var i = 0u; i < D; i++) {
        v[i] = traj[params.obs_off + (k * D + i) * params.batch + s];
    }
    return v;
}

// Writes one sample's outputs: y(T), loss, statistics.
fn write_state(s: u32, y: ptr<function, Vec>) {
    for (var i = 0u; i < D; i++) {
        out[s * D + i] = (*y)[i];
    }
}

fn write_stats(s: u32, accepted: u32, rejected: u32, nfev: u32, status: u32) {
    stats[4u * s] = accepted;
    stats[4u * s + 1u] = rejected;
    stats[4u * s + 2u] = nfev;
    stats[4u * s + 3u] = status;
}

// Writes one sample's gradient, loss and reconstruction error; returns the entries written
// (N_PARAMS unless a driver cut the loop short).
fn write_grad(s: u32, g: ptr<function, Grad>, loss: f32, recon: f32) -> u32 {
    let b = params.batch;
    var written = 0u;
    for (var j = 0u; j < N_PARAMS; j++) {
        grad_ps[j * b + s] = (*g)[j];
        written++;
    }
    out[b * D + s] = loss;
    out[b * D + b + s] = recon;
    return written;
}

// `status`, or STATUS_INCOMPLETE when a loop ran `done` of its `want` iterations.
fn completion(status: u32, done: u32, want: u32) -> u32 {
    if status == STATUS_OK && done != want {
        return STATUS_INCOMPLETE;
    }
    return status;
}

fn zero_grad(g: ptr<function, Grad>) {
    for (var j = 0u; j < N_PARAMS; j++) {
        (*g)[j] = 0.0;
    }
}

// Step size of fixed step n: h, except the last, shortened to land on t1.
fn fixed_h(n: u32) -> f32 {
    return select(params.h, params.h_last, n + 1u == params.n_steps);
}

fn fixed_t(n: u32) -> f32 {
    return params.t0 + f32(n) * params.h;
}

// The Runge–Kutta stage functions (`rk4_step`, `rk4_step_kept`, `rk4_step_vjp`, …) are not
// written here: nodelab::gpu::stages generates them from the tableau (nodelab::grad::tableau)
// and puts them in front of each kernel that calls them.

// Step chunks (nodelab::gpu::engine::chunks): a chunked kernel numbers its whole step sequence
// q = 0 … Q − 1 (forward steps, then backward steps) and one dispatch runs q ∈ [begin, end),
// end = begin + params.chunk_steps (chunk_steps = 0: the whole sequence). Between dispatches a
// sample keeps its counters in its `stats` row ([q, counter, counter, status]; zeroed before
// the first dispatch) and its numbers in `traj` from params.live_off (row r:
// `live_off + r * batch + s`) and in its `grad_ps` rows (θ̄).
struct Live {
    q: u32,
    c1: u32,
    c2: u32,
    status: u32,
}

// Where this dispatch begins: the saved counters, or all zero when not chunked.
fn live_begin(s: u32) -> Live {
    if params.chunk_steps == 0u {
        return Live(0u, 0u, 0u, STATUS_OK);
    }
    return Live(stats[4u * s], stats[4u * s + 1u], stats[4u * s + 2u], stats[4u * s + 3u]);
}

// The end (exclusive) of the chunk that begins at `begin` in a sequence of `total` steps.
fn chunk_end(begin: u32, total: u32) -> u32 {
    if params.chunk_steps == 0u {
        return total;
    }
    return min(total, begin + params.chunk_steps);
}

// Saves the counters the next dispatch resumes from.
fn live_suspend(s: u32, live: Live) {
    write_stats(s, live.q, live.c1, live.c2, live.status);
}

fn live_at(r: u32, s: u32) -> u32 {
    return params.live_off + r * params.batch + s;
}

fn live_save(s: u32, r: u32, x: f32) {
    traj[live_at(r, s)] = x;
}

fn live_load(s: u32, r: u32) -> f32 {
    return traj[live_at(r, s)];
}

// A state vector in live rows r0 … r0 + D − 1.
fn live_save_vec(s: u32, r0: u32, v: ptr<function, Vec>) {
    for (var i = 0u; i < D; i++) {
        traj[live_at(r0 + i, s)] = (*v)[i];
    }
}

fn live_load_vec(s: u32, r0: u32) -> Vec {
    var v: Vec;
    for (var i = 0u; i < D; i++) {
        v[i] = traj[live_at(r0 + i, s)];
    }
    return v;
}

// θ̄ kept in the sample's own `grad_ps` rows between chunks.
fn grad_save(s: u32, g: ptr<function, Grad>) {
    for (var j = 0u; j < N_PARAMS; j++) {
        grad_ps[j * params.batch + s] = (*g)[j];
    }
}

fn grad_load(s: u32, g: ptr<function, Grad>) {
    for (var j = 0u; j < N_PARAMS; j++) {
        (*g)[j] = grad_ps[j * params.batch + s];
    }
}
