//! The Experiments room: the papers' experiments of [`crate::experiment::REGISTRY`], one click
//! each — the claim with the paper's numbers, the controls (quick / full), a run on a worker
//! thread with progress and cancel, and the result: verdict, figures, tables, exports.
//!
//! State, kept apart: the saved setup ([`ExperimentsSetup`]: the experiment on screen, each
//! experiment's settings, the export folder), the worker's data (the running [`Job`] and the
//! latest [`Shown`] result per experiment, with its figures prepared once for the screen) and
//! the view state ([`ExpView`]: the settings' text fields, the figure and table on screen).
//! Panels push [`ExpAction`]s; [`room`] applies them. The UI thread does no numerics and no
//! file I/O: runs go through [`crate::experiment::run_cached`] on a thread named
//! `experiment`, cache loads and exports through the shared jobs.
//!
//! [`list`] draws the left panel (the registry and the settings), [`view`] the centre (claim,
//! verdict, figures, tables) and [`figure`] turns a result's [`crate::experiment::Plot`]s into
//! what egui_plot draws.

pub mod figure;
pub mod list;
pub mod room;
pub mod view;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::experiment::{
    self, Cache, ExperimentError, ExperimentResult, ExperimentSpec, Preset, Progress, RunContext,
    Settings,
};

/// The saved setup: which experiment is on screen, each one's settings, where exports go.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExperimentsSetup {
    /// The experiment on screen (a registry name).
    pub selected: String,
    /// Settings per experiment name (absent: the quick preset).
    pub settings: BTreeMap<String, Settings>,
    /// The folder exports go to; each experiment writes into its own subfolder.
    pub export_dir: String,
}

impl Default for ExperimentsSetup {
    fn default() -> Self {
        Self {
            selected: experiment::REGISTRY[0].name.to_string(),
            settings: BTreeMap::new(),
            export_dir: "experiments".into(),
        }
    }
}

impl ExperimentsSetup {
    pub fn from_json(text: &str) -> Self {
        serde_json::from_str(text).unwrap_or_default()
    }

    pub fn to_json(&self) -> Option<String> {
        serde_json::to_string(self).ok()
    }

    /// The registry entry on screen (the first one when the saved name is unknown).
    pub fn spec(&self) -> &'static ExperimentSpec {
        experiment::find(&self.selected).unwrap_or(&experiment::REGISTRY[0])
    }

    /// The settings of `spec`: the saved ones, completed with the quick preset's values for
    /// controls added since they were saved (and without keys it no longer has).
    pub fn settings_of(&self, spec: &ExperimentSpec) -> Settings {
        let mut s = spec.settings(Preset::Quick);
        if let Some(saved) = self.settings.get(spec.name) {
            for (k, v) in &saved.values {
                if s.values.contains_key(k) {
                    s.values.insert(k.clone(), v.clone());
                }
            }
        }
        s
    }
}

/// A result as the room shows it: the result, whether it came from the cache, and its figures
/// prepared for the screen once (no recomputation per frame).
#[derive(Clone, Debug)]
pub struct Shown {
    pub result: ExperimentResult,
    pub cached: bool,
    pub figures: Vec<figure::ScreenPlot>,
}

impl Shown {
    pub fn new(result: ExperimentResult, cached: bool) -> Self {
        let figures = result.figures.iter().map(figure::ScreenPlot::of).collect();
        Self {
            result,
            cached,
            figures,
        }
    }

    /// The result was computed with other settings (or by another revision of the
    /// experiment) than `settings`.
    pub fn is_stale(&self, spec: &ExperimentSpec, settings: &Settings) -> bool {
        &self.result.settings != settings || self.result.revision != spec.revision
    }
}

/// What the worker reports.
pub enum JobMsg {
    Progress(Progress),
    Done(Box<RunOutcome>),
}

/// What [`experiment::run_cached`] returns: the result, whether it was cached, a cache warning.
pub type RunOutcome = Result<(ExperimentResult, bool, Option<String>), ExperimentError>;

/// A run in progress.
pub struct Job {
    pub name: &'static str,
    pub settings: Settings,
    pub cancel: Arc<AtomicBool>,
    pub progress: Option<Progress>,
    pub started: Instant,
    rx: Receiver<JobMsg>,
}

/// How the last run of an experiment ended, when it produced no result.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Cancelled,
    Failed(String),
}

/// What a panel asks the room to do.
#[derive(Clone, Debug, PartialEq)]
pub enum ExpAction {
    Select(String),
    /// Sets a control of the experiment on screen from its text field.
    Set {
        key: String,
        text: String,
    },
    /// Every control of the experiment on screen at a preset's values.
    Preset(Preset),
    Run,
    Cancel,
    /// Writes the result on screen (PNG, SVG, CSV, JSON) into the export folder.
    Export,
    SetExportDir(String),
}

/// The cache's answer for one experiment and settings (a job's result).
pub struct CacheLoad {
    pub name: &'static str,
    pub settings: Settings,
    pub result: Option<ExperimentResult>,
}

/// Short-lived view state (never saved).
#[derive(Clone, Debug, Default)]
pub struct ExpView {
    /// The text of each control's field, by `name/key`, while it differs from the setting.
    pub texts: BTreeMap<String, String>,
    /// The message of a setting that did not take, by `name/key`.
    pub errors: BTreeMap<String, String>,
    /// The figure and table on screen, by experiment name.
    pub figure: BTreeMap<String, usize>,
    pub table: BTreeMap<String, usize>,
}

