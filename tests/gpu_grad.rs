//! GPU gradient kernels against CPU f64 references on seeded random models and batches:
//! central finite differences of the CPU f64 discrete map (fixed-step RK4, midpoint or Euler,
//! or each reversible method's own scheme), whose error (~1e-8 relative) is far below f32's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use nodelab::gpu::stages::FixedRk;
use nodelab::gpu::{FixedSchedule, GpuGradMethod, GpuLoss, GpuSolver};
use nodelab::grad::{self, BatchSteps, GradMethod, GradOptions, GradProblem, Loss, LossKind};
use nodelab::nn::{Activation, Mlp};
use nodelab::problem::neural;
use nodelab::solver::{self, SolverConfig};

/// The increment Φ_h(t, y) − y of one fixed step of `rk`, written out per method.
fn increment(
    rk: FixedRk,
    f: &mut dyn FnMut(f64, &[f64]) -> Vec<f64>,
    t: f64,
    h: f64,
    y: &[f64],
) -> Vec<f64> {
    let axpy = |y: &[f64], a: f64, k: &[f64]| -> Vec<f64> {
        y.iter().zip(k).map(|(y, k)| y + a * k).collect()
    };
    let k1 = f(t, y);
    match rk {
        FixedRk::Euler => k1.iter().map(|k| h * k).collect(),
        FixedRk::Midpoint => {
            let k2 = f(t + 0.5 * h, &axpy(y, 0.5 * h, &k1));
            k2.iter().map(|k| h * k).collect()
        }
        FixedRk::Rk4 => {
            let k2 = f(t + 0.5 * h, &axpy(y, 0.5 * h, &k1));
            let k3 = f(t + 0.5 * h, &axpy(y, 0.5 * h, &k2));
            let k4 = f(t + h, &axpy(y, h, &k3));
            (0..y.len())
                .map(|i| h / 6.0 * (k1[i] + 2.0 * (k2[i] + k3[i]) + k4[i]))
                .collect()
        }
    }
}

/// The CPU f64 discrete map of `method` on the fixed schedule (with `sched.rk` for the
/// tableau-generic methods): y(T) of one sample.
fn cpu_final(mlp: &Mlp, method: GpuGradMethod, sched: &FixedSchedule, y0: &[f64]) -> Vec<f64> {
    let d = y0.len();
    let mut scratch = vec![0.0; 2 * mlp.max_width()];
    let mut f = |t: f64, y: &[f64]| {
        let mut out = vec![0.0; d];
        mlp.forward_into(t, y, &mut out, &mut scratch);
        out
    };
    let step = |n: u32| {
        if n + 1 == sched.n_steps {
            sched.h_last()
        } else {
            sched.h
        }
    };
    let axpy = |y: &[f64], a: f64, k: &[f64]| -> Vec<f64> {
        y.iter().zip(k).map(|(y, k)| y + a * k).collect()
    };
    match method {
        GpuGradMethod::Alf => {
            let mut x = y0.to_vec();
            let mut v = f(sched.t0, &x);
            for n in 0..sched.n_steps {
                let (t, h) = (sched.t(n), step(n));
                let xh = axpy(&x, 0.5 * h, &v);
                let fh = f(t + 0.5 * h, &xh);
                for i in 0..d {
                    v[i] = 2.0 * fh[i] - v[i];
                    x[i] += h * fh[i];
                }
            }
            x
        }
        GpuGradMethod::ReversibleRk4 | GpuGradMethod::ReversibleMidpoint => {
            // λ-coupling around RK4 or midpoint (λ = 0.99, GpuSolver's default).
            let lambda = 0.99;
            let rk = if method == GpuGradMethod::ReversibleRk4 {
                FixedRk::Rk4
            } else {
                FixedRk::Midpoint
            };
            let (mut y, mut z) = (y0.to_vec(), y0.to_vec());
            for n in 0..sched.n_steps {
                let (t, h) = (sched.t(n), step(n));
                let pf = increment(rk, &mut f, t, h, &z);
                for i in 0..d {
                    y[i] = lambda * y[i] + (1.0 - lambda) * z[i] + pf[i];
                }
                let pb = increment(rk, &mut f, t + h, -h, &y);
                for i in 0..d {
                    z[i] -= pb[i];
                }
            }
            y
        }
        GpuGradMethod::ReversibleHeun => {
            let (mut x, mut yh) = (y0.to_vec(), y0.to_vec());
            let mut fh = f(sched.t0, &yh);
            for n in 0..sched.n_steps {
                let h = step(n);
                let yh_new: Vec<f64> = (0..d).map(|i| 2.0 * x[i] - yh[i] + h * fh[i]).collect();
                let fn_ = f(sched.t(n) + h, &yh_new);
                for i in 0..d {
                    x[i] += 0.5 * h * (fh[i] + fn_[i]);
                }
                yh = yh_new;
                fh = fn_;
            }
            x
        }
        _ => {
            let mut y = y0.to_vec();
            for n in 0..sched.n_steps {
                let (t, h) = (sched.t(n), step(n));
                let dy = increment(sched.rk, &mut f, t, h, &y);
                for i in 0..d {
                    y[i] += dy[i];
                }
            }
            y
        }
    }
}

