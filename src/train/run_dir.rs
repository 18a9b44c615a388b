//! A run directory: a training run kept on disk, to list it, lay it over another and continue
//! it (`nodelab train --run-dir DIR`, `--resume DIR`; the app's runs folder).
//!
//! | file | what it holds | written |
//! |---|---|---|
//! | `run.json` | the `--json` report ([`TrainReport`]) plus `run` ([`RunRecord`]: format, dates, state, iterations done, the batch sequence's position, each method's kept history) | atomically, at evaluations (at most every [`RunDir::min_interval`]) and at the end |
//! | `curve.csv` | every iteration of every method, `--csv`'s columns | appended every iteration |
//! | `METHOD.safetensors` | the method's latest weights (F64, a model file `solve` and `--init` read) and its optimiser state: tensors `optim.m`, `optim.v`, metadata `optim.t`, `iter` | atomically, before each `run.json` |
//! | `setup.toml` | the training preset that reproduces the run | once, at the start |
//!
//! `run.json` is written last, so the files it names are at least as new as it; a resume
//! checks that every weights file is at `run.iter` and drops the `curve.csv` rows after it.
//! Continuing a run on the CPU gives the same losses and weights, bit for bit, as running the
//! iterations in one go (`tests/run_dir.rs`). The CLI and the app use this module alike; it
//! prints nothing.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::config::Device;
use super::engine::{SavedMethod, TrainUpdate, Trainer};
use super::model::Model;
use super::preset::TrainPreset;
use super::record::{CSV_HEADER, EvalRecord, GradCheck, IterRecord, TrainReport, csv_row};
use super::task::TaskData;
use crate::nn::model_file::{self, FloatKind};
use crate::optim::OptimizerState;

/// The `format` of [`RunRecord`].
pub const FORMAT: &str = "nodelab-run/1";
pub const RUN_JSON: &str = "run.json";
pub const CURVE_CSV: &str = "curve.csv";
pub const SETUP_TOML: &str = "setup.toml";

/// The weights file of `method` in a run directory.
pub fn weights_file(method: &str) -> String {
    format!("{method}.safetensors")
}

/// Where a kept run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Training (or the process ended without a word: a crash, a kill).
    Running,
    /// Stopped before the end (the Stop button, Ctrl+C, SIGTERM); it can be resumed.
    Stopped,
    /// Every iteration asked for was done (it can be resumed for more).
    Finished,
}

impl RunState {
    pub fn name(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Stopped => "stopped",
            RunState::Finished => "finished",
        }
    }
}

/// The `run` object of `run.json`: what continuing the run needs beyond the files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// [`FORMAT`].
    pub format: String,
    /// Seconds since the Unix epoch.
    pub created_unix: u64,
    pub updated_unix: u64,
    pub state: RunState,
    /// Iterations done.
    pub iter: usize,
    /// The batch sequence's ChaCha8 word position, in decimal (a u128).
    pub batch_position: String,
    /// Each method's history as kept in memory, in the order of the setup's methods.
    pub methods: Vec<SavedMethod>,
}

/// One method of a listed run.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct MethodSummary {
    pub method: String,
    pub status: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub final_loss: Option<f64>,
    #[serde(default)]
    pub final_eval: Option<EvalRecord>,
    #[serde(default)]
    pub best_eval: Option<EvalRecord>,
    #[serde(default)]
    pub wall_s: f64,
}

/// A kept run as listed: task, methods, dates and final numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    pub dir: PathBuf,
    pub task: String,
    pub device: String,
    pub state: RunState,
    pub created_unix: u64,
    pub updated_unix: u64,
    pub iters_done: usize,
    pub iters: usize,
    pub methods: Vec<MethodSummary>,
}

impl RunSummary {
    /// "2026-12-06 09:21 UTC" for `created_unix`.
    pub fn created(&self) -> String {
        format_utc(self.created_unix)
    }
}

