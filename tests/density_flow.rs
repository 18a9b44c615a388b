//! The continuous normalising flow's augmented field against independent references: the
//! closed form of a linear field, finite differences of the flow map's log-determinant, and
//! the NLL gradients of every method against finite differences of a tight solve.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use nodelab::density;
use nodelab::grad::{self, BatchSteps, GradMethod, GradOptions, GradProblem, Loss, rel_l2};
use nodelab::nn::{Activation, Mlp};
use nodelab::solver::{Method, SolverConfig};
use rand::{RngExt, SeedableRng, rngs::StdRng};

fn tight() -> SolverConfig {
    grad::reference::tight_solver()
}

/// e^{M} of a 2×2 matrix by its Taylor series (‖M‖ ≤ 2 here: 40 terms are exact to rounding).
fn expm(m: [[f64; 2]; 2]) -> [[f64; 2]; 2] {
    let mut sum = [[1.0, 0.0], [0.0, 1.0]];
    let mut term = sum;
    for k in 1..40 {
        let mut next = [[0.0; 2]; 2];
        for i in 0..2 {
            for j in 0..2 {
                next[i][j] = (term[i][0] * m[0][j] + term[i][1] * m[1][j]) / k as f64;
            }
        }
        term = next;
        for i in 0..2 {
            for j in 0..2 {
                sum[i][j] += term[i][j];
            }
        }
    }
    sum
}

/// A linear field `f(z) = A z + c` as a one-layer network (sizes [2, 2], no time input).
fn linear(a: [[f64; 2]; 2], c: [f64; 2]) -> Mlp {
    Mlp {
        activation: Activation::Identity,
        time_input: false,
        input_map: nodelab::nn::InputMap::Identity,
        sizes: vec![2, 2],
        params: vec![a[0][0], a[0][1], a[1][0], a[1][1], c[0], c[1]],
    }
}

/// `log p(x) = log N(z(t1)) + t1 tr A` with `z(t1) = e^{A t1} x + A⁻¹ (e^{A t1} − I) c`.
fn linear_log_density(a: [[f64; 2]; 2], c: [f64; 2], t1: f64, x: [f64; 2]) -> f64 {
    let e = expm([[a[0][0] * t1, a[0][1] * t1], [a[1][0] * t1, a[1][1] * t1]]);
    let det = a[0][0] * a[1][1] - a[0][1] * a[1][0];
    let inv = [
        [a[1][1] / det, -a[0][1] / det],
        [-a[1][0] / det, a[0][0] / det],
    ];
    let r = [
        (e[0][0] - 1.0) * c[0] + e[0][1] * c[1],
        e[1][0] * c[0] + (e[1][1] - 1.0) * c[1],
    ];
    let z = [
        e[0][0] * x[0] + e[0][1] * x[1] + inv[0][0] * r[0] + inv[0][1] * r[1],
        e[1][0] * x[0] + e[1][1] * x[1] + inv[1][0] * r[0] + inv[1][1] * r[1],
    ];
    density::log_normal(&z) + t1 * (a[0][0] + a[1][1])
}

const A: [[f64; 2]; 2] = [[-0.4, 0.9], [-0.7, 0.3]];
const C: [f64; 2] = [0.5, -0.25];

#[test]
fn linear_flow_matches_the_closed_form() {
    let mut rng = StdRng::seed_from_u64(1);
    let points: Vec<Vec<f64>> = (0..20)
        .map(|_| vec![rng.random_range(-3.0..3.0), rng.random_range(-3.0..3.0)])
        .collect();
    let t1 = 1.3;
    let (logp, nfe) = density::log_density(&linear(A, C), &points, t1, &tight()).unwrap();
    assert!(nfe > 0);
    for (p, l) in points.iter().zip(&logp) {
        let exact = linear_log_density(A, C, t1, [p[0], p[1]]);
        assert!((l - exact).abs() < 1e-8, "{p:?}: {l} vs {exact}");
    }
    // The NLL loss of the gradient problem is the mean of −log p.
    let problem = GradProblem {
        mlp: linear(A, C),
        y0: points.iter().map(|p| vec![p[0], p[1], 0.0]).collect(),
        t0: 0.0,
        t1,
        solver: tight(),
        batch_steps: BatchSteps::Shared,
        loss: Loss::nll(),
    };
    let out = grad::compute(&problem, GradMethod::Backprop, &GradOptions::default()).unwrap();
    let mean: f64 = -logp.iter().sum::<f64>() / logp.len() as f64;
    assert!((out.loss - mean).abs() < 1e-10, "{} vs {mean}", out.loss);
}

/// ℓ(t1) = ∫ tr ∂f/∂z dt equals log|det ∂Φ/∂x| of the flow map Φ, the Jacobian by central
/// differences of tight solves of the plain field.
#[test]
fn trace_integral_is_the_log_determinant_of_the_flow_map() {
    let mlp = Mlp::random(&[2, 6, 6, 2], Activation::Tanh, true, 1.0, 3);
    let t1 = 1.0;
    let solver = tight();
    for x in [[0.3, -0.8], [1.2, 0.4], [-1.5, 1.1]] {
        let (logp, _) = density::log_density(&mlp, &[x.to_vec()], t1, &solver).unwrap();
        let z = density::paths(&mlp, &[x.to_vec()], 0.0, &[t1], t1, &solver).unwrap();
        let ell = logp[0] - density::log_normal(&z[0]);
        let h = 1e-5;
        let mut jac = [[0.0; 2]; 2];
        for j in 0..2 {
            let (mut xp, mut xm) = (x.to_vec(), x.to_vec());
            xp[j] += h;
            xm[j] -= h;
            let zp = density::paths(&mlp, &[xp], 0.0, &[t1], t1, &solver).unwrap();
            let zm = density::paths(&mlp, &[xm], 0.0, &[t1], t1, &solver).unwrap();
            for i in 0..2 {
                jac[i][j] = (zp[0][i] - zm[0][i]) / (2.0 * h);
            }
        }
        let logdet = (jac[0][0] * jac[1][1] - jac[0][1] * jac[1][0]).abs().ln();
        assert!(
            (ell - logdet).abs() < 1e-7,
            "{x:?}: ℓ = {ell}, log|det| = {logdet}"
        );
    }
}

