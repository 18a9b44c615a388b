//! The shell's side of the Gradients workspace: drawing its panels, keeping frames coming while
//! its job runs, and writing its exports through the shared jobs.

use super::super::gradients::{GradAction, TrainingInputs, setup, view};
use super::super::jobs::JobResult;
use super::NodelabApp;

impl NodelabApp {
    /// One frame of the Gradients workspace (the status bar is drawn by the shell).
    pub(super) fn gradients_frame(&mut self, ui: &mut egui::Ui) {
        egui::Panel::left("grad-setup")
            .resizable(true)
            .default_size(300.0)
            .min_size(240.0)
            .max_size(420.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .id_salt("grad-setup-scroll")
                    .show(ui, |ui| {
                        let training = &self.training;
                        setup::ui(ui, &mut self.gradients, &self.presets, || {
                            TrainingInputs::of(training)
                        });
                    });
            });
        egui::CentralPanel::default().show(ui, |ui| view::ui(ui, &mut self.gradients));
    }

    /// Takes the job's messages and the workspace's actions; keeps frames coming while it runs.
    pub(super) fn gradients_poll(&mut self, ctx: &egui::Context) {
        let was_running = self.gradients.is_running();
        self.gradients.poll();
        if self.gradients.is_running() {
            ctx.request_repaint_after(std::time::Duration::from_millis(50));
        } else if was_running
            && let super::super::gradients::GradState::Failed(e) = &self.gradients.state
        {
            self.toasts.error(format!("gradients: {e}"));
        }
        for action in std::mem::take(&mut self.gradients.actions) {
            self.on_gradients_action(action);
        }
    }

    fn on_gradients_action(&mut self, action: GradAction) {
        match action {
            GradAction::ExportPlot { figure, path } => {
                let format = if path.extension().is_some_and(|e| e == "svg") {
                    crate::export::Format::Svg
                } else {
                    crate::export::Format::Png
                };
                self.jobs.spawn("gradients-plot", move || {
                    JobResult::Exported(
                        crate::export::write(&figure, &path, format)
                            .map(|()| path.clone())
                            .map_err(|e| e.to_string()),
                    )
                });
            }
            GradAction::ExportCsv { text, path } => {
                self.jobs.spawn("gradients-csv", move || {
                    JobResult::Exported(super::super::jobs::write_text(&path, &text))
                });
            }
        }
    }
}
