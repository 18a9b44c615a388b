//! The batched solver: pipelines compiled once per model shape, buffers allocated once per
//! batch size and reused, weights updated in place. A forward solve is one dispatch; a
//! gradient is the per-sample kernel plus one reduction dispatch; results are read back once.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::buffers::{Params, SampleStats, Sizes};
use super::codes::status;
use super::context::{GpuContext, GpuError};
use super::dataset::{DeviceSet, GatherParams, SetKind};
use super::methods::GpuGradMethod;
use super::objective::{F32_EXACT, GpuLoss, GpuObjective, data_floats};
use super::optim::{GpuOptimizer, StepSummary};
use super::readback;
use super::schedule::{AdaptiveSettings, FixedSchedule, Segment};
use super::shader::{self, Kernel, Shape, WORKGROUP};
use crate::nn::Mlp;

/// What a forward solve returns.
#[derive(Clone, Debug)]
pub struct ForwardResult {
    /// y(T), sample-major (`s · D + i`).
    pub y: Vec<f32>,
    pub stats: Vec<SampleStats>,
    /// Bytes of the GPU buffers this method uses.
    pub gpu_bytes: u64,
}

/// What a gradient returns.
#[derive(Clone, Debug)]
pub struct GradResult {
    pub loss: f64,
    /// dL/dθ summed over the batch, in the weights-file order.
    pub grad: Vec<f64>,
    /// dL/d(read-out) of cross-entropy (weight row-major, then bias), summed over the batch.
    pub readout_grad: Option<Vec<f64>>,
    /// y(T) of the forward solve (y(τ_K) for a trajectory loss), sample-major.
    pub y: Vec<f32>,
    /// Largest state-reconstruction error over the batch (adjoint, reversible-heun; else 0).
    pub recon_err: f64,
    pub stats: Vec<SampleStats>,
    pub nfe_forward: u64,
    pub nfe_backward: u64,
    pub gpu_bytes: u64,
}

/// What one run reads back: `out`, `stats`, `grad_out`.
type Readback = (Vec<f32>, Vec<SampleStats>, Vec<f32>);

struct BatchBuffers {
    batch: usize,
    /// Read-out parameters reduced after θ.
    extra: usize,
    /// Capacity of `data` in numbers.
    data_floats: u64,
    sizes: Sizes,
    data: wgpu::Buffer,
    out: wgpu::Buffer,
    stats: wgpu::Buffer,
    grad_ps: wgpu::Buffer,
    grad_ps_bytes: u64,
    traj: wgpu::Buffer,
    traj_bytes: u64,
    grad_out: wgpu::Buffer,
    staging: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
}

/// One model shape on one device.
pub struct GpuSolver {
    ctx: Arc<GpuContext>,
    shape: Shape,
    n_params: usize,
    bind_layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    pipelines: HashMap<Kernel, wgpu::ComputePipeline>,
    params: wgpu::Buffer,
    theta: wgpu::Buffer,
    buffers: Option<BatchBuffers>,
    /// The loss data uploaded with the batch.
    objective: GpuObjective,
    /// Offsets in `data`: targets (or labels), read-out, segment table.
    target_off: u32,
    readout_off: u32,
    seg_off: u32,
    /// Fill every output with NaN before each run, so unwritten elements are caught (tests).
    pub poison: bool,
    /// Checkpoints K of the `checkpoint` kernel (None: ⌈√N⌉ for N steps, as on the CPU).
    pub checkpoints: Option<usize>,
    /// Coupling λ ∈ (0, 1] of `reversible-rk4` (default as `nodelab grad`'s).
    pub lambda: f64,
    /// Bytes written from the host to this solver's buffers so far ([`GpuSolver::uploaded_bytes`]).
    uploaded: AtomicU64,
    /// The kernel parameters and the segment table last written (identical ones are not
    /// written again).
    last_params: Option<Params>,
    last_table: Vec<f32>,
    /// The training set the batch is gathered from ([`GpuSolver::attach_set`]).
    gather: Option<Gather>,
}

/// One solver's gather from a [`DeviceSet`]: its parameters, its B indices, its bind group
/// over the solver's `data` (rebuilt when `data` is reallocated).
struct Gather {
    set: Arc<DeviceSet>,
    params: wgpu::Buffer,
    indices: wgpu::Buffer,
    batch: usize,
    group: Option<wgpu::BindGroup>,
    last: Option<GatherParams>,
    /// Indices were written and not gathered yet: the next submission gathers first.
    pending: bool,
}

fn storage_entry(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_DST)
    .union(wgpu::BufferUsages::COPY_SRC);

