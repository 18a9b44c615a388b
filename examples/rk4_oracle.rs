//! How few f-evaluations can *any* error estimator for classical RK4 need on Van der Pol?
//!
//! This experiment controls RK4's steps with an oracle: the true local error of each step,
//! measured against a Dopri5 solve at tolerance 1e-13 from the same start (the oracle's own
//! evaluations are not counted, only RK4's 4 per attempt). It then reports f-evaluations against
//! the achieved global error, to compare with `nodelab bench solvers --problems van-der-pol`.
//! Two oracle controllers are tried: error per step (r = e/ε, exponent 1/5) and error per unit
//! step (r = e/(ε h), exponent 1/4).
//!
//! Run: `cargo run --release --example rk4_oracle`

use nodelab::bench::work_precision::{REFERENCE_TOL, reference_states};
use nodelab::problem::builtin::{self, BuiltinOverrides};
use nodelab::solver::{self, Method, SolverConfig};

fn main() {
    let problem = match builtin::build("van-der-pol", &BuiltinOverrides::default()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    println!(
        "RK4 with an oracle step controller on van-der-pol [0, 20] (reference tol {REFERENCE_TOL:e})"
    );
    println!(
        "{:>14} {:>8} {:>8} {:>12}",
        "controller", "eps", "nfev", "max error"
    );
    for per_unit_step in [false, true] {
        for eps in [1e-7, 1e-8, 1e-9, 1e-10] {
            match oracle_run(&problem, eps, per_unit_step) {
                Ok((nfev, err)) => println!(
                    "{:>14} {eps:>8.0e} {nfev:>8} {err:>12.3e}",
                    if per_unit_step {
                        "per unit step"
                    } else {
                        "per step"
                    }
                ),
                Err(e) => println!("{eps:e}: {e}"),
            }
        }
    }
}

/// Integrates with RK4 steps accepted when the true local error satisfies the criterion.
fn oracle_run(
    problem: &nodelab::problem::Problem,
    eps: f64,
    per_unit_step: bool,
) -> Result<(u64, f64), String> {
    let d = problem.dim();
    let (mut t, mut y) = (problem.t0, problem.y0.clone());
    let mut h: f64 = 0.01;
    let mut nfev = 0u64;
    let mut times = Vec::new();
    let mut states = Vec::new();
    let mut k = [vec![0.0; d], vec![0.0; d], vec![0.0; d], vec![0.0; d]];
    let mut tmp = vec![0.0; d];
    while t < problem.t_end {
        let h_step = h.min(problem.t_end - t);
        let f = |t: f64, y: &[f64], out: &mut [f64]| problem.system.rhs(t, y, out);
        f(t, &y, &mut k[0]);
        for (s, (c, a)) in [(0.5, 0.5), (0.5, 0.5), (1.0, 1.0)].iter().enumerate() {
            for i in 0..d {
                tmp[i] = y[i] + a * h_step * k[s][i];
            }
            let (head, tail) = k.split_at_mut(s + 1);
            let _ = head;
            f(t + c * h_step, &tmp, &mut tail[0]);
        }
        nfev += 4;
        let y_new: Vec<f64> = (0..d)
            .map(|i| y[i] + h_step / 6.0 * (k[0][i] + 2.0 * (k[1][i] + k[2][i]) + k[3][i]))
            .collect();
        let mut piece = problem.clone();
        piece.t0 = t;
        piece.t_end = t + h_step;
        piece.y0 = y.clone();
        let exact = solver::solve(
            &piece,
            &SolverConfig {
                method: Method::Dopri5,
                tol: REFERENCE_TOL,
                rtol: REFERENCE_TOL,
                ..SolverConfig::default()
            },
        )
        .map_err(|e| e.to_string())?;
        let local = y_new
            .iter()
            .zip(exact.y_final())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        let (ratio, q) = if per_unit_step {
            (local / (eps * h_step), 4.0)
        } else {
            (local / eps, 5.0)
        };
        if ratio <= 1.0 {
            t += h_step;
            y = y_new;
            times.push(t);
            states.push(y.clone());
        }
        h = h_step * (0.9 * ratio.max(1e-12).powf(-1.0 / q)).clamp(0.2, 5.0);
    }
    let reference = reference_states(problem, &times)?;
    let err = states
        .iter()
        .zip(&reference)
        .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
        .fold(0.0, f64::max);
    Ok((nfev, err))
}
