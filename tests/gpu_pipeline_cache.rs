//! Pipelines are built once per device and source (a second solver of the same shape builds
//! nothing), and the on-disk `wgpu::PipelineCache` file survives being corrupt or from another
//! adapter: it is ignored and rewritten, and the kernels still build and run.

mod common;

use nodelab::gpu::shader::Kernel;
use nodelab::gpu::{GpuContext, GpuSolver};
use nodelab::nn::{Activation, Mlp};

fn small_mlp(seed: u64) -> Mlp {
    Mlp::random(&[2, 4, 2], Activation::Tanh, false, 1.0, seed)
}

/// Builds the field-probe kernel of a 2-4-2 MLP on a context whose cache is in `dir`;
/// returns the context and the seconds the solver spent building.
fn build_in(dir: &std::path::Path) -> Option<(std::sync::Arc<GpuContext>, f64)> {
    let ctx = match GpuContext::headless_with_cache(Some(dir)) {
        Ok(c) => c,
        Err(e) => {
            common::skip(&format!("no GPU adapter was found ({e})"));
            return None;
        }
    };
    let mut solver = GpuSolver::new(ctx.clone(), &small_mlp(1)).expect("a solver");
    solver
        .compile(Kernel::FieldProbe)
        .expect("the kernel builds");
    Some((ctx, solver.build_seconds()))
}

#[test]
fn a_second_solver_of_the_same_shape_builds_nothing() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let mut first = GpuSolver::new(ctx.clone(), &small_mlp(1)).expect("a solver");
    first.compile(Kernel::FieldProbe).expect("builds");
    assert!(
        first.build_seconds() > 0.0,
        "the first solver built the kernel"
    );
    // A new solver (not a sibling), other weights, same shape: the device's pipeline is reused.
    let mut second = GpuSolver::new(ctx.clone(), &small_mlp(2)).expect("a solver");
    second.compile(Kernel::FieldProbe).expect("builds");
    assert_eq!(
        second.build_seconds(),
        0.0,
        "the second solver rebuilt the kernel"
    );
    // Another shape is another source: it is built.
    let wider = Mlp::random(&[2, 5, 2], Activation::Tanh, false, 1.0, 3);
    let mut third = GpuSolver::new(ctx, &wider).expect("a solver");
    third.compile(Kernel::FieldProbe).expect("builds");
    assert!(
        third.build_seconds() > 0.0,
        "another shape needs its own build"
    );
}

#[test]
fn a_corrupt_or_foreign_pipeline_cache_file_is_ignored_and_rewritten() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let Some((ctx, _)) = build_in(dir.path()) else {
        return;
    };
    let Some(path) = ctx.pipeline_cache_path().map(std::path::Path::to_path_buf) else {
        eprintln!("this backend has no pipeline cache: nothing to check");
        return;
    };
    drop(ctx);
    let good = std::fs::read(&path).expect("the cache file was written after the build");
    assert!(!good.is_empty());

    // Garbage of the file's own length.
    let garbage: Vec<u8> = (0..good.len()).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(&path, &garbage).expect("write");
    build_in(dir.path()).expect("the kernel builds over a corrupt cache file");
    let rewritten = std::fs::read(&path).expect("read");
    assert_ne!(rewritten, garbage, "the corrupt file was not replaced");

    // The good file with its header (the adapter and driver key) altered: another machine's.
    let mut foreign = good.clone();
    for b in foreign.iter_mut().take(64).skip(16) {
        *b ^= 0x5a;
    }
    std::fs::write(&path, &foreign).expect("write");
    build_in(dir.path()).expect("the kernel builds over a foreign cache file");
    let rewritten = std::fs::read(&path).expect("read");
    assert_ne!(rewritten, foreign, "the foreign file was not replaced");

    // A truncated file.
    std::fs::write(&path, &good[..good.len().min(10)]).expect("write");
    build_in(dir.path()).expect("the kernel builds over a truncated cache file");
}
