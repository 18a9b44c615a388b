//! The Training room as the shell sees it: its launch settings, its panels, and its one apply
//! point, which carries out what the panels asked for (setup edits with undo, the run controls,
//! files through the shared jobs, a model handed to the explorer).

use std::any::Any;
use std::path::Path;

use super::close_prompt::CloseChoice;
use super::runs::{LoadFor, Overlay};
use super::{Edit, TrainingAction, TrainingWorkspace, setup, view};
use crate::app::jobs::JobResult;
use crate::app::room::{Claim, Handoff, Launch, Restore, Room, RoomCx, RoomInfo};
use crate::nn::model_file;
use crate::train::TrainConfig;
use crate::train::run_dir::{RunSummary, SavedRun};

const TRAINING_KEY: &str = "nodelab-training";
/// How the loss curves are drawn (`curves::CurveSettings` as JSON).
const CURVES_KEY: &str = "nodelab-training-curves";
/// How a density task's view is drawn (`view::density::DensitySettings` as JSON).
const DENSITY_KEY: &str = "nodelab-training-density";

/// The Training room's own job results.
#[derive(Debug)]
pub enum TrainingJob {
    /// A training preset was read: its configuration and description.
    PresetLoaded(Box<Result<(TrainConfig, Option<String>), String>>),
    /// The runs folder was listed.
    RunsListed(Vec<RunSummary>),
    /// A kept run was read, to overlay or to resume.
    RunLoaded(LoadFor, Box<Result<SavedRun, String>>),
    /// A run directory was deleted (quit without keeping).
    RunDiscarded(Result<(), String>),
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
        let mut ws = (from.stored)(TRAINING_KEY)
            .map(|t| TrainingWorkspace::from_toml(&t))
            .unwrap_or_default();
        if let Some(c) = (from.stored)(CURVES_KEY).and_then(|t| serde_json::from_str(&t).ok()) {
            ws.view.curves = c;
        }
        if let Some(d) = (from.stored)(DENSITY_KEY).and_then(|t| serde_json::from_str(&t).ok()) {
            ws.view.density = d;
        }
        ws.close.scripted = from.options.exit_after_frames.is_some();
        ws.runs.folder = from.options.runs_dir.clone();
        ws.runs.keep = true;
        ws
    }

    fn save(&self, put: &mut dyn FnMut(&'static str, String)) {
        if let Some(t) = self.to_toml() {
            put(TRAINING_KEY, t);
        }
        if let Ok(c) = serde_json::to_string(&self.view.curves) {
            put(CURVES_KEY, c);
        }
        if let Ok(d) = serde_json::to_string(&self.view.density) {
            put(DENSITY_KEY, d);
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

    /// Also watches for a close of the window during a run (the prompt is drawn here, over
    /// whichever room is on screen).
    fn poll(&mut self, ctx: &egui::Context, cx: &mut RoomCx<'_>) {
        TrainingWorkspace::poll(self);
        let running = self.is_running();
        if !running && let Some(dir) = self.runs.discard.take() {
            self.runs.discarding = true;
            cx.shared.jobs.spawn("discard-run", move || {
                JobResult::room(TrainingJob::RunDiscarded(
                    std::fs::remove_dir_all(&dir)
                        .map_err(|e| format!("cannot delete {}: {e}", dir.display())),
                ))
            });
        }
        let settled = !running && !self.runs.discarding;
        if self.close.poll(ctx, running, settled) {
            cx.show::<Self>();
        }
        if !self.runs.listed_once && !self.runs.listing {
            self.list_runs(&mut cx.shared.jobs);
        }
        self.close.ui(ctx, &mut self.actions);
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
        self.edit_depth()
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
        let job = match result.downcast::<TrainingJob>() {
            Ok(job) => job,
            Err(other) => return Some(other),
        };
        let result = match *job {
            TrainingJob::PresetLoaded(r) => r,
            TrainingJob::RunsListed(list) => {
                self.runs.listing = false;
                self.runs.listed_once = true;
                self.runs.listed = list;
                return None;
            }
            TrainingJob::RunLoaded(purpose, loaded) => {
                match (*loaded, purpose) {
                    (Ok(run), LoadFor::Overlay) => {
                        if !self.runs.overlays.iter().any(|o| o.dir == run.summary.dir) {
                            self.runs.overlays.push(Overlay::of(run, &self.view.curves));
                        }
                    }
                    (Ok(run), LoadFor::Resume) => {
                        self.resume_kept(run);
                        cx.show::<Self>();
                    }
                    (Err(e), _) => cx.shared.toasts.error(e),
                }
                return None;
            }
            TrainingJob::RunDiscarded(r) => {
                self.runs.discarding = false;
                if let Err(e) = r {
                    cx.shared.toasts.error(e);
                }
                return None;
            }
        };
        match *result {
            Ok((config, description)) => {
                self.reset();
                self.edit(Edit::Setup(Box::new(config)), true);
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
    /// Lists the runs folder on a job.
    fn list_runs(&mut self, jobs: &mut crate::app::jobs::Jobs) {
        let Some(folder) = self.runs.folder.clone() else {
            return;
        };
        self.runs.listing = true;
        jobs.spawn("list-runs", move || {
            JobResult::room(TrainingJob::RunsListed(crate::train::run_dir::list_runs(
                &folder,
            )))
        });
    }

    /// Reads a kept run on a job, to overlay or resume it.
    fn load_run(&mut self, dir: std::path::PathBuf, purpose: LoadFor, cx: &mut RoomCx<'_>) {
        cx.shared.jobs.spawn("load-run", move || {
            JobResult::room(TrainingJob::RunLoaded(
                purpose,
                Box::new(crate::train::run_dir::load_run(&dir)),
            ))
        });
    }

    /// The one apply point of the room's actions.
    pub fn apply_action(&mut self, action: TrainingAction, cx: &mut RoomCx<'_>) {
        let jobs = &mut cx.shared.jobs;
        match action {
            TrainingAction::Edit(next) => self.edit(Edit::Setup(next), false),
            TrainingAction::Curves(next) => self.edit(Edit::Curves(next), false),
            TrainingAction::Close(choice) => {
                // A new kept run is deleted once its thread has ended; a resumed run keeps
                // what it had.
                let discard = match (&self.runs.current_dir, self.runs.resumed) {
                    (Some(dir), false) if choice == CloseChoice::QuitWithoutKeeping => {
                        Some(dir.clone())
                    }
                    _ => None,
                };
                self.close.choose(choice, discard.is_some());
                match choice {
                    CloseChoice::StopAndKeep => self.stop(),
                    CloseChoice::QuitWithoutKeeping if discard.is_some() => {
                        self.runs.discard = discard;
                        self.stop();
                    }
                    CloseChoice::QuitWithoutKeeping => self.detach(),
                    CloseChoice::KeepTraining => {}
                }
            }
            TrainingAction::ListRuns => self.list_runs(&mut cx.shared.jobs),
            TrainingAction::KeepRuns(keep) => self.runs.keep = keep,
            TrainingAction::OverlayRun { dir, on: false } => {
                self.runs.overlays.retain(|o| o.dir != dir);
            }
            TrainingAction::OverlayRun { dir, on: true } => {
                self.load_run(dir, LoadFor::Overlay, cx)
            }
            TrainingAction::ResumeRun(dir) => self.load_run(dir, LoadFor::Resume, cx),
            TrainingAction::Undo => {
                if !self.undo_edit() {
                    cx.shared.toasts.info("nothing to undo");
                }
            }
            TrainingAction::Redo => {
                if !self.redo_edit() {
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
