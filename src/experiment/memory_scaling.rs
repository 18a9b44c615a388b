//! `memory-scaling` (all papers' memory claims; reversible-solvers states them as O(n) for
//! backprop against O(1) for the reversible and adjoint methods): the bytes each gradient
//! method keeps for its backward pass (`stored_bytes`, counted from the buffers' lengths) and
//! the heap high-water mark of one call (`peak_heap_bytes`, from the counting allocator: 0
//! outside the `nodelab` binary) against the number of steps N, on the benchmarks' toy problem
//! ([`crate::bench::grad::toy_problem`]) with fixed-step RK4 — the measurement of
//! [`crate::bench::grad::memory_scaling`] over a chosen list of N.
//!
//! Theory lines (drawn through each method's first point): backprop `∝ N` (the tape of every
//! step), checkpoint with the default K = ⌈√N⌉ checkpoints `∝ √N` (K states and one chunk of
//! N/K steps; the accepted-step list, 16 bytes per step, bends it towards N for a small state),
//! the adjoint and the reversible methods `∝ 1`. The verdict compares the log-log slopes of the
//! stored bytes with 1, 1/2 and 0.

use serde_json::json;

use super::plot::{Plot, PlotKind, color};
use super::result::{Check, ExperimentResult, Table, Verdict};
use super::{Control, ControlKind, ExperimentError, RunContext, Settings};
use crate::bench::grad::{bench_methods, toy_problem};
use crate::grad::{GradMethod, GradOptions, measure};
use crate::solver::{Method, SolverConfig};

pub(crate) const CONTROLS: &[Control] = &[
    Control {
        key: "steps",
        label: "steps N",
        help: "numbers of fixed RK4 steps over t ∈ [0, 1]",
        kind: ControlKind::Numbers {
            quick: "10,30,100,300,1000",
            full: "10,30,100,300,1000,3000,10000",
        },
    },
    Control {
        key: "batch",
        label: "batch",
        help: "initial states of the toy problem",
        kind: ControlKind::Integer {
            min: 1,
            max: 1024,
            quick: 16,
            full: 64,
        },
    },
    Control {
        key: "hidden",
        label: "hidden width",
        help: "width of the toy problem's 2-H-2 tanh MLP",
        kind: ControlKind::Integer {
            min: 1,
            max: 512,
            quick: 16,
            full: 32,
        },
    },
];

/// The growth the theory gives for `method`'s stored bytes: exponent of N.
pub fn theory_exponent(method: GradMethod) -> f64 {
    match method {
        GradMethod::Backprop => 1.0,
        GradMethod::Checkpoint => 0.5,
        _ => 0.0,
    }
}

/// The growth of [`theory_exponent`] as written in O(…).
pub fn theory_label(method: GradMethod) -> &'static str {
    match method {
        GradMethod::Backprop => "N",
        GradMethod::Checkpoint => "√N",
        _ => "1",
    }
}

