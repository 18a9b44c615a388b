//! The solver's device buffers and their byte accounting: allocation (checked against the
//! adapter's limits), the bind group over them, growing the gradient buffers, and the bytes a
//! method needs or the solver holds.

use super::{BatchBuffers, GpuSolver, STORAGE};
use std::sync::atomic::Ordering;

use crate::gpu::buffers::{Params, Sizes};
use crate::gpu::context::GpuError;
use crate::gpu::methods::GpuGradMethod;
use crate::gpu::objective::data_floats;
use crate::gpu::shader::Kernel;
use crate::gpu::stages::FixedRk;

/// A device buffer of at least 4 bytes (wgpu refuses empty bindings).
pub(super) fn new_buffer(
    device: &wgpu::Device,
    label: &str,
    size: u64,
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: size.max(4),
        usage,
        mapped_at_creation: false,
    })
}

impl GpuSolver {
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
    /// `n_steps` fixed RK4 steps, with the uploaded batch's loss ([`GpuSolver::method_bytes_rk`]).
    pub fn method_bytes(&self, method: Option<GpuGradMethod>, batch: usize, n_steps: u32) -> u64 {
        self.method_bytes_rk(method, FixedRk::Rk4, batch, n_steps)
    }

    /// Bytes of the GPU buffers `method` (None: a forward solve) uses for `batch` samples and
    /// `n_steps` fixed steps of `rk`, with the uploaded batch's loss: the common buffers, the
    /// gradient buffers, the method's trajectory and, when the run is cut into step chunks,
    /// the live state kept between them ([`super::chunks`]).
    pub fn method_bytes_rk(
        &self,
        method: Option<GpuGradMethod>,
        rk: FixedRk,
        batch: usize,
        n_steps: u32,
    ) -> u64 {
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
            None => sizes.common() + self.live_bytes(Kernel::Rk4Forward, n_steps, batch),
            Some(m) => {
                let stride = checkpoint_stride(n_steps, self.checkpoints);
                let live = m
                    .kernel(rk)
                    .map_or(0, |k| self.live_bytes(k, n_steps, batch));
                sizes.gradient()
                    + traj_bytes(m, batch, d, n_steps, obj.n_obs() as u32, stride)
                    + live
            }
        }
    }

    pub(super) fn buffer(&self, label: &str, size: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        new_buffer(&self.ctx.device, label, size, usage)
    }

    pub(super) fn check_size(&self, what: &str, bytes: u64) -> Result<(), GpuError> {
        let (limit, name) = super::limits::storage_limit(&self.ctx.limits);
        if bytes > limit {
            return Err(GpuError::Unsupported(format!(
                "the {what} buffer needs {bytes} bytes, above this adapter's {name} of {limit} \
                 bytes: use a smaller batch, fewer steps, or the checkpoint method (its tape \
                 holds ~2√N states instead of N)"
            )));
        }
        Ok(())
    }

    pub(super) fn allocate(
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

    pub(super) fn bind_group(
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
    pub(super) fn ensure_gradient_buffers(&mut self, traj_needed: u64) -> Result<(), GpuError> {
        let grad_needed = self.buffers.as_ref().map_or(0, |b| b.sizes.grad_ps);
        self.ensure_buffers(grad_needed, traj_needed)
    }

    /// Grows the per-sample-gradient buffer to `grad_needed` and the trajectory buffer to
    /// `traj_needed` bytes (at least; each checked against the adapter's limits first).
    pub(super) fn ensure_buffers(
        &mut self,
        grad_needed: u64,
        traj_needed: u64,
    ) -> Result<(), GpuError> {
        let Some(b) = &self.buffers else {
            return Err(GpuError::Unsupported("no batch was uploaded".into()));
        };
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

    /// Bytes written from the host to this solver's buffers since it was made: weights, batch
    /// uploads, indices, kernel parameters, segment tables (the training set, uploaded once
    /// through [`crate::gpu::dataset::DeviceSet::upload`], is not counted here).
    pub fn uploaded_bytes(&self) -> u64 {
        self.uploaded.load(Ordering::Relaxed)
    }
}

/// Steps per checkpoint of the `checkpoint` kernel: ⌈N/K⌉, K = ⌈√N⌉ by default (as
/// nodelab::grad::checkpoint).
pub(super) fn checkpoint_stride(n_steps: u32, k: Option<usize>) -> u32 {
    let n = n_steps.max(1) as usize;
    let k = k
        .unwrap_or_else(|| (n as f64).sqrt().ceil() as usize)
        .clamp(1, n);
    n.div_ceil(k).max(1) as u32
}

/// Bytes of `traj` a gradient kernel needs: backprop the start state of every step, then
/// ∂L/∂y at every observation; checkpoint its checkpoints, one chunk's tape and ∂L/∂y at the
/// observations; adjoint the states and ∂L/∂y at the observations;
/// reversible-heun ∂L/∂x at the observations; afge nothing.
pub(super) fn traj_bytes(
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
        GpuGradMethod::ReversibleHeun
        | GpuGradMethod::Alf
        | GpuGradMethod::ReversibleRk4
        | GpuGradMethod::ReversibleMidpoint => per * u64::from(k_obs),
        GpuGradMethod::Afge => 0,
    }
}
