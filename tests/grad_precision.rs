//! f32 against f64 on the generic gradient path (every method but afge and fd): the same
//! algorithm in two float types, so the gradients must agree to f32 rounding, and the f32 run
//! must really be f32 (it differs from f64, and its tapes take half the bytes).
//!
//! What tolerance is fair: f32 rounds every operation at ε₃₂ ≈ 6e-8. A gradient here is a sum
//! over a few dozen steps × stages × layer products of terms of similar size, and the errors of
//! well-conditioned sums grow like √(operations)·ε₃₂ to a few hundred ε₃₂, so a relative l2
//! difference of ~1e-5 is expected; 1e-4 leaves room for the condition of the flow map. A
//! difference of exactly 0 would mean the f32 path computed in f64. The solver tolerances are
//! loose enough (or the steps fixed) that both precisions take the same steps — asserted — so
//! the discretisation is the same and only rounding differs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use nodelab::grad::{
    self, BatchSteps, GradError, GradMethod, GradOptions, GradOutput, GradProblem, Loss, LossKind,
    Precision, rel_l2,
};
use nodelab::nn::{Activation, Mlp};
use nodelab::solver::{Method, SolverConfig};
use rand::{RngExt, SeedableRng, rngs::StdRng};

/// Relative l2 bound of f32 against f64 (see the module comment).
const F32_TOL: f64 = 1e-4;

fn problem(seed: u64, batch: usize, method: Method, tol: f64) -> GradProblem {
    let mut rng = StdRng::seed_from_u64(seed);
    let mlp = Mlp::random(&[2, 16, 2], Activation::Tanh, true, 1.0, seed);
    let y0: Vec<Vec<f64>> = (0..batch)
        .map(|_| vec![rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)])
        .collect();
    let targets: Vec<Vec<f64>> = (0..batch)
        .map(|_| vec![rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)])
        .collect();
    GradProblem {
        mlp,
        y0,
        t0: 0.0,
        t1: 1.0,
        solver: SolverConfig {
            method,
            tol,
            rtol: tol,
            h0: (!method.is_adaptive()).then_some(0.05),
            ..SolverConfig::default()
        },
        batch_steps: BatchSteps::Shared,
        loss: Loss::terminal(LossKind::HalfSse, targets),
    }
}

/// The methods with an f32 path.
fn generic_methods() -> Vec<GradMethod> {
    let v: Vec<GradMethod> = GradMethod::ALL
        .into_iter()
        .filter(|m| m.supports_f32())
        .collect();
    assert_eq!(v.len(), 8, "every method but afge and fd");
    v
}

fn at(p: &GradProblem, m: GradMethod, opts: &GradOptions, precision: Precision) -> GradOutput {
    grad::compute_with_precision(p, m, opts, precision)
        .unwrap_or_else(|e| panic!("{m} {precision}: {e}"))
}

/// Asserts that f32 agrees with f64 to f32 tolerance, is not f64 in disguise, and took the
/// same steps.
fn assert_f32_close(p: &GradProblem, m: GradMethod, opts: &GradOptions, what: &str) {
    let g64 = at(p, m, opts, Precision::F64);
    let g32 = at(p, m, opts, Precision::F32);
    assert_eq!(
        g64.steps_accepted, g32.steps_accepted,
        "{what}: the precisions took different steps"
    );
    let err = rel_l2(&g32.grad, &g64.grad);
    eprintln!("{what}: f32 vs f64 relative l2 {err:.2e}");
    assert!(err < F32_TOL, "{what}: f32 vs f64 relative l2 {err:e}");
    assert!(err > 0.0, "{what}: f32 equals f64 bit for bit (not f32)");
    let loss_err = (g32.loss - g64.loss).abs() / g64.loss.abs().max(1e-12);
    assert!(loss_err < F32_TOL, "{what}: loss {loss_err:e}");
    assert!(
        g64.grad.iter().any(|v| v.abs() > 1e-6),
        "{what}: zero gradient"
    );
}

#[test]
fn f32_agrees_with_f64_for_the_generic_methods_on_every_generic_solver() {
    let opts = GradOptions::default();
    let fixed_backward = GradOptions {
        adjoint_solver: Some(SolverConfig {
            method: Method::Rk4,
            h0: Some(0.05),
            ..SolverConfig::default()
        }),
        ..GradOptions::default()
    };
    for (method, tol) in [
        (Method::Dopri5, 1e-4),
        (Method::Rk4, 1e-6),
        (Method::Midpoint, 1e-6),
        (Method::Euler, 1e-6),
    ] {
        let p = problem(3, 8, method, tol);
        for m in generic_methods() {
            // interp-adjoint's adaptive backward solve has an error ratio near 1 on this
            // problem (one step more in f32): its backward pass runs fixed steps here so the
            // discretisation is the same.
            let opts = if m == GradMethod::InterpAdjoint {
                &fixed_backward
            } else {
                &opts
            };
            assert_f32_close(&p, m, opts, &format!("{m} with {method}"));
        }
    }
}

