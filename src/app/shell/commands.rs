//! Applying the panels' commands and the job results: the one place that changes the app.

use std::path::{Path, PathBuf};

use crate::export::{self, Figure, Format};
use crate::preset::ProblemKind;
use crate::report::steps_csv;

use super::super::command::Command;
use super::super::file_prompt::{self, FileAction, PathPrompt};
use super::super::jobs::{self, JobResult};
use super::super::model::{RunData, RunStatus};
use super::super::plots;
use super::super::protocol::SolveRequest;
use super::super::session::check_preset;
use super::super::state::{PlotKind, StepRef};
use super::super::sweep;
use super::NodelabApp;

impl NodelabApp {
    pub(super) fn apply_commands(&mut self) {
        let commands = std::mem::take(&mut self.commands);
        for c in commands {
            self.apply(c);
        }
    }

    pub(super) fn available(&self) -> usize {
        self.runs.iter().map(|r| r.records.len()).max().unwrap_or(0)
    }

    #[allow(clippy::too_many_lines)]
    fn apply(&mut self, c: Command) {
        match c {
            Command::Edit(next) => {
                self.edits
                    .apply(&mut self.session, *next, std::time::Instant::now());
            }
            Command::Undo => {
                if !self.edits.undo(&mut self.session) {
                    self.toasts.info("nothing to undo");
                }
            }
            Command::Redo => {
                if !self.edits.redo(&mut self.session) {
                    self.toasts.info("nothing to redo");
                }
            }
            Command::Run => {
                self.auto.run_requested = self.auto.revision;
                self.start_runs();
            }
            Command::Cancel => {
                for (run, h) in self.runs.iter_mut().zip(&mut self.handles) {
                    if !run.is_finished() {
                        run.status = RunStatus::Stopped;
                        *h = None;
                    }
                }
            }
            Command::Play => {
                if self.view.playback.shown >= self.available()
                    && self.runs.iter().all(RunData::is_finished)
                {
                    self.view.playback.restart();
                }
                self.view.playback.playing = true;
            }
            Command::Pause => self.view.playback.playing = false,
            Command::StepForward => {
                let n = self.available();
                self.view.playback.single_step(n);
            }
            Command::StepBack => self.view.playback.step_back(),
            Command::Restart => {
                self.view.playback.restart();
                self.view.playback.playing = true;
            }
            Command::Select(s) => self.select(s),
            Command::LoadPreset(path) => {
                self.jobs.spawn("load-preset", move || {
                    JobResult::PresetLoaded(Box::new(check_preset(&path)))
                });
            }
            Command::LoadPresetDialog => {
                let dir = self.options.presets_dir.clone();
                self.with_dialog(FileAction::LoadPreset, move || {
                    jobs::pick_file("Load preset", "nodelab preset", &["toml"], &dir)
                        .map(|p| JobResult::PresetLoaded(Box::new(check_preset(&p))))
                });
            }
            Command::SavePreset(path) => match self.session.to_preset().to_toml() {
                Ok(text) => self.jobs.spawn("save-preset", move || {
                    JobResult::PresetSaved(jobs::write_text(&path, &text))
                }),
                Err(e) => self.toasts.error(format!("cannot encode the preset: {e}")),
            },
            Command::SavePresetDialog => match self.session.to_preset().to_toml() {
                Ok(text) => {
                    let dir = self.options.presets_dir.clone();
                    self.with_dialog(FileAction::SavePreset, move || {
                        jobs::save_file(
                            "Save preset",
                            "nodelab preset",
                            &["toml"],
                            &dir,
                            "session.toml",
                        )
                        .map(|p| JobResult::PresetSaved(jobs::write_text(&p, &text)))
                    });
                }
                Err(e) => self.toasts.error(format!("cannot encode the preset: {e}")),
            },
            Command::RefreshPresets => {
                let dir = self.options.presets_dir.clone();
                self.jobs.spawn("list-presets", move || {
                    JobResult::PresetList(jobs::list_presets(&dir))
                });
            }
            Command::PickWeights => {
                self.with_dialog(FileAction::LoadWeights, move || {
                    let dir = std::env::current_dir().unwrap_or_default();
                    jobs::pick_file("Load network weights", "weights (JSON)", &["json"], &dir)
                        .map(|p| JobResult::WeightsLoaded(jobs::load_weights(&p)))
                });
            }
            Command::LoadWeights(path) => {
                self.jobs.spawn("weights", move || {
                    JobResult::WeightsLoaded(jobs::load_weights(&path))
                });
            }
            Command::ExportPlot { plot, format, path } => self.export_plot(plot, format, path),
            Command::ExportCsv { run, path } => self.export_csv(run, path),
            Command::RunWorkPrecision => {
                let spec = self.session.problem_spec();
                self.auto.sweep_requested = self.auto.revision;
                match sweep::spawn(spec, PathBuf::from("."), self.repaint.clone()) {
                    Ok(h) => {
                        self.sweep.handle = Some(h);
                        self.sweep.running_spec = Some(self.session.problem_spec());
                        self.sweep.error = None;
                        self.sweep.progress = (0, 0);
                    }
                    Err(e) => self.sweep.error = Some(format!("cannot start the sweep: {e}")),
                }
            }
            Command::CancelWorkPrecision => self.sweep.handle = None,
            Command::SetDark(d) => {
                // Applied at the start of the next frame (see `ui`).
                self.dark = d;
                (self.repaint)();
            }
            Command::DismissError => self.preset_error = None,
            Command::SetInitialState(values) => {
                // A drag sends many of these: they merge into one undo step like panel edits.
                let mut next = self.session.clone();
                let y0 = next.y0_mut();
                for (c, v) in values {
                    if let Some(slot) = y0.get_mut(c)
                        && v.is_finite()
                    {
                        *slot = v;
                    }
                }
                self.edits
                    .apply(&mut self.session, next, std::time::Instant::now());
            }
            Command::AddTrajectory(state) => {
                let mut next = self.session.clone();
                if next.add_initial_state(state) {
                    self.edits.apply_discrete(&mut self.session, next);
                } else {
                    self.toasts
                        .error("that initial state does not fit the problem's dimension");
                }
            }
            Command::AskPath(action) => self.ask_path(action),
            Command::RequestField {
                run,
                axes,
                bounds,
                fixed,
            } => {
                if self.field_requested.get(run).copied().flatten() != Some(axes)
                    && let Some(Some(h)) = self.handles.get(run)
                    && h.request(SolveRequest::Field {
                        axes,
                        bounds,
                        fixed,
                    })
                {
                    self.field_requested[run] = Some(axes);
                }
            }
        }
    }

