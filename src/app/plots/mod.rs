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

/// Scientific notation with up to three significant digits, trailing zeros dropped (`2.5e-3`).
pub fn short_sci(v: f64) -> String {
    let s = format!("{v:.2e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let m = m.trim_end_matches('0').trim_end_matches('.');
            format!("{m}e{e}")
        }
        None => s,
    }
}

/// Axis labels for a log10-valued axis: `10^k` at integer marks.
pub fn log_formatter(mark: GridMark, _range: &std::ops::RangeInclusive<f64>) -> String {
    let k = mark.value;
    if (k - k.round()).abs() < 1e-9 {
        format!("1e{}", k.round() as i64)
    } else {
        // Between decades: the value itself, two significant digits.
        short_sci(10f64.powf(k))
    }
}

/// Smallest distance in points between two labelled ticks of a y axis (a line of text, with
/// air). The axes are given a smaller minimum label spacing ([`AXIS_LABEL_MIN`]) so that egui
/// labels exactly the marks these spacers mark as labelled, and none of the faint ones.
pub const LABEL_SPACING: f64 = 20.0;
/// egui_plot labels a mark when `step_size` spans more than this many points.
pub const AXIS_LABEL_MIN: f32 = 10.0;
/// `step_size`, in points, of the marks that are grid lines only.
const FAINT: f64 = 9.0;

/// Points per value of an axis, from egui_plot's grid input (`base_step_size` is the value span
/// of its minimum grid spacing, 8 points).
fn points_per_value(input: &egui_plot::GridInput) -> f64 {
    8.0 / input.base_step_size.max(f64::MIN_POSITIVE)
}

/// The smallest of 1, 2, 2.5, 5 × 10^k that is at least `min`.
fn nice_at_least(min: f64) -> f64 {
    let p = 10f64.powf(min.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s >= min * (1.0 - 1e-9))
        .unwrap_or(10.0 * p)
}

/// The largest of 1, 2, 2.5, 5 × 10^k that is at most `max`.
fn nice_at_most(max: f64) -> f64 {
    let p = 10f64.powf(max.log10().floor());
    [10.0, 5.0, 2.5, 2.0, 1.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s <= max * (1.0 + 1e-9))
        .unwrap_or(p)
}

/// Multiples of `step` within `[lo, hi]`.
fn multiples(step: f64, lo: f64, hi: f64) -> Vec<f64> {
    let (a, b) = ((lo / step).ceil() as i64, (hi / step).floor() as i64);
    if b < a || b - a > 5000 {
        return Vec::new();
    }
    (a..=b).map(|k| k as f64 * step).collect()
}

/// Linear axis marks: labelled ticks every 1, 2, 2.5 or 5 × 10^k at least `min_points` apart,
/// and at least three of them however short the axis (the step then shrinks to a third of the
/// range), with faint minor lines in between.
fn linear_marks(input: &egui_plot::GridInput, min_points: f64) -> Vec<GridMark> {
    let (lo, hi) = input.bounds;
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return Vec::new();
    }
    let ppv = points_per_value(input);
    // At most about eight labels on a long axis.
    let min_points = min_points.max((hi - lo) * ppv / 8.0);
    let mut major = nice_at_least(min_points / ppv);
    if multiples(major, lo, hi).len() < 3 {
        major = nice_at_most((hi - lo) / 3.0);
    }
    // egui_plot also skips a label whose text is taller (y) or wider (x) than the step: a
    // labelled mark claims at least `min_points`.
    let labelled = major.max(1.01 * min_points / ppv);
    let minor = major / 5.0;
    let mut marks: Vec<GridMark> = multiples(major, lo, hi)
        .into_iter()
        .map(|v| GridMark {
            // Exact zero rather than -0 or 1e-17.
            value: if v.abs() < major * 1e-9 { 0.0 } else { v },
            step_size: labelled,
        })
        .collect();
    if minor * ppv >= 8.0 && minor * ppv <= FAINT {
        for v in multiples(minor, lo, hi) {
            if ((v / major).round() * major - v).abs() > minor * 1e-6 {
                marks.push(GridMark {
                    value: v,
                    step_size: minor,
                });
            }
        }
    }
    marks
}

