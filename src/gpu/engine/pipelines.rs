//! The bind layout every kernel shares and the pipeline cache: a kernel's pipeline is compiled
//! once per solver family (siblings share it), on first use or up front.

use super::GpuSolver;
use crate::gpu::context::{GpuContext, GpuError};
use crate::gpu::shader::{self, Kernel};

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

/// The bind group layout (binding 0 the kernel parameters, 1–2 read-only θ and data, 3–7 the
/// outputs) and the pipeline layout over it.
pub(super) fn layouts(
    ctx: &GpuContext,
) -> Result<(wgpu::BindGroupLayout, wgpu::PipelineLayout), GpuError> {
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
    ctx.checked(|| {
        let bind_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("nodelab bindings"),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("nodelab layout"),
            bind_group_layouts: &[Some(&bind_layout)],
            immediate_size: 0,
        });
        (bind_layout, pipeline_layout)
    })
}

impl GpuSolver {
    pub(super) fn pipeline(&mut self, kernel: Kernel) -> Result<(), GpuError> {
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

    /// Compiles `kernel`'s pipeline now (training compiles before its first timed iteration).
    pub fn compile(&mut self, kernel: Kernel) -> Result<(), GpuError> {
        self.pipeline(kernel)
    }

    /// Compiles the pipelines of `kernels` (each with its workgroup count), refusing a count
    /// above the adapter's limit per dispatch.
    pub(super) fn ensure_pipelines(&mut self, kernels: &[(Kernel, u32)]) -> Result<(), GpuError> {
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
        Ok(())
    }
}
