// The optimiser step on the device (nodelab::train::optim::update_one, in f32), run once per
// training iteration right after the gradient kernel and its reduction, in the same submission:
//
//   g ← g + λθ;
//   SGD:     b ← μ b + g (b = g at t = 1),        θ ← θ − lr·b;
//   RMSprop: v ← α v + (1 − α) g²,               θ ← θ − lr·g/(√v + ε);
//   Adam:    m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g²,
//            θ ← θ − lr·(m/(1 − β₁ᵗ))/(√(v/(1 − β₂ᵗ)) + ε)   (bias corrections from the host).
//
// The parameters are θ (the `theta` buffer) followed by the cross-entropy read-out, which lives
// in the `data` buffer at `extra_off`. One workgroup does the whole step in three guarded
// passes, so that nothing non-finite ever reaches the weights: (1) every sample's status and
// the loss and every gradient entry must be finite, (2) every updated value must be finite,
// (3) only then are θ, the read-out and the moments written. The outcome and the batch's step
// counters go to `summary`, the iteration's one small readback.

struct OptParams {
    kind: u32,        // OPT_ADAM, OPT_RMSPROP, OPT_SGD
    t: u32,           // step, 1-based
    n_theta: u32,
    n_extra: u32,     // read-out parameters after θ
    extra_off: u32,   // the read-out's offset in `data`
    batch: u32,       // samples whose stats are summarised
    _pad0: u32,
    _pad1: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    decay: f32,
    momentum: f32,
    eps: f32,
    weight_decay: f32,
    bias1: f32,       // 1 − β₁ᵗ
    bias2: f32,       // 1 − β₂ᵗ
    _pad2: f32,
    _pad3: f32,
    _pad4: f32,
}

const OPT_ADAM: u32 = 0u;
const OPT_RMSPROP: u32 = 1u;
const OPT_SGD: u32 = 2u;

// summary[1]: the step's outcome.
const STEP_APPLIED: u32 = 0u;
const STEP_SAMPLE_FAILED: u32 = 1u;
const STEP_LOSS_NONFINITE: u32 = 2u;
const STEP_GRAD_NONFINITE: u32 = 3u;
const STEP_UPDATE_NONFINITE: u32 = 4u;

const NONE: u32 = 0xffffffffu;
const OWG: u32 = 256u;

@group(0) @binding(0) var<uniform> op: OptParams;
@group(0) @binding(1) var<storage, read_write> weights: array<f32>;
@group(0) @binding(2) var<storage, read_write> bank: array<f32>;
// [dL/dθ | dL/d(read-out) | L] (the reduction's `grad_out`).
@group(0) @binding(3) var<storage, read> grads: array<f32>;
// [m (n) | v (n)], n = n_theta + n_extra.
@group(0) @binding(4) var<storage, read_write> moments: array<f32>;
// [accepted, rejected, nfev, status] per sample (the gradient kernel's `stats`).
@group(0) @binding(5) var<storage, read> sample_stats: array<u32>;
// [bits of L, outcome, first bad parameter or sample, worst sample status,
//  Σ accepted, Σ rejected, Σ nfev, 0].
@group(0) @binding(6) var<storage, read_write> summary: array<u32>;

var<workgroup> w_worst: atomic<u32>;
var<workgroup> w_bad_sample: atomic<u32>;
var<workgroup> w_bad_grad: atomic<u32>;
var<workgroup> w_bad_update: atomic<u32>;
var<workgroup> w_accepted: atomic<u32>;
var<workgroup> w_rejected: atomic<u32>;
var<workgroup> w_nfev: atomic<u32>;

fn finite(v: f32) -> bool {
    // NaN fails every comparison; ±inf fails the bound.
    return abs(v) <= 3.4e38;
}

fn param(j: u32) -> f32 {
    if j < op.n_theta {
        return weights[j];
    }
    return bank[op.extra_off + j - op.n_theta];
}

