//! Forward solves of a group's stacked state with the solvers of [`crate::solver`], segment by
//! segment between observation times, keeping only what the caller asks for (the solver's step
//! records are dropped as they come, so a solve's memory does not grow with its steps).
//! Generic over the state's float type `T` (f64 or f32; time and step sizes stay f64).

use super::GradError;
use super::tableau::Tableau;
use crate::nn::Real;
use crate::solver::common::Setup;
use crate::solver::{self, Rhs, Scalar, SharedSystem, SolverConfig, StepEvent, StepRecord};

/// Totals of one or more forward solves.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SolveStats {
    pub nfev: u64,
    pub accepted: usize,
    pub rejected: usize,
    pub warnings: Vec<String>,
    /// The stepper's proposal for a next step at the end ([`solver::Stepper::proposed_h`]).
    pub h_next: Option<f64>,
}

impl SolveStats {
    pub fn add(&mut self, other: &SolveStats) {
        self.nfev += other.nfev;
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        self.h_next = other.h_next.or(self.h_next);
        for w in &other.warnings {
            if !self.warnings.contains(w) {
                self.warnings.push(w.clone());
            }
        }
    }
}

/// Integrates `system` from `(t0, y)` to `t1`, overwriting `y` with the end state. Calls
/// `on_accept(start_state, record)` for every accepted step, whose caller keeps nothing per
/// step ([`Segments::keeping_nothing`]) and reads no continuous extension
/// ([`Segments::without_dense_output`]). A fresh stepper: see [`Segments`] for consecutive
/// segments of one solve.
pub fn run_segment<T: Scalar>(
    system: SharedSystem<T>,
    t0: f64,
    t1: f64,
    y: &mut [T],
    config: &SolverConfig,
    on_accept: impl FnMut(&[T], &StepRecord<T>),
) -> Result<SolveStats, GradError> {
    Segments::keeping_nothing()
        .without_dense_output()
        .run(system, t0, t1, y, config, on_accept)
}

/// One forward solve over consecutive segments `[τ_{k−1}, τ_k]` (the observation times): the
/// stepper of one segment goes on into the next ([`crate::solver::Stepper::extend_to`]) with
/// its step size, controller memory and FSAL stage, instead of a fresh start at every
/// observation (a new `f(τ, y)`, a new initial-step estimate and a cautious first step: for
/// nine short segments, a third of the evaluations). A solver that cannot continue (all but
/// dopri5), or a segment that does not start where the last one ended, starts afresh. The
/// steps still land exactly on every τ_k. States of float type `T`.
///
/// The memory budget ([`crate::mem::budget`]) bounds the steps by what the caller keeps per
/// step: by default a solver's step record (the tape of `backprop`, the step list of
/// `checkpoint` are of that size), none at all for [`Segments::keeping_nothing`] (the adjoint
/// solves, the reference's forward sensitivities, `fd`), whose memory does not grow with the
/// steps.
pub struct Segments<T = f64> {
    stepper: Option<Box<dyn solver::Stepper<T>>>,
    /// The stepper's f-evaluations when the current segment started.
    nfev_start: u64,
    /// The caller stores nothing per step.
    keeps_nothing: bool,
    /// The caller reads no step's continuous extension ([`Segments::without_dense_output`]).
    no_dense: bool,
}

impl<T> Default for Segments<T> {
    fn default() -> Self {
        Self {
            stepper: None,
            nfev_start: 0,
            keeps_nothing: false,
            no_dense: false,
        }
    }
}

impl<T> Segments<T> {
    /// Segments whose caller keeps nothing per step: no step limit from the memory budget
    /// (`max_steps` still applies).
    pub fn keeping_nothing() -> Self {
        Self {
            keeps_nothing: true,
            ..Self::default()
        }
    }

    /// The steppers skip their continuous extension (the records' `dense` is not the
    /// method's): for callers that read only the steps' end states.
    pub fn without_dense_output(mut self) -> Self {
        self.no_dense = true;
        self
    }
}

impl<T: Scalar> Segments<T> {
    /// Readies `[t0, t1]` from `y`: true when the last segment's stepper goes on (it ended at
    /// `(t0, y)` exactly and can be extended), false when a new stepper starts.
    pub fn prepare(
        &mut self,
        system: SharedSystem<T>,
        t0: f64,
        t1: f64,
        y: &[T],
        config: &SolverConfig,
    ) -> Result<bool, GradError> {
        if let Some(st) = &mut self.stepper
            && st.t() == t0
            && st.y() == y
            && st.extend_to(t1)
        {
            self.nfev_start = st.nfev();
            return Ok(true);
        }
        if y.len() != system.dim() {
            return Err(GradError::Invalid(format!(
                "the state has {} components but the system has {}",
                y.len(),
                system.dim()
            )));
        }
        if !(t0.is_finite() && t1.is_finite() && t1 > t0) {
            return Err(GradError::Invalid(format!(
                "the segment [{t0}, {t1}] must be finite with t1 > t0"
            )));
        }
        if let Some(i) = y.iter().position(|v| !v.is_finite()) {
            return Err(GradError::Invalid(format!("y0[{i}] is not finite")));
        }
        let mut setup = Setup::of(system, t0, t1, y.to_vec(), config);
        if self.keeps_nothing {
            setup.max_records = usize::MAX;
        }
        setup.dense_output = !self.no_dense;
        self.stepper =
            Some(solver::stepper_of(setup).map_err(|e| GradError::Invalid(e.to_string()))?);
        self.nfev_start = 0;
        Ok(false)
    }

