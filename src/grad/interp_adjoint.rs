//! `interp-adjoint`: the interpolated reverse dynamic method (IRDM, irdm-interpolated-adjoint.md
//! §2). During the forward solve the state is stored at N Chebyshev nodes of the first kind on
//! `[t0, T]`, read from each accepted step's dense output (no extra f-evaluations); the backward
//! pass integrates only `[a, g]` (`da/dt = −aᵀ∂f/∂y(ŷ(t))`, `dg/dt = −aᵀ∂f/∂θ(ŷ(t))`) with
//! `ŷ(t)` the barycentric interpolant ([`ChebInterp`], eq. 7). Its error is the interpolation
//! error plus the backward solver's: it converges to the continuous gradient as the tolerance
//! shrinks only as far as N nodes resolve y(t).
//!
//! Generic over the group's float type `T`: the forward and backward solves run in `T`; the
//! Chebyshev grid holds f64 (node values widened from the `T` dense output, the interpolant
//! rounded back to `T` where the adjoint field reads it).

use std::sync::Arc;

use super::batch::Group;
use super::chebyshev::ChebInterp;
use super::field::{AdjointField, GradFloat, StateSource};
use super::forward::{self, SolveStats};
use super::{GradError, GradOptions, GradOutput};
use crate::solver::Method;

/// `interp-adjoint` on one group.
pub fn gradient<T: GradFloat>(
    g: &Group<'_, T>,
    opts: &GradOptions,
) -> Result<GradOutput, GradError> {
    let (m, p, k_obs) = (g.dim(), g.n_params(), g.n_obs());
    let n_nodes = opts.cheb_nodes;
    let mut out = g.empty_output();
    let t_last = g.ends[k_obs];
    let mut interp = ChebInterp::new(g.ends[0], t_last, n_nodes, m);
    let mut filled = vec![false; n_nodes];
    let system = Arc::new(g.field());
    let mut y = g.y0.clone();
    let mut obs_grads = vec![T::zero(); k_obs * m];
    let mut node = vec![T::zero(); m];
    let mut fwd = SolveStats::default();
    let mut segments = forward::Segments::keeping_nothing();
    for (k, seg) in g.ends.windows(2).enumerate() {
        let s = segments.run(
            system.clone(),
            seg[0],
            seg[1],
            &mut y,
            &g.problem.solver,
            |start, r| {
                for j in 0..n_nodes {
                    let tau_t = interp.nodes[j];
                    if !filled[j] && tau_t >= r.t && tau_t <= r.t + r.h {
                        let tau = ((tau_t - r.t) / r.h).clamp(0.0, 1.0);
                        r.dense.eval(start, &r.y, r.h, tau, &mut node);
                        for (o, &v) in interp.node_values_mut(j).iter_mut().zip(&node) {
                            *o = v.to_f64();
                        }
                        filled[j] = true;
                    }
                }
            },
        )?;
        fwd.add(&s);
        out.loss += g.loss_at(
            k,
            &y,
            &mut obs_grads[k * m..(k + 1) * m],
            out.readout_grad.as_deref_mut(),
        );
    }
    if let Some(j) = filled.iter().position(|f| !f) {
        return Err(GradError::Solve(format!(
            "Chebyshev node {j} (t = {}) was not covered by the forward solve",
            interp.nodes[j]
        )));
    }
    let stored_nodes = interp.stored_bytes();
    let interp = Arc::new(interp);
    let config = opts.adjoint_solver.as_ref().unwrap_or(&g.problem.solver);
    let mut u = vec![T::zero(); m + p];
    let mut back = SolveStats::default();
    let mut carry = forward::StepCarry::default();
    for k in (0..k_obs).rev() {
        for (a, &gl) in u[..m].iter_mut().zip(&obs_grads[k * m..(k + 1) * m]) {
            *a += gl;
        }
        let (t_start, t_end) = (g.ends[k], g.ends[k + 1]);
        let field = Arc::new(AdjointField {
            field: g.field(),
            t_ref: t_end,
            source: StateSource::Interpolated(interp.clone()),
        });
        let segment_config = carry.config(config);
        let s = forward::run_segment(
            field,
            0.0,
            t_end - t_start,
            &mut u,
            &segment_config,
            |_, r| carry.note(r),
        )
        .map_err(|e| GradError::Solve(format!("backward (interp-adjoint) solve: {e}")))?;
        carry.proposal(&s);
        back.add(&s);
    }
    super::backprop::widen_into(&u[m..], &mut out.grad);
    out.nfe_forward = fwd.nfev;
    out.nfe_backward = back.nfev;
    out.steps_accepted = fwd.accepted + back.accepted;
    out.steps_rejected = fwd.rejected + back.rejected;
    out.stored_bytes = stored_nodes + (u.len() + obs_grads.len()) * T::BYTES;
    out.warnings = fwd.warnings;
    if matches!(g.problem.solver.method, Method::Euler | Method::Midpoint) {
        out.warnings.push(format!(
            "{} has only a linear dense output: the Chebyshev node values are first-order \
             accurate",
            g.problem.solver.method
        ));
    }
    for w in back.warnings {
        if !out.warnings.contains(&w) {
            out.warnings.push(w);
        }
    }
    Ok(out)
}
