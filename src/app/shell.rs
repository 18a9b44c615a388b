//! The eframe app: owns the three kinds of state (saved [`Session`], worker data [`RunData`],
//! view state [`ViewState`]), lays out the panels, and applies the panels' commands in one
//! place. Numerics and file I/O happen on worker and job threads only.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::TryRecvError;
use std::time::Instant;

use super::command::Command;
use super::file_prompt::{self, PathPrompt};
use super::freshness::{self, AutoSolve};
use super::jobs::Jobs;
use super::model::{RunData, RunStatus};
use super::problem_panel::{self, CustomCheck};
use super::protocol::SolveMsg;
use super::session::Session;
use super::state::{Tab, ViewState};
use super::step_table::{self, TableOrder};
use super::sweep::SweepState;
use super::theme;
use super::toasts::Toasts;
use super::worker::{self, SolveHandle};
use super::{inspector, layout, lens, menu, solver_panel, stats, status_bar};
use crate::preset::ProblemKind;

mod commands;
mod frame;
mod gradients;
pub mod training;
mod workspace;

pub use workspace::Workspace;

pub use commands::write_csv;

const SESSION_KEY: &str = "nodelab-session";
const DARK_KEY: &str = "nodelab-dark";
const TRAINING_KEY: &str = "nodelab-training";
const GRADIENTS_KEY: &str = "nodelab-gradients";
/// How the saved session's runs ended: `ok`, `failed` or `running` (cut short by a crash or a
/// kill). Only a session whose runs ended `ok` is re-run at launch.
const OUTCOME_KEY: &str = "nodelab-last-run";

/// Whether a session restored at launch may be re-run: not when its runs failed or were cut
/// short last time (a run that exhausted memory must not start again on its own). A session
/// saved before this key existed counts as `ok`.
pub fn rerun_restored_session(last_outcome: Option<&str>) -> bool {
    last_outcome.is_none_or(|o| o == "ok")
}
/// Most worker messages taken per run per frame (keeps frames short while data pours in).
const MESSAGES_PER_FRAME: usize = 64;

/// How the app is started.
#[derive(Clone, Debug)]
pub struct AppOptions {
    /// Folder listed in the Presets menu.
    pub presets_dir: PathBuf,
    /// Restore the session saved by the previous launch.
    pub restore: bool,
    /// Run the session's solvers at start.
    pub run_at_start: bool,
    /// Close after this many frames (smoke tests).
    pub exit_after_frames: Option<u64>,
    /// Save a screenshot of the window before closing (with `exit_after_frames`).
    pub screenshot: Option<PathBuf>,
    /// Show the adapter's name in the status bar (off in snapshot tests, whose adapter's
    /// name carries a driver version).
    pub show_adapter: bool,
    /// A preset to load at start.
    pub preset: Option<PathBuf>,
    /// The central view to open with.
    pub tab: Option<Tab>,
    /// Start with the debug overlay (frame time) shown.
    pub debug_overlay: bool,
    /// Start with "as fast as possible" playback.
    pub fast_playback: bool,
    /// Select this attempt of the first run once it exists (screenshots).
    pub select: Option<usize>,
    /// Hovering a step previews it (off for screenshots under Xvfb, whose pointer rests in the
    /// middle of the window).
    pub hover: bool,
    /// The workspace to open with.
    pub workspace: Option<Workspace>,
    /// Start the training (of the restored or loaded setup) at launch.
    pub start_training: bool,
    /// How long the session must stay unchanged before an automatic re-solve (tests use zero:
    /// the re-solve then starts on the next frame, deterministically).
    pub auto_solve_delay: std::time::Duration,
    /// Use the system's file dialogs where a backend is found (off: always ask for paths in
    /// the app's own prompt).
    pub file_dialogs: bool,
    /// The window's inner size at start (`NODELAB_WINDOW_SIZE=1920x1080`); 1280×800 if unset.
    pub window_size: Option<[f32; 2]>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            presets_dir: PathBuf::from("presets"),
            restore: true,
            run_at_start: true,
            exit_after_frames: None,
            screenshot: None,
            show_adapter: true,
            preset: None,
            tab: None,
            debug_overlay: false,
            fast_playback: false,
            select: None,
            hover: true,
            workspace: None,
            start_training: false,
            auto_solve_delay: freshness::DEFAULT_DELAY,
            file_dialogs: true,
            window_size: None,
        }
    }
}

