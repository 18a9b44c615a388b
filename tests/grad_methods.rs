//! Every gradient method against independent references: central finite differences on the
//! same discrete map, the continuous reference (tight forward sensitivities), and each other.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use nodelab::grad::{
    self, AfgeControl, BatchSteps, GradMethod, GradOptions, GradProblem, Loss, LossKind, rel_l2,
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

fn fixed(p: &GradProblem, h: f64) -> GradProblem {
    let mut q = p.clone();
    q.solver = SolverConfig {
        method: Method::Rk4,
        h0: Some(h),
        ..SolverConfig::default()
    };
    q
}

/// backprop, checkpoint (several K) and afge (both step controls) are the same derivative of
/// the same fixed-step map: equal to ~1e-12, and equal to fd of that map.
#[test]
fn discrete_methods_agree_to_rounding_and_with_fd() {
    for seed in 0..3u64 {
        let act = [Activation::Tanh, Activation::Softplus, Activation::Sigmoid][seed as usize];
        let p = fixed(&problem(seed, 3, Method::Rk4, 1e-6, act), 0.05);
        let opts = GradOptions::default();
        let bp = run(&p, GradMethod::Backprop, &opts);
        let fd = run(&p, GradMethod::Fd, &opts);
        assert!(rel_l2(&bp.grad, &fd.grad) < 1e-7, "seed {seed}");
        for k in [None, Some(1), Some(3), Some(100)] {
            let o = GradOptions {
                checkpoints: k,
                ..GradOptions::default()
            };
            let ck = run(&p, GradMethod::Checkpoint, &o);
            assert!(rel_l2(&ck.grad, &bp.grad) < 1e-13, "checkpoint {k:?}");
            assert_eq!(ck.loss, bp.loss);
        }
        for control in [AfgeControl::State, AfgeControl::Augmented] {
            let o = GradOptions {
                afge_control: control,
                ..GradOptions::default()
            };
            let af = run(&p, GradMethod::Afge, &o);
            let e = rel_l2(&af.grad, &bp.grad);
            assert!(e < 1e-12, "afge {control:?}: {e}");
            assert!((af.loss - bp.loss).abs() < 1e-13 * bp.loss.max(1.0));
        }
    }
}

/// On an adaptive solve, afge with step control on y equals backprop (same steps), and every
/// solver's tableau is replayed exactly (backprop's loss is the solver's own loss).
#[test]
fn adaptive_backprop_replays_every_solver_exactly() {
    for method in Method::ADAPTIVE {
        let p = problem(7, 2, method, 1e-5, Activation::Tanh);
        let bp = run(&p, GradMethod::Backprop, &GradOptions::default());
        let af = run(&p, GradMethod::Afge, &GradOptions::default());
        assert!(rel_l2(&af.grad, &bp.grad) < 1e-12, "{method}");
        let fd_loss = grad::reference::loss_only(&p).unwrap();
        assert!(
            (bp.loss - fd_loss).abs() < 1e-13,
            "{method}: replayed loss differs"
        );
        assert!(bp.steps_accepted > 0);
    }
}

