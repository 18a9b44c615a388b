//! The loss curves, read as TensorBoard and W&B draw them: per method the raw loss faint and its
//! exponential moving average on top (the smoothing of the curve settings), the evaluations as
//! markers joined by a line in the method's colour, against iterations, wall time or
//! cumulative f-evaluations; the legend in a bar above the plot, never over the data. With
//! "small multiples" every method gets a small plot of its own on shared axes.

use egui::{Color32, RichText, Ui};
use egui_plot::{Line, Plot, PlotBounds, PlotPoint, PlotUi, Points, Text};

use super::super::curves::CurveSettings;
use super::super::runs::colour_index;
use super::super::{MethodView, TrainingView, TrainingWorkspace};
use crate::app::charts::axes::{decade_spacer, log_formatter, nice_x_spacer, x_axis_hints};
use crate::app::charts::legend::{LegendKind, legend_entry, legend_strip};
use crate::app::charts::series::{POINT_BUDGET, decimate};
use crate::app::theme::{c32, run_color};
use crate::export::{Dash, Marker, Rgb};
use crate::train::record::MethodStatus;

/// How much of the method's colour the raw curve keeps behind the smoothed one.
const RAW_ALPHA: f32 = 0.22;

/// The loss curves of every method (one plot, or one small plot each).
pub fn ui(ui: &mut Ui, ws: &TrainingWorkspace, view: &mut TrainingView, height: f32) {
    let c = view.curves.clone();
    view.drawn.clear();
    let smoothing = if c.smoothing > 0.0 {
        format!(" · smoothed (EMA {:.2}), raw faint", c.smoothing)
    } else {
        String::new()
    };
    ui.strong(format!(
        "training loss vs {}{smoothing} · evaluations ●",
        c.x_axis.label()
    ));
    let top = ui.cursor().top();
    legend_strip(ui, &legend(ws));
    let height = (height - (ui.cursor().top() - top)).max(100.0);
    if c.small_multiples && panels(ws).len() > 1 {
        small_multiples(ui, ws, view, &c, height);
    } else {
        let plot = styled(Plot::new("train-loss"), &c).height(height);
        let drawn = &mut view.drawn;
        plot.show(ui, |pui| {
            draw_overlays(pui, ws, &c, None);
            for (i, m) in ws.methods.iter().enumerate() {
                draw_method(pui, m, i, &c);
            }
            drawn.push(("all methods".into(), bounds(pui.plot_bounds())));
        });
    }
}

/// The legend bar: a line per method in its colour (× when it diverged), the evaluation marker.
fn legend(ws: &TrainingWorkspace) -> Vec<crate::export::Series> {
    let mut out: Vec<_> = ws
        .methods
        .iter()
        .enumerate()
        .map(|(i, m)| legend_entry(name(m), run_color(i), LegendKind::Line(Dash::Solid)))
        .collect();
    let current: Vec<_> = ws.methods.iter().map(|m| m.method).collect();
    for o in &ws.runs.overlays {
        for (k, m) in o.methods.iter().enumerate() {
            out.push(legend_entry(
                format!("{} · {}", m.method, o.label),
                run_color(colour_index(&current, &m.method, k)),
                LegendKind::Line(Dash::Dashed),
            ));
        }
    }
    out.push(legend_entry(
        "evaluation".into(),
        Rgb(128, 128, 128),
        LegendKind::Marker(Marker::Circle),
    ));
    out
}

fn name(m: &MethodView) -> String {
    match &m.status {
        MethodStatus::Diverged { .. } | MethodStatus::Failed { .. } => {
            format!("{} ×", m.method.name())
        }
        _ => m.method.name().to_string(),
    }
}

fn bounds(b: PlotBounds) -> [f64; 4] {
    [b.min()[0], b.max()[0], b.min()[1], b.max()[1]]
}

/// Axis labels and the log-y formatter.
fn styled<'a>(plot: Plot<'a>, c: &CurveSettings) -> Plot<'a> {
    let plot = plot
        .custom_x_axes(vec![x_axis_hints(c.x_axis.label())])
        .x_grid_spacer(nice_x_spacer);
    if c.log_y {
        plot.y_axis_formatter(log_formatter)
            .y_grid_spacer(decade_spacer)
    } else {
        plot
    }
}