/// One method's kept curves (a run laid over the current one).
#[derive(Clone, Debug, PartialEq)]
pub struct SavedCurves {
    pub method: String,
    pub status: String,
    /// The iterations kept in memory when it was saved (thinned past
    /// [`super::history::KEEP`]; `curve.csv` has all of them).
    pub records: Vec<IterRecord>,
    pub evals: Vec<EvalRecord>,
    pub checks: Vec<GradCheck>,
    /// The strides the lists were thinned at (to go on thinning them alike).
    pub strides: super::history::Strides,
}

/// A kept run loaded for display.
#[derive(Clone, Debug, PartialEq)]
pub struct SavedRun {
    pub summary: RunSummary,
    pub methods: Vec<SavedCurves>,
}

/// What `run.json` is read as (the report's other keys are ignored).
#[derive(Deserialize)]
struct RunJson {
    task: String,
    device: String,
    iters: usize,
    iters_done: usize,
    methods: Vec<MethodSummary>,
    run: RunRecord,
}

#[derive(Serialize)]
struct RunJsonOut<'a> {
    #[serde(flatten)]
    report: &'a TrainReport,
    run: &'a RunRecord,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `unix` (seconds since 1970-01-01 UTC) as "YYYY-MM-DD HH:MM UTC" (the proleptic Gregorian
/// calendar, H. Hinnant's days-to-civil algorithm).
pub fn format_utc(unix: u64) -> String {
    let (y, m, d, hh, mm, _) = civil(unix);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02} UTC")
}

fn civil(unix: u64) -> (i64, u32, u32, u64, u64, u64) {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, secs / 3600, secs % 3600 / 60, secs % 60)
}

/// The app's runs folder: `NODELAB_RUNS_DIR`, else `$XDG_DATA_HOME/nodelab/runs`, else
/// `~/.local/share/nodelab/runs` (the platform's data folder, as the experiment cache uses the
/// cache folder).
pub fn default_runs_dir() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = env("NODELAB_RUNS_DIR") {
        return dir;
    }
    if let Some(dir) = env("XDG_DATA_HOME") {
        return dir.join("nodelab").join("runs");
    }
    if let Some(home) = env("HOME") {
        return home
            .join(".local")
            .join("share")
            .join("nodelab")
            .join("runs");
    }
    std::env::temp_dir().join("nodelab-runs")
}

/// A new, unused directory name in `folder` for a run of `task`: `YYYYMMDD-HHMMSS-TASK`
/// (`-2`, `-3`, … when taken).
pub fn new_run_path(folder: &Path, task: &str) -> PathBuf {
    let (y, m, d, hh, mm, ss) = civil(now_unix());
    let base = format!("{y:04}{m:02}{d:02}-{hh:02}{mm:02}{ss:02}-{task}");
    let mut path = folder.join(&base);
    let mut k = 2;
    while path.exists() {
        path = folder.join(format!("{base}-{k}"));
        k += 1;
    }
    path
}

fn read_json(dir: &Path) -> Result<RunJson, String> {
    let path = dir.join(RUN_JSON);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let run: RunJson =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if run.run.format != FORMAT {
        return Err(format!(
            "{}: format '{}' is not {FORMAT}",
            path.display(),
            run.run.format
        ));
    }
    Ok(run)
}

fn summary(dir: &Path, j: &RunJson) -> RunSummary {
    RunSummary {
        dir: dir.to_path_buf(),
        task: j.task.clone(),
        device: j.device.clone(),
        state: j.run.state,
        created_unix: j.run.created_unix,
        updated_unix: j.run.updated_unix,
        iters_done: j.iters_done,
        iters: j.iters,
        methods: j.methods.clone(),
    }
}

