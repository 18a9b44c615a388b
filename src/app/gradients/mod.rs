//! The Gradients room: every chosen gradient method once on one neural field and loss,
//! side by side — the measurement of `nodelab grad` ([`crate::grad::measure::compare_with`])
//! and the memory scaling of `nodelab bench grad` ([`crate::bench::grad::memory_scaling`]),
//! run as one background job with progress. This module keeps the setup (saved between
//! launches, undoable), the job and its result, and the view settings; [`room`] is the room as
//! the shell sees it (launch settings, panels, the one apply point of the panels' [`GradAction`]s),
//! [`setup`] draws the left panel, [`view`] the centre (bars, table, memory scaling,
//! per-parameter scatter) and [`figures`] builds the exported figures and CSV from the same data.

pub mod figures;
pub mod room;
pub mod setup;
pub mod view;

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::bench::grad::{ScalingRow, memory_scaling};
use crate::grad::measure::{self, Comparison};
use crate::grad::{AfgeControl, GradMethod, GradOptions, GradProblem};
use crate::train::{Model, TaskData, TrainConfig};

/// Where the neural field and the loss come from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// A gradient preset (`kind = "neural"` with a `[loss]` table), as `nodelab grad` reads.
    #[default]
    Preset,
    /// A model file (.json / .safetensors) on the first batch of the Training workspace's task.
    ModelFile,
    /// The Training workspace's current weights (the method shown there) on its first batch.
    Training,
}

impl Source {
    pub fn label(&self) -> &'static str {
        match self {
            Source::Preset => "gradient preset",
            Source::ModelFile => "model file",
            Source::Training => "training weights",
        }
    }
}

/// The setup of a run (saved between launches as JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GradSetup {
    pub source: Source,
    /// The preset file (for [`Source::Preset`]).
    pub preset: String,
    /// The model file (for [`Source::ModelFile`]).
    pub model: String,
    /// Method names (CLI names), in the order they are compared.
    pub methods: Vec<String>,
    /// Timed repeats per method after one warm-up (`fd`: one).
    pub repeats: usize,
    /// Parameters on which the continuous reference is cross-checked by finite differences.
    pub fd_check: usize,
    /// Tolerance of the continuous reference's dopri5 solve.
    pub reference_tol: f64,
    /// Checkpoints of `checkpoint` (0: ⌈√N⌉).
    pub checkpoints: usize,
    pub cheb_nodes: usize,
    pub lambda: f64,
    /// `afge` controls the steps on the augmented state.
    pub afge_augmented: bool,
    /// Fixed steps of the reversible methods (0: as many as the adaptive forward solve).
    pub reversible_steps: usize,
    /// Also measure stored and peak bytes at 10, 100 and 1000 fixed steps.
    pub scaling: bool,
    /// Float type of the measured methods: `f64` (the reference) or `f32` (`--precision`).
    pub precision: String,
}

impl Default for GradSetup {
    fn default() -> Self {
        Self {
            source: Source::Preset,
            preset: "presets/grad-mlp-2-8-2.toml".into(),
            model: "trained-model.safetensors".into(),
            methods: [
                GradMethod::Backprop,
                GradMethod::Checkpoint,
                GradMethod::Adjoint,
                GradMethod::InterpAdjoint,
                GradMethod::Afge,
                GradMethod::ReversibleHeun,
            ]
            .iter()
            .map(|m| m.name().to_string())
            .collect(),
            repeats: 3,
            fd_check: 32,
            reference_tol: crate::grad::reference::DEFAULT_TOL,
            checkpoints: 0,
            cheb_nodes: 16,
            lambda: 0.99,
            afge_augmented: false,
            reversible_steps: 0,
            scaling: true,
            precision: "f64".into(),
        }
    }
}

impl GradSetup {
    /// The chosen methods, in [`GradMethod::ALL`]'s order (unknown names are dropped).
    pub fn methods(&self) -> Vec<GradMethod> {
        GradMethod::ALL
            .into_iter()
            .filter(|m| self.methods.iter().any(|n| n == m.name()))
            .collect()
    }

    pub fn set_methods(&mut self, methods: &[GradMethod]) {
        self.methods = methods.iter().map(|m| m.name().to_string()).collect();
    }

    pub fn has(&self, m: GradMethod) -> bool {
        self.methods.iter().any(|n| n == m.name())
    }

    pub fn toggle(&mut self, m: GradMethod, on: bool) {
        let mut v = self.methods();
        v.retain(|&x| x != m);
        if on {
            v.push(m);
        }
        v.sort_by_key(|x| GradMethod::ALL.iter().position(|y| y == x));
        self.set_methods(&v);
    }

