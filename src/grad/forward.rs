//! Forward solves of a group's stacked state with the solvers of [`crate::solver`], segment by
//! segment between observation times, keeping only what the caller asks for (the solver's step
//! records are dropped as they come, so a solve's memory does not grow with its steps).
//! Generic over the state's float type `T` (f64 or f32; time and step sizes stay f64).

use super::GradError;
use super::tableau::Tableau;
use crate::solver::common::Setup;
use crate::solver::{self, Rhs, Scalar, SharedSystem, SolverConfig, StepEvent, StepRecord};

/// Totals of one or more forward solves.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SolveStats {
    pub nfev: u64,
    pub accepted: usize,
    pub rejected: usize,
    pub warnings: Vec<String>,
}

impl SolveStats {
    pub fn add(&mut self, other: &SolveStats) {
        self.nfev += other.nfev;
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        for w in &other.warnings {
            if !self.warnings.contains(w) {
                self.warnings.push(w.clone());
            }
        }
    }
}

/// Integrates `system` from `(t0, y)` to `t1`, overwriting `y` with the end state. Calls
/// `on_accept(start_state, record)` for every accepted step.
pub fn run_segment<T: Scalar>(
    system: SharedSystem<T>,
    t0: f64,
    t1: f64,
    y: &mut [T],
    config: &SolverConfig,
    mut on_accept: impl FnMut(&[T], &StepRecord<T>),
) -> Result<SolveStats, GradError> {
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
    let setup = Setup::of(system, t0, t1, y.to_vec(), config);
    let mut stepper = solver::stepper_of(setup).map_err(|e| GradError::Invalid(e.to_string()))?;
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
                return Err(GradError::Solve(format!(
                    "forward solve with {} failed: {e}",
                    config.method
                )));
            }
        }
    }
    stats.nfev = stepper.nfev();
    stats.warnings = stepper.warnings();
    Ok(stats)
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
    for seg in ends.windows(2) {
        let s = run_segment(system.clone(), seg[0], seg[1], &mut y, config, |_, r| {
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
    for seg in ends.windows(2) {
        let rec = recorder.clone();
        let st = run_segment(
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
