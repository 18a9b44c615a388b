//! The plot views. Each view draws from the runs' prepared buffers (decimated to the visible
//! range, never altering the data) and can describe itself as an export [`Figure`].

pub mod coefficients;
pub mod error_ratio;
pub mod phase;
pub mod solution;
pub mod step_size;
pub mod work_precision;

use egui::Id;
use egui_plot::{GridMark, Plot, PlotPoint, PlotUi, Span};

use super::command::Command;
use super::model::RunData;
use super::state::{StepRef, ViewState};
use super::theme::{HIGHLIGHT, c32};

/// Link group of the time plots (shared t axis and cursor).
pub fn t_link() -> Id {
    Id::unique("nodelab-t-axis")
}

/// Points drawn per series at most (about two per horizontal pixel of a wide plot).
pub const POINT_BUDGET: usize = 4000;

/// The points of `points` (sorted by x) that fall in `x_range` (plus one either side), reduced
/// to at most `budget` by keeping each bucket's minimum and maximum in order (so spikes stay
/// visible). The data itself is never changed.
pub fn decimate(
    points: &[PlotPoint],
    x_range: Option<(f64, f64)>,
    budget: usize,
) -> Vec<PlotPoint> {
    let (lo, hi) = match x_range {
        Some((a, b)) => (
            points.partition_point(|p| p.x < a).saturating_sub(1),
            (points.partition_point(|p| p.x <= b) + 1).min(points.len()),
        ),
        None => (0, points.len()),
    };
    let visible = &points[lo..hi.max(lo)];
    let budget = budget.max(4);
    if visible.len() <= budget {
        return visible.to_vec();
    }
    let buckets = budget / 2;
    let n = visible.len();
    let mut out = Vec::with_capacity(budget);
    for b in 0..buckets {
        let chunk = &visible[b * n / buckets..(b + 1) * n / buckets];
        let (mut imin, mut imax) = (0, 0);
        for (i, p) in chunk.iter().enumerate() {
            if p.y < chunk[imin].y {
                imin = i;
            }
            if p.y > chunk[imax].y {
                imax = i;
            }
        }
        let (a, b) = (imin.min(imax), imin.max(imax));
        out.push(chunk[a]);
        if b != a {
            out.push(chunk[b]);
        }
    }
    out
}

/// Axis labels for a log10-valued axis: `10^k` at integer marks.
pub fn log_formatter(mark: GridMark, _range: &std::ops::RangeInclusive<f64>) -> String {
    let k = mark.value;
    if (k - k.round()).abs() < 1e-9 {
        format!("1e{}", k.round() as i64)
    } else {
        // Between decades: the value itself, two significant digits.
        let v = 10f64.powf(k);
        if (1e-2..1e3).contains(&v) {
            let digits = (1 - v.log10().floor() as i32).max(0) as usize;
            format!("{v:.digits$}")
        } else {
            format!("{v:.1e}")
        }
    }
}

/// Grid marks for a log10-valued axis: every decade and the minor lines at 2…9 × 10^k (step
/// 0.1, faint), as on log paper. A decade's step is the largest of 1, 2, 5, 10, 20, 50, 100 that
/// divides its exponent, so that labels thin out hierarchically on a short axis.
pub fn decade_spacer(input: egui_plot::GridInput) -> Vec<GridMark> {
    let (lo, hi) = input.bounds;
    if !(lo.is_finite() && hi.is_finite()) || hi - lo > 200.0 {
        return Vec::new();
    }
    let mut marks = Vec::new();
    for k in (lo.floor() as i64)..=(hi.ceil() as i64) {
        let step = [100, 50, 20, 10, 5, 2, 1]
            .into_iter()
            .find(|s| k % s == 0)
            .unwrap_or(1);
        let k = k as f64;
        marks.push(GridMark {
            value: k,
            step_size: step as f64,
        });
        if hi - lo < 30.0 {
            for m in 2..=9 {
                marks.push(GridMark {
                    value: k + f64::from(m).log10(),
                    step_size: 0.1,
                });
            }
        }
    }
    marks.retain(|m| m.value >= lo && m.value <= hi);
    marks
}

