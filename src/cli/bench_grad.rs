//! `nodelab bench grad`: the gradient-method comparison on a fixed toy problem — a batch of 256
//! two-dimensional points through a 2-64-2 tanh MLP on t ∈ [0, 1], dopri5 at rtol = atol = 1e-5,
//! `mse` loss, shared steps — plus a memory-scaling table: stored and peak heap bytes of each
//! method as the number of fixed RK4 steps grows 10× (10, 100, 1000 steps).

use clap::Args;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use serde::Serialize;
use serde_json::json;

use super::CliError;
use super::grad::{check_device, comparison_json, parse_methods, problem_header, table};
use crate::grad::measure::{self, Measured};
use crate::grad::{BatchSteps, GradMethod, GradOptions, GradProblem, Loss, LossKind, Precision};
use crate::nn::batched::{forward_flops, vjp_flops};
use crate::nn::{Activation, Mlp};
use crate::solver::{Method, SolverConfig};

#[derive(Debug, Args)]
pub struct BenchGradArgs {
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Timed repeats per method (after one warm-up call; `fd` runs once).
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Batch size of the toy problem.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Hidden width of the toy MLP.
    #[arg(long, default_value_t = 64)]
    pub hidden: usize,
    /// Methods of the comparison table (`all` or a comma-separated list).
    #[arg(long, default_value = "all")]
    pub methods: String,
    /// Skip the memory-scaling table.
    #[arg(long = "no-scaling")]
    pub no_scaling: bool,
    /// Write the toy problem to DIR (`toy-mlp.json` in the weights format, `toy-data.json`
    /// with y0, targets, span and tolerances) for the peer scripts in benches/peers/, and exit.
    #[arg(long = "write-toy", value_name = "DIR")]
    pub write_toy: Option<std::path::PathBuf>,
    /// Where to compute: cpu (f64 reference) or gpu (wgpu, f32).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Threads per gradient: a shared batch is split over them in row blocks of at least 64
    /// samples (1: single-threaded, the comparison with the peers).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Also print the thread-scaling table: backprop and adjoint at batch 256, 4096 and
    /// 65 536 on 1, 2, 4, … threads up to this machine's cores.
    #[arg(long = "thread-scaling")]
    pub thread_scaling: bool,
    /// Float type of the measured methods: f64 (default, the reference), f32 (the methods that
    /// run in f32: backprop, checkpoint, adjoint) or both (the f64 table, the f32 table and
    /// the f32/f64 time ratio per method). The references stay f64.
    #[arg(long, default_value = "f64")]
    pub precision: String,
    /// Evaluate the network layer at a time only, without the fused one-hidden-layer kernels
    /// (to compare both in one session; see `nodelab::nn::fused`).
    #[arg(long = "no-fused")]
    pub no_fused: bool,
}

/// Which network evaluation runs: the fused one-hidden-layer kernels or layer at a time.
fn kernels_label(mlp: &crate::nn::Mlp) -> String {
    crate::nn::fused::kernels_description(Some(mlp))
}

/// Per method, f32 time over f64 time (both from this run).
#[derive(Clone, Debug, Serialize)]
pub struct PrecisionRatio {
    pub method: GradMethod,
    pub f64_ms: f64,
    pub f32_ms: f64,
    pub ratio: f64,
}

fn precision_ratios(f64_rows: &[SpeedRow], f32_rows: &[SpeedRow]) -> Vec<PrecisionRatio> {
    f32_rows
        .iter()
        .filter_map(|r| {
            let base = f64_rows.iter().find(|b| b.method == r.method)?;
            Some(PrecisionRatio {
                method: r.method,
                f64_ms: base.time_ms,
                f32_ms: r.time_ms,
                ratio: r.time_ms / base.time_ms,
            })
        })
        .collect()
}

fn ratio_table(rows: &[PrecisionRatio]) -> String {
    let mut out = String::from("f32 vs f64 (same run)\n");
    out.push_str(&format!(
        "{:<20}{:>10}{:>10}{:>10}\n",
        "method", "f64_ms", "f32_ms", "f32/f64"
    ));
    for r in rows {
        out.push_str(&format!(
            "{:<20}{:>10.3}{:>10.3}{:>10.2}\n",
            r.method.name(),
            r.f64_ms,
            r.f32_ms,
            r.ratio
        ));
    }
    out
}