    /// Runs a file dialog on a job thread, or, where no dialog backend is available, asks for
    /// the path in the app's own prompt. `dialog` returns `None` when no file was chosen; a
    /// dialog that returns that fast did not show, and the prompt opens instead.
    fn with_dialog(
        &mut self,
        action: FileAction,
        dialog: impl FnOnce() -> Option<JobResult> + Send + 'static,
    ) {
        if !self.options.file_dialogs || !file_prompt::dialog_backend_available() {
            self.ask_path(action);
            return;
        }
        self.jobs.spawn("file-dialog", move || {
            let started = std::time::Instant::now();
            match dialog() {
                Some(r) => r,
                None if started.elapsed() < file_prompt::FAILED_DIALOG => {
                    JobResult::DialogFailed(action)
                }
                None => JobResult::Cancelled,
            }
        });
    }

    /// Opens the path prompt for `action`, with a suggested path.
    fn ask_path(&mut self, action: FileAction) {
        let text = action
            .suggestion(&self.options.presets_dir)
            .display()
            .to_string();
        self.path_prompt = Some(PathPrompt { action, text });
    }

    fn select(&mut self, s: Option<StepRef>) {
        self.view.selected = s;
        self.view.scroll_to_selection = true;
        let Some(s) = s else { return };
        self.view.table_run = s.run;
        let Some(run) = self.runs.get(s.run) else {
            return;
        };
        let (Some(r), Some(start)) = (run.records.get(s.record), run.start_state(s.record)) else {
            return;
        };
        if r.dense.coefficients().is_some()
            && let Some(Some(h)) = self.handles.get(s.run)
        {
            h.request(SolveRequest::Probe {
                record: s.record,
                t: r.t,
                h: r.h,
                y_start: start.to_vec(),
                y_end: r.y.clone(),
                dense: r.dense.clone(),
            });
        }
    }

    /// The export figure of a plot (a copy of the data; rendering happens on a job thread).
    pub fn figure(&self, plot: PlotKind) -> Option<Figure> {
        let (runs, view) = (&self.runs, &self.view);
        Some(match plot {
            PlotKind::Solution => plots::solution::figure(runs, view),
            PlotKind::StepSize => plots::step_size::figure(runs, view),
            PlotKind::ErrorRatio => plots::error_ratio::figure(runs, view),
            PlotKind::Coefficients => plots::coefficients::figure(runs, view),
            PlotKind::Phase => plots::phase::figure(runs, view),
            PlotKind::WorkPrecision => {
                plots::work_precision::figure(self.sweep.result.as_ref()?, runs)
            }
        })
    }

