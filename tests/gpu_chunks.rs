//! One dispatch's work bounded (nodelab::gpu::engine::chunks): the chunked kernels run in step
//! chunks of 1, a few and all steps give bitwise the results of the unchunked dispatch (the
//! same f32 operations in the same order; the live state crosses dispatches through f32
//! buffers, which store it exactly); the chunk estimate keeps a dispatch within its budget;
//! a device with lowered limits refuses, with the limit's name, a batch or trajectory that the
//! default limits take, before any buffer or dispatch. Skip policy of tests/common (CI=true:
//! no adapter fails).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/chunks.rs"]
mod chunk_cases;
mod common;

use std::sync::Arc;

use chunk_cases::{CHUNKS, bits, grad_bits, objectives};
use nodelab::gpu::engine::chunks::{self, DISPATCH_BUDGET_S};
use nodelab::gpu::optim::GpuOptimizer;
use nodelab::gpu::shader::Kernel;
use nodelab::gpu::stages::FixedRk;
use nodelab::gpu::{
    FixedSchedule, GpuContext, GpuGradMethod, GpuLoss, GpuObjective, GpuSolver, Shape,
};
use nodelab::nn::{Activation, Mlp};
use nodelab::optim::{OptimizerConfig, OptimizerKind};
use nodelab::train::{TaskName, TrainConfig};

#[test]
fn chunked_backprop_equals_the_unchunked_dispatch() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let mlp = Mlp::random(&[2, 8, 2], Activation::Tanh, true, 1.0, 5);
    let (batch, d) = (70, 2);
    let mut gpu = GpuSolver::new(ctx, &mlp).unwrap();
    gpu.poison = true;
    let y0 = common::random_states(batch, d, 1.0, 30);
    // 13 steps over [0, 1], the last shortened: 26 steps in the sequence.
    let sched = FixedSchedule::new(0.0, 1.0, Some(0.08)).unwrap();
    for obj in objectives(batch, d, 1.0, 31) {
        gpu.set_objective(&y0, &obj).unwrap();
        gpu.chunk_steps = Some(u32::MAX);
        let whole = gpu
            .gradient(GpuGradMethod::Backprop, &sched, obj.loss)
            .unwrap();
        assert!(whole.loss.is_finite() && whole.grad.iter().all(|g| g.is_finite()));
        for chunk in CHUNKS {
            gpu.chunk_steps = chunk;
            let got = gpu
                .gradient(GpuGradMethod::Backprop, &sched, obj.loss)
                .unwrap();
            assert_eq!(
                grad_bits(&got),
                grad_bits(&whole),
                "{:?}, chunk {chunk:?}",
                obj.loss
            );
            assert_eq!(got.stats, whole.stats, "{:?}, chunk {chunk:?}", obj.loss);
            assert_eq!(
                (got.nfe_forward, got.nfe_backward),
                (whole.nfe_forward, whole.nfe_backward)
            );
        }
    }
}

#[test]
fn chunked_forward_equals_the_unchunked_dispatch() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let mlp = Mlp::random(&[2, 8, 2], Activation::Tanh, true, 1.0, 6);
    let (batch, d) = (70, 2);
    let mut gpu = GpuSolver::new(ctx, &mlp).unwrap();
    gpu.poison = true;
    let mut y0 = common::random_states(batch, d, 1.0, 40);
    // A sample that is not finite stops in its first chunk; the later chunks leave it alone.
    y0[2 * d] = f64::NAN;
    gpu.set_batch(&y0, &[]).unwrap();
    let sched = FixedSchedule::new(0.0, 1.0, Some(0.08)).unwrap();
    gpu.chunk_steps = Some(u32::MAX);
    let whole = gpu.forward_rk4(&sched).unwrap();
    assert_ne!(whole.stats[2].status, 0, "sample 2 should fail");
    assert_eq!(whole.stats[0].accepted, sched.n_steps);
    for chunk in CHUNKS {
        gpu.chunk_steps = chunk;
        let got = gpu.forward_rk4(&sched).unwrap();
        assert_eq!(bits(&got.y), bits(&whole.y), "chunk {chunk:?}");
        assert_eq!(got.stats, whole.stats, "chunk {chunk:?}");
    }
}

