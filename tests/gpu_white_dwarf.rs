//! `white-dwarf-ident` on the device (issue 22): the preset's 1000 fixed midpoint steps
//! (h0 = 0.005) through 100 observations, with backprop, checkpoint (K = 8) and
//! reversible-midpoint (λ = 0.99): the memory-bound case. The task's own data, initial weights
//! and gradient problem (its first batch, built by `TaskData`), with the loss observing every
//! component (the task observes x only: the loss on some components is the device loss's
//! concern, tests/gpu_tasks.rs), against the CPU engine — f64 for the gradient, the f32 path
//! for the training curve. The network is the preset's with 8 hidden units instead of 32:
//! lavapipe's shader compiler (LLVM) takes minutes on the 32-unit straight-line kernels (the
//! reversible one: 5 minutes), seconds on these; the steps, observations and methods are the
//! preset's. Skip policy of tests/common (CI=true: no adapter fails).
//!
//! reversible-midpoint's reconstruction `Y = (Y' − (1 − λ)Z − Ψ_h(Z))/λ` multiplies the f32
//! rounding of every step by 1/λ per step: λ^(−1000) ≈ 2.3e4 at the preset's λ = 0.99, so its
//! f32 gradients (CPU and GPU alike) are ~1e-3 from the f64 one and from each other; with
//! λ = 1 the reconstruction does not amplify and the GPU gradient is checked tightly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use nodelab::gpu::optim::{GpuOptimizer, StepOutcome};
use nodelab::gpu::stages::FixedRk;
use nodelab::gpu::{FixedSchedule, GpuGradMethod, GpuObjective, GpuSolver};
use nodelab::grad::{self, GradMethod, GradOptions, GradProblem, Precision};
use nodelab::optim::{self, OptimizerState};
use nodelab::train::preset::TrainPreset;
use nodelab::train::{Device, TaskData, TaskName, TrainConfig};

const METHODS: [GpuGradMethod; 3] = [
    GpuGradMethod::Backprop,
    GpuGradMethod::Checkpoint,
    GpuGradMethod::ReversibleMidpoint,
];

/// The cases: each method at the preset's λ = 0.99, and reversible-midpoint at λ = 1 too,
/// with the relative tolerance of its gradient against f64 (f32 accuracy; at λ = 0.99 the
/// reconstruction's amplification of f32 rounding, the module's note).
const CASES: [(GpuGradMethod, f64, f64); 4] = [
    (GpuGradMethod::Backprop, 0.99, 1e-4),
    (GpuGradMethod::Checkpoint, 0.99, 1e-4),
    (GpuGradMethod::ReversibleMidpoint, 1.0, 1e-4),
    (GpuGradMethod::ReversibleMidpoint, 0.99, 2e-2),
];

/// The preset, with 8 hidden units (see the module's note).
fn preset() -> TrainConfig {
    let path = common::root().join("presets/train-white-dwarf-ident.toml");
    let mut c = TrainPreset::load(&path).unwrap().0;
    assert_eq!(c.model.hidden, vec![32]);
    c.model.hidden = vec![8];
    c
}

/// The task's first gradient problem at its seeded initial weights, observing x and v.
fn first_problem(config: &TrainConfig) -> GradProblem {
    let data = TaskData::generate(config.task, &config.data, config.seed).unwrap();
    let mlp = config.model.build(data.dim(), config.seed);
    let model = nodelab::train::Model { mlp, readout: None };
    let mut p = data.batch_problem(&[0], &model, &config.solver);
    assert_eq!(p.loss.components, vec![0], "the task observes x");
    p.loss.components.clear();
    p
}

fn grad_options(config: &TrainConfig, precision: Precision) -> GradOptions {
    GradOptions {
        precision,
        ..config.grad_options.clone()
    }
}

/// The GPU solver of `p` with the run's options, its schedule (midpoint, the preset's h0)
/// and the objective uploaded.
fn device(config: &TrainConfig, p: &GradProblem) -> Option<(GpuSolver, FixedSchedule)> {
    let ctx = common::gpu_context()?;
    let mut gpu = GpuSolver::new(ctx, &p.mlp).unwrap();
    gpu.checkpoints = config.grad_options.checkpoints;
    gpu.lambda = config.grad_options.lambda;
    let objective = GpuObjective::from_loss(&p.loss).unwrap();
    let y0: Vec<f64> = p.y0.iter().flatten().copied().collect();
    gpu.set_objective(&y0, &objective).unwrap();
    let rk = FixedRk::of_method(config.solver.method).unwrap();
    let sched = FixedSchedule::new(p.t0, p.t1, config.solver.h0)
        .unwrap()
        .with_rk(rk);
    Some((gpu, sched))
}