#[test]
fn f32_agrees_with_f64_per_sample_threaded_and_with_intermediate_observations() {
    let mut p = problem(5, 6, Method::Dopri5, 1e-4);
    p.batch_steps = BatchSteps::PerSample;
    // Six adaptive backward solves: one error ratio near 1 can tip one step either way in one
    // of them, which changes the discretisation; the adjoint's backward pass runs fixed steps
    // here (the dopri5 backward pass is compared on the shared batch above).
    let opts = GradOptions {
        threads: 2,
        adjoint_solver: Some(SolverConfig {
            method: Method::Rk4,
            h0: Some(0.05),
            ..SolverConfig::default()
        }),
        ..GradOptions::default()
    };
    for m in generic_methods() {
        assert_f32_close(&p, m, &opts, &format!("{m} per-sample, 2 threads"));
    }
    // Observations at several times (the adjoint jumps, the tape injections).
    let mut q = problem(7, 4, Method::Dopri5, 1e-4);
    let targets: Vec<Vec<Vec<f64>>> = [0.3, 0.6, 1.0]
        .iter()
        .map(|_| q.y0.iter().map(|y| vec![y[1], -y[0]]).collect())
        .collect();
    q.loss = Loss::trajectory(vec![0.3, 0.6, 1.0], targets);
    for m in generic_methods() {
        assert_f32_close(&q, m, &GradOptions::default(), &format!("{m} trajectory"));
    }
}

/// Large shared batch: backprop keeps stage inputs only (no activation tape) and the rows
/// are split over threads; still f32-close.
#[test]
fn f32_agrees_with_f64_on_a_large_threaded_batch() {
    let p = problem(11, 300, Method::Dopri5, 1e-4);
    let opts = GradOptions {
        threads: 2,
        ..GradOptions::default()
    };
    assert_f32_close(
        &p,
        GradMethod::Backprop,
        &opts,
        "backprop batch 300, 2 threads",
    );
}

/// The f32 tape holds f32 values: backprop's stored bytes (tape-dominated) about halve.
#[test]
fn f32_backprop_stores_half_the_bytes() {
    let opts = GradOptions::default();
    for method in [Method::Dopri5, Method::Rk4] {
        let p = problem(2, 16, method, 1e-4);
        let b64 = at(&p, GradMethod::Backprop, &opts, Precision::F64).stored_bytes;
        let b32 = at(&p, GradMethod::Backprop, &opts, Precision::F32).stored_bytes;
        assert!(
            b32 * 10 < b64 * 6 && b32 * 10 > b64 * 4,
            "{method}: f32 {b32} B vs f64 {b64} B"
        );
    }
}

/// f64 through `compute_with_precision` is `compute`, bit for bit.
#[test]
fn f64_precision_is_the_reference_path() {
    let p = problem(4, 5, Method::Dopri5, 1e-6);
    let opts = GradOptions::default();
    for m in [GradMethod::Backprop, GradMethod::Adjoint, GradMethod::Afge] {
        let a = grad::compute(&p, m, &opts).unwrap();
        let b = at(&p, m, &opts, Precision::F64);
        assert_eq!(a, b, "{m}");
    }
}

/// Methods and solvers without an f32 path refuse it by name instead of running f64.
#[test]
fn f32_refuses_what_it_does_not_run() {
    let opts = GradOptions::default();
    let p = problem(1, 2, Method::Dopri5, 1e-4);
    for m in GradMethod::ALL.into_iter().filter(|m| !m.supports_f32()) {
        match grad::compute_with_precision(&p, m, &opts, Precision::F32) {
            Err(GradError::Invalid(msg)) => {
                assert!(msg.contains(m.name()), "{m}: {msg}");
                assert!(msg.contains("f64 only"), "{m}: {msg}");
            }
            other => panic!("{m} in f32 should be refused, got {other:?}"),
        }
    }
    let zc = problem(1, 2, Method::ZcRk4, 1e-4);
    match grad::compute_with_precision(&zc, GradMethod::Backprop, &opts, Precision::F32) {
        Err(GradError::Invalid(msg)) => assert!(msg.contains("zc-rk4"), "{msg}"),
        other => panic!("zc-rk4 in f32 should be refused, got {other:?}"),
    }
    assert!(Precision::parse("f16").unwrap_err().contains("f16"));
}