/// A training iteration (gradient, reduction, optimiser in one submission) in chunks of one
/// step updates θ exactly as the unchunked one.
#[test]
fn chunked_training_step_equals_the_unchunked_one() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let mlp = Mlp::random(&[2, 16, 16, 2], Activation::Tanh, false, 1.0, 7);
    let (batch, d) = (64, 2);
    let y0 = common::random_states(batch, d, 1.0, 50);
    let target = common::random_states(batch, d, 1.0, 51);
    let sched = FixedSchedule::new(0.0, 1.0, Some(0.1)).unwrap();
    let mut weights = Vec::new();
    for chunk in [Some(u32::MAX), Some(1), Some(4)] {
        let mut gpu = GpuSolver::new(ctx.clone(), &mlp).unwrap();
        gpu.chunk_steps = chunk;
        gpu.set_batch(&y0, &target).unwrap();
        let config = OptimizerConfig::new(OptimizerKind::Adam, 0.01);
        let mut opt = GpuOptimizer::new(ctx.clone(), config, mlp.n_params(), 0).unwrap();
        for _ in 0..2 {
            gpu.train_step(GpuGradMethod::Backprop, &sched, GpuLoss::Mse, &mut opt)
                .unwrap();
        }
        weights.push(bits(&gpu.read_weights().unwrap().0));
    }
    assert_eq!(weights[1], weights[0]);
    assert_eq!(weights[2], weights[0]);
}

fn task_shape(task: TaskName) -> Shape {
    let c = TrainConfig::defaults(task);
    Shape::of(&c.model.build(2, 0))
}

/// The estimate's chunk keeps one dispatch within the budget, and one more step would not.
#[test]
fn estimated_chunk_fills_the_dispatch_budget() {
    for task in [TaskName::Circles, TaskName::SpiralFit] {
        let shape = task_shape(task);
        for kernel in [Kernel::Rk4Forward, Kernel::Backprop(FixedRk::Rk4)] {
            for batch in [256, 4096, 65_536, 1 << 22] {
                let c = chunks::estimated_chunk(&shape, kernel, batch);
                let per = chunks::step_seconds(&shape, kernel, batch);
                assert!(c >= 1);
                assert!(
                    c == 1 || f64::from(c) * per <= DISPATCH_BUDGET_S,
                    "{task:?} {batch}"
                );
                assert!(
                    f64::from(c + 1) * per > DISPATCH_BUDGET_S,
                    "{task:?} {batch}"
                );
            }
        }
    }
    // Twice the batch, half the chunk (to rounding).
    let shape = task_shape(TaskName::Circles);
    let a = chunks::estimated_chunk(&shape, Kernel::Backprop(FixedRk::Rk4), 1 << 16);
    let b = chunks::estimated_chunk(&shape, Kernel::Backprop(FixedRk::Rk4), 1 << 17);
    assert!(b == a / 2 || b == a.div_ceil(2), "{a} {b}");
}

/// The chunk lengths and the longest dispatch the estimate gives (report figures): run with
/// `cargo test --test gpu_chunks -- --ignored --nocapture`.
#[test]
#[ignore = "prints figures for the report"]
fn print_chunk_estimates() {
    for task in [TaskName::Circles, TaskName::SpiralFit] {
        let c = TrainConfig::defaults(task);
        let shape = task_shape(task);
        let steps = 10u32;
        for batch in [256, 4096, 65_536] {
            let chunk = chunks::estimated_chunk(&shape, Kernel::Backprop(FixedRk::Rk4), batch);
            let per = chunks::step_seconds(&shape, Kernel::Backprop(FixedRk::Rk4), batch);
            let longest = f64::from(chunk.min(2 * steps)) * per;
            println!(
                "{task:?} (sizes {:?}, {} flops/eval, solver {:?}): batch {batch}: backprop chunk \
                 {chunk} steps, {:.3} ms per step, longest dispatch of a {steps}-step iteration \
                 {:.2} ms",
                shape.sizes,
                chunks::eval_flops(&shape),
                c.solver.method,
                1e3 * per,
                1e3 * longest
            );
        }
    }
}