/// One small plot per method on shared axes (the same data range in each, pans and zooms
/// linked), laid out in a near-square grid: the current methods, each with the kept runs'
/// curves of the same method laid over it, then a plot for each overlaid method the current
/// run does not have.
fn small_multiples(
    ui: &mut Ui,
    ws: &TrainingWorkspace,
    view: &mut TrainingView,
    c: &CurveSettings,
    height: f32,
) {
    let panels = panels(ws);
    let n = panels.len();
    let cols = (n as f64).sqrt().ceil() as usize;
    let rows = n.div_ceil(cols);
    let row_h = ((height - 4.0 * rows as f32) / rows as f32).max(60.0);
    let shared = shared_range(ws, c);
    let group = egui::Id::unique("train-loss-multiples");
    for r in 0..rows {
        ui.columns(cols, |cells| {
            for (k, cell) in cells.iter_mut().enumerate() {
                let i = r * cols + k;
                let Some(panel) = panels.get(i) else { continue };
                let (label, colour) = match panel {
                    Panel::Current(j) => (name(&ws.methods[*j]), super::colour(*j)),
                    Panel::Kept(method, slot) => {
                        (format!("{method} (kept runs only)"), c32(run_color(*slot)))
                    }
                };
                cell.label(RichText::new(label).color(colour).small());
                let mut plot = styled(Plot::new(("train-loss", i)), c)
                    .height(row_h - 16.0)
                    .link_axis(group, [true, true])
                    .link_cursor(group, [true, false]);
                if let Some([x0, x1, y0, y1]) = shared {
                    plot = plot.include_x(x0).include_x(x1).include_y(y0).include_y(y1);
                }
                let drawn = &mut view.drawn;
                plot.show(cell, |pui| match panel {
                    Panel::Current(j) => {
                        let m = &ws.methods[*j];
                        draw_overlays(pui, ws, c, Some(m.method.name()));
                        draw_method(pui, m, *j, c);
                        drawn.push((m.method.name().into(), bounds(pui.plot_bounds())));
                    }
                    Panel::Kept(method, _) => {
                        draw_overlays(pui, ws, c, Some(method));
                        drawn.push((method.clone(), bounds(pui.plot_bounds())));
                    }
                });
            }
        });
    }
}

/// What a small plot shows.
enum Panel {
    /// A method of the current run (its index).
    Current(usize),
    /// A method only kept runs laid over the plot have (its name and colour slot).
    Kept(String, usize),
}

/// The small plots: every current method, then every overlaid method not among them.
fn panels(ws: &TrainingWorkspace) -> Vec<Panel> {
    let mut out: Vec<Panel> = (0..ws.methods.len()).map(Panel::Current).collect();
    let current: Vec<_> = ws.methods.iter().map(|m| m.method).collect();
    let mut kept: Vec<&str> = Vec::new();
    for o in &ws.runs.overlays {
        for (k, m) in o.methods.iter().enumerate() {
            let now = current.iter().any(|v| v.name() == m.method);
            if !now && !kept.contains(&m.method.as_str()) {
                kept.push(&m.method);
                out.push(Panel::Kept(
                    m.method.clone(),
                    colour_index(&current, &m.method, k),
                ));
            }
        }
    }
    out
}