    /// Runs the segment readied by [`Segments::prepare`] to its end, overwriting `y` with the
    /// end state; `on_accept(start_state, record)` for every accepted step.
    pub fn finish(
        &mut self,
        y: &mut [T],
        config: &SolverConfig,
        mut on_accept: impl FnMut(&[T], &StepRecord<T>),
    ) -> Result<SolveStats, GradError> {
        let Some(stepper) = &mut self.stepper else {
            return Err(GradError::Invalid("no segment was prepared".into()));
        };
        let mut stats = SolveStats::default();
        loop {
            match stepper.attempt() {
                StepEvent::Step(r) => {
                    if r.accepted {
                        stats.accepted += 1;
                        on_accept(y, &r);
                        y.copy_from_slice(&r.y);
                    } else {
                        stats.rejected += 1;
                    }
                }
                StepEvent::Done => break,
                StepEvent::Failed(e) => {
                    self.stepper = None;
                    return Err(GradError::Solve(format!(
                        "forward solve with {} failed: {e}",
                        config.method
                    )));
                }
            }
        }
        stats.nfev = stepper.nfev() - self.nfev_start;
        stats.h_next = stepper.proposed_h();
        stats.warnings = stepper.warnings();
        Ok(stats)
    }

    /// [`Segments::prepare`] then [`Segments::finish`].
    pub fn run(
        &mut self,
        system: SharedSystem<T>,
        t0: f64,
        t1: f64,
        y: &mut [T],
        config: &SolverConfig,
        on_accept: impl FnMut(&[T], &StepRecord<T>),
    ) -> Result<SolveStats, GradError> {
        self.prepare(system, t0, t1, y, config)?;
        self.finish(y, config, on_accept)
    }
}

/// The step size carried from one backward segment to the next, where a jump of the adjoint
/// at an observation time forbids continuing the stepper itself ([`Segments`]): the next
/// segment starts with the step the last one's controller proposed after its final step
/// ([`StepCarry::proposal`], as Hairer's DOPRI5 returns it for a continuation), else with its
/// last full (not shortened to land) accepted step, instead of a new initial-step estimate.
/// Adaptive methods only; an `h0` the user set is kept.
#[derive(Clone, Copy, Debug, Default)]
pub struct StepCarry {
    h: Option<f64>,
}

impl StepCarry {
    /// The solver settings of the next segment.
    pub fn config(&self, base: &SolverConfig) -> SolverConfig {
        let mut c = base.clone();
        if let Some(h) = self.h
            && base.method.is_adaptive()
            && base.h0.is_none()
        {
            c.h0 = Some(h);
        }
        c
    }

    /// Takes a finished segment's proposal for the next step (call after each segment; the
    /// proposal after a step shortened to land is still the controller's, from that step's
    /// error, so it is not the shortened size).
    pub fn proposal(&mut self, stats: &SolveStats) {
        if let Some(h) = stats.h_next {
            self.h = Some(h);
        }
    }

    /// Remembers an accepted step (call from `on_accept`).
    pub fn note<T>(&mut self, r: &StepRecord<T>) {
        if !r.clipped || self.h.is_none() {
            self.h = Some(r.h);
        }
    }
}

/// The accepted steps of a forward solve, as the explicit steps that propagate the solution.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub tableau: Tableau,
    /// `(t, h)` of every propagating step, in order.
    pub steps: Vec<(f64, f64)>,
    /// `obs_end[k]`: number of steps done when observation k is reached.
    pub obs_end: Vec<usize>,
}

impl Schedule {
    /// Bytes of the step list.
    pub fn stored_bytes(&self) -> usize {
        self.steps.len() * std::mem::size_of::<(f64, f64)>()
            + self.obs_end.len() * std::mem::size_of::<usize>()
    }

    /// The observation (if any) reached after `i` steps.
    pub fn obs_after(&self, i: usize) -> Option<usize> {
        self.obs_end.iter().position(|&e| e == i)
    }
}

