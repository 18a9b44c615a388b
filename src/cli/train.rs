//! `nodelab train`: train a neural ODE on a task with several gradient methods side by side
//! (same initial weights, same batches), with a progress bar, a summary table, JSON, CSV and the
//! trained models.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::Args;

use super::grad::parse_methods;
use super::{CliError, fmt_num};
use crate::nn::model_file;
use crate::report::text::bytes;
use crate::train::preset::{TrainPreset, TrainSection};
use crate::train::record::{TrainReport, csv};
use crate::train::{Device, TaskData, TaskName, TrainConfig, TrainControl, Trainer};

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// A task (spiral-fit, freefall-fit, white-dwarf-ident, circles, moons, two-spirals, xor,
    /// gaussians, density-{8gaussians,2spirals,pinwheel,moons,circles,checkerboard}) or a
    /// training preset (.toml with a [train] table).
    pub target: String,
    /// Comma-separated gradient methods to compare (default: the task's), or `all`.
    #[arg(long)]
    pub methods: Option<String>,
    /// Iterations.
    #[arg(long)]
    pub iters: Option<usize>,
    /// Windows or points per iteration.
    #[arg(long)]
    pub batch: Option<usize>,
    /// adam, rmsprop or sgd (with momentum 0.9).
    #[arg(long)]
    pub optimizer: Option<String>,
    /// Learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// A method's own learning rate, METHOD=LR (repeatable).
    #[arg(long = "method-lr", value_name = "METHOD=LR")]
    pub method_lr: Vec<String>,
    /// Seed of the data, the initial weights and the batch sequence.
    #[arg(long)]
    pub seed: Option<u64>,
    /// cpu (f64, deterministic; the default), gpu or auto.
    #[arg(long)]
    pub device: Option<String>,
    /// f64 (default) or f32.
    #[arg(long)]
    pub precision: Option<String>,
    /// Evaluate every K iterations (0: only at the start and the end).
    #[arg(long = "eval-every")]
    pub eval_every: Option<usize>,
    /// Compare each gradient with the reference (backprop through dopri5 at 1e-12) every K
    /// iterations (0: never).
    #[arg(long = "grad-check-every")]
    pub grad_check_every: Option<usize>,
    /// Run the methods of an iteration at once on their own threads (times then overlap).
    #[arg(long)]
    pub concurrent: bool,
    /// Threads per gradient (CPU): a shared batch is split over them in row blocks of at least
    /// 64 samples (default 1).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Hidden layer widths, comma-separated (e.g. 16,16).
    #[arg(long)]
    pub hidden: Option<String>,
    /// Classification: zero dimensions appended to the points.
    #[arg(long)]
    pub augment: Option<usize>,
    /// Classification: noise in [0, 0.5].
    #[arg(long)]
    pub noise: Option<f64>,
    /// Checkpoints of `checkpoint`.
    #[arg(long)]
    pub checkpoints: Option<usize>,
    /// Chebyshev nodes of `interp-adjoint`.
    #[arg(long = "cheb-nodes")]
    pub cheb_nodes: Option<usize>,
    /// Coupling λ of `reversible-rk4` / `reversible-midpoint`.
    #[arg(long)]
    pub lambda: Option<f64>,
    /// Fixed steps of the reversible methods.
    #[arg(long = "reversible-steps")]
    pub reversible_steps: Option<usize>,
    /// Step control of `afge`: state or augmented.
    #[arg(long = "afge-control")]
    pub afge_control: Option<String>,
    /// Write one CSV row per method and iteration to FILE.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Save the trained model (.json or .safetensors); with several methods, one file each,
    /// named PATH-<method>.EXT.
    #[arg(long = "save-model", value_name = "PATH")]
    pub save_model: Option<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// The configuration the arguments describe: the task's (or preset's) settings, overridden.
