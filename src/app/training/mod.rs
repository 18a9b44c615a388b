//! The Training room: train a toy neural ODE with several gradient methods side by side, live.
//! It owns the setup ([`TrainConfig`], saved between launches as a training preset, undoable),
//! the run on screen (the engine, [`crate::train`], runs on its own thread and streams updates
//! through a bounded channel; this module keeps the prepared series drawn each frame), the data
//! preview and the view settings. Panels emit [`TrainingAction`]s; [`room`] applies them.
//!
//! - [`curves`]: how the loss curves are drawn (smoothing, x axis, small multiples) and each
//!   curve's prepared points;
//! - [`runs`]: the kept runs (the runs folder listed, runs laid over the plot, resume);
//! - [`room`]: the room as the shell sees it (launch settings, panels, the apply point);
//! - [`setup`]: the left panel (task, model, solver, optimiser, methods, controls, progress);
//! - [`view`]: the centre (loss curves, comparison table and bars, gradient errors, the learned
//!   model live: decision regions and the flow of the points, or the predicted trajectory).

pub mod close_prompt;
pub mod curves;
pub mod room;
pub mod runs;
pub mod setup;
pub mod view;

use std::path::PathBuf;
use std::time::Instant;

use crate::grad::GradMethod;
use crate::train::history::{KEEP, Strides, push_thinned};
use crate::train::record::{EvalRecord, GradCheck, IterRecord, MethodStatus};
use crate::train::{
    Model, Prediction, TaskData, TaskName, TrainConfig, TrainControl, TrainEvent, TrainHandle,
    TrainUpdate, preset::TrainPreset,
};

/// Grid of the decision-region heat map.
pub const HEATMAP_GRID: usize = 40;
/// Update events buffered between the engine and the UI.
const EVENT_CAPACITY: usize = 64;

/// One method of the current run, as drawn.
#[derive(Clone, Debug)]
pub struct MethodView {
    pub method: GradMethod,
    pub status: MethodStatus,
    /// The history thinned as the engine's is ([`crate::train::history`]: at most
    /// [`crate::train::history::KEEP`] of each kind, however long the run); the whole curve is
    /// in the run directory's `curve.csv`.
    pub records: Vec<IterRecord>,
    pub evals: Vec<EvalRecord>,
    pub checks: Vec<GradCheck>,
    pub strides: Strides,
    /// The loss curve on every x axis, raw and smoothed, prepared as records arrive so a frame
    /// only decimates it.
    pub curve: curves::CurveData,
    pub model: Option<Model>,
    pub prediction: Option<Prediction>,
    /// The learned vector field on a grid, for a 2-D state (computed when a model arrives).
    pub field: Option<FieldArrows>,
}

/// Arrows of a 2-D vector field: grid points and the field there, `f(t0, y)`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldArrows {
    pub origins: Vec<[f64; 2]>,
    pub vectors: Vec<[f64; 2]>,
}

/// Arrows per side of the vector-field grid.
pub const FIELD_GRID: usize = 15;

impl FieldArrows {
    /// `f(t, y)` of a 2-D network on an `n × n` grid over `bounds = [x0, x1, y0, y1]`
    /// (`None` for other state dimensions). n² small forward passes: well under a millisecond
    /// for the toy models, done once per arriving model.
    pub fn of(mlp: &crate::nn::Mlp, t: f64, bounds: [f64; 4], n: usize) -> Option<Self> {
        if mlp.dim() != 2 || n < 2 || !bounds.iter().all(|b| b.is_finite()) {
            return None;
        }
        let mut out = Self::default();
        for i in 0..n {
            for j in 0..n {
                let x = bounds[0] + (bounds[1] - bounds[0]) * i as f64 / (n - 1) as f64;
                let y = bounds[2] + (bounds[3] - bounds[2]) * j as f64 / (n - 1) as f64;
                let f = mlp.forward(t, &[x, y]);
                if f.iter().all(|v| v.is_finite()) {
                    out.origins.push([x, y]);
                    out.vectors.push([f[0], f[1]]);
                }
            }
        }
        Some(out)
    }
}

