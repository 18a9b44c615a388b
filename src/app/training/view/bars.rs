//! Bars of the mean time and the f-evaluations per iteration, per method.

use egui::Ui;
use egui_plot::{Bar, BarChart, Plot};

use super::super::TrainingWorkspace;

/// Bars of the mean time per iteration and the f-evaluations per iteration, per method.
pub fn ui(ui: &mut Ui, ws: &TrainingWorkspace) {
    ui.strong("ms per iteration (bars) per method");
    let bars: Vec<Bar> = ws
        .methods
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            m.mean(|r| r.ms).map(|v| {
                Bar::new(i as f64, v)
                    .name(m.method.name())
                    .fill(super::colour(i))
                    .width(0.7)
            })
        })
        .collect();
    let names: Vec<String> = ws
        .methods
        .iter()
        .map(|m| m.method.name().to_string())
        .collect();
    Plot::new("train-bars")
        .height(160.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .y_axis_label("ms")
        .x_axis_formatter(move |mark, _| {
            let i = mark.value.round();
            if (mark.value - i).abs() < 1e-6 && i >= 0.0 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .show(ui, |pui| pui.bar_chart(BarChart::new("ms/it", bars)));
}
