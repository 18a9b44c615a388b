//! The GPU kernels with the losses beyond y(T) − target: `trajectory-mse` (observations at
//! intermediate times, off the step grid, so the solve is split at them as the CPU does) and
//! `cross-entropy` after a linear read-out (with its read-out gradient), each against the CPU
//! f64 engine `nodelab::grad::compute` on the same model, batch, schedule and loss.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use nodelab::gpu::{
    AdaptiveSettings, FixedSchedule, GpuGradMethod, GpuLoss, GpuObjective, GpuSolver,
};
use nodelab::grad::{self, BatchSteps, GradMethod, GradOptions, GradProblem, Loss, Readout};
use nodelab::nn::{Activation, Mlp};
use nodelab::solver::{Method, SolverConfig};
use rand::{RngExt, SeedableRng, rngs::StdRng};

fn cpu_method(m: GpuGradMethod) -> GradMethod {
    m.cpu()
}

fn states(flat: &[f64], d: usize) -> Vec<Vec<f64>> {
    flat.chunks(d).map(<[f64]>::to_vec).collect()
}

/// `trajectory-mse` at `times` with seeded random targets.
fn trajectory_loss(batch: usize, d: usize, times: &[f64], seed: u64) -> Loss {
    let targets = (0..times.len())
        .map(|k| states(&common::random_states(batch, d, 1.0, seed + k as u64), d))
        .collect();
    Loss::trajectory(times.to_vec(), targets)
}

/// `cross-entropy` with a seeded random read-out of `classes` classes and random labels.
fn cross_entropy_loss(batch: usize, d: usize, classes: usize, seed: u64) -> Loss {
    let mut rng = StdRng::seed_from_u64(seed);
    let weight = (0..classes)
        .map(|_| (0..d).map(|_| rng.random_range(-1.5..1.5)).collect())
        .collect();
    let bias = (0..classes).map(|_| rng.random_range(-0.5..0.5)).collect();
    let labels = (0..batch).map(|_| rng.random_range(0..classes)).collect();
    Loss::cross_entropy(Readout { weight, bias }, labels)
}

fn problem(mlp: &Mlp, y0: &[f64], t1: f64, solver: SolverConfig, loss: Loss) -> GradProblem {
    GradProblem {
        mlp: mlp.clone(),
        y0: states(y0, mlp.dim()),
        t0: 0.0,
        t1,
        solver,
        batch_steps: BatchSteps::PerSample,
        loss,
    }
}

fn rk4(h: f64) -> SolverConfig {
    SolverConfig {
        method: Method::Rk4,
        h0: Some(h),
        ..SolverConfig::default()
    }
}

/// Every fixed-step GPU method on `loss` against the CPU engine's same method.
fn check_fixed(gpu: &mut GpuSolver, mlp: &Mlp, batch: usize, h: f64, t1: f64, loss: Loss) {
    let d = mlp.dim();
    let y0 = common::random_states(batch, d, 1.5, 11 + batch as u64);
    let p = problem(mlp, &y0, t1, rk4(h), loss);
    p.validate().unwrap();
    let objective = GpuObjective::from_loss(&p.loss).unwrap();
    gpu.set_objective(&y0, &objective).unwrap();
    let sched = FixedSchedule::new(0.0, t1, Some(h)).unwrap();
    for method in GpuGradMethod::ALL {
        let cpu = grad::compute(&p, cpu_method(method), &GradOptions::default()).unwrap();
        let out = gpu.gradient(method, &sched, objective.loss).unwrap();
        let e = common::rel_l2(&out.grad, &cpu.grad);
        let el = ((out.loss - cpu.loss) / cpu.loss).abs();
        let er = match (&out.readout_grad, &cpu.readout_grad) {
            (Some(g), Some(c)) => common::rel_l2(g, c),
            (None, None) => 0.0,
            (g, c) => panic!("read-out gradient GPU {g:?} vs CPU {c:?}"),
        };
        let steps: u32 = gpu
            .segments(method, &sched)
            .unwrap()
            .iter()
            .map(|s| s.n)
            .sum();
        eprintln!(
            "{} {:?} batch {batch} {}: grad rel err {e:.2e}, read-out {er:.2e}, loss {el:.2e}, \
             {steps} steps (CPU {})",
            method.name(),
            mlp.sizes,
            objective.loss.name(),
            cpu.steps_accepted / batch
        );
        assert!(e <= 1e-4, "{}: gradient relative error {e}", method.name());
        assert!(
            er <= 1e-4,
            "{}: read-out gradient error {er}",
            method.name()
        );
        assert!(el <= 1e-5, "{}: loss relative error {el}", method.name());
        // The GPU took the CPU's steps (the CPU counts all samples' steps, the adjoint's
        // backward steps too).
        let passes = if method == GpuGradMethod::Adjoint {
            2
        } else {
            1
        };
        assert_eq!(
            passes * steps as usize * batch,
            cpu.steps_accepted,
            "{}",
            method.name()
        );
        assert_eq!(out.stats.len(), batch);
        assert!(
            out.stats
                .iter()
                .all(|s| s.status == 0 && s.accepted == steps)
        );
    }
}

