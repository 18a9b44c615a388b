//! `backprop`: the exact reverse-mode derivative of the discrete forward solve actually taken.
//!
//! The forward solve (any solver of [`crate::solver`]) chooses the steps; its accepted steps are
//! replayed through the explicit tableau the solver propagates with ([`Tableau::for_method`]),
//! storing every stage input (the tape), and the reverse sweep of [`tableau::step_vjp`] runs
//! through them backwards. Step sizes are constants of the discrete map (the controller is not
//! differentiated), as in torchdiffeq's and diffrax's discretise-then-optimise gradients.

use std::sync::Arc;

use super::batch::Group;
use super::field::FieldWork;
use super::forward::{self, Schedule, SolveStats};
use super::tableau::{self, RkWork};
use super::{GradError, GradOutput};

/// `backprop` on one group.
pub fn gradient(g: &Group<'_>) -> Result<GradOutput, GradError> {
    let (schedule, stats) =
        forward::schedule(Arc::new(g.field()), &g.ends, &g.y0, &g.problem.solver)?;
    Ok(on_schedule(g, &schedule, &stats))
}

/// Adds `∂L/∂Y` of every observation reached after `i` steps to `ybar`.
pub(crate) fn inject(schedule: &Schedule, i: usize, obs_grads: &[f64], ybar: &mut [f64]) {
    let m = ybar.len();
    for (k, &e) in schedule.obs_end.iter().enumerate() {
        if e == i {
            for (a, b) in ybar.iter_mut().zip(&obs_grads[k * m..(k + 1) * m]) {
                *a += b;
            }
        }
    }
}

/// Evaluates the loss terms of every observation reached after `i` steps at state `y`.
pub(crate) fn observe(
    g: &Group<'_>,
    schedule: &Schedule,
    i: usize,
    y: &[f64],
    obs_grads: &mut [f64],
    out: &mut GradOutput,
) {
    let m = y.len();
    for (k, &e) in schedule.obs_end.iter().enumerate() {
        if e == i {
            out.loss += g.loss_at(
                k,
                y,
                &mut obs_grads[k * m..(k + 1) * m],
                out.readout_grad.as_deref_mut(),
            );
        }
    }
}

/// The backprop gradient of the discrete map given by `schedule` (the steps of a forward solve
/// whose totals are `stats`).
pub fn on_schedule(g: &Group<'_>, schedule: &Schedule, stats: &SolveStats) -> GradOutput {
    let field = g.field();
    let tab = &schedule.tableau;
    let (m, s, n) = (g.dim(), tab.stages(), schedule.steps.len());
    let mut out = g.empty_output();
    let mut tape = vec![0.0; n * s * m];
    let mut obs_grads = vec![0.0; g.n_obs() * m];
    let mut y = g.y0.clone();
    let mut y_new = vec![0.0; m];
    let mut rk = RkWork::new(s, m);
    let mut work = FieldWork::new(&g.mlp);
    let mut nfe_replay = 0;
    observe(g, schedule, 0, &y, &mut obs_grads, &mut out);
    for (i, &(t, h)) in schedule.steps.iter().enumerate() {
        nfe_replay += tableau::step(
            tab,
            &field,
            t,
            h,
            &y,
            &mut y_new,
            &mut tape[i * s * m..(i + 1) * s * m],
            &mut rk.k,
            &mut work,
        );
        std::mem::swap(&mut y, &mut y_new);
        observe(g, schedule, i + 1, &y, &mut obs_grads, &mut out);
    }
    let mut ybar = vec![0.0; m];
    let mut nfe_back = 0;
    for (i, &(t, h)) in schedule.steps.iter().enumerate().rev() {
        inject(schedule, i + 1, &obs_grads, &mut ybar);
        nfe_back += tableau::step_vjp(
            tab,
            &field,
            t,
            h,
            &tape[i * s * m..(i + 1) * s * m],
            &mut ybar,
            &mut out.grad,
            &mut rk.kbar,
            &mut rk.vy,
            &mut work,
        );
    }
    out.nfe_forward = stats.nfev + nfe_replay;
    out.nfe_backward = nfe_back;
    out.steps_accepted = stats.accepted;
    out.steps_rejected = stats.rejected;
    out.stored_bytes = (tape.len() + obs_grads.len()) * 8 + schedule.stored_bytes();
    out.warnings = stats.warnings.clone();
    out
}