/// Every method against central finite differences of a tight (1e-12) forward solve, i.e.
/// against the gradient of the exact ODE; the reversible and fixed-step methods within their
/// discretisation error.
#[test]
fn every_method_matches_fd_of_the_exact_flow() {
    for seed in [3u64, 4] {
        let base = problem(seed, 2, Method::Dopri5, 1e-10, Activation::Tanh);
        let mut tight = base.clone();
        tight.solver = grad::reference::tight_solver();
        let fd = run(
            &tight,
            GradMethod::Fd,
            &GradOptions {
                fd_step: 1e-4,
                ..GradOptions::default()
            },
        );
        let opts = GradOptions {
            cheb_nodes: 24,
            reversible_steps: Some(200),
            ..GradOptions::default()
        };
        for (method, tol) in [
            (GradMethod::Backprop, 1e-6),
            (GradMethod::Checkpoint, 1e-6),
            (GradMethod::Adjoint, 1e-6),
            (GradMethod::InterpAdjoint, 1e-6),
            (GradMethod::Afge, 1e-6),
            (GradMethod::ReversibleRk4, 1e-6),
        ] {
            let out = run(&base, method, &opts);
            let e = rel_l2(&out.grad, &fd.grad);
            assert!(e < tol, "seed {seed} {method}: {e}");
        }
        // The second-order reversible schemes: their error is C·h², so it must be small at
        // 200 steps (measured 1–2e-6 here) and fall by about 4 when the steps double.
        for method in [
            GradMethod::Alf,
            GradMethod::ReversibleHeun,
            GradMethod::ReversibleMidpoint,
        ] {
            let e200 = rel_l2(&run(&base, method, &opts).grad, &fd.grad);
            let doubled = GradOptions {
                reversible_steps: Some(400),
                ..opts.clone()
            };
            let e400 = rel_l2(&run(&base, method, &doubled).grad, &fd.grad);
            assert!(e200 < 1e-5, "seed {seed} {method}: {e200:e} at 200 steps");
            let order = (e200 / e400).log2();
            assert!(
                (1.7..2.5).contains(&order),
                "seed {seed} {method}: observed order {order:.2} ({e200:e} → {e400:e})"
            );
        }
        let r = grad::reference::continuous(&base, 100).unwrap();
        assert!(rel_l2(&r.grad, &fd.grad) < 1e-6);
        assert!(r.fd_rel_diff < 1e-6, "{}", r.fd_rel_diff);
    }
}

/// The reversible methods reconstruct y0 to rounding, and their gradient is the exact
/// derivative of their own discrete map: equal to the stored-state derivative and to fd of
/// their own loss.
#[test]
fn reversible_methods_reconstruct_and_are_exact_for_their_map() {
    let p = problem(5, 2, Method::Dopri5, 1e-8, Activation::Tanh);
    let opts = GradOptions {
        reversible_steps: Some(40),
        lambda: 0.9,
        ..GradOptions::default()
    };
    for method in [
        GradMethod::Alf,
        GradMethod::ReversibleHeun,
        GradMethod::ReversibleRk4,
        GradMethod::ReversibleMidpoint,
    ] {
        let out = run(&p, method, &opts);
        let recon = out.reconstruction_error.unwrap();
        assert!(recon < 1e-12, "{method}: reconstruction {recon}");
        let stored = grad::reference::discrete(&p, method, &opts).unwrap();
        assert!(rel_l2(&out.grad, &stored) < 1e-11, "{method}");
        // fd of the method's own loss on its own (fixed-step, smooth) map.
        let eps = 1e-6;
        let mut fd = vec![0.0; p.mlp.n_params()];
        for i in 0..fd.len() {
            let mut a = p.clone();
            a.mlp.params[i] += eps;
            let mut b = p.clone();
            b.mlp.params[i] -= eps;
            fd[i] = (run(&a, method, &opts).loss - run(&b, method, &opts).loss) / (2.0 * eps);
        }
        let e = rel_l2(&out.grad, &fd);
        assert!(e < 1e-7, "{method}: vs fd of its own map {e}");
    }
}

/// adjoint and interp-adjoint converge to the continuous reference as the tolerance shrinks,
/// at least like tol^0.6 (dopri5's global error is roughly proportional to tol).
#[test]
fn adjoint_methods_converge_to_the_continuous_gradient() {
    let base = problem(8, 2, Method::Dopri5, 1e-4, Activation::Tanh);
    let r = grad::reference::continuous(&base, 0).unwrap();
    let opts = GradOptions {
        cheb_nodes: 32,
        ..GradOptions::default()
    };
    for method in [GradMethod::Adjoint, GradMethod::InterpAdjoint] {
        let mut errs = Vec::new();
        for tol in [1e-4, 1e-6, 1e-8] {
            let mut p = base.clone();
            p.solver.tol = tol;
            p.solver.rtol = tol;
            errs.push(rel_l2(&run(&p, method, &opts).grad, &r.grad));
        }
        let slope = (errs[0] / errs[2]).log10() / 4.0;
        assert!(slope > 0.6, "{method}: errors {errs:?}, slope {slope}");
        assert!(errs[2] < 1e-6, "{method}: {errs:?}");
    }
}

