//! The two references every method is measured against.
//!
//! - **Continuous**: the gradient of the exact ODE, approximated by forward sensitivities
//!   integrated with dopri5 at atol = rtol = 1e-12 with step control on [y, S], cross-checked by
//!   central finite differences of the same tight solve on (a subset of) the parameters.
//! - **Discrete**: the exact derivative of a method's own forward map: `backprop` on the steps
//!   that method's forward solve took (for `afge` with augmented control, the steps of the
//!   augmented solve; for the reversible methods, their own map with stored states).

use serde::Serialize;

use super::batch::run_groups;
use super::forward::SolveStats;
use super::{
    AfgeControl, GradError, GradMethod, GradOptions, GradProblem, afge, backprop, fd, rel_l2,
    reversible,
};
use crate::solver::{Method, SolverConfig};

/// The continuous reference gradient.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reference {
    pub loss: f64,
    pub grad: Vec<f64>,
    pub method: String,
    /// Parameters cross-checked by finite differences, and the largest relative difference
    /// `|fd − ref| / max(|ref|_∞, 1e-12)` over them (normalised by the whole gradient's size).
    pub fd_checked: usize,
    pub fd_rel_diff: f64,
}

/// The reference's default tolerance (atol = rtol).
pub const DEFAULT_TOL: f64 = 1e-12;

/// The tight solver of the reference.
pub fn tight_solver() -> SolverConfig {
    solver_at(DEFAULT_TOL)
}

/// The reference's solver at tolerance `tol` (atol = rtol).
pub fn solver_at(tol: f64) -> SolverConfig {
    SolverConfig {
        method: Method::Dopri5,
        tol,
        rtol: tol,
        max_steps: 2_000_000,
        ..SolverConfig::default()
    }
}

/// Continuous reference, with a finite-difference check on at most `fd_params` parameters
/// spread over θ (all of them when `fd_params ≥ P`).
pub fn continuous(p: &GradProblem, fd_params: usize) -> Result<Reference, GradError> {
    continuous_at(p, fd_params, DEFAULT_TOL)
}

/// [`continuous`] at tolerance `tol` instead of [`DEFAULT_TOL`] (a looser one is much faster on
/// large models, and the table says which was used).
pub fn continuous_at(p: &GradProblem, fd_params: usize, tol: f64) -> Result<Reference, GradError> {
    let mut q = p.clone();
    q.solver = solver_at(tol);
    let opts = GradOptions {
        afge_control: AfgeControl::Augmented,
        ..GradOptions::default()
    };
    let out = super::compute(&q, GradMethod::Afge, &opts)?;
    let n_p = p.mlp.n_params();
    let count = fd_params.min(n_p);
    let scale = out
        .grad
        .iter()
        .fold(0.0f64, |a, v| a.max(v.abs()))
        .max(1e-12);
    let mut worst = 0.0f64;
    for j in 0..count {
        let i = j * n_p / count;
        let theta = q.mlp.params[i];
        let eps = 1e-4 * theta.abs().max(1.0);
        let mut plus = q.clone();
        plus.mlp.params[i] = theta + eps;
        let mut minus = q.clone();
        minus.mlp.params[i] = theta - eps;
        let d = (loss_only(&plus)? - loss_only(&minus)?) / (2.0 * eps);
        worst = worst.max((d - out.grad[i]).abs() / scale);
    }
    Ok(Reference {
        loss: out.loss,
        grad: out.grad,
        method: format!("forward sensitivities, dopri5, atol = rtol = {tol:e}, control on [y, S]"),
        fd_checked: count,
        fd_rel_diff: worst,
    })
}

/// The loss of `p` from forward solves only.
pub fn loss_only(p: &GradProblem) -> Result<f64, GradError> {
    let opts = GradOptions::default();
    run_groups(p, &opts, |g| {
        let mut out = g.empty_output();
        let mut stats = SolveStats::default();
        out.loss = fd::loss_with(g, &g.mlp, None, &mut stats)?;
        Ok(out)
    })
    .map(|o| o.loss)
}

/// The exact derivative of `method`'s own discrete forward map (see the module doc).
pub fn discrete(
    p: &GradProblem,
    method: GradMethod,
    opts: &GradOptions,
) -> Result<Vec<f64>, GradError> {
    // The reference is f64 whatever precision the method ran in.
    let opts = &GradOptions {
        precision: super::Precision::F64,
        ..opts.clone()
    };
    let out = match method {
        GradMethod::Alf => run_groups(p, opts, |g| {
            reversible::gradient_stored(g, reversible::Scheme::Alf, opts)
        })?,
        GradMethod::ReversibleHeun => run_groups(p, opts, |g| {
            reversible::gradient_stored(g, reversible::Scheme::Heun, opts)
        })?,
        GradMethod::ReversibleRk4 => run_groups(p, opts, |g| {
            reversible::gradient_stored(
                g,
                reversible::Scheme::Lambda(super::tableau::Tableau::rk4()),
                opts,
            )
        })?,
        GradMethod::ReversibleMidpoint => run_groups(p, opts, |g| {
            reversible::gradient_stored(
                g,
                reversible::Scheme::Lambda(super::tableau::Tableau::midpoint()),
                opts,
            )
        })?,
        GradMethod::Afge if opts.afge_control == AfgeControl::Augmented => {
            run_groups(p, opts, |g| {
                let (schedule, stats) = afge::augmented_schedule(g, opts)?;
                Ok(backprop::on_schedule(g, &schedule, &stats))
            })?
        }
        GradMethod::Afge if opts.afge_solver.is_some() => {
            let mut q = p.clone();
            q.solver = opts.afge_solver.clone().unwrap_or_else(|| p.solver.clone());
            super::compute(&q, GradMethod::Backprop, opts)?
        }
        _ => super::compute(p, GradMethod::Backprop, opts)?,
    };
    Ok(out.grad)
}

/// `err_vs_continuous` and `err_vs_discrete` of a gradient.
pub fn errors(grad: &[f64], continuous: &[f64], discrete: &[f64]) -> (f64, f64) {
    (rel_l2(grad, continuous), rel_l2(grad, discrete))
}
