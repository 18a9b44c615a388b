//! The Gradients room's left panel: where the field and loss come from, the methods and their
//! options, the measurement settings, ▶ Compute / ⏹ Cancel and the progress. The panel reads
//! the room and emits [`GradAction`]s (an edited copy of the setup, undoable; start; cancel):
//! it never writes the setup and never starts or stops the job itself.

use std::path::PathBuf;

use egui::{RichText, Ui};

use super::{GradAction, GradState, GradientsWorkspace, Source};
use crate::grad::GradMethod;

/// What each method is, in a line (hover text of its checkbox).
fn method_help(m: GradMethod) -> &'static str {
    match m {
        GradMethod::Backprop => {
            "reverse mode through the discrete forward solve: stores every step"
        }
        GradMethod::Checkpoint => {
            "the backprop derivative from K stored states, recomputing between them"
        }
        GradMethod::Adjoint => "continuous adjoint: backsolve of [y, a, dL/dθ], O(1) memory",
        GradMethod::InterpAdjoint => "adjoint with y(t) interpolated on a Chebyshev grid",
        GradMethod::Afge => "forward sensitivities S = dy/dθ carried with the state: O(P·D) memory",
        GradMethod::Alf => "asynchronous leapfrog: algebraically reversible, O(1) memory",
        GradMethod::ReversibleHeun => "reversible Heun: exact backprop in O(1) memory",
        GradMethod::ReversibleRk4 => "reversible RK4 (coupling λ): exact backprop in O(1) memory",
        GradMethod::ReversibleMidpoint => "reversible midpoint (coupling λ)",
        GradMethod::Fd => "central finite differences: 2P + 1 forward solves",
    }
}

/// The panel. `presets` are the presets folder's files (the gradient presets among them are
/// offered).
pub fn ui(
    ui: &mut Ui,
    ws: &GradientsWorkspace,
    presets: &[PathBuf],
    actions: &mut Vec<GradAction>,
) {
    ui.heading("Gradients");
    ui.label("Every chosen gradient method once on one neural field and loss, side by side.");
    let running = ws.is_running();
    // The controls and the progress first: always in view, whatever the window's height.
    ui.horizontal(|ui| {
        if ui
            .add_enabled(!running, egui::Button::new("▶ Compute gradients"))
            .clicked()
        {
            actions.push(GradAction::Start);
        }
        if ui
            .add_enabled(running, egui::Button::new("⏹ Cancel"))
            .clicked()
        {
            actions.push(GradAction::Cancel);
        }
    });
    progress(ui, ws);
    ui.separator();
    ui.strong("Field and loss");
    let mut setup = ws.setup.clone();
    ui.add_enabled_ui(!running, |ui| edit_setup(ui, &mut setup, presets));
    if setup != ws.setup {
        actions.push(GradAction::Edit(Box::new(setup)));
    }
}

