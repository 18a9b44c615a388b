//! Gradient methods for neural ODEs, measured side by side (CPU, f64 reference path).
//!
//! One [`GradProblem`] (an MLP vector field, a batch of initial states, a forward solver and a
//! loss) and one [`GradMethod`] give a [`GradOutput`]: the loss, the gradient with respect to the
//! MLP parameters θ (flat, in the weights-file order), the f-evaluations of the forward and the
//! backward pass, the steps taken and the bytes the method keeps.
//!
//! Methods (CLI names):
//! - `backprop` ([`backprop`]): reverse mode through the discrete forward solve actually taken;
//! - `checkpoint` ([`checkpoint`]): the same derivative from K stored states (ANODE-style);
//! - `adjoint` ([`adjoint`]): continuous adjoint, backsolve of `[y, a, dL/dθ]`;
//! - `interp-adjoint` ([`interp_adjoint`]): IRDM, `y(t)` from barycentric interpolation on a
//!   Chebyshev grid, backsolve of `[a, dL/dθ]`;
//! - `afge` ([`afge`]): forward sensitivities `S = dy/dθ` integrated with the state;
//! - `alf`, `reversible-heun`, `reversible-rk4`, `reversible-midpoint` ([`reversible`]):
//!   algebraically reversible fixed-step solvers, O(1)-memory exact backprop;
//! - `fd` ([`fd`]): central finite differences on every parameter.
//!
//! The state of a *group* of samples is the samples' states back to back (see [`batch`]); with
//! shared batch stepping the whole batch is one group (one ODE, one step size), with per-sample
//! stepping each sample is its own group. Every method runs per group and the results are summed.
//!
//! Precision ([`Precision`], [`compute_with_precision`]): f64 is the default and the reference.
//! Every method but `afge` (per-sample f64 Jacobians) and `fd` (finite differences in f32 lose
//! most digits) also runs in f32 through the same generic code ([`field::GradFloat`]): states,
//! stages, activations, tapes, adjoints and θ̄ in f32; time, step sizes, the solver's error norm
//! and the loss (evaluated at the observations from the f32 state) in f64; the result is
//! reported in f64. `afge` and `fd` refuse f32 with [`GradError::Invalid`], as do the f64-only
//! solvers (zc-rk4, zc-rk4-paper, rk4-doubling).
//!
//! Where to start reading: [`compute`] below, then [`batch`] (groups), [`forward`] (the forward
//! solves, the observation schedule), [`backprop`]. Helpers every method shares: [`field`] (the
//! stacked network as an ODE right-hand side), [`row_threads`] (the per-thread row split),
//! [`tableau`], [`loss`]; [`measure`] and [`mod@reference`] measure a method against the references.
//!
//! May import `nn`, `solver`, `problem` and `mem`; never `train`, `gpu`, `bench`, `cli` or `app`.

pub mod adjoint;
pub mod afge;
pub mod backprop;
pub mod batch;
pub mod chebyshev;
pub mod checkpoint;
pub mod fd;
pub mod field;
pub mod forward;
pub mod interp_adjoint;
pub mod loss;
pub mod measure;
pub mod progress;
pub mod reference;
pub mod reversible;
pub mod row_threads;
pub mod tableau;
pub mod tape;

use std::fmt;

use serde::Serialize;

pub use batch::BatchSteps;
pub use loss::{Loss, LossKind, Readout};

use crate::nn::Mlp;
use crate::solver::SolverConfig;

/// The float type a gradient is computed in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Double precision: the default and the reference.
    #[default]
    F64,
    F32,
}

impl Precision {
    pub const ALL: [Precision; 2] = [Precision::F64, Precision::F32];