/// Sampling inverts the flow: data → z(t1) → back to t = 0 returns the data.
#[test]
fn sampling_runs_the_flow_backwards() {
    let mlp = Mlp::random(&[2, 8, 2], Activation::Tanh, true, 1.0, 9);
    let x = vec![vec![0.4, -0.2], vec![-1.0, 0.7]];
    let z = density::paths(&mlp, &x, 0.0, &[1.0], 1.0, &tight()).unwrap();
    let base: Vec<Vec<f64>> = z[0].chunks(2).map(<[f64]>::to_vec).collect();
    let back = density::sample(&mlp, &base, 1.0, &tight()).unwrap();
    for (a, b) in back.iter().flatten().zip(x.iter().flatten()) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
}

fn density_problem(seed: u64, batch: usize, solver: SolverConfig) -> GradProblem {
    let mut rng = StdRng::seed_from_u64(seed);
    let mlp = Mlp::random(&[2, 5, 2], Activation::Tanh, true, 1.0, seed);
    GradProblem {
        mlp,
        y0: (0..batch)
            .map(|_| {
                vec![
                    rng.random_range(-1.5..1.5),
                    rng.random_range(-1.5..1.5),
                    0.0,
                ]
            })
            .collect(),
        t0: 0.0,
        t1: 0.8,
        solver,
        batch_steps: BatchSteps::Shared,
        loss: Loss::nll(),
    }
}

fn run(p: &GradProblem, m: GradMethod, opts: &GradOptions) -> grad::GradOutput {
    grad::compute(p, m, opts).unwrap_or_else(|e| panic!("{m}: {e}"))
}

/// On a fixed-step map every discrete method is the same derivative: backprop, checkpoint and
/// afge equal fd of that map.
#[test]
fn nll_gradients_of_the_discrete_map_match_fd() {
    let solver = SolverConfig {
        method: Method::Rk4,
        h0: Some(0.1),
        ..SolverConfig::default()
    };
    let p = density_problem(2, 3, solver);
    let opts = GradOptions::default();
    let fd = run(&p, GradMethod::Fd, &opts);
    for m in [
        GradMethod::Backprop,
        GradMethod::Checkpoint,
        GradMethod::Afge,
    ] {
        let out = run(&p, m, &opts);
        let e = rel_l2(&out.grad, &fd.grad);
        assert!(e < 1e-7, "{m}: {e}");
        assert!((out.loss - fd.loss).abs() < 1e-12, "{m}");
    }
    let per_sample = GradProblem {
        batch_steps: BatchSteps::PerSample,
        ..p.clone()
    };
    let out = run(&per_sample, GradMethod::Backprop, &opts);
    assert!(rel_l2(&out.grad, &fd.grad) < 1e-7, "per-sample");
}

/// Every method against finite differences of a tight (1e-12) solve, i.e. the gradient of the
/// exact flow; f32 runs the same code within f32's rounding; the continuous reference agrees.
#[test]
fn every_method_matches_the_exact_nll_gradient() {
    let base = density_problem(
        4,
        2,
        SolverConfig {
            method: Method::Dopri5,
            tol: 1e-10,
            rtol: 1e-10,
            ..SolverConfig::default()
        },
    );
    let mut tight_p = base.clone();
    tight_p.solver = tight();
    let fd = run(
        &tight_p,
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
    for method in GradMethod::ALL {
        if method == GradMethod::Fd {
            continue;
        }
        let out = run(&base, method, &opts);
        let e = rel_l2(&out.grad, &fd.grad);
        let tol = if matches!(
            method,
            GradMethod::Alf | GradMethod::ReversibleHeun | GradMethod::ReversibleMidpoint
        ) {
            1e-4 // second order at h = 0.004
        } else {
            1e-6
        };
        assert!(e < tol, "{method}: {e:e}");
        assert!((out.loss - fd.loss).abs() < 1e-6, "{method}: loss");
        if method.supports_f32() {
            let mut loose = base.clone();
            loose.solver.tol = 1e-5;
            loose.solver.rtol = 1e-5;
            let o32 = grad::compute_with_precision(&loose, method, &opts, grad::Precision::F32)
                .unwrap_or_else(|e| panic!("{method} f32: {e}"));
            let e32 = rel_l2(&o32.grad, &fd.grad);
            assert!(e32 < 1e-3, "{method} f32: {e32:e}");
        }
    }
    let r = grad::reference::continuous(&base, 100).unwrap();
    assert!(rel_l2(&r.grad, &fd.grad) < 1e-6);
    assert!(r.fd_rel_diff < 1e-6, "{}", r.fd_rel_diff);
}
