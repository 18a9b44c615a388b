//! The Training room's centre: the toolbar, then the six views, one file each: the loss
//! curves ([`loss`]), the learned model ([`model`]) over the task's data ([`data`]), the
//! comparison table ([`table`]), the per-iteration bars ([`bars`]) and the gradient errors
//! ([`grad_errors`]). One colour per method in every plot ([`run_color`] of its index). The
//! views read the room and its view settings; the toolbar emits actions.

pub mod bars;
pub mod data;
pub mod density;
pub mod digits;
pub mod grad_errors;
pub mod loss;
pub mod model;
pub mod table;

use egui::{Color32, RichText, Ui};

use super::{TrainingAction, TrainingView, TrainingWorkspace};
use crate::app::theme::{c32, run_color};
use crate::train::TaskData;

fn colour(i: usize) -> Color32 {
    c32(run_color(i))
}

/// The whole centre.
pub fn ui(
    ui: &mut Ui,
    ws: &TrainingWorkspace,
    view: &mut TrainingView,
    actions: &mut Vec<TrainingAction>,
) {
    if ws.methods.is_empty() {
        ui.heading("Train a neural ODE with several gradient methods side by side");
        ui.label(
            "Pick a task and the gradient methods on the left, then press ▶ Train. Every \
             method trains its own copy of the same initial weights on the same batches, so \
             their curves compare directly: loss, time per iteration, function evaluations, \
             memory, and the learned model as it learns.",
        );
        if let Some(data) = &ws.data {
            ui.add_space(8.0);
            ui.strong(format!("{}: the data", ws.config.task.name()));
            let h = ui.available_height().min(420.0);
            data::ui(ui, data, None, None, &mut view.density, 0.0, h);
        }
        return;
    }
    toolbar(ui, ws, view, actions);
    let h = ui.available_height();
    let top = (h * 0.5).max(180.0);
    ui.columns(2, |cols| {
        loss::ui(&mut cols[0], ws, view, top);
        model::ui(&mut cols[1], ws, view, top);
    });
    ui.separator();
    egui::ScrollArea::vertical()
        .id_salt("train-lower")
        .show(ui, |ui| {
            table::ui(ui, ws, view);
            ui.columns(2, |cols| {
                bars::ui(&mut cols[0], ws);
                grad_errors::ui(&mut cols[1], ws);
            });
        });
}

/// The curve settings: log y, the x axis, the smoothing, small multiples. A change goes to the
/// room as [`TrainingAction::Curves`] (undoable).
fn curve_controls(ui: &mut Ui, view: &TrainingView, actions: &mut Vec<TrainingAction>) {
    use crate::train::curve::{MAX_SMOOTHING, XAxis};
    let mut c = view.curves.clone();
    ui.horizontal_wrapped(|ui| {
        ui.checkbox(&mut c.log_y, "log y");
        ui.separator();
        ui.label("x:");
        for (axis, label, hover) in [
            (
                XAxis::Iteration,
                "iteration",
                "the loss against the iteration",
            ),
            (
                XAxis::WallTime,
                "wall time",
                "the loss against each method's own training time (evaluations excluded)",
            ),
            (
                XAxis::Evaluations,
                "f-evaluations",
                "the loss against each method's cumulative f-evaluations, forward and backward",
            ),
        ] {
            ui.selectable_value(&mut c.x_axis, axis, label)
                .on_hover_text(hover);
        }
        ui.separator();
        // The label before the slider, so that the row wraps between whole controls.
        ui.label("smoothing");
        ui.add(egui::Slider::new(&mut c.smoothing, 0.0..=MAX_SMOOTHING).fixed_decimals(2))
            .on_hover_text(
                "exponential moving average of the loss (TensorBoard's smoothing, debiased at the \
             start); the raw curve stays faint behind it. 0: raw only",
            );
        ui.checkbox(&mut c.small_multiples, "small multiples")
            .on_hover_text("one small plot per method, on shared axes");
    });
    if c != view.curves {
        actions.push(TrainingAction::Curves(c));
    }
}

fn toolbar(
    ui: &mut Ui,
    ws: &TrainingWorkspace,
    view: &mut TrainingView,
    actions: &mut Vec<TrainingAction>,
) {
    curve_controls(ui, view, actions);
    ui.horizontal_wrapped(|ui| {
        ui.label("model shown:");
        for (i, m) in ws.methods.iter().enumerate() {
            ui.selectable_value(
                &mut view.shown,
                i,
                RichText::new(m.method.name()).color(colour(i)),
            );
        }
        let shown = ws.methods.get(view.shown);
        let model = shown.and_then(|m| m.model.clone());
        if ui
            .add_enabled(model.is_some(), egui::Button::new("Open in Explorer"))
            .on_hover_text("watch the adaptive solver on what this method learned")
            .clicked()
            && let (Some(model), Some(m)) = (model, shown)
        {
            let (y0, t_span) = match &ws.data {
                Some(TaskData::Trajectory(t)) => (
                    t.states[0].clone(),
                    [t.times[0], t.times[t.times.len() - 1]],
                ),
                Some(TaskData::Classes(c)) => (
                    c.lift(c.set.test.first().copied().unwrap_or([0.5, 0.0])),
                    [0.0, 1.0],
                ),
                Some(TaskData::Digits(d)) => (
                    d.lift(
                        d.test
                            .first()
                            .or(d.train.first())
                            .map_or(&[][..], Vec::as_slice),
                    ),
                    [0.0, 1.0],
                ),
                Some(TaskData::Density(d)) => (
                    d.set.test.first().copied().unwrap_or([0.5, 0.0]).to_vec(),
                    [0.0, d.t1],
                ),
                None => (vec![0.0; model.mlp.dim()], [0.0, 1.0]),
            };
            let path = std::env::temp_dir().join(format!(
                "nodelab-{}-{}.json",
                ws.config.task.name(),
                m.method.name()
            ));
            actions.push(TrainingAction::OpenInExplorer {
                model,
                path,
                y0,
                t_span,
            });
        }
    });
    for w in &ws.warnings {
        ui.colored_label(ui.visuals().warn_fg_color, w);
    }
}
