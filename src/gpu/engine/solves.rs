//! Forward solves and gradients: the observation segments of a fixed-step schedule, the kernel
//! parameters of each method, and the results (loss, dL/dθ, the read-out's gradient, step
//! statistics) checked sample by sample.

use super::chunks::{self, Dispatches};
use super::dispatch::{check_complete, check_solved};
use super::memory::{checkpoint_stride, traj_bytes};
use super::{ForwardResult, GpuSolver, GradResult};
use crate::gpu::buffers::Params;
use crate::gpu::context::GpuError;
use crate::gpu::methods::GpuGradMethod;
use crate::gpu::objective::{F32_EXACT, GpuLoss};
use crate::gpu::schedule::{AdaptiveSettings, FixedSchedule, Segment};
use crate::gpu::shader::Kernel;

impl GpuSolver {
    /// `[t0, τ_1, …, τ_K]` (`[t0, t1]` for the losses on y(T)), checked against the span.
    pub(super) fn observation_ends(&self, t0: f64, t1: f64) -> Result<Vec<f64>, GpuError> {
        let mut ends = vec![t0];
        if self.objective.loss.is_trajectory() {
            ends.extend(&self.objective.times);
        } else {
            ends.push(t1);
        }
        if ends
            .windows(2)
            .any(|w| w[1].partial_cmp(&w[0]) != Some(std::cmp::Ordering::Greater))
            || ends[ends.len() - 1] > t1
        {
            return Err(GpuError::Unsupported(format!(
                "observation times must increase strictly inside (t0, t1] = ({t0}, {t1}]"
            )));
        }
        Ok(ends)
    }

    /// The segments of a fixed-step gradient of `method` on `sched`, one per observation
    /// (mirroring `nodelab::grad`): RK4 kernels take steps of `sched.h` in each segment, the
    /// last one shortened (nodelab::solver::fixed); `reversible-heun` takes the reversible grid
    /// of `nodelab::grad::reversible`, ⌈span/h⌉ steps in all, spread over the segments in
    /// proportion to their lengths, equal within a segment.
    pub fn segments(
        &self,
        method: GpuGradMethod,
        sched: &FixedSchedule,
    ) -> Result<Vec<Segment>, GpuError> {
        let ends = self.observation_ends(sched.t0, sched.t1)?;
        let h = sched.h;
        let span = ends[ends.len() - 1] - ends[0];
        let total = ((span / h) - 1e-9).ceil().max(1.0);
        let mut segs = Vec::with_capacity(ends.len() - 1);
        let mut steps = 0.0;
        for w in ends.windows(2) {
            let len = w[1] - w[0];
            let seg = if method.reversible() {
                let n = (total * len / span).round().max(1.0);
                let h = len / n;
                Segment {
                    t0: w[0],
                    t1: w[1],
                    h,
                    h_last: h,
                    n: n as u32,
                }
            } else {
                let n = ((len / h) - 1e-9).ceil().max(1.0);
                Segment {
                    t0: w[0],
                    t1: w[1],
                    h,
                    h_last: w[1] - (w[0] + (n - 1.0) * h),
                    n: n as u32,
                }
            };
            steps += f64::from(seg.n);
            if seg.n > F32_EXACT {
                return Err(GpuError::Unsupported(format!(
                    "{} steps between t = {} and {} are too many for one segment (at most {F32_EXACT})",
                    seg.n, seg.t0, seg.t1
                )));
            }
            segs.push(seg);
        }
        if steps > f64::from(u32::MAX / 16) {
            return Err(GpuError::Unsupported(format!("{steps} steps are too many")));
        }
        Ok(segs)
    }

    pub(super) fn fixed_params(&self, sched: &FixedSchedule) -> Params {
        Params {
            n_steps: sched.n_steps,
            t0: sched.t0 as f32,
            t1: sched.t1 as f32,
            h: sched.h as f32,
            h_last: sched.h_last() as f32,
            ..self.base_params()
        }
    }

    /// Fixed-step RK4 forward solve of the uploaded batch (one submission, in step chunks).
    pub fn forward_rk4(&mut self, sched: &FixedSchedule) -> Result<ForwardResult, GpuError> {
        if sched.rk != crate::gpu::stages::FixedRk::Rk4 {
            return Err(GpuError::Unsupported(format!(
                "the forward kernel takes RK4 steps, not {}",
                sched.rk.name()
            )));
        }
        let mut params = self.fixed_params(sched);
        let (kernels, traj) =
            self.plan_dispatches(Kernel::Rk4Forward, sched.n_steps, 0, &mut params)?;
        if params.chunk_steps > 0 {
            self.ensure_buffers(0, traj)?;
        }
        let (out, stats, _) = self.run(params, &kernels)?;
        check_complete(&stats, &self.ctx.adapter.name)?;
        let n = self.batch() * self.shape.dim;
        Ok(ForwardResult {
            y: out[..n].to_vec(),
            stats,
            gpu_bytes: self.method_bytes(None, self.batch(), sched.n_steps),
        })
    }

