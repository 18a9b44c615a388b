//! The Explorer room: several solvers on one ODE, step by step. It owns
//!
//! - the saved setup, the [`session::Session`] (problem and solvers), edited only through
//!   [`command::Command::Edit`] with undo ([`crate::app::undo::EditHistory`]);
//! - the data its workers produce: one solve per solver ([`worker`], [`protocol`]) into
//!   [`model::RunData`], and the work–precision [`sweep`];
//! - its view state ([`state::ViewState`]: tab, selection, hover, playback, toggles), the
//!   step table's order and the custom formulas' check.
//!
//! Panels read the session and push [`command::Command`]s; [`apply`] applies them in one place
//! at the end of the frame. [`freshness`] marks results stale when the session no longer
//! describes them and re-solves them once editing pauses. The panels: [`problem_panel`],
//! [`solver_panel`] (left), [`inspector`], [`lens`], [`stats`] (right), [`step_table`]
//! (bottom), [`plots`] (centre), [`menu`] (menu entries, toolbar); [`frame`] lays them out.

pub mod apply;
pub mod command;
pub mod files;
pub mod frame;
pub mod freshness;
pub mod inspector;
pub mod lens;
pub mod menu;
pub mod model;
pub mod playback;
pub mod plots;
pub mod problem_panel;
pub mod protocol;
pub mod runs;
pub mod session;
pub mod solver_panel;
pub mod state;
pub mod stats;
pub mod step_table;
pub mod sweep;
pub mod worker;

use std::any::Any;
use std::path::Path;

use command::Command;
use files::FileAction;
use freshness::AutoSolve;
use model::{RunData, RunStatus};
use problem_panel::CustomCheck;
use session::Session;
use state::{Tab, ViewState};
use step_table::TableOrder;
use sweep::SweepState;
use worker::SolveHandle;

use super::file_prompt::PathPrompt;
use super::room::{Claim, Handoff, Launch, Menu, Restore, Room, RoomCx, RoomInfo};
use super::undo::EditHistory;

const SESSION_KEY: &str = "nodelab-session";
/// How the saved session's runs ended: `ok`, `failed` or `running` (cut short by a crash or a
/// kill). Only a session whose runs ended `ok` is re-run at launch.
const OUTCOME_KEY: &str = "nodelab-last-run";

/// Whether a session restored at launch may be re-run: not when its runs failed or were cut
/// short last time (a run that exhausted memory must not start again on its own). A session
/// saved before this key existed counts as `ok`.
pub fn rerun_restored_session(last_outcome: Option<&str>) -> bool {
    last_outcome.is_none_or(|o| o == "ok")
}

/// The Explorer room.
pub struct Explorer {
    session: Session,
    /// Undo and redo over the panels' edits of the session; its revision is the session's.
    edits: EditHistory<Session>,
    runs: Vec<RunData>,
    handles: Vec<Option<SolveHandle>>,
    field_requested: Vec<Option<(usize, usize)>>,
    sweep: SweepState,
    pub view: ViewState,
    /// The panels' commands, applied at the end of the frame.
    pub commands: Vec<Command>,
    /// The debounce of automatic re-solves.
    auto: AutoSolve,
    custom_check: CustomCheck,
    table_order: TableOrder,
    preset_error: Option<String>,
    /// The path prompt shown instead of a file dialog, when there is none.
    path_prompt: Option<PathPrompt<FileAction>>,
    /// The restored session may be re-run at launch.
    rerun: bool,
    /// Select this attempt of the first run once it exists (screenshots).
    select: Option<usize>,
    /// Hovering a step previews it.
    hover: bool,
}

/// The explorer's own job results.
#[derive(Debug)]
pub enum ExplorerJob {
    PresetLoaded(
        Box<
            Result<
                (crate::preset::LoadedPreset, crate::problem::Problem),
                crate::preset::PresetError,
            >,
        >,
    ),
    /// A weights file was chosen and loads: its path and the network's state dimension.
    WeightsLoaded(Result<(std::path::PathBuf, usize), String>),
    /// The file dialog did not show (no backend): ask for the path in the app.
    DialogFailed(FileAction),
}

impl Explorer {
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The session for a direct write (tests, embedding): counted as an edit, not undoable.
    pub fn session_mut(&mut self) -> &mut Session {
        self.edits.revision += 1;
        &mut self.session
    }

    pub fn runs(&self) -> &[RunData] {
        &self.runs
    }

    pub fn preset_error(&self) -> Option<&str> {
        self.preset_error.as_deref()
    }

    pub fn path_prompt(&self) -> Option<&PathPrompt<FileAction>> {
        self.path_prompt.as_ref()
    }

    pub fn work_precision(&self) -> &SweepState {
        &self.sweep
    }

    /// The attempts that playback can show.
    fn available(&self) -> usize {
        self.runs.iter().map(|r| r.records.len()).max().unwrap_or(0)
    }
}

impl Room for Explorer {
    fn info() -> RoomInfo {
        RoomInfo {
            name: "explorer",
            label: "Explorer",
            help: "step adaptation, live: solvers on one ODE",
        }
    }

