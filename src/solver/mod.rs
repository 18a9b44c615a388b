//! ODE solvers that report every attempted step.
//!
//! Each solver is a [`Stepper`]: `attempt()` performs one attempted step and returns what
//! happened, so the GUI can animate and cancel a solve and the CLI can stream rows. [`solve`]
//! runs a stepper to the end and collects a [`Solution`].
//!
//! Methods (CLI names in brackets):
//! - zero-cost adaptive RK4 of Dabounou, faithful to the paper [`zc-rk4-paper`] and our robust
//!   zero-cost variant [`zc-rk4`] (see [`zc_rk4`]);
//! - classical RK4 with step doubling [`rk4-doubling`];
//! - Dormand–Prince 5(4) with FSAL, PI control and dense output [`dopri5`];
//! - fixed-step RK4, explicit midpoint and Euler [`rk4`, `midpoint`, `euler`].
//!
//! Shared by the steppers: [`common`] (setup, error norms, the guarded step controller whose
//! constants the GPU kernels take from here). May import `problem`, `nn` (the `Real` float
//! trait) and `mem`; nothing above.

pub mod common;
pub mod dopri5;
pub mod doubling;
pub mod fixed;
pub mod rk4;
pub mod zc_rk4;

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::nn::Real;
use crate::problem::{OdeSystem, Problem};

/// Every solver nodelab offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Method {
    #[serde(rename = "zc-rk4-paper")]
    ZcRk4Paper,
    #[default]
    #[serde(rename = "zc-rk4")]
    ZcRk4,
    #[serde(rename = "rk4-doubling")]
    Rk4Doubling,
    #[serde(rename = "dopri5")]
    Dopri5,
    #[serde(rename = "rk4")]
    Rk4,
    #[serde(rename = "midpoint")]
    Midpoint,
    #[serde(rename = "euler")]
    Euler,
}

impl Method {
    pub const ALL: [Method; 7] = [
        Method::ZcRk4Paper,
        Method::ZcRk4,
        Method::Rk4Doubling,
        Method::Dopri5,
        Method::Rk4,
        Method::Midpoint,
        Method::Euler,
    ];
    /// The adaptive methods, compared by `bench solvers`.
    pub const ADAPTIVE: [Method; 4] = [
        Method::ZcRk4Paper,
        Method::ZcRk4,
        Method::Rk4Doubling,
        Method::Dopri5,
    ];

    /// CLI / preset name.
    pub fn name(self) -> &'static str {
        match self {
            Method::ZcRk4Paper => "zc-rk4-paper",
            Method::ZcRk4 => "zc-rk4",
            Method::Rk4Doubling => "rk4-doubling",
            Method::Dopri5 => "dopri5",
            Method::Rk4 => "rk4",
            Method::Midpoint => "midpoint",
            Method::Euler => "euler",
        }
    }

    /// One-line description for menus and help.
    pub fn description(self) -> &'static str {
        match self {
            Method::ZcRk4Paper => "zero-cost adaptive RK4, exactly as printed in the paper",
            Method::ZcRk4 => "zero-cost adaptive RK4, robust estimator (never blind)",
            Method::Rk4Doubling => "classical RK4 with step doubling (11 f-evaluations per step)",
            Method::Dopri5 => "Dormand–Prince 5(4), FSAL, PI controller, dense output",
            Method::Rk4 => "classical RK4, fixed step h0",
            Method::Midpoint => "explicit midpoint (RK2), fixed step h0",
            Method::Euler => "explicit Euler, fixed step h0",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn is_adaptive(self) -> bool {
        Self::ADAPTIVE.contains(&self)
    }

    /// Whether records carry the polynomial coefficients a0, a1, a2 of paper eq. (15).
    pub fn has_coefficients(self) -> bool {
        matches!(
            self,
            Method::ZcRk4Paper | Method::ZcRk4 | Method::Rk4Doubling | Method::Rk4
        )
    }

    /// Classical order of the propagated solution.
    pub fn order(self) -> u32 {
        match self {
            Method::Dopri5 => 5,
            Method::ZcRk4Paper | Method::ZcRk4 | Method::Rk4Doubling | Method::Rk4 => 4,
            Method::Midpoint => 2,
            Method::Euler => 1,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Solver settings. Tolerances act on the weighted max norm
/// `max_i |e_i| / (tol + rtol·max(|y_n,i|, |y_n+1,i|))`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SolverConfig {
    pub method: Method,
    /// Absolute tolerance ε.
    pub tol: f64,
    /// Relative tolerance (0: absolute control only, as in the paper).
    pub rtol: f64,
    /// Initial step for adaptive methods (automatic when absent); the step of fixed methods
    /// (default: 1/1000 of the time span).
    pub h0: Option<f64>,
    /// Smallest step before the solve stops with "step size underflow"
    /// (default: 1e-12 of the time span).
    pub h_min: Option<f64>,
    /// Largest step (default: the whole span).
    pub h_max: Option<f64>,
    /// Most attempted steps before the solve stops.
    pub max_steps: usize,
}

impl Default for SolverConfig {
    fn default() -> Self {
        Self {
            method: Method::ZcRk4,
            tol: 1e-6,
            rtol: 0.0,
            h0: None,
            h_min: None,
            h_max: None,
            max_steps: 200_000,
        }
    }
}

/// Settings that cannot be used.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl SolverConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check().map_err(|(_, message)| ConfigError(message))
    }

    /// [`SolverConfig::validate`] that also names the offending key (`tol`, `h0`, …), so that
    /// a preset error can point at it.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let positive = |v: f64, what: &'static str| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err((what, format!("{what} must be a positive number (got {v})")))
            }
        };
        positive(self.tol, "tol")?;
        if !(self.rtol.is_finite() && self.rtol >= 0.0) {
            return Err((
                "rtol",
                format!("rtol must be zero or positive (got {})", self.rtol),
            ));
        }
        if let Some(h) = self.h0 {
            positive(h, "h0")?;
        }
        if let Some(h) = self.h_min {
            positive(h, "h_min")?;
        }
        if let Some(h) = self.h_max {
            positive(h, "h_max")?;
        }
        if self.max_steps == 0 {
            return Err(("max_steps", "max_steps must be at least 1".into()));
        }
        Ok(())
    }
}

