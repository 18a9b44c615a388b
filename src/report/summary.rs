//! The summary `nodelab solve --json` prints (and the app's statistics panel shows).

use serde::Serialize;

use crate::problem::Problem;
use crate::solver::{Solution, SolverConfig};

/// One solve, summarized. Field names are the CLI's JSON contract.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SolveSummary {
    pub problem: String,
    pub method: String,
    pub tol: f64,
    pub accepted: usize,
    pub rejected: usize,
    pub nfev: u64,
    /// Smallest accepted step, excluding a final step shortened to hit t_end.
    pub h_min: Option<f64>,
    pub h_max: Option<f64>,
    pub t_final: f64,
    pub y_final: Vec<f64>,
    /// Max-norm error at accepted step ends vs the exact solution; `null` when none is known.
    pub max_error: Option<f64>,
    pub warnings: Vec<String>,
    pub error: Option<String>,
}

impl SolveSummary {
    pub fn new(problem: &Problem, config: &SolverConfig, solution: &Solution) -> Self {
        let range = solution.h_range();
        Self {
            problem: problem.name.clone(),
            method: solution.method.name().to_string(),
            tol: config.tol,
            accepted: solution.accepted(),
            rejected: solution.rejected(),
            nfev: solution.nfev,
            h_min: range.map(|r| r.0),
            h_max: range.map(|r| r.1),
            t_final: solution.t_final(),
            y_final: solution.y_final().to_vec(),
            max_error: solution.max_error(problem),
            warnings: solution.warnings.clone(),
            error: solution.error.as_ref().map(|e| e.to_string()),
        }
    }
}