pub fn resolve(args: &TrainArgs) -> Result<(TrainConfig, Option<PathBuf>), CliError> {
    let usage = |m: String| CliError::Usage(m);
    let (mut c, preset_path) =
        if args.target.ends_with(".toml") || Path::new(&args.target).is_file() {
            let path = PathBuf::from(&args.target);
            let (c, _) = TrainPreset::load(&path)?;
            (c, Some(path))
        } else {
            let task = TaskName::parse(&args.target).ok_or_else(|| {
                usage(format!(
                    "unknown task '{}' (known: {}; or a training preset .toml)",
                    args.target,
                    TaskName::ALL.map(|t| t.name()).join(", ")
                ))
            })?;
            (TrainConfig::defaults(task), None)
        };
    // The options that are keys of a preset's [train] table are applied as one: the same
    // names, checks and messages as in a preset.
    let hidden = match &args.hidden {
        Some(h) => Some(
            h.split(',')
                .map(|w| {
                    w.trim()
                        .parse::<usize>()
                        .map_err(|_| usage(format!("--hidden: '{w}' is not a width")))
                })
                .collect::<Result<Vec<usize>, _>>()?,
        ),
        None => None,
    };
    let options = TrainSection {
        optimizer: args.optimizer.clone(),
        lr: args.lr,
        iters: args.iters,
        batch: args.batch,
        seed: args.seed,
        device: args.device.clone(),
        precision: args.precision.clone(),
        eval_every: args.eval_every,
        grad_check_every: args.grad_check_every,
        concurrent: args.concurrent.then_some(true),
        hidden,
        augment: args.augment,
        noise: args.noise,
        checkpoints: args.checkpoints,
        cheb_nodes: args.cheb_nodes,
        lambda: args.lambda,
        reversible_steps: args.reversible_steps,
        afge_control: args.afge_control.clone(),
        ..TrainSection::default()
    };
    options.apply(&mut c).map_err(|(_, m)| usage(m))?;
    // `--methods` also takes `all`; a repeated `--method-lr` replaces the method's rate.
    if let Some(list) = &args.methods {
        c.methods = parse_methods(list)?;
    }
    for item in &args.method_lr {
        let (name, lr) = super::parse_param(item)
            .map_err(|_| usage(format!("--method-lr expects METHOD=LR, got '{item}'")))?;
        let m = crate::grad::GradMethod::parse(&name)
            .ok_or_else(|| usage(format!("--method-lr: unknown gradient method '{name}'")))?;
        c.method_lr.retain(|(x, _)| *x != m);
        c.method_lr.push((m, lr));
    }
    if let Some(threads) = args.threads {
        if threads == 0 {
            return Err(CliError::Usage("--threads must be at least 1".into()));
        }
        c.grad_options.threads = threads;
    }
    c.validate().map_err(usage)?;
    Ok((c, preset_path))
}

/// Where each method's model goes.
fn model_paths(base: &Path, methods: &[crate::grad::GradMethod]) -> Vec<PathBuf> {
    if methods.len() == 1 {
        return vec![base.to_path_buf()];
    }
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "model".into());
    let ext = base
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    methods
        .iter()
        .map(|m| base.with_file_name(format!("{stem}-{}{ext}", m.name())))
        .collect()
}