fn cpu_loss(
    mlp: &Mlp,
    method: GpuGradMethod,
    sched: &FixedSchedule,
    y0: &[f64],
    target: &[f64],
    loss: GpuLoss,
) -> f64 {
    let d = mlp.dim();
    let batch = y0.len() / d;
    let mut sum = 0.0;
    for s in 0..batch {
        let y = cpu_final(mlp, method, sched, &y0[s * d..(s + 1) * d]);
        for i in 0..d {
            let r = y[i] - target[s * d + i];
            sum += r * r;
        }
    }
    match loss {
        GpuLoss::HalfSse => 0.5 * sum,
        GpuLoss::Mse => sum / (batch * d) as f64,
        other => panic!("{other:?} is not a terminal regression loss"),
    }
}

/// Central finite differences of the CPU f64 loss in every parameter.
fn fd_grad(
    mlp: &Mlp,
    method: GpuGradMethod,
    sched: &FixedSchedule,
    y0: &[f64],
    target: &[f64],
    loss: GpuLoss,
) -> Vec<f64> {
    let mut m = mlp.clone();
    (0..mlp.n_params())
        .map(|j| {
            let p = mlp.params[j];
            let delta = 1e-6 * p.abs().max(1.0);
            m.params[j] = p + delta;
            let lp = cpu_loss(&m, method, sched, y0, target, loss);
            m.params[j] = p - delta;
            let lm = cpu_loss(&m, method, sched, y0, target, loss);
            m.params[j] = p;
            (lp - lm) / (2.0 * delta)
        })
        .collect()
}

/// The test's own fixed-step maps (RK4, midpoint, Euler) are the solver's (so the finite
/// differences are of nodelab's CPU discrete map).
#[test]
fn reference_map_is_the_cpu_solver() {
    let mlp = Mlp::random(&[2, 8, 2], Activation::Tanh, true, 1.0, 3);
    let y0 = [0.3, -0.7];
    for rk in FixedRk::ALL {
        let sched = FixedSchedule::new(0.0, 1.0, Some(0.03))
            .unwrap()
            .with_rk(rk);
        let ours = cpu_final(&mlp, GpuGradMethod::Backprop, &sched, &y0);
        let problem = neural::build(mlp.clone(), y0.to_vec(), 0.0, 1.0).unwrap();
        let config = SolverConfig {
            method: rk.method(),
            h0: Some(0.03),
            ..SolverConfig::default()
        };
        let sol = solver::solve(&problem, &config).unwrap();
        assert!(
            common::rel_err(&ours, sol.y_final(), 1.0) < 1e-14,
            "{}",
            rk.name()
        );
    }
}