/// The nodelab desktop app.
pub struct NodelabApp {
    session: Session,
    dark: bool,
    runs: Vec<RunData>,
    handles: Vec<Option<SolveHandle>>,
    field_requested: Vec<Option<(usize, usize)>>,
    view: ViewState,
    sweep: SweepState,
    jobs: Jobs,
    toasts: Toasts,
    presets: Vec<PathBuf>,
    preset_error: Option<String>,
    /// The path prompt shown instead of a file dialog, when there is none.
    path_prompt: Option<PathPrompt>,
    custom_check: CustomCheck,
    table_order: TableOrder,
    adapter: Option<String>,
    /// GPU compute on the renderer's device (none when eframe runs without wgpu).
    gpu: Option<std::sync::Arc<crate::gpu::GpuContext>>,
    options: AppOptions,
    frames: u64,
    last_frame: Option<Instant>,
    commands: Vec<Command>,
    /// The session revision and the debounce of automatic re-solves.
    auto: AutoSolve,
    repaint: Arc<dyn Fn() + Send + Sync>,
    screenshot_saved: Arc<AtomicBool>,
    screenshot_requested: bool,
    closing: bool,
    workspace: Workspace,
    /// The Training workspace (its setup is saved between launches).
    pub training: super::training::TrainingWorkspace,
    /// The Gradients workspace (its setup is saved between launches).
    pub gradients: super::gradients::GradientsWorkspace,
    /// Undo and redo over the panels' edits of the session.
    edits: super::edits::EditHistory,
}

impl NodelabApp {
    /// The GPU compute context on eframe's own device, for GPU work started from the app.
    pub fn gpu(&self) -> Option<&std::sync::Arc<crate::gpu::GpuContext>> {
        self.gpu.as_ref()
    }