    /// CLI name.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F64 => "f64",
            Precision::F32 => "f32",
        }
    }

    /// Parses a CLI name; the error names the known ones.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "f64" => Ok(Precision::F64),
            "f32" => Ok(Precision::F32),
            other => Err(format!("unknown precision '{other}' (known: f64, f32)")),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every gradient method nodelab compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum GradMethod {
    #[serde(rename = "backprop")]
    Backprop,
    #[serde(rename = "checkpoint")]
    Checkpoint,
    #[serde(rename = "adjoint")]
    Adjoint,
    #[serde(rename = "interp-adjoint")]
    InterpAdjoint,
    #[serde(rename = "afge")]
    Afge,
    #[serde(rename = "alf")]
    Alf,
    #[serde(rename = "reversible-heun")]
    ReversibleHeun,
    #[serde(rename = "reversible-rk4")]
    ReversibleRk4,
    #[serde(rename = "reversible-midpoint")]
    ReversibleMidpoint,
    #[serde(rename = "fd")]
    Fd,
}

impl GradMethod {
    pub const ALL: [GradMethod; 10] = [
        GradMethod::Backprop,
        GradMethod::Checkpoint,
        GradMethod::Adjoint,
        GradMethod::InterpAdjoint,
        GradMethod::Afge,
        GradMethod::Alf,
        GradMethod::ReversibleHeun,
        GradMethod::ReversibleRk4,
        GradMethod::ReversibleMidpoint,
        GradMethod::Fd,
    ];

    /// CLI name.
    pub fn name(self) -> &'static str {
        match self {
            GradMethod::Backprop => "backprop",
            GradMethod::Checkpoint => "checkpoint",
            GradMethod::Adjoint => "adjoint",
            GradMethod::InterpAdjoint => "interp-adjoint",
            GradMethod::Afge => "afge",
            GradMethod::Alf => "alf",
            GradMethod::ReversibleHeun => "reversible-heun",
            GradMethod::ReversibleRk4 => "reversible-rk4",
            GradMethod::ReversibleMidpoint => "reversible-midpoint",
            GradMethod::Fd => "fd",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether the method runs in f32 as well as f64 ([`compute_with_precision`]).
    pub fn supports_f32(self) -> bool {
        !matches!(self, GradMethod::Afge | GradMethod::Fd)
    }

    /// The reversible fixed-step solvers (they ignore the configured forward solver).
    pub fn is_reversible(self) -> bool {
        matches!(
            self,
            GradMethod::Alf
                | GradMethod::ReversibleHeun
                | GradMethod::ReversibleRk4
                | GradMethod::ReversibleMidpoint
        )
    }
}

impl fmt::Display for GradMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One model, one batch, one forward solver, one loss.
#[derive(Clone, Debug)]
pub struct GradProblem {
    pub mlp: Mlp,
    /// Batch of initial states.
    pub y0: Vec<Vec<f64>>,
    pub t0: f64,
    pub t1: f64,
    pub solver: SolverConfig,
    pub batch_steps: BatchSteps,
    pub loss: Loss,
}

impl GradProblem {
    /// The field the network defines: the NLL loss is defined on the augmented state `[z, ℓ]`
    /// of a continuous normalising flow, so it selects [`field::FieldKind::Density`]; every
    /// other loss the plain field.
    pub fn field_kind(&self) -> field::FieldKind {
        if self.loss.kind == LossKind::Nll {
            field::FieldKind::Density
        } else {
            field::FieldKind::Plain
        }
    }

    /// Values per sample of the integrated state (d, or d + 1 for a density field).
    pub fn state_dim(&self) -> usize {
        self.field_kind().state_dim(self.mlp.dim())
    }

    /// Checks shapes and spans; every method calls this first.
    pub fn validate(&self) -> Result<(), GradError> {
        let d = self.state_dim();
        if self.y0.is_empty() {
            return Err(GradError::Invalid(
                "the batch of initial states is empty".into(),
            ));
        }
        if let Some((b, s)) = self.y0.iter().enumerate().find(|(_, s)| s.len() != d) {
            return Err(GradError::Invalid(format!(
                "initial state {b} has {} components but the network's state has {d}",
                s.len()
            )));
        }
        if self.y0.iter().flatten().any(|v| !v.is_finite()) {
            return Err(GradError::Invalid("an initial state is not finite".into()));
        }
        if !(self.t0.is_finite() && self.t1.is_finite() && self.t1 > self.t0) {
            return Err(GradError::Invalid(format!(
                "the time span [{}, {}] must be finite with t1 > t0",
                self.t0, self.t1
            )));
        }
        self.solver
            .validate()
            .map_err(|e| GradError::Invalid(e.to_string()))?;
        self.loss.validate(self.y0.len(), d, self.t0, self.t1)
    }

