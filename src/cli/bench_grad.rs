//! `nodelab bench grad`: the gradient-method comparison on a fixed toy problem — a batch of 256
//! two-dimensional points through a 2-64-2 tanh MLP on t ∈ [0, 1], dopri5 at rtol = atol = 1e-5,
//! `mse` loss, shared steps — plus a memory-scaling table: stored and peak heap bytes of each
//! method as the number of fixed RK4 steps grows 10× (10, 100, 1000 steps). The problem and the
//! measurements are [`crate::bench::grad`]'s (the app's Gradients workspace runs the same); this
//! file parses the options and prints the tables.

use clap::Args;
use serde::Serialize;
use serde_json::json;

use super::CliError;
use super::grad::{check_device, comparison_json, parse_methods};
use crate::bench::grad::{
    SCALING_STEPS, ScalingRow, SpeedRow, ThreadRow, bench_methods, gemm_peak_gflops,
    memory_scaling, speed_rows, thread_scaling, toy_problem,
};
use crate::grad::measure;
use crate::grad::{GradMethod, GradOptions, GradProblem, Precision};
use crate::report::grad_table::{problem_header, table};

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

fn scaling_table(rows: &[ScalingRow]) -> String {
    let mut out = String::from(
        "memory scaling (fixed-step rk4; reversible methods with the same step count): stored / \
         peak heap bytes\n",
    );
    out.push_str(&format!(
        "{:<16}{:>26}{:>26}{:>26}\n",
        "method", "10 steps", "100 steps", "1000 steps"
    ));
    for method in bench_methods() {
        out.push_str(&format!("{:<16}", method.name()));
        for steps in SCALING_STEPS {
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
