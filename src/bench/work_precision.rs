//! Work-precision sweeps: f-evaluations against the achieved error, per method, over a range of
//! tolerances (what `nodelab bench solvers` prints and the app's work-precision view plots).
//!
//! The achieved error of a solve is the largest max-norm error at its accepted step ends, against
//! the exact solution when one is known and otherwise against a reference computed with Dopri5 at
//! tolerance 1e-13, restarted at every compared time so that no interpolation error enters.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rayon::prelude::*;
use serde::Serialize;

use crate::problem::Problem;
use crate::solver::{self, Method, Solution, SolverConfig};

/// Tolerances swept by default: 1e-2 … 1e-10.
pub const DEFAULT_TOLERANCES: [f64; 9] = [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10];
/// Accuracy targets reported as "f-evaluations needed to reach".
pub const TARGETS: [f64; 2] = [1e-3, 1e-6];
/// Tolerance of the reference solve for problems without an exact solution.
pub const REFERENCE_TOL: f64 = 1e-13;

/// One solve of the sweep.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SweepPoint {
    pub method: String,
    pub tol: f64,
    pub nfev: u64,
    pub accepted: usize,
    pub rejected: usize,
    /// Largest max-norm global error at the accepted step ends (`null` when the solve failed).
    pub max_error: Option<f64>,
    pub error: Option<String>,
}

/// f-evaluations a method needs to reach an accuracy target (log-log interpolation between the
/// two sweep points around it); `None` when the sweep never reached it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TargetCost {
    pub method: String,
    pub target: f64,
    pub nfev: Option<f64>,
}

/// The sweep of one problem.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct WorkPrecision {
    pub problem: String,
    pub t_span: [f64; 2],
    /// "exact" or the reference used.
    pub reference: String,
    pub points: Vec<SweepPoint>,
    pub targets: Vec<TargetCost>,
}

/// Integrates `problem` tightly from `(t, y)` to `t_to` with Dopri5.
fn reference_step(problem: &Problem, t: f64, y: &[f64], t_to: f64) -> Result<Vec<f64>, String> {
    if t_to <= t {
        return Ok(y.to_vec());
    }
    let mut piece = problem.clone();
    piece.t0 = t;
    piece.t_end = t_to;
    piece.y0 = y.to_vec();
    let config = SolverConfig {
        method: Method::Dopri5,
        tol: REFERENCE_TOL,
        rtol: REFERENCE_TOL,
        max_steps: 10_000_000,
        ..SolverConfig::default()
    };
    let solution = solver::solve(&piece, &config).map_err(|e| e.to_string())?;
    match solution.error {
        Some(e) => Err(format!("reference solve failed: {e}")),
        None => Ok(solution.y_final().to_vec()),
    }
}

/// The reference solution at increasing times `times`.
pub fn reference_states(problem: &Problem, times: &[f64]) -> Result<Vec<Vec<f64>>, String> {
    let mut out = Vec::with_capacity(times.len());
    if let Some(exact) = &problem.exact {
        for &t in times {
            let mut y = vec![0.0; problem.dim()];
            exact(t, &mut y);
            out.push(y);
        }
        return Ok(out);
    }
    let (mut t, mut y) = (problem.t0, problem.y0.clone());
    for &t_next in times {
        y = reference_step(problem, t, &y, t_next)?;
        t = t_next;
        out.push(y.clone());
    }
    Ok(out)
}

/// Largest max-norm error of a solution at its accepted step ends.
pub fn achieved_error(problem: &Problem, solution: &Solution) -> Result<f64, String> {
    let steps: Vec<_> = solution.records.iter().filter(|r| r.accepted).collect();
    let times: Vec<f64> = steps.iter().map(|r| r.t + r.h).collect();
    let reference = reference_states(problem, &times)?;
    Ok(steps
        .iter()
        .zip(&reference)
        .flat_map(|(r, y)| r.y.iter().zip(y).map(|(a, b)| (a - b).abs()))
        .fold(0.0, f64::max))
}

