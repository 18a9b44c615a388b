//! Every gradient method against independent references: central finite differences on the
//! same discrete map, the continuous reference (tight forward sensitivities), and each other.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use nodelab::grad::{
    self, BatchSteps, GradMethod, GradOptions, GradProblem, Loss, LossKind, rel_l2,
};
use nodelab::nn::{Activation, Mlp};
use nodelab::solver::{Method, SolverConfig};
use rand::{RngExt, SeedableRng, rngs::StdRng};

fn problem(seed: u64, batch: usize, method: Method, tol: f64, act: Activation) -> GradProblem {
    let mut rng = StdRng::seed_from_u64(seed);
    let mlp = Mlp::random(&[2, 5, 2], act, seed % 2 == 1, 1.0, seed);
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
        t1: 0.7,
        solver: SolverConfig {
            method,
            tol,
            rtol: tol,
            h0: if method.is_adaptive() {
                None
            } else {
                Some(0.05)
            },
            ..SolverConfig::default()
        },
        batch_steps: BatchSteps::Shared,
        loss: Loss::terminal(LossKind::HalfSse, targets),
    }
}

fn run(p: &GradProblem, m: GradMethod, opts: &GradOptions) -> grad::GradOutput {
    grad::compute(p, m, opts).unwrap_or_else(|e| panic!("{m}: {e}"))
}

/// On a fixed-step solve the discrete map is smooth in θ, so fd (ε = 1e-6) is accurate to
/// ~1e-8 relative: backprop must agree with it, for every solver's tableau.
#[test]
fn backprop_matches_fd_on_fixed_steps_for_every_tableau() {
    let opts = GradOptions::default();
    for (i, method) in [Method::Rk4, Method::Midpoint, Method::Euler]
        .into_iter()
        .enumerate()
    {
        for seed in 0..2u64 {
            let p = problem(seed + 10 * i as u64, 2, method, 1e-6, Activation::Tanh);
            let bp = run(&p, GradMethod::Backprop, &opts);
            let fd = run(&p, GradMethod::Fd, &opts);
            let err = rel_l2(&bp.grad, &fd.grad);
            assert!(err < 1e-7, "{method} seed {seed}: {err}");
            assert!((bp.loss - fd.loss).abs() < 1e-12 * bp.loss.abs().max(1.0));
        }
    }
}
