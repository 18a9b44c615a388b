//! Measured dispatch durations (nodelab::gpu::engine::timing): with the measurement on, every
//! dispatch of a chunked gradient runs in a pass of its own between GPU timestamps, the
//! longest is reported with its kernel, and the results are bitwise those of the untimed run
//! (one pass). An adapter without timestamp queries reports nothing. Skip policy of
//! tests/common (CI=true: no adapter fails). One test: the measurement switch is
//! process-wide.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use nodelab::gpu::engine::timing;
use nodelab::gpu::{FixedSchedule, GpuGradMethod, GpuLoss, GpuObjective, GpuSolver};
use nodelab::nn::{Activation, Mlp};

#[test]
fn timed_dispatches_report_the_longest_and_change_nothing() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let has_timestamps = ctx
        .device
        .features()
        .contains(wgpu::Features::TIMESTAMP_QUERY);
    eprintln!(
        "{}: timestamp queries {}",
        ctx.adapter.summary(),
        if has_timestamps { "yes" } else { "no" }
    );
    let mlp = Mlp::random(&[2, 8, 2], Activation::Tanh, true, 1.0, 5);
    let (batch, d) = (70, 2);
    let mut gpu = GpuSolver::new(ctx, &mlp).unwrap();
    let y0 = common::random_states(batch, d, 1.0, 30);
    let obj = GpuObjective::terminal(GpuLoss::HalfSse, common::random_states(batch, d, 1.0, 32));
    gpu.set_objective(&y0, &obj).unwrap();
    // 13 steps: a sequence of 26 (forward, then backward) in 9 chunks of 3.
    let sched = FixedSchedule::new(0.0, 1.0, Some(0.08)).unwrap();
    gpu.chunk_steps = Some(3);
    let _ = timing::take_longest();
    let plain = gpu
        .gradient(GpuGradMethod::Backprop, &sched, obj.loss)
        .unwrap();
    assert_eq!(timing::take_longest(), None, "measured while switched off");

    timing::measure_dispatches(true);
    let timed = gpu.gradient(GpuGradMethod::Backprop, &sched, obj.loss);
    timing::measure_dispatches(false);
    let timed = timed.unwrap();
    assert_eq!(timed.loss.to_bits(), plain.loss.to_bits());
    assert_eq!(
        timed.grad.iter().map(|g| g.to_bits()).collect::<Vec<_>>(),
        plain.grad.iter().map(|g| g.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(timed.stats, plain.stats);

    let longest = timing::take_longest();
    if has_timestamps {
        let l = longest.expect("an adapter with timestamps reports the longest dispatch");
        assert!(
            l.timed >= 9,
            "{} dispatches timed, 9 chunks at least",
            l.timed
        );
        assert!(l.ms > 0.0 && l.ms.is_finite(), "{l:?}");
        // At this small batch the reduction can take longer than a chunk of steps.
        assert!(
            l.kernel == "rk4_backprop (rk4)" || l.kernel == "reduce_rows",
            "{l:?}"
        );
    } else {
        assert_eq!(longest, None);
    }
}
