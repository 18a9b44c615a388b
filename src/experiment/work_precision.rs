//! `work-precision`: f-evaluations against achieved error over a tolerance sweep for P1, P2,
//! van der Pol and Lorenz and the four adaptive solvers (the sweep of `nodelab bench solvers`,
//! [`crate::bench::work_precision`]), next to the paper's efficiency claim (afge §3: the
//! zero-cost step control is "computationally more efficient than step doubling").

use serde_json::{Value, json};

use super::plot::{Plot, PlotKind, color};
use super::result::{Check, ExperimentResult, Table, Verdict};
use super::{Control, ControlKind, ExperimentError, RunContext, Settings};
use crate::bench::work_precision::{self as wp, WorkPrecision};
use crate::problem::builtin::{self, BuiltinOverrides};
use crate::solver::Method;

pub(crate) const CONTROLS: &[Control] = &[
    Control {
        key: "tolerances",
        label: "tolerances",
        help: "the absolute tolerances swept",
        kind: ControlKind::Numbers {
            quick: "1e-3,1e-4,1e-5,1e-6,1e-7,1e-8",
            full: "1e-2,1e-3,1e-4,1e-5,1e-6,1e-7,1e-8,1e-9,1e-10",
        },
    },
    Control {
        key: "lorenz_t_end",
        label: "Lorenz t_end",
        help: "end of the Lorenz span (errors of a chaotic solve beyond a few time units \
               measure the chaos, not the solver)",
        kind: ControlKind::Number {
            min: 0.1,
            max: 20.0,
            quick: 2.0,
            full: 2.0,
        },
    },
    Control {
        key: "target",
        label: "accuracy target",
        help: "the error at which the f-evaluations are compared",
        kind: ControlKind::Number {
            min: 1e-12,
            max: 1.0,
            quick: 1e-6,
            full: 1e-6,
        },
    },
];

pub const PROBLEMS: [&str; 4] = ["paper-bump", "paper-kink", "van-der-pol", "lorenz"];

/// f-evaluations of `method` to reach `target` in `sweep`, interpolated in log-log.
pub fn cost(sweep: &WorkPrecision, method: Method, target: f64) -> Option<f64> {
    let mut pts: Vec<&wp::SweepPoint> = sweep
        .points
        .iter()
        .filter(|p| p.method == method.name())
        .collect();
    pts.sort_by(|a, b| b.tol.total_cmp(&a.tol));
    wp::nfev_to_reach(&pts, target)
}

/// Compares `a` with `b` at equal accuracy: at `target`, or at 10× or 100× it when one of
/// them did not get that far in the sweep. Returns `(error, nfev of a, nfev of b)`; `None`
/// when no level was reached by both.
pub fn compare(sw: &WorkPrecision, a: Method, b: Method, target: f64) -> Option<(f64, f64, f64)> {
    [1.0, 10.0, 100.0].iter().find_map(|k| {
        let e = target * k;
        Some((e, cost(sw, a, e)?, cost(sw, b, e)?))
    })
}

/// The claim: zero-cost RK4 is cheaper than step doubling at equal accuracy.
fn verdict(sweeps: &[WorkPrecision], target: f64) -> Verdict {
    let describe = |c: Option<(f64, f64, f64)>, name: &str| {
        c.map_or(
            format!("{name} not compared (no common accuracy)"),
            |(e, x, d)| format!("{name} {x:.0} vs rk4-doubling {d:.0} at {e:.0e}"),
        )
    };
    let (mut robust_wins, mut printed_wins, mut lines) = (0, 0, Vec::new());
    for sw in sweeps {
        let zc = compare(sw, Method::ZcRk4, Method::Rk4Doubling, target);
        let paper = compare(sw, Method::ZcRk4Paper, Method::Rk4Doubling, target);
        let dp = compare(sw, Method::Dopri5, Method::Rk4Doubling, target);
        robust_wins += usize::from(zc.is_some_and(|(_, x, d)| x < d));
        printed_wins += usize::from(paper.is_some_and(|(_, x, d)| x < d));
        lines.push(format!(
            "{}: {}; {}; {}",
            sw.problem,
            describe(paper, "zc-rk4-paper"),
            describe(zc, "zc-rk4"),
            describe(dp, "dopri5")
        ));
    }
    let n = sweeps.len();
    let checks = vec![
        Check {
            statement: "the printed zero-cost RK4 needs fewer f-evaluations than step doubling \
                        for equal accuracy"
                .into(),
            holds: printed_wins == n,
            measured: format!("cheaper on {printed_wins} of {n} problems"),
        },
        Check {
            statement: "a zero-cost RK4 (our robust estimator) needs fewer f-evaluations than \
                        step doubling for equal accuracy"
                .into(),
            holds: robust_wins == n,
            measured: format!("cheaper on {robust_wins} of {n} problems"),
        },
    ];
    let summary = format!(
        "Paper: zero-cost step control is more efficient than step doubling (4 vs 11 \
         f-evaluations per step). Ours, f-evaluations at equal max error: {}.",
        lines.join("; ")
    );
    Verdict::from_checks(summary, checks)
}

