//! A training iteration on the device: the gradient kernel, its reduction and the optimiser's
//! step ([`GpuOptimizer`]) in one submission; the weights read back for evaluation.

use super::GpuSolver;
use crate::gpu::context::GpuError;
use crate::gpu::methods::GpuGradMethod;
use crate::gpu::objective::GpuLoss;
use crate::gpu::optim::{GpuOptimizer, StepSummary};
use crate::gpu::readback;
use crate::gpu::schedule::FixedSchedule;

impl GpuSolver {
    /// The parameters on the device: θ and, for cross-entropy, the read-out (weight row-major,
    /// then bias) — the readback of a training run's evaluations.
    pub fn read_weights(&self) -> Result<(Vec<f32>, Vec<f32>), GpuError> {
        let theta: Vec<f32> = bytemuck::pod_collect_to_vec(&readback::read_buffer(
            &self.ctx,
            &self.theta,
            4 * self.n_params as u64,
        )?);
        let r = self.objective.n_readout();
        let readout = match (&self.buffers, r) {
            (Some(b), r) if r > 0 => {
                let end = 4 * (u64::from(self.readout_off) + r as u64);
                let all: Vec<f32> =
                    bytemuck::pod_collect_to_vec(&readback::read_buffer(&self.ctx, &b.data, end)?);
                all[self.readout_off as usize..].to_vec()
            }
            _ => Vec::new(),
        };
        Ok((theta, readout))
    }

    /// One training iteration on the device: `method`'s gradient kernel, the reduction and
    /// `opt`'s step in one submission, θ and the read-out updated in place; the only readback
    /// is the step's [`StepSummary`] (loss, outcome, step counters).
    pub fn train_step(
        &mut self,
        method: GpuGradMethod,
        sched: &FixedSchedule,
        loss: GpuLoss,
        opt: &mut GpuOptimizer,
    ) -> Result<StepSummary, GpuError> {
        let (params, _, kernels) = self.prepare_gradient(method, sched, loss)?;
        self.ensure_pipelines(&kernels)?;
        self.write_params(params);
        let gather = self.take_gather()?;
        let b = self
            .buffers
            .as_ref()
            .ok_or_else(|| GpuError::Unsupported("no batch was uploaded".into()))?;
        opt.prepare(self.readout_off, b.batch as u32);
        let ctx = &self.ctx;
        let timer = super::timing::Timer::new(&ctx.device, kernels.len());
        let opt_group =
            ctx.checked(|| opt.bind_group(&self.theta, &b.data, &b.grad_out, &b.stats))?;
        ctx.checked(|| {
            let mut encoder = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("nodelab train step"),
                });
            if let Some((set, group, batch)) = &gather {
                set.encode(&mut encoder, group, *batch);
            }
            self.encode_kernels(&mut encoder, b, params, &kernels, timer.as_ref());
            opt.encode(&mut encoder, &opt_group);
            ctx.queue.submit([encoder.finish()]);
        })?;
        let summary = opt.read_summary()?;
        if let Some(t) = &timer {
            t.finish(ctx, &super::dispatch::labels(&kernels))?;
        }
        Ok(summary)
    }

    /// Bytes of the device buffers of a training iteration with `method` (the solver's buffers
    /// for its batch and steps; the optimiser's are added by the caller).
    pub fn train_bytes(
        &self,
        method: GpuGradMethod,
        sched: &FixedSchedule,
    ) -> Result<u64, GpuError> {
        let segs = self.segments(method, sched)?;
        let n_steps: u32 = segs.iter().map(|g| g.n).sum();
        Ok(self.method_bytes_rk(Some(method), sched.rk, self.batch(), n_steps))
    }
}
