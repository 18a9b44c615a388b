//! `checkpoint`: the `backprop` derivative from K stored states (ANODE-style recomputation,
//! irdm-interpolated-adjoint.md §2 "Checkpointing in the adjoint method").
//!
//! The replayed forward pass keeps the state before every `⌈N/K⌉`-th step (default K = ⌈√N⌉ for
//! N steps); the backward pass recomputes each chunk's stages from its checkpoint, right to left,
//! and sweeps back through them. The arithmetic is that of `backprop`, so the gradients agree to
//! rounding (bit for bit here), while the tape holds one chunk instead of all N steps.
//!
//! Memory: K states and one chunk's tape, O(K·D + (N/K)·s·D), plus the accepted step list
//! `(t, h)` of the forward solve, 16 bytes per step. That list is what lets an adaptive solve be
//! replayed exactly; it is counted in `stored_bytes`, and with a small state (batch 1, D = 2) it is
//! the larger term, so the measured growth bends from √N towards N there.

use std::sync::Arc;

use super::backprop::{observe, widen_into};
use super::batch::Group;
use super::field::{FieldWork, GradFloat};
use super::forward;
use super::forward::inject;
use super::tableau::{self, RkWork};
use super::{GradError, GradOutput};

/// `checkpoint` on one group with `k` checkpoints (default ⌈√N⌉), in the group's float type.
pub fn gradient<T: GradFloat>(g: &Group<'_, T>, k: Option<usize>) -> Result<GradOutput, GradError> {
    let (schedule, stats) =
        forward::schedule(Arc::new(g.field()), &g.ends, &g.y0, &g.problem.solver)?;
    let field = g.field();
    let tab = &schedule.tableau;
    let (m, s, n) = (g.dim(), tab.stages(), schedule.steps.len());
    let n_ck = k
        .unwrap_or_else(|| (n as f64).sqrt().ceil() as usize)
        .clamp(1, n.max(1));
    let stride = n.div_ceil(n_ck).max(1);
    let n_chunks = n.div_ceil(stride);
    let mut out = g.empty_output();
    let mut checkpoints = vec![T::zero(); n_chunks * m];
    let mut tape = vec![T::zero(); stride * s * m];
    let mut obs_grads = vec![T::zero(); g.n_obs() * m];
    let mut gtheta = vec![T::zero(); g.n_params()];
    let mut y = g.y0.clone();
    let mut y_new = vec![T::zero(); m];
    let mut rk = RkWork::<T>::new(s, m);
    let mut work = FieldWork::<T>::new(&g.mlp);
    let mut nfe_replay = 0;
    observe(g, &schedule, 0, &y, &mut obs_grads, &mut out);
    for (i, &(t, h)) in schedule.steps.iter().enumerate() {
        if i % stride == 0 {
            checkpoints[(i / stride) * m..(i / stride + 1) * m].copy_from_slice(&y);
        }
        // Only the stages of the current step are needed forwards: reuse the first tape slot.
        nfe_replay += tableau::step(
            tab,
            &field,
            t,
            h,
            &y,
            &mut y_new,
            &mut tape[..s * m],
            &mut rk.k,
            &mut work,
        );
        std::mem::swap(&mut y, &mut y_new);
        observe(g, &schedule, i + 1, &y, &mut obs_grads, &mut out);
    }
    let mut ybar = vec![T::zero(); m];
    let mut nfe_back = 0;
    for c in (0..n_chunks).rev() {
        let (start, end) = (c * stride, ((c + 1) * stride).min(n));
        y.copy_from_slice(&checkpoints[c * m..(c + 1) * m]);
        for i in start..end {
            let (t, h) = schedule.steps[i];
            let j = i - start;
            nfe_back += tableau::step(
                tab,
                &field,
                t,
                h,
                &y,
                &mut y_new,
                &mut tape[j * s * m..(j + 1) * s * m],
                &mut rk.k,
                &mut work,
            );
            std::mem::swap(&mut y, &mut y_new);
        }
        for i in (start..end).rev() {
            let (t, h) = schedule.steps[i];
            let j = i - start;
            inject(&schedule, i + 1, &obs_grads, &mut ybar);
            nfe_back += tableau::step_vjp(
                tab,
                &field,
                t,
                h,
                &tape[j * s * m..(j + 1) * s * m],
                &mut ybar,
                &mut gtheta,
                &mut rk.kbar,
                &mut rk.vy,
                &mut work,
            );
        }
    }
    widen_into(&gtheta, &mut out.grad);
    out.nfe_forward = stats.nfev + nfe_replay;
    out.nfe_backward = nfe_back;
    out.steps_accepted = stats.accepted;
    out.steps_rejected = stats.rejected;
    out.stored_bytes =
        (checkpoints.len() + tape.len() + obs_grads.len()) * T::BYTES + schedule.stored_bytes();
    out.warnings = stats.warnings;
    Ok(out)
}
