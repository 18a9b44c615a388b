//! The Gradients room as the shell sees it: its launch settings, its panels, and its one apply
//! point (setup edits with undo, start and cancel, exports through the shared jobs).

use std::any::Any;
use std::path::Path;

use super::{
    GradAction, GradSetup, GradState, GradientsWorkspace, Source, TrainingInputs, setup, view,
};
use crate::app::jobs::JobResult;
use crate::app::room::{Claim, Launch, Restore, Room, RoomCx, RoomInfo};
use crate::app::training::TrainingWorkspace;

const GRADIENTS_KEY: &str = "nodelab-gradients";

/// What the Training room holds now (the weights and data a run may measure).
fn training_inputs(cx: &RoomCx<'_>) -> TrainingInputs {
    match cx.room::<TrainingWorkspace>() {
        Some(t) => TrainingInputs::of(t),
        None => TrainingInputs::of(&TrainingWorkspace::default()),
    }
}

impl Room for GradientsWorkspace {
    fn info() -> RoomInfo {
        RoomInfo {
            name: "gradients",
            label: "Gradients",
            help: "gradient methods side by side on one neural ODE: error, time, memory",
        }
    }

    fn restore(from: Restore<'_>) -> Self {
        GradientsWorkspace::new(
            (from.stored)(GRADIENTS_KEY)
                .map(|t| GradSetup::from_json(&t))
                .unwrap_or_default(),
        )
    }

    fn save(&self, put: &mut dyn FnMut(&'static str, String)) {
        if let Some(g) = self.setup.to_json() {
            put(GRADIENTS_KEY, g);
        }
    }

    /// Opened at launch, this room takes a gradient preset and the start (a training preset
    /// is the Training room's).
    fn claim(&self, _what: Claim, launch: &Launch<'_>) -> Option<u8> {
        let training_preset = launch
            .preset_text
            .is_some_and(crate::train::preset::is_train_preset);
        (launch.opened && !training_preset).then_some(3)
    }

    fn launch(
        &mut self,
        _launch: &Launch<'_>,
        preset: Option<&Path>,
        start: bool,
        cx: &mut RoomCx<'_>,
    ) {
        if let Some(p) = preset {
            let mut next = self.setup.clone();
            next.source = Source::Preset;
            next.preset = p.display().to_string();
            self.edits.apply_discrete(&mut self.setup, next);
        }
        if start {
            self.start(training_inputs(cx));
        }
    }

    fn busy(&self) -> bool {
        self.is_running()
    }

    fn poll(&mut self, ctx: &egui::Context, cx: &mut RoomCx<'_>) {
        let was_running = self.is_running();
        GradientsWorkspace::poll(self);
        if self.is_running() {
            ctx.request_repaint_after(std::time::Duration::from_millis(50));
        } else if was_running && let GradState::Failed(e) = &self.state {
            cx.shared.toasts.error(format!("gradients: {e}"));
        }
    }

    fn panels(&mut self, ui: &mut egui::Ui, cx: &mut RoomCx<'_>) {
        egui::Panel::left("grad-setup")
            .resizable(true)
            .default_size(300.0)
            .min_size(240.0)
            .max_size(420.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .id_salt("grad-setup-scroll")
                    .show(ui, |ui| {
                        let mut actions = std::mem::take(&mut self.actions);
                        setup::ui(ui, self, &cx.shared.presets, &mut actions);
                        self.actions = actions;
                    });
            });
        let GradientsWorkspace {
            result,
            view: settings,
            export_path,
            error,
            actions,
            ..
        } = self;
        let mut centre = view::Centre {
            view: settings,
            export_path,
            error,
            actions,
        };
        egui::CentralPanel::default().show(ui, |ui| view::ui(ui, result.as_ref(), &mut centre));
    }

    fn undo(&mut self) {
        self.actions.push(GradAction::Undo);
    }

    fn redo(&mut self) {
        self.actions.push(GradAction::Redo);
    }

    fn undo_depth(&self) -> (usize, usize) {
        self.edits.depth()
    }

    fn apply(&mut self, cx: &mut RoomCx<'_>) {
        for action in std::mem::take(&mut self.actions) {
            match action {
                GradAction::Edit(next) => {
                    self.edits
                        .apply(&mut self.setup, *next, std::time::Instant::now());
                }
                GradAction::Undo => {
                    if !self.edits.undo(&mut self.setup) {
                        cx.shared.toasts.info("nothing to undo");
                    }
                }
                GradAction::Redo => {
                    if !self.edits.redo(&mut self.setup) {
                        cx.shared.toasts.info("nothing to redo");
                    }
                }
                GradAction::Start => self.start(training_inputs(cx)),
                GradAction::Cancel => self.cancel(),
                GradAction::ExportPlot { figure, path } => {
                    let format = if path.extension().is_some_and(|e| e == "svg") {
                        crate::export::Format::Svg
                    } else {
                        crate::export::Format::Png
                    };
                    cx.shared.jobs.spawn("gradients-plot", move || {
                        JobResult::Exported(
                            crate::export::write(&figure, &path, format)
                                .map(|()| path.clone())
                                .map_err(|e| e.to_string()),
                        )
                    });
                }
                GradAction::ExportCsv { text, path } => {
                    cx.shared.jobs.spawn("gradients-csv", move || {
                        JobResult::Exported(crate::app::jobs::write_text(&path, &text))
                    });
                }
            }
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