    /// The method options (those of `nodelab grad`'s flags).
    pub fn options(&self) -> GradOptions {
        GradOptions {
            checkpoints: (self.checkpoints > 0).then_some(self.checkpoints),
            cheb_nodes: self.cheb_nodes,
            lambda: self.lambda,
            afge_control: if self.afge_augmented {
                AfgeControl::Augmented
            } else {
                AfgeControl::State
            },
            reversible_steps: (self.reversible_steps > 0).then_some(self.reversible_steps),
            precision: crate::grad::Precision::parse(&self.precision).unwrap_or_default(),
            ..GradOptions::default()
        }
    }

    /// Checks what the problem does not: counts and the reference tolerance.
    pub fn validate(&self) -> Result<(), String> {
        if self.methods().is_empty() {
            return Err("choose at least one gradient method".into());
        }
        crate::grad::Precision::parse(&self.precision)?;
        if self.repeats == 0 {
            return Err("repeats must be at least 1".into());
        }
        if !(self.reference_tol.is_finite() && self.reference_tol > 0.0) {
            return Err(format!(
                "the reference tolerance must be a positive number (got {})",
                self.reference_tol
            ));
        }
        if self.cheb_nodes < 2 {
            return Err("interp-adjoint needs at least 2 Chebyshev nodes".into());
        }
        if !(self.lambda > 0.0 && self.lambda <= 1.0) {
            return Err(format!("λ must lie in (0, 1] (got {})", self.lambda));
        }
        Ok(())
    }

    pub fn to_json(&self) -> Option<String> {
        serde_json::to_string(self).ok()
    }

    /// Restores a setup saved by [`GradSetup::to_json`] (anything unreadable: defaults).
    pub fn from_json(text: &str) -> Self {
        serde_json::from_str(text).unwrap_or_default()
    }
}

/// What the job needs from the Training workspace (taken on the UI thread, cheap clones).
#[derive(Clone, Debug)]
pub struct TrainingInputs {
    pub config: TrainConfig,
    pub data: Option<TaskData>,
    /// The model of the method shown there, with its name.
    pub model: Option<(Model, String)>,
}

impl TrainingInputs {
    pub fn of(ws: &super::training::TrainingWorkspace) -> Self {
        let config = ws.run_config.clone().unwrap_or_else(|| ws.config.clone());
        let model = ws
            .methods
            .get(ws.view.shown)
            .or_else(|| ws.methods.iter().find(|m| m.model.is_some()))
            .and_then(|m| m.model.clone().map(|x| (x, m.method.name().to_string())));
        Self {
            config,
            data: ws.data.clone(),
            model,
        }
    }
}

/// The measured result of one run.
#[derive(Clone, Debug)]
pub struct GradResult {
    /// What was measured, in words (`nodelab grad`'s header line).
    pub header: String,
    pub n_params: usize,
    pub comparison: Comparison,
    /// Memory scaling rows (empty when not asked for or not possible).
    pub scaling: Vec<ScalingRow>,
    /// Why there is no scaling although it was asked for.
    pub scaling_error: Option<String>,
    /// Whether the counting allocator is installed (peak heap is 0 otherwise).
    pub counting: bool,
    pub seconds: f64,
}

impl GradResult {
    /// The table exactly as `nodelab grad` prints it.
    pub fn text_table(&self) -> String {
        format!(
            "{}{}",
            self.header,
            crate::report::grad_table::table(&self.comparison)
        )
    }
}

/// Messages of the job.
#[derive(Debug)]
enum JobMsg {
    /// A stage starts: its name and its position.
    Stage(String, usize),
    Done(Box<Result<GradResult, String>>),
}

/// Where the run stands.
#[derive(Clone, Debug, PartialEq)]
pub enum GradState {
    Idle,
    Running {
        stage: String,
        done: usize,
        total: usize,
    },
    Finished,
    Failed(String),
}

/// Centre tabs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GradTab {
    #[default]
    Comparison,
    Scaling,
    PerParameter,
}

/// The quantities drawn as bars, one small plot each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    ErrContinuous,
    ErrDiscrete,
    TimeMs,
    Stored,
    PeakHeap,
    Nfe,
    Steps,
}

/// Relative errors under this are f64 rounding, whose exact value depends on the summation
/// order (the SIMD path a CPU takes): drawn at this floor so the bars read the same on every
/// machine. Zero stays zero (no bar).
pub const ROUNDING_FLOOR: f64 = 1e-14;

