//! The reversible gradient kernels in step chunks (nodelab::gpu::engine::chunks): reversible
//! RK4, reversible midpoint (the λ-coupled kernel), reversible Heun and the asynchronous
//! leapfrog run N forward steps then N backward steps that reconstruct the state; in chunks
//! of 1, a few and all steps they give bitwise the results of the unchunked dispatch (loss,
//! gradient, read-out gradient, y, reconstruction error, statistics): the same f32 operations
//! in the same order, the live state crossing dispatches through f32 buffers, which store it
//! exactly. Every objective these kernels take is tried: a terminal loss, a 3-observation
//! trajectory loss (segments, their losses and the ∂L/∂y injections cross chunk boundaries)
//! and cross-entropy through a read-out. At batch 65 536 the estimate's chunk keeps their
//! dispatches within the budget. Skip policy of tests/common (CI=true: no adapter fails).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/chunks.rs"]
mod chunk_cases;
mod common;

use chunk_cases::{CHUNKS, grad_bits};
use nodelab::gpu::engine::chunks::{self, ChunkPlan, DISPATCH_BUDGET_S};
use nodelab::gpu::shader::Kernel;
use nodelab::gpu::stages::FixedRk;
use nodelab::gpu::{FixedSchedule, GpuGradMethod, GpuLoss, GpuObjective, GpuSolver, Shape};
use nodelab::nn::{Activation, Mlp};
use nodelab::train::{TaskData, TaskName, TrainConfig};

/// A terminal loss, a 3-observation trajectory loss and cross-entropy through a 3-class
/// read-out.
fn objectives(batch: usize, d: usize) -> Vec<GpuObjective> {
    let classes = 3;
    let mut ce = GpuObjective::terminal(GpuLoss::CrossEntropy, Vec::new());
    ce.labels = (0..batch).map(|s| (s % classes) as u32).collect();
    ce.readout_weight = common::random_states(classes, d, 1.0, 33);
    ce.readout_bias = common::random_states(classes, 1, 0.5, 34);
    let mut v = chunk_cases::objectives(batch, d, 1.0, 31);
    v.push(ce);
    v
}

