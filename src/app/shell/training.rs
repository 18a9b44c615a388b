//! The shell's side of the Training workspace: drawing its panels, and carrying out what it
//! asks for (files through jobs, opening a trained model in the explorer).

use super::super::jobs::JobResult;
use super::super::training::{TrainingAction, setup, view};
use super::{NodelabApp, Workspace};
use crate::preset::ProblemKind;

impl NodelabApp {
    /// One frame of the Training workspace (the status bar is drawn by the shell).
    pub(super) fn training_frame(&mut self, ui: &mut egui::Ui) {
        egui::Panel::left("train-setup")
            .resizable(true)
            .default_size(340.0)
            .min_size(260.0)
            .max_size(460.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .id_salt("train-setup-scroll")
                    .show(ui, |ui| {
                        let adapter = if self.options.show_adapter {
                            self.adapter.clone()
                        } else {
                            Some("(adapter hidden)".to_string())
                        };
                        setup::ui(ui, &mut self.training, adapter.as_deref());
                    });
            });
        egui::CentralPanel::default().show(ui, |ui| view::ui(ui, &mut self.training));
    }

    /// Takes the workspace's messages and actions; keeps frames coming while a run goes on.
    pub(super) fn training_poll(&mut self, ctx: &egui::Context) {
        self.training.poll();
        if self.training.is_running() {
            ctx.request_repaint_after(std::time::Duration::from_millis(40));
        }
        for action in std::mem::take(&mut self.training.actions) {
            self.on_training_action(action);
        }
    }

    fn on_training_action(&mut self, action: TrainingAction) {
        use crate::nn::model_file;
        match action {
            TrainingAction::OpenInExplorer {
                model,
                path,
                y0,
                t_span,
            } => {
                let mut next = self.session.clone();
                next.neural.y0 = y0;
                next.neural.t_span = t_span;
                next.kind = ProblemKind::Neural;
                self.edits.apply_discrete(&mut self.session, next);
                self.workspace = Workspace::Explorer;
                self.jobs.spawn("trained-model", move || {
                    match model_file::save(&path, &model.mlp, None, &[]) {
                        Ok(()) => JobResult::WeightsLoaded(super::super::jobs::load_weights(&path)),
                        Err(e) => JobResult::WeightsLoaded(Err(e)),
                    }
                });
            }
            TrainingAction::SaveModel { model, path, task } => {
                self.jobs.spawn("save-model", move || {
                    let meta = vec![("task".to_string(), task.name().to_string())];
                    JobResult::Exported(
                        model_file::save(&path, &model.mlp, model.readout.as_ref(), &meta)
                            .map(|()| path.clone()),
                    )
                });
            }
            TrainingAction::ExportCsv { text, path }
            | TrainingAction::SavePreset { text, path } => {
                self.jobs.spawn("training-file", move || {
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
                self.jobs.spawn("training-plot", move || {
                    JobResult::Exported(
                        crate::export::write(&figure, &path, format)
                            .map(|()| path.clone())
                            .map_err(|e| e.to_string()),
                    )
                });
            }
            TrainingAction::LoadPreset(path) => {
                self.jobs.spawn("training-preset", move || {
                    JobResult::TrainingPresetLoaded(Box::new(
                        crate::train::preset::TrainPreset::load(&path).map_err(|e| e.to_string()),
                    ))
                });
            }
        }
    }
}
