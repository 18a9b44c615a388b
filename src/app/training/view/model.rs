//! The learned model of the shown method: the flow slider for classifiers, the phase plane with
//! the learned field for 2-D trajectories.

use egui::{Color32, Ui};
use egui_plot::{Legend, Line, Plot};

use super::super::{FieldArrows, TrainingView, TrainingWorkspace};
use crate::train::{Prediction, TaskData};

/// The learned model of the shown method, live: decision regions and the flow of the points,
/// or the predicted trajectory (with the learned field in the phase plane).
pub fn ui(ui: &mut Ui, ws: &TrainingWorkspace, view: &mut TrainingView, height: f32) {
    let Some(m) = ws.methods.get(view.shown) else {
        return;
    };
    ui.strong(format!(
        "learned model: {} (updated at each evaluation)",
        m.method.name()
    ));
    let Some(data) = &ws.data else { return };
    match (&m.prediction, data) {
        (Some(Prediction::Classes { flow, .. }), TaskData::Classes(_))
        | (Some(Prediction::Density { flow, .. }), TaskData::Density(_))
            if flow.len() > 1 =>
        {
            ui.horizontal(|ui| {
                ui.label("flow t");
                ui.add(egui::Slider::new(&mut view.flow_t, 0.0..=1.0))
                    .accessible_name("flow t");
                let label = if view.flow_playing { "⏸" } else { "▶" };
                if ui
                    .button(label)
                    .on_hover_text("animate the points through the ODE block")
                    .clicked()
                {
                    if !view.flow_playing && view.flow_t >= 1.0 {
                        view.flow_t = 0.0;
                    }
                    view.flow_playing = !view.flow_playing;
                }
            });
            if view.flow_playing {
                let dt = ui.input(|i| i.stable_dt).min(0.1);
                view.flow_t = (view.flow_t + dt / 3.0).min(1.0);
                if view.flow_t >= 1.0 {
                    view.flow_playing = false;
                }
                ui.ctx().request_repaint();
            }
        }
        _ => {}
    }
    let m = &ws.methods[view.shown];
    let h = ui.available_height().min(height);
    match (data, &m.field) {
        // A 2-D trajectory: the time plot, and the phase plane with the learned field.
        (TaskData::Trajectory(t), Some(field)) => {
            ui.columns(2, |cols| {
                super::data::ui(
                    &mut cols[0],
                    data,
                    m.prediction.as_ref(),
                    None,
                    &mut view.density,
                    0.0,
                    h,
                );
                phase_plane(&mut cols[1], t, m.prediction.as_ref(), field, h);
            });
        }
        _ => super::data::ui(
            ui,
            data,
            m.prediction.as_ref(),
            m.field.as_ref(),
            &mut view.density,
            view.flow_t,
            h,
        ),
    }
}

/// The phase plane of a 2-D trajectory task: the data, the predicted path and the learned field.
fn phase_plane(
    ui: &mut Ui,
    t: &crate::train::task::TrajectoryData,
    pred: Option<&Prediction>,
    field: &FieldArrows,
    height: f32,
) {
    Plot::new("train-model-phase")
        .height(height)
        .legend(Legend::default().position(egui_plot::Corner::RightTop))
        .x_axis_label("y1")
        .y_axis_label("y2")
        .show(ui, |pui| {
            super::data::field_arrows(pui, field, Color32::from_gray(140).gamma_multiply(0.8));
            let data: Vec<[f64; 2]> = t.states.iter().map(|s| [s[0], s[1]]).collect();
            pui.line(
                Line::new("data", data)
                    .color(Color32::from_gray(120))
                    .width(3.0),
            );
            if let Some(Prediction::Trajectory { states, .. }) = pred {
                let p: Vec<[f64; 2]> = states
                    .iter()
                    .filter(|s| s.len() == 2 && s.iter().all(|v| v.is_finite()))
                    .map(|s| [s[0], s[1]])
                    .collect();
                pui.line(
                    Line::new("model", p)
                        .color(Color32::from_rgb(220, 50, 47))
                        .style(egui_plot::LineStyle::dashed_dense())
                        .width(1.5),
                );
            }
        });
}
