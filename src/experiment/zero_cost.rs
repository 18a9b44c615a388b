//! `zero-cost-steps` (afge-zero-cost-rk4, §Application, Figures 1–4): the step-size patterns of
//! the printed zero-cost RK4 (`zc-rk4-paper`), our robust zero-cost estimator (`zc-rk4`), step
//! doubling and Dopri5 on P1 (paper-bump), P2 (paper-kink), van der Pol and Lorenz at the
//! paper's settings (h0 = 0.1, ε = 1e-2), with the f-evaluations per accepted step.
//!
//! The printed estimate `err = h‖k4 − f(t+h, y_{n+1})‖` is identically zero when f does not
//! depend on y (PAPER-NOTES): on P1 and P2 it takes its first step and then jumps to the end.
//! The table's `err_all_zero` column and the h(t) figures show it.

use serde_json::{Value, json};

use super::plot::{Plot, PlotKind, color};
use super::result::{Check, ExperimentResult, Table, Verdict};
use super::{Control, ControlKind, ExperimentError, RunContext, Settings};
use crate::problem::Problem;
use crate::problem::builtin::{self, BuiltinOverrides};
use crate::solver::{self, Method, Solution, SolverConfig};

pub(crate) const CONTROLS: &[Control] = &[
    Control {
        key: "tol",
        label: "tolerance ε",
        help: "absolute tolerance (the paper: 1e-2)",
        kind: ControlKind::Number {
            min: 1e-12,
            max: 1.0,
            quick: 1e-2,
            full: 1e-2,
        },
    },
    Control {
        key: "h0",
        label: "initial step h0",
        help: "initial step (the paper: 0.1)",
        kind: ControlKind::Number {
            min: 1e-6,
            max: 10.0,
            quick: 0.1,
            full: 0.1,
        },
    },
];

/// The problems of Figures 1–4.
pub const PROBLEMS: [&str; 4] = ["paper-bump", "paper-kink", "van-der-pol", "lorenz"];

/// One solve of the experiment.
pub struct Run {
    pub problem: Problem,
    pub method: Method,
    pub solution: Solution,
}

/// Solves `problem` with `method` at the experiment's settings.
pub fn solve(problem: &Problem, method: Method, tol: f64, h0: f64) -> Result<Solution, String> {
    let config = SolverConfig {
        method,
        tol,
        rtol: 0.0,
        h0: Some(h0),
        ..SolverConfig::default()
    };
    solver::solve(problem, &config).map_err(|e| format!("{} on {}: {e}", method, problem.name))
}

/// Whether every error estimate of the solve is exactly zero.
pub fn estimates_all_zero(s: &Solution) -> bool {
    s.records.iter().all(|r| r.err == Some(0.0))
}

/// One row per solve.
fn table(runs: &[Run]) -> Table {
    let mut table = Table::new(
        "zero-cost-steps",
        &[
            "problem",
            "method",
            "accepted",
            "rejected",
            "nfev",
            "nfev_per_accepted",
            "nfev_per_attempt",
            "err_all_zero",
            "h_min",
            "h_max",
            "max_error",
            "failed",
        ],
    );
    for r in runs {
        let sol = &r.solution;
        let (acc, att) = (sol.accepted(), sol.records.len());
        let per = |n: usize| {
            if n == 0 {
                Value::Null
            } else {
                json!(sol.nfev as f64 / n as f64)
            }
        };
        let (h_lo, h_hi) = sol
            .h_range()
            .map_or((Value::Null, Value::Null), |(a, b)| (json!(a), json!(b)));
        table.rows.push(vec![
            json!(r.problem.name),
            json!(r.method.name()),
            json!(acc),
            json!(sol.rejected()),
            json!(sol.nfev),
            per(acc),
            per(att),
            json!(estimates_all_zero(sol)),
            h_lo,
            h_hi,
            sol.max_error(&r.problem).map_or(Value::Null, |e| json!(e)),
            sol.error
                .as_ref()
                .map_or(Value::Null, |e| json!(e.to_string())),
        ]);
    }

    table
}

/// h against t per problem, accepted steps (markers joined) per method.
fn figures(runs: &[Run], tol: f64, h0: f64) -> Vec<Plot> {
    // Figures: h against t per problem, accepted steps (markers joined) per method.
    let mut figures = Vec::new();
    for name in PROBLEMS {
        let mut p = Plot::new(
            &format!("steps-{name}"),
            &format!("{name}: accepted step sizes (ε = {tol:e}, h0 = {h0})"),
            "t",
            "h",
        );
        p.y_log = true;
        for (k, r) in runs.iter().filter(|r| r.problem.name == name).enumerate() {
            let pts: Vec<[f64; 2]> = r
                .solution
                .records
                .iter()
                .filter(|rec| rec.accepted)
                .map(|rec| [rec.t, rec.h])
                .collect();
            let label = if estimates_all_zero(&r.solution) {
                format!(
                    "{} (err = 0 at every step: {} steps)",
                    r.method.name(),
                    pts.len()
                )
            } else {
                format!("{} ({} steps)", r.method.name(), pts.len())
            };
            p.push(
                &label,
                color(k),
                PlotKind::Line {
                    width: 1,
                    dashed: k % 2 == 1,
                },
                pts.clone(),
            );
            p.push("", color(k), PlotKind::Circles { size: 2 }, pts);
        }
        figures.push(p);
    }

    figures
}

