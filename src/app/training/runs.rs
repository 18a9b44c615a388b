//! The Training room's kept runs ([`crate::train::run_dir`]): the runs folder listed (task,
//! methods, date, final numbers), runs laid over the current loss plot, a kept run resumed.
//! Listing and loading happen on the shared jobs; training threads write the run directories.

use std::path::{Path, PathBuf};

use egui::{RichText, Ui};

use super::curves::{CurveData, CurveSettings};
use super::{TrainingAction, TrainingWorkspace};
use crate::grad::GradMethod;
use crate::train::record::{EvalRecord, IterRecord};
use crate::train::run_dir::{RunSummary, SavedRun};

/// One method of a run laid over the plot.
#[derive(Clone, Debug)]
pub struct OverlayMethod {
    pub method: String,
    pub records: Vec<IterRecord>,
    pub evals: Vec<EvalRecord>,
    pub curve: CurveData,
}

/// A kept run laid over the current plot (faint and dashed, in its methods' colours).
#[derive(Clone, Debug)]
pub struct Overlay {
    pub dir: PathBuf,
    /// How the legend names it: the run directory's name.
    pub label: String,
    pub methods: Vec<OverlayMethod>,
}

impl Overlay {
    pub fn of(run: SavedRun, settings: &CurveSettings) -> Self {
        Self {
            label: dir_name(&run.summary.dir),
            dir: run.summary.dir,
            methods: run
                .methods
                .into_iter()
                .map(|m| OverlayMethod {
                    curve: CurveData::of(&m.records, settings),
                    method: m.method,
                    records: m.records,
                    evals: m.evals,
                })
                .collect(),
        }
    }
}

/// The last part of a run directory's path.
pub fn dir_name(dir: &Path) -> String {
    dir.file_name()
        .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into())
}

/// The kept runs as the room knows them.
#[derive(Clone, Debug, Default)]
pub struct RunsState {
    /// The runs folder (`None`: runs are not kept and nothing is listed, as in tests).
    pub folder: Option<PathBuf>,
    /// Keep new runs in the folder.
    pub keep: bool,
    /// The folder's runs, newest first, as last listed.
    pub listed: Vec<RunSummary>,
    /// A listing is on its way.
    pub listing: bool,
    /// Listed at least once.
    pub listed_once: bool,
    pub overlays: Vec<Overlay>,
    /// Where the run on screen is kept.
    pub current_dir: Option<PathBuf>,
    /// The run on screen continues a kept run (quitting without keeping leaves that alone).
    pub resumed: bool,
    /// A run directory to delete once its run has ended (quit without keeping).
    pub discard: Option<PathBuf>,
    /// The deletion is on its way.
    pub discarding: bool,
}

/// What a loaded run is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadFor {
    Overlay,
    Resume,
}

/// The colour index of a kept run's method: the current run's index of the same method, else
/// a slot after the current methods.
pub fn colour_index(ws_methods: &[GradMethod], method: &str, k: usize) -> usize {
    ws_methods
        .iter()
        .position(|m| m.name() == method)
        .unwrap_or(ws_methods.len() + k)
}

/// "1.23e-3" for a loss.
fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2e}")
    } else {
        "–".into()
    }
}

/// The Runs panel: the folder's runs with their numbers, an overlay toggle and Resume each.
pub fn ui(ui: &mut Ui, ws: &TrainingWorkspace, actions: &mut Vec<TrainingAction>) {
    let runs = &ws.runs;
    let Some(folder) = &runs.folder else {
        ui.weak("runs are not kept in this session");
        return;
    };
    ui.horizontal(|ui| {
        let mut keep = runs.keep;
        if ui
            .checkbox(&mut keep, "keep new runs")
            .on_hover_text(format!(
                "each run started here is written to a folder in {}",
                folder.display()
            ))
            .changed()
        {
            actions.push(TrainingAction::KeepRuns(keep));
        }
        if ui
            .add_enabled(!runs.listing, egui::Button::new("↻"))
            .on_hover_text("list the runs folder again")
            .clicked()
        {
            actions.push(TrainingAction::ListRuns);
        }
    });
    if runs.listing && runs.listed.is_empty() {
        ui.weak("listing…");
    } else if runs.listed.is_empty() {
        ui.weak(format!("no kept runs in {}", folder.display()));
    }
    egui::ScrollArea::vertical()
        .id_salt("train-runs-list")
        .max_height(320.0)
        .show(ui, |ui| {
            for r in &runs.listed {
                run_row(ui, ws, r, actions);
                ui.separator();
            }
        });
}

fn run_row(ui: &mut Ui, ws: &TrainingWorkspace, r: &RunSummary, actions: &mut Vec<TrainingAction>) {
    let current = ws.runs.current_dir.as_deref() == Some(r.dir.as_path());
    ui.horizontal_wrapped(|ui| {
        ui.strong(&r.task);
        ui.label(r.created());
        ui.weak(format!(
            "{} · {}/{} it{}",
            r.state.name(),
            r.iters_done,
            r.iters,
            if current { " · on screen" } else { "" }
        ));
    });
    for m in &r.methods {
        let mut text = format!(
            "{}: loss {}",
            m.method,
            m.final_loss.map_or("–".into(), num)
        );
        if let Some(e) = &m.final_eval {
            text.push_str(&format!(" · eval {}", num(e.loss)));
            if let Some(a) = e.accuracy {
                text.push_str(&format!(" · acc {:.1} %", 100.0 * a));
            }
        }
        if m.wall_s > 0.0 {
            text.push_str(&format!(" · {:.1} s", m.wall_s));
        }
        ui.label(RichText::new(text).small());
    }
    ui.horizontal(|ui| {
        let overlaid = ws.runs.overlays.iter().any(|o| o.dir == r.dir);
        let mut on = overlaid;
        if ui
            .add_enabled(!current, egui::Checkbox::new(&mut on, "overlay"))
            .on_hover_text("lay this run's curves over the plot, faint and dashed")
            .changed()
        {
            actions.push(TrainingAction::OverlayRun {
                dir: r.dir.clone(),
                on,
            });
        }
        let resumable = r.device != "gpu" && !ws.is_running();
        if ui
            .add_enabled(resumable, egui::Button::new("Resume"))
            .on_hover_text(if r.device == "gpu" {
                "a run trained on the GPU cannot be resumed"
            } else {
                "load this run into the setup and continue training it"
            })
            .clicked()
        {
            actions.push(TrainingAction::ResumeRun(r.dir.clone()));
        }
    });
}
