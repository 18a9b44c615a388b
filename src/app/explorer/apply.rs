//! The explorer's one apply point: the panels' commands and the explorer's job results. Every
//! change of the session goes through [`EditHistory`] here (undoable; its revision tells
//! [`super::freshness`] that the session changed).

use std::path::{Path, PathBuf};

use crate::app::jobs::{self, JobResult};
use crate::app::room::RoomCx;
use crate::nn::model_file;
use crate::preset::ProblemKind;

use super::command::Command;
use super::files::FileAction;
use super::model::{RunData, RunStatus};
use super::protocol::SolveRequest;
use super::session::check_preset;
use super::state::StepRef;
use super::{Explorer, ExplorerJob, sweep};

impl Explorer {
    #[allow(clippy::too_many_lines)]
    pub(super) fn apply_command(&mut self, c: Command, cx: &mut RoomCx<'_>) {
        match c {
            Command::Edit(next) => {
                self.edits
                    .apply(&mut self.session, *next, std::time::Instant::now());
            }
            Command::Undo => {
                if !self.edits.undo(&mut self.session) {
                    cx.shared.toasts.info("nothing to undo");
                }
            }
            Command::Redo => {
                if !self.edits.redo(&mut self.session) {
                    cx.shared.toasts.info("nothing to redo");
                }
            }
            Command::Run => {
                self.auto.run_requested = self.auto.revision;
                self.start_runs(cx);
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
                cx.shared.jobs.spawn("load-preset", move || {
                    JobResult::room(ExplorerJob::PresetLoaded(Box::new(check_preset(&path))))
                });
            }
            Command::LoadPresetDialog => {
                let dir = cx.shared.presets_dir.clone();
                self.with_dialog(cx, FileAction::LoadPreset, move || {
                    jobs::pick_file("Load preset", "nodelab preset", &["toml"], &dir).map(|p| {
                        JobResult::room(ExplorerJob::PresetLoaded(Box::new(check_preset(&p))))
                    })
                });
            }
            Command::SavePreset(path) => match self.session.to_preset().to_toml() {
                Ok(text) => cx.shared.jobs.spawn("save-preset", move || {
                    JobResult::PresetSaved(jobs::write_text(&path, &text))
                }),
                Err(e) => cx
                    .shared
                    .toasts
                    .error(format!("cannot encode the preset: {e}")),
            },
            Command::SavePresetDialog => match self.session.to_preset().to_toml() {
                Ok(text) => {
                    let dir = cx.shared.presets_dir.clone();
                    self.with_dialog(cx, FileAction::SavePreset, move || {
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
                Err(e) => cx
                    .shared
                    .toasts
                    .error(format!("cannot encode the preset: {e}")),
            },
            Command::RefreshPresets => cx.shared.refresh_presets(),
            Command::PickWeights => {
                self.with_dialog(cx, FileAction::LoadWeights, move || {
                    let dir = std::env::current_dir().unwrap_or_default();
                    jobs::pick_file("Load network weights", "weights (JSON)", &["json"], &dir).map(
                        |p| JobResult::room(ExplorerJob::WeightsLoaded(jobs::load_weights(&p))),
                    )
                });
            }
            Command::LoadWeights(path) => {
                cx.shared.jobs.spawn("weights", move || {
                    JobResult::room(ExplorerJob::WeightsLoaded(jobs::load_weights(&path)))
                });
            }
            Command::ExportPlot { plot, format, path } => self.export_plot(cx, plot, format, path),
            Command::ExportCsv { run, path } => self.export_csv(cx, run, path),
            Command::RunWorkPrecision => {
                let spec = self.session.problem_spec();
                self.auto.sweep_requested = self.auto.revision;
                match sweep::spawn(spec, PathBuf::from("."), cx.shared.repaint.clone()) {
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
                // Applied by the shell at the start of the next frame.
                cx.shared.dark = d;
                (cx.shared.repaint)();
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
                    cx.shared
                        .toasts
                        .error("that initial state does not fit the problem's dimension");
                }
            }
            Command::AskPath(action) => self.ask_path(cx, action),
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

    pub(super) fn on_explorer_job(&mut self, r: ExplorerJob, cx: &mut RoomCx<'_>) {
        match r {
            ExplorerJob::PresetLoaded(result) => match *result {
                Ok((loaded, problem)) => {
                    let mut next = self.session.clone();
                    next.apply_preset(&loaded, &problem);
                    self.edits.apply_discrete(&mut self.session, next);
                    self.preset_error = None;
                    let name = Path::new(&loaded.source)
                        .file_name()
                        .map_or(loaded.source.clone(), |n| n.to_string_lossy().into_owned());
                    cx.shared.toasts.info(format!("loaded {name}"));
                    self.commands.push(Command::Run);
                }
                Err(e) => self.preset_error = Some(e.to_string()),
            },
            ExplorerJob::WeightsLoaded(Ok((path, dim))) => {
                let mut next = self.session.clone();
                let n = &mut next.neural;
                n.weights = Some(std::path::absolute(&path).unwrap_or(path.clone()));
                n.y0.resize(dim, 0.0);
                if n.t_span[1] <= n.t_span[0] {
                    n.t_span = [0.0, 1.0];
                }
                next.kind = ProblemKind::Neural;
                self.edits.apply_discrete(&mut self.session, next);
                cx.shared
                    .toasts
                    .info(format!("weights loaded from {}", path.display()));
                self.commands.push(Command::Run);
            }
            ExplorerJob::WeightsLoaded(Err(e)) => cx.shared.toasts.error(e),
            ExplorerJob::DialogFailed(action) => self.ask_path(cx, action),
        }
    }

    /// A trained model handed over by the Training room: written to `path` on a job, then
    /// loaded as the neural problem from `y0` over `t_span` (one undo step), on screen.
    pub(super) fn open_trained_model(
        &mut self,
        model: &crate::train::Model,
        path: &Path,
        y0: &[f64],
        t_span: [f64; 2],
        cx: &mut RoomCx<'_>,
    ) {
        let mut next = self.session.clone();
        next.neural.y0 = y0.to_vec();
        next.neural.t_span = t_span;
        next.kind = ProblemKind::Neural;
        self.edits.apply_discrete(&mut self.session, next);
        cx.show::<Explorer>();
        let (model, path) = (model.clone(), path.to_path_buf());
        cx.shared.jobs.spawn("trained-model", move || {
            let loaded = match model_file::save(&path, &model.mlp, None, &[]) {
                Ok(()) => jobs::load_weights(&path),
                Err(e) => Err(e),
            };
            JobResult::room(ExplorerJob::WeightsLoaded(loaded))
        });
    }
}
