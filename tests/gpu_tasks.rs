//! The trajectory tasks on the GPU: `trajectory-l1` (spiral-fit, with the cube input map) and
//! `trajectory-sse` on an observed component (freefall-fit) in the kernels against the CPU
//! engine, and a few iterations of each task's training following the CPU f32 path from the
//! same weights and batches (fixed-step RK4, a small network). Skip policy of tests/common
//! (CI=true: no adapter fails).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use nodelab::gpu::{FixedSchedule, GpuGradMethod, GpuObjective, GpuSolver};
use nodelab::grad::{self, BatchSteps, GradMethod, GradOptions, GradProblem, Loss, LossKind};
use nodelab::nn::{Activation, InputMap, Mlp};
use nodelab::solver::{Method, SolverConfig};
use nodelab::train::{Device, Precision, TaskData, TaskName, TrainConfig, TrainControl, Trainer};

fn rk4(h: f64) -> SolverConfig {
    SolverConfig {
        method: Method::Rk4,
        h0: Some(h),
        ..SolverConfig::default()
    }
}

fn states(flat: &[f64], d: usize) -> Vec<Vec<f64>> {
    flat.chunks(d).map(<[f64]>::to_vec).collect()
}

/// The GPU backprop gradient of `p` (fixed steps h) next to the CPU f64 engine's: relative
/// L2 error of dL/dθ and relative error of the loss.
fn gpu_vs_cpu(p: &GradProblem, h: f64) -> (f64, f64, Vec<f64>, Vec<f64>) {
    let ctx = common::gpu_context().expect("an adapter");
    let mut gpu = GpuSolver::new(ctx, &p.mlp).unwrap();
    let objective = GpuObjective::from_loss(&p.loss).unwrap();
    let y0: Vec<f64> = p.y0.iter().flatten().copied().collect();
    gpu.set_objective(&y0, &objective).unwrap();
    let sched = FixedSchedule::new(p.t0, p.t1, Some(h)).unwrap();
    let out = gpu
        .gradient(GpuGradMethod::Backprop, &sched, objective.loss)
        .unwrap();
    let cpu = grad::compute(p, GradMethod::Backprop, &GradOptions::default()).unwrap();
    let e = common::rel_l2(&out.grad, &cpu.grad);
    let el = ((out.loss - cpu.loss) / cpu.loss).abs();
    eprintln!(
        "{} {:?}: grad rel err {e:.2e}, loss {} vs CPU {} (rel {el:.2e})",
        p.loss.kind.name(),
        p.mlp.sizes,
        out.loss,
        cpu.loss
    );
    (e, el, out.grad, cpu.grad)
}

fn problem(mlp: Mlp, y0: &[f64], t1: f64, loss: Loss) -> GradProblem {
    let d = mlp.dim();
    GradProblem {
        mlp,
        y0: states(y0, d),
        t0: 0.0,
        t1,
        solver: rk4(0.07),
        batch_steps: BatchSteps::PerSample,
        loss,
    }
}

/// `trajectory-l1` through the cube input map, observation times off the step grid: the
/// kernel's loss and gradient are the CPU f64 engine's to f32 accuracy.
#[test]
fn trajectory_l1_with_the_cube_map_matches_the_cpu_engine() {
    if common::gpu_context().is_none() {
        return;
    }
    let mut mlp = Mlp::random(&[2, 8, 2], Activation::Tanh, false, 0.5, 31);
    mlp.input_map = InputMap::Cube;
    let (batch, times) = (33, [0.3, 0.65, 1.0]);
    let y0 = common::random_states(batch, 2, 1.2, 4);
    let targets = (0..times.len())
        .map(|k| states(&common::random_states(batch, 2, 1.0, 50 + k as u64), 2))
        .collect();
    let p = problem(
        mlp,
        &y0,
        1.0,
        Loss::trajectory_of(LossKind::TrajectoryL1, times.to_vec(), targets),
    );
    p.validate().unwrap();
    let (e, el, _, _) = gpu_vs_cpu(&p, 0.07);
    assert!(e <= 1e-4, "gradient relative error {e}");
    assert!(el <= 1e-5, "loss relative error {el}");
}

