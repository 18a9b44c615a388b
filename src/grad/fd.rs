//! `fd`: central finite differences on every parameter, `(L(θ + ε_i e_i) − L(θ − ε_i e_i)) /
//! (2 ε_i)` with `ε_i = fd_step · max(1, |θ_i|)`, each loss from a full forward solve with the
//! configured solver (2P + 1 solves). With an adaptive solver the step sequence changes with θ,
//! which adds noise of order tol/ε: the slow, honest baseline, exact only up to that noise and
//! the O(ε²) truncation. The read-out gradient (cross-entropy) is the analytic one at θ.

use std::sync::Arc;

use super::batch::Group;
use super::forward::{self, SolveStats};
use super::{GradError, GradOptions, GradOutput};
use crate::nn::Mlp;

/// Loss of the group for network `mlp` (forward solves only), adding the read-out gradient
/// to `readout_grad` when given.
pub fn loss_with(
    g: &Group<'_>,
    mlp: &Arc<Mlp>,
    readout_grad: Option<&mut [f64]>,
    stats: &mut SolveStats,
) -> Result<f64, GradError> {
    let field = Arc::new(
        super::field::StackedMlp::<f64>::new(mlp.clone(), g.samples.len())
            .with_kind(g.problem.field_kind()),
    );
    let mut y = g.y0.clone();
    let mut gl = vec![0.0; y.len()];
    let mut loss = 0.0;
    let mut rg = readout_grad;
    let mut segments = forward::Segments::keeping_nothing().without_dense_output();
    for (k, seg) in g.ends.windows(2).enumerate() {
        let s = segments.run(
            field.clone(),
            seg[0],
            seg[1],
            &mut y,
            &g.problem.solver,
            |_, _| {},
        )?;
        stats.add(&s);
        loss += g.loss_at(k, &y, &mut gl, rg.as_deref_mut());
    }
    Ok(loss)
}

/// `fd` on one group.
pub fn gradient(g: &Group<'_>, opts: &GradOptions) -> Result<GradOutput, GradError> {
    let mut out = g.empty_output();
    let mut base = SolveStats::default();
    out.loss = loss_with(g, &g.mlp, out.readout_grad.as_deref_mut(), &mut base)?;
    let mut stats = SolveStats::default();
    // One owned copy, perturbed in place: `loss_with` drops its clone of the Arc before it
    // returns, so `make_mut` never copies (copying P numbers per parameter made fd O(P²)).
    let mut mlp = Arc::new((*g.mlp).clone());
    for i in 0..mlp.n_params() {
        let theta = mlp.params[i];
        let eps = opts.fd_step * theta.abs().max(1.0);
        Arc::make_mut(&mut mlp).params[i] = theta + eps;
        let plus = loss_with(g, &mlp, None, &mut stats)?;
        Arc::make_mut(&mut mlp).params[i] = theta - eps;
        let minus = loss_with(g, &mlp, None, &mut stats)?;
        Arc::make_mut(&mut mlp).params[i] = theta;
        out.grad[i] = (plus - minus) / (2.0 * eps);
        super::progress::tick();
    }
    out.nfe_forward = base.nfev + stats.nfev;
    out.nfe_backward = 0;
    out.steps_accepted = base.accepted;
    out.steps_rejected = base.rejected;
    out.stored_bytes = g.dim() * 2 * 8;
    out.warnings = base.warnings;
    Ok(out)
}