/// f-evaluations needed to reach `target`, interpolated in log-log between sweep points
/// (ordered from loose to tight tolerance).
pub fn nfev_to_reach(points: &[&SweepPoint], target: f64) -> Option<f64> {
    let mut previous: Option<(f64, f64)> = None;
    for p in points {
        let err = p.max_error?;
        let nfev = p.nfev as f64;
        if err <= target {
            return Some(match previous {
                Some((e0, n0)) if e0 > target && err > 0.0 && e0 > err => {
                    let s = (e0.ln() - target.ln()) / (e0.ln() - err.ln());
                    (n0.ln() + s * (nfev.ln() - n0.ln())).exp()
                }
                _ => nfev,
            });
        }
        previous = Some((err, nfev));
    }
    None
}

/// Runs the sweep of `methods` × `tolerances` on `problem`. `progress(done, total)` is called
/// as solves finish (from worker threads); setting `cancel` stops early (finished points are
/// kept).
pub fn sweep(
    problem: &Problem,
    methods: &[Method],
    tolerances: &[f64],
    progress: &(dyn Fn(usize, usize) + Sync),
    cancel: &AtomicBool,
) -> WorkPrecision {
    let jobs: Vec<(Method, f64)> = methods
        .iter()
        .flat_map(|&m| tolerances.iter().map(move |&tol| (m, tol)))
        .collect();
    let total = jobs.len();
    let done = AtomicUsize::new(0);
    let points: Vec<SweepPoint> = jobs
        .par_iter()
        .filter_map(|&(method, tol)| {
            if cancel.load(Ordering::Relaxed) {
                return None;
            }
            let config = SolverConfig {
                method,
                tol,
                rtol: 0.0,
                max_steps: 2_000_000,
                ..SolverConfig::default()
            };
            let point = match solver::solve(problem, &config) {
                Err(e) => SweepPoint {
                    method: method.name().into(),
                    tol,
                    nfev: 0,
                    accepted: 0,
                    rejected: 0,
                    max_error: None,
                    error: Some(e.to_string()),
                },
                Ok(solution) => {
                    let (max_error, error) =
                        match (&solution.error, achieved_error(problem, &solution)) {
                            (Some(e), _) => (None, Some(e.to_string())),
                            (None, Ok(err)) => (Some(err), None),
                            (None, Err(e)) => (None, Some(e)),
                        };
                    SweepPoint {
                        method: method.name().into(),
                        tol,
                        nfev: solution.nfev,
                        accepted: solution.accepted(),
                        rejected: solution.rejected(),
                        max_error,
                        error,
                    }
                }
            };
            progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
            Some(point)
        })
        .collect();
    let targets = methods
        .iter()
        .flat_map(|m| {
            let mine: Vec<&SweepPoint> = points.iter().filter(|p| p.method == m.name()).collect();
            TARGETS.iter().map(move |&target| TargetCost {
                method: m.name().into(),
                target,
                nfev: nfev_to_reach(&mine, target),
            })
        })
        .collect();
    WorkPrecision {
        problem: problem.name.clone(),
        t_span: [problem.t0, problem.t_end],
        reference: if problem.exact.is_some() {
            "exact".into()
        } else {
            format!("dopri5 at tol {REFERENCE_TOL:e}")
        },
        points,
        targets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(tol: f64, nfev: u64, err: f64) -> SweepPoint {
        SweepPoint {
            method: "m".into(),
            tol,
            nfev,
            accepted: 0,
            rejected: 0,
            max_error: Some(err),
            error: None,
        }
    }

    #[test]
    fn target_cost_interpolates_in_log_log() {
        let pts = [point(1e-2, 100, 1e-2), point(1e-4, 1000, 1e-4)];
        let refs: Vec<&SweepPoint> = pts.iter().collect();
        let n = nfev_to_reach(&refs, 1e-3).unwrap();
        assert!((n - 316.227766).abs() < 1e-3, "{n}");
        assert_eq!(nfev_to_reach(&refs, 1e-2), Some(100.0));
        assert_eq!(nfev_to_reach(&refs, 1e-6), None);
    }
}
