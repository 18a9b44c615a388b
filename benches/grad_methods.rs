//! Criterion benchmark of the gradient methods on the `nodelab bench grad` toy problem (2-64-2
//! tanh, dopri5 at 1e-5, mse, shared steps, one thread) at batch 1, 256 and 4096: wall time per
//! gradient. `nodelab bench grad` is the full comparison (errors, memory, NFE, GFLOP/s).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use nodelab::grad::{self, GradOptions};

fn gradient_methods(c: &mut Criterion) {
    let opts = GradOptions::default();
    let mut group = c.benchmark_group("gradient");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for batch in [1usize, 256, 4096] {
        let p = nodelab::bench::grad::toy_problem(batch, 64);
        for method in nodelab::bench::grad::bench_methods() {
            group.bench_with_input(BenchmarkId::new(method.name(), batch), &p, |b, p| {
                b.iter(|| black_box(grad::compute(black_box(p), method, &opts)))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, gradient_methods);
criterion_main!(benches);