/// `method`'s gradient in chunks of every length in [`CHUNKS`] is bitwise the unchunked one,
/// for every objective, on a time-dependent field (the recomputed evaluations must see the
/// same t).
fn chunked_equals_unchunked(method: GpuGradMethod, seed: u64) {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let mlp = Mlp::random(&[2, 8, 2], Activation::Tanh, true, 1.0, seed);
    let (batch, d) = (70, 2);
    let mut gpu = GpuSolver::new(ctx, &mlp).unwrap();
    gpu.poison = true;
    gpu.lambda = 0.9;
    let y0 = common::random_states(batch, d, 1.0, 30);
    // ⌈1 / 0.08⌉ = 13 steps on the reversible grid: 26 steps in the sequence.
    let sched = FixedSchedule::new(0.0, 1.0, Some(0.08)).unwrap();
    for obj in objectives(batch, d) {
        gpu.set_objective(&y0, &obj).unwrap();
        gpu.chunk_steps = Some(u32::MAX);
        let whole = gpu.gradient(method, &sched, obj.loss).unwrap();
        assert!(
            whole.loss.is_finite() && whole.grad.iter().all(|g| g.is_finite()),
            "{method:?} {:?}",
            obj.loss
        );
        assert!(whole.grad.iter().any(|&g| g != 0.0));
        assert_eq!(
            whole.readout_grad.is_some(),
            obj.loss == GpuLoss::CrossEntropy
        );
        assert_eq!(whole.stats[0].accepted, 13, "{method:?}");
        for chunk in CHUNKS {
            gpu.chunk_steps = chunk;
            let got = gpu.gradient(method, &sched, obj.loss).unwrap();
            let what = format!("{method:?}, {:?}, chunk {chunk:?}", obj.loss);
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

#[test]
fn chunked_reversible_rk4_equals_the_unchunked_dispatch() {
    chunked_equals_unchunked(GpuGradMethod::ReversibleRk4, 11);
}

#[test]
fn chunked_reversible_midpoint_equals_the_unchunked_dispatch() {
    chunked_equals_unchunked(GpuGradMethod::ReversibleMidpoint, 12);
}

#[test]
fn chunked_reversible_heun_equals_the_unchunked_dispatch() {
    chunked_equals_unchunked(GpuGradMethod::ReversibleHeun, 13);
}

#[test]
fn chunked_alf_equals_the_unchunked_dispatch() {
    chunked_equals_unchunked(GpuGradMethod::Alf, 14);
}

const KERNELS: [Kernel; 4] = [
    Kernel::ReversibleLambda(FixedRk::Rk4),
    Kernel::ReversibleLambda(FixedRk::Midpoint),
    Kernel::ReversibleHeun,
    Kernel::Alf,
];

/// The field of `task`'s default model on its data's state dimension.
fn task_shape(task: TaskName) -> Shape {
    let c = TrainConfig::defaults(task);
    let data = TaskData::generate(task, &c.data, c.seed).unwrap();
    Shape::of(&c.model.build(data.dim(), 0))
}

/// Steps of `task`'s default fixed-step solve over [0, 1] (circles) or its preset's 1000.
fn task_steps(task: TaskName) -> u32 {
    match task {
        TaskName::WhiteDwarfIdent => 1000,
        _ => 10,
    }
}

/// At batch 65 536 the estimate's chunk keeps every reversible kernel's dispatch within the
/// budget (one more step would not fit): the white dwarf's 2 × 1000 steps run in several
/// dispatches, circles' 2 × 10 in as many as the budget needs (one when all fit).
#[test]
fn estimate_chunks_the_reversible_kernels_at_batch_65536() {
    let batch = 65_536;
    for task in [TaskName::Circles, TaskName::WhiteDwarfIdent] {
        let shape = task_shape(task);
        for kernel in KERNELS {
            let len = chunks::sequence_len(kernel, task_steps(task)).expect("chunked");
            assert_eq!(len, 2 * task_steps(task));
            assert!(chunks::live_rows(kernel, &shape) > 2 * shape.dim as u32);
            let c = chunks::estimated_chunk(&shape, kernel, batch);
            let per = chunks::step_seconds(&shape, kernel, batch);
            assert!(
                c == 1 || f64::from(c) * per <= DISPATCH_BUDGET_S,
                "{task:?} {kernel:?}"
            );
            assert!(
                f64::from(c + 1) * per > DISPATCH_BUDGET_S,
                "{task:?} {kernel:?}"
            );
            let plan = ChunkPlan::new(len, Some(c));
            let longest = f64::from(c.min(len)) * per;
            assert!(longest <= DISPATCH_BUDGET_S, "{task:?} {kernel:?}");
            assert_eq!(plan.dispatches, len.div_ceil(c), "{task:?} {kernel:?}");
            if task == TaskName::WhiteDwarfIdent {
                assert!(
                    plan.dispatches > 1,
                    "{task:?} {kernel:?}: chunk {c} of {len}"
                );
            }
        }
    }
}

/// The chunk lengths and the longest dispatch the estimate gives at batch 65 536 (report
/// figures): `cargo test --test gpu_chunks_reversible -- --ignored --nocapture`.
#[test]
#[ignore = "prints figures for the report"]
fn print_chunk_estimates() {
    let batch = 65_536;
    for task in [TaskName::Circles, TaskName::WhiteDwarfIdent] {
        let shape = task_shape(task);
        let steps = task_steps(task);
        for kernel in KERNELS {
            let chunk = chunks::estimated_chunk(&shape, kernel, batch);
            let per = chunks::step_seconds(&shape, kernel, batch);
            let longest = f64::from(chunk.min(2 * steps)) * per;
            println!(
                "{task:?} (sizes {:?}, {} flops/eval) batch {batch} {kernel:?}: chunk {chunk} \
                 steps of {}, {:.3} ms per step, longest dispatch {:.2} ms, {} dispatches",
                shape.sizes,
                chunks::eval_flops(&shape),
                2 * steps,
                1e3 * per,
                1e3 * longest,
                (2 * steps).div_ceil(chunk)
            );
        }
    }
}
