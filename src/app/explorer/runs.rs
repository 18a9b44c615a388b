//! The explorer's workers: one solve per solver of the session, their messages taken a budget
//! per frame, the work–precision sweep, and the debounced re-solve of stale results.

use std::path::PathBuf;
use std::sync::mpsc::TryRecvError;
use std::time::Instant;

use crate::app::room::RoomCx;
use crate::preset::ProblemKind;

use super::command::Command;
use super::freshness;
use super::model::{RunData, RunStatus};
use super::protocol::SolveMsg;
use super::state::{StepRef, Tab};
use super::{Explorer, worker};

/// Most worker messages taken per run per frame (keeps frames short while data pours in).
const MESSAGES_PER_FRAME: usize = 64;

impl Explorer {
    /// Every frame: the workers' messages, the sweep's progress, the keys, playback, the custom
    /// formulas' check and the freshness of the results.
    pub(super) fn poll_workers(&mut self, ctx: &egui::Context, cx: &mut RoomCx<'_>) {
        let repaint = cx.shared.repaint.clone();
        for i in 0..self.runs.len() {
            self.drain(i, MESSAGES_PER_FRAME, &*repaint);
        }
        self.sweep.poll();
        self.keys(ctx);
        let dt = ctx.input(|i| i.stable_dt) as f64;
        let available = self.available();
        if self.view.playback.advance(dt, available) {
            ctx.request_repaint();
        }
        self.custom_check.update(&self.session.custom);
        self.keep_results_fresh(ctx);
        // NODELAB_SELECT: select an attempt of the first run once it is there.
        if let Some(n) = self.select
            && self
                .runs
                .first()
                .is_some_and(|r| r.records.len() > n && r.is_finished())
        {
            self.select = None;
            self.view.show_p_vs_f = true;
            self.commands
                .push(Command::Select(Some(StepRef { run: 0, record: n })));
        }
    }

    /// Blocks until every run and the sweep have finished, taking all their messages (tests).
    pub(super) fn wait_for_workers(&mut self) {
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
            self.drain(i, usize::MAX, &|| {});
        }
        self.sweep.wait();
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

    /// Starts one solve worker per solver of the session (the previous runs are let go).
    pub(super) fn start_runs(&mut self, cx: &RoomCx<'_>) {
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
            let mut run = RunData::new(cfg.clone(), crate::app::theme::run_color(i));
            run.spec = spec.clone();
            if let (Some(loss), Some([_, t_end])) = (self.session.loss(), spec.t_span) {
                run.targets = super::model::loss_targets(loss, t_end);
            }
            let handle = match worker::spawn(
                spec.clone(),
                PathBuf::from("."),
                cfg.clone(),
                cx.shared.repaint.clone(),
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
    fn drain(&mut self, i: usize, budget: usize, repaint: &dyn Fn()) {
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
        (repaint)();
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
        self.auto.observe(self.edits.revision, now);
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
