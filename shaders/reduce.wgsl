// Sum of the per-sample gradients (and losses) over the batch, on the GPU: workgroup j reduces
// row j of `grad_ps` (rows N_PARAMS.. : the read-out gradient of cross-entropy; the last row,
// N_PARAMS + n_extra: the per-sample losses in `out`) with a strided loop
// (neighbouring invocations read neighbouring samples) and a shared-memory tree.

const RWG: u32 = 256u;
var<workgroup> partial: array<f32, RWG>;

@compute @workgroup_size(RWG)
fn reduce_rows(@builtin(workgroup_id) wid: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    let j = wid.x;
    let b = params.batch;
    var acc = 0.0;
    if j < N_PARAMS + params.n_extra {
        for (var s = li; s < b; s += RWG) {
            acc += grad_ps[j * b + s];
        }
    } else {
        for (var s = li; s < b; s += RWG) {
            acc += out[b * D + s];
        }
    }
    partial[li] = acc;
    workgroupBarrier();
    for (var w = RWG / 2u; w > 0u; w /= 2u) {
        if li < w {
            partial[li] += partial[li + w];
        }
        workgroupBarrier();
    }
    if li == 0u {
        grad_out[j] = partial[0];
    }
}
