//! The work-precision view: f-evaluations against the achieved error per method (log-log).

use crate::app::charts::axes::{AXIS_LABEL_MIN, decade_spacer, decade_x_spacer, log_formatter};
use crate::app::charts::legend::legend_strip;
use crate::app::charts::series::{grey_out, show_series};
use egui_plot::Plot;

use crate::bench::work_precision::WorkPrecision;
use crate::export::{Dash, Figure, Marker, Rgb, Series, SeriesKind};
use crate::solver::Method;

use super::super::command::Command;
use super::super::model::RunData;
use super::super::sweep::SweepState;
use crate::app::theme::EXACT;

/// The colour and line style of each method: the colour of the first run that uses it (one
/// colour per run, as in every plot); the methods no run uses are grey, told apart by style.
pub fn method_style(m: Method, index: usize, runs: &[RunData]) -> (Rgb, Dash) {
    match runs.iter().find(|r| r.config.method == m) {
        Some(r) => (r.color, Dash::Solid),
        None => (EXACT, Dash::of_component(index + 1)),
    }
}

/// One line per method through its sweep points: x = achieved error, y = f-evaluations; the
/// sweep points at the runs' own settings are marked.
pub fn series(wp: &WorkPrecision, runs: &[RunData]) -> Vec<Series> {
    let mut out = Vec::new();
    for (i, m) in Method::ADAPTIVE.iter().enumerate() {
        let mut pts: Vec<[f64; 2]> = wp
            .points
            .iter()
            .filter(|p| p.method == m.name())
            .filter_map(|p| Some([p.max_error?, p.nfev as f64]))
            .collect();
        pts.sort_by(|a, b| b[0].total_cmp(&a[0]));
        if pts.is_empty() {
            continue;
        }
        let (color, style) = method_style(*m, i, runs);
        out.push(Series {
            name: m.name().into(),
            color,
            kind: SeriesKind::Line { width: 2, style },
            points: pts.clone(),
        });
        out.push(Series {
            name: String::new(),
            color,
            kind: SeriesKind::Markers {
                shape: Marker::Circle,
                size: 3,
            },
            points: pts,
        });
    }
    for (k, run) in runs.iter().enumerate() {
        let here: Vec<[f64; 2]> = wp
            .points
            .iter()
            .filter(|p| {
                p.method == run.config.method.name()
                    && (p.tol - run.config.tol).abs() <= 1e-9 * run.config.tol.abs()
            })
            .filter_map(|p| Some([p.max_error?, p.nfev as f64]))
            .collect();
        if !here.is_empty() {
            out.push(Series {
                name: format!("run {} ({})", k + 1, run.label()),
                color: run.color,
                kind: SeriesKind::Markers {
                    shape: Marker::Square,
                    size: 6,
                },
                points: here,
            });
        }
    }
    out
}

/// The sweep point nearest to `(log10 error, log10 nfev)`, for the hover label.
fn hover_text(wp: &WorkPrecision, x: f64, y: f64) -> Option<String> {
    let p = wp
        .points
        .iter()
        .filter_map(|p| {
            let e = p.max_error.filter(|e| *e > 0.0)?;
            let (dx, dy) = (e.log10() - x, (p.nfev.max(1) as f64).log10() - y);
            Some((dx * dx + dy * dy, p))
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))?
        .1;
    Some(format!(
        "{} at tol {:e}\nerror {:.2e}, {} f-evaluations",
        p.method,
        p.tol,
        p.max_error.unwrap_or(f64::NAN),
        p.nfev
    ))
}

pub fn figure(wp: &WorkPrecision, runs: &[RunData]) -> Figure {
    Figure {
        title: format!(
            "work–precision: {} (reference: {})",
            wp.problem, wp.reference
        ),
        x_label: "achieved max error".into(),
        y_label: "f-evaluations".into(),
        x_log: true,
        y_log: true,
        series: series(wp, runs),
        ..Figure::default()
    }
}

pub fn ui(
    ui: &mut egui::Ui,
    state: &SweepState,
    runs: &[RunData],
    stale: bool,
    commands: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        if state.running() {
            let (d, t) = state.progress;
            ui.spinner();
            ui.label(format!("sweep running: {d} / {t} solves"));
            if ui.button("Cancel").clicked() {
                commands.push(Command::CancelWorkPrecision);
            }
        } else if ui
            .button("Run the tolerance sweep")
            .on_hover_text("zc-rk4-paper, zc-rk4, rk4-doubling, dopri5 at tol 1e-2 … 1e-10 (as the command nodelab bench solvers)")
            .clicked()
        {
            commands.push(Command::RunWorkPrecision);
        }
        if let Some(e) = &state.error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
    });
    let Some(wp) = &state.result else {
        ui.weak("f-evaluations against the achieved error, per adaptive method, over tolerances 1e-2 … 1e-10 for the current problem.");
        return;
    };
    let failed = wp.points.iter().filter(|p| p.error.is_some()).count();
    ui.label(format!(
        "{}: error vs {}, {} solves{}",
        wp.problem,
        wp.reference,
        wp.points.len(),
        if failed > 0 {
            format!(", {failed} failed")
        } else {
            String::new()
        }
    ));
    let mut s = series(wp, runs);
    if stale {
        grey_out(&mut s);
    }
    legend_strip(ui, &s);
    Plot::new("work-precision")
        .custom_x_axes(vec![
            egui_plot::AxisHints::new_x()
                .label("achieved max error (log)")
                .formatter(log_formatter)
                .label_spacing(AXIS_LABEL_MIN..=AXIS_LABEL_MIN + 1.0),
        ])
        .custom_y_axes(vec![
            egui_plot::AxisHints::new_y()
                .label("f-evaluations (log)")
                .formatter(log_formatter)
                .min_thickness(56.0)
                .label_spacing(AXIS_LABEL_MIN..=AXIS_LABEL_MIN + 1.0),
        ])
        .x_grid_spacer(decade_x_spacer)
        .y_grid_spacer(decade_spacer)
        .label_formatter(|pos| match pos {
            egui_plot::HoverPosition::NearDataPoint { position, .. } => {
                hover_text(wp, position.x, position.y)
            }
            egui_plot::HoverPosition::Elsewhere { .. } => None,
        })
        .show(ui, |pui| {
            let logged: Vec<Series> = s
                .into_iter()
                .map(|mut s| {
                    s.points.retain(|p| p[0] > 0.0 && p[1] > 0.0);
                    for p in &mut s.points {
                        p[0] = p[0].log10();
                    }
                    s
                })
                .collect();
            show_series(pui, logged, true);
        });
}
