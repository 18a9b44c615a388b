//! The gradient error against the reference over iterations (log), when checks are on.

use egui::Ui;
use egui_plot::{Line, Plot, Points};

use super::super::TrainingWorkspace;
use crate::app::charts::axes::{decade_spacer, log_formatter};

/// Gradient error against the reference over iterations (log), when checks are on.
pub fn ui(ui: &mut Ui, ws: &TrainingWorkspace) {
    ui.strong("gradient error vs reference (log)");
    if ws.methods.iter().all(|m| m.checks.is_empty()) {
        ui.weak("gradient checks are off (set “grad check” on the left)");
        return;
    }
    Plot::new("train-grad-err")
        .height(160.0)
        .y_axis_formatter(log_formatter)
        .y_grid_spacer(decade_spacer)
        .x_axis_label("iteration")
        .show(ui, |pui| {
            for (i, m) in ws.methods.iter().enumerate() {
                let pts: Vec<[f64; 2]> = m
                    .checks
                    .iter()
                    .filter(|c| c.err > 0.0)
                    .map(|c| [c.iter as f64, c.err.log10()])
                    .collect();
                pui.line(Line::new(m.method.name(), pts.clone()).color(super::colour(i)));
                pui.points(Points::new("", pts).color(super::colour(i)).radius(2.5));
            }
        });
}