/// Flops of one gradient from the layer sizes and the evaluations counted: with B samples per
/// evaluation (the batch when steps are shared, 1 per sample otherwise),
/// `B · (nfe_fwd · F_fwd + nfe_bwd · F_vjp)`, where [`forward_flops`] and [`vjp_flops`] count the
/// multiply-adds of the layer products (the activations are not counted). Every backward
/// evaluation is counted as one VJP (exact for backprop, checkpoint and adjoint; afge's
/// Jacobians cost d VJPs, so its figure is a lower bound).
pub fn gradient_flops(p: &GradProblem, out: &crate::grad::GradOutput) -> f64 {
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

fn speed_rows(
    p: &GradProblem,
    c: &crate::grad::measure::Comparison,
    precision: Precision,
) -> Vec<SpeedRow> {
    c.methods
        .iter()
        .filter(|m| m.error.is_none() && m.method != GradMethod::Fd)
        .map(|m| {
            let out = crate::grad::GradOutput {
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

fn speed_table(rows: &[SpeedRow], peak: f64, threads: usize) -> String {
    let mut out = format!(
        "speed ({threads} thread(s); flops = layer multiply-adds, activations not counted; \
         single-core f64 peak estimate {peak:.1} GFLOP/s = best 256^3 matmul on one thread)\n"
    );
    out.push_str(&format!(
        "{:<20}{:>10}{:>10}{:>14}{:>10}{:>9}\n",
        "method", "precision", "time_ms", "Mflop/grad", "GFLOP/s", "% peak"
    ));
    for r in rows {
        out.push_str(&format!(
            "{:<20}{:>10}{:>10.3}{:>14.2}{:>10.2}{:>8.1}%\n",
            r.method.name(),
            r.precision.name(),
            r.time_ms,
            r.flops / 1e6,
            r.gflops,
            100.0 * r.gflops / (peak * threads as f64)
        ));
    }
    out
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
pub fn thread_scaling(hidden: usize, repeats: usize) -> Result<Vec<ThreadRow>, CliError> {
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
                let m = measure::measure(&p, method, &opts, reps)
                    .map_err(|e| CliError::Usage(format!("thread scaling, {method}: {e}")))?;
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

fn thread_table(rows: &[ThreadRow]) -> String {
    let mut out = String::from(
        "thread scaling (toy problem; ms per gradient, speed-up over 1 thread, GFLOP/s)\n",
    );
    out.push_str(&format!(
        "{:<8}{:<10}{:>8}{:>12}{:>10}{:>10}\n",
        "batch", "method", "threads", "time_ms", "speedup", "GFLOP/s"
    ));
    for r in rows {
        let base = rows
            .iter()
            .find(|b| b.batch == r.batch && b.method == r.method && b.threads == 1)
            .map_or(r.time_ms, |b| b.time_ms);
        out.push_str(&format!(
            "{:<8}{:<10}{:>8}{:>12.3}{:>9.2}x{:>10.2}\n",
            r.batch,
            r.method.name(),
            r.threads,
            r.time_ms,
            base / r.time_ms,
            r.gflops
        ));
    }
    out
}

/// Writes the toy problem for the peer scripts.
fn write_toy(dir: &std::path::Path, p: &GradProblem) -> Result<(), CliError> {
    let io = |e: std::io::Error| CliError::Usage(format!("--write-toy {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let weights = serde_json::to_string_pretty(&p.mlp.to_file())
        .map_err(|e| CliError::Usage(e.to_string()))?;
    crate::output::write_bytes(&dir.join("toy-mlp.json"), weights.as_bytes()).map_err(io)?;
    let data = json!({
        "y0": p.y0,
        "targets": p.loss.targets.first(),
        "t_span": [p.t0, p.t1],
        "atol": p.solver.tol,
        "rtol": p.solver.rtol,
        "loss": "mse",
    });
    crate::output::write_bytes(&dir.join("toy-data.json"), data.to_string().as_bytes())
        .map_err(io)?;
    Ok(())
}

/// The fixed toy problem: seeded MLP and points, targets the points rotated by 45° and
/// shrunk by 0.8.
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

/// Methods of the memory-scaling table.
pub const SCALING_METHODS: [GradMethod; 8] = [
    GradMethod::Backprop,
    GradMethod::Checkpoint,
    GradMethod::Adjoint,
    GradMethod::InterpAdjoint,
    GradMethod::Afge,
    GradMethod::Alf,
    GradMethod::ReversibleHeun,
    GradMethod::ReversibleRk4,
];

/// One cell of the memory-scaling table.
#[derive(Clone, Debug, Serialize)]
pub struct ScalingRow {
    pub steps: usize,
    pub method: GradMethod,
    pub stored_bytes: usize,
    pub peak_heap_bytes: usize,
    pub time_ms: f64,
}

/// Stored and peak bytes with fixed-step RK4 at 10, 100 and 1000 steps.
pub fn memory_scaling(p: &GradProblem) -> Result<Vec<ScalingRow>, CliError> {
    let mut rows = Vec::new();
    for steps in [10usize, 100, 1000] {
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
        for method in SCALING_METHODS {
            let Measured {
                output,
                time_ms,
                peak_heap_bytes,
                ..
            } = measure::measure(&q, method, &opts, 1)
                .map_err(|e| CliError::Usage(format!("memory scaling, {method}: {e}")))?;
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

fn scaling_table(rows: &[ScalingRow]) -> String {
    let mut out = String::from(
        "memory scaling (fixed-step rk4; reversible methods with the same step count): stored / \
         peak heap bytes\n",
    );
    out.push_str(&format!(
        "{:<16}{:>26}{:>26}{:>26}\n",
        "method", "10 steps", "100 steps", "1000 steps"
    ));
    for method in SCALING_METHODS {
        out.push_str(&format!("{:<16}", method.name()));
        for steps in [10, 100, 1000] {
            if let Some(r) = rows.iter().find(|r| r.method == method && r.steps == steps) {
                out.push_str(&format!(
                    "{:>26}",
                    format!("{} / {}", r.stored_bytes, r.peak_heap_bytes)
                ));
            }
        }
        out.push('\n');
    }
    out
}

pub fn run(args: &BenchGradArgs) -> Result<(), CliError> {
    check_device(&args.device)?;
    if args.device == "gpu" {
        // Never run somewhere other than asked: this table is the CPU engine's.
        return Err(CliError::Usage(
            "bench grad measures the CPU engine; `nodelab bench gpu` measures the GPU".into(),
        ));
    }
    if args.batch == 0 || args.hidden == 0 || args.repeats == 0 || args.threads == 0 {
        return Err(CliError::Usage(
            "--batch, --hidden, --repeats and --threads must be at least 1".into(),
        ));
    }
    let methods = parse_methods(&args.methods)?;
    if args.no_fused {
        crate::nn::fused::set_enabled(false);
    }
    let precisions: Vec<Precision> = match args.precision.as_str() {
        "both" => Precision::ALL.to_vec(),
        name => vec![super::grad::parse_precision(name).map_err(|_| {
            CliError::Usage(format!(
                "--precision: unknown precision '{name}' (known: f64, f32, both)"
            ))
        })?],
    };
    let p = toy_problem(args.batch, args.hidden);
    if let Some(dir) = &args.write_toy {
        return write_toy(dir, &p);
    }
    let progress = super::progress::Progress::new(args.json);
    let on_stage = |name: &str| {
        let total = (name == "fd").then_some(p.mlp.n_params() as u64);
        progress.stage(name, total);
    };
    let settings = measure::Settings {
        reference_tol: crate::grad::reference::DEFAULT_TOL,
        on_stage: &on_stage,
    };
    let mut notes = Vec::new();
    let mut runs = Vec::new();
    for &precision in &precisions {
        let opts = GradOptions {
            threads: args.threads,
            precision,
            ..GradOptions::default()
        };
        let mut list = methods.clone();
        super::grad::methods_for_precision(&args.methods, &mut list, precision, &mut notes);
        for &m in &list {
            crate::grad::check_options(&p, m, &opts).map_err(super::grad::failed)?;
        }
        let comparison = measure::compare_with(&p, &list, &opts, args.repeats, 16, &settings)
            .map_err(super::grad::failed)?;
        runs.push((precision, comparison));
    }
    let scaling = if args.no_scaling {
        Vec::new()
    } else {
        progress.stage("memory scaling", None);
        memory_scaling(&p)?
    };
    let threads = if args.thread_scaling {
        progress.stage("thread scaling", None);
        thread_scaling(args.hidden, args.repeats)?
    } else {
        Vec::new()
    };
    drop(progress);
    let peak = gemm_peak_gflops();
    let speeds: Vec<Vec<SpeedRow>> = runs
        .iter()
        .map(|(precision, c)| speed_rows(&p, c, *precision))
        .collect();
    let ratios = match speeds.as_slice() {
        [a, b] => precision_ratios(a, b),
        _ => Vec::new(),
    };
    let source = "bench grad (toy problem)";
    let Some((first_precision, comparison)) = runs.first() else {
        return Err(CliError::Usage("no precision to measure".into()));
    };
    if args.json {
        let mut v = comparison_json(source, &p, comparison);
        v["precision"] = json!(first_precision);
        v["memory_scaling"] = json!(scaling);
        v["threads"] = json!(args.threads);
        v["kernels"] = json!(kernels_label(&p.mlp));
        v["speed"] = json!(speeds.concat());
        v["peak_gflops_single_core"] = json!(peak);
        v["notes"] = json!(notes);
        if runs.len() > 1 {
            v["by_precision"] = json!(
                runs.iter()
                    .map(|(precision, c)| json!({"precision": precision, "methods": c.methods}))
                    .collect::<Vec<_>>()
            );
            v["f32_over_f64"] = json!(ratios);
        }
        if !threads.is_empty() {
            v["thread_scaling"] = json!(threads);
        }
        println!("{v}");
    } else {
        print!("{}", problem_header(source, &p));
        println!("kernels: {}", kernels_label(&p.mlp));
        for (precision, c) in &runs {
            println!("precision {precision} (the references are f64)");
            print!("{}", table(c));
        }
        print!("{}", speed_table(&speeds.concat(), peak, args.threads));
        if !ratios.is_empty() {
            print!("{}", ratio_table(&ratios));
        }
        for n in &notes {
            println!("note: {n}");
        }
        if !scaling.is_empty() {
            print!("{}", scaling_table(&scaling));
        }
        if !threads.is_empty() {
            print!("{}", thread_table(&threads));
        }
    }
    if runs
        .iter()
        .any(|(_, c)| c.methods.iter().any(|r| r.error.is_some()))
    {
        return Err(CliError::Failed);
    }
    Ok(())
}