/// Axis labels for a linear axis: scientific notation for very large or small values, so that
/// the label width (and with it the left edge of each linked time plot) stays put.
pub fn sci_formatter(mark: GridMark, _range: &std::ops::RangeInclusive<f64>) -> String {
    let v = mark.value;
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e4 || v.abs() < 1e-3 {
        format!("{v:.1e}")
    } else {
        let decimals = (-mark.step_size.log10().floor()).max(0.0) as usize;
        format!("{v:.decimals$}")
    }
}

/// A time plot with the shared t axis, cursor and app styling.
pub fn time_plot(id: &str, y_label: &str, height: f32, runs: &[RunData]) -> Plot<'static> {
    let span = runs
        .iter()
        .find_map(|r| r.problem.as_ref())
        .map_or((0.0, 1.0), |p| (p.t0, p.t_end));
    // Every time plot includes the whole span, so that their automatic bounds agree.
    Plot::new(id.to_string())
        .include_x(span.0)
        .include_x(span.1)
        .height(height)
        .link_axis(t_link(), [true, false])
        .link_cursor(t_link(), [true, false])
        .x_axis_label("t")
        .y_axis_label(y_label.to_string())
        .y_axis_min_width(56.0)
        .y_axis_formatter(sci_formatter)
        .legend(egui_plot::Legend::default().position(egui_plot::Corner::RightTop))
}

/// The focus run (what hovering and clicking in a plot select from).
pub fn focus_run(view: &ViewState, runs: &[RunData]) -> Option<usize> {
    (view.table_run < runs.len()).then_some(view.table_run)
}

/// Shades the selected and the hovered step across a time plot.
pub fn highlight_steps(pui: &mut PlotUi<'_>, view: &ViewState, runs: &[RunData]) {
    for (step, alpha) in [(view.hovered, 40u8), (view.selected, 80u8)] {
        let Some(r) = step.and_then(|s| runs.get(s.run)?.records.get(s.record)) else {
            continue;
        };
        let fill = c32(HIGHLIGHT).gamma_multiply(alpha as f32 / 255.0);
        pui.span(
            Span::new("", r.t..=r.t + r.h)
                .fill(fill)
                .border_width(1.0)
                .border_color(c32(HIGHLIGHT)),
        );
    }
}

/// What the pointer did in a time plot this frame.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pointer {
    pub t: Option<f64>,
    pub clicked: bool,
}

/// Reads the pointer inside a plot (call at the end of the plot closure).
pub fn read_pointer(pui: &PlotUi<'_>) -> Pointer {
    let t = pui
        .response()
        .hovered()
        .then(|| pui.pointer_coordinate())
        .flatten()
        .map(|p| p.x);
    Pointer {
        t,
        clicked: pui.response().clicked(),
    }
}

/// Turns a pointer into hover state and a selection command.
pub fn apply_pointer(
    pointer: Pointer,
    view: &mut ViewState,
    runs: &[RunData],
    commands: &mut Vec<Command>,
) {
    let Some(t) = pointer.t else { return };
    let Some(run) = focus_run(view, runs) else {
        return;
    };
    let hit = runs[run]
        .accepted_step_at(t, view.playback.shown)
        .map(|record| StepRef { run, record });
    if hit.is_some() {
        view.hovered_next = hit;
    }
    if pointer.clicked && hit.is_some() {
        commands.push(Command::Select(hit));
    }
}

/// The visible t range of the linked time plots when the user zoomed (None while the plots
/// fit all data, so that new data keeps extending the view).
pub fn visible_t(pui: &PlotUi<'_>) -> Option<(f64, f64)> {
    if pui.auto_bounds().x {
        None
    } else {
        let b = pui.plot_bounds();
        Some((b.min()[0], b.max()[0]))
    }
}

