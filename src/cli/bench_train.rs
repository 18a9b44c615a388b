//! `nodelab bench train`: milliseconds per training iteration (gradient + optimiser step) of
//! each method on `spiral-fit` (CPU f64, one thread) and on `circles` at batch 256 and 65 536,
//! after warm-up iterations, from the same engine `nodelab train` runs. The circles rows run on
//! the GPU too (f32, the methods with a kernel) when an adapter exists; the adapter is named.

use clap::Args;
use serde::Serialize;

use super::CliError;
use crate::grad::GradMethod;
use crate::train::{Device, Precision, TaskName, TrainConfig, TrainControl, Trainer};

#[derive(Debug, Args)]
pub struct BenchTrainArgs {
    /// Comma-separated methods (default: backprop,checkpoint,adjoint,afge,reversible-heun).
    #[arg(long)]
    pub methods: Option<String>,
    /// Timed iterations per row (after 3 warm-up iterations; batch 65 536 uses a third).
    #[arg(long, default_value_t = 20)]
    pub iters: usize,
    /// Comma-separated circles batch sizes.
    #[arg(long, default_value = "256,65536")]
    pub batches: String,
    /// Only the spiral-fit rows (what the diffrax peer script compares with).
    #[arg(long = "spiral-only")]
    pub spiral_only: bool,
    /// Write the spiral-fit data, initial weights and batch sequence of this bench to DIR
    /// (spiral-mlp.json, spiral-data.json) for `benches/peers/diffrax_train.py`, and exit.
    #[arg(long = "write-spiral", value_name = "DIR")]
    pub write_spiral: Option<std::path::PathBuf>,
    /// Skip the GPU rows of circles (on a software adapter their kernels take minutes to
    /// compile for the default 16-16 network).
    #[arg(long = "cpu-only")]
    pub cpu_only: bool,
    /// Comma-separated hidden widths of the circles model, CPU and GPU rows alike (default:
    /// the task's 16,16; `--hidden 8` keeps a software adapter's kernel compilation short).
    #[arg(long)]
    pub hidden: Option<String>,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Threads per gradient (a shared batch is split over them in row blocks of at least 64
    /// samples; 1, the default, is the peer comparison).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Float type of the CPU rows' gradients: f64 (default) or f32 (the weights and the
    /// optimiser stay f64, as `nodelab train --precision f32`). GPU rows are f32.
    #[arg(long, default_value = "f64")]
    pub precision: String,
    /// Evaluate the network layer at a time only, without the fused one-hidden-layer kernels.
    #[arg(long = "no-fused")]
    pub no_fused: bool,
}

/// Warm-up iterations before the timed ones.
const WARM: usize = 3;

/// Writes what the peer script needs to run the same spiral-fit iterations.
fn write_spiral(dir: &std::path::Path, iters: usize) -> Result<(), CliError> {
    use crate::train::TaskData;
    use crate::train::rng::{SeedRng, Stream};
    let config = TrainConfig::defaults(TaskName::SpiralFit);
    let trainer = Trainer::new(config.clone()).map_err(CliError::Usage)?;
    let TaskData::Trajectory(t) = trainer.data() else {
        return Err(CliError::Usage("spiral-fit is a trajectory task".into()));
    };
    let mut rng = SeedRng::new(config.seed, Stream::Batches);
    let batches: Vec<Vec<usize>> = (0..WARM + iters)
        .map(|_| trainer.data().draw_batch(&mut rng, config.batch))
        .collect();
    let data = serde_json::json!({
        "times": t.times,
        "states": t.states,
        "window": t.window,
        "batches": batches,
        "warmup": WARM,
        "rtol": config.solver.rtol,
        "atol": config.solver.tol,
        "lr": config.optimizer.lr,
        "decay": config.optimizer.decay,
        "eps": config.optimizer.eps,
    });
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::Usage(format!("cannot create {}: {e}", dir.display())))?;
    let mlp = &trainer.runs()[0].model.mlp;
    crate::nn::model_file::save(&dir.join("spiral-mlp.json"), mlp, None, &[])
        .map_err(CliError::Usage)?;
    crate::nn::model_file::write_atomic(&dir.join("spiral-data.json"), data.to_string().as_bytes())
        .map_err(CliError::Usage)?;
    println!(
        "wrote {}/spiral-mlp.json and spiral-data.json",
        dir.display()
    );
    Ok(())
}

/// One measured row.
#[derive(Clone, Debug, Serialize)]
pub struct BenchTrainRow {
    pub task: &'static str,
    pub batch: usize,
    pub device: &'static str,
    /// Float type of the gradient ("f64" or "f32"; GPU rows are f32).
    pub precision: &'static str,
    pub method: GradMethod,
    pub median_ms_per_iter: f64,
    pub mean_ms_per_iter: f64,
    pub median_grad_ms: f64,
    /// Median process CPU time (user + system, every thread) per timed iteration, ms: what
    /// `benches/peers/diffrax_train.py --cpu-time` compares on a machine shared with other
    /// work (absent where the platform has no process CPU clock).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_cpu_ms_per_iter: Option<f64>,
    pub iters: usize,
    pub status: &'static str,
    /// The GPU adapter of a GPU row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
}