pub fn run(args: &TrainArgs) -> Result<(), CliError> {
    let (config, preset_path) = resolve(args)?;
    let inputs: Vec<&Path> = preset_path.iter().map(PathBuf::as_path).collect();
    if let Some(csv) = &args.csv {
        crate::output::check_not_input(csv, &inputs, "--csv").map_err(CliError::Usage)?;
    }
    if let Some(base) = &args.save_model {
        for p in model_paths(base, &config.methods) {
            crate::output::check_not_input(&p, &inputs, "--save-model").map_err(CliError::Usage)?;
        }
    }
    // A GPU run: what cannot run on the GPU is a usage error (exit 2), a missing adapter a
    // failure (exit 1).
    let ctx = if config.device == Device::Gpu {
        let data =
            TaskData::generate(config.task, &config.data, config.seed).map_err(CliError::Usage)?;
        crate::train::gpu::check_config(&config, &data)
            .map_err(|why| CliError::Usage(format!("--device gpu: {why}")))?;
        match crate::gpu::GpuContext::headless() {
            Ok(ctx) => Some(ctx),
            Err(e) => {
                eprintln!("error: --device gpu: {e}; use --device cpu (f64) instead");
                return Err(CliError::Failed);
            }
        }
    } else {
        None
    };
    let mut trainer = Trainer::new_on(config.clone(), ctx).map_err(CliError::Usage)?;
    // Quiet under --json unless stderr is a terminal (then the bar does not mix with stdout).
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(config.iters as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} it  {per_sec}  ETA {eta}  {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let names: Vec<&str> = config.methods.iter().map(|m| m.name()).collect();
    let mut last_loss = vec![f64::NAN; names.len()];
    let report = trainer.run(&TrainControl::new(), |up| {
        for (i, r) in &up.records {
            last_loss[*i] = r.loss;
        }
        if let Some(bar) = &bar {
            bar.set_position(up.iter as u64);
            let msg = names
                .iter()
                .zip(&last_loss)
                .map(|(n, l)| format!("{n} {}", fmt_num(*l)))
                .collect::<Vec<_>>()
                .join("  ");
            bar.set_message(msg);
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(path) = &args.csv {
        model_file::write_atomic(path, csv_text(&trainer).as_bytes()).map_err(CliError::Usage)?;
    }
    if args.json {
        let text =
            serde_json::to_string_pretty(&report).map_err(|e| CliError::Usage(e.to_string()))?;
        println!("{text}");
    } else {
        print_table(&report);
    }
    if let Some(base) = &args.save_model {
        for path in save_models(base, &trainer)? {
            if !args.json {
                println!("saved {}", path.display());
            }
        }
    }
    if report.methods.iter().all(|m| m.status == "diverged") {
        return Err(CliError::Failed);
    }
    Ok(())
}

/// Saves every method's model (the last finite weights; a diverged method's weights are those
/// before the update that failed). Safetensors files carry the task and training settings.
fn save_models(base: &Path, trainer: &Trainer) -> Result<Vec<PathBuf>, CliError> {
    let config = trainer.config();
    let paths = model_paths(base, &config.methods);
    let mut meta = vec![
        ("task".to_string(), config.task.name().to_string()),
        ("training".to_string(), training_json(config)),
    ];
    if let TaskData::Trajectory(t) = trainer.data() {
        let y0 = serde_json::to_string(&t.states[0]).unwrap_or_default();
        let span =
            serde_json::to_string(&[t.times[0], t.times[t.times.len() - 1]]).unwrap_or_default();
        meta.push(("y0".into(), y0));
        meta.push(("t_span".into(), span));
    }
    if let TaskData::Density(d) = trainer.data() {
        meta.push(("t1".into(), d.t1.to_string()));
    }
    for (run, path) in trainer.runs().iter().zip(&paths) {
        let mut m = meta.clone();
        m.push(("method".into(), run.method.name().into()));
        if trainer.adapter().is_some() && model_file::is_safetensors(path) {
            // Trained in f32 on the GPU: the file stores exactly those f32 weights.
            m.push(("device".into(), "gpu".into()));
            let bytes = model_file::to_safetensors(
                &run.model.mlp,
                run.model.readout.as_ref(),
                &m,
                model_file::FloatKind::F32,
            )
            .map_err(CliError::Usage)?;
            model_file::write_atomic(path, &bytes).map_err(CliError::Usage)?;
        } else {
            model_file::save(path, &run.model.mlp, run.model.readout.as_ref(), &m)
                .map_err(CliError::Usage)?;
        }
    }
    Ok(paths)
}

/// The training settings as JSON (safetensors metadata).
pub fn training_json(c: &TrainConfig) -> String {
    TrainPreset::from_config(c, None)
        .to_toml()
        .ok()
        .and_then(|t| toml::from_str::<toml::Value>(&t).ok())
        .and_then(|v| serde_json::to_string(&v).ok())
        .unwrap_or_default()
}

/// `--csv`: one row per method and iteration, with the evaluation and the gradient check of
/// that iteration when there were any.
pub fn csv_text(trainer: &Trainer) -> String {
    csv(trainer
        .runs()
        .iter()
        .map(|r| (r.method, &r.records[..], &r.evals[..], &r.checks[..])))
}

fn print_table(report: &TrainReport) {
    println!(
        "task {}  device {}{}  precision {}  seed {}  iterations {}/{}{}",
        report.task,
        report.device,
        report
            .adapter
            .as_ref()
            .map(|a| format!(" ({a})"))
            .unwrap_or_default(),
        report.precision,
        report.seed,
        report.iters_done,
        report.iters,
        if report.concurrent {
            "  (concurrent: times overlap)"
        } else {
            ""
        }
    );
    println!(
        "{:<20} {:<9} {:>11} {:>11} {:>8} {:>9} {:>9} {:>10} {:>10} {:>10} {:>10}",
        "method",
        "status",
        "final loss",
        "best eval",
        "acc",
        "mean ms",
        "median ms",
        "nfe fwd",
        "nfe bwd",
        "peak heap",
        "stored"
    );
    for m in &report.methods {
        let best = m.best_eval();
        println!(
            "{:<20} {:<9} {:>11} {:>11} {:>8} {:>9} {:>9} {:>10} {:>10} {:>10} {:>10}",
            m.method.name(),
            m.status,
            m.final_loss.map_or("—".into(), fmt_num),
            best.map_or("—".into(), |e| fmt_num(e.loss)),
            best.and_then(|e| e.accuracy)
                .map_or("—".into(), |a| format!("{:.1}%", 100.0 * a)),
            format!("{:.3}", m.mean_ms_per_iter),
            format!("{:.3}", m.median_ms_per_iter),
            m.nfe_forward,
            m.nfe_backward,
            bytes(m.peak_heap_bytes),
            bytes(m.stored_bytes),
        );
    }
    for m in &report.methods {
        if let Some(r) = &m.reason {
            println!("{}: stopped at {r}", m.method.name());
        }
        if let Some(c) = m.grad_err.last() {
            println!(
                "{}: gradient error vs reference {} at iteration {}",
                m.method.name(),
                fmt_num(c.err),
                c.iter
            );
        }
    }
    for w in &report.warnings {
        println!("warning: {w}");
    }
}
