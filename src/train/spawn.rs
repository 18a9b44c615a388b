//! A training run on its own named thread, for the app: [`spawn`] and its variants start a
//! [`Trainer`] (or set one up there, [`spawn_config`]), the [`TrainControl`] pauses, steps or
//! stops it, and [`TrainEvent`]s stream through a bounded channel that never blocks training:
//! when the reader lags, updates are merged, not dropped.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use super::config::TrainConfig;
use super::control::TrainControl;
use super::engine::{TrainUpdate, Trainer};
use super::record::TrainReport;
use super::run_dir::{RunDir, RunState, new_run_path};
use super::task::TaskData;

/// Messages from a spawned run.
#[derive(Clone, Debug)]
pub enum TrainEvent {
    /// The run is set up on its own thread (data generated, device found, kernels built): the
    /// first event of a run started by [`spawn_config`].
    Ready(Box<RunReady>),
    Update(TrainUpdate),
    Finished(TrainReport),
    /// The run could not start (a bad setup, no adapter for `--device gpu`); the only event.
    Failed(String),
}

/// What a reader learns when a run started by [`spawn_config`] is set up.
#[derive(Clone, Debug)]
pub struct RunReady {
    pub data: TaskData,
    pub warnings: Vec<String>,
    /// Where it trains, in words: "CPU, f64" or "GPU, f32: ADAPTER".
    pub device: String,
    /// The run's settings (a resumed run's, read from its directory).
    pub config: TrainConfig,
    /// Iterations already done (a resumed run: where it continues; else 0).
    pub start_iter: usize,
    /// The run directory it is kept in ([`spawn_kept`], [`spawn_resume`]).
    pub run_dir: Option<PathBuf>,
}

/// Where a spawned run is kept on disk ([`super::run_dir`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Keep {
    /// Not kept.
    No,
    /// In a new run directory in this folder (e.g. [`super::run_dir::default_runs_dir`]).
    In(PathBuf),
    /// Continue the run kept in `dir` for `more` iterations (None: to its planned end).
    Resume { dir: PathBuf, more: Option<usize> },
}

/// A run on its own thread.
#[derive(Debug)]
pub struct TrainHandle {
    pub control: TrainControl,
    pub events: Receiver<TrainEvent>,
    /// Iterations done, updated by the run itself (readable without taking any event).
    progress: Arc<AtomicUsize>,
    join: JoinHandle<Result<TrainReport, String>>,
}

impl TrainHandle {
    /// Iterations done so far.
    pub fn iterations_done(&self) -> usize {
        self.progress.load(Ordering::Relaxed)
    }

    /// Whether the run's thread has ended.
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }

    /// Waits for the end of the run and hands back the event receiver too.
    pub fn into_parts(self) -> (Result<TrainReport, String>, Receiver<TrainEvent>) {
        let report = self
            .join
            .join()
            .map_err(|_| "the training thread panicked".to_string())
            .and_then(|r| r);
        (report, self.events)
    }

    /// Waits for the end of the run.
    pub fn join(self) -> Result<TrainReport, String> {
        self.join
            .join()
            .map_err(|_| "the training thread panicked".to_string())
            .and_then(|r| r)
    }
}

/// Sends updates without ever blocking: a full channel keeps them for the next try.
struct Outbox {
    tx: SyncSender<TrainEvent>,
    pending: Option<TrainUpdate>,
}

impl Outbox {
    fn push(&mut self, up: TrainUpdate) {
        let merged = match self.pending.take() {
            Some(mut p) => {
                p.merge(up);
                p
            }
            None => up,
        };
        match self.tx.try_send(TrainEvent::Update(merged)) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(TrainEvent::Update(u))) => self.pending = Some(u),
            Err(TrySendError::Full(_)) => {}
        }
    }

    fn finish(mut self, report: TrainReport) {
        // The run is over: waiting for the reader no longer delays training (a reader that
        // dropped its receiver ends the wait at once).
        if let Some(p) = self.pending.take() {
            let _ = self.tx.send(TrainEvent::Update(p));
        }
        let _ = self.tx.send(TrainEvent::Finished(report));
    }
}

/// Starts `config` on a named thread; `control` may start paused for step-by-step runs.
pub fn spawn(
    config: TrainConfig,
    control: TrainControl,
    capacity: usize,
) -> Result<TrainHandle, String> {
    spawn_trainer(Trainer::new(config)?, control, capacity)
}

/// Runs a prepared trainer on a named thread.
pub fn spawn_trainer(
    trainer: Trainer,
    control: TrainControl,
    capacity: usize,
) -> Result<TrainHandle, String> {
    spawn_with(control, capacity, move |_| Ok((trainer, None)))
}