/// The plane a 2-D field is drawn over: the classifier's grid, or the data's box padded by a
/// tenth on each side.
fn field_bounds(data: &TaskData, pred: &Prediction) -> Option<[f64; 4]> {
    match (pred, data) {
        (Prediction::Classes { bounds, .. }, _) => Some(*bounds),
        (_, TaskData::Trajectory(t)) => {
            let mut b = [
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::INFINITY,
                f64::NEG_INFINITY,
            ];
            for s in t.states.iter().filter(|s| s.len() == 2) {
                b = [
                    b[0].min(s[0]),
                    b[1].max(s[0]),
                    b[2].min(s[1]),
                    b[3].max(s[1]),
                ];
            }
            let (px, py) = ((b[1] - b[0]) * 0.1, (b[3] - b[2]) * 0.1);
            let b = [b[0] - px, b[1] + px, b[2] - py, b[3] + py];
            (b.iter().all(|v| v.is_finite()) && b[1] > b[0] && b[3] > b[2]).then_some(b)
        }
        _ => None,
    }
}

impl MethodView {
    fn new(method: GradMethod) -> Self {
        Self {
            method,
            status: MethodStatus::Running,
            records: Vec::new(),
            evals: Vec::new(),
            checks: Vec::new(),
            strides: Strides::default(),
            curve: curves::CurveData::default(),
            model: None,
            prediction: None,
            field: None,
        }
    }

    /// Mean over the recorded iterations of `f`.
    pub fn mean(&self, f: impl Fn(&IterRecord) -> f64) -> Option<f64> {
        (!self.records.is_empty())
            .then(|| self.records.iter().map(&f).sum::<f64>() / self.records.len() as f64)
    }
}

/// Where the run stands.
#[derive(Clone, Debug, PartialEq)]
pub enum RunState {
    Idle,
    Running,
    Paused,
    /// Stop was asked; the current iteration is finishing.
    Stopping,
    Finished,
    Failed(String),
}

/// View settings of the workspace.
#[derive(Clone, Debug)]
pub struct TrainingView {
    /// How the loss curves are drawn (saved with the session; changed through
    /// [`TrainingAction::Curves`], so undoable).
    pub curves: curves::CurveSettings,
    /// The loss plots drawn in the last frame: title and bounds `[x0, x1, y0, y1]` (tests).
    pub drawn: Vec<(String, [f64; 4])>,
    /// Method whose learned model is shown.
    pub shown: usize,
    /// Column the comparison table is sorted by, and the direction.
    pub sort: (usize, bool),
    /// Position of the flow through the ODE block, 0 … 1.
    pub flow_t: f32,
    pub flow_playing: bool,
    /// How a density task's view is drawn (saved with the session).
    pub density: view::density::DensitySettings,
}

impl Default for TrainingView {
    fn default() -> Self {
        Self {
            curves: curves::CurveSettings::default(),
            drawn: Vec::new(),
            shown: 0,
            sort: (0, true),
            flow_t: 1.0,
            flow_playing: false,
            density: view::density::DensitySettings::default(),
        }
    }
}

/// What the room's panels ask for, applied in one place ([`room`]'s `apply`).
#[derive(Clone, Debug)]
pub enum TrainingAction {
    /// The setup as a panel edited it: replaces the setup (undoable).
    Edit(Box<TrainConfig>),
    /// Back to the setup before the last edit (Ctrl+Z).
    Undo,
    /// Again the edit that was undone (Ctrl+Shift+Z).
    Redo,
    /// Start a run of the setup (`paused`: step by step).
    Start {
        paused: bool,
    },
    Pause,
    Resume,
    /// One iteration (starts a paused run when none is going).
    Step,
    /// End the run after its current iteration.
    Stop,
    /// Clear the results.
    Reset,
    /// Write the model to `path` and open it in the explorer from `y0` on `t_span`.
    OpenInExplorer {
        model: Model,
        path: PathBuf,
        y0: Vec<f64>,
        t_span: [f64; 2],
    },
    /// Save a model (.json or .safetensors).
    SaveModel {
        model: Model,
        path: PathBuf,
        task: TaskName,
    },
    /// Write the curves (the CSV of `nodelab train --csv`).
    ExportCsv {
        text: String,
        path: PathBuf,
    },
    /// Export the loss plot (PNG or SVG by the path's extension).
    ExportPlot {
        figure: crate::export::Figure,
        path: PathBuf,
    },
    /// Write the setup as a training preset.
    SavePreset {
        text: String,
        path: PathBuf,
    },
    /// Load a training preset.
    LoadPreset(PathBuf),
    /// How the loss curves are drawn (undoable, merged like setup edits).
    Curves(curves::CurveSettings),
    /// The answer to the prompt shown when the window is closed during a run.
    Close(close_prompt::CloseChoice),
    /// List the runs folder again.
    ListRuns,
    /// Keep new runs in the runs folder (or not).
    KeepRuns(bool),
    /// Lay a kept run over the plot, or take it off.
    OverlayRun {
        dir: PathBuf,
        on: bool,
    },
    /// Load a kept run into the setup and continue training it.
    ResumeRun(PathBuf),
}