/// What a step carries to reconstruct the solution inside it (`T`: the state's float type).
#[derive(Clone, Debug, PartialEq)]
pub enum Dense<T = f64> {
    /// Linear interpolation between the end points (Euler, midpoint).
    Linear,
    /// The RK4 cubic `q(τ) = y_n + hτ(a0 + a1 τ/2 + a2 τ²/3)` of paper eq. (19); `coeffs` holds
    /// `[a0 | a1 | a2]`, each of length d (paper eq. 15, in units of f).
    Rk4 { coeffs: Vec<T> },
    /// Step doubling: `coeffs` are those of the full step (what the paper's p(τ) is for this
    /// step); the propagated solution is two half steps, each with its own cubic.
    Rk4Halves {
        coeffs: Vec<T>,
        first: Vec<T>,
        second: Vec<T>,
        y_mid: Vec<T>,
    },
    /// Dormand–Prince continuous extension (Hairer's CONTD5): `r = [r2 | r3 | r4 | r5]`.
    Dopri { r: Vec<T> },
}

impl<T: Real> Dense<T> {
    /// `[a0 | a1 | a2]` of paper eq. (15), when the method has them.
    pub fn coefficients(&self) -> Option<&[T]> {
        match self {
            Dense::Rk4 { coeffs } | Dense::Rk4Halves { coeffs, .. } => Some(coeffs),
            _ => None,
        }
    }

    /// Writes the dense solution at `τ ∈ [0, 1]` of a step from `y_start` to `y_end` of size `h`.
    pub fn eval(&self, y_start: &[T], y_end: &[T], h: f64, tau: f64, out: &mut [T]) {
        let d = y_start.len();
        match self {
            Dense::Linear => {
                let tau = T::of(tau);
                for i in 0..d {
                    out[i] = y_start[i] + tau * (y_end[i] - y_start[i]);
                }
            }
            Dense::Rk4 { coeffs } => rk4::cubic_eval(coeffs, y_start, h, tau, out),
            Dense::Rk4Halves {
                first,
                second,
                y_mid,
                ..
            } => {
                if tau <= 0.5 {
                    rk4::cubic_eval(first, y_start, 0.5 * h, 2.0 * tau, out);
                } else {
                    rk4::cubic_eval(second, y_mid, 0.5 * h, 2.0 * tau - 1.0, out);
                }
            }
            Dense::Dopri { r } => {
                let (s, tau) = (T::of(1.0 - tau), T::of(tau));
                for i in 0..d {
                    let (r2, r3, r4, r5) = (r[i], r[d + i], r[2 * d + i], r[3 * d + i]);
                    out[i] = y_start[i] + tau * (r2 + s * (r3 + tau * (r4 + s * r5)));
                }
            }
        }
    }
}