/// Observation times off the step grid (h = 0.07): the solve is split at them, the last
/// observation before t1 ends the solve, batch sizes 257 and 1.
#[test]
fn trajectory_mse_matches_the_cpu_engine() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let mlp = Mlp::random(&[2, 8, 2], Activation::Tanh, false, 1.0, 81);
    let mut gpu = GpuSolver::new(ctx, &mlp).unwrap();
    gpu.poison = true;
    let times = [0.3, 0.65, 1.0];
    check_fixed(
        &mut gpu,
        &mlp,
        257,
        0.07,
        1.0,
        trajectory_loss(257, 2, &times, 5),
    );
    check_fixed(
        &mut gpu,
        &mlp,
        1,
        0.07,
        1.0,
        trajectory_loss(1, 2, &[0.25, 0.8], 6),
    );
}

/// Cross-entropy after a 4-class read-out, a 3-dimensional state with time input, batch
/// sizes 255 and 1 (the read-out gradient reduced on the GPU too).
#[test]
fn cross_entropy_matches_the_cpu_engine() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let mlp = Mlp::random(&[3, 8, 3], Activation::Softplus, true, 1.0, 82);
    let mut gpu = GpuSolver::new(ctx, &mlp).unwrap();
    gpu.poison = true;
    check_fixed(
        &mut gpu,
        &mlp,
        255,
        0.1,
        1.0,
        cross_entropy_loss(255, 3, 4, 7),
    );
    check_fixed(&mut gpu, &mlp, 1, 0.1, 1.0, cross_entropy_loss(1, 3, 2, 8));
}

/// `afge` on the per-sample adaptive kernel against the CPU afge (zc-rk4, per-sample steps,
/// state control) with cross-entropy and with trajectory-mse (each segment between observation
/// times a fresh adaptive solve on both sides). f32 may flip a borderline accept/reject on a
/// few samples, which moves their gradient by about the tolerance.
fn check_adaptive(gpu: &mut GpuSolver, mlp: &Mlp, y0: &[f64], loss: Loss) {
    let solver = SolverConfig {
        method: Method::ZcRk4,
        tol: 1e-6,
        ..SolverConfig::default()
    };
    let p = problem(mlp, y0, 1.5, solver.clone(), loss);
    let cpu = grad::compute(&p, GradMethod::Afge, &GradOptions::default()).unwrap();
    let objective = GpuObjective::from_loss(&p.loss).unwrap();
    gpu.set_objective(y0, &objective).unwrap();
    let set = AdaptiveSettings::from_config(&solver, 0.0, 1.5);
    let out = gpu.afge_adaptive(&set, objective.loss).unwrap();
    let e = common::rel_l2(&out.grad, &cpu.grad);
    let er = match (&out.readout_grad, &cpu.readout_grad) {
        (Some(g), Some(c)) => common::rel_l2(g, c),
        (None, None) => 0.0,
        (g, c) => panic!("read-out gradient GPU {g:?} vs CPU {c:?}"),
    };
    let el = ((out.loss - cpu.loss) / cpu.loss).abs();
    let accepted: u64 = out.stats.iter().map(|s| u64::from(s.accepted)).sum();
    eprintln!(
        "adaptive afge {}: grad {e:.2e}, read-out {er:.2e}, loss {el:.2e}, accepted GPU \
         {accepted} CPU {}",
        objective.loss.name(),
        cpu.steps_accepted
    );
    assert!(e <= 1e-4, "{e}");
    assert!(er <= 1e-4, "{er}");
    assert!(el <= 1e-5, "{el}");
    assert!(out.stats.iter().all(|s| s.status == 0));
    let diff = (accepted as f64 - cpu.steps_accepted as f64).abs();
    assert!(
        diff <= 0.02 * cpu.steps_accepted as f64,
        "{accepted} vs {}",
        cpu.steps_accepted
    );
}

/// Adaptive afge with both losses; a loss whose data was not uploaded, or observation times
/// outside the span, are clear errors (never a number computed from the wrong data).
#[test]
fn adaptive_afge_with_both_losses_and_clear_errors() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let mlp = Mlp::random(&[2, 8, 2], Activation::Tanh, false, 1.5, 83);
    let batch = 65;
    let y0 = common::random_states(batch, 2, 2.0, 9);
    let mut gpu = GpuSolver::new(ctx, &mlp).unwrap();
    gpu.poison = true;
    check_adaptive(&mut gpu, &mlp, &y0, cross_entropy_loss(batch, 2, 3, 10));
    check_adaptive(
        &mut gpu,
        &mlp,
        &y0,
        trajectory_loss(batch, 2, &[0.4, 1.1, 1.5], 12),
    );

    let sched = FixedSchedule::new(0.0, 1.5, Some(0.1)).unwrap();
    let err = gpu
        .gradient(GpuGradMethod::Backprop, &sched, GpuLoss::CrossEntropy)
        .unwrap_err()
        .to_string();
    assert!(err.contains("trajectory-mse data"), "{err}");
    let short = FixedSchedule::new(0.0, 1.0, Some(0.1)).unwrap();
    let err = gpu
        .gradient(GpuGradMethod::Backprop, &short, GpuLoss::TrajectoryMse)
        .unwrap_err()
        .to_string();
    assert!(err.contains("observation times"), "{err}");
}
