//! Criterion benchmark of the gradient methods on a reduced toy problem (batch 64, 2-32-2 tanh,
//! dopri5 at 1e-5, mse): wall time per gradient. `nodelab bench grad` is the full comparison
//! (errors, memory, NFE) on the toy problem.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use nodelab::grad::{self, GradMethod, GradOptions};

fn gradient_methods(c: &mut Criterion) {
    let p = nodelab::cli::bench_grad::toy_problem(64, 32);
    let opts = GradOptions::default();
    let mut group = c.benchmark_group("gradient");
    for method in [
        GradMethod::Backprop,
        GradMethod::Checkpoint,
        GradMethod::Adjoint,
        GradMethod::InterpAdjoint,
        GradMethod::Afge,
        GradMethod::Alf,
        GradMethod::ReversibleHeun,
        GradMethod::ReversibleRk4,
    ] {
        group.bench_function(method.name(), |b| {
            b.iter(|| black_box(grad::compute(black_box(&p), method, &opts)))
        });
    }
    group.finish();
}

criterion_group!(benches, gradient_methods);
criterion_main!(benches);