/// One attempted step (`T`: the state's float type; time and step size are f64).
#[derive(Clone, Debug, PartialEq)]
pub struct StepRecord<T = f64> {
    /// Start of the step.
    pub t: f64,
    /// Step size attempted.
    pub h: f64,
    /// Error estimate in absolute units (max norm); `None` for fixed-step methods.
    pub err: Option<f64>,
    /// Error estimate over the tolerance scale; the step is accepted iff it is ≤ 1.
    pub err_ratio: Option<f64>,
    pub accepted: bool,
    /// The step was shortened to land exactly on t_end.
    pub clipped: bool,
    /// Cumulative f-evaluations after this attempt.
    pub nfev: u64,
    /// State after the step (the candidate, for a rejected attempt).
    pub y: Vec<T>,
    pub dense: Dense<T>,
}

/// Why a solve stopped early. Every variant names `t` and the cause.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SolveError {
    #[error(
        "step size underflow at t = {t:.9e}: h = {h:.3e} is below h_min = {h_min:.3e} \
         (the solution may blow up here, or the right-hand side is discontinuous or stiff)"
    )]
    StepUnderflow { t: f64, h: f64, h_min: f64 },
    #[error("max_steps ({max_steps}) attempted steps reached at t = {t:.9e} before t_end")]
    MaxSteps { t: f64, max_steps: usize },
    #[error("non-finite value at t = {t:.9e}: {detail}")]
    NonFinite { t: f64, detail: String },
    #[error(
        "memory budget reached at t = {t:.9e} after {steps} attempted steps: storing them takes \
         about {}, the budget is {} (set NODELAB_MEMORY_BUDGET to change it; a larger tol or \
         step, or a shorter span, needs fewer steps)",
        crate::mem::fmt_bytes(*bytes as f64),
        crate::mem::fmt_bytes(*budget as f64)
    )]
    MemoryBudget {
        t: f64,
        steps: usize,
        bytes: usize,
        budget: usize,
    },
}

impl SolveError {
    pub fn t(&self) -> f64 {
        match self {
            SolveError::StepUnderflow { t, .. }
            | SolveError::MaxSteps { t, .. }
            | SolveError::NonFinite { t, .. }
            | SolveError::MemoryBudget { t, .. } => *t,
        }
    }
}

/// Outcome of one `attempt()`.
#[derive(Clone, Debug, PartialEq)]
pub enum StepEvent<T = f64> {
    /// An attempted step, accepted or rejected.
    Step(StepRecord<T>),
    /// t_end was reached; further calls keep returning `Done`.
    Done,
    /// The solve cannot continue; further calls keep returning the same error.
    Failed(SolveError),
}

/// A solver advancing one attempted step at a time, over states of float type `T`.
pub trait Stepper<T = f64>: Send {
    fn method(&self) -> Method;
    /// Performs one attempted step.
    fn attempt(&mut self) -> StepEvent<T>;
    /// Current (last accepted) time and state.
    fn t(&self) -> f64;
    fn y(&self) -> &[T];
    /// f-evaluations so far.
    fn nfev(&self) -> u64;
    /// Warnings gathered so far (e.g. the paper estimator was identically zero).
    fn warnings(&self) -> Vec<String>;
    /// Goes on past the end it reached, to a later `t_end`, keeping the step size, the
    /// controller's memory and (FSAL) the last stage, as one solve stopping at an observation
    /// time would. `h_min`/`h_max` defaults follow the new segment's span, as a fresh stepper's
    /// would. Returns false (and changes nothing) when the stepper cannot: it has not reached
    /// its end, has failed, or does not support it (the default).
    fn extend_to(&mut self, t_end: f64) -> bool {
        let _ = t_end;
        false
    }
    /// The step size the stepper would attempt next (its controller's proposal after the
    /// last step), where it has one: what a solve continuing from here should start with.
    /// `None` (the default) for fixed-step methods and steppers that do not say.
    fn proposed_h(&self) -> Option<f64> {
        None
    }
}

/// Creates the stepper for `config.method` on `problem`.
pub fn stepper(problem: &Problem, config: &SolverConfig) -> Result<Box<dyn Stepper>, ConfigError> {
    config.validate()?;
    problem.validate().map_err(|e| ConfigError(e.to_string()))?;
    stepper_of(common::Setup::new(problem, config))
}

