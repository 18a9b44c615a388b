//! `backprop`: the exact reverse-mode derivative of the discrete forward solve actually taken.
//!
//! The forward solve (any solver of [`crate::solver`]) chooses the steps. With dopri5 the tape
//! (every accepted step's stage inputs) is recorded during the solve itself
//! ([`super::tape`]: with every stage's activations, so the reverse sweep recomputes no forward
//! evaluation; above [`super::tape::MAX_ENTRY_BYTES`] per stage, stage inputs only:
//! [`forward::schedule_recorded`]); with the other solvers the accepted steps are replayed
//! through the explicit tableau the solver propagates with ([`Tableau::for_method`]), storing
//! every stage input. The reverse sweep of [`tableau::step_vjp`] runs through the tape
//! backwards. Step sizes are constants of the discrete map (the controller is not
//! differentiated), as in torchdiffeq's and diffrax's discretise-then-optimise gradients.
//!
//! Generic over the group's float type `T` (f64, the reference, or f32): the tape, the
//! adjoints and θ̄ are `T`; θ̄ is widened to f64 in the [`GradOutput`].

use std::sync::Arc;

use super::batch::Group;
use super::field::{FieldWork, GradFloat};
use super::forward::{self, Schedule, SolveStats, inject};
use super::tableau::{self, RkWork};
use super::{GradError, GradOutput};
use crate::nn::Real;

/// How backprop gets its tape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TapeKind {
    /// Recorded during the dopri5 solve with every stage's activations ([`super::tape`]).
    Activations,
    /// Recorded during the dopri5 solve, stage inputs only.
    StageInputs,
    /// The accepted steps replayed through the tableau (any solver).
    Replay,
}

impl TapeKind {
    /// The fastest kind that applies to this group.
    pub fn for_group<T: Real>(g: &Group<'_, T>) -> Self {
        // The activation tape records the plain network's layers; the density field keeps its
        // own channels, so it takes the stage-input tape.
        let plain = g.problem.field_kind() == super::field::FieldKind::Plain;
        if plain && super::tape::applies::<T>(&g.mlp, g.samples.len(), &g.problem.solver) {
            TapeKind::Activations
        } else if g.problem.solver.method == crate::solver::Method::Dopri5 {
            TapeKind::StageInputs
        } else {
            TapeKind::Replay
        }
    }
}

/// `backprop` on one group.
pub fn gradient<T: GradFloat>(g: &Group<'_, T>) -> Result<GradOutput, GradError> {
    gradient_with(g, TapeKind::for_group(g))
}

/// Adds θ̄ (in `T`) to the output's f64 gradient.
pub(crate) fn widen_into<T: Real>(gtheta: &[T], out: &mut [f64]) {
    for (o, &v) in out.iter_mut().zip(gtheta) {
        *o += v.to_f64();
    }
}

/// `backprop` on one group with the tape taken as `kind` says (`Activations` and
/// `StageInputs` need dopri5, `Activations` the plain field; otherwise they fall back to
/// `StageInputs` or `Replay`).
pub fn gradient_with<T: GradFloat>(
    g: &Group<'_, T>,
    kind: TapeKind,
) -> Result<GradOutput, GradError> {
    let dopri = g.problem.solver.method == crate::solver::Method::Dopri5;
    let plain = g.problem.field_kind() == super::field::FieldKind::Plain;
    let bytes = T::BYTES;
    if kind == TapeKind::Activations && dopri && plain {
        let mut tape = super::tape::record(&g.field(), &g.ends, &g.y0, &g.problem.solver)?;
        let mut out = g.empty_output();
        let obs_grads = observe_states(g, &tape.obs_states, &mut out);
        let mut gtheta = vec![T::zero(); g.n_params()];
        out.nfe_backward = tape.sweep(&obs_grads, &mut gtheta);
        widen_into(&gtheta, &mut out.grad);
        out.nfe_forward = tape.stats.nfev;
        out.steps_accepted = tape.stats.accepted;
        out.steps_rejected = tape.stats.rejected;
        out.stored_bytes = tape.stored_bytes() + obs_grads.len() * bytes;
        out.warnings = tape.stats.warnings.clone();
        return Ok(out);
    }
    let recorded = if kind == TapeKind::Replay {
        None
    } else {
        forward::schedule_recorded(Arc::new(g.field()), &g.ends, &g.y0, &g.problem.solver)?
    };
    if let Some((schedule, stats, tape, obs_states)) = recorded {
        let mut out = g.empty_output();
        let obs_grads = observe_states(g, &obs_states, &mut out);
        let nfe_back = sweep(g, &schedule, &tape, &obs_grads, &mut out);
        out.nfe_forward = stats.nfev;
        out.nfe_backward = nfe_back;
        out.steps_accepted = stats.accepted;
        out.steps_rejected = stats.rejected;
        out.stored_bytes =
            (tape.len() + obs_grads.len() + obs_states.len()) * bytes + schedule.stored_bytes();
        out.warnings = stats.warnings;
        return Ok(out);
    }
    let (schedule, stats) =
        forward::schedule(Arc::new(g.field()), &g.ends, &g.y0, &g.problem.solver)?;
    Ok(on_schedule(g, &schedule, &stats))
}