    /// Ends of the forward segments: `[t0, τ_1, …, τ_K]` with τ_k the loss's observation times.
    pub fn segment_ends(&self) -> Vec<f64> {
        let mut ends = vec![self.t0];
        ends.extend(self.loss.times(self.t1));
        ends
    }
}

/// The forward-sensitivity (`afge`) step control.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum AfgeControl {
    /// Steps are chosen on y alone; S is propagated with the same steps (the derivative of the
    /// discrete forward map).
    #[default]
    #[serde(rename = "state")]
    State,
    /// The solver controls the error of the whole augmented state [y, S].
    #[serde(rename = "augmented")]
    Augmented,
}

impl AfgeControl {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "state" | "y" => Some(AfgeControl::State),
            "augmented" | "y+s" => Some(AfgeControl::Augmented),
            _ => None,
        }
    }
}

/// Options of the gradient methods.
#[derive(Clone, Debug, PartialEq)]
pub struct GradOptions {
    /// Checkpoints kept by `checkpoint` (default ⌈√N⌉ for N steps).
    pub checkpoints: Option<usize>,
    /// Chebyshev nodes of `interp-adjoint`.
    pub cheb_nodes: usize,
    /// Coupling λ ∈ (0, 1] of `reversible-rk4` / `reversible-midpoint`.
    pub lambda: f64,
    /// Solver of the backward pass of `adjoint` / `interp-adjoint` (default: the forward one).
    pub adjoint_solver: Option<SolverConfig>,
    /// Step control of `afge`.
    pub afge_control: AfgeControl,
    /// Solver of `afge` (default: the forward one).
    pub afge_solver: Option<SolverConfig>,
    /// Fixed steps over the whole span for the reversible methods (default: the configured step
    /// for fixed-step solvers, else the accepted-step count of the adaptive forward solve).
    pub reversible_steps: Option<usize>,
    /// Relative step of `fd`: ε_i = fd_step · max(1, |θ_i|).
    pub fd_step: f64,
    /// Worker threads (1: single-threaded): per-sample groups run in parallel; one shared group
    /// splits its rows over them (blocks of at least 64 samples, see [`row_threads::row_threads`]).
    pub threads: usize,
    /// Float type of the computation ([`compute`]; f64 by default, the reference).
    pub precision: Precision,
}

impl Default for GradOptions {
    fn default() -> Self {
        Self {
            checkpoints: None,
            cheb_nodes: 16,
            lambda: 0.99,
            adjoint_solver: None,
            afge_control: AfgeControl::State,
            afge_solver: None,
            reversible_steps: None,
            fd_step: 1e-6,
            threads: 1,
            precision: Precision::F64,
        }
    }
}

/// What one gradient computation produced.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GradOutput {
    pub loss: f64,
    /// dL/dθ, flat, in the weights-file parameter order, summed over the batch.
    pub grad: Vec<f64>,
    /// dL/d(read-out parameters) for the cross-entropy loss (weight row-major, then bias).
    pub readout_grad: Option<Vec<f64>>,
    /// Vector-field evaluations of the forward pass (one evaluation of the stacked group state
    /// counts once; per-sample groups add up).
    pub nfe_forward: u64,
    /// Evaluations of the backward pass (a VJP, a Jacobian or an augmented right-hand side
    /// each count once; recomputed forward stages count too).
    pub nfe_backward: u64,
    pub steps_accepted: usize,
    pub steps_rejected: usize,
    /// Bytes the method keeps for its backward pass (tape, checkpoints, Chebyshev nodes,
    /// sensitivities, augmented states), counted exactly from the buffers' lengths.
    pub stored_bytes: usize,
    /// Largest |y_back(t0) − y0| of a method that reconstructs the forward states backwards
    /// (adjoint, reversible methods).
    pub reconstruction_error: Option<f64>,
    pub warnings: Vec<String>,
}