/// Adds `∂L/∂Y` of every observation reached after `i` steps to `ybar`.
pub(crate) fn inject<T: Real>(schedule: &Schedule, i: usize, obs_grads: &[T], ybar: &mut [T]) {
    let m = ybar.len();
    for (k, &e) in schedule.obs_end.iter().enumerate() {
        if e == i {
            for (a, &b) in ybar.iter_mut().zip(&obs_grads[k * m..(k + 1) * m]) {
                *a += b;
            }
        }
    }
}

/// Solves the group forward with `config` over the segments `ends = [t0, τ_1, …, τ_K]` and
/// returns the propagating steps (sub-steps for rk4-doubling).
pub fn schedule<T: Scalar>(
    system: SharedSystem<T>,
    ends: &[f64],
    y0: &[T],
    config: &SolverConfig,
) -> Result<(Schedule, SolveStats), GradError> {
    let (tableau, split) = Tableau::for_method(config.method);
    let mut steps = Vec::new();
    let mut obs_end = Vec::with_capacity(ends.len().saturating_sub(1));
    let mut stats = SolveStats::default();
    let mut y = y0.to_vec();
    let mut segments = Segments::default();
    for seg in ends.windows(2) {
        let s = segments.run(system.clone(), seg[0], seg[1], &mut y, config, |_, r| {
            let h = r.h / split as f64;
            for j in 0..split {
                steps.push((r.t + j as f64 * h, h));
            }
        })?;
        stats.add(&s);
        obs_end.push(steps.len());
    }
    Ok((
        Schedule {
            tableau,
            steps,
            obs_end,
        },
        stats,
    ))
}

/// A recorded forward solve: the schedule, its totals, the tape of stage inputs
/// (`steps · s · m`) and the state at every observation (`K · m`).
pub type RecordedSolve<T = f64> = (Schedule, SolveStats, Vec<T>, Vec<T>);

/// Keeps the states at which a system is evaluated, for [`schedule_recorded`]: every rhs
/// input since the last accepted step (the stage inputs of the attempt in progress).
struct StageRecorder<T> {
    inner: SharedSystem<T>,
    calls: std::sync::Mutex<Vec<T>>,
}

impl<T: Scalar> Rhs<T> for StageRecorder<T> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn rhs(&self, t: f64, y: &[T], dydt: &mut [T]) {
        self.inner.rhs(t, y, dydt);
        if let Ok(mut c) = self.calls.lock() {
            c.extend_from_slice(y);
        }
    }

    fn diagnose(&self, t: f64, y: &[T]) -> Option<String> {
        self.inner.diagnose(t, y)
    }
}

/// A forward solve that records the backprop tape as it goes: the schedule, the stage inputs
/// `Y_1 … Y_s` of every accepted step back to back (`steps · s · m`) and the state at every
/// observation (`K · m`), with no replay. Dopri5 only (its attempt evaluates stages 2–6 and
/// then f at the new point, so an accepted step's stage inputs are its start state and the
/// five inputs before the last); `None` for the other solvers.
pub fn schedule_recorded<T: Scalar>(
    system: SharedSystem<T>,
    ends: &[f64],
    y0: &[T],
    config: &SolverConfig,
) -> Result<Option<RecordedSolve<T>>, GradError> {
    if config.method != solver::Method::Dopri5 {
        return Ok(None);
    }
    let (tableau, _) = Tableau::for_method(config.method);
    let s = tableau.stages();
    let m = y0.len();
    let recorder = std::sync::Arc::new(StageRecorder {
        inner: system,
        calls: std::sync::Mutex::new(Vec::new()),
    });
    let mut steps = Vec::new();
    let mut tape: Vec<T> = Vec::new();
    let mut obs_states = Vec::with_capacity(ends.len().saturating_sub(1) * m);
    let mut obs_end = Vec::with_capacity(ends.len().saturating_sub(1));
    let mut stats = SolveStats::default();
    let mut y = y0.to_vec();
    let mut broken = false;
    let mut segments = Segments::default();
    for seg in ends.windows(2) {
        let rec = recorder.clone();
        let st = segments.run(
            recorder.clone(),
            seg[0],
            seg[1],
            &mut y,
            config,
            |start, r| {
                steps.push((r.t, r.h));
                let Ok(mut calls) = rec.calls.lock() else {
                    broken = true;
                    return;
                };
                let n = calls.len();
                if n < s * m {
                    broken = true;
                } else {
                    tape.extend_from_slice(start);
                    tape.extend_from_slice(&calls[n - s * m..n - m]);
                }
                calls.clear();
            },
        )?;
        stats.add(&st);
        obs_end.push(steps.len());
        obs_states.extend_from_slice(&y);
    }
    if broken {
        return Err(GradError::Solve(
            "backprop: the forward solve's stage record is incomplete".into(),
        ));
    }
    Ok(Some((
        Schedule {
            tableau,
            steps,
            obs_end,
        },
        stats,
        tape,
        obs_states,
    )))
}
