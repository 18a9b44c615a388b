//! Gradients with the fused two-hidden-layer kernels (`nodelab::nn::fused::two_layer`, the
//! classification tasks' d-16-16-d field) against the same
//! gradients on the layer-at-a-time path, for every method with a batched path, in f64 and
//! f32, on every instruction set this CPU has (AVX-512, AVX2, NEON, scalar: forced in turn).
//! The kernels and the set are switched for the whole process, so this binary holds one test
//! only.
//!
//! Tolerance: the two paths sum the same terms in another order, so every network evaluation
//! differs by a few ulp; through an adaptive solve (same steps, asserted) and the reverse
//! sweep that stays ~1e-14 relative in f64 and ~1e-6 in f32.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use nodelab::grad::{
    self, BatchSteps, GradMethod, GradOptions, GradProblem, Loss, LossKind, Precision, rel_l2,
};
use nodelab::nn::fused::{self, Fused};
use nodelab::nn::simd::{self, Isa};
use nodelab::nn::{Activation, InputMap, Mlp};
use nodelab::solver::{Method, SolverConfig};
use rand::{RngExt, SeedableRng, rngs::StdRng};

fn problem(d: usize, time_input: bool, cube: bool, batch: usize) -> GradProblem {
    let mut rng = StdRng::seed_from_u64(11);
    let mut mlp = Mlp::random(&[d, 16, 16, d], Activation::Tanh, time_input, 1.0, 5);
    if cube {
        mlp.input_map = InputMap::Cube;
    }
    let mut point = || {
        (0..d)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect::<Vec<f64>>()
    };
    let y0: Vec<Vec<f64>> = (0..batch).map(|_| point()).collect();
    let targets: Vec<Vec<f64>> = (0..batch).map(|_| point()).collect();
    GradProblem {
        mlp,
        y0,
        t0: 0.0,
        t1: 1.0,
        solver: SolverConfig {
            method: Method::Dopri5,
            tol: 1e-5,
            rtol: 1e-5,
            ..SolverConfig::default()
        },
        batch_steps: BatchSteps::Shared,
        loss: Loss::terminal(LossKind::Mse, targets),
    }
}

#[test]
fn two_layer_kernels_give_the_layer_at_a_time_gradients() {
    let isas: Vec<Isa> = Isa::ALL.into_iter().filter(|i| i.available()).collect();
    eprintln!("instruction sets tested: {isas:?}");
    assert!(isas.contains(&Isa::Scalar));
    for isa in isas {
        simd::force(Some(isa)).unwrap();
        assert_eq!(simd::active(), isa);
        check_every_method(isa);
    }
    simd::force(None).unwrap();
}

fn check_every_method(isa: Isa) {
    // Fewer samples than lanes would leave the fused path out.
    assert!(<f32 as Fused>::lanes() <= 16 && <f64 as Fused>::lanes() <= 8);
    let opts = GradOptions::default();
    let methods = [
        GradMethod::Backprop,
        GradMethod::Checkpoint,
        GradMethod::Adjoint,
        GradMethod::InterpAdjoint,
        GradMethod::Alf,
        GradMethod::ReversibleHeun,
        GradMethod::ReversibleRk4,
    ];
    // 77 samples: nine full f64 blocks and a partial one (four full f32 blocks, a partial).
    for (d, time_input, cube, batch) in [(3, false, false, 256), (2, true, true, 77)] {
        let p = problem(d, time_input, cube, batch);
        let sh = fused::Shape::of(&p.mlp).expect("a d-16-16-d tanh net");
        assert_eq!(sh.h2, 16);
        for precision in [Precision::F64, Precision::F32] {
            for m in methods {
                let what = format!("{isa:?} {m} {precision} (time {time_input}, cube {cube})");
                fused::set_enabled(true);
                let a = grad::compute_with_precision(&p, m, &opts, precision)
                    .unwrap_or_else(|e| panic!("{what} fused: {e}"));
                fused::set_enabled(false);
                let b = grad::compute_with_precision(&p, m, &opts, precision)
                    .unwrap_or_else(|e| panic!("{what} layers: {e}"));
                fused::set_enabled(true);
                assert_eq!(a.steps_accepted, b.steps_accepted, "{what}: steps");
                let err = rel_l2(&a.grad, &b.grad);
                let tol = if precision == Precision::F64 {
                    1e-12
                } else {
                    1e-5
                };
                eprintln!("{what}: relative l2 {err:.1e}");
                assert!(err <= tol, "{what}: relative l2 {err:e}");
                assert!(((a.loss - b.loss) / b.loss).abs() <= tol, "{what}: loss");
            }
        }
    }
}
