//! Applying the panels' commands and the job results: the one place that changes the app.

use std::path::{Path, PathBuf};

use crate::export::{self, Figure, Format};
use crate::preset::ProblemKind;
use crate::report::steps_csv;

use super::super::command::Command;
use super::super::jobs::{self, JobResult};
use super::super::model::{RunData, RunStatus};
use super::super::plots;
use super::super::session::check_preset;
use super::super::state::{PlotKind, StepRef};
use super::super::sweep;
use super::super::worker::SolveRequest;
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
            Command::Run => self.start_runs(),
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
                self.jobs.spawn("load-preset", move || {
                    match jobs::pick_file("Load preset", "nodelab preset", &["toml"], &dir) {
                        Some(p) => JobResult::PresetLoaded(Box::new(check_preset(&p))),
                        None => JobResult::Cancelled,
                    }
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
                    self.jobs.spawn("save-preset", move || {
                        match jobs::save_file(
                            "Save preset",
                            "nodelab preset",
                            &["toml"],
                            &dir,
                            "session.toml",
                        ) {
                            Some(p) => JobResult::PresetSaved(jobs::write_text(&p, &text)),
                            None => JobResult::Cancelled,
                        }
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
                self.jobs.spawn("weights", move || {
                    let dir = std::env::current_dir().unwrap_or_default();
                    match jobs::pick_file("Load network weights", "weights (JSON)", &["json"], &dir)
                    {
                        Some(p) => JobResult::WeightsLoaded(jobs::load_weights(&p)),
                        None => JobResult::Cancelled,
                    }
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
                match sweep::spawn(spec, PathBuf::from("."), self.repaint.clone()) {
                    Ok(h) => {
                        self.sweep.handle = Some(h);
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
            PlotKind::WorkPrecision => plots::work_precision::figure(self.sweep.result.as_ref()?),
        })
    }

    fn export_plot(&mut self, plot: PlotKind, format: Format, path: Option<PathBuf>) {
        let Some(figure) = self.figure(plot) else {
            self.toasts
                .error("nothing to export yet: run the work-precision sweep first");
            return;
        };
        let name = format!("{}.{}", plot.stem(), format.extension());
        self.jobs.spawn("export", move || {
            let path = match path {
                Some(p) => p,
                None => {
                    let dir = std::env::current_dir().unwrap_or_default();
                    let ext = format.extension();
                    match jobs::save_file("Export plot", ext, &[ext], &dir, &name) {
                        Some(p) => p,
                        None => return JobResult::Cancelled,
                    }
                }
            };
            JobResult::Exported(
                export::write(&figure, &path, format)
                    .map(|()| path.clone())
                    .map_err(|e| e.to_string()),
            )
        });
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
        self.jobs.spawn("export-csv", move || {
            let path = match path {
                Some(p) => p,
                None => {
                    let dir = std::env::current_dir().unwrap_or_default();
                    match jobs::save_file("Export steps", "CSV", &["csv"], &dir, &name) {
                        Some(p) => p,
                        None => return JobResult::Cancelled,
                    }
                }
            };
            JobResult::Exported(write_csv(&path, dim, &records))
        });
    }

    pub(super) fn on_job(&mut self, r: JobResult) {
        match r {
            JobResult::PresetLoaded(result) => match *result {
                Ok((loaded, problem)) => {
                    self.session.apply_preset(&loaded, &problem);
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
                let n = &mut self.session.neural;
                n.weights = Some(std::path::absolute(&path).unwrap_or(path.clone()));
                n.y0.resize(dim, 0.0);
                if n.t_span[1] <= n.t_span[0] {
                    n.t_span = [0.0, 1.0];
                }
                self.session.kind = ProblemKind::Neural;
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
                    self.workspace = super::training::Workspace::Training;
                    self.toasts.info("training setup loaded");
                    if std::mem::take(&mut self.options.start_training) {
                        self.training.start(false);
                    }
                }
                Err(e) => self.toasts.error(e),
            },
            JobResult::Cancelled => {}
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
