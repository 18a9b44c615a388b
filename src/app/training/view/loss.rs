//! The loss curves: one line per method against iterations or wall time, the evaluations as
//! markers (log y by default).

use egui::{Color32, RichText, Ui};
use egui_plot::{Legend, Line, Plot, PlotPoint, Points, Text};

use super::super::{TrainingView, TrainingWorkspace};
use crate::app::charts::axes::{decade_spacer, log_formatter};
use crate::app::charts::series::{POINT_BUDGET, decimate};
use crate::train::record::MethodStatus;

/// The loss curves of every method, against iterations or wall time.
pub fn ui(ui: &mut Ui, ws: &TrainingWorkspace, view: &TrainingView, height: f32) {
    ui.strong(if view.by_time {
        "training loss vs wall time (s) · evaluations ●"
    } else {
        "training loss vs iteration · evaluations ●"
    });
    let log = view.log_y;
    let y = move |v: f64| if log { v.log10() } else { v };
    let mut plot = Plot::new("train-loss")
        .height(height)
        .legend(Legend::default().position(egui_plot::Corner::RightTop))
        .x_axis_label(if view.by_time { "s" } else { "iteration" });
    if log {
        plot = plot
            .y_axis_formatter(log_formatter)
            .y_grid_spacer(decade_spacer);
    }
    plot.show(ui, |pui| {
        let range = {
            let b = pui.plot_bounds();
            Some((b.min()[0], b.max()[0]))
        };
        for (i, m) in ws.methods.iter().enumerate() {
            let src = if view.by_time {
                &m.loss_by_time
            } else {
                &m.loss_by_iter
            };
            let pts: Vec<[f64; 2]> = decimate(src, range, POINT_BUDGET)
                .into_iter()
                .filter(|p| p.y.is_finite() && (!log || p.y > 0.0))
                .map(|p| [p.x, y(p.y)])
                .collect();
            let name = match &m.status {
                MethodStatus::Diverged { .. } => format!("{} ×", m.method.name()),
                _ => m.method.name().to_string(),
            };
            pui.line(
                Line::new(name, pts.clone())
                    .color(super::colour(i))
                    .width(1.5),
            );
            let evals: Vec<[f64; 2]> = m
                .evals
                .iter()
                .filter(|e| e.loss.is_finite() && (!log || e.loss > 0.0))
                .filter_map(|e| {
                    let x = if view.by_time {
                        m.records
                            .iter()
                            .find(|r| r.iter == e.iter)
                            .map_or(if e.iter == 0 { Some(0.0) } else { None }, |r| {
                                Some(r.wall_s)
                            })?
                    } else {
                        e.iter as f64
                    };
                    Some([x, y(e.loss)])
                })
                .collect();
            pui.points(
                Points::new("", evals)
                    .color(super::colour(i))
                    .radius(3.5)
                    .filled(true),
            );
            if let (MethodStatus::Diverged { reason, .. }, Some(last)) = (&m.status, pts.last()) {
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
    });
}
