//! The adapter's limits checked before any buffer is created or any kernel dispatched: a model
//! or batch that does not fit is refused with the limit's name, what is needed and what to
//! change — never a wgpu validation error.

use super::GpuSolver;
use crate::gpu::buffers::Sizes;
use crate::gpu::context::GpuError;
use crate::gpu::shader::WORKGROUP;

/// Storage buffers one solver kernel binds (θ, data, out, stats, grad_ps, traj, grad_out); the
/// optimiser's kernel binds six.
pub const STORAGE_BINDINGS: u32 = 7;

fn refuse(limit: &str, have: u64, need: u64, change: &str) -> GpuError {
    GpuError::Unsupported(format!(
        "this adapter's {limit} is {have}, the GPU kernels need {need}: {change}"
    ))
}

/// What every kernel needs from the device whatever the batch: its workgroup size and its
/// storage bindings.
pub(super) fn check_device(limits: &wgpu::Limits) -> Result<(), GpuError> {
    let no_fix = "this adapter cannot run nodelab's kernels (use --device cpu)";
    if limits.max_compute_workgroup_size_x < WORKGROUP {
        return Err(refuse(
            "max_compute_workgroup_size_x",
            limits.max_compute_workgroup_size_x.into(),
            WORKGROUP.into(),
            no_fix,
        ));
    }
    if limits.max_compute_invocations_per_workgroup < WORKGROUP {
        return Err(refuse(
            "max_compute_invocations_per_workgroup",
            limits.max_compute_invocations_per_workgroup.into(),
            WORKGROUP.into(),
            no_fix,
        ));
    }
    if limits.max_storage_buffers_per_shader_stage < STORAGE_BINDINGS {
        return Err(refuse(
            "max_storage_buffers_per_shader_stage",
            limits.max_storage_buffers_per_shader_stage.into(),
            STORAGE_BINDINGS.into(),
            no_fix,
        ));
    }
    Ok(())
}

/// The largest storage binding (and buffer) the device allows.
pub(super) fn storage_limit(limits: &wgpu::Limits) -> (u64, &'static str) {
    let binding = limits.max_storage_buffer_binding_size;
    if binding <= limits.max_buffer_size {
        (binding, "max_storage_buffer_binding_size")
    } else {
        (limits.max_buffer_size, "max_buffer_size")
    }
}

impl GpuSolver {
    /// A batch of `batch` samples with `data_floats` numbers of input data fits: its workgroups
    /// per dispatch (the per-sample kernels and the reduction's rows) and the buffers allocated
    /// with the batch (the gradient's and the trajectory's are checked when they grow).
    pub(super) fn check_batch(
        &self,
        batch: usize,
        extra: usize,
        data_floats: u64,
    ) -> Result<(), GpuError> {
        let limits = &self.ctx.limits;
        let max_groups = u64::from(limits.max_compute_workgroups_per_dimension);
        let groups = (batch as u64).div_ceil(u64::from(WORKGROUP));
        if groups > max_groups {
            return Err(refuse(
                "max_compute_workgroups_per_dimension",
                max_groups,
                groups,
                &format!(
                    "a batch of {batch} needs {groups} workgroups of {WORKGROUP} in one dispatch; \
                     use a batch of at most {}",
                    max_groups * u64::from(WORKGROUP)
                ),
            ));
        }
        let rows = (self.n_params + extra + 1) as u64;
        if rows > max_groups {
            return Err(refuse(
                "max_compute_workgroups_per_dimension",
                max_groups,
                rows,
                "the reduction runs one workgroup per parameter: use a smaller network",
            ));
        }
        let sizes = Sizes::new(batch, self.shape.dim, self.n_params, extra, data_floats);
        for (what, bytes) in [
            ("data", sizes.data),
            ("output", sizes.out),
            ("statistics", sizes.stats),
        ] {
            self.check_size(what, bytes)?;
        }
        if sizes.staging > limits.max_buffer_size {
            return Err(refuse(
                "max_buffer_size",
                limits.max_buffer_size,
                sizes.staging,
                "the readback buffer is too large: use a smaller batch",
            ));
        }
        Ok(())
    }
}