/// Which history an undo step belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edited {
    Setup,
    Curves,
}

/// An edit for [`TrainingWorkspace::edit`].
pub enum Edit {
    Setup(Box<TrainConfig>),
    Curves(curves::CurveSettings),
}

/// The Training room: its setup, the run on screen and its view state.
pub struct TrainingWorkspace {
    /// The setup the next run starts from (saved between launches as a training preset).
    pub config: TrainConfig,
    /// Undo and redo over the edits of `config`.
    pub edits: crate::app::undo::EditHistory<TrainConfig>,
    /// Undo and redo over the curve settings (`view.curves`).
    pub curve_edits: crate::app::undo::EditHistory<curves::CurveSettings>,
    /// The order of the undo steps of both histories (Ctrl+Z takes the latest of either),
    /// and of the undone ones.
    undo_order: Vec<Edited>,
    redo_order: Vec<Edited>,
    pub description: Option<String>,
    /// The config of the run on screen.
    pub run_config: Option<TrainConfig>,
    pub methods: Vec<MethodView>,
    pub state: RunState,
    pub iter: usize,
    pub iters: usize,
    pub elapsed_s: f64,
    /// The task data of the run on screen (or of the preview).
    pub data: Option<TaskData>,
    handle: Option<TrainHandle>,
    preview: Option<std::sync::mpsc::Receiver<(TrainConfig, Result<TaskData, String>)>>,
    preview_of: Option<TrainConfig>,
    pub view: TrainingView,
    pub warnings: Vec<String>,
    /// Where the run on screen trains ("CPU, f64", "GPU, f32: ADAPTER"); None until its
    /// thread has set it up.
    pub device: Option<String>,
    /// The iteration the run stood at when its thread reported ready (its first iteration on
    /// the GPU waits for the driver's compile: the setup says so until the next one lands).
    pub ready_at_iter: Option<usize>,
    pub actions: Vec<TrainingAction>,
    /// Text of the model-path field (dialogs need a desktop portal; the field always works).
    pub path_field: String,
    started: Option<Instant>,
    /// A close of the window during a run: the prompt and what was chosen.
    pub close: close_prompt::CloseState,
    /// The kept runs: the folder's list, the overlays, where the run on screen is kept.
    pub runs: runs::RunsState,
    /// Start a run once the launch preset is read (`NODELAB_START` with a training preset).
    start_after_load: bool,
}

impl Default for TrainingWorkspace {
    fn default() -> Self {
        Self::new(TrainConfig::defaults(TaskName::Circles), None)
    }
}

impl TrainingWorkspace {
    pub fn new(config: TrainConfig, description: Option<String>) -> Self {
        Self {
            config,
            edits: crate::app::undo::EditHistory::default(),
            curve_edits: crate::app::undo::EditHistory::default(),
            undo_order: Vec::new(),
            redo_order: Vec::new(),
            description,
            run_config: None,
            methods: Vec::new(),
            state: RunState::Idle,
            iter: 0,
            iters: 0,
            elapsed_s: 0.0,
            data: None,
            handle: None,
            preview: None,
            preview_of: None,
            view: TrainingView::default(),
            warnings: Vec::new(),
            device: None,
            ready_at_iter: None,
            actions: Vec::new(),
            path_field: "trained-model.safetensors".into(),
            started: None,
            close: close_prompt::CloseState::default(),
            runs: runs::RunsState::default(),
            start_after_load: false,
        }
    }