/// Every kernel on one case, against the finite differences of its CPU reference map.
fn check_against_finite_differences(mlp: Mlp, batch: usize, loss: GpuLoss) {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let d = mlp.dim();
    let mut gpu = GpuSolver::new(ctx, &mlp).unwrap();
    gpu.poison = true;
    let y0 = common::random_states(batch, d, 1.0, 100 + batch as u64);
    let target = common::random_states(batch, d, 1.0, 200 + batch as u64);
    gpu.set_batch(&y0, &target).unwrap();
    let sched = FixedSchedule::new(0.0, 1.0, Some(0.05)).unwrap();
    let rk4_fd = fd_grad(&mlp, GpuGradMethod::Backprop, &sched, &y0, &target, loss);
    let rh_fd = fd_grad(
        &mlp,
        GpuGradMethod::ReversibleHeun,
        &sched,
        &y0,
        &target,
        loss,
    );
    let alf_fd = fd_grad(&mlp, GpuGradMethod::Alf, &sched, &y0, &target, loss);
    let rrk4_fd = fd_grad(
        &mlp,
        GpuGradMethod::ReversibleRk4,
        &sched,
        &y0,
        &target,
        loss,
    );
    let rmid_fd = fd_grad(
        &mlp,
        GpuGradMethod::ReversibleMidpoint,
        &sched,
        &y0,
        &target,
        loss,
    );
    for method in GpuGradMethod::ALL {
        // Each method's own discrete map: RK4 (backprop, checkpoint, adjoint, afge), ALF,
        // reversible Heun.
        let reference_method = if method.reversible() {
            method
        } else {
            GpuGradMethod::Backprop
        };
        let fd = match reference_method {
            GpuGradMethod::Backprop => &rk4_fd,
            GpuGradMethod::Alf => &alf_fd,
            GpuGradMethod::ReversibleRk4 => &rrk4_fd,
            GpuGradMethod::ReversibleMidpoint => &rmid_fd,
            _ => &rh_fd,
        };
        let l_ref = cpu_loss(&mlp, reference_method, &sched, &y0, &target, loss);
        let out = gpu.gradient(method, &sched, loss).unwrap();
        let e = common::rel_l2(&out.grad, fd);
        let el = ((out.loss - l_ref) / l_ref).abs();
        eprintln!(
            "{} {:?} batch {batch} {loss:?}: grad rel err {e:.2e}, loss rel err {el:.2e}, \
             reconstruction {:.2e}, {} GPU bytes",
            method.name(),
            mlp.sizes,
            out.recon_err,
            out.gpu_bytes
        );
        assert!(e <= 1e-4, "{}: gradient relative error {e}", method.name());
        assert!(el <= 1e-5, "{}: loss relative error {el}", method.name());
        assert!(out.stats.iter().all(|s| s.status == 0));
        match method {
            GpuGradMethod::Adjoint
            | GpuGradMethod::Alf
            | GpuGradMethod::ReversibleHeun
            | GpuGradMethod::ReversibleRk4
            | GpuGradMethod::ReversibleMidpoint => {
                assert!(out.recon_err <= 1e-4, "{}", out.recon_err);
            }
            _ => assert!(out.recon_err == 0.0, "{}", out.recon_err),
        }
    }
}

#[test]
fn gradients_batch_1_half_sse() {
    let mlp = Mlp::random(&[2, 8, 2], Activation::Tanh, false, 1.0, 31);
    check_against_finite_differences(mlp, 1, GpuLoss::HalfSse);
}

#[test]
fn gradients_batch_255_mse_time_input() {
    let mlp = Mlp::random(&[2, 8, 2], Activation::Softplus, true, 1.0, 32);
    check_against_finite_differences(mlp, 255, GpuLoss::Mse);
}

#[test]
fn gradients_batch_257_two_hidden_layers() {
    let mlp = Mlp::random(&[2, 6, 5, 2], Activation::Tanh, false, 1.0, 33);
    check_against_finite_differences(mlp, 257, GpuLoss::HalfSse);
}

