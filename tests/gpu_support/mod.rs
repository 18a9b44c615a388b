//! Shared helpers of the GPU integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use nodelab::gpu::GpuContext;
use rand::{RngExt, SeedableRng, rngs::StdRng};

/// A headless context, or `None` with a printed reason. Under `CI=true` a missing adapter is a
/// failure, not a skip.
pub fn context() -> Option<Arc<GpuContext>> {
    match GpuContext::headless() {
        Ok(ctx) => {
            eprintln!("GPU adapter: {}", ctx.adapter.summary());
            Some(ctx)
        }
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("CI=true but no GPU adapter was found: {e}");
            }
            eprintln!("skipping the GPU test: {e}");
            None
        }
    }
}

/// `batch × d` numbers uniform in `[-r, r]`, seeded.
pub fn random_states(batch: usize, d: usize, r: f64, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..batch * d).map(|_| rng.random_range(-r..r)).collect()
}

/// `‖a − b‖∞ / max(‖b‖∞, floor)`; NaN if anything is NaN (so that `<= tol` fails).
pub fn rel_err(a: &[f64], b: &[f64], floor: f64) -> f64 {
    assert_eq!(a.len(), b.len());
    let mut diff = 0.0f64;
    let mut scale = floor;
    for (x, y) in a.iter().zip(b) {
        if x.is_nan() || y.is_nan() {
            return f64::NAN;
        }
        diff = diff.max((x - y).abs());
        scale = scale.max(y.abs());
    }
    diff / scale
}