    /// The setup as training-preset text (the saved session of this workspace).
    pub fn to_toml(&self) -> Option<String> {
        TrainPreset::from_config(&self.config, self.description.clone())
            .to_toml()
            .ok()
    }

    /// Restores a setup saved by [`TrainingWorkspace::to_toml`] (anything invalid: defaults).
    pub fn from_toml(text: &str) -> Self {
        match TrainPreset::from_toml(text, "<session>")
            .and_then(|p| p.resolve(text, "<session>").map(|c| (c, p.description)))
        {
            Ok((c, d)) => Self::new(c, d),
            Err(_) => Self::default(),
        }
    }

    /// Applies an edit of the setup or of the curve settings (`discrete`: its own undo step)
    /// and notes which history took it, so that Ctrl+Z undoes the latest of either.
    pub fn edit(&mut self, next: Edit, discrete: bool) {
        let now = std::time::Instant::now();
        let (which, before, after) = match next {
            Edit::Setup(c) => {
                let before = self.edits.depth().0;
                if discrete {
                    self.edits.apply_discrete(&mut self.config, *c);
                } else {
                    self.edits.apply(&mut self.config, *c, now);
                }
                (Edited::Setup, before, self.edits.depth().0)
            }
            Edit::Curves(c) => {
                let before = self.curve_edits.depth().0;
                // Only a dragged smoothing merges; a click (axis, toggles) is a step of its own.
                if discrete || c.smoothing == self.view.curves.smoothing {
                    self.curve_edits.apply_discrete(&mut self.view.curves, c);
                } else {
                    self.curve_edits.apply(&mut self.view.curves, c, now);
                }
                self.refresh_curves();
                (Edited::Curves, before, self.curve_edits.depth().0)
            }
        };
        if after > before {
            self.undo_order.push(which);
            self.redo_order.clear();
        }
    }

    /// Undoes the latest step of either history; `false` when there is none.
    pub fn undo_edit(&mut self) -> bool {
        let which = self.undo_order.pop().or_else(|| {
            if self.edits.depth().0 > 0 {
                Some(Edited::Setup)
            } else if self.curve_edits.depth().0 > 0 {
                Some(Edited::Curves)
            } else {
                None
            }
        });
        let done = match which {
            Some(Edited::Setup) => self.edits.undo(&mut self.config),
            Some(Edited::Curves) => {
                let d = self.curve_edits.undo(&mut self.view.curves);
                self.refresh_curves();
                d
            }
            None => false,
        };
        if let (true, Some(w)) = (done, which) {
            self.redo_order.push(w);
        }
        done
    }

    /// Redoes the latest undone step; `false` when there is none.
    pub fn redo_edit(&mut self) -> bool {
        let Some(which) = self.redo_order.pop() else {
            return false;
        };
        let done = match which {
            Edited::Setup => self.edits.redo(&mut self.config),
            Edited::Curves => {
                let d = self.curve_edits.redo(&mut self.view.curves);
                self.refresh_curves();
                d
            }
        };
        if done {
            self.undo_order.push(which);
        }
        done
    }

    /// Steps that can be undone and redone (both histories).
    pub fn edit_depth(&self) -> (usize, usize) {
        (
            self.edits.depth().0 + self.curve_edits.depth().0,
            self.redo_order.len(),
        )
    }

