//! Continuous normalising flows (CNF) on top of a trained MLP field: log-densities, samples and
//! the flow's paths, from forward solves of the augmented field ([`crate::nn::trace`]).
//!
//! The flow maps data x at t = 0 to z(t1) with `dz/dt = f_θ(t, z)`; the base density is
//! N(0, I). With `dℓ/dt = tr ∂f/∂z (t, z)`, `ℓ(0) = 0`:
//! `log p(x) = log N(z(t1); 0, I) + ℓ(t1)` (FFJORD, Grathwohl et al. 2019, eq. 4;
//! irdm-interpolated-adjoint.md §4). Training minimises the mean of −log p ([`crate::grad::Loss::nll`]);
//! every gradient method of [`crate::grad`] applies to the augmented system unchanged.
//! Sampling solves `dz/dt = f` backwards from `z(t1) ~ N(0, I)` to t = 0.

use std::sync::Arc;

use crate::grad::GradError;
use crate::grad::field::{FieldKind, StackedMlp};
use crate::grad::forward::run_segment;
use crate::nn::Mlp;
use crate::solver::{Rhs, SolverConfig};

/// `log N(z; 0, I) = −½|z|² − (d/2) ln 2π`.
pub fn log_normal(z: &[f64]) -> f64 {
    let sq: f64 = z.iter().map(|v| v * v).sum();
    -0.5 * sq - 0.5 * z.len() as f64 * (2.0 * std::f64::consts::PI).ln()
}

/// Checks that `mlp` is a flow on its own state space: no input map beyond the identity is
/// needed, but the network's input (less the time column) must have as many values as its output.
pub fn check_flow(mlp: &Mlp) -> Result<(), GradError> {
    let d = mlp.dim();
    let inputs = mlp
        .sizes
        .first()
        .copied()
        .unwrap_or(0)
        .saturating_sub(usize::from(mlp.time_input));
    if d == 0 || inputs != d {
        return Err(GradError::Invalid(format!(
            "the network maps {inputs} inputs to {d} outputs; a flow needs as many as it has outputs"
        )));
    }
    Ok(())
}

/// `log p(x)` of each point (rows of d values) under the flow of `mlp` over `[0, t1]`, one
/// solve of the stacked augmented state with `solver`. Returns the log-densities and the
/// f-evaluations of the solve.
pub fn log_density(
    mlp: &Mlp,
    points: &[Vec<f64>],
    t1: f64,
    solver: &SolverConfig,
) -> Result<(Vec<f64>, u64), GradError> {
    check_flow(mlp)?;
    let d = mlp.dim();
    if points.is_empty() {
        return Ok((Vec::new(), 0));
    }
    if let Some(p) = points.iter().find(|p| p.len() != d) {
        return Err(GradError::Invalid(format!(
            "a point has {} values; the flow's state has {d}",
            p.len()
        )));
    }
    let field =
        StackedMlp::<f64>::new(Arc::new(mlp.clone()), points.len()).with_kind(FieldKind::Density);
    let mut y: Vec<f64> = points
        .iter()
        .flat_map(|p| p.iter().copied().chain(std::iter::once(0.0)))
        .collect();
    let stats = run_segment(Arc::new(field), 0.0, t1, &mut y, solver, |_, _| {})?;
    let logp = y
        .chunks_exact(d + 1)
        .map(|s| log_normal(&s[..d]) + s[d])
        .collect();
    Ok((logp, stats.nfev))
}

/// The plain field run backwards: `g(s, z) = −f(t1 − s, z)`, so that integrating s over
/// `[0, t1 − t]` takes z from t1 back to t.
struct Reversed {
    field: StackedMlp<f64>,
    t1: f64,
}

impl Rhs<f64> for Reversed {
    fn dim(&self) -> usize {
        Rhs::dim(&self.field)
    }

    fn rhs(&self, s: f64, y: &[f64], dydt: &mut [f64]) {
        self.field.rhs(self.t1 - s, y, dydt);
        for v in dydt.iter_mut() {
            *v = -*v;
        }
    }
}

/// The states of the flow at each of `times` (ascending in `[0, t1]`), starting from `start`
/// (rows of d values) at time `from` (0: data space, forwards; t1: base space, backwards).
/// Returns one stacked state per time, each `n·d` values.
pub fn paths(
    mlp: &Mlp,
    start: &[Vec<f64>],
    from: f64,
    times: &[f64],
    t1: f64,
    solver: &SolverConfig,
) -> Result<Vec<Vec<f64>>, GradError> {
    check_flow(mlp)?;
    let d = mlp.dim();
    if let Some(p) = start.iter().find(|p| p.len() != d) {
        return Err(GradError::Invalid(format!(
            "a point has {} values; the flow's state has {d}",
            p.len()
        )));
    }
    let field = StackedMlp::<f64>::new(Arc::new(mlp.clone()), start.len());
    let mut y: Vec<f64> = start.iter().flatten().copied().collect();
    let mut out = vec![Vec::new(); times.len()];
    if start.is_empty() {
        return Ok(out);
    }
    let backwards = from > 0.0;
    let order: Vec<usize> = if backwards {
        (0..times.len()).rev().collect()
    } else {
        (0..times.len()).collect()
    };
    let system: Arc<dyn Rhs<f64>> = if backwards {
        Arc::new(Reversed { field, t1 })
    } else {
        Arc::new(field)
    };
    // In the solver's own clock: s = t forwards, s = t1 − t backwards.
    let clock = |t: f64| if backwards { t1 - t } else { t };
    let mut s = clock(from);
    for i in order {
        let target = clock(times[i]);
        if target > s {
            run_segment(system.clone(), s, target, &mut y, solver, |_, _| {})?;
            s = target;
        }
        out[i] = y.clone();
    }
    Ok(out)
}

/// Samples of the flow: `z ~ N(0, I)` given as `base` (rows of d values), each solved backwards
/// from t1 to t = 0.
pub fn sample(
    mlp: &Mlp,
    base: &[Vec<f64>],
    t1: f64,
    solver: &SolverConfig,
) -> Result<Vec<Vec<f64>>, GradError> {
    let d = mlp.dim();
    let states = paths(mlp, base, t1, &[0.0], t1, solver)?;
    Ok(states
        .into_iter()
        .next()
        .unwrap_or_default()
        .chunks_exact(d.max(1))
        .map(<[f64]>::to_vec)
        .collect())
}
