//! The bind layout every kernel shares and the pipelines: a kernel's pipeline is built once
//! per device and WGSL source (model shape, kernel, tableau) and kept in the [`GpuContext`], so
//! siblings, methods and later runs in the process reuse it; the build goes through the
//! context's on-disk `wgpu::PipelineCache` where the backend has one.

use super::GpuSolver;
use crate::gpu::context::{BuildProgress, GpuContext, GpuError};
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
/// outputs) and the pipeline layout over it, made once per device.
pub(super) fn layouts(
    ctx: &GpuContext,
) -> Result<(wgpu::BindGroupLayout, wgpu::PipelineLayout), GpuError> {
    ctx.kernel_layouts_or(|| make_layouts(ctx))
}

fn make_layouts(
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
        self.pipeline_counted(kernel, 0, 1)
    }

    /// Whether `kernel`'s pipeline is yet to be built on this device.
    fn needs_build(&self, kernel: Kernel) -> bool {
        !self.pipelines.contains_key(&kernel)
            && kernel.check(&self.shape).is_ok()
            && shader::source(kernel, &self.shape).is_ok_and(|src| {
                self.ctx
                    .built_pipeline(kernel.entry_point(), &src)
                    .is_none()
            })
    }

    /// Builds `kernel`'s pipeline unless this solver or its device has it, reporting the build
    /// as kernel `done + 1` of `total`.
    fn pipeline_counted(
        &mut self,
        kernel: Kernel,
        done: usize,
        total: usize,
    ) -> Result<(), GpuError> {
        if self.pipelines.contains_key(&kernel) {
            return Ok(());
        }
        kernel.check(&self.shape).map_err(GpuError::Unsupported)?;
        let src = shader::source(kernel, &self.shape).map_err(GpuError::Unsupported)?;
        if let Some(p) = self.ctx.built_pipeline(kernel.entry_point(), &src) {
            self.pipelines.insert(kernel, p);
            return Ok(());
        }
        let entry = kernel.entry_point();
        self.ctx.report_build(&BuildProgress { done, total, entry });
        let started = std::time::Instant::now();
        let built = self.build_with(kernel, &src, self.ctx.pipeline_cache());
        // A pipeline cache the driver turned against us must never cost the kernel: retry
        // without it.
        let built = match built {
            Err(_) if self.ctx.pipeline_cache().is_some() => self.build_with(kernel, &src, None),
            other => other,
        };
        let pipeline = built.inspect_err(|_| crate::gpu::context::clear_building())?;
        log::info!(
            "built GPU kernel {entry} in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        self.build_seconds += started.elapsed().as_secs_f64();
        self.ctx.keep_pipeline(entry, src, pipeline.clone());
        self.ctx.save_pipeline_cache();
        self.pipelines.insert(kernel, pipeline);
        if done + 1 == total {
            self.ctx.report_build(&BuildProgress {
                done: total,
                total,
                entry,
            });
        }
        Ok(())
    }

    /// Builds `kernel`'s pipeline over `src` through `cache`.
    fn build_with(
        &self,
        kernel: Kernel,
        src: &str,
        cache: Option<&wgpu::PipelineCache>,
    ) -> Result<wgpu::ComputePipeline, GpuError> {
        let (device, layout) = (&self.ctx.device, &self.pipeline_layout);
        let label = kernel.label();
        // A shader translator bug surfaces as a panic inside wgpu: turn it into an error value.
        let build = std::panic::AssertUnwindSafe(|| {
            self.ctx.checked(|| {
                let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(&label),
                    source: wgpu::ShaderSource::Wgsl(src.into()),
                });
                device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(&label),
                    layout: Some(layout),
                    module: &module,
                    entry_point: Some(kernel.entry_point()),
                    compilation_options: Default::default(),
                    cache,
                })
            })
        });
        std::panic::catch_unwind(build)
            .map_err(|_| {
                GpuError::Validation(format!(
                    "the shader translator failed on {} (see the message above)",
                    kernel.entry_point()
                ))
            })
            .and_then(|r| r)
    }

    /// Builds the pipelines of `kernels` that this device does not have yet, reporting
    /// "k/n" over those that need a build.
    fn build_all(&mut self, kernels: &[Kernel]) -> Result<(), GpuError> {
        let todo: Vec<Kernel> = kernels
            .iter()
            .copied()
            .filter(|&k| self.needs_build(k))
            .collect();
        for (i, &k) in todo.iter().enumerate() {
            self.pipeline_counted(k, i, todo.len())?;
        }
        for &k in kernels {
            self.pipeline(k)?;
        }
        Ok(())
    }

    /// Compiles every pipeline now (otherwise each compiles on first use).
    pub fn warm_up(&mut self) -> Result<(), GpuError> {
        let all: Vec<Kernel> = Kernel::ALL
            .into_iter()
            .filter(|k| k.check(&self.shape).is_ok())
            .collect();
        self.build_all(&all)
    }

    /// Seconds this solver spent building pipelines (0 when every one came from the device's
    /// pipelines built earlier in the process).
    pub fn build_seconds(&self) -> f64 {
        self.build_seconds
    }

    /// Compiles `kernel`'s pipeline now (training compiles before its first timed iteration).
    pub fn compile(&mut self, kernel: Kernel) -> Result<(), GpuError> {
        self.pipeline(kernel)
    }

    /// Compiles the pipelines of `kernels` (each with its workgroup count), refusing a count
    /// above the adapter's limit per dispatch.
    pub(super) fn ensure_pipelines(&mut self, kernels: &[(Kernel, u32)]) -> Result<(), GpuError> {
        let max_groups = self.ctx.limits.max_compute_workgroups_per_dimension;
        for &(_, groups) in kernels {
            if groups > max_groups {
                return Err(GpuError::Unsupported(format!(
                    "{groups} workgroups exceed this adapter's limit of {max_groups} per dispatch \
                     (batch too large)"
                )));
            }
        }
        let ks: Vec<Kernel> = kernels.iter().map(|&(k, _)| k).collect();
        self.build_all(&ks)
    }
}