/// `trajectory-sse` on component 0 only: the unobserved component's targets (garbage here)
/// change nothing, and loss and gradient are the CPU engine's.
#[test]
fn trajectory_sse_on_one_component_matches_the_cpu_engine() {
    if common::gpu_context().is_none() {
        return;
    }
    let mlp = Mlp::random(&[2, 8, 2], Activation::Tanh, false, 1.0, 32);
    let (batch, times) = (17, [0.25, 0.5, 0.8]);
    let y0 = common::random_states(batch, 2, 1.0, 6);
    let targets: Vec<Vec<Vec<f64>>> = (0..times.len())
        .map(|k| states(&common::random_states(batch, 2, 1.0, 60 + k as u64), 2))
        .collect();
    let loss = |targets: Vec<Vec<Vec<f64>>>| {
        Loss::trajectory_of(LossKind::TrajectorySse, times.to_vec(), targets).on_components(vec![0])
    };
    let p = problem(mlp.clone(), &y0, 0.8, loss(targets.clone()));
    p.validate().unwrap();
    let (e, el, g, _) = gpu_vs_cpu(&p, 0.07);
    assert!(e <= 1e-4, "gradient relative error {e}");
    assert!(el <= 1e-5, "loss relative error {el}");
    let mut moved = targets;
    for set in &mut moved {
        for t in set.iter_mut() {
            t[1] += 7.0;
        }
    }
    let q = problem(mlp, &y0, 0.8, loss(moved));
    let (_, _, g2, _) = gpu_vs_cpu(&q, 0.07);
    assert_eq!(g, g2, "the unobserved component entered the gradient");
}

/// L1's subgradient at a zero residual is 0, as on the CPU: with a zero output layer the
/// field is 0, y(τ) = y0 exactly, and component 0's targets equal y0 (residual exactly 0)
/// while component 1's do not. A kernel that took sign(0) = ±1 would give the output bias a
/// gradient in component 0.
#[test]
fn trajectory_l1_subgradient_at_zero_is_the_cpus() {
    if common::gpu_context().is_none() {
        return;
    }
    let mut mlp = Mlp::random(&[2, 4, 2], Activation::Tanh, false, 1.0, 33);
    let out_w = mlp.layer_offset(1);
    for v in &mut mlp.params[out_w..] {
        *v = 0.0;
    }
    let batch: usize = 5;
    // f32-exact initial states.
    let y0: Vec<f64> = (0..batch * 2).map(|j| (j as f64 - 4.0) * 0.25).collect();
    let times = [0.5, 1.0];
    let targets = (0..times.len())
        .map(|_| {
            states(&y0, 2)
                .into_iter()
                .map(|y| vec![y[0], y[1] + 0.5])
                .collect()
        })
        .collect();
    let p = problem(
        mlp,
        &y0,
        1.0,
        Loss::trajectory_of(LossKind::TrajectoryL1, times.to_vec(), targets),
    );
    let (e, el, g, cpu) = gpu_vs_cpu(&p, 0.25);
    let n = g.len();
    // Output bias: component 0 gets nothing, component 1 −Σ_k τ_k · B / ((K+1) B · 2).
    assert_eq!(g[n - 2], 0.0, "{g:?}");
    assert_eq!(cpu[n - 2], 0.0);
    assert!((g[n - 1] - cpu[n - 1]).abs() <= 1e-6, "{g:?} vs {cpu:?}");
    assert!(e <= 1e-5 && el <= 1e-6, "{e} {el}");
}

fn task_config(task: TaskName, device: Device, iters: usize, h: f64) -> TrainConfig {
    let mut c = TrainConfig::defaults(task);
    c.methods = vec![GradMethod::Backprop];
    c.iters = iters;
    c.device = device;
    c.eval_every = 1000;
    // One hidden layer of 8: lavapipe compiles the straight-line kernels of small networks
    // in seconds.
    c.model.hidden = vec![8];
    c.solver = rk4(h);
    if device == Device::Cpu {
        c.precision = Precision::F32;
    }
    c
}

