//! `nodelab bench gpu`: samples per second, GPU vs multi-threaded CPU, over batch sizes.
//!
//! Toy problem: MLP 2-W-2 tanh (W = `--width`, default 64), t ∈ [0, 1], initial states and
//! targets uniform in [-1, 1]², `mse` loss. Forward solves: fixed-step RK4 (`--steps` steps,
//! default 100) and the per-sample adaptive zero-cost RK4 (tol 1e-5); gradients: every GPU
//! method on the fixed schedule, and `afge-zc-rk4` (afge on the per-sample adaptive steps). Each
//! GPU figure is the median of `--repeats` whole calls
//! (upload, dispatches, readback) after a warm-up call that compiles the pipelines and
//! allocates the buffers. The CPU path is the f64 engine on all cores (rayon over samples for
//! forward solves, `nodelab::grad::compute` with per-sample threads for gradients), timed on at
//! most `--cpu-max-batch` samples: its throughput does not depend on the batch beyond the core
//! count.

use std::time::Instant;

use clap::Args;
use rayon::prelude::*;
use serde::Serialize;

use super::CliError;
use crate::gpu::{AdaptiveSettings, FixedSchedule, GpuContext, GpuGradMethod, GpuLoss, GpuSolver};
use crate::grad::{self, BatchSteps, GradMethod, GradOptions, GradProblem, Loss, LossKind};
use crate::nn::{Activation, Mlp};
use crate::solver::{self, Method, SolverConfig};

#[derive(Debug, Args)]
pub struct BenchGpuArgs {
    /// Comma-separated batch sizes (default 256,1024,4096,16384,65536).
    #[arg(long)]
    pub batch: Option<String>,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Hidden width W of the 2-W-2 tanh MLP.
    #[arg(long, default_value_t = 64)]
    pub width: usize,
    /// Fixed RK4 steps over [0, 1].
    #[arg(long, default_value_t = 100)]
    pub steps: u32,
    /// Timed GPU calls per figure (median).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Largest batch the CPU path is timed on.
    #[arg(long = "cpu-max-batch", default_value_t = 4096)]
    pub cpu_max_batch: usize,
    /// Comma-separated rows: forward-rk4, forward-zc-rk4 and GPU gradient methods (default all).
    #[arg(long)]
    pub methods: Option<String>,
    /// Time a training task instead (default settings, its first method): CPU f64, CPU f32
    /// and GPU ms per iteration, loss-curve agreement and kernel build time per batch.
    #[arg(long)]
    pub task: Option<String>,
    /// Training iterations per figure with --task.
    #[arg(long, default_value_t = 3)]
    pub iters: usize,
    /// Hidden widths with --task, comma-separated (default: the task's own).
    #[arg(long)]
    pub hidden: Option<String>,
    /// Print the adapter (and its pipeline cache file) and exit.
    #[arg(long)]
    pub adapter: bool,
}

#[derive(Clone, Debug, Serialize)]
struct Row {
    batch: usize,
    method: String,
    gpu_ms: f64,
    gpu_samples_per_s: f64,
    cpu_batch: usize,
    cpu_ms: f64,
    cpu_samples_per_s: f64,
    gpu_over_cpu: f64,
    gpu_bytes: u64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Task {
    ForwardRk4,
    ForwardZc,
    Grad(GpuGradMethod),
    /// afge with per-sample zero-cost adaptive steps.
    AfgeZc,
}

impl Task {
    fn name(self) -> &'static str {
        match self {
            Task::ForwardRk4 => "forward-rk4",
            Task::ForwardZc => "forward-zc-rk4",
            Task::Grad(m) => m.name(),
            Task::AfgeZc => "afge-zc-rk4",
        }
    }
}