/// Creates the stepper for `setup.config.method` on a solve of float type `T` (the checks of
/// [`stepper`] on the problem are the caller's). Dopri5 and the fixed-step methods run in any
/// [`Scalar`]; the zero-cost RK4 methods and step doubling in f64 only
/// ([`Scalar::f64_only_stepper`]).
pub fn stepper_of<T: Scalar>(setup: common::Setup<T>) -> Result<Box<dyn Stepper<T>>, ConfigError> {
    let config = setup.config.clone();
    config.validate()?;
    // A fixed-step run's length is known up front: refuse one that cannot fit in memory
    // rather than let it grow until the budget stops it.
    if !config.method.is_adaptive() {
        let span = setup.t_end - setup.t0;
        let h = config.h0.unwrap_or(span / 1000.0);
        let steps = (span / h).ceil().min(config.max_steps as f64);
        let bytes = steps * setup.record_bytes as f64;
        if steps > setup.max_records as f64 {
            return Err(ConfigError(format!(
                "{} with h0 = {h:e} over [{}, {}] takes {steps:.3e} steps; storing them needs \
                 about {}, above the memory budget of {} (use a larger h0, or set \
                 NODELAB_MEMORY_BUDGET)",
                config.method,
                setup.t0,
                setup.t_end,
                crate::mem::fmt_bytes(bytes),
                crate::mem::fmt_bytes(crate::mem::budget() as f64)
            )));
        }
    }
    Ok(match config.method {
        Method::ZcRk4Paper | Method::ZcRk4 | Method::Rk4Doubling => {
            return T::f64_only_stepper(setup);
        }
        Method::Dopri5 => Box::new(dopri5::Dopri5::new(setup)),
        Method::Rk4 | Method::Midpoint | Method::Euler => {
            Box::new(fixed::FixedStep::new(setup, config.method))
        }
    })
}

/// A float type the solvers run in: [`Real`] plus the steppers that exist for it only in f64.
pub trait Scalar: Real {
    /// The zero-cost RK4 and step-doubling steppers (`setup.config.method`): written for f64;
    /// other types get a [`ConfigError`] naming the method.
    fn f64_only_stepper(setup: common::Setup<Self>) -> Result<Box<dyn Stepper<Self>>, ConfigError>;
}

impl Scalar for f64 {
    fn f64_only_stepper(setup: common::Setup<f64>) -> Result<Box<dyn Stepper>, ConfigError> {
        Ok(match setup.config.method {
            Method::ZcRk4Paper => Box::new(zc_rk4::ZcRk4::new(setup, zc_rk4::Estimator::Paper)),
            Method::Rk4Doubling => Box::new(doubling::Rk4Doubling::new(setup)),
            _ => Box::new(zc_rk4::ZcRk4::new(setup, zc_rk4::Estimator::Robust)),
        })
    }
}

impl Scalar for f32 {
    fn f64_only_stepper(setup: common::Setup<f32>) -> Result<Box<dyn Stepper<f32>>, ConfigError> {
        Err(ConfigError(format!(
            "solver {} runs in f64 only; in f32 use dopri5, rk4, midpoint or euler",
            setup.config.method
        )))
    }
}

/// Bytes one stored [`StepRecord`] of `method` takes for a state of dimension `d`: the struct,
/// the state and the dense-output coefficients.
pub fn record_bytes(method: Method, d: usize) -> usize {
    let dense = match method {
        Method::Euler | Method::Midpoint => 0,
        Method::ZcRk4Paper | Method::ZcRk4 | Method::Rk4 => 3,
        Method::Rk4Doubling => 10,
        Method::Dopri5 => 4,
    };
    std::mem::size_of::<StepRecord>() + std::mem::size_of::<f64>() * d * (1 + dense)
}

/// A finished (or failed) solve.
#[derive(Clone, Debug)]
pub struct Solution {
    pub method: Method,
    pub t0: f64,
    pub t_end: f64,
    pub y0: Vec<f64>,
    pub records: Vec<StepRecord>,
    pub nfev: u64,
    pub warnings: Vec<String>,
    pub error: Option<SolveError>,
}

/// Runs `config.method` on `problem` to the end (or to the first failure).
pub fn solve(problem: &Problem, config: &SolverConfig) -> Result<Solution, ConfigError> {
    let mut stepper = stepper(problem, config)?;
    Ok(run_to_end(stepper.as_mut(), problem))
}

/// Drives an existing stepper to the end.
pub fn run_to_end(stepper: &mut dyn Stepper, problem: &Problem) -> Solution {
    let mut records = Vec::new();
    let error = loop {
        match stepper.attempt() {
            StepEvent::Step(r) => records.push(r),
            StepEvent::Done => break None,
            StepEvent::Failed(e) => break Some(e),
        }
    };
    Solution {
        method: stepper.method(),
        t0: problem.t0,
        t_end: problem.t_end,
        y0: problem.y0.clone(),
        records,
        nfev: stepper.nfev(),
        warnings: stepper.warnings(),
        error,
    }
}

