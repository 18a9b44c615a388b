//! Gradient-method benchmarks shared by `nodelab bench grad` and the app's Gradients workspace:
//! the fixed toy problem, the flop count of one gradient and this core's dense peak (for GFLOP/s
//! and % of peak), the thread-scaling measurement and the memory-scaling measurement (stored and
//! peak heap bytes as the number of fixed RK4 steps grows 10×). The text tables around them are
//! the CLI's; the comparison table both front-ends print is [`crate::report::grad_table`].

use rand::{RngExt, SeedableRng, rngs::StdRng};
use serde::Serialize;

use crate::grad::measure::{self, Comparison, Measured};
use crate::grad::{
    BatchSteps, GradError, GradMethod, GradOptions, GradOutput, GradProblem, Loss, LossKind,
    Precision,
};
use crate::nn::batched::{forward_flops, vjp_flops};
use crate::nn::{Activation, Mlp};
use crate::solver::{Method, SolverConfig};

/// A method that could not be measured: the message names the measurement and the method.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{measurement}, {method}: {error}")]
pub struct BenchError {
    pub measurement: &'static str,
    pub method: GradMethod,
    pub error: GradError,
}

/// The methods the benchmarks measure, in [`GradMethod::ALL`]'s order: all but `fd` (2P + 1
/// forward solves, nothing stored) and `reversible-midpoint` (the λ-coupled scheme of
/// `reversible-rk4` on the midpoint rule: the same storage and cost pattern, one row adds
/// nothing to the tables).
pub fn bench_methods() -> impl Iterator<Item = GradMethod> {
    GradMethod::ALL
        .into_iter()
        .filter(|m| !matches!(m, GradMethod::Fd | GradMethod::ReversibleMidpoint))
}

/// The fixed toy problem: a batch of `batch` two-dimensional points through a seeded 2-`hidden`-2
/// tanh MLP on t ∈ [0, 1], dopri5 at rtol = atol = 1e-5, `mse` loss, shared steps; the targets
/// are the points rotated by 45° and shrunk by 0.8.
pub fn toy_problem(batch: usize, hidden: usize) -> GradProblem {
    let mlp = Mlp::random(&[2, hidden, 2], Activation::Tanh, false, 1.0, 42);
    let mut rng = StdRng::seed_from_u64(7);
    let y0: Vec<Vec<f64>> = (0..batch)
        .map(|_| vec![rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)])
        .collect();
    let (c, s) = (
        0.8 * std::f64::consts::FRAC_PI_4.cos(),
        0.8 * std::f64::consts::FRAC_PI_4.sin(),
    );
    let targets = y0
        .iter()
        .map(|y| vec![c * y[0] - s * y[1], s * y[0] + c * y[1]])
        .collect();
    GradProblem {
        mlp,
        y0,
        t0: 0.0,
        t1: 1.0,
        solver: SolverConfig {
            method: Method::Dopri5,
            tol: 1e-5,
            rtol: 1e-5,
            ..SolverConfig::default()
        },
        batch_steps: BatchSteps::Shared,
        loss: Loss::terminal(LossKind::Mse, targets),
    }
}

/// Flops of one gradient from the layer sizes and the evaluations counted: with B samples per
/// evaluation (the batch when steps are shared, 1 per sample otherwise),
/// `B · (nfe_fwd · F_fwd + nfe_bwd · F_vjp)`, where [`forward_flops`] and [`vjp_flops`] count the
/// multiply-adds of the layer products (the activations are not counted). Every backward
/// evaluation is counted as one VJP (exact for backprop, checkpoint and adjoint; afge's
/// Jacobians cost d VJPs, so its figure is a lower bound).
pub fn gradient_flops(p: &GradProblem, out: &GradOutput) -> f64 {
    let rows = match p.batch_steps {
        BatchSteps::Shared => p.y0.len() as f64,
        BatchSteps::PerSample => 1.0,
    };
    rows * (out.nfe_forward as f64 * forward_flops(&p.mlp) as f64
        + out.nfe_backward as f64 * vjp_flops(&p.mlp) as f64)
}

/// This core's f64 peak estimate in GFLOP/s: the best rate over 20 products of two 256 × 256
/// matrices by `general_mat_mul` (matrixmultiply's AVX2/FMA kernel) on one thread — the
/// attainable dense rate, which the gradient's thin products (widths 2 and 64) can approach but
/// not pass.
pub fn gemm_peak_gflops() -> f64 {
    use ndarray::Array2;
    let n = 256;
    let a = Array2::from_shape_fn((n, n), |(i, j)| ((i * 7 + j * 3) % 11) as f64 * 0.1);
    let b = a.t().to_owned();
    let mut c = Array2::<f64>::zeros((n, n));
    let mut best = f64::INFINITY;
    for _ in 0..20 {
        let start = std::time::Instant::now();
        ndarray::linalg::general_mat_mul(1.0, &a, &b, 0.0, &mut c);
        best = best.min(start.elapsed().as_secs_f64());
        std::hint::black_box(&c);
    }
    2.0 * (n * n * n) as f64 / best / 1e9
}

