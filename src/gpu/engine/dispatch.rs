//! One submission: the kernels' pipelines checked against the adapter's dispatch limit, the
//! parameters written, a pending gather encoded first, the kernels dispatched in one pass, the
//! outputs copied to the staging buffer and read back once.

use super::timing::Timer;
use super::{BatchBuffers, GpuSolver, Readback};
use crate::gpu::buffers::{Params, SampleStats};
use crate::gpu::codes::status;
use crate::gpu::context::GpuError;
use crate::gpu::objective::GpuLoss;
use crate::gpu::readback;
use crate::gpu::shader::{Kernel, WORKGROUP};

impl GpuSolver {
    pub(super) fn poison_outputs(&self) {
        let Some(b) = &self.buffers else { return };
        for (buf, bytes) in [
            (&b.out, b.sizes.out),
            (&b.stats, b.sizes.stats),
            (&b.grad_ps, b.grad_ps_bytes),
            (&b.traj, b.traj_bytes),
            (&b.grad_out, b.sizes.grad_out),
        ] {
            let nan = vec![f32::NAN; (bytes / 4) as usize];
            self.write(buf, 0, bytemuck::cast_slice(&nan));
        }
    }

    /// Writes `params`, dispatches `kernels` in order (one compute pass; a chunked kernel
    /// appears once per chunk), copies the outputs to the staging buffer and reads them back:
    /// `(out, stats, grad_out)`.
    pub(super) fn run(
        &mut self,
        params: Params,
        kernels: &[(Kernel, u32)],
    ) -> Result<Readback, GpuError> {
        self.ensure_pipelines(kernels)?;
        if self.poison {
            self.poison_outputs();
        }
        self.write_params(params);
        let gather = self.take_gather()?;
        let b = self
            .buffers
            .as_ref()
            .ok_or_else(|| GpuError::Unsupported("no batch was uploaded".into()))?;
        let ctx = &self.ctx;
        let s = b.sizes;
        let timer = Timer::new(&ctx.device, kernels.len());
        ctx.checked(|| {
            let mut encoder = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("nodelab solve"),
                });
            if let Some((set, group, batch)) = &gather {
                set.encode(&mut encoder, group, *batch);
            }
            self.encode_kernels(&mut encoder, b, params, kernels, timer.as_ref());
            encoder.copy_buffer_to_buffer(&b.out, 0, &b.staging, 0, s.out);
            encoder.copy_buffer_to_buffer(&b.stats, 0, &b.staging, s.out, s.stats);
            encoder.copy_buffer_to_buffer(&b.grad_out, 0, &b.staging, s.out + s.stats, s.grad_out);
            ctx.queue.submit([encoder.finish()]);
        })?;
        let bytes = readback::read_mapped(ctx, &b.staging, s.staging)?;
        if let Some(t) = &timer {
            t.finish(ctx, &labels(kernels))?;
        }
        let (o, rest) = bytes.split_at(s.out as usize);
        let (st, g) = rest.split_at(s.stats as usize);
        Ok((
            bytemuck::pod_collect_to_vec::<u8, f32>(o),
            bytemuck::pod_collect_to_vec::<u8, SampleStats>(st),
            bytemuck::pod_collect_to_vec::<u8, f32>(g),
        ))
    }

    /// Encodes `kernels` in order in one compute pass (with a `timer`: a pass per dispatch,
    /// timestamps at each pass's beginning and end, and their resolve, [`super::timing`]).
    /// With step chunks (`chunk_steps > 0`) the statistics, where each sample keeps its step
    /// counter between chunks, start at zero.
    pub(super) fn encode_kernels(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        b: &BatchBuffers,
        params: Params,
        kernels: &[(Kernel, u32)],
        timer: Option<&Timer>,
    ) {
        if params.chunk_steps > 0 {
            encoder.clear_buffer(&b.stats, 0, None);
        }
        match timer {
            None => {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("nodelab pass"),
                    timestamp_writes: None,
                });
                pass.set_bind_group(0, &b.bind_group, &[]);
                for (k, groups) in kernels {
                    if let Some(p) = self.pipelines.get(k) {
                        pass.set_pipeline(p);
                        pass.dispatch_workgroups(*groups, 1, 1);
                    }
                }
            }
            Some(t) => {
                for (i, (k, groups)) in kernels.iter().enumerate() {
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("nodelab timed pass"),
                        timestamp_writes: t.writes(i),
                    });
                    pass.set_bind_group(0, &b.bind_group, &[]);
                    if let Some(p) = self.pipelines.get(k) {
                        pass.set_pipeline(p);
                        pass.dispatch_workgroups(*groups, 1, 1);
                    }
                }
                t.encode_resolve(encoder);
            }
        }
    }

    pub(super) fn groups(&self) -> u32 {
        (self.batch() as u32).div_ceil(WORKGROUP)
    }

    pub(super) fn base_params(&self) -> Params {
        let obj = &self.objective;
        Params {
            batch: self.batch() as u32,
            target_off: self.target_off,
            n_obs: obj.n_obs() as u32,
            n_classes: obj.n_classes() as u32,
            readout_off: self.readout_off,
            seg_off: self.seg_off,
            n_extra: obj.n_readout() as u32,
            ..Params::default()
        }
    }

    /// The loss code to run: `loss` must be the uploaded objective's (`half-sse` and `mse`
    /// share the terminal targets).
    pub(super) fn loss_code(&self, loss: GpuLoss) -> Result<u32, GpuError> {
        let have = self.objective.loss;
        if loss == have || (loss.is_terminal_regression() && have.is_terminal_regression()) {
            Ok(loss.code())
        } else {
            Err(GpuError::Unsupported(format!(
                "the uploaded batch carries {} data, not {} (upload it with set_objective)",
                have.name(),
                loss.name()
            )))
        }
    }
}

/// The labels of `kernels` in dispatch order (what the timed dispatches are reported as).
pub(super) fn labels(kernels: &[(Kernel, u32)]) -> Vec<String> {
    kernels.iter().map(|(k, _)| k.label()).collect()
}

/// A driver that cut a kernel's loops short (status 4) makes the whole result wrong: an error.
pub(super) fn check_complete(stats: &[SampleStats], adapter: &str) -> Result<(), GpuError> {
    let cut = stats
        .iter()
        .filter(|s| s.status == status::INCOMPLETE)
        .count();
    if cut > 0 {
        return Err(GpuError::Unsupported(format!(
            "the driver ({adapter}) stopped the kernel's loops early on {cut} of {} samples \
             (software Vulkan drivers cap one invocation at 65 535 loop iterations): use fewer \
             steps, a smaller network or a hardware adapter",
            stats.len()
        )));
    }
    Ok(())
}

/// A gradient is only as good as every sample's solve: besides loops cut short, any sample
/// that failed (non-finite state, step underflow, max_steps) makes the result an error, not a
/// number.
pub(super) fn check_solved(stats: &[SampleStats], adapter: &str) -> Result<(), GpuError> {
    check_complete(stats, adapter)?;
    let failed: Vec<(usize, &SampleStats)> = stats
        .iter()
        .enumerate()
        .filter(|(_, s)| s.status != status::OK)
        .collect();
    if let Some(&(first, st)) = failed.first() {
        let hint = if st.status == status::UNDERFLOW {
            " (the GPU works in f32: a tolerance near f32's resolution cannot be met)"
        } else {
            ""
        };
        return Err(GpuError::Unsupported(format!(
            "the GPU solve failed on {} of {} samples: {} on sample {first}{hint}",
            failed.len(),
            stats.len(),
            st.status_text()
        )));
    }
    Ok(())
}