impl GpuSolver {
    /// Prepares the bind layout for `mlp`'s shape; pipelines compile on first use.
    pub fn new(ctx: Arc<GpuContext>, mlp: &Mlp) -> Result<Self, GpuError> {
        let shape = Shape::of(mlp);
        Kernel::Rk4Forward
            .check(&shape)
            .map_err(GpuError::Unsupported)?;
        let device = &ctx.device;
        let mut entries = vec![wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        }];
        entries.push(storage_entry(1, true));
        entries.push(storage_entry(2, true));
        for b in 3..=7 {
            entries.push(storage_entry(b, false));
        }
        let (bind_layout, pipeline_layout, params, theta) = ctx.checked(|| {
            let bind_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("nodelab bindings"),
                entries: &entries,
            });
            let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("nodelab layout"),
                bind_group_layouts: &[Some(&bind_layout)],
                immediate_size: 0,
            });
            let params = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("params"),
                size: std::mem::size_of::<Params>() as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let theta = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("theta"),
                size: 4 * mlp.n_params() as u64,
                usage: STORAGE,
                mapped_at_creation: false,
            });
            (bind_layout, pipeline_layout, params, theta)
        })?;
        let solver = Self {
            n_params: mlp.n_params(),
            ctx,
            shape,
            bind_layout,
            pipeline_layout,
            pipelines: HashMap::new(),
            params,
            theta,
            buffers: None,
            objective: GpuObjective::terminal(GpuLoss::HalfSse, Vec::new()),
            target_off: 0,
            readout_off: 0,
            seg_off: 0,
            poison: false,
            checkpoints: None,
            lambda: crate::grad::GradOptions::default().lambda,
            uploaded: AtomicU64::new(0),
            last_params: None,
            last_table: Vec::new(),
            gather: None,
        };
        solver.set_weights(&mlp.params)?;
        Ok(solver)
    }

    pub fn context(&self) -> &Arc<GpuContext> {
        &self.ctx
    }

    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// Overwrites θ in place (same buffer, no reallocation).
    pub fn set_weights(&self, theta: &[f64]) -> Result<(), GpuError> {
        if theta.len() != self.n_params {
            return Err(GpuError::Unsupported(format!(
                "{} parameters given, the model has {}",
                theta.len(),
                self.n_params
            )));
        }
        let t: Vec<f32> = theta.iter().map(|&v| v as f32).collect();
        self.write(&self.theta, 0, bytemuck::cast_slice(&t));
        Ok(())
    }

    /// Uploads a batch of initial states and targets (sample-major, `batch × D` each; targets
    /// may be empty for a forward solve) for the terminal losses `half-sse` and `mse`. Buffers
    /// are reallocated only when the batch size changes.
    pub fn set_batch(&mut self, y0: &[f64], target: &[f64]) -> Result<(), GpuError> {
        if !target.is_empty() && target.len() != y0.len() {
            return Err(GpuError::Unsupported(format!(
                "{} target numbers for {} state numbers",
                target.len(),
                y0.len()
            )));
        }
        self.set_objective(
            y0,
            &GpuObjective::terminal(GpuLoss::HalfSse, target.to_vec()),
        )
    }

    /// Uploads a batch of initial states (sample-major) with the data of any loss (observation
    /// targets, or labels and read-out). Buffers are reallocated only when the batch size or the
    /// number of read-out parameters changes (or the loss data outgrows them).
    pub fn set_objective(&mut self, y0: &[f64], objective: &GpuObjective) -> Result<(), GpuError> {
        let d = self.shape.dim;
        if y0.is_empty() || !y0.len().is_multiple_of(d) {
            return Err(GpuError::Unsupported(format!(
                "the batch of initial states has {} numbers, not a positive multiple of D = {d}",
                y0.len()
            )));
        }
        let batch = y0.len() / d;
        objective.check(batch, d)?;
        let extra = objective.n_readout();
        let floats = data_floats(objective, batch, d);
        let reuse = self
            .buffers
            .as_ref()
            .is_some_and(|b| b.batch == batch && b.extra == extra && b.data_floats >= floats);
        if !reuse {
            self.check_size("data", 4 * floats)?;
            self.buffers = Some(self.allocate(batch, extra, floats, 4, 4)?);
            // A new `data`: the gather binds the old one, the segment table is not there yet.
            if let Some(g) = &mut self.gather {
                g.group = None;
            }
        }
        self.last_table.clear();
        let mut data: Vec<f32> = y0.iter().map(|&v| v as f32).collect();
        self.target_off = data.len() as u32;
        match objective.loss {
            GpuLoss::CrossEntropy => {
                data.extend(objective.labels.iter().map(|&l| l as f32));
                self.readout_off = data.len() as u32;
                data.extend(objective.readout_weight.iter().map(|&v| v as f32));
                data.extend(objective.readout_bias.iter().map(|&v| v as f32));
            }
            _ => {
                if objective.targets.is_empty() {
                    data.extend(std::iter::repeat_n(0.0, objective.n_obs() * y0.len()));
                } else {
                    data.extend(objective.targets.iter().map(|&v| v as f32));
                }
                self.readout_off = data.len() as u32;
            }
        }
        self.seg_off = data.len() as u32;
        self.objective = objective.clone();
        if let Some(b) = &self.buffers {
            self.write(&b.data, 0, bytemuck::cast_slice(&data));
        }
        Ok(())
    }

    /// The loss data of the uploaded batch.
    pub fn objective(&self) -> &GpuObjective {
        &self.objective
    }

    pub fn batch(&self) -> usize {
        self.buffers.as_ref().map_or(0, |b| b.batch)
    }

    /// Bytes of every GPU buffer this solver holds now.
    pub fn allocated_bytes(&self) -> u64 {
        let base = std::mem::size_of::<Params>() as u64 + 4 * self.n_params as u64;
        base + self.buffers.as_ref().map_or(0, |b| {
            b.sizes.data
                + b.sizes.out
                + b.sizes.stats
                + b.grad_ps_bytes
                + b.traj_bytes
                + b.sizes.grad_out
                + b.sizes.staging
        })
    }

    /// Bytes of the GPU buffers `method` (None: a forward solve) uses for `batch` samples and
    /// `n_steps` fixed steps, with the uploaded batch's loss.
    pub fn method_bytes(&self, method: Option<GpuGradMethod>, batch: usize, n_steps: u32) -> u64 {
        let d = self.shape.dim;
        let obj = &self.objective;
        let sizes = Sizes::new(
            batch,
            d,
            self.n_params,
            obj.n_readout(),
            data_floats(obj, batch, d),
        );
        match method {
            None => sizes.common(),
            Some(m) => {
                let stride = checkpoint_stride(n_steps, self.checkpoints);
                sizes.gradient() + traj_bytes(m, batch, d, n_steps, obj.n_obs() as u32, stride)
            }
        }
    }

    fn buffer(&self, label: &str, size: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: size.max(4),
            usage,
            mapped_at_creation: false,
        })
    }

    fn check_size(&self, what: &str, bytes: u64) -> Result<(), GpuError> {
        let limit = self
            .ctx
            .limits
            .max_storage_buffer_binding_size
            .min(self.ctx.limits.max_buffer_size);
        if bytes > limit {
            return Err(GpuError::Unsupported(format!(
                "the {what} buffer needs {bytes} bytes, above this adapter's limit of {limit} \
                 bytes (use a smaller batch or fewer steps)"
            )));
        }
        Ok(())
    }

    fn allocate(
        &self,
        batch: usize,
        extra: usize,
        data_floats: u64,
        grad_ps_bytes: u64,
        traj_bytes: u64,
    ) -> Result<BatchBuffers, GpuError> {
        let sizes = Sizes::new(batch, self.shape.dim, self.n_params, extra, data_floats);
        self.check_size("state", sizes.data)?;
        self.check_size("per-sample gradient", grad_ps_bytes)?;
        self.check_size("trajectory", traj_bytes)?;
        self.ctx.checked(|| {
            let data = self.buffer("data", sizes.data, STORAGE);
            let out = self.buffer("out", sizes.out, STORAGE);
            let stats = self.buffer("stats", sizes.stats, STORAGE);
            let grad_ps = self.buffer("grad_ps", grad_ps_bytes, STORAGE);
            let traj = self.buffer("traj", traj_bytes, STORAGE);
            let grad_out = self.buffer("grad_out", sizes.grad_out, STORAGE);
            let staging = self.buffer(
                "staging",
                sizes.staging,
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            );
            let bind_group = self.bind_group(&data, &out, &stats, &grad_ps, &traj, &grad_out);
            BatchBuffers {
                batch,
                extra,
                data_floats,
                sizes,
                data,
                out,
                stats,
                grad_ps,
                grad_ps_bytes: grad_ps_bytes.max(4),
                traj,
                traj_bytes: traj_bytes.max(4),
                grad_out,
                staging,
                bind_group,
            }
        })
    }

    fn bind_group(
        &self,
        data: &wgpu::Buffer,
        out: &wgpu::Buffer,
        stats: &wgpu::Buffer,
        grad_ps: &wgpu::Buffer,
        traj: &wgpu::Buffer,
        grad_out: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        let buffers = [
            &self.params,
            &self.theta,
            data,
            out,
            stats,
            grad_ps,
            traj,
            grad_out,
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
                label: Some("nodelab bind group"),
                layout: &self.bind_layout,
                entries: &entries,
            })
    }

    /// Grows the per-sample-gradient and trajectory buffers to what a method needs (once per
    /// batch size and step count; later calls reuse them).
    fn ensure_gradient_buffers(&mut self, traj_needed: u64) -> Result<(), GpuError> {
        let Some(b) = &self.buffers else {
            return Err(GpuError::Unsupported("no batch was uploaded".into()));
        };
        let grad_needed = b.sizes.grad_ps;
        if b.grad_ps_bytes >= grad_needed && b.traj_bytes >= traj_needed {
            return Ok(());
        }
        let grad_bytes = grad_needed.max(b.grad_ps_bytes);
        let traj = traj_needed.max(b.traj_bytes);
        self.check_size("per-sample gradient", grad_bytes)?;
        self.check_size("trajectory", traj)?;
        let (grad_ps, traj_buf) = self.ctx.checked(|| {
            (
                self.buffer("grad_ps", grad_bytes, STORAGE),
                self.buffer("traj", traj, STORAGE),
            )
        })?;
        let bind_group = {
            let b = self
                .buffers
                .as_ref()
                .ok_or_else(|| GpuError::Unsupported("no batch was uploaded".into()))?;
            self.ctx.checked(|| {
                self.bind_group(&b.data, &b.out, &b.stats, &grad_ps, &traj_buf, &b.grad_out)
            })?
        };
        if let Some(b) = &mut self.buffers {
            b.grad_ps = grad_ps;
            b.grad_ps_bytes = grad_bytes;
            b.traj = traj_buf;
            b.traj_bytes = traj;
            b.bind_group = bind_group;
        }
        Ok(())
    }

    fn pipeline(&mut self, kernel: Kernel) -> Result<(), GpuError> {
        if self.pipelines.contains_key(&kernel) {
            return Ok(());
        }
        kernel.check(&self.shape).map_err(GpuError::Unsupported)?;
        let src = shader::source(kernel, &self.shape).map_err(GpuError::Unsupported)?;
        let device = &self.ctx.device;
        let layout = &self.pipeline_layout;
        // A shader translator bug surfaces as a panic inside wgpu: turn it into an error value.
        let build = std::panic::AssertUnwindSafe(|| {
            self.ctx.checked(|| {
                let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(kernel.entry_point()),
                    source: wgpu::ShaderSource::Wgsl(src.into()),
                });
                device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(kernel.entry_point()),
                    layout: Some(layout),
                    module: &module,
                    entry_point: Some(kernel.entry_point()),
                    compilation_options: Default::default(),
                    cache: None,
                })
            })
        });
        let pipeline = std::panic::catch_unwind(build).map_err(|_| {
            GpuError::Validation(format!(
                "the shader translator failed on {} (see the message above)",
                kernel.entry_point()
            ))
        })??;
        self.pipelines.insert(kernel, pipeline);
        Ok(())
    }

    /// Compiles every pipeline now (otherwise each compiles on first use).
    pub fn warm_up(&mut self) -> Result<(), GpuError> {
        for k in Kernel::ALL {
            if k.check(&self.shape).is_ok() {
                self.pipeline(k)?;
            }
        }
        Ok(())
    }

    fn poison_outputs(&self) {
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

    /// Writes `params`, dispatches `kernels` in order (one compute pass), copies the outputs to
    /// the staging buffer and reads them back: `(out, stats, grad_out)`.
    fn run(&mut self, params: Params, kernels: &[(Kernel, u32)]) -> Result<Readback, GpuError> {
        let max_groups = self.ctx.limits.max_compute_workgroups_per_dimension;
        for &(k, groups) in kernels {
            if groups > max_groups {
                return Err(GpuError::Unsupported(format!(
                    "{groups} workgroups exceed this adapter's limit of {max_groups} per dispatch \
                     (batch too large)"
                )));
            }
            self.pipeline(k)?;
        }
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
        ctx.checked(|| {
            let mut encoder = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("nodelab solve"),
                });
            if let Some((set, group, batch)) = &gather {
                set.encode(&mut encoder, group, *batch);
            }
            {
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
            encoder.copy_buffer_to_buffer(&b.out, 0, &b.staging, 0, s.out);
            encoder.copy_buffer_to_buffer(&b.stats, 0, &b.staging, s.out, s.stats);
            encoder.copy_buffer_to_buffer(&b.grad_out, 0, &b.staging, s.out + s.stats, s.grad_out);
            ctx.queue.submit([encoder.finish()]);
        })?;
        let bytes = readback::read_mapped(ctx, &b.staging, s.staging)?;
        let (o, rest) = bytes.split_at(s.out as usize);
        let (st, g) = rest.split_at(s.stats as usize);
        Ok((
            bytemuck::pod_collect_to_vec::<u8, f32>(o),
            bytemuck::pod_collect_to_vec::<u8, SampleStats>(st),
            bytemuck::pod_collect_to_vec::<u8, f32>(g),
        ))
    }

    fn groups(&self) -> u32 {
        (self.batch() as u32).div_ceil(WORKGROUP)
    }

    fn base_params(&self) -> Params {
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
    fn loss_code(&self, loss: GpuLoss) -> Result<u32, GpuError> {
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

    /// `[t0, τ_1, …, τ_K]` (`[t0, t1]` for the losses on y(T)), checked against the span.
    fn observation_ends(&self, t0: f64, t1: f64) -> Result<Vec<f64>, GpuError> {
        let mut ends = vec![t0];
        if self.objective.loss == GpuLoss::TrajectoryMse {
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

    fn fixed_params(&self, sched: &FixedSchedule) -> Params {
        Params {
            n_steps: sched.n_steps,
            t0: sched.t0 as f32,
            t1: sched.t1 as f32,
            h: sched.h as f32,
            h_last: sched.h_last() as f32,
            ..self.base_params()
        }
    }

    /// Fixed-step RK4 forward solve of the uploaded batch (one dispatch).
    pub fn forward_rk4(&mut self, sched: &FixedSchedule) -> Result<ForwardResult, GpuError> {
        let params = self.fixed_params(sched);
        let groups = self.groups();
        let (out, stats, _) = self.run(params, &[(Kernel::Rk4Forward, groups)])?;
        check_complete(&stats, &self.ctx.adapter.name)?;
        let n = self.batch() * self.shape.dim;
        Ok(ForwardResult {
            y: out[..n].to_vec(),
            stats,
            gpu_bytes: self.method_bytes(None, self.batch(), sched.n_steps),
        })
    }

    /// Zero-cost adaptive RK4 (robust estimator), every sample with its own step size (one
    /// dispatch).
    pub fn forward_zc_rk4(&mut self, set: &AdaptiveSettings) -> Result<ForwardResult, GpuError> {
        let params = self.adaptive_params(set);
        let groups = self.groups();
        let (out, stats, _) = self.run(params, &[(Kernel::ZcRk4Forward, groups)])?;
        check_complete(&stats, &self.ctx.adapter.name)?;
        let n = self.batch() * self.shape.dim;
        Ok(ForwardResult {
            y: out[..n].to_vec(),
            stats,
            gpu_bytes: self.method_bytes(None, self.batch(), 0),
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
        self.ensure_gradient_buffers(4)?;
        let params = Params {
            loss_kind,
            ..self.adaptive_params(set)
        };
        let groups = self.groups();
        let rows = self.reduce_rows();
        let (out, stats, grad_out) = self.run(
            params,
            &[(Kernel::AfgeAdaptive, groups), (Kernel::Reduce, rows)],
        )?;
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
            gpu_bytes: self.method_bytes(Some(GpuGradMethod::Afge), batch, 0),
        })
    }

    fn adaptive_params(&self, set: &AdaptiveSettings) -> Params {
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
    fn reduce_rows(&self) -> u32 {
        (self.n_params + self.objective.n_readout()) as u32 + 1
    }

    /// `(L, dL/dθ, dL/d(read-out))` from the reduced row sums.
    fn split_grad_out(&self, grad_out: &[f32]) -> (f64, Vec<f64>, Option<Vec<f64>>) {
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
    /// (written to `data`), buffers large enough, and the kernel's parameters.
    fn prepare_gradient(
        &mut self,
        method: GpuGradMethod,
        sched: &FixedSchedule,
        loss: GpuLoss,
    ) -> Result<(Params, u32), GpuError> {
        let loss_kind = self.loss_code(loss)?;
        let segs = self.segments(method, sched)?;
        let n_steps: u32 = segs.iter().map(|g| g.n).sum();
        let (batch, d) = (self.batch(), self.shape.dim);
        let k_obs = segs.len() as u32;
        let stride = checkpoint_stride(n_steps, self.checkpoints);
        self.ensure_gradient_buffers(traj_bytes(method, batch, d, n_steps, k_obs, stride).max(4))?;
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
        let params = Params {
            loss_kind,
            n_steps,
            obs_off,
            // The checkpoint kernel reads its stride here (no fixed-step kernel uses max_steps),
            // reversible-rk4 its λ (no fixed-step kernel has an initial step).
            max_steps: stride,
            h0: self.lambda as f32,
            ..self.fixed_params(sched)
        };
        Ok((params, n_steps))
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
        let (params, n_steps) = self.prepare_gradient(method, sched, loss)?;
        let (batch, d) = (self.batch(), self.shape.dim);
        let groups = self.groups();
        let rows = self.reduce_rows();
        let (out, stats, grad_out) =
            self.run(params, &[(method.kernel(), groups), (Kernel::Reduce, rows)])?;
        check_solved(&stats, &self.ctx.adapter.name)?;
        let n = batch * d;
        let recon_err = out[n + batch..n + 2 * batch].iter().fold(0.0f64, |m, &v| {
            if v.is_nan() {
                f64::NAN
            } else {
                m.max(f64::from(v))
            }
        });
        let (f, bk) = method.nfe_per_step();
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
            gpu_bytes: self.method_bytes(Some(method), batch, n_steps),
        })
    }

    /// A solver for the same shape on the same device that shares this one's compiled
    /// pipelines and bind layouts (one compilation per device and shape), with its own θ and
    /// buffers.
    pub fn sibling(&self, mlp: &Mlp) -> Result<Self, GpuError> {
        if Shape::of(mlp) != self.shape {
            return Err(GpuError::Unsupported(
                "a sibling solver needs the same model shape".into(),
            ));
        }
        let theta = self
            .ctx
            .checked(|| self.buffer("theta", 4 * mlp.n_params() as u64, STORAGE))?;
        let solver = Self {
            ctx: self.ctx.clone(),
            shape: self.shape.clone(),
            n_params: self.n_params,
            bind_layout: self.bind_layout.clone(),
            pipeline_layout: self.pipeline_layout.clone(),
            pipelines: self.pipelines.clone(),
            params: self.ctx.checked(|| {
                self.buffer(
                    "params",
                    std::mem::size_of::<Params>() as u64,
                    wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                )
            })?,
            theta,
            buffers: None,
            objective: GpuObjective::terminal(GpuLoss::HalfSse, Vec::new()),
            target_off: 0,
            readout_off: 0,
            seg_off: 0,
            poison: false,
            checkpoints: None,
            lambda: crate::grad::GradOptions::default().lambda,
            uploaded: AtomicU64::new(0),
            last_params: None,
            last_table: Vec::new(),
            gather: None,
        };
        solver.set_weights(&mlp.params)?;
        Ok(solver)
    }

    /// Compiles `kernel`'s pipeline now (training compiles before its first timed iteration).
    pub fn compile(&mut self, kernel: Kernel) -> Result<(), GpuError> {
        self.pipeline(kernel)
    }

    /// Overwrites the uploaded batch's initial states and targets or labels in place, keeping
    /// the read-out that lives in `data` (the optimiser updates it there). The batch size and
    /// the loss must be those of the last [`GpuSolver::set_objective`].
    pub fn write_batch(&mut self, y0: &[f64], objective: &GpuObjective) -> Result<(), GpuError> {
        let d = self.shape.dim;
        let Some(b) = &self.buffers else {
            return Err(GpuError::Unsupported("no batch was uploaded".into()));
        };
        if y0.len() != b.batch * d || objective.loss != self.objective.loss {
            return Err(GpuError::Unsupported(format!(
                "write_batch: {} state numbers with {} for a batch of {} × {d} with {}",
                y0.len(),
                objective.loss.name(),
                b.batch,
                self.objective.loss.name()
            )));
        }
        objective.check(b.batch, d)?;
        let states: Vec<f32> = y0.iter().map(|&v| v as f32).collect();
        let loss_data: Vec<f32> = match objective.loss {
            GpuLoss::CrossEntropy => objective.labels.iter().map(|&l| l as f32).collect(),
            _ => objective.targets.iter().map(|&v| v as f32).collect(),
        };
        self.write(&b.data, 0, bytemuck::cast_slice(&states));
        if !loss_data.is_empty() {
            self.write(
                &b.data,
                4 * u64::from(self.target_off),
                bytemuck::cast_slice(&loss_data),
            );
        }
        self.objective.labels.clone_from(&objective.labels);
        self.objective.targets.clone_from(&objective.targets);
        if let Some(g) = &mut self.gather {
            g.pending = false;
        }
        Ok(())
    }

    /// Writes `bytes` to `buf` at `offset`, counted in [`GpuSolver::uploaded_bytes`].
    fn write(&self, buf: &wgpu::Buffer, offset: u64, bytes: &[u8]) {
        self.uploaded
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.ctx.queue.write_buffer(buf, offset, bytes);
    }

    /// Writes the kernel parameters unless they are those already on the device.
    fn write_params(&mut self, params: Params) {
        if self.last_params != Some(params) {
            self.write(&self.params, 0, bytemuck::bytes_of(&params));
            self.last_params = Some(params);
        }
    }

    /// Writes the segment table into `data` unless it is the one already there.
    fn write_table(&mut self, table: Vec<f32>) {
        if table == self.last_table {
            return;
        }
        if let Some(b) = &self.buffers {
            self.write(
                &b.data,
                4 * u64::from(self.seg_off),
                bytemuck::cast_slice(&table),
            );
            self.last_table = table;
        }
    }

    /// Bytes written from the host to this solver's buffers since it was made: weights, batch
    /// uploads, indices, kernel parameters, segment tables (the training set, uploaded once
    /// through [`DeviceSet::upload`], is not counted here).
    pub fn uploaded_bytes(&self) -> u64 {
        self.uploaded.load(Ordering::Relaxed)
    }

    /// From now on the batch can be gathered from `set` by index ([`GpuSolver::select_batch`]).
    /// The batch size and loss are those of the last [`GpuSolver::set_objective`]: classes
    /// need cross-entropy, windows of K observations a loss with K observations.
    pub fn attach_set(&mut self, set: Arc<DeviceSet>) -> Result<(), GpuError> {
        let Some(b) = &self.buffers else {
            return Err(GpuError::Unsupported(
                "attach_set: upload a first batch (set_objective) before".into(),
            ));
        };
        let fits = match set.kind {
            SetKind::Classes => self.objective.loss == GpuLoss::CrossEntropy,
            SetKind::Windows { n_obs } => {
                self.objective.loss != GpuLoss::CrossEntropy && self.objective.n_obs() == n_obs
            }
        };
        if !fits || set.dim != self.shape.dim {
            return Err(GpuError::Unsupported(format!(
                "a training set of {:?} with D = {} does not fit the {} loss with {} \
                 observation(s) and D = {}",
                set.kind,
                set.dim,
                self.objective.loss.name(),
                self.objective.n_obs(),
                self.shape.dim
            )));
        }
        let batch = b.batch;
        let (params, indices) = self.ctx.checked(|| {
            (
                self.buffer(
                    "gather params",
                    std::mem::size_of::<GatherParams>() as u64,
                    wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                ),
                self.buffer("batch indices", 4 * batch as u64, STORAGE),
            )
        })?;
        self.gather = Some(Gather {
            set,
            params,
            indices,
            batch,
            group: None,
            last: None,
            pending: false,
        });
        Ok(())
    }

    /// Selects the batch by index into the attached training set: writes the B indices (the
    /// only per-iteration upload of the batch, 4·B bytes); the next gradient or training step
    /// gathers the initial states and the labels or targets on the device first.
    pub fn select_batch(&mut self, indices: &[u32]) -> Result<(), GpuError> {
        let batch = self.batch();
        let target_off = self.target_off;
        let Some(g) = &self.gather else {
            return Err(GpuError::Unsupported("no training set is attached".into()));
        };
        if indices.len() != g.batch || g.batch != batch {
            return Err(GpuError::Unsupported(format!(
                "{} indices for a batch of {batch}",
                indices.len()
            )));
        }
        g.set.check_indices(indices)?;
        let params = g.set.params(batch, target_off);
        self.write(&g.indices, 0, bytemuck::cast_slice(indices));
        if g.last != Some(params) {
            self.write(&g.params, 0, bytemuck::bytes_of(&params));
        }
        if let Some(g) = &mut self.gather {
            g.last = Some(params);
            g.pending = true;
        }
        Ok(())
    }

    /// The pending gather's pipeline owner, bind group and batch (None: nothing to gather),
    /// marked done.
    fn take_gather(&mut self) -> Result<Option<(Arc<DeviceSet>, wgpu::BindGroup, u32)>, GpuError> {
        let Some(data) = self.buffers.as_ref().map(|b| b.data.clone()) else {
            return Ok(None);
        };
        let Some(g) = &mut self.gather else {
            return Ok(None);
        };
        if !g.pending {
            return Ok(None);
        }
        if g.group.is_none() {
            let group = self
                .ctx
                .checked(|| g.set.bind_group(&g.params, &g.indices, &data))?;
            g.group = Some(group);
        }
        g.pending = false;
        Ok(g.group
            .clone()
            .map(|group| (g.set.clone(), group, g.batch as u32)))
    }

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
        let (params, _) = self.prepare_gradient(method, sched, loss)?;
        let groups = self.groups();
        let rows = self.reduce_rows();
        let kernels = [(method.kernel(), groups), (Kernel::Reduce, rows)];
        let max_groups = self.ctx.limits.max_compute_workgroups_per_dimension;
        for &(k, g) in &kernels {
            if g > max_groups {
                return Err(GpuError::Unsupported(format!(
                    "{g} workgroups exceed this adapter's limit of {max_groups} per dispatch \
                     (batch too large)"
                )));
            }
            self.pipeline(k)?;
        }
        self.write_params(params);
        let gather = self.take_gather()?;
        let b = self
            .buffers
            .as_ref()
            .ok_or_else(|| GpuError::Unsupported("no batch was uploaded".into()))?;
        opt.prepare(self.readout_off, b.batch as u32);
        let ctx = &self.ctx;
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
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("nodelab gradient pass"),
                    timestamp_writes: None,
                });
                pass.set_bind_group(0, &b.bind_group, &[]);
                for (k, groups) in &kernels {
                    if let Some(p) = self.pipelines.get(k) {
                        pass.set_pipeline(p);
                        pass.dispatch_workgroups(*groups, 1, 1);
                    }
                }
            }
            opt.encode(&mut encoder, &opt_group);
            ctx.queue.submit([encoder.finish()]);
        })?;
        opt.read_summary()
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
        Ok(self.method_bytes(Some(method), self.batch(), n_steps))
    }
}

