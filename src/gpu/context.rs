//! The one place that finds a wgpu adapter and holds the device nodelab computes on.
//!
//! Headless (CLI, tests, benches) [`GpuContext::headless`] creates its own instance, adapter and
//! device; the GUI passes eframe's device with [`GpuContext::from_device`] so that compute
//! results can be drawn without copies. No adapter is an error value (the callers fall back to
//! the CPU path), never a panic.
//!
//! The context also holds what is built once per device: the kernels' bind layouts, every
//! compute pipeline built so far (keyed by entry point and WGSL source, which holds the model
//! shape, the kernel and its tableau), so that solvers, methods and runs in one process reuse
//! them, and, where the backend supports it (Vulkan), a `wgpu::PipelineCache` kept on disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// What the active adapter is, as shown in the app and printed by the CLI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterReport {
    pub name: String,
    /// Vulkan, Metal, Dx12, Gl, …
    pub backend: String,
    /// Discrete, integrated, virtual, CPU, other.
    pub device_type: String,
    /// A software rasteriser (lavapipe, SwiftShader, WARP): correct but slow.
    pub software: bool,
    pub driver: String,
}

impl AdapterReport {
    pub fn from_info(info: &wgpu::AdapterInfo) -> Self {
        let device_type = match info.device_type {
            wgpu::DeviceType::DiscreteGpu => "discrete GPU",
            wgpu::DeviceType::IntegratedGpu => "integrated GPU",
            wgpu::DeviceType::VirtualGpu => "virtual GPU",
            wgpu::DeviceType::Cpu => "CPU (software)",
            wgpu::DeviceType::Other => "other",
        };
        let lower = info.name.to_lowercase();
        let software = info.device_type == wgpu::DeviceType::Cpu
            || ["llvmpipe", "lavapipe", "swiftshader", "warp", "software"]
                .iter()
                .any(|k| lower.contains(k));
        Self {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: device_type.to_string(),
            software,
            driver: format!("{} {}", info.driver, info.driver_info)
                .trim()
                .to_string(),
        }
    }

    /// One line: `NAME (BACKEND, TYPE, software|hardware)`.
    pub fn summary(&self) -> String {
        format!(
            "{} ({}, {}, {})",
            self.name,
            self.backend,
            self.device_type,
            if self.software {
                "software"
            } else {
                "hardware"
            }
        )
    }
}

/// Why no GPU context could be made, or a GPU operation failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum GpuError {
    #[error("no GPU adapter found ({0})")]
    NoAdapter(String),
    #[error("the GPU adapter refused to create a device: {0}")]
    Device(String),
    #[error("GPU validation error: {0}")]
    Validation(String),
    #[error("reading GPU results back failed: {0}")]
    Readback(String),
    #[error("{0}")]
    Unsupported(String),
}

/// "building GPU kernels k/n": `done` of `total` pipelines of one request built. Reported
/// before each build (`done` < `total`: kernel `done + 1`, `entry`, is being built now) and
/// once after the last (`done == total`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildProgress {
    pub done: usize,
    pub total: usize,
    pub entry: &'static str,
}

/// Called before and after each pipeline build (on the thread that builds).
pub type BuildObserver = Arc<dyn Fn(&BuildProgress) + Send + Sync>;

/// The pipeline build in progress anywhere in the process, if any (the app's spinner reads it
/// while a run's thread builds).
static BUILDING: Mutex<Option<BuildProgress>> = Mutex::new(None);

/// The pipeline build in progress anywhere in the process ("building GPU kernels k/n").
pub fn building_now() -> Option<BuildProgress> {
    BUILDING
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// Forgets the build in progress (it failed).
pub fn clear_building() {
    *BUILDING.lock().unwrap_or_else(PoisonError::into_inner) = None;
}

/// An observer that prints "building GPU kernels k/n (ENTRY)…" on stderr before each build
/// and the build's seconds after it (the command line's progress).
pub fn stderr_build_observer() -> BuildObserver {
    let started = Mutex::new(std::time::Instant::now());
    Arc::new(move |p: &BuildProgress| {
        let mut t = started.lock().unwrap_or_else(PoisonError::into_inner);
        if p.done == 0 {
            *t = std::time::Instant::now();
        }
        if p.done < p.total {
            eprintln!(
                "building GPU kernels {}/{} ({})…",
                p.done + 1,
                p.total,
                p.entry
            );
        } else {
            eprintln!(
                "built {} GPU kernel(s) in {:.1} s",
                p.total,
                t.elapsed().as_secs_f64()
            );
        }
    })
}

/// The driver's pipeline cache and the file it is loaded from and saved to.
struct DiskCache {
    cache: wgpu::PipelineCache,
    path: PathBuf,
}

/// What is built once per device and reused by every solver on it.
#[derive(Default)]
struct Built {
    layouts: Option<(wgpu::BindGroupLayout, wgpu::PipelineLayout)>,
    pipelines: HashMap<(&'static str, String), wgpu::ComputePipeline>,
}

/// A device and queue with the adapter they came from. Created once and shared (`Arc`).
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: AdapterReport,
    pub limits: wgpu::Limits,
    built: Mutex<Built>,
    disk: Option<DiskCache>,
    observer: Mutex<Option<BuildObserver>>,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("adapter", &self.adapter)
            .finish_non_exhaustive()
    }
}

