//! The explorer's files: what a file is asked for ([`FileAction`]), file dialogs on a job
//! thread (or the app's own path prompt where there is no dialog backend), and the exports of
//! its plots and step tables.

use std::path::{Path, PathBuf};

use crate::app::file_prompt::{self, PathPrompt};
use crate::app::jobs::{self, JobResult};
use crate::app::room::RoomCx;
use crate::export::{self, Figure, Format};
use crate::report::steps_csv;

use super::state::PlotKind;
use super::{Explorer, ExplorerJob};

/// What a file is asked for.
#[derive(Clone, Debug, PartialEq)]
pub enum FileAction {
    LoadPreset,
    SavePreset,
    LoadWeights,
    ExportPlot { plot: PlotKind, format: Format },
    ExportCsv { run: usize },
}

impl FileAction {
    pub fn title(&self) -> String {
        match self {
            FileAction::LoadPreset => "Load preset".into(),
            FileAction::SavePreset => "Save preset".into(),
            FileAction::LoadWeights => "Load network weights".into(),
            FileAction::ExportPlot { plot, format } => format!(
                "Export {} ({})",
                plot.title(),
                format.extension().to_uppercase()
            ),
            FileAction::ExportCsv { .. } => "Export steps (CSV)".into(),
        }
    }

    /// The path offered at first.
    pub fn suggestion(&self, presets_dir: &Path) -> PathBuf {
        match self {
            FileAction::LoadPreset => presets_dir.join("paper-van-der-pol.toml"),
            FileAction::SavePreset => presets_dir.join("session.toml"),
            FileAction::LoadWeights => presets_dir.join("grad-mlp-2-8-2.json"),
            FileAction::ExportPlot { plot, format } => {
                PathBuf::from(format!("{}.{}", plot.stem(), format.extension()))
            }
            FileAction::ExportCsv { run } => PathBuf::from(format!("steps-run{}.csv", run + 1)),
        }
    }
}

impl Explorer {
    /// Runs a file dialog on a job thread, or, where no dialog backend is available, asks for
    /// the path in the app's own prompt. `dialog` returns `None` when no file was chosen; a
    /// dialog that returns that fast did not show, and the prompt opens instead.
    pub(super) fn with_dialog(
        &mut self,
        cx: &mut RoomCx<'_>,
        action: FileAction,
        dialog: impl FnOnce() -> Option<JobResult> + Send + 'static,
    ) {
        if !cx.shared.file_dialogs || !file_prompt::dialog_backend_available() {
            self.ask_path(cx, action);
            return;
        }
        cx.shared.jobs.spawn("file-dialog", move || {
            let started = std::time::Instant::now();
            match dialog() {
                Some(r) => r,
                None if started.elapsed() < file_prompt::FAILED_DIALOG => {
                    JobResult::room(ExplorerJob::DialogFailed(action))
                }
                None => JobResult::Cancelled,
            }
        });
    }

    /// Opens the path prompt for `action`, with a suggested path.
    pub(super) fn ask_path(&mut self, cx: &RoomCx<'_>, action: FileAction) {
        let text = action
            .suggestion(&cx.shared.presets_dir)
            .display()
            .to_string();
        self.path_prompt = Some(PathPrompt { action, text });
    }

    /// The export figure of a plot (a copy of the data; rendering happens on a job thread).
    pub fn figure(&self, plot: PlotKind) -> Option<Figure> {
        let (runs, view) = (&self.runs, &self.view);
        Some(match plot {
            PlotKind::Solution => super::plots::solution::figure(runs, view),
            PlotKind::StepSize => super::plots::step_size::figure(runs, view),
            PlotKind::ErrorRatio => super::plots::error_ratio::figure(runs, view),
            PlotKind::Coefficients => super::plots::coefficients::figure(runs, view),
            PlotKind::Phase => super::plots::phase::figure(runs, view),
            PlotKind::WorkPrecision => {
                super::plots::work_precision::figure(self.sweep.result.as_ref()?, runs)
            }
        })
    }

    pub(super) fn export_plot(
        &mut self,
        cx: &mut RoomCx<'_>,
        plot: PlotKind,
        format: Format,
        path: Option<PathBuf>,
    ) {
        let Some(figure) = self.figure(plot) else {
            cx.shared
                .toasts
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
            Some(p) => cx.shared.jobs.spawn("export", move || write(p)),
            None => {
                let name = format!("{}.{}", plot.stem(), format.extension());
                self.with_dialog(cx, FileAction::ExportPlot { plot, format }, move || {
                    let dir = std::env::current_dir().unwrap_or_default();
                    let ext = format.extension();
                    jobs::save_file("Export plot", ext, &[ext], &dir, &name).map(write)
                });
            }
        }
    }

    pub(super) fn export_csv(&mut self, cx: &mut RoomCx<'_>, run: usize, path: Option<PathBuf>) {
        let Some(data) = self.runs.get(run) else {
            cx.shared.toasts.error("no run to export yet");
            return;
        };
        let Some(dim) = data.problem.as_ref().map(|p| p.dim()) else {
            cx.shared.toasts.error("the run has no steps yet");
            return;
        };
        let records = data.records.clone();
        let name = format!("steps-{}.csv", data.config.method);
        let write = move |path: PathBuf| JobResult::Exported(write_csv(&path, dim, &records));
        match path {
            Some(p) => cx.shared.jobs.spawn("export-csv", move || write(p)),
            None => self.with_dialog(cx, FileAction::ExportCsv { run }, move || {
                let dir = std::env::current_dir().unwrap_or_default();
                jobs::save_file("Export steps", "CSV", &["csv"], &dir, &name).map(write)
            }),
        }
    }
}

/// Writes the CSV of `records` (the CLI's `--steps-csv` format), atomically: a failed write
/// leaves the old file as it was.
pub fn write_csv(
    path: &Path,
    dim: usize,
    records: &[crate::solver::StepRecord],
) -> Result<PathBuf, String> {
    crate::output::write_atomic(path, |mut w| steps_csv::write(&mut w, dim, records))
        .map(|()| path.to_path_buf())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
