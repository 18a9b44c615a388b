//! The training set on the device, uploaded once per run, and the per-iteration gather of a
//! batch from it by index (shaders/gather.wgsl): the host writes B sample indices (4·B bytes),
//! the gather dispatch fills the head of the solver's `data` buffer — initial states and
//! labels or targets, in the layout of [`super::objective`] — inside the iteration's
//! submission.

use std::sync::Arc;

use bytemuck::{Pod, Zeroable};

use super::context::{GpuContext, GpuError};

const SOURCE: &str = include_str!("../../shaders/gather.wgsl");

/// Invocations per workgroup of `gather_batch`.
const GATHER_WG: u32 = 64;

/// What a batch item is, and so how its loss data is gathered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetKind {
    /// Row `i` is a (lifted) point with `labels[i]` (cross-entropy).
    Classes,
    /// Item `i` is the window of rows `i, i + 1, …, i + n_obs`: it starts from row `i` and is
    /// observed at the next `n_obs` rows (trajectory losses, observation-major targets).
    Windows { n_obs: usize },
    /// Row `i` is an initial state and nothing else (the density field's `[x, 0]`: the NLL
    /// needs no loss data).
    Points,
}

impl SetKind {
    fn code(self) -> u32 {
        match self {
            SetKind::Classes => 0,
            SetKind::Windows { .. } => 1,
            SetKind::Points => 2,
        }
    }
}

/// A training set on the host, flat: `rows` (n × dim, row-major) and, for classes, a label per
/// row.
#[derive(Clone, Debug, PartialEq)]
pub struct HostSet {
    pub kind: SetKind,
    pub dim: usize,
    pub rows: Vec<f64>,
    pub labels: Vec<u32>,
}

impl HostSet {
    pub fn n_rows(&self) -> usize {
        self.rows.len() / self.dim.max(1)
    }

    /// Valid batch indices `0..pool`: every row for classes, every window start for windows.
    pub fn pool(&self) -> usize {
        match self.kind {
            SetKind::Classes | SetKind::Points => self.n_rows(),
            SetKind::Windows { n_obs } => self.n_rows().saturating_sub(n_obs),
        }
    }

    fn check(&self) -> Result<(), GpuError> {
        let bad = |m: String| Err(GpuError::Unsupported(m));
        if self.dim == 0 || self.rows.is_empty() || !self.rows.len().is_multiple_of(self.dim) {
            return bad(format!(
                "a training set of {} numbers is not a positive multiple of D = {}",
                self.rows.len(),
                self.dim
            ));
        }
        match self.kind {
            SetKind::Classes if self.labels.len() != self.n_rows() => bad(format!(
                "{} labels for {} rows",
                self.labels.len(),
                self.n_rows()
            )),
            SetKind::Windows { n_obs } if n_obs == 0 || self.pool() == 0 => bad(format!(
                "windows of {n_obs} observations need more than {} rows",
                self.n_rows()
            )),
            _ => Ok(()),
        }
    }

    /// The device form: `[rows | labels]` in f32 (labels are whole numbers below 2²⁴).
    fn packed(&self) -> Vec<f32> {
        let mut v: Vec<f32> = self.rows.iter().map(|&x| x as f32).collect();
        if self.kind == SetKind::Classes {
            v.extend(self.labels.iter().map(|&l| l as f32));
        }
        v
    }
}

/// Mirrors `struct GatherParams` of shaders/gather.wgsl (uniform, 32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct GatherParams {
    pub batch: u32,
    pub dim: u32,
    pub mode: u32,
    pub n_obs: u32,
    pub target_off: u32,
    pub label_off: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}

const _: () = assert!(std::mem::size_of::<GatherParams>() == 32);

