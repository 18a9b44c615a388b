//! Progress of long gradient work, for a front end to display: the work ticks a counter that
//! another thread reads. No display code here (the CLI draws it with `indicatif`).
//!
//! `fd` ticks once per parameter (two forward solves each).

use std::sync::atomic::{AtomicU64, Ordering};

static DONE: AtomicU64 = AtomicU64::new(0);

/// One unit of work done.
pub fn tick() {
    DONE.fetch_add(1, Ordering::Relaxed);
}

/// Units done since the last [`reset`].
pub fn done() -> u64 {
    DONE.load(Ordering::Relaxed)
}

/// Starts counting again from zero.
pub fn reset() {
    DONE.store(0, Ordering::Relaxed);
}