/// The range of every method's raw loss on the plot's axes (`[x0, x1, y0, y1]`), the kept
/// runs laid over the plot included, so that the small plots share their axes.
fn shared_range(ws: &TrainingWorkspace, c: &CurveSettings) -> Option<[f64; 4]> {
    let mut r = [
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    let current = ws.methods.iter().map(|m| &m.curve);
    let kept = ws
        .runs
        .overlays
        .iter()
        .flat_map(|o| o.methods.iter().map(|m| &m.curve));
    for curve in current.chain(kept) {
        for p in curve.raw(c.x_axis) {
            let Some(y) = plot_y(p.y, c.log_y) else {
                continue;
            };
            r = [r[0].min(p.x), r[1].max(p.x), r[2].min(y), r[3].max(y)];
        }
    }
    r.iter().all(|v| v.is_finite()).then_some(r)
}

/// A loss as drawn: log10 on a log axis (positive finite values only).
fn plot_y(v: f64, log: bool) -> Option<f64> {
    match (v.is_finite(), log) {
        (true, true) if v > 0.0 => Some(v.log10()),
        (true, false) => Some(v),
        _ => None,
    }
}

/// The kept runs laid over the plot (only `method`'s curves when given): each method's curve
/// (smoothed as the current ones) dashed and faint in the colour of the same method now.
fn draw_overlays(
    pui: &mut PlotUi<'_>,
    ws: &TrainingWorkspace,
    c: &CurveSettings,
    method: Option<&str>,
) {
    let current: Vec<_> = ws.methods.iter().map(|m| m.method).collect();
    let range = {
        let b = pui.plot_bounds();
        Some((b.min()[0], b.max()[0]))
    };
    for o in &ws.runs.overlays {
        for (k, m) in o.methods.iter().enumerate() {
            if method.is_some_and(|name| name != m.method) {
                continue;
            }
            let colour = c32(run_color(colour_index(&current, &m.method, k))).gamma_multiply(0.55);
            let src = if c.smoothing > 0.0 {
                m.curve.smoothed()
            } else {
                m.curve.raw(c.x_axis)
            };
            let pts: Vec<[f64; 2]> = decimate(src, range, POINT_BUDGET)
                .into_iter()
                .filter_map(|p| Some([p.x, plot_y(p.y, c.log_y)?]))
                .collect();
            pui.line(
                Line::new(format!("{} · {}", m.method, o.label), pts)
                    .color(colour)
                    .width(1.5)
                    .style(egui_plot::LineStyle::dashed_dense()),
            );
            let evals: Vec<[f64; 2]> = m
                .evals
                .iter()
                .filter_map(|e| {
                    let x = m.curve.x_of_iter(c.x_axis, e.iter)?;
                    Some([x, plot_y(e.loss, c.log_y)?])
                })
                .collect();
            pui.points(
                Points::new(format!("{} · {} (evaluation)", m.method, o.label), evals)
                    .color(colour)
                    .radius(2.5),
            );
        }
    }
}

/// One method into a plot: the raw curve faint (or alone, without smoothing), the smoothed
/// curve, the evaluations joined by a line, the divergence reason at the end.
fn draw_method(pui: &mut PlotUi<'_>, m: &MethodView, i: usize, c: &CurveSettings) {
    let colour = super::colour(i);
    let range = {
        let b = pui.plot_bounds();
        Some((b.min()[0], b.max()[0]))
    };
    let prepare = |src: &[PlotPoint]| -> Vec<[f64; 2]> {
        decimate(src, range, POINT_BUDGET)
            .into_iter()
            .filter_map(|p| Some([p.x, plot_y(p.y, c.log_y)?]))
            .collect()
    };
    let name = name(m);
    let raw = prepare(m.curve.raw(c.x_axis));
    let last = if c.smoothing > 0.0 {
        pui.line(
            Line::new(format!("{name} (raw)"), raw)
                .color(colour.gamma_multiply(RAW_ALPHA))
                .width(1.0),
        );
        let smoothed = prepare(m.curve.smoothed());
        let last = smoothed.last().copied();
        pui.line(Line::new(name.clone(), smoothed).color(colour).width(2.0));
        last
    } else {
        let last = raw.last().copied();
        pui.line(Line::new(name.clone(), raw).color(colour).width(1.5));
        last
    };
    let evals: Vec<[f64; 2]> = m
        .evals
        .iter()
        .filter_map(|e| {
            let x = m.curve.x_of_iter(c.x_axis, e.iter)?;
            Some([x, plot_y(e.loss, c.log_y)?])
        })
        .collect();
    pui.line(
        Line::new(format!("{name} (evaluation)"), evals.clone())
            .color(colour)
            .width(1.2)
            .style(egui_plot::LineStyle::dashed_loose()),
    );
    pui.points(
        Points::new(format!("{name} (evaluation)"), evals)
            .color(colour)
            .radius(3.0)
            .filled(true),
    );
    if let (
        MethodStatus::Diverged { reason, .. } | MethodStatus::Failed { reason, .. },
        Some(last),
    ) = (&m.status, last)
    {
        pui.text(
            Text::new(
                "",
                PlotPoint::new(last[0], last[1]),
                RichText::new(format!("× {reason}")).color(Color32::from_rgb(220, 50, 47)),
            )
            .anchor(egui::Align2::RIGHT_BOTTOM),
        );
    }
}
