// `gather_batch`: one iteration's batch read from the training set uploaded once per run
// (nodelab::gpu::dataset). The host writes only the batch's B sample indices; invocation s
// copies sample s's initial state and its loss data into the head of the solver's `data`
// buffer, the layout every gradient kernel reads (shaders/common.wgsl):
//   y0[s]                       = rows[idx]                       (D numbers)
//   classes:      label[s]      = labels[idx]                     (at target_off + s)
//   trajectories: target[k][s]  = rows[idx + k + 1], k < n_obs    (observation-major; the
//                 layout of nodelab::gpu::observation)
//   points:       nothing more (the density field's rows are its initial states [x, 0])
// where `rows` are the set's states (points lifted with their zero dimensions, or the samples
// of the true trajectory, whose window starting at `idx` is the batch item).

struct GatherParams {
    batch: u32,
    dim: u32,
    // 0: classes (one label per row), 1: trajectory windows (n_obs targets after the start),
    // 2: points (the initial state only).
    mode: u32,
    n_obs: u32,
    target_off: u32,
    // Offset of the labels in `samples` (classes): rows × dim.
    label_off: u32,
    _pad0: u32,
    _pad1: u32,
}

const GATHER_CLASSES: u32 = 0u;
const GATHER_WINDOWS: u32 = 1u;
const GATHER_POINTS: u32 = 2u;

@group(0) @binding(0) var<uniform> gp: GatherParams;
// [rows (rows × dim) | labels (rows, classes only)], f32, uploaded once.
@group(0) @binding(1) var<storage, read> samples: array<f32>;
@group(0) @binding(2) var<storage, read> indices: array<u32>;
@group(0) @binding(3) var<storage, read_write> data: array<f32>;

// Indices of y0 and the targets in `data` and of a window's rows in `samples`:
// nodelab::gpu::observation::wgsl_block, written from Rust (the mask is written by the host).
// @observations-begin
fn y0_at(s: u32, i: u32) -> u32 {
    return s * gp.dim + i;
}
fn target_at(k: u32, s: u32, i: u32) -> u32 {
    return gp.target_off + (k * gp.batch + s) * gp.dim + i;
}
fn mask_at(i: u32) -> u32 {
    return gp.target_off + gp.n_obs * gp.batch * gp.dim + i;
}
fn window_row(start: u32, k: u32) -> u32 {
    return start + 1u + k;
}
// @observations-end

@compute @workgroup_size(64)
fn gather_batch(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    let b = gp.batch;
    if s >= b {
        return;
    }
    let d = gp.dim;
    let idx = indices[s];
    for (var i = 0u; i < d; i++) {
        data[y0_at(s, i)] = samples[idx * d + i];
    }
    if gp.mode == GATHER_CLASSES {
        data[gp.target_off + s] = samples[gp.label_off + idx];
    } else if gp.mode == GATHER_WINDOWS {
        for (var k = 0u; k < gp.n_obs; k++) {
            for (var i = 0u; i < d; i++) {
                data[target_at(k, s, i)] = samples[window_row(idx, k) * d + i];
            }
        }
    }
}