/// The tableau-generic kernels with midpoint and Euler steps (h = 0.1, time input): backprop
/// and checkpoint against the finite differences of the test's own midpoint / Euler map;
/// adjoint (the continuous adjoint, backsolved with the forward solver's tableau as
/// nodelab::grad::adjoint does — not the discrete derivative) against the CPU f64 engine's
/// adjoint with the same solver; afge's RK4-only kernel refuses them.
#[test]
fn midpoint_and_euler_gradients_match_the_cpu() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let mlp = Mlp::random(&[2, 8, 2], Activation::Tanh, true, 1.0, 34);
    let (batch, h, loss) = (33, 0.1, GpuLoss::HalfSse);
    let mut gpu = GpuSolver::new(ctx, &mlp).unwrap();
    gpu.poison = true;
    let y0 = common::random_states(batch, 2, 1.0, 134);
    let target = common::random_states(batch, 2, 1.0, 234);
    gpu.set_batch(&y0, &target).unwrap();
    let rk4 = FixedSchedule::new(0.0, 1.0, Some(h)).unwrap();
    let rk4_fd = fd_grad(&mlp, GpuGradMethod::Backprop, &rk4, &y0, &target, loss);
    for rk in [FixedRk::Midpoint, FixedRk::Euler] {
        let sched = rk4.with_rk(rk);
        let fd = fd_grad(&mlp, GpuGradMethod::Backprop, &sched, &y0, &target, loss);
        // The tableau matters at this step: a kernel that kept RK4 would fail below.
        let apart = common::rel_l2(&fd, &rk4_fd);
        eprintln!("{} vs RK4 (finite differences): {apart:.2e}", rk.name());
        assert!(apart > 5e-4, "{}: {apart}", rk.name());
        let l_ref = cpu_loss(&mlp, GpuGradMethod::Backprop, &sched, &y0, &target, loss);
        for method in [GpuGradMethod::Backprop, GpuGradMethod::Checkpoint] {
            let out = gpu.gradient(method, &sched, loss).unwrap();
            let e = common::rel_l2(&out.grad, &fd);
            let el = ((out.loss - l_ref) / l_ref).abs();
            eprintln!(
                "{} {}: grad rel err {e:.2e}, loss rel err {el:.2e}",
                method.name(),
                rk.name()
            );
            assert!(e <= 1e-4, "{} {}: {e}", method.name(), rk.name());
            assert!(el <= 1e-5, "{} {}: {el}", method.name(), rk.name());
            let (f, b) = method.nfe_per_step(rk);
            assert_eq!(f, rk.stages());
            assert_eq!(out.nfe_forward, f * u64::from(sched.n_steps) * batch as u64);
            assert!(b > 0);
        }
        let problem = GradProblem {
            mlp: mlp.clone(),
            y0: y0.chunks(2).map(<[f64]>::to_vec).collect(),
            t0: 0.0,
            t1: 1.0,
            solver: SolverConfig {
                method: rk.method(),
                h0: Some(h),
                ..SolverConfig::default()
            },
            batch_steps: BatchSteps::PerSample,
            loss: Loss::terminal(
                LossKind::HalfSse,
                target.chunks(2).map(<[f64]>::to_vec).collect(),
            ),
        };
        let cpu = grad::compute(&problem, GradMethod::Adjoint, &GradOptions::default()).unwrap();
        let out = gpu.gradient(GpuGradMethod::Adjoint, &sched, loss).unwrap();
        let e = common::rel_l2(&out.grad, &cpu.grad);
        eprintln!(
            "adjoint {}: grad rel err {e:.2e} vs the CPU engine",
            rk.name()
        );
        assert!(e <= 1e-4, "adjoint {}: {e}", rk.name());
        let err = gpu
            .gradient(GpuGradMethod::Afge, &sched, loss)
            .unwrap_err()
            .to_string();
        assert!(err.contains("RK4"), "{err}");
    }
}