// One parameter's update: (θ', m', v').
fn update_one(theta: f32, grad: f32, m: f32, v: f32) -> vec3<f32> {
    let g = grad + op.weight_decay * theta;
    if op.kind == OPT_SGD {
        var b = g;
        if op.t > 1u {
            b = op.momentum * m + g;
        }
        return vec3<f32>(theta - op.lr * b, b, v);
    } else if op.kind == OPT_RMSPROP {
        let v2 = op.decay * v + (1.0 - op.decay) * g * g;
        return vec3<f32>(theta - op.lr * g / (sqrt(v2) + op.eps), m, v2);
    }
    let m2 = op.beta1 * m + (1.0 - op.beta1) * g;
    let v2 = op.beta2 * v + (1.0 - op.beta2) * g * g;
    let m_hat = m2 / op.bias1;
    let v_hat = v2 / op.bias2;
    return vec3<f32>(theta - op.lr * m_hat / (sqrt(v_hat) + op.eps), m2, v2);
}

@compute @workgroup_size(OWG)
fn optimizer_step(@builtin(local_invocation_index) li: u32) {
    let n = op.n_theta + op.n_extra;
    if li == 0u {
        atomicStore(&w_worst, 0u);
        atomicStore(&w_bad_sample, NONE);
        atomicStore(&w_bad_grad, NONE);
        atomicStore(&w_bad_update, NONE);
        atomicStore(&w_accepted, 0u);
        atomicStore(&w_rejected, 0u);
        atomicStore(&w_nfev, 0u);
    }
    workgroupBarrier();
    // (1) the samples' outcomes and the gradient.
    for (var s = li; s < op.batch; s += OWG) {
        atomicAdd(&w_accepted, sample_stats[4u * s]);
        atomicAdd(&w_rejected, sample_stats[4u * s + 1u]);
        atomicAdd(&w_nfev, sample_stats[4u * s + 2u]);
        let st = sample_stats[4u * s + 3u];
        if st != 0u {
            atomicMax(&w_worst, st);
            atomicMin(&w_bad_sample, s);
        }
    }
    for (var j = li; j < n; j += OWG) {
        if !finite(grads[j]) {
            atomicMin(&w_bad_grad, j);
        }
    }
    let loss = grads[n];
    if li == 0u && !finite(loss) {
        atomicMin(&w_bad_grad, n);
    }
    let failed_sample = workgroupUniformLoad(&w_bad_sample) != NONE;
    let bad_grad = workgroupUniformLoad(&w_bad_grad);
    var outcome = STEP_APPLIED;
    var which = NONE;
    if failed_sample {
        outcome = STEP_SAMPLE_FAILED;
        which = atomicLoad(&w_bad_sample);
    } else if bad_grad == n {
        outcome = STEP_LOSS_NONFINITE;
    } else if bad_grad != NONE {
        outcome = STEP_GRAD_NONFINITE;
        which = bad_grad;
    }
    // (2) every updated value, before anything is written.
    if outcome == STEP_APPLIED {
        for (var j = li; j < n; j += OWG) {
            let u = update_one(param(j), grads[j], moments[j], moments[n + j]);
            if !(finite(u.x) && finite(u.y) && finite(u.z)) {
                atomicMin(&w_bad_update, j);
            }
        }
        let bad_update = workgroupUniformLoad(&w_bad_update);
        if bad_update != NONE {
            outcome = STEP_UPDATE_NONFINITE;
            which = bad_update;
        } else {
            // (3) the writes.
            for (var j = li; j < n; j += OWG) {
                let u = update_one(param(j), grads[j], moments[j], moments[n + j]);
                if j < op.n_theta {
                    weights[j] = u.x;
                } else {
                    bank[op.extra_off + j - op.n_theta] = u.x;
                }
                moments[j] = u.y;
                moments[n + j] = u.z;
            }
        }
    }
    workgroupBarrier();
    if li == 0u {
        summary[0] = bitcast<u32>(loss);
        summary[1] = outcome;
        summary[2] = which;
        summary[3] = atomicLoad(&w_worst);
        summary[4] = atomicLoad(&w_accepted);
        summary[5] = atomicLoad(&w_rejected);
        summary[6] = atomicLoad(&w_nfev);
        summary[7] = 0u;
    }
}
