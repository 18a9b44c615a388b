//! Step schedules of the GPU solves: fixed steps (RK4, midpoint or Euler), the segments
//! between observation times, and the per-sample adaptive settings.

use super::context::GpuError;
use super::stages::FixedRk;
use crate::solver::SolverConfig;

/// One segment of a fixed-step gradient: `n` steps of `h` from `t0`, the last one `h_last`,
/// ending at `t1` (an observation time or the end of the span).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Segment {
    pub t0: f64,
    pub t1: f64,
    pub h: f64,
    pub h_last: f64,
    pub n: u32,
}

/// The fixed-step schedule of nodelab::solver::fixed: steps of h, the last one shortened to
/// land on t1, with the method `rk` (RK4 unless [`FixedSchedule::with_rk`] says otherwise).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FixedSchedule {
    pub t0: f64,
    pub t1: f64,
    pub h: f64,
    pub n_steps: u32,
    pub rk: FixedRk,
}

impl FixedSchedule {
    /// `h0` default: 1/1000 of the span (as the CPU fixed-step solvers).
    pub fn new(t0: f64, t1: f64, h0: Option<f64>) -> Result<Self, GpuError> {
        let span = t1 - t0;
        let h = h0.unwrap_or(span / 1000.0);
        if !(span > 0.0 && h > 0.0 && h.is_finite()) {
            return Err(GpuError::Unsupported(format!(
                "the GPU solvers need t1 > t0 and a positive step (t0 = {t0}, t1 = {t1}, h = {h})"
            )));
        }
        let n = ((span / h) - 1e-9).ceil().max(1.0);
        if n > f64::from(u32::MAX / 16) {
            return Err(GpuError::Unsupported(format!("{n} steps are too many")));
        }
        Ok(Self {
            t0,
            t1,
            h,
            n_steps: n as u32,
            rk: FixedRk::Rk4,
        })
    }

    /// The same steps taken with `rk`.
    pub fn with_rk(self, rk: FixedRk) -> Self {
        Self { rk, ..self }
    }

    /// Start of step n.
    pub fn t(&self, n: u32) -> f64 {
        self.t0 + f64::from(n) * self.h
    }

    /// The last step.
    pub fn h_last(&self) -> f64 {
        self.t1 - self.t(self.n_steps - 1)
    }
}

/// Settings of the per-sample adaptive solve (zc-rk4, robust estimator).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaptiveSettings {
    pub t0: f64,
    pub t1: f64,
    pub tol: f64,
    pub rtol: f64,
    /// None: automatic initial step, per sample.
    pub h0: Option<f64>,
    pub h_min: f64,
    pub h_max: f64,
    pub max_steps: u32,
    /// The configured bounds (None: the solver's defaults `1e-12·span` and `span`, taken per
    /// segment when a trajectory loss splits the solve).
    pub h_min_given: Option<f64>,
    pub h_max_given: Option<f64>,
}

impl AdaptiveSettings {
    /// The settings of a CPU solver configuration, with the same defaults.
    pub fn from_config(config: &SolverConfig, t0: f64, t1: f64) -> Self {
        let span = t1 - t0;
        Self {
            t0,
            t1,
            tol: config.tol,
            rtol: config.rtol,
            h0: config.h0,
            h_min: config.h_min.unwrap_or(1e-12 * span),
            h_max: config.h_max.unwrap_or(span).min(span),
            max_steps: config.max_steps.min(u32::MAX as usize) as u32,
            h_min_given: config.h_min,
            h_max_given: config.h_max,
        }
    }

    /// The bounds `(h_min, h_max)` of an adaptive solve over `[a, b]` (nodelab::solver's
    /// defaults for that span).
    pub fn bounds(&self, a: f64, b: f64) -> (f64, f64) {
        let span = b - a;
        (
            self.h_min_given.unwrap_or(1e-12 * span),
            self.h_max_given.unwrap_or(span).min(span),
        )
    }
}