/// Draws export-style series on screen: the same names, colours, markers and data (`y_log`:
/// the axis shows log10 of the values, with positive values only).
pub fn show_series(pui: &mut PlotUi<'_>, series: Vec<crate::export::Series>, y_log: bool) {
    use crate::export::{Marker, SeriesKind};
    use egui_plot::{LineStyle, MarkerShape, Points};
    for s in series {
        let pts: Vec<[f64; 2]> = if y_log {
            s.points
                .iter()
                .filter(|p| p[1] > 0.0)
                .map(|p| [p[0], p[1].log10()])
                .collect()
        } else {
            s.points
        };
        let color = c32(s.color);
        match s.kind {
            SeriesKind::Line { width, dashed } => {
                let style = if dashed {
                    LineStyle::dashed_dense()
                } else {
                    LineStyle::Solid
                };
                pui.line(
                    egui_plot::Line::new(s.name, pts)
                        .color(color)
                        .width(width as f32)
                        .style(style)
                        .allow_band(false),
                );
            }
            SeriesKind::Segments { width } => {
                for (k, ab) in pts.chunks_exact(2).enumerate() {
                    let name = if k == 0 {
                        s.name.clone()
                    } else {
                        String::new()
                    };
                    pui.line(
                        egui_plot::Line::new(name, vec![ab[0], ab[1]])
                            .color(color)
                            .width(width as f32),
                    );
                }
            }
            SeriesKind::Markers { shape, size } => {
                let shape = match shape {
                    Marker::Circle => MarkerShape::Circle,
                    Marker::Cross => MarkerShape::Cross,
                    Marker::Square => MarkerShape::Square,
                };
                pui.points(
                    Points::new(s.name, pts)
                        .shape(shape)
                        .radius(size as f32)
                        .color(color)
                        .filled(true),
                );
            }
        }
    }
}

/// `decimate` into export-series points.
pub fn prepared(points: &[PlotPoint], x_range: Option<(f64, f64)>, budget: usize) -> Vec<[f64; 2]> {
    if budget == usize::MAX {
        return points.iter().map(|p| [p.x, p.y]).collect();
    }
    decimate(points, x_range, budget)
        .into_iter()
        .map(|p| [p.x, p.y])
        .collect()
}

/// The linked time plots (solution, h, err/tol, coefficients), stacked.
pub fn time_plots(
    ui: &mut egui::Ui,
    runs: &[RunData],
    view: &mut ViewState,
    commands: &mut Vec<Command>,
) {
    if runs.iter().all(|r| r.problem.is_none()) {
        ui.centered_and_justified(|ui| {
            ui.weak("Choose a vector field and solvers on the left, then press ▶ Run.");
        });
        return;
    }
    let coeffs = coefficients::coeff_run(runs, view);
    let est = error_ratio::has_estimates(runs);
    let gap = ui.spacing().item_spacing.y;
    let header = if coeffs.is_some() { 24.0 } else { 0.0 };
    let total = (ui.available_height() - header - 4.0 * gap).max(200.0);
    let weights = [
        1.6,
        1.0,
        if est { 1.0 } else { 0.0 },
        if coeffs.is_some() { 1.1 } else { 0.0 },
    ];
    let sum: f32 = weights.iter().sum();
    let h = |k: usize| (total * weights[k] / sum).max(60.0);
    solution::ui(ui, runs, view, commands, h(0));
    step_size::ui(ui, runs, view, commands, h(1));
    if est {
        error_ratio::ui(ui, runs, view, commands, h(2));
    }
    if let Some(ri) = coeffs {
        let p = runs[ri].problem.as_ref();
        ui.horizontal(|ui| {
            ui.label(format!("a0, a1, a2 of {} for", runs[ri].config.method));
            if let Some(p) = p {
                for (c, name) in p.components.iter().enumerate() {
                    ui.selectable_value(&mut view.coeff_component, c, name);
                }
            }
            ui.separator();
            ui.checkbox(&mut view.show_p_vs_f, "p(τ) vs true f on the selected step");
        });
        coefficients::ui(ui, runs, view, commands, h(3));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimation_keeps_extremes_and_order() {
        let pts: Vec<PlotPoint> = (0..100_000)
            .map(|i| {
                let x = i as f64;
                let y = if i == 54_321 { 1e6 } else { (x * 0.01).sin() };
                PlotPoint::new(x, y)
            })
            .collect();
        let d = decimate(&pts, None, 1000);
        assert!(d.len() <= 1000);
        assert!(d.windows(2).all(|w| w[0].x <= w[1].x));
        assert!(d.iter().any(|p| p.y == 1e6), "the spike survives");
        let small = decimate(&pts[..10], None, 1000);
        assert_eq!(small.len(), 10);
    }

    #[test]
    fn decimation_restricts_to_the_visible_range() {
        let pts: Vec<PlotPoint> = (0..1000).map(|i| PlotPoint::new(i as f64, 0.0)).collect();
        let d = decimate(&pts, Some((100.5, 199.5)), 10_000);
        assert_eq!(d.first().map(|p| p.x), Some(100.0));
        assert_eq!(d.last().map(|p| p.x), Some(200.0));
    }
}
