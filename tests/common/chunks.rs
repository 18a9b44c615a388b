//! What the GPU chunk tests (`gpu_chunks*.rs`) share, included with
//! `#[path = "common/chunks.rs"] mod chunk_cases;`: the chunk lengths tried, the results as bits
//! (so that "equal" means bit for bit, NaN-safe, −0 ≠ +0) and the terminal-plus-trajectory
//! objectives every kernel is run with.

#![allow(dead_code)]

use nodelab::gpu::{GpuLoss, GpuObjective, GradResult};

use super::common;

/// Steps per dispatch: 1, 3 and 7 (7 divides none of the tests' step counts), and `None`, the
/// kernel's own estimate.
pub const CHUNKS: [Option<u32>; 4] = [Some(1), Some(3), Some(7), None];

pub fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Every number a gradient reports, as bits: loss, gradient, read-out gradient, final state,
/// reconstruction error.
pub type GradBits = (u64, Vec<u64>, Option<Vec<u64>>, Vec<u32>, u64);

pub fn grad_bits(r: &GradResult) -> GradBits {
    let wide = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
    (
        r.loss.to_bits(),
        wide(&r.grad),
        r.readout_grad.as_deref().map(wide),
        bits(&r.y),
        r.recon_err.to_bits(),
    )
}

/// A terminal half-SSE objective (targets from `seed + 1`) and a trajectory MSE observed at
/// 0.25, 0.6 and `t_end` (targets from `seed`), for `batch` samples of dimension `d`.
pub fn objectives(batch: usize, d: usize, t_end: f64, seed: u64) -> Vec<GpuObjective> {
    let times = vec![0.25, 0.6, t_end];
    let mut traj = GpuObjective::terminal(
        GpuLoss::TrajectoryMse,
        common::random_states(times.len() * batch, d, 1.0, seed),
    );
    traj.times = times;
    vec![
        GpuObjective::terminal(
            GpuLoss::HalfSse,
            common::random_states(batch, d, 1.0, seed + 1),
        ),
        traj,
    ]
}
