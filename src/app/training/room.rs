//! The Training room as the shell sees it: its launch settings, its panels, and its one apply
//! point, which carries out what the panels asked for (setup edits with undo, the run controls,
//! files through the shared jobs, a model handed to the explorer).

use std::any::Any;
use std::path::Path;

use super::{TrainingAction, TrainingWorkspace, setup, view};
use crate::app::jobs::JobResult;
use crate::app::room::{Claim, Handoff, Launch, Restore, Room, RoomCx, RoomInfo};
use crate::nn::model_file;
use crate::train::TrainConfig;

const TRAINING_KEY: &str = "nodelab-training";

/// The Training room's own job results.
#[derive(Debug)]
pub enum TrainingJob {
    /// A training preset was read: its configuration and description.
    PresetLoaded(Box<Result<(TrainConfig, Option<String>), String>>),
}

impl Room for TrainingWorkspace {
    fn info() -> RoomInfo {
        RoomInfo {
            name: "training",
            label: "Training",
            help: "train a neural ODE with several gradient methods side by side",
        }
    }

    fn restore(from: Restore<'_>) -> Self {
        (from.stored)(TRAINING_KEY)
            .map(|t| TrainingWorkspace::from_toml(&t))
            .unwrap_or_default()
    }

    fn save(&self, put: &mut dyn FnMut(&'static str, String)) {
        if let Some(t) = self.to_toml() {
            put(TRAINING_KEY, t);
        }
    }

    /// Training presets are this room's; `NODELAB_START` starts the training unless another
    /// room opens and claims it.
    fn claim(&self, what: Claim, launch: &Launch<'_>) -> Option<u8> {
        match what {
            Claim::Preset => launch
                .preset_text
                .is_some_and(crate::train::preset::is_train_preset)
                .then_some(2),
            Claim::Start => Some(1),
        }
    }

    fn launch(
        &mut self,
        _launch: &Launch<'_>,
        preset: Option<&Path>,
        start: bool,
        cx: &mut RoomCx<'_>,
    ) {
        if let Some(p) = preset {
            cx.show::<Self>();
            self.actions
                .push(TrainingAction::LoadPreset(p.to_path_buf()));
            // The run starts once the preset is read.
            self.start_after_load = start;
        } else if start {
            self.start(false);
        }
    }

    fn busy(&self) -> bool {
        self.is_running()
    }

    fn poll(&mut self, ctx: &egui::Context, _cx: &mut RoomCx<'_>) {
        TrainingWorkspace::poll(self);
        if self.is_running() {
            ctx.request_repaint_after(std::time::Duration::from_millis(40));
        }
    }

    fn panels(&mut self, ui: &mut egui::Ui, cx: &mut RoomCx<'_>) {
        egui::Panel::left("train-setup")
            .resizable(true)
            .default_size(340.0)
            .min_size(260.0)
            .max_size(460.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .id_salt("train-setup-scroll")
                    .show(ui, |ui| {
                        let mut path = std::mem::take(&mut self.path_field);
                        let mut actions = std::mem::take(&mut self.actions);
                        setup::ui(
                            ui,
                            self,
                            &mut path,
                            &mut actions,
                            cx.shared.adapter.as_deref(),
                        );
                        self.path_field = path;
                        self.actions = actions;
                    });
            });
        if self.methods.is_empty() {
            // The data preview is generated in the background while the room is on screen.
            self.request_preview();
        }
        egui::CentralPanel::default().show(ui, |ui| {
            let mut view = std::mem::take(&mut self.view);
            let mut actions = std::mem::take(&mut self.actions);
            view::ui(ui, self, &mut view, &mut actions);
            self.view = view;
            self.actions = actions;
        });
    }

    fn undo(&mut self) {
        self.actions.push(TrainingAction::Undo);
    }

    fn redo(&mut self) {
        self.actions.push(TrainingAction::Redo);
    }

    fn undo_depth(&self) -> (usize, usize) {
        self.edits.depth()
    }

    fn apply(&mut self, cx: &mut RoomCx<'_>) {
        for action in std::mem::take(&mut self.actions) {
            self.apply_action(action, cx);
        }
    }

    fn on_job(
        &mut self,
        result: Box<dyn Any + Send>,
        cx: &mut RoomCx<'_>,
    ) -> Option<Box<dyn Any + Send>> {
        // Another room's result is given back (the shell offers it to the next room).
        let TrainingJob::PresetLoaded(result) = *match result.downcast::<TrainingJob>() {
            Ok(job) => job,
            Err(other) => return Some(other),
        };
        match *result {
            Ok((config, description)) => {
                self.reset();
                self.edits.apply_discrete(&mut self.config, config);
                self.description = description;
                cx.show::<Self>();
                cx.shared.toasts.info("training setup loaded");
                if std::mem::take(&mut self.start_after_load) {
                    self.start(false);
                }
            }
            Err(e) => cx.shared.toasts.error(e),
        }
        None
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl TrainingWorkspace {
    /// The one apply point of the room's actions.
    pub fn apply_action(&mut self, action: TrainingAction, cx: &mut RoomCx<'_>) {
        let jobs = &mut cx.shared.jobs;
        match action {
            TrainingAction::Edit(next) => {
                self.edits
                    .apply(&mut self.config, *next, std::time::Instant::now());
            }
            TrainingAction::Undo => {
                if !self.edits.undo(&mut self.config) {
                    cx.shared.toasts.info("nothing to undo");
                }
            }
            TrainingAction::Redo => {
                if !self.edits.redo(&mut self.config) {
                    cx.shared.toasts.info("nothing to redo");
                }
            }
            TrainingAction::Start { paused } => self.start(paused),
            TrainingAction::Pause => self.pause(),
            TrainingAction::Resume => self.resume(),
            TrainingAction::Step => self.step(),
            TrainingAction::Stop => self.stop(),
            TrainingAction::Reset => self.reset(),
            TrainingAction::OpenInExplorer {
                model,
                path,
                y0,
                t_span,
            } => cx.hand_off(Handoff::OpenTrainedModel {
                model,
                path,
                y0,
                t_span,
            }),
            TrainingAction::SaveModel { model, path, task } => {
                jobs.spawn("save-model", move || {
                    let meta = vec![("task".to_string(), task.name().to_string())];
                    JobResult::Exported(
                        model_file::save(&path, &model.mlp, model.readout.as_ref(), &meta)
                            .map(|()| path.clone()),
                    )
                });
            }
            TrainingAction::ExportCsv { text, path }
            | TrainingAction::SavePreset { text, path } => {
                jobs.spawn("training-file", move || {
                    JobResult::Exported(
                        model_file::write_atomic(&path, text.as_bytes()).map(|()| path.clone()),
                    )
                });
            }
            TrainingAction::ExportPlot { figure, path } => {
                let format = if path.extension().is_some_and(|e| e == "svg") {
                    crate::export::Format::Svg
                } else {
                    crate::export::Format::Png
                };
                jobs.spawn("training-plot", move || {
                    JobResult::Exported(
                        crate::export::write(&figure, &path, format)
                            .map(|()| path.clone())
                            .map_err(|e| e.to_string()),
                    )
                });
            }
            TrainingAction::LoadPreset(path) => {
                jobs.spawn("training-preset", move || {
                    JobResult::room(TrainingJob::PresetLoaded(Box::new(
                        crate::train::preset::TrainPreset::load(&path).map_err(|e| e.to_string()),
                    )))
                });
            }
        }
    }
}
