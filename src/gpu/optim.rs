//! The optimiser step on the device (shaders/optim.wgsl): the update of
//! [`crate::optim::update_one`] in f32 over θ and the cross-entropy read-out, with the
//! moments kept on the device. It runs in the same submission as the gradient kernel and its
//! reduction; what comes back per iteration is the 32-byte [`StepSummary`].

use std::sync::Arc;

use bytemuck::{Pod, Zeroable};

use super::context::{GpuContext, GpuError};
use super::readback;
use crate::optim::{OptimizerConfig, OptimizerKind};

const SOURCE: &str = include_str!("../../shaders/optim.wgsl");

/// Mirrors `struct OptParams` of shaders/optim.wgsl (uniform, 80 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct OptParams {
    pub kind: u32,
    pub t: u32,
    pub n_theta: u32,
    pub n_extra: u32,
    pub extra_off: u32,
    pub batch: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub decay: f32,
    pub momentum: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub bias1: f32,
    pub bias2: f32,
    pub _pad2: f32,
    pub _pad3: f32,
    pub _pad4: f32,
}

const _: () = assert!(std::mem::size_of::<OptParams>() == 80);

/// The kernel's code of an optimiser (`OPT_*` of optim.wgsl).
pub fn kind_code(kind: OptimizerKind) -> u32 {
    match kind {
        OptimizerKind::Adam => 0,
        OptimizerKind::Rmsprop => 1,
        OptimizerKind::Sgd => 2,
    }
}

impl OptParams {
    /// Step `t` (1-based) of `c`; the bias corrections 1 − βᵗ are computed in f64 as on the CPU.
    pub fn new(c: &OptimizerConfig, t: u64, n_theta: usize, n_extra: usize) -> Self {
        let ti = t.min(i32::MAX as u64) as i32;
        Self {
            kind: kind_code(c.kind),
            t: t.min(u64::from(u32::MAX)) as u32,
            n_theta: n_theta as u32,
            n_extra: n_extra as u32,
            lr: c.lr as f32,
            beta1: c.beta1 as f32,
            beta2: c.beta2 as f32,
            decay: c.decay as f32,
            momentum: c.momentum as f32,
            eps: c.eps as f32,
            weight_decay: c.weight_decay as f32,
            bias1: (1.0 - c.beta1.powi(ti)) as f32,
            bias2: (1.0 - c.beta2.powi(ti)) as f32,
            ..Self::default()
        }
    }
}

/// What became of one step (`STEP_*` of optim.wgsl).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    Applied,
    /// A sample's solve failed (its status and index).
    SampleFailed {
        sample: u32,
        status: u32,
    },
    LossNonFinite,
    GradNonFinite {
        param: u32,
    },
    UpdateNonFinite {
        param: u32,
    },
}

impl StepOutcome {
    /// Why the step was refused (`None`: applied).
    pub fn reason(&self) -> Option<String> {
        match *self {
            StepOutcome::Applied => None,
            StepOutcome::SampleFailed { sample, status } => Some(format!(
                "the GPU solve failed on sample {sample}: {}",
                super::codes::status::text(status)
            )),
            StepOutcome::LossNonFinite => Some("the loss is not finite".into()),
            StepOutcome::GradNonFinite { param } => {
                Some(format!("the gradient is not finite (parameter {param})"))
            }
            StepOutcome::UpdateNonFinite { param } => Some(format!(
                "the update made parameter {param} non-finite (weights kept)"
            )),
        }
    }
}

/// The one readback of a training iteration: the loss, the outcome, the batch's counters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepSummary {
    pub loss: f32,
    pub outcome: StepOutcome,
    pub accepted: u64,
    pub rejected: u64,
    pub nfev: u64,
}

/// Bytes of the summary.
pub const SUMMARY_BYTES: u64 = 32;

impl StepSummary {
    pub fn from_words(w: &[u32]) -> Self {
        let outcome = match w[1] {
            0 => StepOutcome::Applied,
            1 => StepOutcome::SampleFailed {
                sample: w[2],
                status: w[3],
            },
            2 => StepOutcome::LossNonFinite,
            3 => StepOutcome::GradNonFinite { param: w[2] },
            _ => StepOutcome::UpdateNonFinite { param: w[2] },
        };
        Self {
            loss: f32::from_bits(w[0]),
            outcome,
            accepted: u64::from(w[4]),
            rejected: u64::from(w[5]),
            nfev: u64::from(w[6]),
        }
    }
}