/// A training set uploaded once, with the gather pipeline (shared by every method's solver).
pub struct DeviceSet {
    ctx: Arc<GpuContext>,
    pub kind: SetKind,
    pub dim: usize,
    n_rows: usize,
    pool: usize,
    buffer: wgpu::Buffer,
    bytes: u64,
    layout: wgpu::BindGroupLayout,
    pipeline: wgpu::ComputePipeline,
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

impl DeviceSet {
    /// Uploads `set` (the run's one upload of its data) and compiles the gather kernel.
    pub fn upload(ctx: Arc<GpuContext>, set: &HostSet) -> Result<Arc<Self>, GpuError> {
        use wgpu::BufferBindingType::{Storage, Uniform};
        set.check()?;
        let packed = set.packed();
        let bytes = 4 * packed.len() as u64;
        let limit = ctx
            .limits
            .max_storage_buffer_binding_size
            .min(ctx.limits.max_buffer_size);
        if bytes > limit {
            return Err(GpuError::Unsupported(format!(
                "the training set needs {bytes} bytes, above this adapter's limit of {limit} \
                 bytes (use fewer points)"
            )));
        }
        let device = &ctx.device;
        let (buffer, layout, pipeline) = ctx.checked(|| {
            let buffer = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("training set"),
                size: bytes.max(4),
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            ctx.queue
                .write_buffer(&buffer, 0, bytemuck::cast_slice(&packed));
            let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("gather bindings"),
                entries: &[
                    entry(0, Uniform),
                    entry(1, Storage { read_only: true }),
                    entry(2, Storage { read_only: true }),
                    entry(3, Storage { read_only: false }),
                ],
            });
            let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("gather layout"),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("gather.wgsl"),
                source: wgpu::ShaderSource::Wgsl(SOURCE.into()),
            });
            let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("gather_batch"),
                layout: Some(&pl),
                module: &module,
                entry_point: Some("gather_batch"),
                compilation_options: Default::default(),
                cache: None,
            });
            (buffer, layout, pipeline)
        })?;
        Ok(Arc::new(Self {
            ctx,
            kind: set.kind,
            dim: set.dim,
            n_rows: set.n_rows(),
            pool: set.pool(),
            buffer,
            bytes,
            layout,
            pipeline,
        }))
    }

    /// Bytes of the training set on the device.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn pool(&self) -> usize {
        self.pool
    }

    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// The gather's parameters for a batch of `batch` whose loss data starts at `target_off`.
    pub fn params(&self, batch: usize, target_off: u32) -> GatherParams {
        GatherParams {
            batch: batch as u32,
            dim: self.dim as u32,
            mode: self.kind.code(),
            n_obs: match self.kind {
                SetKind::Classes | SetKind::Points => 0,
                SetKind::Windows { n_obs } => n_obs as u32,
            },
            target_off,
            label_off: (self.n_rows * self.dim) as u32,
            ..GatherParams::default()
        }
    }

    /// Every index must name an item of the pool.
    pub fn check_indices(&self, indices: &[u32]) -> Result<(), GpuError> {
        match indices.iter().find(|&&i| i as usize >= self.pool) {
            Some(i) => Err(GpuError::Unsupported(format!(
                "batch index {i} is outside the training set's {} items",
                self.pool
            ))),
            None => Ok(()),
        }
    }

    /// The bind group of one solver's gather: its parameters, its index buffer and its `data`.
    pub fn bind_group(
        &self,
        params: &wgpu::Buffer,
        indices: &wgpu::Buffer,
        data: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        let buffers = [params, &self.buffer, indices, data];
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
                label: Some("gather bind group"),
                layout: &self.layout,
                entries: &entries,
            })
    }

    /// Records the gather of `batch` samples (its own compute pass).
    pub fn encode(&self, encoder: &mut wgpu::CommandEncoder, group: &wgpu::BindGroup, batch: u32) {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("gather pass"),
            timestamp_writes: None,
        });
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, group, &[]);
        pass.dispatch_workgroups(batch.div_ceil(GATHER_WG), 1, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Rust mirror has the WGSL struct's layout, and the mode codes are the shader's.
    #[test]
    fn gather_params_layout_matches_the_wgsl_struct() {
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
            .find(|(_, t)| t.name.as_deref() == Some("GatherParams"))
            .unwrap();
        let naga::TypeInner::Struct { members, span } = &ty.inner else {
            panic!("GatherParams is not a struct");
        };
        assert_eq!(*span as usize, std::mem::size_of::<GatherParams>());
        let offsets = [
            ("batch", std::mem::offset_of!(GatherParams, batch)),
            ("dim", std::mem::offset_of!(GatherParams, dim)),
            ("mode", std::mem::offset_of!(GatherParams, mode)),
            ("n_obs", std::mem::offset_of!(GatherParams, n_obs)),
            ("target_off", std::mem::offset_of!(GatherParams, target_off)),
            ("label_off", std::mem::offset_of!(GatherParams, label_off)),
        ];
        for (name, off) in offsets {
            let m = members
                .iter()
                .find(|m| m.name.as_deref() == Some(name))
                .unwrap();
            assert_eq!(m.offset as usize, off, "{name}");
        }
        assert!(SOURCE.contains(&format!(
            "const GATHER_CLASSES: u32 = {}u;",
            SetKind::Classes.code()
        )));
        assert!(SOURCE.contains(&format!(
            "const GATHER_WINDOWS: u32 = {}u;",
            SetKind::Windows { n_obs: 1 }.code()
        )));
        assert!(SOURCE.contains(&format!(
            "const GATHER_POINTS: u32 = {}u;",
            SetKind::Points.code()
        )));
    }

    #[test]
    fn pools_count_rows_or_window_starts() {
        let rows: Vec<f64> = (0..20).map(f64::from).collect();
        let classes = HostSet {
            kind: SetKind::Classes,
            dim: 2,
            rows: rows.clone(),
            labels: vec![0; 10],
        };
        assert_eq!((classes.n_rows(), classes.pool()), (10, 10));
        classes.check().unwrap();
        let windows = HostSet {
            kind: SetKind::Windows { n_obs: 3 },
            dim: 2,
            rows,
            labels: Vec::new(),
        };
        assert_eq!(windows.pool(), 7);
        windows.check().unwrap();
        let short = HostSet {
            labels: vec![0; 9],
            ..classes
        };
        assert!(short.check().is_err());
    }
}