/// Counted stored bytes: backprop's tape grows linearly with the steps; adjoint's and the
/// reversible methods' storage does not depend on them.
#[test]
fn stored_bytes_scale_as_claimed() {
    let p = problem(2, 2, Method::Rk4, 1e-6, Activation::Tanh);
    let stored = |m: GradMethod, h: f64| {
        let q = fixed(&p, h);
        let steps = (0.7f64 / h).round() as usize;
        let opts = GradOptions {
            reversible_steps: Some(steps),
            ..GradOptions::default()
        };
        run(&q, m, &opts).stored_bytes as f64
    };
    // Affine in N with the slope of one step's tape: 4 RK4 stage inputs of the 2·2 stacked
    // state plus the step's (t, h).
    let (s10, s100, s1000) = (
        stored(GradMethod::Backprop, 0.07),
        stored(GradMethod::Backprop, 0.007),
        stored(GradMethod::Backprop, 0.0007),
    );
    let slope = (s1000 - s100) / 900.0;
    assert_eq!(
        slope,
        (s100 - s10) / 90.0,
        "backprop stored bytes are not linear"
    );
    assert_eq!(slope, (4 * 4 * 8 + 16) as f64);
    let ck = stored(GradMethod::Checkpoint, 0.007) / stored(GradMethod::Checkpoint, 0.0007);
    assert!(
        ck > 1.0 / 10.0 && ck < 1.0 / 2.5,
        "checkpoint grows like sqrt(N): {ck}"
    );
    for m in [
        GradMethod::Adjoint,
        GradMethod::InterpAdjoint,
        GradMethod::Alf,
        GradMethod::ReversibleHeun,
        GradMethod::ReversibleRk4,
    ] {
        assert_eq!(stored(m, 0.07), stored(m, 0.007), "{m}");
    }
}

/// Per-sample batches: each sample its own solve; on fixed steps the same gradient as the
/// shared batch, and the same with worker threads.
#[test]
fn per_sample_batches_sum_and_thread() {
    let shared = fixed(&problem(6, 4, Method::Rk4, 1e-6, Activation::Tanh), 0.05);
    let mut per = shared.clone();
    per.batch_steps = BatchSteps::PerSample;
    for method in [
        GradMethod::Backprop,
        GradMethod::Adjoint,
        GradMethod::ReversibleHeun,
    ] {
        let a = run(&shared, method, &GradOptions::default());
        let b = run(&per, method, &GradOptions::default());
        let c = run(
            &per,
            method,
            &GradOptions {
                threads: 2,
                ..GradOptions::default()
            },
        );
        assert!(rel_l2(&a.grad, &b.grad) < 1e-12, "{method}");
        assert!(rel_l2(&b.grad, &c.grad) < 1e-14, "{method}");
        assert!((a.loss - b.loss).abs() < 1e-13);
    }
    // Adaptive per-sample solves adapt each sample: more steps in total than one shared solve.
    let mut ad = problem(6, 4, Method::Dopri5, 1e-8, Activation::Tanh);
    let sh = run(&ad, GradMethod::Backprop, &GradOptions::default());
    ad.batch_steps = BatchSteps::PerSample;
    let ps = run(&ad, GradMethod::Backprop, &GradOptions::default());
    assert!(ps.steps_accepted > sh.steps_accepted);
    assert!(rel_l2(&ps.grad, &sh.grad) < 1e-6);
}