/// The optimiser of one parameter vector on one device: its pipeline, its moments and its
/// summary buffers.
pub struct GpuOptimizer {
    ctx: Arc<GpuContext>,
    pub config: OptimizerConfig,
    n_theta: usize,
    n_extra: usize,
    /// Steps taken.
    t: u64,
    /// Bytes written from the host (the step parameters).
    uploaded: u64,
    layout: wgpu::BindGroupLayout,
    pipeline: wgpu::ComputePipeline,
    params: wgpu::Buffer,
    moments: wgpu::Buffer,
    summary: wgpu::Buffer,
    staging: wgpu::Buffer,
}

fn entry(binding: u32, ty: wgpu::BufferBindingType) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_DST)
    .union(wgpu::BufferUsages::COPY_SRC);

impl GpuOptimizer {
    /// Moments start at zero (as [`crate::optim::OptimizerState::new`]).
    pub fn new(
        ctx: Arc<GpuContext>,
        config: OptimizerConfig,
        n_theta: usize,
        n_extra: usize,
    ) -> Result<Self, GpuError> {
        use wgpu::BufferBindingType::{Storage, Uniform};
        let device = &ctx.device;
        let n = n_theta + n_extra;
        let (layout, pipeline, params, moments, summary, staging) = ctx.checked(|| {
            let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("optimizer bindings"),
                entries: &[
                    entry(0, Uniform),
                    entry(1, Storage { read_only: false }),
                    entry(2, Storage { read_only: false }),
                    entry(3, Storage { read_only: true }),
                    entry(4, Storage { read_only: false }),
                    entry(5, Storage { read_only: true }),
                    entry(6, Storage { read_only: false }),
                ],
            });
            let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("optimizer layout"),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("optim.wgsl"),
                source: wgpu::ShaderSource::Wgsl(SOURCE.into()),
            });
            let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("optimizer_step"),
                layout: Some(&pl),
                module: &module,
                entry_point: Some("optimizer_step"),
                compilation_options: Default::default(),
                cache: None,
            });
            let buffer = |label, size: u64, usage| {
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(label),
                    size: size.max(4),
                    usage,
                    mapped_at_creation: false,
                })
            };
            (
                layout,
                pipeline,
                buffer(
                    "optimizer params",
                    std::mem::size_of::<OptParams>() as u64,
                    wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                ),
                // Zero-initialised by wgpu.
                buffer("moments", 8 * n as u64, STORAGE),
                buffer("summary", SUMMARY_BYTES, STORAGE),
                buffer(
                    "summary staging",
                    SUMMARY_BYTES,
                    wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                ),
            )
        })?;
        Ok(Self {
            ctx,
            config,
            n_theta,
            n_extra,
            t: 0,
            uploaded: 0,
            layout,
            pipeline,
            params,
            moments,
            summary,
            staging,
        })
    }

    /// Steps taken (applied or not: a refused step still counts, as the CPU's state.t does not
    /// — the trainer stops the method then).
    pub fn steps(&self) -> u64 {
        self.t
    }

    /// Bytes of the device buffers this optimiser holds.
    pub fn bytes(&self) -> u64 {
        std::mem::size_of::<OptParams>() as u64
            + 8 * (self.n_theta + self.n_extra) as u64
            + 2 * SUMMARY_BYTES
    }

    /// The bind group over the solver's buffers: θ, the buffer holding the read-out, the
    /// reduced gradient `[dθ | d(read-out) | L]`, the per-sample stats.
    pub fn bind_group(
        &self,
        theta: &wgpu::Buffer,
        extra: &wgpu::Buffer,
        grads: &wgpu::Buffer,
        stats: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        let buffers = [
            &self.params,
            theta,
            extra,
            grads,
            &self.moments,
            stats,
            &self.summary,
        ];
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        self.ctx
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("optimizer bind group"),
                layout: &self.layout,
                entries: &entries,
            })
    }

    /// Writes the next step's parameters (`extra_off`: the read-out's offset in its buffer;
    /// `batch`: samples in `stats`).
    pub fn prepare(&mut self, extra_off: u32, batch: u32) {
        self.t += 1;
        let p = OptParams {
            extra_off,
            batch,
            ..OptParams::new(&self.config, self.t, self.n_theta, self.n_extra)
        };
        self.uploaded += std::mem::size_of::<OptParams>() as u64;
        self.ctx
            .queue
            .write_buffer(&self.params, 0, bytemuck::bytes_of(&p));
    }

    /// Bytes written from the host so far (80 per step: the parameters).
    pub fn uploaded_bytes(&self) -> u64 {
        self.uploaded
    }

    /// Records the step (its own compute pass) and the copy of the summary to staging.
    pub fn encode(&self, encoder: &mut wgpu::CommandEncoder, bind_group: &wgpu::BindGroup) {
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("optimizer pass"),
                timestamp_writes: None,
            });
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, bind_group, &[]);
            pass.dispatch_workgroups(1, 1, 1);
        }
        encoder.copy_buffer_to_buffer(&self.summary, 0, &self.staging, 0, SUMMARY_BYTES);
    }

    /// Reads the summary of the submitted step.
    pub fn read_summary(&self) -> Result<StepSummary, GpuError> {
        let bytes = readback::read_mapped(&self.ctx, &self.staging, SUMMARY_BYTES)?;
        let words: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes);
        Ok(StepSummary::from_words(&words))
    }

    /// The moments `(m, v)` (tests, inspection).
    pub fn moments(&self) -> Result<(Vec<f32>, Vec<f32>), GpuError> {
        let n = self.n_theta + self.n_extra;
        let bytes = readback::read_buffer(&self.ctx, &self.moments, 8 * n as u64)?;
        let all: Vec<f32> = bytemuck::pod_collect_to_vec(&bytes);
        Ok((all[..n].to_vec(), all[n..].to_vec()))
    }

    /// One step on host-given values (θ, read-out, `[gradient | loss]`), in buffers of its
    /// own: the update's test against the CPU optimiser. Returns the summary and the new θ and
    /// read-out; the moments stay on the device for the next call.
    pub fn step_host(
        &mut self,
        theta: &[f32],
        extra: &[f32],
        grads_and_loss: &[f32],
    ) -> Result<(StepSummary, Vec<f32>, Vec<f32>), GpuError> {
        if theta.len() != self.n_theta
            || extra.len() != self.n_extra
            || grads_and_loss.len() != self.n_theta + self.n_extra + 1
        {
            return Err(GpuError::Unsupported(
                "step_host: sizes do not match the optimiser".into(),
            ));
        }
        let ctx = self.ctx.clone();
        let upload = |label, v: &[f32]| {
            let b = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: (4 * v.len() as u64).max(4),
                usage: STORAGE,
                mapped_at_creation: false,
            });
            ctx.queue.write_buffer(&b, 0, bytemuck::cast_slice(v));
            b
        };
        let (tb, eb, gb, sb) = ctx.checked(|| {
            (
                upload("theta", theta),
                upload("extra", extra),
                upload("grads", grads_and_loss),
                upload("stats", &[0.0f32; 4]),
            )
        })?;
        self.prepare(0, 0);
        let bg = ctx.checked(|| self.bind_group(&tb, &eb, &gb, &sb))?;
        ctx.checked(|| {
            let mut encoder = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("optimizer step"),
                });
            self.encode(&mut encoder, &bg);
            ctx.queue.submit([encoder.finish()]);
        })?;
        let summary = self.read_summary()?;
        let f = |b: &wgpu::Buffer, n: usize| -> Result<Vec<f32>, GpuError> {
            Ok(bytemuck::pod_collect_to_vec(&readback::read_buffer(
                &ctx,
                b,
                4 * n as u64,
            )?))
        };
        let mut t = f(&tb, self.n_theta)?;
        let mut e = f(&eb, self.n_extra)?;
        t.truncate(self.n_theta);
        e.truncate(self.n_extra);
        Ok((summary, t, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Rust mirror has the WGSL struct's layout (naga's own layout of optim.wgsl).
    #[test]
    fn opt_params_layout_matches_the_wgsl_struct() {
        let module = naga::front::wgsl::parse_str(SOURCE).unwrap();
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::default(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}", e.emit_to_string(SOURCE)));
        let (_, ty) = module
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some("OptParams"))
            .unwrap();
        let naga::TypeInner::Struct { members, span } = &ty.inner else {
            panic!("OptParams is not a struct");
        };
        assert_eq!(*span as usize, std::mem::size_of::<OptParams>());
        let lr = members
            .iter()
            .find(|m| m.name.as_deref() == Some("lr"))
            .unwrap();
        assert_eq!(lr.offset as usize, std::mem::offset_of!(OptParams, lr));
        let b2 = members
            .iter()
            .find(|m| m.name.as_deref() == Some("bias2"))
            .unwrap();
        assert_eq!(b2.offset as usize, std::mem::offset_of!(OptParams, bias2));
        for k in OptimizerKind::ALL {
            let name = format!(
                "const OPT_{}: u32 = {}u;",
                k.name().to_uppercase(),
                kind_code(k)
            );
            assert!(SOURCE.contains(&name), "{name}");
        }
    }
}