    /// Zero-cost adaptive RK4 (robust estimator), every sample with its own step size (one
    /// submission, in chunks of attempted steps, [`super::chunks`]).
    pub fn forward_zc_rk4(&mut self, set: &AdaptiveSettings) -> Result<ForwardResult, GpuError> {
        let mut params = self.adaptive_params(set);
        let (kernels, traj) =
            self.plan_dispatches(Kernel::ZcRk4Forward, set.max_steps, 0, &mut params)?;
        if params.chunk_steps > 0 {
            self.ensure_buffers(0, traj)?;
        }
        let (out, mut stats, _) = self.run(params, &kernels)?;
        chunks::clear_finished(&mut stats);
        check_complete(&stats, &self.ctx.adapter.name)?;
        let n = self.batch() * self.shape.dim;
        Ok(ForwardResult {
            y: out[..n].to_vec(),
            stats,
            // The controller's live state between chunks, if chunked.
            gpu_bytes: self.method_bytes(None, self.batch(), 0) + traj,
        })
    }

    /// `afge` with the per-sample zero-cost adaptive RK4 (steps controlled on y, S advanced on
    /// accepted steps): loss and dL/dθ of the uploaded batch, per-sample step counts in `stats`.
    pub fn afge_adaptive(
        &mut self,
        set: &AdaptiveSettings,
        loss: GpuLoss,
    ) -> Result<GradResult, GpuError> {
        let loss_kind = self.loss_code(loss)?;
        let ends = self.observation_ends(set.t0, set.t1)?;
        // Segment table [t0, t1, h_min, h_max, −]: each segment a fresh adaptive solve.
        let table: Vec<f32> = ends
            .windows(2)
            .flat_map(|w| {
                let (h_min, h_max) = set.bounds(w[0], w[1]);
                [w[0] as f32, w[1] as f32, h_min as f32, h_max as f32, 0.0]
            })
            .collect();
        self.write_table(table);
        let mut params = Params {
            loss_kind,
            ..self.adaptive_params(set)
        };
        // The attempts of all segments, each with its own budget of max_steps (afge.wgsl's
        // `attempt_budget`, saturated alike).
        let budget = u64::from(params.max_steps) * u64::from(params.n_obs);
        let budget = u32::try_from(budget).unwrap_or(u32::MAX);
        let (mut kernels, traj) =
            self.plan_dispatches(Kernel::AfgeAdaptive, budget, 0, &mut params)?;
        self.ensure_gradient_buffers(traj.max(4))?;
        kernels.push((Kernel::Reduce, self.reduce_rows()));
        let (out, mut stats, grad_out) = self.run(params, &kernels)?;
        chunks::clear_finished(&mut stats);
        check_solved(&stats, &self.ctx.adapter.name)?;
        let batch = self.batch();
        let n = batch * self.shape.dim;
        let nfe: u64 = stats.iter().map(|s| u64::from(s.nfev)).sum();
        let (loss, grad, readout_grad) = self.split_grad_out(&grad_out);
        Ok(GradResult {
            loss,
            grad,
            readout_grad,
            y: out[..n].to_vec(),
            recon_err: 0.0,
            stats,
            nfe_forward: nfe,
            nfe_backward: 0,
            // S and the controller's live state between chunks, if chunked.
            gpu_bytes: self.method_bytes(Some(GpuGradMethod::Afge), batch, 0) + traj,
        })
    }

    pub(super) fn adaptive_params(&self, set: &AdaptiveSettings) -> Params {
        Params {
            max_steps: set.max_steps,
            t0: set.t0 as f32,
            t1: set.t1 as f32,
            tol: set.tol as f32,
            rtol: set.rtol as f32,
            h0: set.h0.unwrap_or(0.0) as f32,
            h_min: set.h_min as f32,
            h_max: set.h_max as f32,
            ..self.base_params()
        }
    }

    /// Rows of the reduction: θ, the read-out parameters, the loss.
    pub(super) fn reduce_rows(&self) -> u32 {
        (self.n_params + self.objective.n_readout()) as u32 + 1
    }

    /// `(L, dL/dθ, dL/d(read-out))` from the reduced row sums.
    pub(super) fn split_grad_out(&self, grad_out: &[f32]) -> (f64, Vec<f64>, Option<Vec<f64>>) {
        let p = self.n_params;
        let r = self.objective.n_readout();
        let wide = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
        (
            f64::from(grad_out[p + r]),
            wide(&grad_out[..p]),
            (r > 0).then(|| wide(&grad_out[p..p + r])),
        )
    }