/// Grid marks of a linear y axis (see [`linear_marks`]).
pub fn nice_spacer(input: egui_plot::GridInput) -> Vec<GridMark> {
    linear_marks(&input, LABEL_SPACING)
}

/// Grid marks of a linear x axis, whose labels are wider than tall.
pub fn nice_x_spacer(input: egui_plot::GridInput) -> Vec<GridMark> {
    linear_marks(&input, 64.0)
}

/// Grid marks for a log10-valued axis. Decades are labelled, every D-th one on a long axis
/// (D the smallest of 1, 2, 3, 5, 10, 20, 50, 100 that leaves room for the labels); when that
/// labels fewer than three, the mantissas 2 and 5, then 2 … 9, and, zoomed in to less than a
/// decade, round values of the range itself are labelled too, always at least a label's height
/// apart. Unlabelled decades and mantissas are faint lines, as on log paper.
pub fn decade_spacer(input: egui_plot::GridInput) -> Vec<GridMark> {
    log_marks(&input, LABEL_SPACING)
}

/// [`decade_spacer`] for an x axis (labels wider than tall).
pub fn decade_x_spacer(input: egui_plot::GridInput) -> Vec<GridMark> {
    log_marks(&input, 48.0)
}

fn log_marks(input: &egui_plot::GridInput, min_points: f64) -> Vec<GridMark> {
    let (lo, hi) = input.bounds;
    if !(lo.is_finite() && hi.is_finite()) || hi - lo > 300.0 || hi <= lo {
        return Vec::new();
    }
    let ppv = points_per_value(input);
    let min_points = min_points.max((hi - lo) * ppv / 8.0);
    let gap = min_points / ppv;
    let labelled = 1.01 * min_points / ppv;
    let faint = FAINT / ppv;
    let d = [1i64, 2, 3, 5, 10, 20, 50, 100]
        .into_iter()
        .find(|d| *d as f64 >= gap)
        .unwrap_or(100);
    let decades: Vec<i64> = ((lo.ceil() as i64)..=(hi.floor() as i64)).collect();
    let mut labels: Vec<f64> = decades
        .iter()
        .filter(|k| *k % d == 0)
        .map(|k| *k as f64)
        .collect();
    if labels.len() < 3 {
        // Greedy over finer and finer candidates, keeping what is already labelled.
        let mantissas: [&[f64]; 2] = [
            &[1.0, 2.0, 5.0],
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
        ];
        let within = |v: f64| v >= lo && v <= hi;
        let mut sets: Vec<Vec<f64>> = mantissas
            .iter()
            .map(|ms| {
                ((lo.floor() as i64)..=(hi.floor() as i64))
                    .flat_map(|k| ms.iter().map(move |m| k as f64 + m.log10()))
                    .filter(|v| within(*v))
                    .collect()
            })
            .collect();
        let (a, b) = (10f64.powf(lo), 10f64.powf(hi));
        for n in [4.0, 8.0, 16.0] {
            let step = nice_at_most((b - a) / n);
            sets.push(
                multiples(step, a, b)
                    .into_iter()
                    .filter(|v| *v > 0.0)
                    .map(f64::log10)
                    .filter(|v| within(*v))
                    .collect(),
            );
        }
        for set in sets {
            let mut all: Vec<f64> = labels.iter().copied().chain(set).collect();
            all.sort_by(f64::total_cmp);
            all.dedup_by(|x, y| (*x - *y).abs() < 1e-9);
            let mut picked: Vec<f64> = Vec::new();
            for v in all {
                if picked.last().is_none_or(|p| v - p >= gap) {
                    picked.push(v);
                }
            }
            if picked.len() > labels.len() {
                labels = picked;
            }
            if labels.len() >= 3 {
                break;
            }
        }
    }
    let mut marks: Vec<GridMark> = labels
        .iter()
        .map(|v| GridMark {
            value: *v,
            step_size: labelled,
        })
        .collect();
    let is_label = |v: f64| labels.iter().any(|l| (l - v).abs() < 1e-9);
    for k in decades {
        if !is_label(k as f64) {
            marks.push(GridMark {
                value: k as f64,
                step_size: faint,
            });
        }
    }
    if ppv >= 40.0 && hi - lo < 30.0 {
        for k in (lo.floor() as i64)..=(hi.floor() as i64) {
            for m in 2..=9 {
                let v = k as f64 + f64::from(m).log10();
                if v >= lo && v <= hi && !is_label(v) {
                    marks.push(GridMark {
                        value: v,
                        step_size: faint.min(0.9 * labelled),
                    });
                }
            }
        }
    }
    marks
}