    fn export_plot(&mut self, plot: PlotKind, format: Format, path: Option<PathBuf>) {
        let Some(figure) = self.figure(plot) else {
            self.toasts
                .error("nothing to export yet: run the work-precision sweep first");
            return;
        };
        let write = move |path: PathBuf| {
            JobResult::Exported(
                export::write(&figure, &path, format)
                    .map(|()| path.clone())
                    .map_err(|e| e.to_string()),
            )
        };
        match path {
            Some(p) => self.jobs.spawn("export", move || write(p)),
            None => {
                let name = format!("{}.{}", plot.stem(), format.extension());
                self.with_dialog(FileAction::ExportPlot { plot, format }, move || {
                    let dir = std::env::current_dir().unwrap_or_default();
                    let ext = format.extension();
                    jobs::save_file("Export plot", ext, &[ext], &dir, &name).map(write)
                });
            }
        }
    }

    fn export_csv(&mut self, run: usize, path: Option<PathBuf>) {
        let Some(data) = self.runs.get(run) else {
            self.toasts.error("no run to export yet");
            return;
        };
        let Some(dim) = data.problem.as_ref().map(|p| p.dim()) else {
            self.toasts.error("the run has no steps yet");
            return;
        };
        let records = data.records.clone();
        let name = format!("steps-{}.csv", data.config.method);
        let write = move |path: PathBuf| JobResult::Exported(write_csv(&path, dim, &records));
        match path {
            Some(p) => self.jobs.spawn("export-csv", move || write(p)),
            None => self.with_dialog(FileAction::ExportCsv { run }, move || {
                let dir = std::env::current_dir().unwrap_or_default();
                jobs::save_file("Export steps", "CSV", &["csv"], &dir, &name).map(write)
            }),
        }
    }

    pub(super) fn on_job(&mut self, r: JobResult) {
        match r {
            JobResult::PresetLoaded(result) => match *result {
                Ok((loaded, problem)) => {
                    let mut next = self.session.clone();
                    next.apply_preset(&loaded, &problem);
                    self.edits.apply_discrete(&mut self.session, next);
                    self.preset_error = None;
                    let name = Path::new(&loaded.source)
                        .file_name()
                        .map_or(loaded.source.clone(), |n| n.to_string_lossy().into_owned());
                    self.toasts.info(format!("loaded {name}"));
                    self.commands.push(Command::Run);
                }
                Err(e) => self.preset_error = Some(e.to_string()),
            },
            JobResult::PresetSaved(Ok(p)) => {
                self.toasts.info(format!("preset saved to {}", p.display()))
            }
            JobResult::Exported(Ok(p)) => self.toasts.info(format!("exported to {}", p.display())),
            JobResult::PresetSaved(Err(e)) | JobResult::Exported(Err(e)) => self.toasts.error(e),
            JobResult::PresetList(list) => self.presets = list,
            JobResult::WeightsLoaded(Ok((path, dim))) => {
                let mut next = self.session.clone();
                let n = &mut next.neural;
                n.weights = Some(std::path::absolute(&path).unwrap_or(path.clone()));
                n.y0.resize(dim, 0.0);
                if n.t_span[1] <= n.t_span[0] {
                    n.t_span = [0.0, 1.0];
                }
                next.kind = ProblemKind::Neural;
                self.edits.apply_discrete(&mut self.session, next);
                self.toasts
                    .info(format!("weights loaded from {}", path.display()));
                self.commands.push(Command::Run);
            }
            JobResult::WeightsLoaded(Err(e)) => self.toasts.error(e),
            JobResult::TrainingPresetLoaded(result) => match *result {
                Ok((config, description)) => {
                    self.training.reset();
                    self.training.config = config;
                    self.training.description = description;
                    self.workspace = super::Workspace::Training;
                    self.toasts.info("training setup loaded");
                    if std::mem::take(&mut self.options.start_training) {
                        self.training.start(false);
                    }
                }
                Err(e) => self.toasts.error(e),
            },
            JobResult::Cancelled => {}
            JobResult::DialogFailed(action) => self.ask_path(action),
        }
    }
}

/// Writes the CSV of `records` (the CLI's `--steps-csv` format).
pub fn write_csv(
    path: &Path,
    dim: usize,
    records: &[crate::solver::StepRecord],
) -> Result<PathBuf, String> {
    use std::io::Write;
    let write = || -> std::io::Result<()> {
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        steps_csv::write(&mut file, dim, records)?;
        file.flush()
    };
    write()
        .map(|()| path.to_path_buf())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
