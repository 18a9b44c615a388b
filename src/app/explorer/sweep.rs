//! The work-precision worker: runs the tolerance sweep of `nodelab bench solvers` for the
//! current problem on a named thread (rayon inside), reporting progress over a bounded channel.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};

use crate::bench::work_precision::{self, DEFAULT_TOLERANCES, WorkPrecision};
use crate::preset::{ProblemSpec, build_problem};
use crate::solver::Method;

#[derive(Debug)]
pub enum SweepMsg {
    Progress(usize, usize),
    Done(Box<WorkPrecision>),
    Failed(String),
}

/// The UI's end of a sweep; dropping it cancels.
pub struct SweepHandle {
    pub rx: Receiver<SweepMsg>,
    cancel: Arc<AtomicBool>,
}

impl Drop for SweepHandle {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

/// State of the work-precision view.
#[derive(Default)]
pub struct SweepState {
    pub handle: Option<SweepHandle>,
    pub progress: (usize, usize),
    pub result: Option<WorkPrecision>,
    pub error: Option<String>,
    /// The problem of the running sweep.
    pub running_spec: Option<ProblemSpec>,
    /// The problem `result` belongs to (stale once the session describes another).
    pub result_spec: Option<ProblemSpec>,
}

impl SweepState {
    pub fn running(&self) -> bool {
        self.handle.is_some()
    }

    /// The shown sweep belongs to another problem than `current`.
    pub fn is_stale(&self, current: &ProblemSpec) -> bool {
        self.result.is_some() && self.result_spec.as_ref() != Some(current)
    }

    /// Takes the worker's messages.
    pub fn poll(&mut self) {
        let Some(h) = &self.handle else { return };
        let mut finished = false;
        for m in h.rx.try_iter() {
            match m {
                SweepMsg::Progress(d, t) => self.progress = (d, t),
                SweepMsg::Done(wp) => {
                    self.result = Some(*wp);
                    self.result_spec = self.running_spec.clone();
                    finished = true;
                }
                SweepMsg::Failed(e) => {
                    self.error = Some(e);
                    finished = true;
                }
            }
        }
        if finished {
            self.handle = None;
        }
    }

    /// Blocks until the sweep ends (tests).
    pub fn wait(&mut self) {
        while let Some(h) = &self.handle {
            match h.rx.recv() {
                Ok(SweepMsg::Progress(d, t)) => self.progress = (d, t),
                Ok(SweepMsg::Done(wp)) => {
                    self.result = Some(*wp);
                    self.result_spec = self.running_spec.clone();
                    self.handle = None;
                }
                Ok(SweepMsg::Failed(e)) => {
                    self.error = Some(e);
                    self.handle = None;
                }
                Err(_) => self.handle = None,
            }
        }
    }
}

/// Starts the sweep of the adaptive methods over [`DEFAULT_TOLERANCES`].
pub fn spawn(
    spec: ProblemSpec,
    base_dir: PathBuf,
    repaint: Arc<dyn Fn() + Send + Sync>,
) -> std::io::Result<SweepHandle> {
    let (tx, rx) = mpsc::sync_channel(64);
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    std::thread::Builder::new()
        .name("work-precision".into())
        .spawn(move || {
            let msg = match build_problem(&spec, &base_dir) {
                Err((_, e)) => SweepMsg::Failed(e),
                Ok(problem) => {
                    let progress = |done: usize, total: usize| {
                        // Progress is best effort: a full queue drops an update.
                        let _ = tx.try_send(SweepMsg::Progress(done, total));
                        repaint();
                    };
                    let wp = work_precision::sweep(
                        &problem,
                        &Method::ADAPTIVE,
                        &DEFAULT_TOLERANCES,
                        &progress,
                        &flag,
                    );
                    SweepMsg::Done(Box::new(wp))
                }
            };
            let _ = tx.send(msg);
            repaint();
        })?;
    Ok(SweepHandle { rx, cancel })
}