/// Least-squares slope of `ln y` against `ln x` over the points with both positive.
pub fn log_slope(pts: &[(f64, f64)]) -> Option<f64> {
    let logs: Vec<(f64, f64)> = pts
        .iter()
        .filter(|(x, y)| *x > 0.0 && *y > 0.0)
        .map(|(x, y)| (x.ln(), y.ln()))
        .collect();
    if logs.len() < 2 {
        return None;
    }
    let n = logs.len() as f64;
    let mx = logs.iter().map(|p| p.0).sum::<f64>() / n;
    let my = logs.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = logs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = logs.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// One measured cell.
struct Cell {
    steps: usize,
    stored: usize,
    peak: usize,
    time_ms: f64,
}

pub fn run(s: &Settings, ctx: &RunContext) -> Result<ExperimentResult, ExperimentError> {
    let mut steps: Vec<usize> = s.list("steps").iter().map(|v| v.round() as usize).collect();
    steps.sort_unstable();
    steps.dedup();
    steps.retain(|n| *n >= 1);
    if steps.len() < 2 || steps.iter().any(|n| *n > 100_000) {
        return Err(ExperimentError::BadSetting(
            "steps: give at least two step counts, each at most 100000".into(),
        ));
    }
    let p = toy_problem(s.int("batch").max(1), s.int("hidden").max(1));
    let methods: Vec<GradMethod> = bench_methods().collect();
    let total = (steps.len() * methods.len()) as u64;
    let mut cells: Vec<(GradMethod, Vec<Cell>)> =
        methods.iter().map(|m| (*m, Vec::new())).collect();
    let mut table = Table::new(
        "memory-scaling",
        &[
            "method",
            "steps",
            "stored_bytes",
            "peak_heap_bytes",
            "time_ms",
        ],
    );
    let mut done = 0;
    for &n in &steps {
        let mut q = p.clone();
        q.solver = SolverConfig {
            method: Method::Rk4,
            h0: Some((p.t1 - p.t0) / n as f64),
            ..SolverConfig::default()
        };
        let opts = GradOptions {
            reversible_steps: Some(n),
            ..GradOptions::default()
        };
        for (method, row) in &mut cells {
            ctx.check()?;
            ctx.report(&format!("{method} at N = {n}"), done, total);
            let m = measure::measure(&q, *method, &opts, 1)
                .map_err(|e| ExperimentError::Failed(format!("{method} at N = {n}: {e}")))?;
            table.rows.push(vec![
                json!(method.name()),
                json!(n),
                json!(m.output.stored_bytes),
                json!(m.peak_heap_bytes),
                json!(m.time_ms),
            ]);
            row.push(Cell {
                steps: n,
                stored: m.output.stored_bytes,
                peak: m.peak_heap_bytes,
                time_ms: m.time_ms,
            });
            done += 1;
        }
    }
    ctx.report("done", total, total);
    Ok(result(&steps, cells, table))
}

/// The figures, slopes and verdict of the measured cells.
fn result(steps: &[usize], cells: Vec<(GradMethod, Vec<Cell>)>, table: Table) -> ExperimentResult {
    let mut stored_plot = Plot::new(
        "memory-scaling-stored",
        "Bytes kept for the backward pass against steps (dashed: theory)",
        "steps N",
        "stored bytes",
    );
    let mut peak_plot = Plot::new(
        "memory-scaling-peak",
        "Heap high-water mark of one gradient against steps",
        "steps N",
        "peak heap bytes",
    );
    for plot in [&mut stored_plot, &mut peak_plot] {
        plot.x_log = true;
        plot.y_log = true;
    }
    let mut checks = Vec::new();
    let mut slopes = Vec::new();
    let backprop_last = cells
        .iter()
        .find(|(m, _)| *m == GradMethod::Backprop)
        .and_then(|(_, r)| r.last())
        .map_or(usize::MAX, |c| c.stored);
    let mut slope_table = Table::new(
        "memory-scaling-slopes",
        &["method", "theory_exponent", "stored_slope", "peak_slope"],
    );
    for (k, (method, row)) in cells.iter().enumerate() {
        let stored: Vec<(f64, f64)> = row
            .iter()
            .map(|c| (c.steps as f64, c.stored as f64))
            .collect();
        let peak: Vec<(f64, f64)> = row
            .iter()
            .map(|c| (c.steps as f64, c.peak as f64))
            .collect();
        let line = PlotKind::Line {
            width: 2,
            dashed: false,
        };
        stored_plot.push(
            method.name(),
            color(k),
            line,
            stored.iter().map(|(x, y)| [*x, *y]).collect(),
        );
        if row.iter().any(|c| c.peak > 0) {
            peak_plot.push(
                method.name(),
                color(k),
                line,
                peak.iter().map(|(x, y)| [*x, *y]).collect(),
            );
        }
        let theory = theory_exponent(*method);
        if let Some(first) = row.first().filter(|c| c.stored > 0) {
            let (n0, b0) = (first.steps as f64, first.stored as f64);
            stored_plot.push(
                "",
                color(k),
                PlotKind::Line {
                    width: 1,
                    dashed: true,
                },
                row.iter()
                    .map(|c| {
                        let n = c.steps as f64;
                        [n, b0 * (n / n0).powf(theory)]
                    })
                    .collect(),
            );
        }
        let slope = log_slope(&stored);
        let peak_slope = log_slope(&peak);
        slope_table.rows.push(vec![
            json!(method.name()),
            json!(theory),
            slope.map_or(serde_json::Value::Null, |v| json!(v)),
            peak_slope.map_or(serde_json::Value::Null, |v| json!(v)),
        ]);
        // Checkpoint's step list (16 B per step) bends its growth towards N: a wider band.
        let tolerance = if *method == GradMethod::Checkpoint {
            0.3
        } else {
            0.2
        };
        let shown = slope.map_or("no fit".into(), |v| format!("{v:.2}"));
        if *method == GradMethod::Afge {
            // afge keeps P·D sensitivities plus the forward solve's step list (16 B per step),
            // which it replays: O(1) in the sensitivities, a small O(N) term besides.
            let last = row.last().map_or(0, |c| c.stored);
            checks.push(Check {
                statement:
                    "afge stores its sensitivities and a 16-byte step list, less than backprop"
                        .into(),
                holds: last < backprop_last,
                measured: format!(
                    "{} vs backprop {} at the largest N (slope {shown})",
                    crate::mem::fmt_bytes(last as f64),
                    crate::mem::fmt_bytes(backprop_last as f64)
                ),
            });
        } else {
            checks.push(Check {
                statement: format!("{method} stores O({})", theory_label(*method)),
                holds: slope.is_some_and(|v| (v - theory).abs() <= tolerance),
                measured: format!("log-log slope of the stored bytes {shown} (theory {theory})"),
            });
        }
        slopes.push(format!("{method} {shown}"));
    }
    let last = steps[steps.len() - 1];
    let at_last = |m: GradMethod| {
        cells
            .iter()
            .find(|(x, _)| *x == m)
            .and_then(|(_, r)| r.last())
            .map_or(0, |c| c.stored)
    };
    let summary = format!(
        "Theory: backprop O(N), checkpoint O(√N) (K = ⌈√N⌉), adjoint and reversible O(1). \
         Ours (slopes of the stored bytes over N = {}…{last}): {}. At N = {last}: backprop {} \
         against reversible-rk4 {}.",
        steps[0],
        slopes.join(", "),
        crate::mem::fmt_bytes(at_last(GradMethod::Backprop) as f64),
        crate::mem::fmt_bytes(at_last(GradMethod::ReversibleRk4) as f64),
    );
    let total_time_ms = cells
        .iter()
        .flat_map(|(_, r)| r)
        .map(|c| c.time_ms)
        .sum::<f64>();
    let mut data = serde_json::Map::new();
    data.insert("total_time_ms".into(), json!(total_time_ms));
    ExperimentResult {
        verdict: Some(Verdict::from_checks(summary, checks)),
        tables: vec![table, slope_table],
        figures: vec![stored_plot, peak_plot],
        data,
        ..ExperimentResult::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_slope_recovers_a_power_law() {
        let pts: Vec<(f64, f64)> = [1.0, 10.0, 100.0]
            .iter()
            .map(|x: &f64| (*x, 3.0 * x.powf(0.5)))
            .collect();
        let s = log_slope(&pts).unwrap_or(f64::NAN);
        assert!((s - 0.5).abs() < 1e-12, "{s}");
        assert_eq!(log_slope(&[(1.0, 1.0)]), None);
    }
}