/// Why a gradient could not be computed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum GradError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Solve(String),
}

/// The checks [`compute`] makes before any work: the problem, and `opts` for `method`
/// (including the memory a Chebyshev grid would take). Cheap; call it for every method before
/// measuring any.
pub fn check_options(
    p: &GradProblem,
    method: GradMethod,
    opts: &GradOptions,
) -> Result<(), GradError> {
    p.validate()?;
    if !(opts.lambda > 0.0 && opts.lambda <= 1.0) {
        return Err(GradError::Invalid(format!(
            "lambda must be in (0, 1] (got {})",
            opts.lambda
        )));
    }
    if opts.cheb_nodes < 2 {
        return Err(GradError::Invalid("cheb-nodes must be at least 2".into()));
    }
    if opts.checkpoints == Some(0) {
        return Err(GradError::Invalid("checkpoints must be at least 1".into()));
    }
    if opts.precision == Precision::F32 {
        check_f32(&p.solver, method, opts)?;
    }
    if method == GradMethod::InterpAdjoint {
        // The grid holds the whole batch's state at every node: refuse one that cannot fit.
        let state = (p.y0.len() * p.state_dim()) as f64;
        let bytes = opts.cheb_nodes as f64 * (state + 2.0) * 8.0;
        let budget = crate::mem::budget();
        if bytes > budget as f64 {
            return Err(GradError::Invalid(format!(
                "cheb-nodes {} stores about {} for this batch, above the memory budget of {} \
                 (use fewer nodes, or set {})",
                opts.cheb_nodes,
                crate::mem::fmt_bytes(bytes),
                crate::mem::fmt_bytes(budget as f64),
                crate::mem::BUDGET_VAR
            )));
        }
    }
    Ok(())
}

/// Computes the loss and its gradient with `method` in `opts.precision` (f64 by default, the
/// reference).
pub fn compute(
    p: &GradProblem,
    method: GradMethod,
    opts: &GradOptions,
) -> Result<GradOutput, GradError> {
    compute_with_precision(p, method, opts, opts.precision)
}

/// Computes the loss and its gradient with `method` in `precision` (which overrides
/// `opts.precision`). f32 runs the generic methods ([`GradMethod::supports_f32`]) in f32 and
/// refuses the others ([`check_f32`]); the forward solver must then be dopri5 or a fixed-step
/// one (the zero-cost RK4 solvers are f64 only).
pub fn compute_with_precision(
    p: &GradProblem,
    method: GradMethod,
    opts: &GradOptions,
    precision: Precision,
) -> Result<GradOutput, GradError> {
    let opts = &GradOptions {
        precision,
        ..opts.clone()
    };
    check_options(p, method, opts)?;
    match precision {
        Precision::F64 => compute_f64(p, method, opts),
        Precision::F32 => {
            let mut out = compute_as::<f32>(p, method, opts)?;
            out.warnings.extend(f32_tolerance_warning(&p.solver));
            Ok(out)
        }
    }
}

/// A warning when an adaptive solver's tolerance is below what f32 resolves (under 1e-6, about
/// 8 ε₃₂): its error estimate is then mostly rounding, so steps shrink or the solve fails.
pub fn f32_tolerance_warning(solver: &SolverConfig) -> Option<String> {
    let tol = solver.tol.max(solver.rtol);
    (solver.method.is_adaptive() && tol < 1e-6).then(|| {
        format!(
            "precision f32 with solver tolerance {tol:e}: near f32's resolution (ε ≈ 1.2e-7) the \
             error estimate is mostly rounding; steps may shrink or the solve fail (loosen tol \
             and rtol to 1e-6 or more)"
        )
    })
}