fn parse_list<T: std::str::FromStr>(text: &str, what: &str) -> Result<Vec<T>, CliError> {
    text.split(',')
        .map(|s| {
            s.trim()
                .parse()
                .map_err(|_| CliError::Usage(format!("--{what}: '{s}' is not a positive number")))
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn states(n: usize, seed: u64) -> Vec<f64> {
    use rand::{RngExt, SeedableRng, rngs::StdRng};
    let mut rng = StdRng::seed_from_u64(seed);
    (0..2 * n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

const ZC_TOL: f64 = 1e-5;

fn gpu_once(
    gpu: &mut GpuSolver,
    task: Task,
    sched: &FixedSchedule,
    adaptive: &AdaptiveSettings,
) -> Result<u64, String> {
    let r = match task {
        Task::ForwardRk4 => gpu.forward_rk4(sched).map(|o| o.gpu_bytes),
        Task::ForwardZc => gpu.forward_zc_rk4(adaptive).map(|o| o.gpu_bytes),
        Task::Grad(m) => gpu.gradient(m, sched, GpuLoss::Mse).map(|o| o.gpu_bytes),
        Task::AfgeZc => gpu
            .afge_adaptive(adaptive, GpuLoss::Mse)
            .map(|o| o.gpu_bytes),
    };
    r.map_err(|e| e.to_string())
}

fn cpu_once(mlp: &Mlp, task: Task, y0: &[f64], target: &[f64], h: f64) -> Result<(), String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let config = |method| SolverConfig {
        method,
        h0: (method == Method::Rk4).then_some(h),
        tol: ZC_TOL,
        ..SolverConfig::default()
    };
    match task {
        Task::ForwardRk4 | Task::ForwardZc => {
            let cfg = config(if task == Task::ForwardRk4 {
                Method::Rk4
            } else {
                Method::ZcRk4
            });
            y0.par_chunks(2).try_for_each(|s| {
                let problem = crate::problem::neural::build(mlp.clone(), s.to_vec(), 0.0, 1.0)
                    .map_err(|e| e.to_string())?;
                solver::solve(&problem, &cfg)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
        }
        Task::Grad(_) | Task::AfgeZc => {
            let problem = GradProblem {
                mlp: mlp.clone(),
                y0: y0.chunks(2).map(<[f64]>::to_vec).collect(),
                t0: 0.0,
                t1: 1.0,
                solver: config(if task == Task::AfgeZc {
                    Method::ZcRk4
                } else {
                    Method::Rk4
                }),
                batch_steps: BatchSteps::PerSample,
                loss: Loss::terminal(
                    LossKind::Mse,
                    target.chunks(2).map(<[f64]>::to_vec).collect(),
                ),
            };
            let method = match task {
                Task::Grad(m) => m.cpu(),
                _ => GradMethod::Afge,
            };
            let opts = GradOptions {
                threads,
                ..GradOptions::default()
            };
            grad::compute(&problem, method, &opts)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    }
}

fn parse_tasks(methods: Option<&str>) -> Result<Vec<Task>, CliError> {
    let all = [
        Task::ForwardRk4,
        Task::ForwardZc,
        Task::Grad(GpuGradMethod::Backprop),
        Task::Grad(GpuGradMethod::Checkpoint),
        Task::Grad(GpuGradMethod::Adjoint),
        Task::Grad(GpuGradMethod::Afge),
        Task::Grad(GpuGradMethod::Alf),
        Task::Grad(GpuGradMethod::ReversibleHeun),
        Task::Grad(GpuGradMethod::ReversibleRk4),
        Task::AfgeZc,
    ];
    Ok(match methods {
        None => all.to_vec(),
        Some(list) => list
            .split(',')
            .map(|n| {
                all.iter()
                    .copied()
                    .find(|t| t.name() == n.trim())
                    .ok_or_else(|| {
                        CliError::Usage(format!(
                            "unknown row '{n}' (known: {})",
                            all.map(Task::name).join(", ")
                        ))
                    })
            })
            .collect::<Result<_, _>>()?,
    })
}

pub fn run(args: &BenchGpuArgs) -> Result<(), CliError> {
    let batches: Vec<usize> = parse_list(
        args.batch.as_deref().unwrap_or("256,1024,4096,16384,65536"),
        "batch",
    )?;
    if batches.contains(&0) || args.width == 0 || args.steps == 0 || args.repeats == 0 {
        return Err(CliError::Usage(
            "batch sizes, --width, --steps and --repeats must be positive".into(),
        ));
    }
    if args.adapter {
        let ctx = GpuContext::headless().map_err(|e| CliError::Usage(e.to_string()))?;
        println!("GPU: {}", ctx.adapter.summary());
        println!("driver: {}", ctx.adapter.driver);
        match ctx.pipeline_cache_path() {
            Some(p) => println!("pipeline cache: {}", p.display()),
            None => println!("pipeline cache: none (not supported by this backend)"),
        }
        return Ok(());
    }
    if let Some(task) = &args.task {
        let hidden = match &args.hidden {
            Some(h) => Some(parse_list(h, "hidden")?),
            None => None,
        };
        return super::bench_gpu_tasks::run(task, &batches, hidden, args.iters.max(1), args.json);
    }
    let tasks = parse_tasks(args.methods.as_deref())?;
    let ctx = GpuContext::headless().map_err(|e| CliError::Usage(e.to_string()))?;
    if !args.json {
        ctx.set_build_observer(Some(crate::gpu::context::stderr_build_observer()));
    }
    let mlp = Mlp::random(&[2, args.width, 2], Activation::Tanh, false, 1.0, 2024);
    let h = 1.0 / f64::from(args.steps);
    let sched =
        FixedSchedule::new(0.0, 1.0, Some(h)).map_err(|e| CliError::Usage(e.to_string()))?;
    let adaptive = AdaptiveSettings::from_config(
        &SolverConfig {
            method: Method::ZcRk4,
            tol: ZC_TOL,
            ..SolverConfig::default()
        },
        0.0,
        1.0,
    );
    // Shader compilation and the first calls can take minutes on a software adapter.
    let progress = super::progress::Progress::new(args.json);
    progress.stage("compiling the GPU kernels", None);
    let mut gpu = GpuSolver::new(ctx.clone(), &mlp).map_err(|e| CliError::Usage(e.to_string()))?;
    let fail = |e: String| {
        eprintln!("error: {e}");
        CliError::Failed
    };
    let mut rows = Vec::new();
    if !args.json {
        print_header(&ctx, args);
    }
    let mut cpu_cache: Vec<(Task, usize, f64)> = Vec::new();
    for &batch in &batches {
        let y0 = states(batch, 1);
        let target = states(batch, 2);
        gpu.set_batch(&y0, &target)
            .map_err(|e| fail(e.to_string()))?;
        for &task in &tasks {
            progress.stage(&format!("batch {batch}: {} on the GPU", task.name()), None);
            let bytes = gpu_once(&mut gpu, task, &sched, &adaptive).map_err(fail)?;
            let mut times = Vec::new();
            for _ in 0..args.repeats.max(1) {
                let start = Instant::now();
                gpu_once(&mut gpu, task, &sched, &adaptive).map_err(fail)?;
                times.push(start.elapsed().as_secs_f64() * 1e3);
            }
            let gpu_ms = median(times);
            let cpu_batch = batch.min(args.cpu_max_batch.max(1));
            let cpu_ms = match cpu_cache
                .iter()
                .find(|(t, b, _)| *t == task && *b == cpu_batch)
            {
                Some(&(_, _, ms)) => ms,
                None => {
                    progress.stage(
                        &format!("batch {cpu_batch}: {} on the CPU", task.name()),
                        None,
                    );
                    // Median of up to `repeats` calls, fewer when one call is long.
                    let mut times = Vec::new();
                    let budget = Instant::now();
                    while times.len() < args.repeats.max(1)
                        && (times.is_empty() || budget.elapsed().as_secs_f64() < 2.0)
                    {
                        let start = Instant::now();
                        cpu_once(
                            &mlp,
                            task,
                            &y0[..2 * cpu_batch],
                            &target[..2 * cpu_batch],
                            h,
                        )
                        .map_err(fail)?;
                        times.push(start.elapsed().as_secs_f64() * 1e3);
                    }
                    let ms = median(times);
                    cpu_cache.push((task, cpu_batch, ms));
                    ms
                }
            };
            let gpu_sps = batch as f64 / (gpu_ms / 1e3);
            let cpu_sps = cpu_batch as f64 / (cpu_ms / 1e3);
            let row = Row {
                batch,
                method: task.name().to_string(),
                gpu_ms,
                gpu_samples_per_s: gpu_sps,
                cpu_batch,
                cpu_ms,
                cpu_samples_per_s: cpu_sps,
                gpu_over_cpu: gpu_sps / cpu_sps,
                gpu_bytes: bytes,
            };
            if !args.json {
                // Rows appear as they are measured (a software adapter is slow).
                print_row(&row);
            }
            rows.push(row);
        }
    }
    if args.json {
        print_rows(&ctx, args, &rows).map_err(fail)
    } else {
        Ok(())
    }
}

fn print_rows(ctx: &GpuContext, args: &BenchGpuArgs, rows: &[Row]) -> Result<(), String> {
    let threads = rayon::current_num_threads();
    if args.json {
        let value = serde_json::json!({
            "adapter": {
                "name": ctx.adapter.name,
                "backend": ctx.adapter.backend,
                "device_type": ctx.adapter.device_type,
                "software": ctx.adapter.software,
                "driver": ctx.adapter.driver,
            },
            "problem": {
                "mlp": format!("2-{}-2 tanh", args.width),
                "t_span": [0.0, 1.0],
                "steps": args.steps,
                "zc_rk4_tol": ZC_TOL,
                "loss": "mse",
                "gpu_precision": "f32",
                "cpu_precision": "f64",
                "cpu_threads": threads,
            },
            "rows": rows,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    print_header(ctx, args);
    for r in rows {
        print_row(r);
    }
    Ok(())
}

fn print_header(ctx: &GpuContext, args: &BenchGpuArgs) {
    println!("GPU: {}", ctx.adapter.summary());
    println!(
        "MLP 2-{}-2 tanh, t in [0, 1], RK4 {} steps (zc-rk4 tol {ZC_TOL}), mse; GPU f32, CPU f64 \
         on {} threads",
        args.width,
        args.steps,
        rayon::current_num_threads()
    );
    println!(
        "{:>7} {:<16} {:>11} {:>14} {:>9} {:>14} {:>9} {:>13}",
        "batch",
        "method",
        "gpu_ms",
        "gpu_samples/s",
        "cpu_batch",
        "cpu_samples/s",
        "gpu/cpu",
        "gpu_bytes"
    );
}

fn print_row(r: &Row) {
    println!(
        "{:>7} {:<16} {:>11.3} {:>14.0} {:>9} {:>14.0} {:>9.2} {:>13}",
        r.batch,
        r.method,
        r.gpu_ms,
        r.gpu_samples_per_s,
        r.cpu_batch,
        r.cpu_samples_per_s,
        r.gpu_over_cpu,
        r.gpu_bytes
    );
}