    /// Everything before a fixed-step gradient's dispatch: the loss code, the segment table
    /// (written to `data`), buffers large enough, the kernel's parameters and its dispatches
    /// (step chunks, [`super::chunks`]) followed by the reduction.
    pub(super) fn prepare_gradient(
        &mut self,
        method: GpuGradMethod,
        sched: &FixedSchedule,
        loss: GpuLoss,
    ) -> Result<(Params, u32, Dispatches), GpuError> {
        let loss_kind = self.loss_code(loss)?;
        let segs = self.segments(method, sched)?;
        let n_steps: u32 = segs.iter().map(|g| g.n).sum();
        let (batch, d) = (self.batch(), self.shape.dim);
        let k_obs = segs.len() as u32;
        let stride = checkpoint_stride(n_steps, self.checkpoints);
        let method_traj = traj_bytes(method, batch, d, n_steps, k_obs, stride);
        let table: Vec<f32> = segs
            .iter()
            .flat_map(|g| {
                [
                    g.t0 as f32,
                    g.t1 as f32,
                    g.h as f32,
                    g.h_last as f32,
                    g.n as f32,
                ]
            })
            .collect();
        self.write_table(table);
        let states = d as u32 * batch as u32;
        let obs_off = match method {
            GpuGradMethod::Backprop => n_steps * states,
            GpuGradMethod::Checkpoint => (n_steps.div_ceil(stride) + stride) * states,
            _ => 0,
        };
        let mut params = Params {
            loss_kind,
            n_steps,
            obs_off,
            // The checkpoint kernel reads its stride here (no fixed-step kernel uses max_steps),
            // reversible-rk4 its λ (no fixed-step kernel has an initial step).
            max_steps: stride,
            h0: self.lambda as f32,
            ..self.fixed_params(sched)
        };
        let (mut kernels, traj) = self.plan_dispatches(
            method.kernel(sched.rk).map_err(GpuError::Unsupported)?,
            n_steps,
            method_traj,
            &mut params,
        )?;
        self.ensure_gradient_buffers(traj.max(4))?;
        kernels.push((Kernel::Reduce, self.reduce_rows()));
        Ok((params, n_steps, kernels))
    }

    /// Loss and dL/dθ (and the read-out gradient of cross-entropy) of the uploaded batch with
    /// `method` on the fixed RK4 (or, for reversible-heun, its own) schedule, segment by
    /// segment between the observation times ([`GpuSolver::segments`]): the per-sample
    /// kernel, then the reduction.
    pub fn gradient(
        &mut self,
        method: GpuGradMethod,
        sched: &FixedSchedule,
        loss: GpuLoss,
    ) -> Result<GradResult, GpuError> {
        let (params, n_steps, kernels) = self.prepare_gradient(method, sched, loss)?;
        let (batch, d) = (self.batch(), self.shape.dim);
        let (out, stats, grad_out) = self.run(params, &kernels)?;
        check_solved(&stats, &self.ctx.adapter.name)?;
        let n = batch * d;
        let recon_err = out[n + batch..n + 2 * batch].iter().fold(0.0f64, |m, &v| {
            if v.is_nan() {
                f64::NAN
            } else {
                m.max(f64::from(v))
            }
        });
        let (f, bk) = method.nfe_per_step(sched.rk);
        let steps = u64::from(n_steps) * batch as u64;
        let (loss, grad, readout_grad) = self.split_grad_out(&grad_out);
        Ok(GradResult {
            loss,
            grad,
            readout_grad,
            y: out[..n].to_vec(),
            recon_err,
            stats,
            nfe_forward: f * steps + u64::from(method.reversible()) * batch as u64,
            nfe_backward: bk * steps,
            gpu_bytes: self.method_bytes_rk(Some(method), sched.rk, batch, n_steps),
        })
    }

    /// One evaluation of the field at `t` on each uploaded initial state, with one
    /// vector–Jacobian product whose v is the uploaded targets' row (upload with
    /// [`GpuSolver::set_batch`]`(y, v)`): the generated MLP functions (plain, or the density
    /// field's trace form) as the kernels run them, for tests against the CPU.
    pub fn probe_field(&mut self, t: f64) -> Result<FieldProbe, GpuError> {
        self.ensure_gradient_buffers(4)?;
        let params = Params {
            t0: t as f32,
            ..self.base_params()
        };
        let groups = self.groups();
        let rows = self.reduce_rows();
        let (out, stats, grad_out) = self.run(
            params,
            &[(Kernel::FieldProbe, groups), (Kernel::Reduce, rows)],
        )?;
        check_complete(&stats, &self.ctx.adapter.name)?;
        let (batch, d) = (self.batch(), self.shape.dim);
        let n = batch * d;
        let (_, grad, _) = self.split_grad_out(&grad_out);
        Ok(FieldProbe {
            field: out[..n].to_vec(),
            vjp_theta: grad,
            vjp_state: (0..batch)
                .map(|s| [out[n + s], out[n + batch + s]])
                .collect(),
        })
    }
}

/// What [`GpuSolver::probe_field`] returns.
#[derive(Clone, Debug)]
pub struct FieldProbe {
    /// F(t, y) of each sample, sample-major (`s · D + i`).
    pub field: Vec<f32>,
    /// Σ_s v_sᵀ ∂F/∂θ over the batch, in the weights-file order.
    pub vjp_theta: Vec<f64>,
    /// The first two components of v_sᵀ ∂F/∂Y of each sample.
    pub vjp_state: Vec<[f32; 2]>,
}
