//! What the explorer's panels ask for. Panels push commands; [`super::Explorer`] applies
//! them in one place at the end of the frame.

use std::path::PathBuf;

use crate::export::Format;

use super::files::FileAction;
use super::state::{PlotKind, StepRef};

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// The session as a panel edited it: replaces the session (undoable).
    Edit(Box<super::session::Session>),
    /// Back to the session before the last edit (Ctrl+Z).
    Undo,
    /// Again the edit that was undone (Ctrl+Shift+Z).
    Redo,
    /// Start (or restart) every solver of the session.
    Run,
    /// Stop the running solves (what was computed stays).
    Cancel,
    Play,
    Pause,
    StepForward,
    StepBack,
    /// Back to the first step, keeping the computed data.
    Restart,
    Select(Option<StepRef>),
    LoadPreset(PathBuf),
    LoadPresetDialog,
    SavePreset(PathBuf),
    SavePresetDialog,
    RefreshPresets,
    PickWeights,
    LoadWeights(PathBuf),
    /// Export a plot; `None` asks for the path in a dialog.
    ExportPlot {
        plot: PlotKind,
        format: Format,
        path: Option<PathBuf>,
    },
    /// Export the step table of a run as CSV (the CLI's `--steps-csv` format).
    ExportCsv {
        run: usize,
        path: Option<PathBuf>,
    },
    RunWorkPrecision,
    CancelWorkPrecision,
    SetDark(bool),
    /// Ask a run's worker for the vector field over `bounds` of the `axes` plane.
    RequestField {
        run: usize,
        axes: (usize, usize),
        bounds: [f64; 4],
        fixed: Vec<f64>,
    },
    DismissError,
    /// Set components of the current problem's initial state (dragged in the phase portrait):
    /// `(component, value)` pairs.
    SetInitialState(Vec<(usize, f64)>),
    /// Add a trajectory from this initial state (shift-click in the phase portrait); it is
    /// solved with the first solver and drawn thin, as the samples of a batch.
    AddTrajectory(Vec<f64>),
    /// Ask for a path in the app's own prompt (no file dialog backend).
    AskPath(FileAction),
}

impl Command {
    /// The command that does the work of `action` with `path`.
    pub fn for_path(action: &FileAction, path: PathBuf) -> Command {
        match action {
            FileAction::LoadPreset => Command::LoadPreset(path),
            FileAction::SavePreset => Command::SavePreset(path),
            FileAction::LoadWeights => Command::LoadWeights(path),
            FileAction::ExportPlot { plot, format } => Command::ExportPlot {
                plot: *plot,
                format: *format,
                path: Some(path),
            },
            FileAction::ExportCsv { run } => Command::ExportCsv {
                run: *run,
                path: Some(path),
            },
        }
    }
}