/// The checks of the paper's statements.
fn verdict(runs: &[Run]) -> Verdict {
    // Checks and verdict.
    let find = |problem: &str, m: Method| {
        runs.iter()
            .find(|r| r.problem.name == problem && r.method == m)
    };
    let per_attempt = |m: Method| -> f64 {
        let (n, a) = runs
            .iter()
            .filter(|r| r.method == m && r.solution.error.is_none())
            .fold((0u64, 0usize), |(n, a), r| {
                (n + r.solution.nfev, a + r.solution.records.len())
            });
        if a == 0 {
            f64::NAN
        } else {
            n as f64 / a as f64
        }
    };
    let per_accepted = |m: Method| -> f64 {
        let (n, a) = runs
            .iter()
            .filter(|r| r.method == m && r.solution.error.is_none())
            .fold((0u64, 0usize), |(n, a), r| {
                (n + r.solution.nfev, a + r.solution.accepted())
            });
        if a == 0 {
            f64::NAN
        } else {
            n as f64 / a as f64
        }
    };
    let (zc_att, db_att) = (per_attempt(Method::ZcRk4), per_attempt(Method::Rk4Doubling));
    let (zc_acc, db_acc) = (
        per_accepted(Method::ZcRk4),
        per_accepted(Method::Rk4Doubling),
    );
    let paper_acc = per_accepted(Method::ZcRk4Paper);
    let blind: Vec<String> = ["paper-bump", "paper-kink"]
        .iter()
        .filter_map(|p| find(p, Method::ZcRk4Paper))
        .map(|r| {
            format!(
                "{}: {} accepted steps, err = 0 at every step: {}, max error {:.2e}",
                r.problem.name,
                r.solution.accepted(),
                estimates_all_zero(&r.solution),
                r.solution.max_error(&r.problem).unwrap_or(f64::NAN)
            )
        })
        .collect();
    let blind_holds = ["paper-bump", "paper-kink"].iter().all(|p| {
        find(p, Method::ZcRk4Paper)
            .is_some_and(|r| estimates_all_zero(&r.solution) && r.solution.accepted() <= 2)
    });
    let adapts = ["van-der-pol", "lorenz"].iter().all(|p| {
        find(p, Method::ZcRk4Paper).is_some_and(|r| {
            r.solution.error.is_none() && r.solution.h_range().is_some_and(|(lo, hi)| hi > 2.0 * lo)
        })
    });
    let checks = vec![
        Check {
            statement: "4 f-evaluations per step instead of 11 (step doubling)".into(),
            holds: zc_att < 4.5 && db_att > 9.5,
            measured: format!(
                "per attempted step: zc-rk4 {zc_att:.2}, rk4-doubling {db_att:.2}; per accepted \
                 step: zc-rk4 {zc_acc:.2}, zc-rk4-paper {paper_acc:.2}, rk4-doubling {db_acc:.2}"
            ),
        },
        Check {
            statement: "the printed estimator adapts the step on P1 and P2 (Figures 1–2)".into(),
            holds: !blind_holds,
            measured: format!("printed estimator: {}", blind.join("; ")),
        },
        Check {
            statement:
                "the printed estimator adapts the step on van der Pol and Lorenz (Figures 3–4)"
                    .into(),
            holds: adapts,
            measured: ["van-der-pol", "lorenz"]
                .iter()
                .filter_map(|p| find(p, Method::ZcRk4Paper))
                .map(|r| {
                    let (lo, hi) = r.solution.h_range().unwrap_or((f64::NAN, f64::NAN));
                    format!(
                        "{}: {} accepted, {} rejected, h from {lo:.3e} to {hi:.3e}",
                        r.problem.name,
                        r.solution.accepted(),
                        r.solution.rejected()
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        },
    ];
    let summary = format!(
        "Paper: 4 f-evaluations per step instead of 11, with adapted steps on P1, P2, van der Pol \
         and Lorenz. Ours: {zc_att:.2} (zc-rk4) vs {db_att:.2} (rk4-doubling) f-evaluations per \
         attempted step; the printed estimator adapts on van der Pol and Lorenz but is blind on \
         P1/P2 ({}).",
        blind.join("; ")
    );
    Verdict::from_checks(summary, checks)
}

pub fn run(s: &Settings, ctx: &RunContext) -> Result<ExperimentResult, ExperimentError> {
    let (tol, h0) = (s.num("tol"), s.num("h0"));
    let total = (PROBLEMS.len() * Method::ADAPTIVE.len()) as u64;
    let mut runs = Vec::new();
    for name in PROBLEMS {
        let problem = builtin::build(name, &BuiltinOverrides::default())
            .map_err(|e| ExperimentError::Failed(e.to_string()))?;
        for method in Method::ADAPTIVE {
            ctx.check()?;
            ctx.report(&format!("{name}: {method}"), runs.len() as u64, total);
            let solution = solve(&problem, method, tol, h0).map_err(ExperimentError::Failed)?;
            runs.push(Run {
                problem: problem.clone(),
                method,
                solution,
            });
        }
    }
    ctx.report("tables and figures", total, total);

    let table = table(&runs);
    let figures = figures(&runs, tol, h0);
    let verdict = verdict(&runs);
    Ok(ExperimentResult {
        verdict: Some(verdict),
        tables: vec![table],
        figures,
        ..ExperimentResult::default()
    })
}
