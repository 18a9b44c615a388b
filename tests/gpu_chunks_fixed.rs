//! The `checkpoint` and `adjoint` kernels in step chunks (nodelab::gpu::engine::chunks): chunks
//! of 1, a few and all steps of their sequences (checkpoint: N forward steps, then per
//! checkpoint block its replay and backward steps, 3N; adjoint: N forward, N backward) give
//! bitwise the loss, gradient, y, reconstruction error and statistics of the unchunked
//! dispatch (the same f32 operations in the same order; the live state crosses dispatches
//! through f32 buffers, which store it exactly), for RK4 and midpoint; the chunk estimate
//! chunks both at a large batch. Skip policy of tests/common (CI=true: no adapter fails).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/chunks.rs"]
mod chunk_cases;
mod common;

use chunk_cases::{CHUNKS, grad_bits, objectives};
use nodelab::gpu::engine::chunks::{self, DISPATCH_BUDGET_S};
use nodelab::gpu::shader::Kernel;
use nodelab::gpu::stages::FixedRk;
use nodelab::gpu::{FixedSchedule, GpuGradMethod, GpuSolver, Shape};
use nodelab::nn::{Activation, Mlp};
use nodelab::train::{TaskName, TrainConfig};

/// `method` on RK4 and midpoint steps: every chunk length gives the unchunked result bit for
/// bit.
fn chunked_equals_unchunked(method: GpuGradMethod, seed: u64) {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let mlp = Mlp::random(&[2, 8, 2], Activation::Tanh, true, 1.0, seed);
    let (batch, d) = (70, 2);
    let mut gpu = GpuSolver::new(ctx, &mlp).unwrap();
    gpu.poison = true;
    // 3 checkpoints over 10 (11) steps: blocks of 4, 4 and 2 (3) steps, the stride not
    // dividing N.
    gpu.checkpoints = Some(3);
    let y0 = common::random_states(batch, d, 1.0, seed + 100);
    let rk4 = FixedSchedule::new(0.0, 1.0, Some(0.1)).unwrap();
    for sched in [rk4, rk4.with_rk(FixedRk::Midpoint)] {
        for obj in objectives(batch, d, 1.0, 131) {
            gpu.set_objective(&y0, &obj).unwrap();
            gpu.chunk_steps = Some(u32::MAX);
            let whole = gpu.gradient(method, &sched, obj.loss).unwrap();
            assert!(whole.loss.is_finite() && whole.grad.iter().all(|g| g.is_finite()));
            assert!(whole.grad.iter().any(|&g| g != 0.0));
            if method == GpuGradMethod::Adjoint {
                // The backsolve reconstructs y0 only approximately: a real error, not zero.
                assert!(whole.recon_err > 0.0 && whole.recon_err.is_finite());
            }
            for chunk in CHUNKS {
                gpu.chunk_steps = chunk;
                let got = gpu.gradient(method, &sched, obj.loss).unwrap();
                let what = format!("{method:?} {:?} {:?}, chunk {chunk:?}", sched.rk, obj.loss);
                assert_eq!(grad_bits(&got), grad_bits(&whole), "{what}");
                assert_eq!(got.stats, whole.stats, "{what}");
                assert_eq!(
                    (got.nfe_forward, got.nfe_backward),
                    (whole.nfe_forward, whole.nfe_backward),
                    "{what}"
                );
            }
        }
    }
}

#[test]
fn chunked_checkpoint_equals_the_unchunked_dispatch() {
    chunked_equals_unchunked(GpuGradMethod::Checkpoint, 11);
}

#[test]
fn chunked_adjoint_equals_the_unchunked_dispatch() {
    chunked_equals_unchunked(GpuGradMethod::Adjoint, 12);
}

/// The training shapes: circles (2 + augment → 16 → 16 → …), spiral-fit (cube map → 50 → 2).
fn task_shape(task: TaskName) -> Shape {
    let c = TrainConfig::defaults(task);
    Shape::of(&c.model.build(2 + c.data.augment, 0))
}

fn fixed_kernels() -> [Kernel; 4] {
    [
        Kernel::Checkpoint(FixedRk::Rk4),
        Kernel::Checkpoint(FixedRk::Midpoint),
        Kernel::Adjoint(FixedRk::Rk4),
        Kernel::Adjoint(FixedRk::Midpoint),
    ]
}

/// At batch 65 536 both kernels are chunked: a sequence exists, the estimated chunk is shorter
/// than a 100-step solve's sequence and keeps one dispatch within the budget (one more step
/// would not).
#[test]
fn the_estimate_chunks_checkpoint_and_adjoint_at_a_large_batch() {
    let n_steps = 100;
    for task in [TaskName::Circles, TaskName::SpiralFit] {
        let shape = task_shape(task);
        for kernel in fixed_kernels() {
            let len = chunks::sequence_len(kernel, n_steps).expect("a chunked kernel");
            let want = match kernel {
                Kernel::Checkpoint(_) => 3 * n_steps,
                _ => 2 * n_steps,
            };
            assert_eq!(len, want, "{kernel:?}");
            assert!(chunks::live_rows(kernel, &shape) > 2 * shape.dim as u32);
            let batch = 65_536;
            let c = chunks::estimated_chunk(&shape, kernel, batch);
            let per = chunks::step_seconds(&shape, kernel, batch);
            assert!(c < len, "{task:?} {kernel:?}: chunk {c} of {len}");
            assert!(
                c == 1 || f64::from(c) * per <= DISPATCH_BUDGET_S,
                "{task:?} {kernel:?}"
            );
            assert!(
                f64::from(c + 1) * per > DISPATCH_BUDGET_S,
                "{task:?} {kernel:?}"
            );
        }
    }
}

/// The chunk lengths and the longest dispatch the estimate gives (report figures): run with
/// `cargo test --test gpu_chunks_fixed -- --ignored --nocapture`.
#[test]
#[ignore = "prints figures for the report"]
fn print_chunk_estimates() {
    let batch = 65_536;
    for task in [TaskName::Circles, TaskName::SpiralFit] {
        let shape = task_shape(task);
        for kernel in fixed_kernels() {
            let chunk = chunks::estimated_chunk(&shape, kernel, batch);
            let per = chunks::step_seconds(&shape, kernel, batch);
            for steps in [10u32, 100] {
                let len = chunks::sequence_len(kernel, steps).unwrap();
                let longest = f64::from(chunk.min(len)) * per;
                println!(
                    "{task:?} (sizes {:?}) batch {batch} {kernel:?}: chunk {chunk} steps, \
                     {:.3} ms per step; {steps}-step solve: {len} steps in {} dispatches, \
                     longest {:.1} ms",
                    shape.sizes,
                    1e3 * per,
                    len.div_ceil(chunk),
                    1e3 * longest
                );
            }
        }
    }
}
