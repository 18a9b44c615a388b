//! The adaptive kernels (zc-rk4 forward, afge adaptive) and afge fixed in step chunks
//! (nodelab::gpu::engine::chunks): chunks of 1, 3 and 7 steps (attempted steps for the adaptive
//! kernels, so that rejected attempts, segment ends and finished samples fall on chunk
//! boundaries) give bitwise the states, step counts, loss and gradient of the unchunked
//! dispatch (the same f32 operations in the same order; the live state crosses dispatches
//! through f32 buffers, which store it exactly); the estimate chunks these kernels at batch
//! 65 536. Skip policy of tests/common (CI=true: no adapter fails).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/chunks.rs"]
mod chunk_cases;
mod common;

use chunk_cases::{CHUNKS, bits, grad_bits, objectives};
use nodelab::gpu::engine::chunks::{self, DISPATCH_BUDGET_S};
use nodelab::gpu::shader::Kernel;
use nodelab::gpu::{AdaptiveSettings, FixedSchedule, GpuGradMethod, GpuSolver, Shape};
use nodelab::nn::{Activation, Mlp};
use nodelab::solver::{Method, SolverConfig};
use nodelab::train::{TaskName, TrainConfig};

/// zc-rk4 settings over [0, t1] with a tight tolerance (the automatic first step and the
/// stiffer samples get rejected) and a small attempt budget (a forced chunk of one attempt
/// makes max_steps dispatches).
fn adaptive(t1: f64, tol: f64, max_steps: usize) -> AdaptiveSettings {
    let config = SolverConfig {
        method: Method::ZcRk4,
        tol,
        max_steps,
        ..SolverConfig::default()
    };
    AdaptiveSettings::from_config(&config, 0.0, t1)
}

#[test]
fn chunked_zc_rk4_forward_equals_the_unchunked_dispatch() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let mlp = Mlp::random(&[2, 16, 2], Activation::Tanh, false, 1.5, 21);
    let (batch, d) = (70, 2);
    let mut gpu = GpuSolver::new(ctx, &mlp).unwrap();
    gpu.poison = true;
    // Widely spread states (different step sequences); sample 2 is not finite and stops in its
    // first attempt, the others go on around it.
    let mut y0 = common::random_states(batch, d, 3.0, 1);
    y0[2 * d] = f64::NAN;
    gpu.set_batch(&y0, &[]).unwrap();
    // A budget the solves fit in, and one too small for some samples (max_steps reached in the
    // last dispatch, after samples that finished early were skipped by the later ones).
    let mut hit_budget = false;
    for (set, solved) in [
        (adaptive(2.0, 1e-6, 300), true),
        (adaptive(2.0, 1e-6, 20), false),
    ] {
        gpu.chunk_steps = Some(u32::MAX);
        let whole = gpu.forward_zc_rk4(&set).unwrap();
        let rejected: u32 = whole.stats.iter().map(|s| s.rejected).sum();
        let ok = whole.stats.iter().filter(|s| s.status == 0).count();
        assert!(rejected > 0, "no rejected attempt to carry across chunks");
        assert!(!solved || ok == batch - 1, "{ok} samples solved");
        assert_eq!(whole.stats[2].status, 1, "sample 2 should be non-finite");
        let counts: std::collections::BTreeSet<u32> =
            whole.stats.iter().map(|s| s.accepted).collect();
        assert!(counts.len() > 2, "{counts:?}");
        hit_budget |= whole.stats.iter().any(|s| s.status == 3);
        for chunk in CHUNKS {
            gpu.chunk_steps = chunk;
            let got = gpu.forward_zc_rk4(&set).unwrap();
            assert_eq!(bits(&got.y), bits(&whole.y), "chunk {chunk:?}");
            assert_eq!(got.stats, whole.stats, "chunk {chunk:?}");
        }
    }
    assert!(hit_budget, "no sample reached max_steps");
}

