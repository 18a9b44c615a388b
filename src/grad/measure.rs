//! Measuring one method on one problem: median wall time over repeats after a warm-up, and the
//! heap high-water mark of one call from the counting allocator ([`crate::mem`]; 0 when the
//! allocator is not installed, i.e. outside the `nodelab` binary).

use std::time::Instant;

use serde::Serialize;

use super::{GradError, GradMethod, GradOptions, GradOutput, GradProblem, compute};

/// One measured call.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measured {
    pub output: GradOutput,
    /// Median wall time of the timed repeats, milliseconds.
    pub time_ms: f64,
    pub repeats: usize,
    /// Peak heap bytes above the baseline during one call (0 when not counting).
    pub peak_heap_bytes: usize,
}

/// Runs `method` once to warm up (measuring its heap peak), then `repeats` timed times.
pub fn measure(
    p: &GradProblem,
    method: GradMethod,
    opts: &GradOptions,
    repeats: usize,
) -> Result<Measured, GradError> {
    let (first, peak) = crate::mem::peak_during(|| compute(p, method, opts));
    let output = first?;
    let mut times = Vec::with_capacity(repeats.max(1));
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        let out = compute(p, method, opts)?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(out);
    }
    times.sort_by(f64::total_cmp);
    let n = times.len();
    let median = if n % 2 == 1 {
        times[n / 2]
    } else {
        0.5 * (times[n / 2 - 1] + times[n / 2])
    };
    Ok(Measured {
        output,
        time_ms: median,
        repeats: n,
        peak_heap_bytes: peak,
    })
}
