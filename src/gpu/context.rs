//! The one place that finds a wgpu adapter and holds the device nodelab computes on.
//!
//! Headless (CLI, tests, benches) [`GpuContext::headless`] creates its own instance, adapter and
//! device; the GUI passes eframe's device with [`GpuContext::from_device`] so that compute
//! results can be drawn without copies. No adapter is an error value (the callers fall back to
//! the CPU path), never a panic.

use std::sync::Arc;

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

/// A device and queue with the adapter they came from. Created once and shared (`Arc`).
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: AdapterReport,
    pub limits: wgpu::Limits,
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
    /// device with the adapter's own limits, so that large batches fit.
    pub fn headless() -> Result<Arc<Self>, GpuError> {
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
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("nodelab compute"),
            required_features: wgpu::Features::empty(),
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| GpuError::Device(e.to_string()))?;
        Ok(Arc::new(Self::with_limits(device, queue, &info, limits)))
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
        }
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