fn at_least_rounding(err: f64) -> f64 {
    if err > 0.0 {
        err.max(ROUNDING_FLOOR)
    } else {
        err
    }
}

impl Metric {
    pub const ALL: [Metric; 7] = [
        Metric::ErrContinuous,
        Metric::ErrDiscrete,
        Metric::TimeMs,
        Metric::Stored,
        Metric::PeakHeap,
        Metric::Nfe,
        Metric::Steps,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Metric::ErrContinuous => "error vs continuous gradient",
            Metric::ErrDiscrete => "error vs discrete gradient",
            Metric::TimeMs => "time (ms)",
            Metric::Stored => "stored bytes",
            Metric::PeakHeap => "peak heap bytes",
            Metric::Nfe => "NFE forward | backward",
            Metric::Steps => "steps accepted",
        }
    }

    /// The bars of a row: one value, or two for NFE (forward, backward).
    pub fn values(self, r: &measure::MethodRow) -> Vec<f64> {
        match self {
            Metric::ErrContinuous => vec![at_least_rounding(r.err_vs_continuous)],
            Metric::ErrDiscrete => vec![at_least_rounding(r.err_vs_discrete)],
            Metric::TimeMs => vec![r.time_ms],
            Metric::Stored => vec![r.stored_bytes as f64],
            Metric::PeakHeap => vec![r.peak_heap_bytes as f64],
            Metric::Nfe => vec![r.nfe_forward as f64, r.nfe_backward as f64],
            Metric::Steps => vec![r.steps_accepted as f64],
        }
    }
}

/// View settings.
#[derive(Clone, Debug)]
pub struct GradView {
    pub tab: GradTab,
    /// The two gradients of the per-parameter scatter: an index into the result's methods, or
    /// `None` for the continuous reference.
    pub scatter: (Option<usize>, Option<usize>),
    /// The bar plot exported by PNG / SVG on the comparison tab.
    pub export_metric: Metric,
}

impl Default for GradView {
    fn default() -> Self {
        Self {
            tab: GradTab::Comparison,
            scatter: (None, Some(0)),
            export_metric: Metric::ErrContinuous,
        }
    }
}

/// What the room's panels ask for, applied in one place ([`room`]'s `apply`; files go
/// through the shared jobs).
#[derive(Clone, Debug)]
pub enum GradAction {
    /// The setup as a panel edited it: replaces the setup (undoable).
    Edit(Box<GradSetup>),
    /// Back to the setup before the last edit (Ctrl+Z).
    Undo,
    /// Again the edit that was undone (Ctrl+Shift+Z).
    Redo,
    /// Start a run of the setup (on the Training room's current weights where it needs them).
    Start,
    /// Let go of the running job.
    Cancel,
    ExportPlot {
        figure: crate::export::Figure,
        path: PathBuf,
    },
    ExportCsv {
        text: String,
        path: PathBuf,
    },
}

/// The Gradients room: its setup, the job and its result, the view settings.
pub struct GradientsWorkspace {
    pub setup: GradSetup,
    /// Undo and redo over the edits of `setup`.
    pub edits: crate::app::undo::EditHistory<GradSetup>,
    pub state: GradState,
    pub result: Option<GradResult>,
    pub view: GradView,
    pub actions: Vec<GradAction>,
    /// Where exports go (the stem; the extension follows the format).
    pub export_path: String,
    /// A problem with the last request (bad input), shown inline.
    pub error: Option<String>,
    rx: Option<Receiver<JobMsg>>,
    started: Option<Instant>,
}

impl Default for GradientsWorkspace {
    fn default() -> Self {
        Self::new(GradSetup::default())
    }
}

/// Messages buffered between the job and the UI (a handful of stages and one result).
const CHANNEL: usize = 32;

