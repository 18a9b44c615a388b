//! The work-precision view: f-evaluations against the achieved error per method (log-log).

use egui_plot::Plot;

use crate::bench::work_precision::WorkPrecision;
use crate::export::{Figure, Marker, Series, SeriesKind};
use crate::solver::Method;

use super::super::command::Command;
use super::super::sweep::SweepState;
use super::super::theme::run_color;

/// One line per method through its sweep points: x = achieved error, y = f-evaluations.
pub fn series(wp: &WorkPrecision) -> Vec<Series> {
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
        out.push(Series {
            name: m.name().into(),
            color: run_color(i),
            kind: SeriesKind::Line {
                width: 2,
                dashed: false,
            },
            points: pts.clone(),
        });
        out.push(Series {
            name: String::new(),
            color: run_color(i),
            kind: SeriesKind::Markers {
                shape: Marker::Circle,
                size: 3,
            },
            points: pts,
        });
    }
    out
}

pub fn figure(wp: &WorkPrecision) -> Figure {
    Figure {
        title: format!(
            "work–precision: {} (reference: {})",
            wp.problem, wp.reference
        ),
        x_label: "achieved max error".into(),
        y_label: "f-evaluations".into(),
        x_log: true,
        y_log: true,
        series: series(wp),
        ..Figure::default()
    }
}

pub fn ui(ui: &mut egui::Ui, state: &SweepState, commands: &mut Vec<Command>) {
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
            .on_hover_text("zc-rk4-paper, zc-rk4, rk4-doubling, dopri5 at tol 1e-2 … 1e-10 (as `nodelab bench solvers`)")
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
    let s = series(wp);
    Plot::new("work-precision")
        .custom_x_axes(vec![
            egui_plot::AxisHints::new_x()
                .label("achieved max error (log)")
                .formatter(super::log_formatter)
                .label_spacing(34.0..=50.0),
        ])
        .y_axis_label("f-evaluations (log)")
        .y_axis_formatter(super::log_formatter)
        .x_grid_spacer(super::decade_spacer)
        .y_grid_spacer(super::decade_spacer)
        .legend(egui_plot::Legend::default().position(egui_plot::Corner::RightTop))
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
            super::show_series(pui, logged, true);
        });
}