/// The kept runs in `folder` (each a directory with a readable `run.json`), newest first.
/// Directories that are not runs are skipped.
pub fn list_runs(folder: &Path) -> Vec<RunSummary> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut runs: Vec<RunSummary> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join(RUN_JSON).is_file())
        .filter_map(|p| read_json(&p).ok().map(|j| summary(&p, &j)))
        .collect();
    runs.sort_by(|a, b| {
        b.created_unix
            .cmp(&a.created_unix)
            .then_with(|| b.dir.cmp(&a.dir))
    });
    runs
}

/// A kept run with its curves, to lay over the current one.
pub fn load_run(dir: &Path) -> Result<SavedRun, String> {
    let j = read_json(dir)?;
    let methods = j
        .run
        .methods
        .iter()
        .map(|m| SavedCurves {
            method: m.method.clone(),
            status: m.status.name().to_string(),
            records: m.records.clone(),
            evals: m.evals.clone(),
            checks: m.checks.clone(),
            strides: m.strides,
        })
        .collect();
    Ok(SavedRun {
        summary: summary(dir, &j),
        methods,
    })
}

/// What a model file from this run carries besides the weights: the task, the training
/// settings (JSON), and for a trajectory task its start state `y0` and span `t_span` (JSON
/// lists), so that `solve` integrates the model from where it was trained.
pub fn model_metadata(trainer: &Trainer) -> Vec<(String, String)> {
    let config = trainer.config();
    let mut meta = vec![
        ("task".to_string(), config.task.name().to_string()),
        ("training".to_string(), training_json(config)),
    ];
    if let TaskData::Trajectory(t) = trainer.data()
        && let (Some(y0), Some(&t0), Some(&t1)) =
            (t.states.first(), t.times.first(), t.times.last())
    {
        meta.push(("y0".into(), serde_json::to_string(y0).unwrap_or_default()));
        meta.push((
            "t_span".into(),
            serde_json::to_string(&[t0, t1]).unwrap_or_default(),
        ));
    }
    if let TaskData::Density(d) = trainer.data() {
        meta.push(("t1".into(), d.t1.to_string()));
    }
    meta
}

/// The training settings as JSON (the preset that reproduces them).
pub fn training_json(c: &super::TrainConfig) -> String {
    TrainPreset::from_config(c, None)
        .to_toml()
        .ok()
        .and_then(|t| toml::from_str::<toml::Value>(&t).ok())
        .and_then(|v| serde_json::to_string(&v).ok())
        .unwrap_or_default()
}

/// A run directory being written.
#[derive(Debug)]
pub struct RunDir {
    dir: PathBuf,
    curve: BufWriter<File>,
    created_unix: u64,
    last_snapshot: Option<Instant>,
    /// The least time between two snapshots at evaluations (the last one is always written).
    pub min_interval: Duration,
}