/// The room.
pub struct Experiments {
    pub setup: ExperimentsSetup,
    /// The latest result per experiment name.
    pub results: BTreeMap<String, Shown>,
    /// The last run's end when it produced no result, per experiment name.
    pub outcomes: BTreeMap<String, Outcome>,
    pub job: Option<Job>,
    /// Where results are cached (`None`: not cached).
    pub cache: Option<Cache>,
    pub view: ExpView,
    pub actions: Vec<ExpAction>,
    /// Cache loads asked for (so that each is asked once), by `name` + settings JSON.
    looked_up: std::collections::BTreeSet<String>,
}

impl Default for Experiments {
    fn default() -> Self {
        Self::new(ExperimentsSetup::default())
    }
}

impl Experiments {
    pub fn new(setup: ExperimentsSetup) -> Self {
        Self {
            setup,
            results: BTreeMap::new(),
            outcomes: BTreeMap::new(),
            job: None,
            cache: Some(Cache::new(Cache::default_dir())),
            view: ExpView::default(),
            actions: Vec::new(),
            looked_up: Default::default(),
        }
    }

    pub fn is_running(&self) -> bool {
        self.job.is_some()
    }

    /// The result of the experiment on screen.
    pub fn shown(&self) -> Option<&Shown> {
        self.results.get(self.setup.selected.as_str())
    }

    /// Starts `spec` with its current settings on a worker thread.
    fn start(&mut self, spec: &'static ExperimentSpec, repaint: Arc<dyn Fn() + Send + Sync>) {
        if self.job.is_some() {
            return;
        }
        let settings = self.setup.settings_of(spec);
        let (tx, rx) = std::sync::mpsc::sync_channel(64);
        let cancel = Arc::new(AtomicBool::new(false));
        let progress_tx = tx.clone();
        let progress_repaint = repaint.clone();
        let ctx = RunContext {
            progress: Arc::new(move |p: &Progress| {
                // Progress may be dropped when the UI is behind; the result never is.
                let _ = progress_tx.try_send(JobMsg::Progress(p.clone()));
                progress_repaint();
            }),
            cancel: cancel.clone(),
        };
        let cache = self.cache.clone();
        let run_settings = settings.clone();
        let spawned = std::thread::Builder::new()
            .name("experiment".into())
            .spawn(move || {
                let out = experiment::run_cached(spec, &run_settings, &ctx, cache.as_ref());
                let _ = tx.send(JobMsg::Done(Box::new(out)));
                repaint();
            });
        match spawned {
            Ok(_) => {
                self.outcomes.remove(spec.name);
                self.job = Some(Job {
                    name: spec.name,
                    settings,
                    cancel,
                    progress: None,
                    started: Instant::now(),
                    rx,
                });
            }
            Err(e) => {
                self.outcomes.insert(
                    spec.name.to_string(),
                    Outcome::Failed(format!("cannot start the experiment thread: {e}")),
                );
            }
        }
    }

    fn cancel(&mut self) {
        if let Some(job) = &self.job {
            job.cancel.store(true, Ordering::Relaxed);
        }
    }

    /// Takes the worker's messages; returns a message for a toast when a run ended without a
    /// result or with a warning.
    pub fn poll_job(&mut self) -> Option<String> {
        let job = self.job.as_mut()?;
        let mut done = None;
        loop {
            match job.rx.try_recv() {
                Ok(JobMsg::Progress(p)) => job.progress = Some(p),
                Ok(JobMsg::Done(out)) => {
                    done = Some(*out);
                    break;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    done = Some(Err(ExperimentError::Failed(
                        "the experiment thread stopped without a result".into(),
                    )));
                    break;
                }
            }
        }
        let out = done?;
        let name = job.name;
        self.job = None;
        match out {
            Ok((result, cached, warning)) => {
                self.results
                    .insert(name.to_string(), Shown::new(result, cached));
                warning.map(|w| format!("{name}: {w}"))
            }
            Err(ExperimentError::Cancelled) => {
                self.outcomes.insert(name.to_string(), Outcome::Cancelled);
                None
            }
            Err(e) => {
                let msg = e.to_string();
                self.outcomes
                    .insert(name.to_string(), Outcome::Failed(msg.clone()));
                Some(format!("{name}: {msg}"))
            }
        }
    }

    /// Blocks until the run in progress has ended (tests).
    pub fn wait(&mut self) -> Option<String> {
        let mut last = None;
        while self.job.is_some() {
            if let Some(m) = self.poll_job() {
                last = Some(m);
            }
            if self.job.is_some() {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        last
    }

    /// The cache lookup to ask for: the experiment on screen has no result with its current
    /// settings in memory, and the cache has not been asked yet.
    fn lookup_wanted(&mut self) -> Option<(&'static ExperimentSpec, Settings)> {
        let spec = self.setup.spec();
        if !matches!(spec.availability, experiment::Availability::Implemented) {
            return None;
        }
        let settings = self.setup.settings_of(spec);
        if self
            .results
            .get(spec.name)
            .is_some_and(|s| !s.is_stale(spec, &settings))
            || self.job.as_ref().is_some_and(|j| j.name == spec.name)
        {
            return None;
        }
        let key = format!(
            "{}\n{}",
            spec.name,
            serde_json::to_string(&settings).unwrap_or_default()
        );
        self.looked_up.insert(key).then_some((spec, settings))
    }
}