#[test]
fn chunked_afge_equals_the_unchunked_dispatch() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let mlp = Mlp::random(&[2, 8, 2], Activation::Tanh, true, 1.5, 61);
    let (batch, d) = (70, 2);
    let mut gpu = GpuSolver::new(ctx, &mlp).unwrap();
    gpu.poison = true;
    let y0 = common::random_states(batch, d, 2.0, 3);
    // 19 steps over [0, 1.5], the last shortened.
    let sched = FixedSchedule::new(0.0, 1.5, Some(0.08)).unwrap();
    let set = adaptive(1.5, 1e-6, 300);
    for obj in objectives(batch, d, 1.5, 31) {
        gpu.set_objective(&y0, &obj).unwrap();
        gpu.chunk_steps = Some(u32::MAX);
        let fixed = gpu.gradient(GpuGradMethod::Afge, &sched, obj.loss).unwrap();
        let adapt = gpu.afge_adaptive(&set, obj.loss).unwrap();
        for whole in [&fixed, &adapt] {
            assert!(whole.loss.is_finite() && whole.grad.iter().all(|g| g.is_finite()));
        }
        let rejected: u32 = adapt.stats.iter().map(|s| s.rejected).sum();
        assert!(rejected > 0, "{:?}: no rejected attempt", obj.loss);
        for chunk in CHUNKS {
            gpu.chunk_steps = chunk;
            let got = gpu.gradient(GpuGradMethod::Afge, &sched, obj.loss).unwrap();
            assert_eq!(
                grad_bits(&got),
                grad_bits(&fixed),
                "fixed {:?}, chunk {chunk:?}",
                obj.loss
            );
            assert_eq!(
                got.stats, fixed.stats,
                "fixed {:?}, chunk {chunk:?}",
                obj.loss
            );
            let got = gpu.afge_adaptive(&set, obj.loss).unwrap();
            assert_eq!(
                grad_bits(&got),
                grad_bits(&adapt),
                "adaptive {:?}, chunk {chunk:?}",
                obj.loss
            );
            assert_eq!(
                got.stats, adapt.stats,
                "adaptive {:?}, chunk {chunk:?}",
                obj.loss
            );
            assert_eq!(got.nfe_forward, adapt.nfe_forward);
        }
    }
}

fn task_shape(task: TaskName) -> Shape {
    let c = TrainConfig::defaults(task);
    Shape::of(&c.model.build(2, 0))
}

const ADAPTIVE_KERNELS: [Kernel; 3] = [Kernel::ZcRk4Forward, Kernel::Afge, Kernel::AfgeAdaptive];

/// At batch 65 536 the estimate splits these kernels' sequences (fixed steps, or the default
/// attempt budget of 200 000), each chunk within the dispatch budget and one more step not.
#[test]
fn the_estimate_chunks_the_adaptive_kernels_at_a_large_batch() {
    let max_steps = SolverConfig::default().max_steps as u32;
    for task in [TaskName::Circles, TaskName::SpiralFit] {
        let shape = task_shape(task);
        for kernel in ADAPTIVE_KERNELS {
            let len = chunks::sequence_len(kernel, max_steps).expect("a chunked kernel");
            assert_eq!(len, max_steps);
            assert!(chunks::live_rows(kernel, &shape) > shape.dim as u32);
            let c = chunks::estimated_chunk(&shape, kernel, 65_536);
            let per = chunks::step_seconds(&shape, kernel, 65_536);
            assert!(c < len, "{task:?} {kernel:?}: chunk {c}");
            assert!(
                c == 1 || f64::from(c) * per <= DISPATCH_BUDGET_S,
                "{task:?} {kernel:?}"
            );
            assert!(
                f64::from(c + 1) * per > DISPATCH_BUDGET_S,
                "{task:?} {kernel:?}"
            );
            // The whole budget in one dispatch would be far above the refusal bound.
            assert!(f64::from(len) * per > chunks::DISPATCH_REFUSE_S);
        }
    }
}

/// The chunk lengths and the longest dispatch the estimate gives (report figures): run with
/// `cargo test --test gpu_chunks_adaptive -- --ignored --nocapture`.
#[test]
#[ignore = "prints figures for the report"]
fn print_adaptive_chunk_estimates() {
    let max_steps = SolverConfig::default().max_steps as u32;
    let shape = task_shape(TaskName::Circles);
    for kernel in ADAPTIVE_KERNELS {
        for batch in [256, 4096, 65_536] {
            let per = chunks::step_seconds(&shape, kernel, batch);
            let chunk = chunks::estimated_chunk(&shape, kernel, batch)
                .max(max_steps.div_ceil(chunks::MAX_DISPATCHES))
                .min(max_steps);
            println!(
                "circles (sizes {:?}): {kernel:?} batch {batch}: chunk {chunk} steps, {:.4} ms \
                 per step, longest dispatch {:.2} ms, {} dispatches at max_steps {max_steps}",
                shape.sizes,
                1e3 * per,
                1e3 * per * f64::from(chunk),
                max_steps.div_ceil(chunk)
            );
        }
    }
}