    pub fn new(cc: &eframe::CreationContext<'_>, options: AppOptions) -> Self {
        let ctx = cc.egui_ctx.clone();
        let repaint: Arc<dyn Fn() + Send + Sync> = Arc::new(move || ctx.request_repaint());
        let stored = |key: &str| {
            options
                .restore
                .then(|| cc.storage.and_then(|s| s.get_string(key)))
                .flatten()
        };
        if !options.restore {
            // Fresh means fresh: egui's persisted memory (panel widths, plot zoom) was loaded
            // by eframe before the app exists; forget it too.
            cc.egui_ctx
                .memory_mut(|m| m.data = egui::util::IdTypeMap::default());
        }
        let restored = stored(SESSION_KEY).and_then(|s| serde_json::from_str::<Session>(&s).ok());
        let rerun = restored.is_none() || rerun_restored_session(stored(OUTCOME_KEY).as_deref());
        let session = restored.unwrap_or_default();
        let dark = stored(DARK_KEY).is_none_or(|s| s != "light");
        let training = stored(TRAINING_KEY)
            .map(|t| super::training::TrainingWorkspace::from_toml(&t))
            .unwrap_or_default();
        let gradients = super::gradients::GradientsWorkspace::new(
            stored(GRADIENTS_KEY)
                .map(|t| super::gradients::GradSetup::from_json(&t))
                .unwrap_or_default(),
        );
        theme::install_fonts(&cc.egui_ctx);
        theme::apply(&cc.egui_ctx, dark);
        // The compute context shares eframe's own wgpu device and queue, so GPU results can be
        // drawn without copies; the status bar reports that adapter.
        let gpu = cc.wgpu_render_state.as_ref().map(|rs| {
            crate::gpu::GpuContext::from_device(
                rs.device.clone(),
                rs.queue.clone(),
                &rs.adapter.get_info(),
            )
        });
        let adapter = gpu.as_ref().map(|g| g.adapter.summary());
        let options_workspace = options.workspace.unwrap_or_default();
        let auto_delay = options.auto_solve_delay;
        let mut app = Self {
            session,
            dark,
            runs: Vec::new(),
            handles: Vec::new(),
            field_requested: Vec::new(),
            view: ViewState::default(),
            sweep: SweepState::default(),
            jobs: Jobs::new(repaint.clone()),
            toasts: Toasts::default(),
            presets: Vec::new(),
            preset_error: None,
            path_prompt: None,
            custom_check: CustomCheck::default(),
            table_order: TableOrder::default(),
            adapter,
            gpu,
            options,
            frames: 0,
            last_frame: None,
            commands: Vec::new(),
            auto: AutoSolve::new(auto_delay),
            repaint,
            screenshot_saved: Arc::new(AtomicBool::new(false)),
            screenshot_requested: false,
            closing: false,
            workspace: options_workspace,
            training,
            gradients,
            edits: super::edits::EditHistory::default(),
        };
        app.commands.push(Command::RefreshPresets);
        let training_preset = app.options.preset.as_ref().is_some_and(|p| {
            std::fs::read_to_string(p).is_ok_and(|t| crate::train::preset::is_train_preset(&t))
        });
        let gradients_preset = app.workspace == Workspace::Gradients && !training_preset;
        if let (true, Some(p)) = (gradients_preset, app.options.preset.clone()) {
            // A gradient preset for the Gradients workspace (NODELAB_WORKSPACE=gradients).
            app.gradients.setup.source = super::gradients::Source::Preset;
            app.gradients.setup.preset = p.display().to_string();
        } else if let (true, Some(p)) = (training_preset, app.options.preset.clone()) {
            app.workspace = Workspace::Training;
            app.training
                .actions
                .push(super::training::TrainingAction::LoadPreset(p));
        } else if let Some(p) = app.options.preset.clone() {
            app.commands.push(Command::LoadPreset(p));
        } else if app.options.run_at_start && rerun {
            app.commands.push(Command::Run);
        } else if app.options.run_at_start {
            app.toasts.info(
                "The last run of this session failed or was cut short, so it was not started \
                 again: check the settings, then press Run.",
            );
        }
        if let Some(tab) = app.options.tab {
            app.view.tab = tab;
            if tab == Tab::WorkPrecision {
                app.commands.push(Command::RunWorkPrecision);
            }
        }
        if app.options.start_training && app.workspace == Workspace::Gradients {
            app.options.start_training = false;
            let inputs = super::gradients::TrainingInputs::of(&app.training);
            app.gradients.start(inputs);
        } else if app.options.start_training && !training_preset {
            app.options.start_training = false;
            app.training.start(false);
        }
        app.view.debug_overlay = app.options.debug_overlay;
        app.view.playback.as_fast_as_possible = app.options.fast_playback;
        app
    }