pub fn run(s: &Settings, ctx: &RunContext) -> Result<ExperimentResult, ExperimentError> {
    let tolerances = s.list("tolerances");
    let target = s.num("target");
    let mut sweeps = Vec::new();
    let total = (PROBLEMS.len() * Method::ADAPTIVE.len() * tolerances.len()) as u64;
    for (k, name) in PROBLEMS.iter().enumerate() {
        ctx.check()?;
        let overrides = BuiltinOverrides {
            t_end: (*name == "lorenz").then(|| s.num("lorenz_t_end")),
            ..BuiltinOverrides::default()
        };
        let problem =
            builtin::build(name, &overrides).map_err(|e| ExperimentError::Failed(e.to_string()))?;
        let base = (k * Method::ADAPTIVE.len() * tolerances.len()) as u64;
        let stage = format!("sweeping {name}");
        let progress = |done: usize, _total: usize| ctx.report(&stage, base + done as u64, total);
        sweeps.push(wp::sweep(
            &problem,
            &Method::ADAPTIVE,
            &tolerances,
            &progress,
            &ctx.cancel,
        ));
        ctx.check()?;
    }
    ctx.report("tables and figures", total, total);

    let mut points = Table::new(
        "work-precision",
        &[
            "problem",
            "method",
            "tol",
            "nfev",
            "accepted",
            "rejected",
            "max_error",
            "error",
        ],
    );
    let mut costs = Table::new(
        "work-precision-cost",
        &["problem", "method", "target", "nfev_to_reach"],
    );
    let mut figures = Vec::new();
    for sw in &sweeps {
        let mut p = Plot::new(
            &format!("work-precision-{}", sw.problem),
            &format!(
                "{}: f-evaluations against achieved error ({})",
                sw.problem, sw.reference
            ),
            "max error at the step ends",
            "f-evaluations",
        );
        p.x_log = true;
        p.y_log = true;
        for (k, m) in Method::ADAPTIVE.iter().enumerate() {
            let mut mine: Vec<&wp::SweepPoint> =
                sw.points.iter().filter(|q| q.method == m.name()).collect();
            mine.sort_by(|a, b| b.tol.total_cmp(&a.tol));
            for q in &mine {
                points.rows.push(vec![
                    json!(sw.problem),
                    json!(q.method),
                    json!(q.tol),
                    json!(q.nfev),
                    json!(q.accepted),
                    json!(q.rejected),
                    q.max_error.map_or(Value::Null, |e| json!(e)),
                    q.error.as_ref().map_or(Value::Null, |e| json!(e)),
                ]);
            }
            let pts: Vec<[f64; 2]> = mine
                .iter()
                .filter_map(|q| q.max_error.map(|e| [e, q.nfev as f64]))
                .collect();
            p.push(
                m.name(),
                color(k),
                PlotKind::Line {
                    width: 2,
                    dashed: false,
                },
                pts.clone(),
            );
            p.push("", color(k), PlotKind::Circles { size: 3 }, pts);
            costs.rows.push(vec![
                json!(sw.problem),
                json!(m.name()),
                json!(target),
                cost(sw, *m, target).map_or(Value::Null, |n| json!(n)),
            ]);
        }
        figures.push(p);
    }

    let verdict = verdict(&sweeps, target);
    Ok(ExperimentResult {
        verdict: Some(verdict),
        tables: vec![points, costs],
        figures,
        ..ExperimentResult::default()
    })
}
