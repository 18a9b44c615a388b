//! Reading a buffer back to the host: copy it into a mappable staging buffer (in the caller's
//! submission), then map, wait and copy out.

use super::context::{GpuContext, GpuError};

/// Maps `staging` (MAP_READ), waits for the device, and returns its first `bytes` bytes.
pub fn read_mapped(
    ctx: &GpuContext,
    staging: &wgpu::Buffer,
    bytes: u64,
) -> Result<Vec<u8>, GpuError> {
    let slice = staging.slice(..bytes);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    ctx.device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    rx.recv()
        .map_err(|e| GpuError::Readback(e.to_string()))?
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    let out = {
        let view = slice
            .get_mapped_range()
            .map_err(|e| GpuError::Readback(format!("{e:?}")))?;
        view.to_vec()
    };
    staging.unmap();
    Ok(out)
}

/// Copies `src[..bytes]` to a fresh staging buffer, submits, and reads it back.
pub fn read_buffer(ctx: &GpuContext, src: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>, GpuError> {
    let staging = ctx.checked(|| {
        let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes.max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("readback"),
            });
        encoder.copy_buffer_to_buffer(src, 0, &staging, 0, bytes);
        ctx.queue.submit([encoder.finish()]);
        staging
    })?;
    read_mapped(ctx, &staging, bytes)
}