impl GradientsWorkspace {
    pub fn new(setup: GradSetup) -> Self {
        Self {
            setup,
            edits: crate::app::undo::EditHistory::default(),
            state: GradState::Idle,
            result: None,
            view: GradView::default(),
            actions: Vec::new(),
            export_path: "gradients".into(),
            error: None,
            rx: None,
            started: None,
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(self.state, GradState::Running { .. })
    }

    /// Seconds since the run started.
    pub fn elapsed_s(&self) -> f64 {
        self.started.map_or(0.0, |t| t.elapsed().as_secs_f64())
    }

    /// Starts a run of the current setup on a background thread (the previous one, if any, is
    /// let go: its result is never read).
    pub fn start(&mut self, training: TrainingInputs) {
        self.error = None;
        if let Err(e) = self.setup.validate() {
            self.state = GradState::Failed(e);
            return;
        }
        let setup = self.setup.clone();
        let methods = setup.methods();
        let total = 2 + methods.len() + usize::from(setup.scaling);
        let (tx, rx) = std::sync::mpsc::sync_channel(CHANNEL);
        let spawned = std::thread::Builder::new()
            .name("nodelab-gradients".into())
            .spawn(move || {
                let result = run_job(&setup, &methods, training, &tx);
                let _ = tx.send(JobMsg::Done(Box::new(result)));
            });
        match spawned {
            Ok(_) => {
                self.rx = Some(rx);
                self.started = Some(Instant::now());
                self.state = GradState::Running {
                    stage: "starting".into(),
                    done: 0,
                    total,
                };
            }
            Err(e) => self.state = GradState::Failed(format!("cannot start a thread: {e}")),
        }
    }

    /// Lets go of the running job (it finishes on its own; its result is dropped).
    pub fn cancel(&mut self) {
        if self.rx.take().is_some() {
            self.state = GradState::Idle;
        }
    }

    /// Takes the job's messages; returns whether anything arrived.
    pub fn poll(&mut self) -> bool {
        let mut got = false;
        while let Some(rx) = &self.rx {
            match rx.try_recv() {
                Ok(msg) => {
                    got = true;
                    self.apply(msg);
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.rx = None;
                    if self.is_running() {
                        self.state = GradState::Failed("the gradient job stopped".into());
                    }
                }
            }
        }
        got
    }

    /// Blocks until the running job has reported its result (tests).
    pub fn wait(&mut self) {
        while let Some(rx) = &self.rx {
            match rx.recv() {
                Ok(msg) => self.apply(msg),
                Err(_) => {
                    self.rx = None;
                    if self.is_running() {
                        self.state = GradState::Failed("the gradient job stopped".into());
                    }
                }
            }
        }
    }

    fn apply(&mut self, msg: JobMsg) {
        match msg {
            JobMsg::Stage(stage, done) => {
                if let GradState::Running { total, .. } = self.state {
                    self.state = GradState::Running { stage, done, total };
                }
            }
            JobMsg::Done(result) => {
                self.rx = None;
                match *result {
                    Ok(r) => {
                        let n = r.comparison.methods.len();
                        let (a, b) = self.view.scatter;
                        self.view.scatter = (a.filter(|&i| i < n), b.filter(|&i| i < n));
                        if self.view.scatter.1.is_none() && n > 0 {
                            self.view.scatter.1 = Some(n - 1);
                        }
                        self.result = Some(r);
                        self.state = GradState::Finished;
                    }
                    Err(e) => self.state = GradState::Failed(e),
                }
            }
        }
    }
}

/// The problem of the setup's source.
pub fn build_problem(
    setup: &GradSetup,
    training: TrainingInputs,
) -> Result<(GradProblem, String), String> {
    match setup.source {
        Source::Preset => {
            let path = PathBuf::from(setup.preset.trim());
            if setup.preset.trim().is_empty() {
                return Err("give a gradient preset (.toml)".into());
            }
            let loaded = crate::preset::Preset::load(&path).map_err(|e| e.to_string())?;
            let problem = loaded.build_grad_problem().map_err(|e| e.to_string())?;
            let header = crate::report::grad_table::problem_header(&setup.preset, &problem);
            Ok((problem, header))
        }
        Source::ModelFile | Source::Training => {
            let config = &training.config;
            let (model, name) = if setup.source == Source::ModelFile {
                let path = PathBuf::from(setup.model.trim());
                let mlp = crate::nn::model_file::load(&path)?;
                (Model { mlp, readout: None }, setup.model.trim().to_string())
            } else {
                training.model.ok_or_else(|| {
                    "the Training workspace has no weights yet: train (or Step) first, or \
                     choose a preset"
                        .to_string()
                })?
            };
            let data = match training.data {
                Some(d) => d,
                None => TaskData::generate(config.task, &config.data, config.seed)?,
            };
            if model.mlp.dim() != data.dim() {
                return Err(format!(
                    "the model's state has {} components but the task {} needs {}",
                    model.mlp.dim(),
                    config.task.name(),
                    data.dim()
                ));
            }
            let items: Vec<usize> = (0..config.batch.max(1).min(data.pool())).collect();
            let problem = data.batch_problem(&items, &model, &config.solver);
            let source = format!("{} ({}, first batch)", name, config.task.name());
            let header = crate::report::grad_table::problem_header(&source, &problem);
            Ok((problem, header))
        }
    }
}

/// The job: the problem, the comparison (with progress), the memory scaling.
fn run_job(
    setup: &GradSetup,
    methods: &[GradMethod],
    training: TrainingInputs,
    tx: &SyncSender<JobMsg>,
) -> Result<GradResult, String> {
    let started = Instant::now();
    let stage = |name: &str, k: usize| {
        let _ = tx.try_send(JobMsg::Stage(name.to_string(), k));
    };
    stage("building the problem", 0);
    let (problem, header) = build_problem(setup, training)?;
    problem.validate().map_err(|e| e.to_string())?;
    let opts = setup.options();
    for &m in methods {
        crate::grad::check_options(&problem, m, &opts).map_err(|e| format!("{m}: {e}"))?;
    }
    let done = std::cell::Cell::new(1usize);
    let on_stage = |name: &str| {
        stage(name, done.get());
        done.set(done.get() + 1);
    };
    let settings = measure::Settings {
        reference_tol: setup.reference_tol,
        on_stage: &on_stage,
    };
    let comparison = measure::compare_with(
        &problem,
        methods,
        &opts,
        setup.repeats,
        setup.fd_check,
        &settings,
    )
    .map_err(|e| format!("reference gradient: {e}"))?;
    let (scaling, scaling_error) = if setup.scaling {
        stage("memory scaling (10, 100, 1000 steps)", done.get());
        match memory_scaling(&problem) {
            Ok(rows) => (rows, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        }
    } else {
        (Vec::new(), None)
    };
    Ok(GradResult {
        header,
        n_params: problem.mlp.n_params(),
        comparison,
        scaling,
        scaling_error,
        counting: crate::mem::is_counting(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preset_path() -> String {
        format!("{}/presets/grad-mlp-2-8-2.toml", env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn a_run_measures_each_method_against_the_references() {
        let mut ws = GradientsWorkspace::default();
        ws.setup.preset = preset_path();
        ws.setup
            .set_methods(&[GradMethod::Backprop, GradMethod::Adjoint]);
        ws.setup.repeats = 1;
        ws.setup.scaling = false;
        ws.start(TrainingInputs {
            config: TrainConfig::defaults(crate::train::TaskName::Circles),
            data: None,
            model: None,
        });
        ws.wait();
        assert_eq!(ws.state, GradState::Finished, "{:?}", ws.state);
        let r = ws.result.as_ref().expect("a result");
        assert_eq!(r.comparison.methods.len(), 2);
        // Backprop is the exact derivative of the discrete forward map; the tolerance 1e-8
        // forward solve puts it close to the continuous gradient too.
        let bp = &r.comparison.methods[0];
        assert!(bp.err_vs_discrete < 1e-10, "{}", bp.err_vs_discrete);
        assert!(bp.err_vs_continuous < 1e-5, "{}", bp.err_vs_continuous);
        assert_eq!(bp.grad.len(), r.n_params);
        assert!(r.text_table().contains("adjoint"));
    }

    #[test]
    fn bad_input_fails_with_a_message_and_never_panics() {
        let mut ws = GradientsWorkspace::default();
        ws.setup.preset = "no/such/preset.toml".into();
        ws.setup.scaling = false;
        let inputs = TrainingInputs {
            config: TrainConfig::defaults(crate::train::TaskName::Circles),
            data: None,
            model: None,
        };
        ws.start(inputs.clone());
        ws.wait();
        assert!(
            matches!(&ws.state, GradState::Failed(m) if m.contains("cannot read")),
            "{:?}",
            ws.state
        );
        ws.setup.methods.clear();
        ws.start(inputs.clone());
        assert!(matches!(&ws.state, GradState::Failed(m) if m.contains("at least one")));
        ws.setup = GradSetup {
            source: Source::Training,
            ..GradSetup::default()
        };
        ws.start(inputs);
        ws.wait();
        assert!(
            matches!(&ws.state, GradState::Failed(m) if m.contains("no weights yet")),
            "{:?}",
            ws.state
        );
    }

    #[test]
    fn the_setup_survives_a_relaunch() {
        let mut s = GradSetup::default();
        s.set_methods(&[GradMethod::Afge, GradMethod::Fd]);
        s.source = Source::ModelFile;
        s.repeats = 7;
        let back = GradSetup::from_json(&s.to_json().expect("json"));
        assert_eq!(back, s);
        assert_eq!(back.methods(), vec![GradMethod::Afge, GradMethod::Fd]);
        assert_eq!(GradSetup::from_json("{not json"), GradSetup::default());
    }
}