/// One row of the speed table.
#[derive(Clone, Debug, Serialize)]
pub struct SpeedRow {
    pub method: GradMethod,
    pub precision: Precision,
    pub time_ms: f64,
    pub flops: f64,
    pub gflops: f64,
}

/// The speed of each measured method of a comparison (`fd` and failed methods left out):
/// [`gradient_flops`] over the median time.
pub fn speed_rows(p: &GradProblem, c: &Comparison, precision: Precision) -> Vec<SpeedRow> {
    c.methods
        .iter()
        .filter(|m| m.error.is_none() && m.method != GradMethod::Fd)
        .map(|m| {
            let out = GradOutput {
                nfe_forward: m.nfe_forward,
                nfe_backward: m.nfe_backward,
                ..Default::default()
            };
            let flops = gradient_flops(p, &out);
            SpeedRow {
                method: m.method,
                precision,
                time_ms: m.time_ms,
                flops,
                gflops: flops / (m.time_ms * 1e-3) / 1e9,
            }
        })
        .collect()
}

/// One cell of the thread-scaling table.
#[derive(Clone, Debug, Serialize)]
pub struct ThreadRow {
    pub batch: usize,
    pub threads: usize,
    pub method: GradMethod,
    pub time_ms: f64,
    pub gflops: f64,
}

/// Backprop and adjoint on the toy problem at batch 256, 4096 and 65 536 with 1, 2, 4, …
/// threads (up to the machine's cores).
pub fn thread_scaling(hidden: usize, repeats: usize) -> Result<Vec<ThreadRow>, BenchError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut counts = vec![1];
    while counts.last().is_some_and(|&t| t * 2 <= cores) {
        counts.push(counts.last().map_or(1, |t| t * 2));
    }
    if counts.last() != Some(&cores) {
        counts.push(cores);
    }
    let mut rows = Vec::new();
    for batch in [256usize, 4096, 65_536] {
        let p = toy_problem(batch, hidden);
        let reps = if batch > 10_000 { 1 } else { repeats };
        for &threads in &counts {
            let opts = GradOptions {
                threads,
                ..GradOptions::default()
            };
            for method in [GradMethod::Backprop, GradMethod::Adjoint] {
                let m = measure::measure(&p, method, &opts, reps).map_err(|error| BenchError {
                    measurement: "thread scaling",
                    method,
                    error,
                })?;
                let flops = gradient_flops(&p, &m.output);
                rows.push(ThreadRow {
                    batch,
                    threads,
                    method,
                    time_ms: m.time_ms,
                    gflops: flops / (m.time_ms * 1e-3) / 1e9,
                });
            }
        }
    }
    Ok(rows)
}

/// Step counts of the memory-scaling measurement.
pub const SCALING_STEPS: [usize; 3] = [10, 100, 1000];

/// One cell of the memory-scaling table.
#[derive(Clone, Debug, Serialize)]
pub struct ScalingRow {
    pub steps: usize,
    pub method: GradMethod,
    pub stored_bytes: usize,
    pub peak_heap_bytes: usize,
    pub time_ms: f64,
}

/// Stored and peak bytes of each of [`bench_methods`] with fixed-step RK4 at 10, 100 and 1000
/// steps (the reversible methods with the same step count).
pub fn memory_scaling(p: &GradProblem) -> Result<Vec<ScalingRow>, BenchError> {
    let mut rows = Vec::new();
    for steps in SCALING_STEPS {
        let mut q = p.clone();
        q.solver = SolverConfig {
            method: Method::Rk4,
            h0: Some((p.t1 - p.t0) / steps as f64),
            ..SolverConfig::default()
        };
        let opts = GradOptions {
            reversible_steps: Some(steps),
            ..GradOptions::default()
        };
        for method in bench_methods() {
            let Measured {
                output,
                time_ms,
                peak_heap_bytes,
                ..
            } = measure::measure(&q, method, &opts, 1).map_err(|error| BenchError {
                measurement: "memory scaling",
                method,
                error,
            })?;
            rows.push(ScalingRow {
                steps,
                method,
                stored_bytes: output.stored_bytes,
                peak_heap_bytes,
                time_ms,
            });
        }
    }
    Ok(rows)
}