    // ----- accessors for tests and embedding -----

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Removes every notification now (snapshot tests: a toast's lifetime depends on frame
    /// timing, so it would make the images flaky).
    pub fn dismiss_toasts(&mut self) {
        self.toasts.items.clear();
    }

    /// The workspace on screen.
    pub fn workspace(&self) -> Workspace {
        self.workspace
    }

    /// How many edits can be undone and redone.
    pub fn undo_depth(&self) -> (usize, usize) {
        self.edits.depth()
    }

    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    pub fn runs(&self) -> &[RunData] {
        &self.runs
    }

    pub fn view(&self) -> &ViewState {
        &self.view
    }

    pub fn view_mut(&mut self) -> &mut ViewState {
        &mut self.view
    }

    pub fn preset_error(&self) -> Option<&str> {
        self.preset_error.as_deref()
    }

    /// The path prompt, while it is open.
    pub fn path_prompt(&self) -> Option<&PathPrompt> {
        self.path_prompt.as_ref()
    }

    pub fn presets(&self) -> &[PathBuf] {
        &self.presets
    }

    pub fn toasts(&self) -> &Toasts {
        &self.toasts
    }

    pub fn work_precision(&self) -> &SweepState {
        &self.sweep
    }

    /// Queues a command, applied at the end of the next frame (or by [`Self::settle`]).
    pub fn push_command(&mut self, c: Command) {
        self.commands.push(c);
    }

    /// Applies queued commands and blocks until every worker and job has finished, taking all
    /// their results (tests drive the app deterministically with this instead of waiting on
    /// wall-clock playback).
    pub fn settle(&mut self) {
        loop {
            self.apply_commands();
            for i in 0..self.runs.len() {
                while !self.runs[i].is_finished() {
                    let Some(h) = &self.handles[i] else { break };
                    match h.rx.recv() {
                        Ok(m) => apply_msg(&mut self.runs[i], m),
                        Err(_) => {
                            self.handles[i] = None;
                            break;
                        }
                    }
                }
                self.drain(i, usize::MAX);
            }
            for r in self.jobs.wait_all() {
                self.on_job(r);
            }
            self.sweep.wait();
            if self.commands.is_empty() && self.jobs.pending() == 0 {
                break;
            }
        }
    }

    /// Blocks until run `run` has answered every outstanding probe/field request that arrives
    /// within `timeout` (tests).
    pub fn wait_for_worker_reply(&mut self, run: usize, timeout: std::time::Duration) {
        if let Some(Some(h)) = self.handles.get(run)
            && let Ok(m) = h.rx.recv_timeout(timeout)
        {
            apply_msg(&mut self.runs[run], m);
        }
    }

    // ----- workers -----

    fn start_runs(&mut self) {
        self.handles.clear();
        self.runs.clear();
        self.field_requested.clear();
        self.view.selected = None;
        self.view.hovered = None;
        self.view.playback.restart();
        if self.view.table_run >= self.session.solvers.len() {
            self.view.table_run = 0;
        }
        let spec = self.session.problem_spec();
        for (i, cfg) in self.session.solvers.iter().enumerate() {
            let mut run = RunData::new(cfg.clone(), theme::run_color(i));
            run.spec = spec.clone();
            if let (Some(loss), Some([_, t_end])) = (self.session.loss(), spec.t_span) {
                run.targets = super::model::loss_targets(loss, t_end);
            }
            let handle = match worker::spawn(
                spec.clone(),
                PathBuf::from("."),
                cfg.clone(),
                self.repaint.clone(),
            ) {
                Ok(h) => Some(h),
                Err(e) => {
                    run.status = RunStatus::Invalid(format!("cannot start a worker thread: {e}"));
                    None
                }
            };
            self.runs.push(run);
            self.handles.push(handle);
            self.field_requested.push(None);
        }
    }

    /// Takes up to `budget` messages of run `i`.
    fn drain(&mut self, i: usize, budget: usize) {
        let Some(h) = &self.handles[i] else { return };
        let mut n = 0;
        while n < budget {
            match h.rx.try_recv() {
                Ok(m) => {
                    let invalid = matches!(m, SolveMsg::Invalid(_));
                    apply_msg(&mut self.runs[i], m);
                    n += 1;
                    if invalid {
                        self.handles[i] = None;
                        return;
                    }
                }
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    if !self.runs[i].is_finished() {
                        self.runs[i].status = RunStatus::Invalid("the solve worker stopped".into());
                    }
                    self.handles[i] = None;
                    return;
                }
            }
        }
        // More is waiting: come back next frame.
        (self.repaint)();
    }

    /// The session can be solved as it stands (no formula or settings error).
    pub(super) fn session_is_valid(&self) -> bool {
        let problem_ok = match self.session.kind {
            ProblemKind::Builtin => true,
            ProblemKind::Custom => self.custom_check.is_ok(),
            ProblemKind::Neural => self.session.neural.weights.is_some(),
        };
        problem_ok && self.session.solvers.iter().all(|c| c.validate().is_ok())
    }