/// Why `method` cannot run in f32 with the forward solver `solver`, if it cannot.
pub fn check_f32(
    solver: &SolverConfig,
    method: GradMethod,
    opts: &GradOptions,
) -> Result<(), GradError> {
    if method == GradMethod::Fd {
        return Err(GradError::Invalid(
            "fd: f64 only — finite differences in f32 lose most digits".into(),
        ));
    }
    if !method.supports_f32() {
        return Err(GradError::Invalid(format!(
            "{method}: f64 only (its per-sample Jacobians are f64; precision f32 runs every \
             method but afge and fd)"
        )));
    }
    let backsolve = matches!(method, GradMethod::Adjoint | GradMethod::InterpAdjoint);
    let solvers = std::iter::once(solver).chain(if backsolve {
        opts.adjoint_solver.as_ref()
    } else {
        None
    });
    for s in solvers {
        if !matches!(
            s.method,
            crate::solver::Method::Dopri5
                | crate::solver::Method::Rk4
                | crate::solver::Method::Midpoint
                | crate::solver::Method::Euler
        ) {
            return Err(GradError::Invalid(format!(
                "{method} in f32: solver {} runs in f64 only; use dopri5, rk4, midpoint or euler",
                s.method
            )));
        }
    }
    Ok(())
}

/// The float-generic methods in `T`.
fn compute_as<T: field::GradFloat>(
    p: &GradProblem,
    method: GradMethod,
    opts: &GradOptions,
) -> Result<GradOutput, GradError> {
    batch::run_groups_as::<T>(p, opts, |g| match method {
        GradMethod::Backprop => backprop::gradient(g),
        GradMethod::Checkpoint => checkpoint::gradient(g, opts.checkpoints),
        GradMethod::Adjoint => adjoint::gradient(g, opts),
        GradMethod::InterpAdjoint => interp_adjoint::gradient(g, opts),
        GradMethod::Alf => reversible::gradient(g, reversible::Scheme::Alf, opts),
        GradMethod::ReversibleHeun => reversible::gradient(g, reversible::Scheme::Heun, opts),
        GradMethod::ReversibleRk4 => {
            reversible::gradient(g, reversible::Scheme::Lambda(tableau::Tableau::rk4()), opts)
        }
        GradMethod::ReversibleMidpoint => reversible::gradient(
            g,
            reversible::Scheme::Lambda(tableau::Tableau::midpoint()),
            opts,
        ),
        other => Err(GradError::Invalid(format!(
            "{other}: f64 only (precision {} was asked)",
            T::NAME
        ))),
    })
}

/// Every method in f64.
fn compute_f64(
    p: &GradProblem,
    method: GradMethod,
    opts: &GradOptions,
) -> Result<GradOutput, GradError> {
    batch::run_groups(p, opts, |g| match method {
        GradMethod::Backprop => backprop::gradient(g),
        GradMethod::Checkpoint => checkpoint::gradient(g, opts.checkpoints),
        GradMethod::Adjoint => adjoint::gradient(g, opts),
        GradMethod::InterpAdjoint => interp_adjoint::gradient(g, opts),
        GradMethod::Afge => afge::gradient(g, opts),
        GradMethod::Alf => reversible::gradient(g, reversible::Scheme::Alf, opts),
        GradMethod::ReversibleHeun => reversible::gradient(g, reversible::Scheme::Heun, opts),
        GradMethod::ReversibleRk4 => {
            reversible::gradient(g, reversible::Scheme::Lambda(tableau::Tableau::rk4()), opts)
        }
        GradMethod::ReversibleMidpoint => reversible::gradient(
            g,
            reversible::Scheme::Lambda(tableau::Tableau::midpoint()),
            opts,
        ),
        GradMethod::Fd => fd::gradient(g, opts),
    })
}

/// Relative l2 distance `|a − b| / |b|` (absolute when `b = 0`).
pub fn rel_l2(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    if den > 0.0 {
        (num / den).sqrt()
    } else {
        num.sqrt()
    }
}