/// The loss terms at the observation states (`K · m`, in order): their sum added to
/// `out.loss`, read-out gradients to `out`; returns every observation's `∂L/∂Y` (`K · m`).
fn observe_states<T: Real>(g: &Group<'_, T>, obs_states: &[T], out: &mut GradOutput) -> Vec<T> {
    let m = g.dim();
    let mut obs_grads = vec![T::zero(); g.n_obs() * m];
    for k in 0..g.n_obs() {
        out.loss += g.loss_at(
            k,
            &obs_states[k * m..(k + 1) * m],
            &mut obs_grads[k * m..(k + 1) * m],
            out.readout_grad.as_deref_mut(),
        );
    }
    obs_grads
}

/// Evaluates the loss terms of every observation reached after `i` steps at state `y`.
pub(crate) fn observe<T: Real>(
    g: &Group<'_, T>,
    schedule: &Schedule,
    i: usize,
    y: &[T],
    obs_grads: &mut [T],
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

/// The reverse sweep through the tape of `schedule` (stage inputs of every step, `steps·s·m`),
/// injecting the observations' `∂L/∂Y`; adds θ̄ to `out.grad` and returns the VJPs spent.
fn sweep<T: GradFloat>(
    g: &Group<'_, T>,
    schedule: &Schedule,
    tape: &[T],
    obs_grads: &[T],
    out: &mut GradOutput,
) -> u64 {
    let field = g.field();
    let tab = &schedule.tableau;
    let (m, s) = (g.dim(), tab.stages());
    let mut rk = RkWork::<T>::new(s, m);
    let mut work = FieldWork::<T>::new(&g.mlp);
    let mut ybar = vec![T::zero(); m];
    let mut gtheta = vec![T::zero(); g.n_params()];
    let mut nfe_back = 0;
    for (i, &(t, h)) in schedule.steps.iter().enumerate().rev() {
        inject(schedule, i + 1, obs_grads, &mut ybar);
        nfe_back += tableau::step_vjp(
            tab,
            &field,
            t,
            h,
            &tape[i * s * m..(i + 1) * s * m],
            &mut ybar,
            &mut gtheta,
            &mut rk.kbar,
            &mut rk.vy,
            &mut work,
        );
    }
    widen_into(&gtheta, &mut out.grad);
    nfe_back
}

/// The backprop gradient of the discrete map given by `schedule` (the steps of a forward solve
/// whose totals are `stats`).
pub fn on_schedule<T: GradFloat>(
    g: &Group<'_, T>,
    schedule: &Schedule,
    stats: &SolveStats,
) -> GradOutput {
    let field = g.field();
    let tab = &schedule.tableau;
    let (m, s, n) = (g.dim(), tab.stages(), schedule.steps.len());
    let mut out = g.empty_output();
    let mut tape = vec![T::zero(); n * s * m];
    let mut obs_grads = vec![T::zero(); g.n_obs() * m];
    let mut y = g.y0.clone();
    let mut y_new = vec![T::zero(); m];
    let mut rk = RkWork::<T>::new(s, m);
    let mut work = FieldWork::<T>::new(&g.mlp);
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
    let nfe_back = sweep(g, schedule, &tape, &obs_grads, &mut out);
    out.nfe_forward = stats.nfev + nfe_replay;
    out.nfe_backward = nfe_back;
    out.steps_accepted = stats.accepted;
    out.steps_rejected = stats.rejected;
    out.stored_bytes = (tape.len() + obs_grads.len()) * T::BYTES + schedule.stored_bytes();
    out.warnings = stats.warnings.clone();
    out
}