/// `iters` iterations of `task` on the GPU and on the CPU in f32 from the same seed (same
/// initial weights and batches): the loss curves agree within `tol` relative, and the loss fell.
fn curve_follows_cpu_f32(task: TaskName, iters: usize, h: f64, tol: f64) {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let mut cpu = Trainer::new(task_config(task, Device::Cpu, iters, h)).unwrap();
    let _ = cpu.run(&TrainControl::new(), |_| {});
    let mut gpu = Trainer::new_on(task_config(task, Device::Gpu, iters, h), Some(ctx)).unwrap();
    let report = gpu.run(&TrainControl::new(), |_| {});
    assert_eq!(report.device, "gpu");
    let (c, g) = (&cpu.runs()[0], &gpu.runs()[0]);
    assert_eq!(c.records.len(), iters, "CPU: {:?}", c.status);
    assert_eq!(g.records.len(), iters, "GPU: {:?}", g.status);
    let mut worst = 0.0f64;
    for (rc, rg) in c.records.iter().zip(&g.records) {
        let rel = (rc.loss - rg.loss).abs() / rc.loss.abs();
        worst = worst.max(rel);
        assert!(
            rel < tol,
            "{} iteration {}: CPU f32 {} GPU {} (rel {rel:e})",
            task.name(),
            rc.iter,
            rc.loss,
            rg.loss
        );
    }
    eprintln!(
        "{}: {iters} iterations, worst relative loss difference GPU vs CPU f32 {worst:.2e}",
        task.name()
    );
    assert!(g.records[iters - 1].loss < g.records[0].loss, "no descent");
}

/// spiral-fit (trajectory-l1 over windows of 10 samples 0.025 apart, cube input map), RK4
/// h = 0.03 (one step per observation): 8 iterations within 1e-4 of the CPU f32 curve.
#[test]
fn spiral_fit_on_the_gpu_follows_the_cpu_f32_curve() {
    curve_follows_cpu_f32(TaskName::SpiralFit, 8, 0.03, 1e-4);
}

/// freefall-fit (trajectory-sse on the position, 99 observations 0.0505 apart), RK4 h = 0.06
/// (one step per observation): 8 iterations within 1e-4 of the CPU f32 curve.
#[test]
fn freefall_fit_on_the_gpu_follows_the_cpu_f32_curve() {
    curve_follows_cpu_f32(TaskName::FreefallFit, 8, 0.06, 1e-4);
}

/// The first gradient of spiral-fit on a batch of windows (the task's own batch problem, the
/// seeded initial model): the GPU's equals the CPU f32 engine's within 1e-4 relative.
#[test]
fn spiral_fit_first_gpu_gradient_matches_the_cpu_f32_gradient() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let config = task_config(TaskName::SpiralFit, Device::Cpu, 1, 0.03);
    let data = TaskData::generate(config.task, &config.data, config.seed).unwrap();
    let mlp = config.model.build(data.dim(), config.seed);
    assert_eq!(mlp.input_map, InputMap::Cube);
    let model = nodelab::train::Model { mlp, readout: None };
    let items = [0, 17, 250, 611, 980];
    let p = data.batch_problem(&items, &model, &config.solver);
    let cpu = grad::compute_with_precision(
        &p,
        GradMethod::Backprop,
        &GradOptions::default(),
        grad::Precision::F32,
    )
    .unwrap();
    let mut gpu = GpuSolver::new(ctx, &p.mlp).unwrap();
    let objective = GpuObjective::from_loss(&p.loss).unwrap();
    let y0: Vec<f64> = p.y0.iter().flatten().copied().collect();
    gpu.set_objective(&y0, &objective).unwrap();
    let sched = FixedSchedule::new(p.t0, p.t1, config.solver.h0).unwrap();
    let out = gpu
        .gradient(GpuGradMethod::Backprop, &sched, objective.loss)
        .unwrap();
    let e = common::rel_l2(&out.grad, &cpu.grad);
    let el = ((out.loss - cpu.loss) / cpu.loss).abs();
    eprintln!("spiral-fit first gradient: GPU vs CPU f32 rel L2 {e:.2e}, loss rel {el:.2e}");
    assert!(e <= 1e-4, "gradient relative error {e}");
    assert!(el <= 1e-5, "loss relative error {el}");
}

/// spiral-fit and freefall-fit are no longer refused for their loss, components or input map;
/// the adaptive solver of their defaults still is, saying how to run them.
#[test]
fn trajectory_tasks_pass_the_gpu_check_but_dopri5() {
    for task in [TaskName::SpiralFit, TaskName::FreefallFit] {
        let config = task_config(task, Device::Gpu, 1, 0.05);
        let data = TaskData::generate(task, &config.data, config.seed).unwrap();
        nodelab::train::gpu::check_config(&config, &data).unwrap();
        let mut adaptive = TrainConfig::defaults(task);
        adaptive.device = Device::Gpu;
        let err = nodelab::train::gpu::check_config(&adaptive, &data).unwrap_err();
        assert!(err.contains("rk4"), "{err}");
    }
}