impl GpuContext {
    /// Finds an adapter (high performance first, then any fallback adapter) and creates a
    /// device with the adapter's own limits, so that large batches fit; the pipeline cache
    /// lives in [`pipeline_cache_dir`].
    pub fn headless() -> Result<Arc<Self>, GpuError> {
        Self::headless_with_cache(pipeline_cache_dir().as_deref())
    }

    /// The process's headless context, made on first use and shared by every later caller
    /// (training runs started one after the other in the app reuse its built pipelines).
    pub fn shared() -> Result<Arc<Self>, GpuError> {
        static SHARED: Mutex<Option<Arc<GpuContext>>> = Mutex::new(None);
        let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(ctx) = &*shared {
            return Ok(ctx.clone());
        }
        let ctx = Self::headless()?;
        *shared = Some(ctx.clone());
        Ok(ctx)
    }

    /// [`GpuContext::headless`] with the pipeline cache file in `cache_dir` (None: no disk
    /// cache). The file is named by the adapter (`wgpu::util::pipeline_cache_key`); wgpu and the
    /// driver check its header against the adapter and driver version, and a corrupt or
    /// mismatched file is ignored (an empty cache replaces it).
    pub fn headless_with_cache(cache_dir: Option<&Path>) -> Result<Arc<Self>, GpuError> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let request = |force_fallback_adapter| {
            pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter,
                compatible_surface: None,
                apply_limit_buckets: false,
            }))
        };
        let adapter = match request(false) {
            Ok(a) => a,
            Err(first) => request(true).map_err(|_| {
                GpuError::NoAdapter(format!(
                    "{first}; on Linux install a Vulkan driver, e.g. Debian's mesa-vulkan-drivers \
                     and libvulkan1 (lavapipe)"
                ))
            })?,
        };
        let info = adapter.get_info();
        let limits = adapter.limits();
        let cache_file = cache_dir
            .zip(wgpu::util::pipeline_cache_key(&info))
            .filter(|_| adapter.features().contains(wgpu::Features::PIPELINE_CACHE))
            .map(|(dir, key)| dir.join(key));
        let mut required_features = if cache_file.is_some() {
            wgpu::Features::PIPELINE_CACHE
        } else {
            wgpu::Features::empty()
        };
        // Timestamps, where the adapter has them: `bench gpu` measures each dispatch
        // (nodelab::gpu::engine::timing); a solve that does not measure writes none.
        required_features |= adapter.features() & wgpu::Features::TIMESTAMP_QUERY;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("nodelab compute"),
            required_features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| GpuError::Device(e.to_string()))?;
        let mut ctx = Self::with_limits(device, queue, &info, limits);
        ctx.disk = cache_file.and_then(|path| {
            let data = std::fs::read(&path).ok();
            // A file wgpu refuses (another adapter or driver version, a wgpu update, a corrupt
            // header) makes an invalid cache even with `fallback`: start an empty one instead.
            let cache = ctx
                .new_pipeline_cache(data.as_deref())
                .or_else(|_| ctx.new_pipeline_cache(None))
                .ok()?;
            Some(DiskCache { cache, path })
        });
        Ok(Arc::new(ctx))
    }

    /// Wraps a device created elsewhere (eframe's), with the adapter it came from.
    pub fn from_device(
        device: wgpu::Device,
        queue: wgpu::Queue,
        adapter_info: &wgpu::AdapterInfo,
    ) -> Arc<Self> {
        let limits = device.limits();
        Arc::new(Self::with_limits(device, queue, adapter_info, limits))
    }

    fn with_limits(
        device: wgpu::Device,
        queue: wgpu::Queue,
        info: &wgpu::AdapterInfo,
        limits: wgpu::Limits,
    ) -> Self {
        // Errors are captured by error scopes around every operation; anything that escapes
        // them is logged instead of aborting the process.
        device.on_uncaptured_error(Arc::new(|e| log::error!("wgpu: {e}")));
        Self {
            device,
            queue,
            adapter: AdapterReport::from_info(info),
            limits,
            built: Mutex::default(),
            disk: None,
            observer: Mutex::default(),
        }
    }

    /// A pipeline cache from `data` (None: empty), refused data an error value.
    fn new_pipeline_cache(&self, data: Option<&[u8]>) -> Result<wgpu::PipelineCache, GpuError> {
        self.checked(|| {
            // SAFETY: `fallback: true` makes wgpu and the driver validate the data (header,
            // adapter, driver version, checksum); data they refuse is an error caught by the
            // scope, and the file is only ever written by `save_pipeline_cache` from this API.
            unsafe {
                self.device
                    .create_pipeline_cache(&wgpu::PipelineCacheDescriptor {
                        label: Some("nodelab pipelines"),
                        data,
                        fallback: true,
                    })
            }
        })
    }

    /// The on-disk pipeline cache file, where this device has one.
    pub fn pipeline_cache_path(&self) -> Option<&Path> {
        self.disk.as_ref().map(|d| d.path.as_path())
    }

    /// The pipeline cache to build with (None: the backend has none, or no disk location).
    pub fn pipeline_cache(&self) -> Option<&wgpu::PipelineCache> {
        self.disk.as_ref().map(|d| &d.cache)
    }

    /// Writes the pipeline cache to its file (atomically: write then rename). Failures are
    /// logged, never fatal: the cache only saves build time.
    pub fn save_pipeline_cache(&self) {
        let Some(disk) = &self.disk else { return };
        let Some(data) = disk.cache.get_data() else {
            return;
        };
        let write = || -> std::io::Result<()> {
            if let Some(dir) = disk.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = disk
                .path
                .with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, &data)?;
            std::fs::rename(&tmp, &disk.path)
        };
        if let Err(e) = write() {
            log::warn!(
                "could not save the GPU pipeline cache {}: {e}",
                disk.path.display()
            );
        }
    }

    /// Sets (or clears) the callback told about pipeline builds ("building GPU kernels k/n").
    pub fn set_build_observer(&self, observer: Option<BuildObserver>) {
        *self.observer.lock().unwrap_or_else(PoisonError::into_inner) = observer;
    }

    /// Tells the build observer, if any, about `progress` (and [`building_now`]).
    pub fn report_build(&self, progress: &BuildProgress) {
        *BUILDING.lock().unwrap_or_else(PoisonError::into_inner) =
            (progress.done < progress.total).then(|| progress.clone());
        let observer = self
            .observer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(f) = observer {
            f(progress);
        }
    }

    /// The kernels' shared bind and pipeline layouts, made by `make` on first use.
    pub fn kernel_layouts_or(
        &self,
        make: impl FnOnce() -> Result<(wgpu::BindGroupLayout, wgpu::PipelineLayout), GpuError>,
    ) -> Result<(wgpu::BindGroupLayout, wgpu::PipelineLayout), GpuError> {
        let mut built = self.built.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(l) = &built.layouts {
            return Ok(l.clone());
        }
        let l = make()?;
        built.layouts = Some(l.clone());
        Ok(l)
    }

    /// The pipeline of `entry` over `source` built earlier on this device, if any.
    pub fn built_pipeline(
        &self,
        entry: &'static str,
        source: &str,
    ) -> Option<wgpu::ComputePipeline> {
        let built = self.built.lock().unwrap_or_else(PoisonError::into_inner);
        built.pipelines.get(&(entry, source.to_string())).cloned()
    }

    /// Keeps `pipeline` (of `entry` over `source`) for every later solver on this device.
    pub fn keep_pipeline(
        &self,
        entry: &'static str,
        source: String,
        pipeline: wgpu::ComputePipeline,
    ) {
        let mut built = self.built.lock().unwrap_or_else(PoisonError::into_inner);
        built.pipelines.insert((entry, source), pipeline);
    }

    /// Runs `f` inside a validation error scope and returns its error, if any, as a value.
    pub fn checked<T>(&self, f: impl FnOnce() -> T) -> Result<T, GpuError> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = f();
        match pollster::block_on(scope.pop()) {
            None => Ok(value),
            Some(e) => Err(GpuError::Validation(e.to_string())),
        }
    }
}

/// Where the pipeline cache lives: `$NODELAB_CACHE_DIR/gpu`, else `$XDG_CACHE_HOME/nodelab/gpu`,
/// else `$HOME/.cache/nodelab/gpu` (on macOS `~/Library/Caches/nodelab/gpu`, on Windows
/// `%LOCALAPPDATA%/nodelab/gpu`); None when none of these is set.
pub fn pipeline_cache_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = env("NODELAB_CACHE_DIR") {
        return Some(dir.join("gpu"));
    }
    if cfg!(windows) {
        return env("LOCALAPPDATA").map(|d| d.join("nodelab").join("gpu"));
    }
    if cfg!(target_os = "macos") {
        return env("HOME").map(|h| h.join("Library/Caches/nodelab/gpu"));
    }
    env("XDG_CACHE_HOME")
        .map(|d| d.join("nodelab"))
        .or_else(|| env("HOME").map(|h| h.join(".cache").join("nodelab")))
        .map(|d| d.join("gpu"))
}