/// With fixed steps afge and backprop are the same derivative of the same discrete map: on the
/// GPU they agree to f32 rounding (and backprop's stored bytes grow with the steps, afge's do
/// not).
#[test]
fn afge_equals_backprop_with_fixed_steps() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let mlp = Mlp::random(&[2, 16, 2], Activation::Tanh, false, 1.2, 41);
    let mut gpu = GpuSolver::new(ctx, &mlp).unwrap();
    gpu.poison = true;
    let y0 = common::random_states(65, 2, 1.0, 1);
    let target = common::random_states(65, 2, 1.0, 2);
    gpu.set_batch(&y0, &target).unwrap();
    let sched = FixedSchedule::new(0.0, 1.0, Some(0.01)).unwrap();
    let bp = gpu
        .gradient(GpuGradMethod::Backprop, &sched, GpuLoss::HalfSse)
        .unwrap();
    let af = gpu
        .gradient(GpuGradMethod::Afge, &sched, GpuLoss::HalfSse)
        .unwrap();
    let e = common::rel_l2(&af.grad, &bp.grad);
    assert!(e <= 2e-5, "{e}");
    assert_eq!(af.y, bp.y);
    let long = FixedSchedule::new(0.0, 1.0, Some(0.001)).unwrap();
    assert!(
        gpu.method_bytes(Some(GpuGradMethod::Backprop), 65, long.n_steps)
            > 5 * gpu.method_bytes(Some(GpuGradMethod::Backprop), 65, sched.n_steps) / 2
    );
    assert_eq!(
        gpu.method_bytes(Some(GpuGradMethod::Afge), 65, long.n_steps),
        gpu.method_bytes(Some(GpuGradMethod::Afge), 65, sched.n_steps)
    );
}

/// Weights are overwritten in place and buffers are reused: after `set_weights` the solver
/// gives what a fresh solver for the new weights gives, with the same allocation; a new batch
/// size reallocates.
#[test]
fn weights_update_in_place_and_buffers_are_reused() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let a = Mlp::random(&[2, 8, 2], Activation::Tanh, false, 1.0, 71);
    let b = Mlp::random(&[2, 8, 2], Activation::Tanh, false, 1.0, 72);
    let y0 = common::random_states(33, 2, 1.0, 5);
    let target = common::random_states(33, 2, 1.0, 6);
    let sched = FixedSchedule::new(0.0, 1.0, Some(0.1)).unwrap();
    let mut gpu = GpuSolver::new(ctx.clone(), &a).unwrap();
    gpu.poison = true;
    gpu.set_batch(&y0, &target).unwrap();
    let ga = gpu
        .gradient(GpuGradMethod::Backprop, &sched, GpuLoss::HalfSse)
        .unwrap();
    let bytes = gpu.allocated_bytes();
    gpu.set_weights(&b.params).unwrap();
    gpu.set_batch(&y0, &target).unwrap();
    let gb = gpu
        .gradient(GpuGradMethod::Backprop, &sched, GpuLoss::HalfSse)
        .unwrap();
    assert_eq!(gpu.allocated_bytes(), bytes);
    let mut fresh = GpuSolver::new(ctx, &b).unwrap();
    fresh.set_batch(&y0, &target).unwrap();
    let gf = fresh
        .gradient(GpuGradMethod::Backprop, &sched, GpuLoss::HalfSse)
        .unwrap();
    assert_eq!(gb.grad, gf.grad);
    assert!(common::rel_l2(&ga.grad, &gb.grad) > 1e-2);
    assert!(gpu.set_weights(&b.params[1..]).is_err());
    gpu.set_batch(&y0[..2 * 7], &target[..2 * 7]).unwrap();
    assert!(gpu.allocated_bytes() < bytes);
    let g7 = gpu
        .gradient(GpuGradMethod::Backprop, &sched, GpuLoss::HalfSse)
        .unwrap();
    assert_eq!(g7.stats.len(), 7);
}
