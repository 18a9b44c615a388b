//! ODE problems: the right-hand side `f(t, y)`, its initial value, time span and, where one
//! exists, the exact solution.
//!
//! Three sources of problems share one type, [`Problem`]:
//! - built-in analytic presets ([`builtin`]), each documented with its formula and source;
//! - a custom system typed as formulas ([`formula`]), one expression per component;
//! - a neural vector field `f(t, y) = MLP(y)` loaded from a weights file ([`neural`]).

pub mod builtin;
pub mod formula;
pub mod neural;

use std::fmt;
use std::sync::Arc;

/// The right-hand side of `y' = f(t, y)`.
///
/// `rhs` must not allocate in the hot path; solvers call it millions of times. It may produce
/// non-finite values: solvers check every evaluation and stop with a clear error.
pub trait OdeSystem: Send + Sync {
    /// Number of state components.
    fn dim(&self) -> usize;
    /// Writes `f(t, y)` into `dydt` (`dydt.len() == y.len() == dim()`).
    fn rhs(&self, t: f64, y: &[f64], dydt: &mut [f64]);
    /// Explains a non-finite evaluation at `(t, y)` in the user's terms (e.g. which formula
    /// produced NaN). `None` when the system has nothing more specific to say.
    fn diagnose(&self, _t: f64, _y: &[f64]) -> Option<String> {
        None
    }
}

/// Exact solution `y(t)` of a problem for its actual initial value; writes into `out`.
pub type ExactFn = Arc<dyn Fn(f64, &mut [f64]) + Send + Sync>;

/// A named, tunable parameter of a problem.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: String,
    pub value: f64,
    /// Short meaning shown next to the field in the GUI and in `presets`.
    pub meaning: String,
}

/// A fully specified initial-value problem, ready to be integrated.
#[derive(Clone)]
pub struct Problem {
    /// Built-in name (`van-der-pol`), `custom`, or `neural`.
    pub name: String,
    pub description: String,
    /// Human-readable right-hand side, one line per component (`x' = v`).
    pub formula: Vec<String>,
    /// Component names (`x`, `v`, …), used for CSV headers and plot legends.
    pub components: Vec<String>,
    pub params: Vec<Param>,
    pub t0: f64,
    pub t_end: f64,
    pub y0: Vec<f64>,
    pub system: Arc<dyn OdeSystem>,
    /// The exact solution through `(t0, y0)`, when one is known in closed form.
    pub exact: Option<ExactFn>,
}

impl fmt::Debug for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Problem")
            .field("name", &self.name)
            .field("t0", &self.t0)
            .field("t_end", &self.t_end)
            .field("y0", &self.y0)
            .field("params", &self.params)
            .field("exact", &self.exact.is_some())
            .finish()
    }
}

impl Problem {
    pub fn dim(&self) -> usize {
        self.y0.len()
    }

    /// Evaluates the exact solution at `t`, if one is known.
    pub fn exact_at(&self, t: f64) -> Option<Vec<f64>> {
        self.exact.as_ref().map(|exact| {
            let mut out = vec![0.0; self.dim()];
            exact(t, &mut out);
            out
        })
    }

    /// Checks the invariants every solver relies on.
    pub fn validate(&self) -> Result<(), ProblemError> {
        if self.y0.len() != self.system.dim() {
            return Err(ProblemError::Invalid(format!(
                "y0 has {} components but the system has {}",
                self.y0.len(),
                self.system.dim()
            )));
        }
        if !(self.t0.is_finite() && self.t_end.is_finite()) {
            return Err(ProblemError::Invalid("the time span must be finite".into()));
        }
        if self.t_end <= self.t0 {
            return Err(ProblemError::Invalid(format!(
                "t_end ({}) must be greater than t0 ({})",
                self.t_end, self.t0
            )));
        }
        if let Some(i) = self.y0.iter().position(|v| !v.is_finite()) {
            return Err(ProblemError::Invalid(format!("y0[{i}] is not finite")));
        }
        Ok(())
    }
}

/// Why a problem could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProblemError {
    #[error("unknown problem '{0}' (run `nodelab presets` for the list)")]
    UnknownProblem(String),
    #[error("problem '{problem}' has no parameter '{param}' (it has: {known})")]
    UnknownParam {
        problem: String,
        param: String,
        known: String,
    },
    #[error("{0}")]
    Formula(#[from] formula::FormulaError),
    #[error("{0}")]
    Weights(String),
    #[error("{0}")]
    Invalid(String),
}