/// The labels egui_plot draws on a y axis `points` long showing `bounds`: the marks whose
/// `step_size` spans more than [`AXIS_LABEL_MIN`] points and the text's height, with a
/// non-empty label (tests).
pub fn labelled_ticks(
    spacer: fn(egui_plot::GridInput) -> Vec<GridMark>,
    formatter: fn(GridMark, &std::ops::RangeInclusive<f64>) -> String,
    bounds: (f64, f64),
    points: f64,
) -> Vec<String> {
    let ppv = points / (bounds.1 - bounds.0);
    let input = egui_plot::GridInput {
        bounds,
        base_step_size: 8.0 / ppv,
    };
    let range = bounds.0..=bounds.1;
    let mut marks = spacer(input);
    marks.sort_by(|a, b| a.value.total_cmp(&b.value));
    // egui_plot labels a mark whose step spans more than the axis' minimum label spacing and
    // at least the height of its text (about 16 points).
    marks
        .into_iter()
        .filter(|m| m.step_size * ppv > f64::from(AXIS_LABEL_MIN) && m.step_size * ppv >= 16.0)
        .map(|m| formatter(m, &range))
        .filter(|t| !t.is_empty())
        .collect()
}

/// Axis labels for a linear axis: scientific notation for very large or small values, so that
/// the label width (and with it the left edge of each linked time plot) stays put.
pub fn sci_formatter(mark: GridMark, _range: &std::ops::RangeInclusive<f64>) -> String {
    let v = mark.value;
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e4 || v.abs() < 1e-3 {
        short_sci(v)
    } else {
        // Up to four significant digits, trailing zeros dropped (the marks are round values).
        let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
        let s = format!("{v:.digits$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    }
}

/// A time plot with the shared t axis, cursor and app styling; `show_t`: draw the t axis (the
/// lowest plot of the stack does; the others share it and keep their height for data).
pub fn time_plot(
    id: &str,
    y_label: &str,
    height: f32,
    runs: &[RunData],
    show_t: bool,
) -> Plot<'static> {
    let span = runs
        .iter()
        .find_map(|r| r.problem.as_ref())
        .map_or((0.0, 1.0), |p| (p.t0, p.t_end));
    // Every time plot includes the whole span, so that their automatic bounds agree.
    Plot::new(id.to_string())
        .show_grid(true)
        .include_x(span.0)
        .include_x(span.1)
        .height(height)
        .link_axis(t_link(), [true, false])
        .link_cursor(t_link(), [true, false])
        .custom_x_axes(vec![
            egui_plot::AxisHints::new_x()
                .label("t")
                .formatter(sci_formatter)
                .label_spacing(AXIS_LABEL_MIN..=AXIS_LABEL_MIN + 1.0),
        ])
        .custom_y_axes(vec![
            egui_plot::AxisHints::new_y()
                .label(y_label.to_string())
                .min_thickness(56.0)
                .formatter(sci_formatter)
                .label_spacing(AXIS_LABEL_MIN..=AXIS_LABEL_MIN + 1.0),
        ])
        .x_grid_spacer(nice_x_spacer)
        .y_grid_spacer(nice_spacer)
        .show_axes([show_t, true])
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
    use crate::export::{Dash, Marker, SeriesKind};
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
            SeriesKind::Line { width, style } => {
                let style = match style {
                    Dash::Solid => LineStyle::Solid,
                    Dash::Dashed => LineStyle::dashed_dense(),
                    Dash::Dotted => LineStyle::dotted_dense(),
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

/// Stale results are drawn greyed out: each colour is mixed halfway with grey and thinned.
pub fn grey_out(series: &mut [crate::export::Series]) {
    for s in series {
        let crate::export::Rgb(r, g, b) = s.color;
        let mix = |c: u8| ((u16::from(c) + 2 * 128) / 3) as u8;
        s.color = crate::export::Rgb(mix(r), mix(g), mix(b));
    }
}

/// What a legend entry shows.
pub enum LegendKind {
    Line(crate::export::Dash),
    Marker(crate::export::Marker),
}

/// A legend-only series (no points): a name with its colour and line style or marker.
pub fn legend_entry(
    name: String,
    color: crate::export::Rgb,
    kind: LegendKind,
) -> crate::export::Series {
    crate::export::Series {
        name,
        color,
        kind: match kind {
            LegendKind::Line(style) => crate::export::SeriesKind::Line { width: 2, style },
            LegendKind::Marker(shape) => crate::export::SeriesKind::Markers { shape, size: 3 },
        },
        points: Vec::new(),
    }
}

/// The legend of a plot, drawn above it as one wrapped row of entries (line sample or marker
/// in the series' colour and style, then its name), so that no entry covers data. Returns the
/// height used.
pub fn legend_strip(ui: &mut egui::Ui, series: &[crate::export::Series]) -> f32 {
    let top = ui.cursor().top();
    let mut seen: Vec<&str> = Vec::new();
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 4.0;
        for s in series {
            if s.name.is_empty() || seen.contains(&s.name.as_str()) {
                continue;
            }
            seen.push(&s.name);
            // Swatch and name are one widget, so they stay together when the row wraps.
            legend_item(ui, s);
            ui.add_space(8.0);
        }
    });
    ui.cursor().top() - top
}

/// One legend entry: the swatch (line in its style, or marker) and the name.
fn legend_item(ui: &mut egui::Ui, s: &crate::export::Series) {
    use crate::export::{Dash, SeriesKind};
    let text_color = ui.visuals().text_color();
    let galley = ui.painter().layout_no_wrap(
        s.name.clone(),
        egui::TextStyle::Small.resolve(ui.style()),
        text_color,
    );
    let size = egui::vec2(26.0 + galley.size().x, galley.size().y.max(12.0));
    let (whole, response) = ui.allocate_exact_size(size, egui::Sense::hover());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, s.name.clone()));
    ui.painter().galley(
        egui::pos2(
            whole.left() + 26.0,
            whole.center().y - galley.size().y / 2.0,
        ),
        galley,
        text_color,
    );
    {
        let rect = egui::Rect::from_min_size(
            egui::pos2(whole.left(), whole.center().y - 6.0),
            egui::vec2(22.0, 12.0),
        );
        let color = c32(s.color);
        let y = rect.center().y;
        let p = ui.painter();
        match s.kind {
            SeriesKind::Line { width, style } => {
                let stroke = egui::Stroke::new(width.max(1) as f32 + 0.5, color);
                let (a, b) = (egui::pos2(rect.left(), y), egui::pos2(rect.right(), y));
                match style {
                    Dash::Solid => {
                        p.line_segment([a, b], stroke);
                    }
                    Dash::Dashed => {
                        p.extend(egui::Shape::dashed_line(&[a, b], stroke, 5.0, 3.0));
                    }
                    Dash::Dotted => {
                        p.extend(egui::Shape::dotted_line(&[a, b], color, 3.5, 1.2));
                    }
                }
            }
            SeriesKind::Segments { .. } => {
                p.arrow(
                    egui::pos2(rect.left(), y),
                    egui::vec2(rect.width(), 0.0),
                    egui::Stroke::new(1.0, color),
                );
            }
            SeriesKind::Markers { shape, .. } => {
                let c = rect.center();
                match shape {
                    crate::export::Marker::Circle => {
                        p.circle_filled(c, 3.5, color);
                    }
                    crate::export::Marker::Square => {
                        p.rect_filled(
                            egui::Rect::from_center_size(c, egui::vec2(7.0, 7.0)),
                            0.0,
                            color,
                        );
                    }
                    crate::export::Marker::Cross => {
                        let st = egui::Stroke::new(1.5, color);
                        p.line_segment([c + egui::vec2(-4.0, -4.0), c + egui::vec2(4.0, 4.0)], st);
                        p.line_segment([c + egui::vec2(-4.0, 4.0), c + egui::vec2(4.0, -4.0)], st);
                    }
                }
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
    // One legend for the runs (their colours hold in every plot below); each plot's own strip
    // names only what is particular to it (components by line style, the acceptance line, …).
    let mut entries: Vec<crate::export::Series> = runs
        .iter()
        .map(|r| {
            legend_entry(
                r.label(),
                r.color,
                LegendKind::Line(crate::export::Dash::Solid),
            )
        })
        .collect();
    entries.push(legend_entry(
        "rejected attempt".into(),
        super::theme::REJECTED,
        LegendKind::Marker(crate::export::Marker::Cross),
    ));
    legend_strip(ui, &entries);
    let coeffs = coefficients::coeff_run(runs, view);
    let est = error_ratio::has_estimates(runs);
    let gap = ui.spacing().item_spacing.y;
    let header = if coeffs.is_some() { 24.0 } else { 0.0 };
    let heights = plot_heights(
        ui.available_height() - header - 4.0 * gap,
        est,
        coeffs.is_some(),
    );
    let fits = heights.iter().sum::<f32>() <= ui.available_height() - header - 4.0 * gap + 1.0;
    // Too little room for every plot at a readable height: they scroll instead of shrinking.
    egui::ScrollArea::vertical()
        .vscroll(!fits)
        .auto_shrink([false, false])
        .show(ui, |ui| {
            stacked_time_plots(ui, runs, view, commands, heights, coeffs)
        });
}

/// Minimum readable heights of the solution, h, err/tol and coefficient plots (legend
/// included): three labelled ticks need about 3 × [`LABEL_SPACING`] of axis.
pub const MIN_PLOT_HEIGHTS: [f32; 4] = [110.0, 80.0, 80.0, 130.0];

/// Heights of the stacked time plots in `total` points: shares 1.5 : 1 : 1 : 1.5 (the
/// coefficient plot holds three curves), each at least [`MIN_PLOT_HEIGHTS`].
pub fn plot_heights(total: f32, est: bool, coeffs: bool) -> [f32; 4] {
    let weights = [
        1.5,
        1.0,
        if est { 1.0 } else { 0.0 },
        if coeffs { 1.5 } else { 0.0 },
    ];
    let sum: f32 = weights.iter().sum();
    let mut out = [0.0; 4];
    for k in 0..4 {
        if weights[k] > 0.0 {
            out[k] = (total * weights[k] / sum).max(MIN_PLOT_HEIGHTS[k]);
        }
    }
    out
}

fn stacked_time_plots(
    ui: &mut egui::Ui,
    runs: &[RunData],
    view: &mut ViewState,
    commands: &mut Vec<Command>,
    h: [f32; 4],
    coeffs: Option<usize>,
) {
    let last_t = if coeffs.is_some() {
        3
    } else if h[2] > 0.0 {
        2
    } else {
        1
    };
    solution::ui(ui, runs, view, commands, h[0]);
    step_size::ui(ui, runs, view, commands, h[1], last_t == 1);
    if h[2] > 0.0 {
        error_ratio::ui(ui, runs, view, commands, h[2], last_t == 2);
    }
    if let Some(ri) = coeffs {
        let p = runs[ri].problem.as_ref();
        ui.horizontal_wrapped(|ui| {
            ui.label(format!("a0, a1, a2 of {} for", runs[ri].config.method));
            if let Some(p) = p {
                for (c, name) in p.components.iter().enumerate() {
                    ui.selectable_value(&mut view.coeff_component, c, name);
                }
            }
            ui.separator();
            ui.checkbox(&mut view.show_p_vs_f, "p(τ) vs true f on the selected step");
        });
        coefficients::ui(ui, runs, view, commands, h[3]);
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

    #[test]
    fn every_axis_shows_at_least_three_labelled_ticks() {
        // Linear axes: short and tall, small and large ranges, off-centre.
        for points in [70.0, 90.0, 120.0, 200.0, 400.0] {
            for (lo, hi) in [
                (-2.1, 2.3),
                (0.0, 1.0),
                (0.93, 1.07),
                (-0.004, 0.0012),
                (2.0e4, 9.5e4),
                (-3.3, -2.9),
                (0.0, 15.0),
            ] {
                let labels = labelled_ticks(nice_spacer, sci_formatter, (lo, hi), points);
                assert!(labels.len() >= 3, "{points} pt, [{lo}, {hi}]: {labels:?}");
                let unique: std::collections::BTreeSet<&String> = labels.iter().collect();
                assert_eq!(unique.len(), labels.len(), "distinct labels: {labels:?}");
            }
        }
        // Log axes (values are log10): many decades, a few, one, and zoomed into one.
        for points in [70.0, 90.0, 120.0, 300.0] {
            for (lo, hi) in [
                (-12.0, 0.5),
                (-6.2, -1.1),
                (-3.0, -1.5),
                (-2.4, -1.6),
                (-1.95, -1.85),
                (0.2, 0.9),
                (-16.0, 1.0),
            ] {
                let labels = labelled_ticks(decade_spacer, log_formatter, (lo, hi), points);
                assert!(labels.len() >= 3, "{points} pt, [{lo}, {hi}]: {labels:?}");
                let unique: std::collections::BTreeSet<&String> = labels.iter().collect();
                assert_eq!(unique.len(), labels.len(), "distinct labels: {labels:?}");
            }
        }
        // Whole decades are labelled as such.
        let labels = labelled_ticks(decade_spacer, log_formatter, (-6.2, -1.1), 200.0);
        assert!(labels.contains(&"1e-3".to_string()), "{labels:?}");
    }

    #[test]
    fn labelled_ticks_keep_a_line_of_text_apart() {
        for (spacer, bounds) in [
            (
                nice_spacer as fn(egui_plot::GridInput) -> Vec<GridMark>,
                (-2.1, 2.3),
            ),
            (decade_spacer, (-9.0, 0.0)),
            (decade_spacer, (-2.4, -1.6)),
        ] {
            let points = 90.0;
            let ppv = points / (bounds.1 - bounds.0);
            let mut marks: Vec<GridMark> = spacer(egui_plot::GridInput {
                bounds,
                base_step_size: 8.0 / ppv,
            })
            .into_iter()
            .filter(|m| m.step_size * ppv > f64::from(AXIS_LABEL_MIN))
            .collect();
            marks.sort_by(|a, b| a.value.total_cmp(&b.value));
            for w in marks.windows(2) {
                let gap = (w[1].value - w[0].value) * ppv;
                assert!(gap >= 0.8 * LABEL_SPACING, "{bounds:?}: {gap} points apart");
            }
        }
    }

    #[test]
    fn the_coefficient_plot_gets_the_most_room_with_the_solution() {
        let h = plot_heights(600.0, true, true);
        assert!(h[3] >= h[1] * 1.4 && h[3] >= MIN_PLOT_HEIGHTS[3], "{h:?}");
        let small = plot_heights(200.0, true, true);
        for k in 0..4 {
            assert!(small[k] >= MIN_PLOT_HEIGHTS[k], "{small:?}");
        }
    }
}