    /// Results carry their inputs: marks the runs and the sweep stale when the session no
    /// longer describes them, and re-solves them once the editing pauses (when automatic
    /// re-solving is on and the session is valid).
    fn keep_results_fresh(&mut self, ctx: &egui::Context) {
        let now = Instant::now();
        self.auto.observe(&self.session, now);
        self.view.stale = freshness::stale_reason(&self.runs, &self.session);
        let spec = self.session.problem_spec();
        let sweep_stale = self.sweep.is_stale(&spec)
            || (self.sweep.running() && self.sweep.running_spec.as_ref() != Some(&spec));
        if !self.view.auto_solve || !self.session_is_valid() {
            return;
        }
        // Dragging the initial state re-solves live (the solves are fast); other edits wait
        // for a pause.
        if let Some(left) = self.auto.wait_left(now)
            && self.view.y0_drag.is_none()
        {
            ctx.request_repaint_after(left);
            return;
        }
        if self.view.stale.is_some() && self.auto.run_requested != self.auto.revision {
            self.commands.push(Command::Run);
        }
        if sweep_stale
            && self.view.tab == Tab::WorkPrecision
            && self.auto.sweep_requested != self.auto.revision
        {
            self.commands.push(Command::RunWorkPrecision);
        }
    }

    fn busy_workers(&self) -> usize {
        self.runs.iter().filter(|r| !r.is_finished()).count()
            + usize::from(self.sweep.running())
            + self.jobs.pending()
    }
}

/// Applies one worker message to its run.
fn apply_msg(run: &mut RunData, m: SolveMsg) {
    match m {
        SolveMsg::Started(info) => run.start(info),
        SolveMsg::Exact(curve) => run.exact_curve = curve,
        SolveMsg::Steps(records, errors) => run.push(records, errors),
        SolveMsg::Finished {
            nfev,
            warnings,
            error,
        } => {
            run.nfev = nfev;
            run.warnings = warnings;
            run.status = match error {
                Some(e) => RunStatus::Failed(e),
                None => RunStatus::Done,
            };
        }
        SolveMsg::Invalid(e) => run.status = RunStatus::Invalid(e),
        SolveMsg::Probe(p) => run.probe = Some(p),
        SolveMsg::Field(f) => run.field = Some(f),
        SolveMsg::Batch(b) => run.batch = b,
    }
}