/// The process's CPU time so far (user + system, all threads), ms: `CLOCK_PROCESS_CPUTIME_ID`.
#[cfg(unix)]
fn process_cpu_ms() -> Option<f64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    (rc == 0).then_some(ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 * 1e-6)
}

#[cfg(not(unix))]
fn process_cpu_ms() -> Option<f64> {
    None
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

/// Runs `warm + iters` iterations of `config` and measures the last `iters`.
fn measure(
    mut config: TrainConfig,
    warm: usize,
    iters: usize,
) -> Result<Vec<BenchTrainRow>, String> {
    config.iters = warm + iters;
    config.eval_every = 0;
    let task = config.task.name();
    let batch = config.batch;
    let precision = config.precision;
    let mut trainer = Trainer::new(config)?;
    // The process CPU clock read after every iteration: the differences are each iteration's
    // CPU time (the sink runs once per iteration, after every method has stepped).
    let mut cpu_marks = vec![process_cpu_ms()];
    let report = trainer.run(&TrainControl::new(), |_| cpu_marks.push(process_cpu_ms()));
    let cpu_ms: Option<Vec<f64>> = cpu_marks
        .windows(2)
        .skip(warm)
        .map(|w| Some(w[1]? - w[0]?))
        .collect();
    let single = trainer.runs().len() == 1;
    Ok(trainer
        .runs()
        .iter()
        .zip(&report.methods)
        .map(|(run, m)| {
            let timed: Vec<_> = run.records.iter().filter(|r| r.iter > warm).collect();
            BenchTrainRow {
                task,
                batch,
                device: report.device,
                precision: if report.device == "gpu" || precision == Precision::F32 {
                    "f32"
                } else {
                    "f64"
                },
                method: run.method,
                median_ms_per_iter: median(timed.iter().map(|r| r.ms).collect()),
                mean_ms_per_iter: timed.iter().map(|r| r.ms).sum::<f64>()
                    / timed.len().max(1) as f64,
                median_grad_ms: median(timed.iter().map(|r| r.grad_ms).collect()),
                // Per method only when one method runs (an iteration steps every method).
                median_cpu_ms_per_iter: cpu_ms
                    .clone()
                    .filter(|v| single && !v.is_empty())
                    .map(median),
                iters: timed.len(),
                status: m.status,
                adapter: report.adapter.clone(),
            }
        })
        .collect())
}

pub fn run(args: &BenchTrainArgs) -> Result<(), CliError> {
    let precision = super::grad::parse_precision(&args.precision)?;
    let mut methods = match &args.methods {
        Some(list) => super::grad::parse_methods(list)?,
        None => vec![
            GradMethod::Backprop,
            GradMethod::Checkpoint,
            GradMethod::Adjoint,
            GradMethod::Afge,
            GradMethod::ReversibleHeun,
        ],
    };
    if args.methods.is_none() && precision == crate::grad::Precision::F32 {
        // The default list in f32: leave out the methods that are f64 only, saying so.
        let spiral = TrainConfig::defaults(TaskName::SpiralFit);
        methods.retain(|&m| {
            let ok = crate::grad::check_f32(&spiral.solver, m, &spiral.grad_options);
            if let Err(e) = &ok {
                eprintln!("bench train: --precision f32 leaves out {m} ({e})");
            }
            ok.is_ok()
        });
    }
    if args.iters == 0 || args.threads == 0 {
        return Err(CliError::Usage(
            "--iters and --threads must be at least 1".into(),
        ));
    }
    if let Some(dir) = &args.write_spiral {
        return write_spiral(dir, args.iters);
    }
    if args.no_fused {
        crate::nn::fused::set_enabled(false);
    }
    let batches: Vec<usize> = args
        .batches
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .ok()
                .filter(|&b| b > 0)
                .ok_or_else(|| CliError::Usage(format!("--batches: '{s}' is not a batch size")))
        })
        .collect::<Result<_, _>>()?;
    let hidden: Option<Vec<usize>> = match &args.hidden {
        None => None,
        Some(list) => Some(
            list.split(',')
                .map(str::trim)
                .map(|s| {
                    s.parse::<usize>().ok().filter(|&w| w > 0).ok_or_else(|| {
                        CliError::Usage(format!("--hidden: '{s}' is not a layer width"))
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    let mut rows = Vec::new();
    let mut gpu_notes: Vec<String> = Vec::new();
    let mut spiral = TrainConfig::defaults(TaskName::SpiralFit);
    spiral.methods = methods.clone();
    spiral.grad_options.threads = args.threads;
    spiral.precision = precision;
    // Every setting is checked before the first row is measured.
    let mut all = vec![spiral.clone()];
    all.extend(
        batches
            .iter()
            .filter(|_| !args.spiral_only)
            .map(|&b| circles_config(&methods, args.threads, precision, b, hidden.as_ref())),
    );
    for c in &all {
        c.validate()
            .map_err(|e| CliError::Usage(format!("{} batch {}: {e}", c.task.name(), c.batch)))?;
        if precision == crate::grad::Precision::F32 {
            for &m in &c.methods {
                crate::grad::check_f32(&c.solver, m, &c.grad_options)
                    .map_err(|e| CliError::Usage(format!("--precision f32: {e}")))?;
            }
        }
    }
    let progress = |what: String| {
        if !args.json || std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprintln!("bench train: {what}");
        }
    };
    progress(format!("spiral-fit, batch {} …", spiral.batch));
    rows.extend(measure(spiral, WARM, args.iters).map_err(CliError::Usage)?);
    for &b in batches.iter().filter(|_| !args.spiral_only) {
        let c = circles_config(&methods, args.threads, precision, b, hidden.as_ref());
        let iters = if b > 10_000 {
            (args.iters / 3).max(1)
        } else {
            args.iters
        };
        progress(format!("circles, batch {b} …"));
        let warm = if b > 10_000 { 1 } else { WARM };
        rows.extend(measure(c.clone(), warm, iters).map_err(CliError::Usage)?);
        if args.cpu_only {
            continue;
        }
        let mut g = c;
        g.device = Device::Gpu;
        g.methods
            .retain(|&m| crate::gpu::GpuGradMethod::of_cpu(m).is_some());
        if g.methods.is_empty() {
            gpu_notes.push(format!(
                "circles batch {b}: none of the methods has a GPU kernel"
            ));
            continue;
        }
        progress(format!(
            "circles, batch {b}, GPU (kernels compile first; on a software adapter a 16-wide \
             network takes minutes per kernel: --hidden 8, --batches or --cpu-only shorten it) …"
        ));
        match measure(g, warm, iters) {
            Ok(r) => rows.extend(r),
            Err(e) => gpu_notes.push(format!("circles batch {b}: {e}")),
        }
    }
    if args.json {
        for n in &gpu_notes {
            eprintln!("gpu: {n}");
        }
        let text =
            serde_json::to_string_pretty(&rows).map_err(|e| CliError::Usage(e.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    print_table(&rows);
    for n in &gpu_notes {
        println!("gpu: {n}");
    }
    Ok(())
}

/// The circles setting of one batch size.
fn circles_config(
    methods: &[GradMethod],
    threads: usize,
    precision: crate::grad::Precision,
    batch: usize,
    hidden: Option<&Vec<usize>>,
) -> TrainConfig {
    let mut c = TrainConfig::defaults(TaskName::Circles);
    c.methods = methods.to_vec();
    c.grad_options.threads = threads;
    c.precision = precision;
    c.batch = batch;
    c.data.test_fraction = 0.5;
    c.data.points = (2 * batch).max(500);
    if let Some(h) = hidden {
        c.model.hidden.clone_from(h);
    }
    c
}

/// The rows as a table, with the CPU/GPU ratio of each GPU row.
fn print_table(rows: &[BenchTrainRow]) {
    println!("kernels: {}", crate::nn::fused::kernels_description(None));
    println!(
        "{:<12} {:>7} {:<7} {:<5} {:<20} {:>12} {:>12} {:>12} {:>6}",
        "task",
        "batch",
        "device",
        "float",
        "method",
        "median ms/it",
        "mean ms/it",
        "grad ms",
        "iters"
    );
    for r in rows {
        println!(
            "{:<12} {:>7} {:<7} {:<5} {:<20} {:>12.3} {:>12.3} {:>12.3} {:>6}{}",
            r.task,
            r.batch,
            r.device,
            r.precision,
            r.method.name(),
            r.median_ms_per_iter,
            r.mean_ms_per_iter,
            r.median_grad_ms,
            r.iters,
            if r.status == "diverged" {
                "  (diverged)"
            } else {
                ""
            }
        );
    }
    if let Some(a) = rows.iter().find_map(|r| r.adapter.as_ref()) {
        println!("gpu rows: f32 on {a}");
        for g in rows.iter().filter(|r| r.device == "gpu") {
            if let Some(c) = rows.iter().find(|c| {
                c.device == "cpu" && c.task == g.task && c.batch == g.batch && c.method == g.method
            }) {
                println!(
                    "  {} batch {} {}: CPU/GPU time per iteration {:.2}",
                    g.task,
                    g.batch,
                    g.method.name(),
                    c.median_ms_per_iter / g.median_ms_per_iter
                );
            }
        }
    }
}
