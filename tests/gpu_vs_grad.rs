//! GPU gradient kernels against the CPU f64 engine `nodelab::grad::compute` on the same model,
//! batch, fixed-step RK4 schedule and loss.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use nodelab::gpu::{FixedSchedule, GpuGradMethod, GpuLoss, GpuSolver};
use nodelab::grad::{self, BatchSteps, GradMethod, GradOptions, GradProblem, Loss, LossKind};
use nodelab::nn::{Activation, Mlp};
use nodelab::solver::{Method, SolverConfig};

fn cpu_method(m: GpuGradMethod) -> GradMethod {
    m.cpu()
}

fn check(mlp: Mlp, batch: usize, kind: LossKind, h: f64) {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let d = mlp.dim();
    let y0 = common::random_states(batch, d, 1.5, 7 + batch as u64);
    let target = common::random_states(batch, d, 1.0, 9 + batch as u64);
    let problem = GradProblem {
        mlp: mlp.clone(),
        y0: y0.chunks(d).map(<[f64]>::to_vec).collect(),
        t0: 0.0,
        t1: 1.0,
        solver: SolverConfig {
            method: Method::Rk4,
            h0: Some(h),
            ..SolverConfig::default()
        },
        batch_steps: BatchSteps::PerSample,
        loss: Loss::terminal(kind, target.chunks(d).map(<[f64]>::to_vec).collect()),
    };
    let loss = match kind {
        LossKind::HalfSse => GpuLoss::HalfSse,
        _ => GpuLoss::Mse,
    };
    let mut gpu = GpuSolver::new(ctx, &mlp).unwrap();
    gpu.poison = true;
    gpu.set_batch(&y0, &target).unwrap();
    let sched = FixedSchedule::new(0.0, 1.0, Some(h)).unwrap();
    for method in GpuGradMethod::ALL {
        let cpu = grad::compute(&problem, cpu_method(method), &GradOptions::default()).unwrap();
        let out = gpu.gradient(method, &sched, loss).unwrap();
        let e = common::rel_l2(&out.grad, &cpu.grad);
        let el = ((out.loss - cpu.loss) / cpu.loss).abs();
        eprintln!(
            "{} {:?} batch {batch} {}: grad rel err {e:.2e}, loss rel err {el:.2e}, \
             reconstruction GPU {:.2e} CPU {:?}",
            method.name(),
            mlp.sizes,
            kind.name(),
            out.recon_err,
            cpu.reconstruction_error
        );
        assert!(e <= 1e-4, "{}: {e}", method.name());
        assert!(el <= 1e-5, "{}: {el}", method.name());
        assert_eq!(out.stats.len(), batch);
        assert!(
            out.stats
                .iter()
                .all(|s| s.status == 0 && s.accepted == sched.n_steps)
        );
    }
}

#[test]
fn gpu_gradients_match_the_cpu_engine_half_sse() {
    check(
        Mlp::random(&[2, 16, 2], Activation::Tanh, false, 1.0, 51),
        257,
        LossKind::HalfSse,
        0.05,
    );
}

#[test]
fn gpu_gradients_match_the_cpu_engine_mse() {
    check(
        Mlp::random(&[3, 8, 3], Activation::Softplus, false, 1.0, 52),
        255,
        LossKind::Mse,
        0.1,
    );
}

/// `afge` with per-sample zero-cost adaptive steps (control on y) against the CPU engine's
/// `afge` with zc-rk4, per-sample batch stepping and state control. f32 may flip a borderline
/// accept/reject on a few samples, which moves their gradient by about the tolerance.
#[test]
fn adaptive_afge_matches_the_cpu_engine() {
    use nodelab::gpu::AdaptiveSettings;
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let mlp = Mlp::random(&[2, 8, 2], Activation::Tanh, false, 1.5, 61);
    let batch = 129;
    let y0 = common::random_states(batch, 2, 2.0, 3);
    let target = common::random_states(batch, 2, 1.0, 4);
    let solver = SolverConfig {
        method: Method::ZcRk4,
        tol: 1e-6,
        ..SolverConfig::default()
    };
    let problem = GradProblem {
        mlp: mlp.clone(),
        y0: y0.chunks(2).map(<[f64]>::to_vec).collect(),
        t0: 0.0,
        t1: 1.5,
        solver: solver.clone(),
        batch_steps: BatchSteps::PerSample,
        loss: Loss::terminal(
            LossKind::HalfSse,
            target.chunks(2).map(<[f64]>::to_vec).collect(),
        ),
    };
    let cpu = grad::compute(&problem, GradMethod::Afge, &GradOptions::default()).unwrap();
    let mut gpu = GpuSolver::new(ctx, &mlp).unwrap();
    gpu.poison = true;
    gpu.set_batch(&y0, &target).unwrap();
    let out = gpu
        .afge_adaptive(
            &AdaptiveSettings::from_config(&solver, 0.0, 1.5),
            GpuLoss::HalfSse,
        )
        .unwrap();
    let e = common::rel_l2(&out.grad, &cpu.grad);
    let el = ((out.loss - cpu.loss) / cpu.loss).abs();
    let accepted: u64 = out.stats.iter().map(|s| u64::from(s.accepted)).sum();
    let counts: std::collections::BTreeSet<u32> = out.stats.iter().map(|s| s.accepted).collect();
    eprintln!(
        "adaptive afge: grad rel err {e:.2e}, loss rel err {el:.2e}, accepted GPU {accepted} \
         CPU {}, per-sample counts {counts:?}",
        cpu.steps_accepted
    );
    assert!(e <= 1e-4, "{e}");
    assert!(el <= 1e-5, "{el}");
    assert!(out.stats.iter().all(|s| s.status == 0));
    assert!(counts.len() > 1, "{counts:?}");
    let diff = (accepted as f64 - cpu.steps_accepted as f64).abs();
    assert!(
        diff <= 0.02 * cpu.steps_accepted as f64,
        "{accepted} vs {}",
        cpu.steps_accepted
    );
}
