//! The fast gradient engine against the per-sample reference path: batched (ndarray) layers
//! equal per-sample layers, a gradient split over threads equals the single-threaded one, the
//! tape recorded during the forward solve equals the replayed tape, and f32 layers agree with
//! f64 to f32 precision.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use nodelab::grad::backprop::TapeKind;
use nodelab::grad::batch::run_groups;
use nodelab::grad::{
    self, BatchSteps, GradMethod, GradOptions, GradProblem, Loss, LossKind, backprop, forward,
    rel_l2,
};
use nodelab::nn::{Activation, BatchWork, BatchedMlp, InputMap, Mlp};
use nodelab::solver::{Method, SolverConfig};
use rand::{RngExt, SeedableRng, rngs::StdRng};

fn states(rows: usize, d: usize, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..rows * d).map(|_| rng.random_range(-1.2..1.2)).collect()
}

fn nets() -> Vec<Mlp> {
    let mut out = Vec::new();
    for (k, act) in Activation::ALL.into_iter().enumerate() {
        for time_input in [false, true] {
            let mut mlp = Mlp::random(&[3, 24, 13, 3], act, time_input, 1.0, 5 + k as u64);
            if k % 2 == 0 {
                mlp.input_map = InputMap::Cube;
            }
            out.push(mlp);
        }
    }
    out.push(Mlp::random(&[2, 64, 2], Activation::Tanh, false, 1.0, 42));
    out
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

/// Forward, VJP (state and θ parts) and JVP of the batched layers equal the per-sample
/// routines of `Mlp` to 1e-14 (they differ only in the order of the sums).
#[test]
fn batched_layers_equal_per_sample_layers_in_f64() {
    let rows = 67;
    for mlp in nets() {
        let d = mlp.dim();
        let p = mlp.n_params();
        let ys = states(rows, d, 1);
        let vs = states(rows, d, 2);
        let us = states(rows, d, 3);
        let wt = states(1, p, 4);
        let net = mlp.batched();
        let mut work = BatchWork::new(&mlp, rows);
        let (mut f, mut vy, mut g) = (vec![0.0; rows * d], vec![0.0; rows * d], vec![0.0; p]);
        net.vjp(0.37, &ys, &vs, 0.5, &mut f, &mut vy, &mut g, &mut work);
        // The JVP reads the record of a recording forward pass (`vjp` may leave none: the
        // fused kernels keep nothing in `work`).
        let mut f_rec = vec![0.0; rows * d];
        net.forward(0.37, &ys, &mut f_rec, &mut work, true);
        for (a, b) in f.iter().zip(&f_rec) {
            assert!(close(*a, *b, 1e-14), "the recording forward pass's f");
        }
        let mut jv = vec![0.0; rows * d];
        net.jvp_recorded(&us, Some(&wt), &mut jv, &mut work);
        let mut jv_y = vec![0.0; rows * d];
        net.jvp_recorded(&us, None, &mut jv_y, &mut work);
        let mut f_plain = vec![0.0; rows * d];
        net.forward(0.37, &ys, &mut f_plain, &mut work, false);
        assert_eq!(f, f_plain, "recording does not change the forward values");

        let mut mw = mlp.work();
        let mut g_ref = vec![0.0; p];
        let (mut f1, mut vy1, mut jv1) = (vec![0.0; d], vec![0.0; d], vec![0.0; d]);
        for r in 0..rows {
            let (y, v, u) = (&ys[r * d..][..d], &vs[r * d..][..d], &us[r * d..][..d]);
            mlp.vjp_into(0.37, y, v, 0.5, &mut f1, &mut vy1, &mut g_ref, &mut mw);
            for c in 0..d {
                assert!(close(f[r * d + c], f1[c], 1e-14), "{:?} f", mlp.activation);
                assert!(
                    close(vy[r * d + c], vy1[c], 1e-14),
                    "{:?} vy",
                    mlp.activation
                );
            }
            mlp.jvp_into(0.37, y, u, Some(&wt), &mut f1, &mut jv1, &mut mw);
            for c in 0..d {
                assert!(
                    close(jv[r * d + c], jv1[c], 1e-14),
                    "{:?} jvp",
                    mlp.activation
                );
            }
            mlp.jvp_into(0.37, y, u, None, &mut f1, &mut jv1, &mut mw);
            for c in 0..d {
                assert!(
                    close(jv_y[r * d + c], jv1[c], 1e-14),
                    "{:?} jvp_y",
                    mlp.activation
                );
            }
        }
        let scale = g_ref.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        for k in 0..p {
            assert!(
                (g[k] - g_ref[k]).abs() <= 1e-14 * (1.0 + scale),
                "{:?} θ {k}: {} {}",
                mlp.activation,
                g[k],
                g_ref[k]
            );
        }
    }
}

/// The same layers in f32 agree with f64 to f32 precision.
#[test]
fn f32_layers_agree_with_f64_to_f32_tolerance() {
    let rows = 50;
    for mlp in nets() {
        let d = mlp.dim();
        let p = mlp.n_params();
        let ys = states(rows, d, 11);
        let vs = states(rows, d, 12);
        let (mut f, mut vy, mut g) = (vec![0.0; rows * d], vec![0.0; rows * d], vec![0.0; p]);
        let mut w64 = BatchWork::new(&mlp, rows);
        mlp.batched()
            .vjp(0.2, &ys, &vs, 1.0, &mut f, &mut vy, &mut g, &mut w64);

        let params32: Vec<f32> = mlp.params_as();
        let net32 = BatchedMlp::new(&mlp, &params32);
        let ys32: Vec<f32> = ys.iter().map(|&v| v as f32).collect();
        let vs32: Vec<f32> = vs.iter().map(|&v| v as f32).collect();
        let (mut f32o, mut vy32, mut g32) = (
            vec![0.0f32; rows * d],
            vec![0.0f32; rows * d],
            vec![0.0f32; p],
        );
        let mut w32 = BatchWork::new(&mlp, rows);
        net32.vjp(
            0.2, &ys32, &vs32, 1.0, &mut f32o, &mut vy32, &mut g32, &mut w32,
        );
        let to64 = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>();
        // Relative l2 errors: a few f32 ulps (6e-8) times the sums' lengths.
        for (name, a, b) in [
            ("f", to64(&f32o), &f),
            ("vy", to64(&vy32), &vy),
            ("gθ", to64(&g32), &g),
        ] {
            let err = rel_l2(&a, b);
            assert!(err < 2e-5, "{:?} {name}: {err:e}", mlp.activation);
            assert!(
                err > 0.0 || b.iter().all(|v| *v == 0.0),
                "f32 really ran in f32"
            );
        }
    }
}

fn toy(batch: usize, seed: u64) -> GradProblem {
    let mut rng = StdRng::seed_from_u64(seed);
    let mlp = Mlp::random(&[2, 32, 2], Activation::Tanh, false, 1.0, seed);
    let y0: Vec<Vec<f64>> = (0..batch)
        .map(|_| vec![rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)])
        .collect();
    let targets: Vec<Vec<f64>> = y0.iter().map(|y| vec![0.5 * y[1], -0.8 * y[0]]).collect();
    GradProblem {
        mlp,
        y0,
        t0: 0.0,
        t1: 0.8,
        solver: SolverConfig {
            method: Method::Dopri5,
            tol: 1e-7,
            rtol: 1e-7,
            ..SolverConfig::default()
        },
        batch_steps: BatchSteps::Shared,
        loss: Loss::terminal(LossKind::Mse, targets),
    }
}