impl RunDir {
    /// Starts a run directory for `trainer` (before its first step): creates `dir`, writes
    /// `setup.toml` and the header of `curve.csv`. A directory that already holds a run is
    /// refused (resume it or choose another).
    pub fn create(dir: &Path, trainer: &Trainer) -> Result<Self, String> {
        if dir.join(RUN_JSON).exists() {
            return Err(format!(
                "{} already holds a run: continue it with --resume, or choose another directory",
                dir.display()
            ));
        }
        if dir.exists() && !dir.is_dir() {
            return Err(format!("{} is not a directory", dir.display()));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let setup = TrainPreset::from_config(trainer.config(), None).to_toml()?;
        write(&dir.join(SETUP_TOML), setup.as_bytes())?;
        let path = dir.join(CURVE_CSV);
        let mut curve = File::create(&path)
            .map(BufWriter::new)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        writeln!(curve, "{CSV_HEADER}").map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            curve,
            created_unix: now_unix(),
            last_snapshot: None,
            min_interval: Duration::from_millis(500),
        })
    }

    /// Opens a kept run to continue it for `more` iterations (None: to the end it was set up
    /// for, when it was stopped before). Returns the trainer, restored to where the run was
    /// saved, and the directory, ready to take the next iterations.
    pub fn resume(dir: &Path, more: Option<usize>) -> Result<(Trainer, Self), String> {
        let j = read_json(dir)?;
        let setup_path = dir.join(SETUP_TOML);
        let text = std::fs::read_to_string(&setup_path)
            .map_err(|e| format!("cannot read {}: {e}", setup_path.display()))?;
        let source = setup_path.display().to_string();
        let mut config = TrainPreset::from_toml(&text, &source)
            .and_then(|p| p.resolve(&text, &source))
            .map_err(|e| e.to_string())?;
        if j.device == "gpu" {
            return Err(format!(
                "{}: a run trained on the GPU cannot be resumed (its optimiser state stays on the device)",
                dir.display()
            ));
        }
        config.device = Device::Cpu;
        // The saved weights replace the ones the run started from.
        config.weights = None;
        let done = j.run.iter;
        config.iters = match more {
            Some(0) => return Err("--iters must be at least 1".into()),
            Some(n) => done.saturating_add(n),
            None if done < config.iters => config.iters,
            None => {
                return Err(format!(
                    "{}: the run did all its {done} iterations; give --iters N to train N more",
                    dir.display()
                ));
            }
        };
        let position: u128 = j.run.batch_position.parse().map_err(|_| {
            format!(
                "{}: batch_position '{}' is not a number",
                dir.display(),
                j.run.batch_position
            )
        })?;
        let mut trainer = Trainer::new(config)?;
        let mut methods = Vec::new();
        for saved in &j.run.methods {
            let (model, opt) = read_weights(dir, &saved.method, done)?;
            methods.push((saved.clone(), model, opt));
        }
        trainer.restore(done, position, methods)?;
        let path = dir.join(CURVE_CSV);
        truncate_curve(&path, done)?;
        let curve = OpenOptions::new()
            .append(true)
            .open(&path)
            .map(BufWriter::new)
            .map_err(|e| format!("cannot append to {}: {e}", path.display()))?;
        Ok((
            trainer,
            Self {
                dir: dir.to_path_buf(),
                curve,
                created_unix: j.run.created_unix,
                last_snapshot: None,
                min_interval: Duration::from_millis(500),
            },
        ))
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Takes one step's update: appends its rows to `curve.csv`, and after an evaluation
    /// saves the weights and `run.json` (at most every [`RunDir::min_interval`]).
    pub fn record(&mut self, trainer: &Trainer, up: &TrainUpdate) -> Result<(), String> {
        let runs = trainer.runs();
        for (i, r) in &up.records {
            let Some(run) = runs.get(*i) else { continue };
            let eval = up
                .evals
                .iter()
                .find(|(j, e)| j == i && e.iter == r.iter)
                .map(|(_, e)| e);
            let check = up
                .checks
                .iter()
                .find(|(j, c)| j == i && c.iter == r.iter)
                .map(|(_, c)| c);
            writeln!(self.curve, "{}", csv_row(run.method, r, eval, check))
                .map_err(|e| format!("cannot write {}: {e}", self.dir.join(CURVE_CSV).display()))?;
        }
        let due = !up.evals.is_empty()
            && self
                .last_snapshot
                .is_none_or(|t| t.elapsed() >= self.min_interval);
        if due {
            self.save(trainer, &trainer.report(), RunState::Running)?;
        }
        Ok(())
    }

    /// Saves the run as it stands: `curve.csv` flushed, each method's weights and optimiser
    /// state, then `run.json` with `report` (the end of a run: the report of
    /// [`Trainer::finish`], `state` stopped or finished).
    pub fn save(
        &mut self,
        trainer: &Trainer,
        report: &TrainReport,
        state: RunState,
    ) -> Result<(), String> {
        self.curve
            .flush()
            .map_err(|e| format!("cannot write {}: {e}", self.dir.join(CURVE_CSV).display()))?;
        let meta = model_metadata(trainer);
        for run in trainer.runs() {
            let opt = run.optimizer();
            let mut m = meta.clone();
            m.push(("method".into(), run.method.name().into()));
            m.push(("status".into(), run.status.name().into()));
            m.push(("iter".into(), trainer.iter().to_string()));
            m.push(("optim.t".into(), opt.t.to_string()));
            let bytes = model_file::to_safetensors_with(
                &run.model.mlp,
                run.model.readout.as_ref(),
                &m,
                FloatKind::F64,
                &[("optim.m", &opt.m), ("optim.v", &opt.v)],
            )?;
            write(&self.dir.join(weights_file(run.method.name())), &bytes)?;
        }
        let record = RunRecord {
            format: FORMAT.into(),
            created_unix: self.created_unix,
            updated_unix: now_unix(),
            state,
            iter: trainer.iter(),
            batch_position: trainer.batch_position().to_string(),
            methods: trainer.saved_methods(),
        };
        let mut text = serde_json::to_string_pretty(&RunJsonOut {
            report,
            run: &record,
        })
        .map_err(|e| e.to_string())?;
        text.push('\n');
        write(&self.dir.join(RUN_JSON), text.as_bytes())?;
        self.last_snapshot = Some(Instant::now());
        Ok(())
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    crate::output::write_bytes(path, bytes)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A method's saved weights and optimiser state, checked to be at iteration `iter`.
fn read_weights(dir: &Path, method: &str, iter: usize) -> Result<(Model, OptimizerState), String> {
    let path = dir.join(weights_file(method));
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let at = |e: String| format!("{}: {e}", path.display());
    let loaded = model_file::from_safetensors(&bytes).map_err(at)?;
    let meta = |k: &str| {
        loaded
            .metadata
            .get(k)
            .ok_or_else(|| at(format!("no '{k}' in the metadata")))
    };
    let saved_iter: usize = meta("iter")?
        .parse()
        .map_err(|_| at("'iter' is not a count".into()))?;
    if saved_iter != iter {
        return Err(at(format!(
            "the weights are at iteration {saved_iter}, run.json at {iter}: the run was cut off \
             while saving"
        )));
    }
    let t: u64 = meta("optim.t")?
        .parse()
        .map_err(|_| at("'optim.t' is not a count".into()))?;
    let tensor = |name: &str| {
        model_file::read_tensor(&bytes, name)
            .map_err(at)?
            .ok_or_else(|| at(format!("no tensor '{name}'")))
    };
    let opt = OptimizerState {
        t,
        m: tensor("optim.m")?,
        v: tensor("optim.v")?,
    };
    if opt.m.iter().chain(&opt.v).any(|v| !v.is_finite()) {
        return Err(at("the optimiser state is not finite".into()));
    }
    Ok((
        Model {
            mlp: loaded.mlp,
            readout: loaded.readout,
        },
        opt,
    ))
}

/// Drops the rows of `curve.csv` after iteration `iter` (written after the last save).
fn truncate_curve(path: &Path, iter: usize) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let keep = |line: &str| {
        line.split(',')
            .nth(1)
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|k| k <= iter)
    };
    let mut lines = text.lines();
    let header = lines.next().unwrap_or(CSV_HEADER);
    if header != CSV_HEADER {
        return Err(format!("{}: not a nodelab training curve", path.display()));
    }
    if text.lines().skip(1).all(keep) {
        return Ok(());
    }
    let mut out = String::from(header);
    out.push('\n');
    for line in lines.filter(|l| keep(l)) {
        out.push_str(line);
        out.push('\n');
    }
    write(path, out.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        // 2000-02-29 12:34:56 UTC (a leap day) = 951827696.
        assert_eq!(format_utc(951_827_696), "2000-02-29 12:34 UTC");
        assert_eq!(civil(1_796_549_400).0, 2026);
    }
}
