//! Measured dispatch durations: how long one dispatch really runs on the device, the number
//! that the watchdog bound of [`super::chunks`] is about (the chunk length there is an
//! estimate from the work; this is the measurement that checks it on a given adapter).
//!
//! While switched on ([`measure_dispatches`]; `nodelab bench gpu` does), each submission puts
//! every dispatch in a compute pass of its own with GPU timestamps written at the pass's
//! beginning and end (`wgpu::Features::TIMESTAMP_QUERY`, requested where the adapter has it),
//! reads them back after the outputs, and keeps the longest: duration = (end − begin) ticks ×
//! `Queue::get_timestamp_period()` ns. Off (the default), the kernels share one pass and
//! nothing is measured. Separate passes change no result: wgpu orders the storage-buffer
//! writes of consecutive dispatches either way.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

/// Dispatches one submission times at most (two timestamps each, in one query set of at most
/// `wgpu::QUERY_SET_MAX_QUERIES`); the rest of a longer submission is not timed.
pub const MAX_TIMED: usize = (wgpu::QUERY_SET_MAX_QUERIES / 2) as usize;

static ON: AtomicBool = AtomicBool::new(false);
static LONGEST: Mutex<Option<DispatchTime>> = Mutex::new(None);

/// The longest dispatch measured since the last [`take_longest`].
#[derive(Clone, Debug, PartialEq)]
pub struct DispatchTime {
    /// The kernel's label (entry point and tableau).
    pub kernel: String,
    /// Its duration on the device, ms.
    pub ms: f64,
    /// Dispatches timed since the last take.
    pub timed: usize,
}

/// Switches the measurement on or off for every solver in the process.
pub fn measure_dispatches(on: bool) {
    ON.store(on, Ordering::Relaxed);
}

pub(super) fn measuring() -> bool {
    ON.load(Ordering::Relaxed)
}

/// The longest dispatch measured since the last call (None: none was timed: the measurement
/// is off, or the adapter has no timestamp queries), and starts over.
pub fn take_longest() -> Option<DispatchTime> {
    LONGEST
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
}

/// Records the durations (ms) of one submission's timed dispatches.
pub(super) fn record(timed: impl IntoIterator<Item = (String, f64)>) {
    let mut longest = LONGEST.lock().unwrap_or_else(PoisonError::into_inner);
    for (kernel, ms) in timed {
        let seen = longest.as_ref().map_or(0, |l| l.timed);
        match longest.as_mut() {
            Some(l) if l.ms >= ms => l.timed += 1,
            _ => {
                *longest = Some(DispatchTime {
                    kernel,
                    ms,
                    timed: seen + 1,
                })
            }
        }
    }
}

/// Durations in ms of consecutive (begin, end) timestamp pairs, `period_ns` per tick; a pair
/// whose end precedes its begin (a counter that wrapped or was reset) gives 0.
pub fn pair_durations_ms(ticks: &[u64], period_ns: f32) -> Vec<f64> {
    ticks
        .chunks_exact(2)
        .map(|p| p[1].saturating_sub(p[0]) as f64 * f64::from(period_ns) * 1e-6)
        .collect()
}

/// The query set, resolve and staging buffers of one timed submission.
pub(super) struct Timer {
    pub set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    staging: wgpu::Buffer,
    pub count: usize,
}

impl Timer {
    /// A timer for `dispatches` dispatches (at most [`MAX_TIMED`]), if the measurement is on
    /// and `device` has timestamp queries.
    pub(super) fn new(device: &wgpu::Device, dispatches: usize) -> Option<Self> {
        if !measuring() || !device.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            return None;
        }
        let count = dispatches.min(MAX_TIMED);
        if count == 0 {
            return None;
        }
        let bytes = 2 * count as u64 * u64::from(wgpu::QUERY_SIZE);
        Some(Self {
            set: device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("nodelab dispatch times"),
                ty: wgpu::QueryType::Timestamp,
                count: 2 * count as u32,
            }),
            resolve: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("nodelab dispatch times (resolve)"),
                size: bytes,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            }),
            staging: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("nodelab dispatch times (staging)"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            count,
        })
    }

    /// The pass's timestamp writes for dispatch `i` (None past the timed ones).
    pub(super) fn writes(&self, i: usize) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        (i < self.count).then(|| wgpu::ComputePassTimestampWrites {
            query_set: &self.set,
            beginning_of_pass_write_index: Some(2 * i as u32),
            end_of_pass_write_index: Some(2 * i as u32 + 1),
        })
    }

    /// Encodes the resolve and the copy to the staging buffer (after the dispatches).
    pub(super) fn encode_resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        let n = 2 * self.count as u32;
        encoder.resolve_query_set(&self.set, 0..n, &self.resolve, 0);
        encoder.copy_buffer_to_buffer(&self.resolve, 0, &self.staging, 0, self.resolve.size());
    }

    /// Reads the timestamps back (after the submission) and records the durations of the
    /// kernels `labels` (in dispatch order).
    pub(super) fn finish(
        &self,
        ctx: &crate::gpu::context::GpuContext,
        labels: &[String],
    ) -> Result<(), crate::gpu::context::GpuError> {
        let bytes = crate::gpu::readback::read_mapped(ctx, &self.staging, self.staging.size())?;
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&bytes);
        let ms = pair_durations_ms(&ticks, ctx.queue.get_timestamp_period());
        record(labels.iter().cloned().zip(ms));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The longest of several submissions' dispatches is kept, with the count of all timed.
    #[test]
    fn the_longest_dispatch_is_kept() {
        let _ = take_longest();
        record([("a".to_string(), 1.0), ("b".to_string(), 3.0)]);
        record([("c".to_string(), 2.0)]);
        let l = take_longest().unwrap();
        assert_eq!((l.kernel.as_str(), l.ms, l.timed), ("b", 3.0, 3));
        assert_eq!(take_longest(), None);
    }

    #[test]
    fn durations_come_from_tick_pairs() {
        let d = pair_durations_ms(&[100, 1_100, 5_000, 4_000, 0, 2_000_000], 1.0);
        assert_eq!(d.len(), 3);
        assert!((d[0] - 1e-3).abs() < 1e-12);
        assert_eq!(d[1], 0.0);
        assert!((d[2] - 2.0).abs() < 1e-12);
        // A 10 ns tick.
        let d = pair_durations_ms(&[0, 300_000], 10.0);
        assert!((d[0] - 3.0).abs() < 1e-12);
    }
}