/// A driver that cut a kernel's loops short (status 4) makes the whole result wrong: an error.
fn check_complete(stats: &[SampleStats], adapter: &str) -> Result<(), GpuError> {
    let cut = stats
        .iter()
        .filter(|s| s.status == status::INCOMPLETE)
        .count();
    if cut > 0 {
        return Err(GpuError::Unsupported(format!(
            "the driver ({adapter}) stopped the kernel's loops early on {cut} of {} samples              (software Vulkan drivers cap one invocation at 65 535 loop iterations): use fewer              steps, a smaller network or a hardware adapter",
            stats.len()
        )));
    }
    Ok(())
}

/// Steps per checkpoint of the `checkpoint` kernel: ⌈N/K⌉, K = ⌈√N⌉ by default (as
/// nodelab::grad::checkpoint).
fn checkpoint_stride(n_steps: u32, k: Option<usize>) -> u32 {
    let n = n_steps.max(1) as usize;
    let k = k
        .unwrap_or_else(|| (n as f64).sqrt().ceil() as usize)
        .clamp(1, n);
    n.div_ceil(k).max(1) as u32
}

/// A gradient is only as good as every sample's solve: besides loops cut short, any sample
/// that failed (non-finite state, step underflow, max_steps) makes the result an error, not a
/// number.
fn check_solved(stats: &[SampleStats], adapter: &str) -> Result<(), GpuError> {
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

/// Bytes of `traj` a gradient kernel needs: backprop the start state of every step, then
/// ∂L/∂y at every observation; checkpoint its checkpoints, one chunk's tape and ∂L/∂y at the
/// observations; adjoint the states and ∂L/∂y at the observations;
/// reversible-heun ∂L/∂x at the observations; afge nothing.
fn traj_bytes(
    method: GpuGradMethod,
    batch: usize,
    dim: usize,
    n_steps: u32,
    k_obs: u32,
    stride: u32,
) -> u64 {
    let per = 4 * batch as u64 * dim as u64;
    match method {
        GpuGradMethod::Backprop => per * (u64::from(n_steps) + u64::from(k_obs)),
        GpuGradMethod::Checkpoint => {
            per * (u64::from(n_steps.div_ceil(stride)) + u64::from(stride) + u64::from(k_obs))
        }
        GpuGradMethod::Adjoint => per * 2 * u64::from(k_obs),
        GpuGradMethod::ReversibleHeun | GpuGradMethod::Alf | GpuGradMethod::ReversibleRk4 => {
            per * u64::from(k_obs)
        }
        GpuGradMethod::Afge => 0,
    }
}