/// Wall time of one training iteration chunked (one step per dispatch) against unchunked on
/// this adapter: `cargo test --test gpu_chunks -- --ignored --nocapture`.
#[test]
#[ignore = "prints a measurement for the report"]
fn print_chunk_overhead() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let shape_mlp = TrainConfig::defaults(TaskName::Circles).model.build(2, 0);
    let batch = 4096;
    let y0 = common::random_states(batch, 2, 1.0, 60);
    let target = common::random_states(batch, 2, 1.0, 61);
    let sched = FixedSchedule::new(0.0, 1.0, Some(0.1)).unwrap();
    let mut gpu = GpuSolver::new(ctx.clone(), &shape_mlp).unwrap();
    gpu.set_batch(&y0, &target).unwrap();
    let config = OptimizerConfig::new(OptimizerKind::Adam, 0.01);
    let mut opt = GpuOptimizer::new(ctx, config, shape_mlp.n_params(), 0).unwrap();
    let mut time = |gpu: &mut GpuSolver, chunk| {
        gpu.chunk_steps = chunk;
        gpu.train_step(GpuGradMethod::Backprop, &sched, GpuLoss::Mse, &mut opt)
            .unwrap();
        let t = std::time::Instant::now();
        for _ in 0..5 {
            gpu.train_step(GpuGradMethod::Backprop, &sched, GpuLoss::Mse, &mut opt)
                .unwrap();
        }
        t.elapsed().as_secs_f64() / 5.0
    };
    let whole = time(&mut gpu, Some(u32::MAX));
    let one = time(&mut gpu, Some(1));
    let four = time(&mut gpu, Some(4));
    println!(
        "circles batch {batch}, 10 steps, backprop: unchunked {:.1} ms, chunks of 1 step \
         (20 dispatches) {:.1} ms (ratio {:.2}), chunks of 4 (5 dispatches) {:.1} ms \
         (ratio {:.2})",
        1e3 * whole,
        1e3 * one,
        one / whole,
        1e3 * four,
        four / whole
    );
}

/// A device created with lowered limits (the adapter's, with a few made small).
fn lowered_context(edit: impl FnOnce(&mut wgpu::Limits)) -> Option<Arc<GpuContext>> {
    let base = common::gpu_context()?;
    drop(base);
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        force_fallback_adapter: false,
        compatible_surface: None,
        apply_limit_buckets: false,
    }))
    .expect("an adapter was found a moment ago");
    let mut limits = adapter.limits();
    edit(&mut limits);
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("lowered limits"),
        required_features: wgpu::Features::empty(),
        required_limits: limits.clone(),
        experimental_features: wgpu::ExperimentalFeatures::disabled(),
        memory_hints: wgpu::MemoryHints::Performance,
        trace: wgpu::Trace::Off,
    }))
    .expect("a device with lower limits");
    let ctx = GpuContext::from_device(device, queue, &adapter.get_info());
    // A validation error that escaped the error scopes panics the test.
    ctx.device
        .on_uncaptured_error(Arc::new(|e| panic!("an uncaptured wgpu error: {e}")));
    Some(ctx)
}

