//! The batched solver: pipelines compiled once per model shape, buffers allocated once per
//! batch size and reused, weights updated in place. A forward solve is one submission of one
//! or more dispatches (step chunks, [`chunks`]); a gradient is the per-sample kernel's
//! dispatches plus one reduction dispatch; results are read back once.
//!
//! [`GpuSolver`] is defined here with its construction; its methods are grouped by concern:
//! `memory` (buffers and their byte accounting), `upload` (host → device writes: weights,
//! batches, kernel parameters), `pipelines` (bind layouts and the pipeline cache),
//! `dispatch` (one submission: write, dispatch, copy, read back), `chunks` (one dispatch's
//! work bounded: step chunks), `timing` (each dispatch measured with GPU timestamps), `limits` (the adapter's limits checked before any buffer or
//! dispatch), `solves` (forward solves
//! and gradients: segments, parameters, results), `gather` (the batch gathered by index from a
//! training set on the device) and `optim_step` (a training iteration with the optimiser in
//! the same submission).
//!
//! May import the rest of `gpu`, `nn` and `grad` (for defaults); never `train`, `cli` or `app`.

pub mod chunks;
mod dispatch;
mod gather;
mod limits;
mod memory;
mod optim_step;
mod pipelines;
mod solves;
pub mod timing;
mod upload;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use super::buffers::{Params, SampleStats, Sizes};
use super::context::{GpuContext, GpuError};
use super::layout::Shape;
use super::objective::{GpuLoss, GpuObjective};
use super::shader::Kernel;
use crate::nn::Mlp;
use gather::Gather;
pub use solves::FieldProbe;

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
    /// Seconds spent building pipelines ([`GpuSolver::build_seconds`]).
    build_seconds: f64,
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
    /// Steps per dispatch of the chunked kernels ([`chunks`]); None: the estimate of
    /// [`chunks::estimated_chunk`]. Starts from `NODELAB_GPU_CHUNK_STEPS` when that is set.
    pub chunk_steps: Option<u32>,
    /// Bytes written from the host to this solver's buffers so far ([`GpuSolver::uploaded_bytes`]).
    uploaded: AtomicU64,
    /// The kernel parameters and the segment table last written (identical ones are not
    /// written again).
    last_params: Option<Params>,
    last_table: Vec<f32>,
    /// The training set the batch is gathered from ([`GpuSolver::attach_set`]).
    gather: Option<Gather>,
}

const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_DST)
    .union(wgpu::BufferUsages::COPY_SRC);

impl GpuSolver {
    /// Prepares the bind layout for `mlp`'s shape; pipelines compile on first use.
    pub fn new(ctx: Arc<GpuContext>, mlp: &Mlp) -> Result<Self, GpuError> {
        Self::for_field(ctx, mlp, false)
    }

    /// A solver of `mlp`'s CNF field (`density`: the state is `[z, ℓ]`, the kernels integrate
    /// `[f, tr ∂f/∂z]` and train the nll loss) or of its plain field ([`GpuSolver::new`]).
    pub fn for_field(ctx: Arc<GpuContext>, mlp: &Mlp, density: bool) -> Result<Self, GpuError> {
        let shape = Shape::of_field(mlp, density);
        limits::check_device(&ctx.limits)?;
        Kernel::Rk4Forward
            .check(&shape)
            .map_err(GpuError::Unsupported)?;
        let (bind_layout, pipeline_layout) = pipelines::layouts(&ctx)?;
        Self::with_layouts(
            ctx,
            shape,
            bind_layout,
            pipeline_layout,
            HashMap::new(),
            mlp,
        )
    }

    /// A solver for the same shape on the same device that shares this one's compiled
    /// pipelines and bind layouts (one compilation per device and shape), with its own θ and
    /// buffers.
    pub fn sibling(&self, mlp: &Mlp) -> Result<Self, GpuError> {
        if Shape::of_field(mlp, self.shape.trace) != self.shape {
            return Err(GpuError::Unsupported(
                "a sibling solver needs the same model shape".into(),
            ));
        }
        Self::with_layouts(
            self.ctx.clone(),
            self.shape.clone(),
            self.bind_layout.clone(),
            self.pipeline_layout.clone(),
            self.pipelines.clone(),
            mlp,
        )
    }

    /// A solver over the given layouts and compiled pipelines, with its own kernel-parameter
    /// and θ buffers (θ written from `mlp`) and no batch yet: what [`GpuSolver::new`] and
    /// [`GpuSolver::sibling`] share.
    fn with_layouts(
        ctx: Arc<GpuContext>,
        shape: Shape,
        bind_layout: wgpu::BindGroupLayout,
        pipeline_layout: wgpu::PipelineLayout,
        pipelines: HashMap<Kernel, wgpu::ComputePipeline>,
        mlp: &Mlp,
    ) -> Result<Self, GpuError> {
        let n_params = mlp.n_params();
        let (params, theta) = ctx.checked(|| {
            (
                memory::new_buffer(
                    &ctx.device,
                    "params",
                    std::mem::size_of::<Params>() as u64,
                    wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                ),
                memory::new_buffer(&ctx.device, "theta", 4 * n_params as u64, STORAGE),
            )
        })?;
        let solver = Self {
            n_params,
            ctx,
            shape,
            bind_layout,
            pipeline_layout,
            pipelines,
            build_seconds: 0.0,
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
            chunk_steps: chunks::env_chunk(),
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

    /// The loss data of the uploaded batch.
    pub fn objective(&self) -> &GpuObjective {
        &self.objective
    }

    pub fn batch(&self) -> usize {
        self.buffers.as_ref().map_or(0, |b| b.batch)
    }
}
