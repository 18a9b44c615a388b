//! Every gradient method on every instruction set this CPU has (AVX-512, AVX2, NEON, scalar:
//! forced in turn for the whole process, so this binary holds one test), on the two network
//! shapes with fused kernels (2-64-2 and 2-16-16-2 tanh), against references that do not share
//! the method's code:
//! - f64: the continuous gradient (tight forward sensitivities, itself checked against finite
//!   differences of the loss on 24 parameters), within each method's discretisation error;
//! - f64 again: the same method on the scalar path (no SIMD at all), to rounding (1e-12; fd
//!   1e-8);
//! - f32 (the methods with an f32 path): the f64 gradient of the same method on the same set,
//!   to f32 rounding (1e-4, as `grad_precision`), on fixed RK4 steps.
//!
//! `fused_grad` and `fused_grad_two_layer` compare fused with layer-at-a-time per set; this
//! file checks that a set's gradients are right, not only that its two paths agree.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use nodelab::grad::{
    self, BatchSteps, GradMethod, GradOptions, GradOutput, GradProblem, Loss, LossKind, Precision,
    rel_l2,
};
use nodelab::nn::fused;
use nodelab::nn::simd::{self, Isa};
use nodelab::nn::{Activation, Mlp};
use nodelab::solver::{Method, SolverConfig};
use rand::{RngExt, SeedableRng, rngs::StdRng};
use std::collections::HashMap;

/// 16 samples: more than the widest set's f32 lanes, so every set's vector path runs. Weights
/// at 3× the Glorot scale and y0 in [−2, 2], so that hidden pre-activations reach tanh's
/// saturated range (|z| up to about 4), not only its linear part.
fn problem(widths: &[usize], method: Method, solver_tol: f64) -> GradProblem {
    let mut rng = StdRng::seed_from_u64(7);
    let mlp = Mlp::random(widths, Activation::Tanh, true, 3.0, 3);
    let mut point = || vec![rng.random_range(-2.0..2.0), rng.random_range(-2.0..2.0)];
    let y0: Vec<Vec<f64>> = (0..16).map(|_| point()).collect();
    let targets: Vec<Vec<f64>> = (0..16).map(|_| point()).collect();
    GradProblem {
        mlp,
        y0,
        t0: 0.0,
        t1: 0.5,
        solver: SolverConfig {
            method,
            tol: solver_tol,
            rtol: solver_tol,
            h0: (!method.is_adaptive()).then_some(0.05),
            ..SolverConfig::default()
        },
        batch_steps: BatchSteps::Shared,
        loss: Loss::terminal(LossKind::HalfSse, targets),
    }
}

/// How far a method may be from the continuous gradient at solver tolerance 1e-9 and 200
/// reversible steps, about 10× what was measured: the adaptive methods, fd (step 1e-5) and the
/// fourth-order reversible RK4 by the solve's error (measured ≤ 7.4e-10), the second-order
/// reversible schemes by C·h² (measured ≤ 1.9e-5).
fn tolerance(m: GradMethod) -> f64 {
    match m {
        GradMethod::Alf | GradMethod::ReversibleHeun | GradMethod::ReversibleMidpoint => 2e-4,
        _ => 1e-8,
    }
}

/// (net, method) → the f64 gradient on each set.
type GradsBySet = HashMap<(usize, GradMethod), Vec<(Isa, Vec<f64>)>>;

#[test]
fn every_method_is_right_on_every_instruction_set() {
    let isas: Vec<Isa> = Isa::ALL.into_iter().filter(|i| i.available()).collect();
    eprintln!("instruction sets tested: {isas:?}");
    assert!(isas.contains(&Isa::Scalar));
    // Every x86-64 machine this project builds on has AVX2 at least: a vector set must be
    // among those tested, not only the scalar path.
    if cfg!(target_arch = "x86_64") {
        assert!(isas.contains(&Isa::Avx2), "no AVX2 here: {isas:?}");
    }
    let opts = GradOptions {
        cheb_nodes: 48,
        reversible_steps: Some(200),
        fd_step: 1e-5,
        ..GradOptions::default()
    };
    let nets: [&[usize]; 2] = [&[2, 64, 2], &[2, 16, 16, 2]];
    let mut f64_grads: GradsBySet = HashMap::new();
    for &isa in &isas {
        simd::force(Some(isa)).unwrap();
        assert_eq!(simd::active(), isa);
        for (n, widths) in nets.iter().enumerate() {
            let p = problem(widths, Method::Dopri5, 1e-9);
            assert!(
                fused::Shape::of(&p.mlp).is_some(),
                "{widths:?} has fused kernels"
            );
            let reference = grad::reference::continuous(&p, 24).unwrap();
            assert!(
                reference.fd_rel_diff < 1e-6,
                "{isa:?} {widths:?}: reference vs fd {:e}",
                reference.fd_rel_diff
            );
            for m in GradMethod::ALL {
                let what = format!("{isa:?} {widths:?} {m}");
                let out = grad::compute(&p, m, &opts).unwrap_or_else(|e| panic!("{what}: {e}"));
                let err = rel_l2(&out.grad, &reference.grad);
                eprintln!("{what}: vs continuous {err:.1e}");
                assert!(err < tolerance(m), "{what}: vs continuous {err:e}");
                f64_grads.entry((n, m)).or_default().push((isa, out.grad));
            }
            // f32 on fixed RK4 steps, so that both precisions take the same steps (an adaptive
            // solve may take another step where a step's error is near the tolerance).
            let loose = problem(widths, Method::Rk4, 1e-5);
            for m in GradMethod::ALL.into_iter().filter(|m| m.supports_f32()) {
                let what = format!("{isa:?} {widths:?} {m} f32");
                let at = |precision| -> GradOutput {
                    grad::compute_with_precision(&loose, m, &opts, precision)
                        .unwrap_or_else(|e| panic!("{what}: {e}"))
                };
                let (g64, g32) = (at(Precision::F64), at(Precision::F32));
                assert_eq!(g64.steps_accepted, g32.steps_accepted, "{what}: steps");
                let err = rel_l2(&g32.grad, &g64.grad);
                eprintln!("{what}: vs f64 {err:.1e}");
                assert!(err < 1e-4 && err > 0.0, "{what}: vs f64 {err:e}");
            }
        }
    }
    simd::force(None).unwrap();
    // Every set against the scalar path, method by method.
    for ((n, m), by_isa) in &f64_grads {
        let scalar = &by_isa.iter().find(|(i, _)| *i == Isa::Scalar).unwrap().1;
        for (isa, g) in by_isa {
            let err = rel_l2(g, scalar);
            // fd divides the loss's rounding differences by its step (measured 2e-10).
            let tol = if *m == GradMethod::Fd { 1e-8 } else { 1e-12 };
            assert!(err < tol, "{isa:?} {:?} {m}: vs scalar {err:e}", nets[*n]);
        }
    }
}