impl eframe::App for NodelabApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let started = Instant::now();
        let ctx = ui.ctx().clone();
        if ctx.theme()
            != if self.dark {
                egui::Theme::Dark
            } else {
                egui::Theme::Light
            }
        {
            theme::apply(&ctx, self.dark);
        }
        for i in 0..self.runs.len() {
            self.drain(i, MESSAGES_PER_FRAME);
        }
        for r in self.jobs.poll() {
            self.on_job(r);
        }
        self.sweep.poll();
        self.handle_input(&ctx);
        let dt = ctx.input(|i| i.stable_dt) as f64;
        let available = self.available();
        if self.view.playback.advance(dt, available) {
            ctx.request_repaint();
        }
        self.custom_check.update(&self.session.custom);
        self.keep_results_fresh(&ctx);

        egui::Panel::top("menu").show(ui, |ui| {
            menu::menu_bar(
                ui,
                &self.presets,
                &mut self.view,
                self.dark,
                &mut self.commands,
            );
        });
        egui::Panel::top("workspaces").show(ui, |ui| self.workspace_bar(ui));
        self.training_poll(&ctx);
        self.gradients_poll(&ctx);
        if matches!(self.workspace, Workspace::Training | Workspace::Gradients) {
            egui::Panel::bottom("status").show(ui, |ui| {
                let adapter = if self.options.show_adapter {
                    self.adapter.as_deref()
                } else {
                    Some("(adapter hidden)")
                };
                status_bar::ui(ui, adapter, self.busy_workers(), &self.view);
            });
            if self.workspace == Workspace::Training {
                self.training_frame(ui);
            } else {
                self.gradients_frame(ui);
            }
            self.toasts.ui(&ctx, dt as f32);
            self.finish_frame(&ctx, started);
            return;
        }
        egui::Panel::top("toolbar").show(ui, |ui| {
            menu::toolbar(ui, &mut self.view, available, &mut self.commands);
        });
        egui::Panel::bottom("status").show(ui, |ui| {
            let adapter = if self.options.show_adapter {
                self.adapter.as_deref()
            } else {
                Some("(adapter hidden)")
            };
            status_bar::ui(ui, adapter, self.busy_workers(), &self.view);
        });
        // Width ranges follow the window, so that neither a long formula nor a width restored
        // from another launch can push the plots out (see `layout`).
        let window = ui.max_rect().size();
        let (left, right) = (layout::left(window.x), layout::right(window.x));
        let left_panel = egui::Panel::left("setup")
            .resizable(true)
            .size_range(left.range)
            .default_size(left.default)
            .show(ui, |ui| {
                // Contents wider than the panel scroll sideways: a panel must never grow
                // with its contents (it would paint over its neighbour).
                egui::ScrollArea::both().show(ui, |ui| {
                    problem_panel::ui(ui, &self.session, &self.custom_check, &mut self.commands);
                    ui.separator();
                    let running = self.runs.iter().any(|r| !r.is_finished());
                    solver_panel::ui(
                        ui,
                        &self.session,
                        running,
                        &mut self.view.auto_solve,
                        &mut self.commands,
                    );
                });
            });
        // Wide enough for the step's components, so that showing a step never resizes the
        // plots under the pointer.
        let right_panel = egui::Panel::right("inspector")
            .resizable(true)
            .size_range(right.range)
            .default_size(right.default)
            .show(ui, |ui| {
                // Contents wider than the panel scroll sideways: a panel must never grow
                // with its contents (it would paint over its neighbour).
                egui::ScrollArea::both().show(ui, |ui| {
                    inspector::ui(ui, &self.runs, &mut self.view, &mut self.commands);
                    lens::ui(ui, &self.runs, &self.view);
                    ui.separator();
                    stats::ui(ui, &self.runs, &mut self.view, &mut self.commands);
                });
            });
        if self.view.show_table && self.view.tab == Tab::TimePlots && !self.runs.is_empty() {
            egui::Panel::bottom("steps")
                .resizable(true)
                .size_range(layout::table(window.y))
                .default_size(170.0_f32.min(window.y * 0.25))
                .show(ui, |ui| {
                    step_table::ui(
                        ui,
                        &self.runs,
                        &mut self.view,
                        &mut self.table_order,
                        &mut self.commands,
                    );
                });
        }
        let central = egui::CentralPanel::default().show(ui, |ui| self.central(ui));
        self.view.layout = layout::Layout {
            window,
            left: left_panel.response.rect,
            right: right_panel.response.rect,
            central: central.response.rect,
        };
        self.error_window(&ctx);
        if let Some(prompt) = &mut self.path_prompt {
            let (command, keep) = file_prompt::ui(&ctx, prompt);
            self.commands.extend(command);
            if !keep {
                self.path_prompt = None;
            }
        }
        self.toasts.ui(&ctx, dt as f32);
        if self.view.debug_overlay {
            let n: usize = self.runs.iter().map(|r| r.records.len()).sum();
            status_bar::overlay(&ctx, &self.view, n);
            ctx.request_repaint();
        }

        self.view.hovered = self.view.hovered_next.take().filter(|_| self.options.hover);
        self.finish_frame(&ctx, started);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if let Ok(s) = serde_json::to_string(&self.session) {
            storage.set_string(SESSION_KEY, s);
        }
        storage.set_string(DARK_KEY, if self.dark { "dark" } else { "light" }.into());
        if let Some(t) = self.training.to_toml() {
            storage.set_string(TRAINING_KEY, t);
        }
        if let Some(g) = self.gradients.setup.to_json() {
            storage.set_string(GRADIENTS_KEY, g);
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
            storage.set_string(OUTCOME_KEY, o.into());
        }
    }
}

impl NodelabApp {
    /// Commands, frame timing and the scripted-run hooks, at the end of every frame.
    fn finish_frame(&mut self, ctx: &egui::Context, started: Instant) {
        self.apply_commands();
        let now = Instant::now();
        let interval = self
            .last_frame
            .map_or(0.0, |t| (now - t).as_secs_f32() * 1000.0);
        self.last_frame = Some(now);
        self.view
            .frame_times
            .push((now - started).as_secs_f32() * 1000.0, interval);
        self.frames += 1;
        self.smoke_test_hooks(ctx);
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