/// Trajectory and classification losses flow through every method.
#[test]
fn trajectory_and_cross_entropy_losses() {
    let mut p = fixed(&problem(9, 2, Method::Rk4, 1e-6, Activation::Tanh), 0.05);
    p.loss = Loss::trajectory(
        vec![0.25, 0.5, 0.7],
        vec![
            vec![vec![0.1, 0.2], vec![-0.3, 0.4]],
            vec![vec![0.0, 0.5], vec![0.2, 0.2]],
            vec![vec![0.3, -0.2], vec![0.1, 0.0]],
        ],
    );
    let opts = GradOptions {
        reversible_steps: Some(14),
        ..GradOptions::default()
    };
    let bp = run(&p, GradMethod::Backprop, &opts);
    let fd = run(&p, GradMethod::Fd, &opts);
    assert!(rel_l2(&bp.grad, &fd.grad) < 1e-7);
    for m in [GradMethod::Checkpoint, GradMethod::Afge] {
        assert!(rel_l2(&run(&p, m, &opts).grad, &bp.grad) < 1e-12, "{m}");
    }
    let r = grad::reference::continuous(&p, 0).unwrap();
    let mut tight = p.clone();
    tight.solver = SolverConfig {
        method: Method::Dopri5,
        tol: 1e-10,
        rtol: 1e-10,
        ..SolverConfig::default()
    };
    for m in [GradMethod::Adjoint, GradMethod::InterpAdjoint] {
        let o = GradOptions {
            cheb_nodes: 24,
            ..opts.clone()
        };
        let e = rel_l2(&run(&tight, m, &o).grad, &r.grad);
        assert!(e < 1e-6, "{m}: {e}");
    }
    let rev = run(&p, GradMethod::ReversibleRk4, &opts);
    let stored = grad::reference::discrete(&p, GradMethod::ReversibleRk4, &opts).unwrap();
    assert!(rel_l2(&rev.grad, &stored) < 1e-11);

    let mut c = p.clone();
    c.loss = Loss::cross_entropy(
        grad::Readout {
            weight: vec![vec![1.0, -1.0], vec![0.5, 0.5], vec![-0.2, 0.3]],
            bias: vec![0.0, 0.1, -0.1],
        },
        vec![2, 0],
    );
    let bp = run(&c, GradMethod::Backprop, &opts);
    let fd = run(&c, GradMethod::Fd, &opts);
    assert!(rel_l2(&bp.grad, &fd.grad) < 1e-7);
    assert_eq!(bp.readout_grad.as_ref().unwrap().len(), 9);
    let adj = run(&tight_of(&c), GradMethod::Adjoint, &opts);
    assert_eq!(adj.readout_grad.unwrap().len(), 9);
}

fn tight_of(p: &GradProblem) -> GradProblem {
    let mut q = p.clone();
    q.solver = SolverConfig {
        method: Method::Dopri5,
        tol: 1e-9,
        rtol: 1e-9,
        ..SolverConfig::default()
    };
    q
}

/// Bad inputs are errors, not panics.
#[test]
fn bad_inputs_are_errors() {
    let mut p = problem(1, 1, Method::Rk4, 1e-6, Activation::Tanh);
    let bad = GradOptions {
        lambda: 1.5,
        ..GradOptions::default()
    };
    assert!(grad::compute(&p, GradMethod::ReversibleRk4, &bad).is_err());
    p.y0[0].push(1.0);
    let err = grad::compute(&p, GradMethod::Backprop, &GradOptions::default()).unwrap_err();
    assert!(err.to_string().contains("components"), "{err}");
    assert_eq!(
        GradMethod::parse("interp-adjoint"),
        Some(GradMethod::InterpAdjoint)
    );
    for m in GradMethod::ALL {
        assert_eq!(GradMethod::parse(m.name()), Some(m));
    }
}