/// The preset as the tests read it: 1000 midpoint steps of 0.005 over [0, 5], 100
/// observations, the three methods.
#[test]
fn the_preset_is_the_memory_bound_case() {
    let config = preset();
    assert_eq!(
        FixedRk::of_method(config.solver.method),
        Some(FixedRk::Midpoint)
    );
    let p = first_problem(&config);
    let sched = FixedSchedule::new(p.t0, p.t1, config.solver.h0).unwrap();
    assert_eq!(sched.n_steps, 1000);
    assert_eq!(p.loss.times.len(), 100);
    let want: Vec<GradMethod> = METHODS.iter().map(|m| m.cpu()).collect();
    assert_eq!(config.methods, want);
}

/// The GPU gradient of each method at the task's initial weights equals the CPU f64 engine's
/// (same method, midpoint solver, K and λ) within the case's tolerance over 1000 steps (the
/// CPU f32 path's own error is printed beside it), on the same steps; at λ = 1 the
/// reversible-midpoint kernel reconstructs its start state to f32 accuracy.
#[test]
fn white_dwarf_gradients_match_the_cpu_engine() {
    let mut config = preset();
    let p = first_problem(&config);
    let Some((mut gpu, sched)) = device(&config, &p) else {
        return;
    };
    gpu.poison = true;
    let loss = gpu.objective().loss;
    for (method, lambda, tol) in CASES {
        config.grad_options.lambda = lambda;
        gpu.lambda = lambda;
        let cpu = grad::compute(&p, method.cpu(), &grad_options(&config, Precision::F64)).unwrap();
        let cpu32 =
            grad::compute(&p, method.cpu(), &grad_options(&config, Precision::F32)).unwrap();
        let out = gpu.gradient(method, &sched, loss).unwrap();
        let e = common::rel_l2(&out.grad, &cpu.grad);
        let e32 = common::rel_l2(&cpu32.grad, &cpu.grad);
        let el = ((out.loss - cpu.loss) / cpu.loss).abs();
        let steps: u32 = gpu
            .segments(method, &sched)
            .unwrap()
            .iter()
            .map(|s| s.n)
            .sum();
        eprintln!(
            "{} (λ = {lambda}): grad rel err GPU {e:.2e} (CPU f32 {e32:.2e}), loss {el:.2e}, \
             {steps} steps, reconstruction GPU {:.2e} (CPU f32 {:?}), {} GPU bytes",
            method.name(),
            out.recon_err,
            cpu32.reconstruction_error,
            out.gpu_bytes
        );
        assert!(
            e <= tol,
            "{} λ = {lambda}: gradient error {e}",
            method.name()
        );
        assert!(el <= 1e-4, "{}: loss relative error {el}", method.name());
        assert_eq!(steps as usize, cpu.steps_accepted, "{}", method.name());
        assert!(out.stats.iter().all(|s| s.status == 0));
        if method.reversible() && lambda == 1.0 {
            assert!(out.recon_err <= 1e-4, "{}", out.recon_err);
        }
    }
    // backprop keeps every step's state, the others do not.
    let bytes = |m| gpu.method_bytes(Some(m), 1, sched.n_steps);
    assert!(bytes(GpuGradMethod::Backprop) > bytes(GpuGradMethod::Checkpoint));
    assert!(bytes(GpuGradMethod::Checkpoint) > bytes(GpuGradMethod::ReversibleMidpoint));
}