/// Sets `config` up and runs it on a named thread, with predictions on a `predict_grid`²
/// grid (0: none): the data generation, the adapter request and the GPU kernels' build, which
/// can take seconds, happen there too, so that a caller on a UI thread never waits. The first
/// event is [`TrainEvent::Ready`], or [`TrainEvent::Failed`] when the run cannot start.
pub fn spawn_config(
    config: TrainConfig,
    predict_grid: usize,
    control: TrainControl,
    capacity: usize,
) -> Result<TrainHandle, String> {
    spawn_kept(Some(config), Keep::No, predict_grid, control, capacity)
}

/// As [`spawn_config`], kept on disk as `keep` says: a new run directory (files written on the
/// training thread, after every evaluation and at the end, stopped or not), or a kept run
/// continued (`config` is then ignored: the directory's `setup.toml` is the setup). Writing
/// errors end up in the report's warnings.
pub fn spawn_kept(
    config: Option<TrainConfig>,
    keep: Keep,
    predict_grid: usize,
    control: TrainControl,
    capacity: usize,
) -> Result<TrainHandle, String> {
    spawn_with(control, capacity, move |tx| {
        let (trainer, dir) = match keep {
            Keep::Resume { dir, more } => {
                let (t, d) = RunDir::resume(&dir, more)?;
                (t, Some(d))
            }
            keep => {
                let config = config.ok_or("no training setup to start")?;
                let trainer = Trainer::new(config)?;
                let dir = match keep {
                    Keep::In(folder) => Some(RunDir::create(
                        &new_run_path(&folder, trainer.config().task.name()),
                        &trainer,
                    )?),
                    _ => None,
                };
                (trainer, dir)
            }
        };
        let trainer = trainer.with_predictions(predict_grid);
        let ready = RunReady {
            data: trainer.data().clone(),
            warnings: trainer.warnings().to_vec(),
            device: trainer.device_label(),
            config: trainer.config().clone(),
            start_iter: trainer.iter(),
            run_dir: dir.as_ref().map(|d| d.path().to_path_buf()),
        };
        // The first message on an empty channel of capacity ≥ 1: never blocks.
        let _ = tx.send(TrainEvent::Ready(Box::new(ready)));
        Ok((trainer, dir))
    })
}

/// Continues the run kept in `dir` for `more` iterations (None: to its planned end) on a
/// named thread, as [`spawn_kept`] with [`Keep::Resume`].
pub fn spawn_resume(
    dir: PathBuf,
    more: Option<usize>,
    predict_grid: usize,
    control: TrainControl,
    capacity: usize,
) -> Result<TrainHandle, String> {
    spawn_kept(
        None,
        Keep::Resume { dir, more },
        predict_grid,
        control,
        capacity,
    )
}

/// The training thread: `make` builds the trainer there (its error is sent as
/// [`TrainEvent::Failed`]), then the run streams its updates and report.
fn spawn_with(
    control: TrainControl,
    capacity: usize,
    make: impl FnOnce(&SyncSender<TrainEvent>) -> Result<(Trainer, Option<RunDir>), String>
    + Send
    + 'static,
) -> Result<TrainHandle, String> {
    let (tx, rx) = sync_channel(capacity.max(1));
    let ctl = control.clone();
    let progress = Arc::new(AtomicUsize::new(0));
    let counter = progress.clone();
    let join = std::thread::Builder::new()
        .name("nodelab-train".into())
        .spawn(move || {
            let (mut trainer, mut dir) = match make(&tx) {
                Ok(t) => t,
                Err(e) => {
                    let _ = tx.send(TrainEvent::Failed(e.clone()));
                    return Err(e);
                }
            };
            let mut out = Outbox { tx, pending: None };
            let mut dir_error = None;
            while !trainer.is_done() {
                if !ctl.wait_turn() {
                    break;
                }
                let u = trainer.step();
                if let Some(d) = &mut dir
                    && let Err(e) = d.record(&trainer, &u)
                {
                    dir_error = Some(e);
                    dir = None;
                }
                counter.store(u.iter, Ordering::Relaxed);
                out.push(u);
            }
            let stopped = !trainer.is_done();
            if let Some(e) = dir_error {
                trainer.warn(format!("the run directory is no longer written: {e}"));
            }
            let mut report = trainer.finish();
            if let Some(d) = &mut dir {
                let state = if stopped {
                    RunState::Stopped
                } else {
                    RunState::Finished
                };
                if let Err(e) = d.save(&trainer, &report, state) {
                    report
                        .warnings
                        .push(format!("saving the run directory failed: {e}"));
                }
            }
            out.finish(report.clone());
            Ok(report)
        })
        .map_err(|e| format!("cannot start the training thread: {e}"))?;
    Ok(TrainHandle {
        control,
        events: rx,
        progress,
        join,
    })
}