    fn restore(from: Restore<'_>) -> Self {
        let (stored, options) = (from.stored, from.options);
        let restored = stored(SESSION_KEY).and_then(|s| serde_json::from_str::<Session>(&s).ok());
        let rerun = restored.is_none() || rerun_restored_session(stored(OUTCOME_KEY).as_deref());
        let mut view = ViewState::default();
        view.playback.as_fast_as_possible = options.fast_playback;
        Self {
            session: restored.unwrap_or_default(),
            edits: EditHistory::default(),
            runs: Vec::new(),
            handles: Vec::new(),
            field_requested: Vec::new(),
            sweep: SweepState::default(),
            view,
            commands: Vec::new(),
            auto: AutoSolve::new(options.auto_solve_delay),
            custom_check: CustomCheck::default(),
            table_order: TableOrder::default(),
            preset_error: None,
            path_prompt: None,
            rerun,
            select: options.select,
            hover: options.hover,
        }
    }

    fn save(&self, put: &mut dyn FnMut(&'static str, String)) {
        if let Ok(s) = serde_json::to_string(&self.session) {
            put(SESSION_KEY, s);
        }
        // Without runs (none started yet) the previous outcome stands.
        let outcome = self.runs.iter().fold(None, |worst, r| {
            let this = match r.status {
                RunStatus::Starting | RunStatus::Running => "running",
                RunStatus::Done => "ok",
                RunStatus::Invalid(_) | RunStatus::Failed(_) | RunStatus::Stopped => "failed",
            };
            match (worst, this) {
                (Some("running"), _) | (_, "running") => Some("running"),
                (Some("failed"), _) | (_, "failed") => Some("failed"),
                _ => Some("ok"),
            }
        });
        if let Some(o) = outcome {
            put(OUTCOME_KEY, o.into());
        }
    }

    /// Any preset the other rooms do not claim is a problem preset.
    fn claim(&self, what: Claim, _launch: &Launch<'_>) -> Option<u8> {
        (what == Claim::Preset).then_some(0)
    }

    fn launch(
        &mut self,
        launch: &Launch<'_>,
        preset: Option<&Path>,
        _start: bool,
        cx: &mut RoomCx<'_>,
    ) {
        let options = launch.options;
        if let Some(p) = preset {
            self.commands.push(Command::LoadPreset(p.to_path_buf()));
        } else if options.preset.is_some() || !options.run_at_start {
            // Another room's preset, or no solve at start.
        } else if self.rerun {
            self.commands.push(Command::Run);
        } else {
            cx.shared.toasts.info(
                "The last run of this session failed or was cut short, so it was not started \
                 again: check the settings, then press Run.",
            );
        }
        if let Some(tab) = options.tab {
            self.view.tab = tab;
            if tab == Tab::WorkPrecision {
                self.commands.push(Command::RunWorkPrecision);
            }
        }
    }

    fn workers(&self) -> usize {
        self.runs.iter().filter(|r| !r.is_finished()).count() + usize::from(self.sweep.running())
    }

    fn points(&self) -> usize {
        self.runs.iter().map(|r| r.records.len()).sum()
    }

    fn poll(&mut self, ctx: &egui::Context, cx: &mut RoomCx<'_>) {
        self.poll_workers(ctx, cx);
    }

    fn top_panels(&mut self, ui: &mut egui::Ui, _cx: &mut RoomCx<'_>) {
        let available = self.available();
        egui::Panel::top("toolbar").show(ui, |ui| {
            menu::toolbar(ui, &mut self.view, available, &mut self.commands);
        });
    }

    fn panels(&mut self, ui: &mut egui::Ui, cx: &mut RoomCx<'_>) {
        self.frame(ui, cx);
    }

    fn menu(&mut self, which: Menu, ui: &mut egui::Ui, cx: &mut RoomCx<'_>) {
        menu::entries(
            which,
            ui,
            &cx.shared.presets,
            &mut self.view,
            &mut self.commands,
        );
    }

    fn undo(&mut self) {
        self.commands.push(Command::Undo);
    }

    fn redo(&mut self) {
        self.commands.push(Command::Redo);
    }

    fn undo_depth(&self) -> (usize, usize) {
        self.edits.depth()
    }

    fn apply(&mut self, cx: &mut RoomCx<'_>) {
        for c in std::mem::take(&mut self.commands) {
            self.apply_command(c, cx);
        }
    }

    fn settle(&mut self, cx: &mut RoomCx<'_>) -> bool {
        self.apply(cx);
        self.wait_for_workers();
        !self.commands.is_empty()
    }

    fn on_job(
        &mut self,
        result: Box<dyn Any + Send>,
        cx: &mut RoomCx<'_>,
    ) -> Option<Box<dyn Any + Send>> {
        // Another room's result is given back (the shell offers it to the next room).
        let job = match result.downcast::<ExplorerJob>() {
            Ok(job) => job,
            Err(other) => return Some(other),
        };
        self.on_explorer_job(*job, cx);
        None
    }

    fn dropped(&mut self, path: &Path) -> bool {
        let p = path.to_path_buf();
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => self.commands.push(Command::LoadPreset(p)),
            Some("json") => self.commands.push(Command::LoadWeights(p)),
            _ => return false,
        }
        true
    }

    fn receive(&mut self, handoff: &Handoff, cx: &mut RoomCx<'_>) {
        match handoff {
            Handoff::OpenTrainedModel {
                model,
                path,
                y0,
                t_span,
            } => self.open_trained_model(model, path, y0, *t_span, cx),
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod launch_tests {
    use super::rerun_restored_session;

    #[test]
    fn a_session_that_failed_or_was_cut_short_is_not_rerun_at_launch() {
        assert!(rerun_restored_session(Some("ok")));
        // Saved before the outcome was recorded: as before, re-run.
        assert!(rerun_restored_session(None));
        assert!(!rerun_restored_session(Some("failed")));
        assert!(!rerun_restored_session(Some("running")));
    }
}
