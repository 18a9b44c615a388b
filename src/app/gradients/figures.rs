//! The Gradients workspace's figures and tables as data: the export figures (the same series and
//! colours as on screen) and the CSV files.

use crate::bench::grad::ScalingRow;
use crate::export::{Dash, Figure, Marker, Rgb, Series, SeriesKind};
use crate::grad::GradMethod;
use crate::grad::measure::MethodRow;

use super::{GradResult, Metric};

/// A method's colour: its place in the run's list ([`crate::app::theme::run_color`]).
pub fn method_color(result: &GradResult, m: GradMethod) -> Rgb {
    let i = result
        .comparison
        .methods
        .iter()
        .position(|r| r.method == m)
        .unwrap_or(0);
    crate::app::theme::run_color(i)
}

/// The memory a method keeps as the number of steps N grows, and its exponent in N: backprop
/// stores every step (O(N)); checkpointing K = ⌈√N⌉ states (O(K), exponent ½ with the default
/// K); the adjoints and the reversible solvers keep O(1) states; forward sensitivities carry
/// the P·D matrix S = dy/dθ, independent of N.
pub fn theory(m: GradMethod) -> (&'static str, f64) {
    match m {
        GradMethod::Backprop => ("O(N)", 1.0),
        GradMethod::Checkpoint => ("O(K), K = √N", 0.5),
        GradMethod::Afge => ("O(P·D)", 0.0),
        _ => ("O(1)", 0.0),
    }
}

/// The bars of `metric`, one per method (two for NFE: forward, then backward, side by side),
/// on a log axis: each bar a thick segment from a floor a decade under the smallest value.
pub fn bars_figure(result: &GradResult, metric: Metric) -> Figure {
    let rows: Vec<&MethodRow> = result
        .comparison
        .methods
        .iter()
        .filter(|r| r.error.is_none())
        .collect();
    let positive = |v: f64| v.is_finite() && v > 0.0;
    let min = rows
        .iter()
        .flat_map(|r| metric.values(r))
        .filter(|v| positive(*v))
        .fold(f64::INFINITY, f64::min);
    let floor = if min.is_finite() { min / 10.0 } else { 1.0 };
    let mut series = Vec::new();
    for (i, r) in result.comparison.methods.iter().enumerate() {
        if r.error.is_some() {
            continue;
        }
        let vals = metric.values(r);
        let k = vals.len() as f64;
        let points = vals
            .iter()
            .enumerate()
            .filter(|(_, v)| positive(**v))
            .flat_map(|(j, v)| {
                let x = i as f64 + (j as f64 - (k - 1.0) / 2.0) * 0.3;
                [[x, floor], [x, *v]]
            })
            .collect();
        series.push(Series {
            name: r.method.name().into(),
            color: crate::app::theme::run_color(i),
            kind: SeriesKind::Segments { width: 18 },
            points,
        });
    }
    Figure {
        title: format!("{} per method", metric.title()),
        x_label: "method (in the table's order)".into(),
        y_label: metric.title().into(),
        x_log: false,
        y_log: true,
        series,
        hlines: Vec::new(),
    }
}

/// Stored (solid) and peak heap (dashed) bytes against the step count, log-log, with each
/// method's theory slope (dotted) through its value at the fewest steps.
pub fn scaling_figure(result: &GradResult) -> Figure {
    let mut series = Vec::new();
    for method in methods_of(result) {
        let color = method_color(result, method);
        let rows: Vec<&ScalingRow> = result
            .scaling
            .iter()
            .filter(|r| r.method == method)
            .collect();
        series.push(Series {
            name: format!("{method} stored"),
            color,
            kind: SeriesKind::Line {
                width: 2,
                style: Dash::Solid,
            },
            points: rows
                .iter()
                .map(|r| [r.steps as f64, r.stored_bytes as f64])
                .collect(),
        });
        if rows.iter().any(|r| r.peak_heap_bytes > 0) {
            series.push(Series {
                name: format!("{method} peak heap"),
                color,
                kind: SeriesKind::Line {
                    width: 2,
                    style: Dash::Dashed,
                },
                points: rows
                    .iter()
                    .map(|r| [r.steps as f64, r.peak_heap_bytes as f64])
                    .collect(),
            });
        }
        if let Some(line) = theory_line(&rows) {
            series.push(Series {
                name: format!("{method} theory {}", theory(method).0),
                color,
                kind: SeriesKind::Line {
                    width: 1,
                    style: Dash::Dotted,
                },
                points: line.to_vec(),
            });
        }
    }
    Figure {
        title: "memory scaling (fixed-step rk4)".into(),
        x_label: "steps N".into(),
        y_label: "bytes".into(),
        x_log: true,
        y_log: true,
        series,
        hlines: Vec::new(),
    }
}

/// The theory line of one method's rows: bytes ∝ N^slope through the first row's stored bytes.
pub fn theory_line(rows: &[&ScalingRow]) -> Option<[[f64; 2]; 2]> {
    let first = rows.iter().min_by_key(|r| r.steps)?;
    let last = rows.iter().max_by_key(|r| r.steps)?;
    if first.stored_bytes == 0 || last.steps <= first.steps {
        return None;
    }
    let slope = theory(first.method).1;
    let (n0, n1) = (first.steps as f64, last.steps as f64);
    let b0 = first.stored_bytes as f64;
    Some([[n0, b0], [n1, b0 * (n1 / n0).powf(slope)]])
}