/// A shared batch split over 4 threads (row blocks of ≥ 64 samples) gives the single-threaded
/// gradient to 1e-13, for every method that evaluates the batched field.
#[test]
fn threaded_gradient_equals_single_threaded() {
    let p = toy(600, 3);
    let one = GradOptions::default();
    let four = GradOptions {
        threads: 4,
        ..GradOptions::default()
    };
    for method in [
        GradMethod::Backprop,
        GradMethod::Checkpoint,
        GradMethod::Adjoint,
        GradMethod::InterpAdjoint,
        GradMethod::ReversibleHeun,
    ] {
        let a = grad::compute(&p, method, &one).unwrap();
        let b = grad::compute(&p, method, &four).unwrap();
        let err = rel_l2(&b.grad, &a.grad);
        assert!(err < 1e-13, "{method}: {err:e}");
        assert!(
            (a.loss - b.loss).abs() <= 1e-13 * a.loss.abs(),
            "{method} loss"
        );
        assert!(
            b.warnings.iter().all(|w| !w.contains("no effect")),
            "{method}: {:?}",
            b.warnings
        );
        assert_eq!(a.steps_accepted, b.steps_accepted, "{method}");
    }
    // A batch too small to split says so.
    let small = toy(20, 4);
    let out = grad::compute(&small, GradMethod::Backprop, &four).unwrap();
    assert!(out.warnings.iter().any(|w| w.contains("no effect")));
}

/// Backprop records its tape during the dopri5 solve; replaying the accepted steps through
/// the tableau (the path the other solvers take) gives the same gradient and loss.
#[test]
fn recorded_tape_equals_replayed_tape() {
    for (batch, observations) in [(7usize, false), (33, true)] {
        let mut p = toy(batch, 9 + batch as u64);
        if observations {
            let targets: Vec<Vec<Vec<f64>>> = (0..3)
                .map(|k| {
                    p.y0.iter()
                        .map(|y| vec![y[0] * (0.9 - 0.1 * k as f64), y[1]])
                        .collect()
                })
                .collect();
            p.loss = Loss::trajectory(vec![0.2, 0.5, 0.8], targets);
        }
        let opts = GradOptions::default();
        let recorded = grad::compute(&p, GradMethod::Backprop, &opts).unwrap();
        let with = |kind| run_groups(&p, &opts, |g| backprop::gradient_with(g, kind)).unwrap();
        let replayed = run_groups(&p, &opts, |g| {
            let (s, st) =
                forward::schedule(std::sync::Arc::new(g.field()), &g.ends, &g.y0, &p.solver)?;
            Ok(backprop::on_schedule(g, &s, &st))
        })
        .unwrap();
        assert_eq!(with(TapeKind::Replay), replayed);
        let inputs = with(TapeKind::StageInputs);
        let acts = with(TapeKind::Activations);
        assert_eq!(acts.grad, recorded.grad, "small batches record activations");
        for (name, out) in [("activations", &acts), ("stage inputs", &inputs)] {
            let err = rel_l2(&out.grad, &replayed.grad);
            assert!(err < 1e-12, "batch {batch}, {name}: {err:e}");
            assert!((out.loss - replayed.loss).abs() <= 1e-12 * replayed.loss.abs());
            // No replay: the forward pass costs only the solve's evaluations.
            assert!(out.nfe_forward < replayed.nfe_forward, "{name}");
            assert_eq!(out.nfe_backward, replayed.nfe_backward, "{name}");
            assert_eq!(out.steps_accepted, replayed.steps_accepted, "{name}");
        }
        // The activation tape holds more than the stage inputs.
        assert!(acts.stored_bytes > inputs.stored_bytes);
    }
}