/// The setup's widgets, on a copy of the setup.
fn edit_setup(ui: &mut Ui, setup: &mut super::GradSetup, presets: &[PathBuf]) {
    for s in [Source::Preset, Source::ModelFile, Source::Training] {
        ui.radio_value(&mut setup.source, s.clone(), s.label());
    }
    match setup.source {
        Source::Preset => {
            ui.horizontal(|ui| {
                ui.label("preset");
                ui.add(egui::TextEdit::singleline(&mut setup.preset).desired_width(f32::INFINITY))
                    .on_hover_text("a .toml with kind = \"neural\" and a [loss] table");
            });
            let grad_presets: Vec<&PathBuf> = presets
                .iter()
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("grad-"))
                })
                .collect();
            if !grad_presets.is_empty() {
                egui::ComboBox::from_id_salt("grad-preset-list")
                    .selected_text("presets folder…")
                    .show_ui(ui, |ui| {
                        for p in grad_presets {
                            let name = p.file_name().map(|n| n.to_string_lossy().to_string());
                            if ui
                                .selectable_label(false, name.unwrap_or_default())
                                .clicked()
                            {
                                setup.preset = p.display().to_string();
                            }
                        }
                    })
                    .response
                    .accessible_name("gradient presets");
            }
        }
        Source::ModelFile => {
            ui.horizontal(|ui| {
                ui.label("model");
                ui.add(egui::TextEdit::singleline(&mut setup.model).desired_width(f32::INFINITY))
                    .on_hover_text(
                        "a model saved by the Training workspace (.json / .safetensors)",
                    );
            });
            ui.weak("on the first batch of the Training workspace's task, with its solver");
        }
        Source::Training => {
            ui.weak(
                "the weights of the method shown in the Training workspace, on the first \
                     batch of its task, with its solver",
            );
        }
    }
    ui.separator();
    ui.strong("Methods");
    for m in GradMethod::ALL {
        let mut on = setup.has(m);
        if ui
            .checkbox(&mut on, m.name())
            .on_hover_text(method_help(m))
            .changed()
        {
            setup.toggle(m, on);
        }
    }
    method_options(ui, setup);
    ui.separator();
    ui.strong("Measurement");
    egui::Grid::new("grad-measure")
        .num_columns(2)
        .show(ui, |ui| {
            ui.label("timed repeats");
            ui.add(egui::DragValue::new(&mut setup.repeats).range(1..=100))
                .accessible_name("timed repeats");
            ui.end_row();
            ui.label("fd check (params)")
                .on_hover_text("parameters on which the continuous reference is cross-checked");
            ui.add(egui::DragValue::new(&mut setup.fd_check).range(0..=100_000))
                .accessible_name("fd check parameters");
            ui.end_row();
            ui.label("reference tol");
            let mut exp = setup.reference_tol.log10().round() as i32;
            if ui
                .add(egui::Slider::new(&mut exp, -14..=-4).text("10^"))
                .on_hover_text("reference tolerance")
                .changed()
            {
                setup.reference_tol = 10f64.powi(exp);
            }
            ui.end_row();
            ui.label("precision").on_hover_text(
                "float type of the measured methods; the references stay f64, so the error \
                     against the discrete gradient shows the f32 rounding",
            );
            ui.horizontal(|ui| {
                for p in crate::grad::Precision::ALL {
                    if ui.radio(setup.precision == p.name(), p.name()).clicked() {
                        setup.precision = p.name().into();
                    }
                }
            });
            ui.end_row();
        });
    if setup.precision == "f32" {
        ui.weak("f32: afge and fd run in f64 only (untick them)");
    }
    ui.checkbox(&mut setup.scaling, "memory scaling (10, 100, 1000 steps)")
        .on_hover_text(
            "stored and peak bytes of each method at fixed-step rk4, as `nodelab bench grad`",
        );
}

/// The options of the methods (`nodelab grad`'s flags).
fn method_options(ui: &mut Ui, setup: &mut super::GradSetup) {
    egui::CollapsingHeader::new("method options")
        .id_salt("grad-method-options")
        .show(ui, |ui| {
            egui::Grid::new("grad-options")
                .num_columns(2)
                .show(ui, |ui| {
                    ui.label("checkpoints (0: √N)");
                    ui.add(egui::DragValue::new(&mut setup.checkpoints).range(0..=100_000))
                        .accessible_name("checkpoints");
                    ui.end_row();
                    ui.label("Chebyshev nodes");
                    ui.add(egui::DragValue::new(&mut setup.cheb_nodes).range(2..=512))
                        .accessible_name("Chebyshev nodes");
                    ui.end_row();
                    ui.label("reversible λ");
                    ui.add(
                        egui::DragValue::new(&mut setup.lambda)
                            .range(0.01..=1.0)
                            .speed(0.01),
                    )
                    .accessible_name("reversible λ");
                    ui.end_row();
                    ui.label("reversible steps (0: auto)");
                    ui.add(egui::DragValue::new(&mut setup.reversible_steps).range(0..=1_000_000))
                        .accessible_name("reversible steps");
                    ui.end_row();
                    ui.label("afge step control");
                    ui.checkbox(&mut setup.afge_augmented, "on [y, S]");
                    ui.end_row();
                });
        });
}

/// The progress line (always visible while running) or the outcome.
fn progress(ui: &mut Ui, ws: &GradientsWorkspace) {
    match &ws.state {
        GradState::Idle => {
            ui.weak("idle");
        }
        GradState::Running { stage, done, total } => {
            let frac = *done as f32 / (*total).max(1) as f32;
            ui.add(
                egui::ProgressBar::new(frac)
                    .text(format!("{done}/{total}: {stage}"))
                    .animate(true),
            );
            ui.weak(format!("{:.1} s", ws.elapsed_s()));
        }
        GradState::Finished => {
            if let Some(r) = &ws.result {
                ui.label(format!(
                    "done: {} methods in {:.1} s",
                    r.comparison.methods.len(),
                    r.seconds
                ));
            }
        }
        GradState::Failed(e) => {
            ui.label(RichText::new(format!("✖ {e}")).color(ui.visuals().error_fg_color));
        }
    }
}