/// The compared methods that have scaling rows, in the comparison's order (so each keeps its
/// colour; the measurement covers more methods than were chosen).
pub fn methods_of(result: &GradResult) -> Vec<GradMethod> {
    result
        .comparison
        .methods
        .iter()
        .map(|r| r.method)
        .filter(|m| result.scaling.iter().any(|r| r.method == *m))
        .collect()
}

/// A gradient of the result: a method's (by index) or the continuous reference (`None`).
pub fn gradient(result: &GradResult, which: Option<usize>) -> Option<(&str, &[f64])> {
    match which {
        None => Some(("continuous reference", &result.comparison.reference.grad)),
        Some(i) => result
            .comparison
            .methods
            .get(i)
            .filter(|r| r.error.is_none())
            .map(|r| (r.method.name(), &r.grad[..])),
    }
}

/// Gradient `b` against gradient `a`, one marker per parameter, with the diagonal.
pub fn scatter_figure(result: &GradResult, a: Option<usize>, b: Option<usize>) -> Option<Figure> {
    let (na, ga) = gradient(result, a)?;
    let (nb, gb) = gradient(result, b)?;
    let points: Vec<[f64; 2]> = ga.iter().zip(gb).map(|(x, y)| [*x, *y]).collect();
    let (lo, hi) = points
        .iter()
        .flatten()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(*v), h.max(*v))
        });
    let color = match b {
        Some(i) => crate::app::theme::run_color(i),
        None => crate::app::theme::EXACT,
    };
    let mut series = vec![Series {
        name: format!("{nb} vs {na}"),
        color,
        kind: SeriesKind::Markers {
            shape: Marker::Circle,
            size: 4,
        },
        points,
    }];
    if lo.is_finite() && hi.is_finite() {
        series.insert(
            0,
            Series {
                name: "diagonal (equal gradients)".into(),
                color: crate::app::theme::EXACT,
                kind: SeriesKind::Line {
                    width: 1,
                    style: Dash::Dashed,
                },
                points: vec![[lo, lo], [hi, hi]],
            },
        );
    }
    Some(Figure {
        title: format!("per-parameter gradient: {nb} against {na}"),
        x_label: format!("dL/dθ_i ({na})"),
        y_label: format!("dL/dθ_i ({nb})"),
        x_log: false,
        y_log: false,
        series,
        hlines: Vec::new(),
    })
}

/// The comparison as CSV: the columns of `nodelab grad`'s table, in plain numbers.
pub fn table_csv(result: &GradResult) -> String {
    let mut out = String::from(
        "method,loss,err_cont,err_disc,time_ms,stored_bytes,peak_heap_bytes,nfe_fwd,nfe_bwd,\
         steps_accepted,steps_rejected,recon_err,error\n",
    );
    for r in &result.comparison.methods {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            r.method.name(),
            r.loss,
            r.err_vs_continuous,
            r.err_vs_discrete,
            r.time_ms,
            r.stored_bytes,
            r.peak_heap_bytes,
            r.nfe_forward,
            r.nfe_backward,
            r.steps_accepted,
            r.steps_rejected,
            r.reconstruction_error
                .map_or(String::new(), |v| v.to_string()),
            r.error
                .as_deref()
                .map_or(String::new(), |e| format!("\"{}\"", e.replace('"', "'"))),
        ));
    }
    out
}

/// The memory scaling as CSV.
pub fn scaling_csv(result: &GradResult) -> String {
    let mut out = String::from("method,steps,stored_bytes,peak_heap_bytes,time_ms\n");
    for r in &result.scaling {
        out.push_str(&format!(
            "{},{},{},{},{}\n",
            r.method.name(),
            r.steps,
            r.stored_bytes,
            r.peak_heap_bytes,
            r.time_ms
        ));
    }
    out
}

/// The two gradients of the scatter as CSV, one parameter a row.
pub fn scatter_csv(result: &GradResult, a: Option<usize>, b: Option<usize>) -> Option<String> {
    let (na, ga) = gradient(result, a)?;
    let (nb, gb) = gradient(result, b)?;
    let mut out = format!("param,{na},{nb}\n");
    for (i, (x, y)) in ga.iter().zip(gb).enumerate() {
        out.push_str(&format!("{i},{x},{y}\n"));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(method: GradMethod, steps: usize, stored: usize) -> ScalingRow {
        ScalingRow {
            steps,
            method,
            stored_bytes: stored,
            peak_heap_bytes: 0,
            time_ms: 1.0,
        }
    }

    #[test]
    fn theory_lines_have_the_slope_of_each_method() {
        let rows = [
            row(GradMethod::Backprop, 10, 800),
            row(GradMethod::Backprop, 1000, 80_000),
        ];
        let refs: Vec<&ScalingRow> = rows.iter().collect();
        let [a, b] = theory_line(&refs).expect("a line");
        // log-log slope 1: a hundred times the steps, a hundred times the bytes.
        assert_eq!(a, [10.0, 800.0]);
        assert!((b[1] / a[1] - 100.0).abs() < 1e-9);
        let rows = [
            row(GradMethod::Checkpoint, 10, 400),
            row(GradMethod::Checkpoint, 1000, 4000),
        ];
        let refs: Vec<&ScalingRow> = rows.iter().collect();
        let [a, b] = theory_line(&refs).expect("a line");
        assert!((b[1] / a[1] - 10.0).abs() < 1e-9, "√100 = 10");
        let rows = [
            row(GradMethod::Adjoint, 10, 64),
            row(GradMethod::Adjoint, 1000, 64),
        ];
        let refs: Vec<&ScalingRow> = rows.iter().collect();
        let [a, b] = theory_line(&refs).expect("a line");
        assert_eq!(a[1], b[1]);
    }
}