#[test]
fn lowered_limits_refuse_before_any_buffer_or_dispatch() {
    let Some(ctx) = lowered_context(|l| {
        l.max_compute_workgroups_per_dimension = 64;
        l.max_storage_buffer_binding_size = 64 << 10;
    }) else {
        return;
    };
    let mlp = Mlp::random(&[2, 8, 2], Activation::Tanh, false, 1.0, 8);
    let d = 2;
    let mut gpu = GpuSolver::new(ctx.clone(), &mlp).unwrap();
    // 4097 samples need 65 workgroups of 64.
    let big = common::random_states(4097, d, 1.0, 70);
    let err = gpu.set_batch(&big, &big).unwrap_err().to_string();
    assert!(
        err.contains("max_compute_workgroups_per_dimension") && err.contains("at most 4096"),
        "{err}"
    );
    // 256 samples fit; 100 backprop steps need a 207 KB trajectory, above the 64 KiB binding.
    let y0 = common::random_states(256, d, 1.0, 71);
    let target = common::random_states(256, d, 1.0, 72);
    gpu.set_batch(&y0, &target).unwrap();
    let sched = FixedSchedule::new(0.0, 1.0, Some(0.01)).unwrap();
    let err = gpu
        .gradient(GpuGradMethod::Backprop, &sched, GpuLoss::Mse)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("max_storage_buffer_binding_size") && err.contains("checkpoint"),
        "{err}"
    );
    // The checkpoint method's tape fits, and the solver still works after the refusals.
    let ok = gpu
        .gradient(GpuGradMethod::Checkpoint, &sched, GpuLoss::Mse)
        .unwrap();
    assert!(ok.loss.is_finite());
    // The same gradient on the default limits agrees (the refusals changed nothing).
    let mut full = GpuSolver::new(common::gpu_context().unwrap(), &mlp).unwrap();
    full.set_batch(&y0, &target).unwrap();
    let reference = full
        .gradient(GpuGradMethod::Checkpoint, &sched, GpuLoss::Mse)
        .unwrap();
    assert_eq!(ok.loss.to_bits(), reference.loss.to_bits());
}

#[test]
fn a_device_without_the_workgroup_size_is_refused() {
    let Some(ctx) = lowered_context(|l| {
        l.max_compute_workgroup_size_x = 32;
        l.max_compute_invocations_per_workgroup = 32;
    }) else {
        return;
    };
    let mlp = Mlp::random(&[2, 8, 2], Activation::Tanh, false, 1.0, 9);
    let err = GpuSolver::new(ctx, &mlp)
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("max_compute_workgroup_size_x"), "{err}");
}

/// The bytes a method reports count the live state of a chunked run: backprop's y, ā and the
/// loss (2D + 1 numbers per sample), λ-reversible's pair of states, their adjoints and the
/// loss (4D + 1), nothing when the run is one dispatch.
#[test]
fn reported_bytes_count_the_live_state() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let mlp = Mlp::random(&[2, 8, 2], Activation::Tanh, true, 1.0, 5);
    let (batch, d) = (70, 2);
    let mut gpu = GpuSolver::new(ctx, &mlp).unwrap();
    let y0 = common::random_states(batch, d, 1.0, 30);
    let obj = GpuObjective::terminal(GpuLoss::HalfSse, common::random_states(batch, d, 1.0, 32));
    gpu.set_objective(&y0, &obj).unwrap();
    let sched = FixedSchedule::new(0.0, 1.0, Some(0.08)).unwrap();
    for (method, rows) in [
        (GpuGradMethod::Backprop, 2 * d + 1),
        (GpuGradMethod::ReversibleRk4, 4 * d + 1),
    ] {
        gpu.chunk_steps = Some(u32::MAX);
        let whole = gpu.gradient(method, &sched, obj.loss).unwrap();
        gpu.chunk_steps = Some(3);
        let chunked = gpu.gradient(method, &sched, obj.loss).unwrap();
        assert_eq!(
            chunked.gpu_bytes - whole.gpu_bytes,
            4 * (rows * batch) as u64,
            "{method:?}"
        );
        assert!(gpu.allocated_bytes() >= chunked.gpu_bytes, "{method:?}");
    }
}