impl Solution {
    pub fn accepted(&self) -> usize {
        self.records.iter().filter(|r| r.accepted).count()
    }

    pub fn rejected(&self) -> usize {
        self.records.len() - self.accepted()
    }

    /// Time reached (t_end on success).
    pub fn t_final(&self) -> f64 {
        self.records
            .iter()
            .rev()
            .find(|r| r.accepted)
            .map_or(self.t0, |r| r.t + r.h)
    }

    /// State at [`Solution::t_final`].
    pub fn y_final(&self) -> &[f64] {
        self.records
            .iter()
            .rev()
            .find(|r| r.accepted)
            .map_or(&self.y0, |r| &r.y)
    }

    /// Smallest and largest accepted step, excluding a final step shortened to hit t_end.
    pub fn h_range(&self) -> Option<(f64, f64)> {
        self.records
            .iter()
            .filter(|r| r.accepted && !r.clipped)
            .map(|r| r.h)
            .fold(None, |acc, h| match acc {
                None => Some((h, h)),
                Some((lo, hi)) => Some((lo.min(h), hi.max(h))),
            })
    }

    /// The accepted steps with the state each starts from.
    pub fn accepted_steps(&self) -> impl Iterator<Item = (&[f64], &StepRecord)> {
        let mut start: &[f64] = &self.y0;
        self.records.iter().filter(|r| r.accepted).map(move |r| {
            let s = start;
            start = &r.y;
            (s, r)
        })
    }

    /// Largest max-norm error at the accepted step ends against `exact`.
    pub fn max_error(&self, problem: &Problem) -> Option<f64> {
        let exact = problem.exact.as_ref()?;
        let mut buf = vec![0.0; problem.dim()];
        let mut worst = 0.0f64;
        for r in self.records.iter().filter(|r| r.accepted) {
            exact(r.t + r.h, &mut buf);
            for (a, b) in r.y.iter().zip(&buf) {
                worst = worst.max((a - b).abs());
            }
        }
        Some(worst)
    }

    /// Dense output at `t` inside the integrated range.
    pub fn dense_at(&self, t: f64) -> Option<Vec<f64>> {
        let mut out = vec![0.0; self.y0.len()];
        for (start, r) in self.accepted_steps() {
            if t >= r.t && t <= r.t + r.h {
                let tau = if r.h > 0.0 { (t - r.t) / r.h } else { 0.0 };
                r.dense.eval(start, &r.y, r.h, tau, &mut out);
                return Some(out);
            }
        }
        None
    }
}

/// The right-hand side as the steppers see it, over states of float type `T` (time stays
/// f64). Every [`OdeSystem`] is one for f64 ([`OdeRhs`]); the gradient methods' fields
/// implement it for f64 and f32.
pub trait Rhs<T>: Send + Sync {
    fn dim(&self) -> usize;
    /// Writes `f(t, y)` into `dydt`.
    fn rhs(&self, t: f64, y: &[T], dydt: &mut [T]);
    /// [`Self::rhs`] where the trailing quadrature components (whose values no component's
    /// derivative reads, e.g. the θ-part of an adjoint state) need not be computed: they may
    /// be left zero. A stepper calls it for a stage whose quadrature part it never combines
    /// (dopri5's stage 2: b₂ = ê₂ = d₂ = 0). By default the full `rhs`.
    fn rhs_skipping_quadrature(&self, t: f64, y: &[T], dydt: &mut [T]) {
        self.rhs(t, y, dydt);
    }
    /// See [`OdeSystem::diagnose`].
    fn diagnose(&self, _t: f64, _y: &[T]) -> Option<String> {
        None
    }
}

/// An [`OdeSystem`] as an f64 [`Rhs`].
pub struct OdeRhs(pub Arc<dyn OdeSystem>);

impl Rhs<f64> for OdeRhs {
    fn dim(&self) -> usize {
        self.0.dim()
    }

    fn rhs(&self, t: f64, y: &[f64], dydt: &mut [f64]) {
        self.0.rhs(t, y, dydt);
    }

    fn diagnose(&self, t: f64, y: &[f64]) -> Option<String> {
        self.0.diagnose(t, y)
    }
}

/// Shared handle to a system, as the steppers hold it.
pub type SharedSystem<T = f64> = Arc<dyn Rhs<T>>;