    /// Brings every curve's smoothed points in line with the curve settings (the overlays'
    /// too).
    pub fn refresh_curves(&mut self) {
        for m in &mut self.methods {
            m.curve.refresh(&self.view.curves);
        }
        for o in &mut self.runs.overlays {
            for m in &mut o.methods {
                m.curve.refresh(&self.view.curves);
            }
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(
            self.state,
            RunState::Running | RunState::Paused | RunState::Stopping
        )
    }

    /// Starts a run of the current setup (`paused`: step by step). The setup itself (data,
    /// adapter, GPU kernels) happens on the run's thread: the frame never waits for it; the
    /// run's data, warnings and device arrive with its first event.
    pub fn start(&mut self, paused: bool) {
        self.detach();
        let config = self.config.clone();
        if let Err(e) = config.validate() {
            self.state = RunState::Failed(e);
            return;
        }
        self.warnings.clear();
        self.device = None;
        self.ready_at_iter = None;
        self.methods = config.methods.iter().map(|&m| MethodView::new(m)).collect();
        self.view.shown = self.view.shown.min(self.methods.len().saturating_sub(1));
        self.iter = 0;
        self.iters = config.iters;
        self.elapsed_s = 0.0;
        let control = if paused {
            TrainControl::paused()
        } else {
            TrainControl::new()
        };
        let keep = match (&self.runs.folder, self.runs.keep) {
            (Some(folder), true) => crate::train::spawn::Keep::In(folder.clone()),
            _ => crate::train::spawn::Keep::No,
        };
        self.runs.current_dir = None;
        self.runs.resumed = false;
        match crate::train::spawn::spawn_kept(
            Some(config.clone()),
            keep,
            HEATMAP_GRID,
            control,
            EVENT_CAPACITY,
        ) {
            Ok(h) => {
                self.handle = Some(h);
                self.state = if paused {
                    RunState::Paused
                } else {
                    RunState::Running
                };
                self.run_config = Some(config);
                self.started = Some(Instant::now());
            }
            Err(e) => self.state = RunState::Failed(e),
        }
    }

    /// Continues a kept run: its history comes on screen and its thread picks up from its
    /// directory (the weights, optimiser state and batch position kept there), for the
    /// iterations it has left, or as many again when it had finished.
    pub fn resume_kept(&mut self, saved: crate::train::run_dir::SavedRun) {
        self.detach();
        self.warnings.clear();
        self.device = None;
        self.ready_at_iter = None;
        let s = &saved.summary;
        let more = (s.iters_done >= s.iters).then_some(s.iters.max(1));
        let mut methods = Vec::new();
        for m in &saved.methods {
            let Some(method) = GradMethod::parse(&m.method) else {
                self.state = RunState::Failed(format!("unknown method '{}' in the run", m.method));
                return;
            };
            let mut v = MethodView::new(method);
            for r in &m.records {
                v.curve.push(r);
            }
            v.curve.refresh(&self.view.curves);
            v.records = m.records.clone();
            v.evals = m.evals.clone();
            v.checks = m.checks.clone();
            v.strides = m.strides;
            methods.push(v);
        }
        self.methods = methods;
        self.view.shown = self.view.shown.min(self.methods.len().saturating_sub(1));
        self.iter = s.iters_done;
        self.iters = s.iters_done + more.unwrap_or(s.iters.saturating_sub(s.iters_done));
        self.elapsed_s = 0.0;
        self.runs.overlays.retain(|o| o.dir != s.dir);
        match crate::train::spawn::spawn_resume(
            s.dir.clone(),
            more,
            HEATMAP_GRID,
            TrainControl::new(),
            EVENT_CAPACITY,
        ) {
            Ok(h) => {
                self.handle = Some(h);
                self.state = RunState::Running;
                self.runs.current_dir = Some(s.dir.clone());
                self.runs.resumed = true;
                self.started = Some(Instant::now());
            }
            Err(e) => self.state = RunState::Failed(e),
        }
    }

    pub fn pause(&mut self) {
        if let Some(h) = &self.handle {
            h.control.pause();
            self.state = RunState::Paused;
        }
    }

    pub fn resume(&mut self) {
        if let Some(h) = &self.handle {
            h.control.resume();
            self.state = RunState::Running;
        }
    }

    /// One iteration (starts a paused run when none is going).
    pub fn step(&mut self) {
        match &self.handle {
            Some(h) => {
                h.control.pause();
                h.control.step();
                self.state = RunState::Paused;
            }
            None => {
                self.start(true);
                if let Some(h) = &self.handle {
                    h.control.step();
                }
            }
        }
    }

    /// Asks the run to end after its current iteration (its results stay on screen); the end
    /// arrives through [`TrainingWorkspace::poll`]. Never waits on the UI thread.
    pub fn stop(&mut self) {
        if let Some(h) = &self.handle {
            h.control.stop();
            self.state = RunState::Stopping;
        }
    }

    /// Lets go of a run without waiting: it is told to stop, and with its receiver gone its
    /// last messages never wait for a reader.
    pub fn detach(&mut self) {
        if let Some(h) = self.handle.take() {
            h.control.stop();
        }
    }

    /// Clears the results: the next run starts from new initial weights of the seed.
    pub fn reset(&mut self) {
        self.detach();
        self.methods.clear();
        self.iter = 0;
        self.iters = 0;
        self.state = RunState::Idle;
        self.run_config = None;
        self.runs.current_dir = None;
        self.runs.resumed = false;
    }

    /// Applies every pending engine message; returns whether anything arrived.
    pub fn poll(&mut self) -> bool {
        let mut got = false;
        let mut finished = false;
        let mut failed = None;
        if let Some(h) = &self.handle {
            let mut events = Vec::new();
            while let Ok(ev) = h.events.try_recv() {
                events.push(ev);
            }
            got = !events.is_empty();
            for ev in events {
                match &ev {
                    TrainEvent::Finished(_) => finished = true,
                    TrainEvent::Failed(e) => failed = Some(e.clone()),
                    _ => {}
                }
                self.apply(ev);
            }
        }
        if let Some(e) = failed {
            self.handle = None;
            self.run_config = None;
            self.state = RunState::Failed(e);
        } else if finished {
            self.handle = None;
            self.state = RunState::Finished;
        }
        self.poll_preview();
        got
    }

    fn apply(&mut self, ev: TrainEvent) {
        match ev {
            TrainEvent::Ready(r) => {
                self.data = Some(r.data);
                for w in r.warnings {
                    if !self.warnings.contains(&w) {
                        self.warnings.push(w);
                    }
                }
                self.device = Some(r.device);
                self.ready_at_iter = Some(self.iter);
                self.runs.current_dir = r.run_dir;
                if r.start_iter > 0 {
                    // A resumed run: its setup becomes the setup (an undo step of its own).
                    self.iters = r.config.iters;
                    self.run_config = Some(r.config.clone());
                    self.edit(Edit::Setup(Box::new(r.config)), true);
                }
            }
            // Handled by `poll` (the state).
            TrainEvent::Failed(_) => {}
            TrainEvent::Update(u) => self.apply_update(u),
            TrainEvent::Finished(report) => {
                // The run's directory is written: list the folder again.
                self.runs.listed_once = false;
                for (mv, m) in self.methods.iter_mut().zip(&report.methods) {
                    if mv.status == MethodStatus::Running {
                        mv.status = if m.status == "finished" {
                            MethodStatus::Finished
                        } else {
                            MethodStatus::Stopped
                        };
                    }
                }
                for w in report.warnings {
                    if !self.warnings.contains(&w) {
                        self.warnings.push(w);
                    }
                }
            }
        }
    }

    fn apply_update(&mut self, u: TrainUpdate) {
        self.iter = u.iter;
        self.iters = u.iters;
        self.elapsed_s = u.elapsed_s;
        for (i, r) in u.records {
            if let Some(m) = self.methods.get_mut(i) {
                m.curve.refresh(&self.view.curves);
                m.curve.push(&r);
                push_thinned(&mut m.records, &mut m.strides.records, r, |r| r.iter, KEEP);
            }
        }
        for (i, e) in u.evals {
            if let Some(m) = self.methods.get_mut(i) {
                push_thinned(&mut m.evals, &mut m.strides.evals, e, |e| e.iter, KEEP);
            }
        }
        for (i, c) in u.checks {
            if let Some(m) = self.methods.get_mut(i) {
                push_thinned(&mut m.checks, &mut m.strides.checks, c, |c| c.iter, KEEP);
            }
        }
        for (i, s) in u.status {
            if let Some(m) = self.methods.get_mut(i) {
                m.status = s;
            }
        }
        for (i, model, p) in u.models {
            if let Some(m) = self.methods.get_mut(i) {
                let t0 = match &self.data {
                    Some(TaskData::Trajectory(t)) => t.times.first().copied().unwrap_or(0.0),
                    _ => 0.0,
                };
                m.field = self
                    .data
                    .as_ref()
                    .and_then(|d| field_bounds(d, &p))
                    .and_then(|b| FieldArrows::of(&model.mlp, t0, b, FIELD_GRID));
                m.model = Some(model);
                m.prediction = Some(p);
            }
        }
    }

    /// Iterations per second over the run so far.
    pub fn rate(&self) -> Option<f64> {
        (self.elapsed_s > 0.0 && self.iter > 0).then(|| self.iter as f64 / self.elapsed_s)
    }

    /// Regenerates the data preview in the background when the data settings changed.
    pub fn request_preview(&mut self) {
        let same = self.preview_of.as_ref().is_some_and(|p| {
            p.task == self.config.task && p.data == self.config.data && p.seed == self.config.seed
        });
        if same || self.preview.is_some() || self.is_running() {
            return;
        }
        let config = self.config.clone();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("nodelab-train-preview".into())
            .spawn(move || {
                let data = TaskData::generate(config.task, &config.data, config.seed);
                let _ = tx.send((config, data));
            });
        if spawned.is_ok() {
            self.preview = Some(rx);
            self.preview_of = Some(self.config.clone());
        }
    }

    fn poll_preview(&mut self) {
        let Some(rx) = &self.preview else { return };
        if let Ok((config, data)) = rx.try_recv() {
            self.preview = None;
            if !self.is_running() && self.methods.is_empty() {
                match data {
                    Ok(d) => self.data = Some(d),
                    Err(e) => self.warnings = vec![format!("data: {e}")],
                }
            }
            self.preview_of = Some(config);
        }
    }

    /// The loss curves as an export figure: the same series and colours as on screen, from
    /// the full data (per method the raw loss thin and pale, the smoothed loss, the evaluations
    /// as markers joined by a dotted line), on the x axis shown.
    pub fn loss_figure(&self) -> crate::export::Figure {
        use crate::export::{Dash, Figure, Marker, Rgb, Series, SeriesKind};
        let c = &self.view.curves;
        let pale = |Rgb(r, g, b): Rgb| {
            let mix = |v: u8| (f64::from(v) + (255.0 - f64::from(v)) * 0.65) as u8;
            Rgb(mix(r), mix(g), mix(b))
        };
        let mut series = Vec::new();
        for (i, m) in self.methods.iter().enumerate() {
            let color = super::theme::run_color(i);
            let name = m.method.name();
            if c.smoothing > 0.0 {
                series.push(Series {
                    name: format!("{name} (raw)"),
                    color: pale(color),
                    kind: SeriesKind::Line {
                        width: 1,
                        style: Dash::Solid,
                    },
                    points: m.curve.raw(c.x_axis).iter().map(|p| [p.x, p.y]).collect(),
                });
            }
            let mut smoothed = m.curve.clone();
            smoothed.refresh(c);
            series.push(Series {
                name: name.into(),
                color,
                kind: SeriesKind::Line {
                    width: 2,
                    style: Dash::Solid,
                },
                points: smoothed.smoothed().iter().map(|p| [p.x, p.y]).collect(),
            });
            let evals: Vec<[f64; 2]> = m
                .evals
                .iter()
                .filter_map(|e| Some([m.curve.x_of_iter(c.x_axis, e.iter)?, e.loss]))
                .collect();
            series.push(Series {
                name: format!("{name} (evaluation)"),
                color,
                kind: SeriesKind::Line {
                    width: 1,
                    style: Dash::Dotted,
                },
                points: evals.clone(),
            });
            series.push(Series {
                name: format!("{name} (evaluation)"),
                color,
                kind: SeriesKind::Markers {
                    shape: Marker::Circle,
                    size: 4,
                },
                points: evals,
            });
        }
        Figure {
            title: format!("{}: training loss", self.config.task.name()),
            x_label: c.x_axis.label().into(),
            y_label: "loss".into(),
            x_log: false,
            y_log: c.log_y,
            series,
            hlines: Vec::new(),
        }
    }

    /// The CSV of the curves (the format of `nodelab train --csv`): the rows kept in memory, every
    /// iteration up to [`KEEP`] and thinned after that (a kept run's `curve.csv` has them all).
    pub fn csv(&self) -> String {
        crate::train::record::csv(
            self.methods
                .iter()
                .map(|m| (m.method, &m.records[..], &m.evals[..], &m.checks[..])),
        )
    }
}

impl Drop for TrainingWorkspace {
    fn drop(&mut self) {
        if let Some(h) = &self.handle {
            h.control.stop();
        }
    }
}
