//! `reversible-convergence` (reversible-solvers, the convergence figure and the main theorem):
//! the observed order of Euler, midpoint and RK4 and of their λ-reversible versions (plus ALF
//! and reversible Heun) from a step-halving sweep on the logistic equation
//! `y' = y(1 − y)`, `y(0) = y0`, whose solution is `y(t) = 1 / (1 + (1/y0 − 1) e^{−t})`.
//!
//! The error is `|Y_N − y(T)|`; the order is the least-squares slope of log error against
//! log h over the finest [`FIT_POINTS`] sweep points whose error is above 1e-12 (below it
//! rounding dominates; the coarse points can be pre-asymptotic: reversible Euler's slope over
//! 8…512 steps is 1.33, over the finest four 1.13).

use serde_json::json;

use super::plot::{Plot, PlotKind, color};
use super::result::{Check, ExperimentResult, Table, Verdict};
use super::schemes::{self, Scheme};
use super::{Control, ControlKind, ExperimentError, LAMBDA, RunContext, Settings};

pub(crate) const CONTROLS: &[Control] = &[
    LAMBDA,
    Control {
        key: "n0",
        label: "coarsest number of steps",
        help: "steps of the coarsest solve; each level doubles them",
        kind: ControlKind::Integer {
            min: 2,
            max: 10_000,
            quick: 8,
            full: 8,
        },
    },
    Control {
        key: "levels",
        label: "levels",
        help: "number of step halvings + 1",
        kind: ControlKind::Integer {
            min: 2,
            max: 16,
            quick: 7,
            full: 11,
        },
    },
    Control {
        key: "t_end",
        label: "T",
        help: "end of the span [0, T]",
        kind: ControlKind::Number {
            min: 0.1,
            max: 50.0,
            quick: 4.0,
            full: 4.0,
        },
    },
];

/// The logistic problem's initial value.
pub const Y0: f64 = 0.1;

/// Errors below this are rounding, not truncation.
pub const ERROR_FLOOR: f64 = 1e-12;

/// The exact solution of the logistic equation.
pub fn exact(t: f64) -> f64 {
    1.0 / (1.0 + (1.0 / Y0 - 1.0) * (-t).exp())
}

/// `|Y_N − y(T)|` of `scheme` with `n` steps over `[0, t_end]`.
pub fn error(scheme: Scheme, lambda: f64, t_end: f64, n: usize) -> f64 {
    let f = |_t: f64, y: &[f64]| -> Vec<f64> { y.iter().map(|v| v * (1.0 - v)).collect() };
    let y = schemes::integrate(scheme, lambda, &f, 0.0, &[Y0], t_end / n as f64, n);
    (y[0] - exact(t_end)).abs()
}

/// How many of the finest usable points the order is fitted on.
pub const FIT_POINTS: usize = 4;

/// Least-squares slope of `log e` against `log h` over the [`FIT_POINTS`] smallest `h` with
/// `e > ERROR_FLOOR`.
pub fn fitted_order(points: &[(f64, f64)]) -> Option<f64> {
    let mut usable: Vec<(f64, f64)> = points
        .iter()
        .filter(|(_, e)| *e > ERROR_FLOOR && e.is_finite())
        .copied()
        .collect();
    usable.sort_by(|a, b| a.0.total_cmp(&b.0));
    usable.truncate(FIT_POINTS);
    let pts: Vec<(f64, f64)> = usable.iter().map(|(h, e)| (h.ln(), e.ln())).collect();
    if pts.len() < 2 {
        return None;
    }
    let n = pts.len() as f64;
    let (mx, my) = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

pub fn run(s: &Settings, ctx: &RunContext) -> Result<ExperimentResult, ExperimentError> {
    let (lambda, n0, levels, t_end) = (
        s.num("lambda"),
        s.int("n0"),
        s.int("levels"),
        s.num("t_end"),
    );
    let finest = (n0 as f64) * 2f64.powi(levels as i32 - 1);
    if finest > 4e6 {
        return Err(ExperimentError::BadSetting(format!(
            "n0 · 2^(levels − 1) = {finest:.0} steps is more than the 4e6 allowed"
        )));
    }
    let mut sweep = Table::new("convergence", &["scheme", "steps", "h", "error"]);
    let mut orders = Table::new(
        "convergence-orders",
        &[
            "scheme",
            "expected_order",
            "observed_order",
            "points_fitted",
        ],
    );
    let mut plot = Plot::new(
        "reversible-convergence",
        &format!("Error at T = {t_end} against h, logistic y' = y(1 − y) (λ = {lambda})"),
        "h",
        "|Y_N − y(T)|",
    );
    plot.x_log = true;
    plot.y_log = true;
    let mut checks = Vec::new();
    let mut lines = Vec::new();
    for (k, scheme) in Scheme::ALL.iter().enumerate() {
        ctx.check()?;
        ctx.report(
            &format!("sweeping {}", scheme.name()),
            k as u64,
            Scheme::ALL.len() as u64,
        );
        let pts: Vec<(f64, f64)> = (0..levels)
            .map(|l| {
                let n = n0 << l;
                (t_end / n as f64, error(*scheme, lambda, t_end, n))
            })
            .collect();
        for (h, e) in &pts {
            sweep.rows.push(vec![
                json!(scheme.name()),
                json!((t_end / h).round()),
                json!(h),
                json!(e),
            ]);
        }
        let order = fitted_order(&pts);
        let fitted = pts
            .iter()
            .filter(|(_, e)| *e > ERROR_FLOOR)
            .count()
            .min(FIT_POINTS);
        orders.rows.push(vec![
            json!(scheme.name()),
            json!(scheme.order()),
            order.map_or(serde_json::Value::Null, |o| json!(o)),
            json!(fitted),
        ]);
        let expected = f64::from(scheme.order());
        let measured = order.map_or("no fit".to_string(), |o| format!("{o:.2}"));
        checks.push(Check {
            statement: format!("{} converges with order {}", scheme.name(), scheme.order()),
            holds: order.is_some_and(|o| (o - expected).abs() <= 0.3),
            measured: format!("observed order {measured} over {fitted} points"),
        });
        lines.push(format!(
            "{} {} (expected {})",
            scheme.name(),
            measured,
            scheme.order()
        ));
        let dashed =
            scheme.is_lambda_reversible() || matches!(scheme, Scheme::Alf | Scheme::ReversibleHeun);
        plot.push(
            scheme.name(),
            color(k),
            PlotKind::Line { width: 2, dashed },
            pts.iter().map(|(h, e)| [*h, *e]).collect(),
        );
    }
    let summary = format!(
        "Paper: a λ-reversible solver keeps its base method's order (midpoint 2, RK4 4). Ours \
         (least-squares slopes, λ = {lambda}): {}.",
        lines.join(", ")
    );
    Ok(ExperimentResult {
        verdict: Some(Verdict::from_checks(summary, checks)),
        tables: vec![sweep, orders],
        figures: vec![plot],
        ..ExperimentResult::default()
    })
}
