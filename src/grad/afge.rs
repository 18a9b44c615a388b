//! `afge`: feedforward gradient estimation (afge-zero-cost-rk4.md §4): the forward sensitivity
//! `S = dy/dθ` is integrated alongside the state, `S' = ∂f/∂y S + ∂f/∂θ`, `S(t0) = 0`, and
//! `dL/dθ = Σ_k ∂L/∂y(τ_k) · S(τ_k)` (§4.2) — no backward pass.
//!
//! The paper does not say whether the step control of the augmented system looks at y only or
//! at [y, S] (PAPER-NOTES); both are offered ([`AfgeControl`]):
//! - `state`: the solver chooses its steps on y; S is propagated through the same steps with the
//!   same explicit tableau. Runge–Kutta methods commute with linearisation, so this S is the
//!   exact derivative of the discrete forward map and the gradient equals `backprop`'s to
//!   rounding, for every solver.
//! - `augmented`: the solver integrates and controls the whole state [y, S].
//!
//! With a fixed-step solver both modes take the same steps and equal `backprop` to rounding.
//!
//! Memory: `[y, S]`, O(D·(1 + P)); `state` control also keeps the accepted step list of the state
//! solve, 16 bytes per step (counted in `stored_bytes`), which it replays on `[y, S]`.

use std::sync::Arc;

use super::batch::Group;
use super::field::{FieldWork, SensitivityField};
use super::forward::{self, Schedule, SolveStats};
use super::tableau::{self, RkWork, Tableau};
use super::{AfgeControl, GradError, GradOptions, GradOutput};

fn sensitivity_field(g: &Group<'_>) -> SensitivityField {
    SensitivityField {
        mlp: g.mlp.clone(),
        n: g.samples.len(),
        kind: g.problem.field_kind(),
    }
}

/// Adds `∂L/∂Y · S` to `grad` (S rows of length P after the m state entries of `u`).
fn accumulate(gl: &[f64], u: &[f64], p: usize, grad: &mut [f64]) {
    let m = gl.len();
    for (r, &w) in gl.iter().enumerate() {
        if w != 0.0 {
            let row = &u[m + r * p..m + (r + 1) * p];
            for (o, s) in grad.iter_mut().zip(row) {
                *o += w * s;
            }
        }
    }
}

/// `afge` on one group.
pub fn gradient(g: &Group<'_>, opts: &GradOptions) -> Result<GradOutput, GradError> {
    let config = opts.afge_solver.as_ref().unwrap_or(&g.problem.solver);
    let (m, p) = (g.dim(), g.n_params());
    let field = sensitivity_field(g);
    let mut out = g.empty_output();
    let mut u = vec![0.0; m * (1 + p)];
    u[..m].copy_from_slice(&g.y0);
    let mut gl = vec![0.0; m];
    let mut extra_bytes = 0;
    let stats = match opts.afge_control {
        AfgeControl::State => {
            let (schedule, stats) = forward::schedule(Arc::new(g.field()), &g.ends, &g.y0, config)?;
            let tab = &schedule.tableau;
            let s = tab.stages();
            let dim = u.len();
            let mut rk = RkWork::new(s, dim);
            let mut stages = vec![0.0; s * dim];
            let mut u_new = vec![0.0; dim];
            let mut work = FieldWork::new(&g.mlp);
            let mut nfe = 0;
            for (i, &(t, h)) in schedule.steps.iter().enumerate() {
                nfe += tableau::step(
                    tab,
                    &field,
                    t,
                    h,
                    &u,
                    &mut u_new,
                    &mut stages,
                    &mut rk.k,
                    &mut work,
                );
                std::mem::swap(&mut u, &mut u_new);
                for (k, &e) in schedule.obs_end.iter().enumerate() {
                    if e == i + 1 {
                        out.loss += g.loss_at(k, &u[..m], &mut gl, out.readout_grad.as_deref_mut());
                        accumulate(&gl, &u, p, &mut out.grad);
                    }
                }
            }
            extra_bytes = schedule.stored_bytes();
            let mut stats = stats;
            stats.nfev += nfe;
            stats
        }
        AfgeControl::Augmented => {
            let system: Arc<SensitivityField> = Arc::new(field);
            let mut stats = SolveStats::default();
            let mut segments = forward::Segments::keeping_nothing().without_dense_output();
            for (k, seg) in g.ends.windows(2).enumerate() {
                let s = segments.run(system.clone(), seg[0], seg[1], &mut u, config, |_, _| {})?;
                stats.add(&s);
                out.loss += g.loss_at(k, &u[..m], &mut gl, out.readout_grad.as_deref_mut());
                accumulate(&gl, &u, p, &mut out.grad);
            }
            stats
        }
    };
    out.nfe_forward = stats.nfev;
    out.nfe_backward = 0;
    out.steps_accepted = stats.accepted;
    out.steps_rejected = stats.rejected;
    out.stored_bytes = (u.len() + gl.len()) * 8 + extra_bytes;
    out.warnings = stats.warnings;
    Ok(out)
}

/// The y-steps of the augmented-control solve (for its discrete reference: `backprop` on them).
pub fn augmented_schedule(
    g: &Group<'_>,
    opts: &GradOptions,
) -> Result<(Schedule, SolveStats), GradError> {
    let config = opts.afge_solver.as_ref().unwrap_or(&g.problem.solver);
    let (m, p) = (g.dim(), g.n_params());
    let system = Arc::new(sensitivity_field(g));
    let (tableau, split) = Tableau::for_method(config.method);
    let mut u = vec![0.0; m * (1 + p)];
    u[..m].copy_from_slice(&g.y0);
    let mut steps = Vec::new();
    let mut obs_end = Vec::new();
    let mut stats = SolveStats::default();
    let mut segments = forward::Segments::keeping_nothing().without_dense_output();
    for seg in g.ends.windows(2) {
        let s = segments.run(system.clone(), seg[0], seg[1], &mut u, config, |_, r| {
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