/// ITERS iterations of the preset's Adam on the device (the gradient kernel, the reduction
/// and the optimiser kernel per iteration, weights on the device) follow the CPU f32 path
/// (f32 gradient, f64 weights and moments: the trainer's `--precision f32`) from the same
/// weights, per iteration within 1e-4 relative (the case's gradient tolerance, at least:
/// Adam moves each weight by about lr whatever the gradient's size, so a gradient error
/// becomes a loss error of its order), for each case; the loss falls. Prints ms per iteration
/// of both, the device bytes and the first kernel build.
#[test]
fn white_dwarf_curve_on_the_gpu_follows_the_cpu_f32_path() {
    const ITERS: usize = 10;
    let mut config = preset();
    let p0 = first_problem(&config);
    let Some((mut gpu, sched)) = device(&config, &p0) else {
        return;
    };
    let loss = gpu.objective().loss;
    for (method, lambda, tol) in CASES {
        config.grad_options.lambda = lambda;
        gpu.lambda = lambda;
        let tol = tol.max(1e-4);
        let kernel_start = Instant::now();
        gpu.set_weights(&p0.mlp.params).unwrap();
        let opt_config = config.optimizer_for(method.cpu());
        let n = p0.mlp.n_params();
        let mut opt = GpuOptimizer::new(gpu.context().clone(), opt_config, n, 0).unwrap();
        let first = gpu.train_step(method, &sched, loss, &mut opt).unwrap();
        assert_eq!(first.outcome, StepOutcome::Applied, "{}", method.name());
        let build_s = kernel_start.elapsed().as_secs_f64();
        let mut gpu_losses = vec![f64::from(first.loss)];
        let start = Instant::now();
        for _ in 1..ITERS {
            let step = gpu.train_step(method, &sched, loss, &mut opt).unwrap();
            assert_eq!(step.outcome, StepOutcome::Applied, "{}", method.name());
            gpu_losses.push(f64::from(step.loss));
        }
        let gpu_ms = start.elapsed().as_secs_f64() * 1e3 / (ITERS - 1) as f64;
        let device_bytes = gpu.train_bytes(method, &sched).unwrap() + opt.bytes();

        let mut p = p0.clone();
        let mut state = OptimizerState::new(n);
        let opts = grad_options(&config, Precision::F32);
        let mut cpu_losses = Vec::new();
        let start = Instant::now();
        for _ in 0..ITERS {
            let out = grad::compute(&p, method.cpu(), &opts).unwrap();
            cpu_losses.push(out.loss);
            optim::step(&opt_config, &mut state, &mut p.mlp.params, &out.grad);
        }
        let cpu_ms = start.elapsed().as_secs_f64() * 1e3 / ITERS as f64;
        eprintln!(
            "{} (λ = {lambda}): GPU {gpu_ms:.1} ms/iteration, CPU f32 {cpu_ms:.1} ms/iteration; \
             device {device_bytes} bytes; first step with the kernel build {build_s:.1} s",
            method.name(),
        );
        for (k, (&g, &c)) in gpu_losses.iter().zip(&cpu_losses).enumerate() {
            let rel = ((g - c) / c).abs();
            eprintln!(
                "  iteration {}: GPU {g:.6e} CPU f32 {c:.6e} rel {rel:.1e}",
                k + 1
            );
            assert!(
                rel <= tol,
                "{} iteration {}: GPU {g} CPU f32 {c}",
                method.name(),
                k + 1
            );
        }
        assert!(
            cpu_losses[ITERS - 1] < cpu_losses[0],
            "{}: the loss did not fall",
            method.name()
        );
        let (theta, _) = gpu.read_weights().unwrap();
        for (a, &b) in theta.iter().zip(&p.mlp.params) {
            assert!(
                (f64::from(*a) - b).abs() <= tol.max(1e-3) * (1.0 + b.abs()),
                "{}: weights GPU {a} CPU {b}",
                method.name()
            );
        }
    }
}

/// The trainer on the real task (x observed alone): the refusal, if any, is not the solver's
/// or a method's — midpoint steps and the three methods have kernels. (Once the device loss
/// observes some components, the task trains: tests/gpu_tasks.rs.)
#[test]
fn white_dwarf_ident_passes_the_solver_and_method_checks() {
    let mut config = preset();
    config.device = Device::Gpu;
    let data = TaskData::generate(config.task, &config.data, config.seed).unwrap();
    if let Err(why) = nodelab::train::gpu::check_config(&config, &data) {
        for word in ["midpoint", "reversible-midpoint", "CPU only", "fixed steps"] {
            assert!(!why.contains(word), "{why}");
        }
    }
    // The CPU-only methods and an adaptive solver are refused up front, saying why.
    for (m, word) in [
        (GradMethod::InterpAdjoint, "Chebyshev"),
        (GradMethod::Fd, "finite differences"),
    ] {
        let mut c = preset();
        c.methods = vec![m];
        let why = nodelab::train::gpu::check_config(&c, &data).unwrap_err();
        assert!(why.contains("CPU only") && why.contains(word), "{why}");
    }
    let mut adaptive = TrainConfig::defaults(TaskName::Circles);
    adaptive.solver.method = nodelab::solver::Method::Dopri5;
    let circles = TaskData::generate(adaptive.task, &adaptive.data, adaptive.seed).unwrap();
    let why = nodelab::train::gpu::check_config(&adaptive, &circles).unwrap_err();
    assert!(why.contains("adaptive") && why.contains("dopri5"), "{why}");
    adaptive.solver.method = nodelab::solver::Method::Euler;
    adaptive.methods = vec![GradMethod::Afge];
    let why = nodelab::train::gpu::check_config(&adaptive, &circles).unwrap_err();
    assert!(why.contains("afge") && why.contains("RK4"), "{why}");
}
