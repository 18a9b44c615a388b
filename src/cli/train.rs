//! `nodelab train`: train a neural ODE on a task with several gradient methods side by side
//! (same initial weights, same batches), with a progress bar, a summary table, JSON, CSV and the
//! trained models.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Args;

use super::grad::parse_methods;
use super::{CliError, fmt_num};
use crate::nn::model_file;
use crate::report::text::bytes;
use crate::train::preset::{TrainPreset, TrainSection};
use crate::train::record::TrainReport;
use crate::train::run_dir::{RunDir, RunState};
use crate::train::{Device, MethodStatus, TaskData, TaskName, TrainConfig, TrainUpdate, Trainer};

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// A task (spiral-fit, freefall-fit, white-dwarf-ident, circles, moons, two-spirals, xor,
    /// gaussians, density-{8gaussians,2spirals,pinwheel,moons,circles,checkerboard}) or a
    /// training preset (.toml with a [train] table); absent with --resume.
    #[arg(required_unless_present = "resume")]
    pub target: Option<String>,
    /// Comma-separated gradient methods to compare (default: the task's), or `all`.
    #[arg(long)]
    pub methods: Option<String>,
    /// Iterations (with --resume: iterations more).
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
    /// Optimiser weight decay λ (added to the gradient as λθ).
    #[arg(long = "weight-decay")]
    pub weight_decay: Option<f64>,
    /// Activation of the hidden layers (tanh, relu, …).
    #[arg(long)]
    pub activation: Option<String>,
    /// Initial weights N(0, σ²) with this σ (default: the task's; Glorot-uniform for most).
    #[arg(long = "init-std")]
    pub init_std: Option<f64>,
    /// Classification: number of points generated.
    #[arg(long)]
    pub points: Option<usize>,
    /// Classification: the share of points held out for evaluation, in [0, 0.9).
    #[arg(long = "test-fraction")]
    pub test_fraction: Option<f64>,
    /// identity or cube (the map applied to the state before the first layer).
    #[arg(long = "input-map")]
    pub input_map: Option<String>,
    /// Whether the network also sees t (true or false).
    #[arg(long = "time-input", value_name = "BOOL")]
    pub time_input: Option<bool>,
    /// The solver of every method (zc-rk4, rk4, dopri5, midpoint, …; the preset's [solver]
    /// method). The GPU trains with fixed steps: rk4, midpoint or euler.
    #[arg(long, value_name = "METHOD")]
    pub solver: Option<String>,
    /// The step of a fixed-step solver (the initial step of an adaptive one).
    #[arg(long, value_name = "H")]
    pub h0: Option<f64>,
    /// Start every method from this saved model (.json or .safetensors) instead of the seeded
    /// weights.
    #[arg(long, value_name = "MODEL")]
    pub init: Option<PathBuf>,
    /// Keep the run in DIR: run.json, curve.csv, each method's weights and optimiser state,
    /// setup.toml (continue it with --resume DIR).
    #[arg(long = "run-dir", value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// Continue the run kept in DIR (by --run-dir) from its saved weights, optimiser state and
    /// place in the batch sequence; --iters N trains N more.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["target", "run_dir", "init"])]
    pub resume: Option<PathBuf>,
    /// Write one CSV row per method and iteration to FILE (`-`: standard output).
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

/// The options that change a run's setup (refused with --resume, which continues the saved
/// one).
fn setup_options(args: &TrainArgs) -> Vec<&'static str> {
    let given = [
        ("--methods", args.methods.is_some()),
        ("--batch", args.batch.is_some()),
        ("--optimizer", args.optimizer.is_some()),
        ("--lr", args.lr.is_some()),
        ("--method-lr", !args.method_lr.is_empty()),
        ("--seed", args.seed.is_some()),
        ("--device", args.device.is_some()),
        ("--precision", args.precision.is_some()),
        ("--eval-every", args.eval_every.is_some()),
        ("--grad-check-every", args.grad_check_every.is_some()),
        ("--concurrent", args.concurrent),
        ("--threads", args.threads.is_some()),
        ("--hidden", args.hidden.is_some()),
        ("--augment", args.augment.is_some()),
        ("--noise", args.noise.is_some()),
        ("--checkpoints", args.checkpoints.is_some()),
        ("--cheb-nodes", args.cheb_nodes.is_some()),
        ("--lambda", args.lambda.is_some()),
        ("--reversible-steps", args.reversible_steps.is_some()),
        ("--afge-control", args.afge_control.is_some()),
        ("--weight-decay", args.weight_decay.is_some()),
        ("--activation", args.activation.is_some()),
        ("--init-std", args.init_std.is_some()),
        ("--points", args.points.is_some()),
        ("--test-fraction", args.test_fraction.is_some()),
        ("--input-map", args.input_map.is_some()),
        ("--time-input", args.time_input.is_some()),
        ("--solver", args.solver.is_some()),
        ("--h0", args.h0.is_some()),
    ];
    given
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| name)
        .collect()
}

/// The configuration the arguments describe: the task's (or preset's) settings, overridden.
pub fn resolve(args: &TrainArgs) -> Result<(TrainConfig, Option<PathBuf>), CliError> {
    let usage = |m: String| CliError::Usage(m);
    let target = args.target.as_deref().unwrap_or_default();
    let (mut c, preset_path) = if target.ends_with(".toml") || Path::new(target).is_file() {
        let path = PathBuf::from(target);
        // A problem preset is for `solve`: say so rather than "missing field `train`".
        if let Ok(text) = std::fs::read_to_string(&path)
            && !crate::preset::is_train_preset(&text)
            && toml::from_str::<toml::Table>(&text).is_ok_and(|t| t.contains_key("problem"))
        {
            return Err(usage(format!(
                "{target} is a problem preset (a [problem] table, no [train]): integrate it \
                 with `nodelab solve {target}`, or train on a preset with a [train] table"
            )));
        }
        let (c, _) = TrainPreset::load(&path)?;
        (c, Some(path))
    } else {
        let task = TaskName::parse(target).ok_or_else(|| {
            usage(format!(
                "unknown task '{target}' (known: {}; or a training preset .toml)",
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
        weight_decay: args.weight_decay,
        activation: args.activation.clone(),
        init_std: args.init_std,
        points: args.points,
        test_fraction: args.test_fraction,
        input_map: args.input_map.clone(),
        time_input: args.time_input,
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
        if threads == 0 || threads > 1024 {
            return Err(CliError::Usage("--threads must be in 1 ..= 1024".into()));
        }
        c.grad_options.threads = threads;
    }
    if let Some(name) = &args.solver {
        c.solver.method = crate::solver::Method::parse(name).ok_or_else(|| {
            usage(format!(
                "--solver: unknown solver '{name}' (known: {})",
                crate::solver::Method::ALL.map(|m| m.name()).join(", ")
            ))
        })?;
    }
    if let Some(h0) = args.h0 {
        if !(h0.is_finite() && h0 > 0.0) {
            return Err(usage(format!("--h0 must be a positive number, got {h0}")));
        }
        c.solver.h0 = Some(h0);
    }
    c.validate().map_err(usage)?;
    Ok((c, preset_path))
}

/// Warnings about settings the task ignores (said before training, on stderr).
fn ignored_settings(c: &TrainConfig) -> Vec<String> {
    let d = TrainConfig::defaults(c.task);
    let mut w = Vec::new();
    if !c.task.is_classification() {
        if c.data.noise != d.data.noise {
            w.push(format!(
                "noise = {}: {} is a trajectory task; noise applies to classification only",
                c.data.noise,
                c.task.name()
            ));
        }
        if c.data.augment != d.data.augment {
            w.push(format!(
                "augment = {}: {} is a trajectory task; augment applies to classification only",
                c.data.augment,
                c.task.name()
            ));
        }
        if c.data.points != d.data.points || c.data.test_fraction != d.data.test_fraction {
            w.push(format!(
                "points / test_fraction: {} is a trajectory task; they apply to classification only",
                c.task.name()
            ));
        }
    }
    w
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

/// Refuses, before the first iteration, an output that cannot be written or collides with
/// another output or an input: a missing folder, a directory, an unwritable folder, a model
/// extension that is neither .json nor .safetensors, two outputs on one file.
fn check_outputs(
    args: &TrainArgs,
    methods: &[crate::grad::GradMethod],
    inputs: &[&Path],
) -> Result<(), CliError> {
    let usage = |m: String| CliError::Usage(m);
    let mut outputs: Vec<(String, PathBuf)> = Vec::new();
    if let Some(csv) = args.csv.as_ref().filter(|p| p.as_os_str() != "-") {
        outputs.push(("--csv".into(), csv.clone()));
    }
    if args.csv.as_ref().is_some_and(|p| p.as_os_str() == "-") && args.json {
        return Err(usage(
            "--csv - and --json both write to standard output: give --csv a file".into(),
        ));
    }
    if let Some(base) = &args.save_model {
        let ext = base
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        if !matches!(ext.as_deref(), Some("json" | "safetensors")) {
            return Err(usage(format!(
                "--save-model {}: the file name must end in .json or .safetensors",
                base.display()
            )));
        }
        for p in model_paths(base, methods) {
            outputs.push(("--save-model".into(), p));
        }
    }
    if let Some(dir) = args.run_dir.as_ref().or(args.resume.as_ref()) {
        let what = if args.resume.is_some() {
            "--resume"
        } else {
            "--run-dir"
        };
        if dir.exists() && !dir.is_dir() {
            return Err(usage(format!(
                "{what} {} is not a directory",
                dir.display()
            )));
        }
        let mut names = vec![
            crate::train::run_dir::RUN_JSON.to_string(),
            crate::train::run_dir::CURVE_CSV.to_string(),
            crate::train::run_dir::SETUP_TOML.to_string(),
        ];
        names.extend(
            methods
                .iter()
                .map(|m| crate::train::run_dir::weights_file(m.name())),
        );
        for n in names {
            outputs.push((format!("{what} {}", dir.display()), dir.join(n)));
        }
    }
    for (what, path) in &outputs {
        crate::output::check_not_input(path, inputs, what).map_err(usage)?;
        if what.starts_with("--run-dir") || what.starts_with("--resume") {
            continue;
        }
        if path.is_dir() {
            return Err(usage(format!("{what} {} is a directory", path.display())));
        }
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !parent.is_dir() {
            return Err(usage(format!(
                "{what} {}: the folder {} does not exist",
                path.display(),
                parent.display()
            )));
        }
        // The temporary file the output will be written to: can it be created?
        let probe = crate::output::partial_path(path);
        std::fs::File::create(&probe).map_err(|e| {
            usage(format!(
                "{what} {}: cannot write in {}: {e}",
                path.display(),
                parent.display()
            ))
        })?;
        let _ = std::fs::remove_file(&probe);
    }
    // Two outputs on one file: compare the folder (resolved) and the name.
    let key = |p: &Path| {
        let parent = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        (
            std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf()),
            p.file_name().map(|n| n.to_os_string()),
        )
    };
    for (i, (wa, pa)) in outputs.iter().enumerate() {
        for (wb, pb) in &outputs[i + 1..] {
            if key(pa) == key(pb) {
                return Err(usage(format!(
                    "{wa} and {wb} would both write {}: choose distinct names",
                    pb.display()
                )));
            }
        }
    }
    Ok(())
}

/// Where `--csv` rows go while training: standard output, or a temporary file beside the
/// requested one, renamed into place at the end (a run cut off leaves no partial file).
enum CsvSink {
    Stdout(std::io::BufWriter<std::io::Stdout>),
    File {
        path: PathBuf,
        tmp: PathBuf,
        out: std::io::BufWriter<std::fs::File>,
    },
}

impl CsvSink {
    fn open(path: &Path) -> Result<Self, CliError> {
        let mut sink = if path.as_os_str() == "-" {
            CsvSink::Stdout(std::io::BufWriter::new(std::io::stdout()))
        } else {
            let tmp = crate::output::partial_path(path);
            let file = std::fs::File::create(&tmp)
                .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", path.display())))?;
            CsvSink::File {
                path: path.to_path_buf(),
                tmp,
                out: std::io::BufWriter::new(file),
            }
        };
        sink.line(crate::train::record::CSV_HEADER)?;
        Ok(sink)
    }

    fn line(&mut self, text: &str) -> Result<(), CliError> {
        let r = match self {
            CsvSink::Stdout(w) => writeln!(w, "{text}"),
            CsvSink::File { out, .. } => writeln!(out, "{text}"),
        };
        r.map_err(|e| CliError::Usage(format!("cannot write the CSV: {e}")))
    }

    /// The rows of one step's update.
    fn rows(&mut self, trainer: &Trainer, up: &TrainUpdate) -> Result<(), CliError> {
        for (i, r) in &up.records {
            let Some(run) = trainer.runs().get(*i) else {
                continue;
            };
            let eval = up
                .evals
                .iter()
                .find(|(j, e)| j == i && e.iter == r.iter)
                .map(|(_, e)| e);
            let check = up
                .checks
                .iter()
                .find(|(j, c)| j == i && c.iter == r.iter)
                .map(|(_, c)| c);
            self.line(&crate::train::record::csv_row(run.method, r, eval, check))?;
        }
        Ok(())
    }

    /// Puts the file in place (flushed and synced first).
    fn finish(self) -> Result<(), CliError> {
        match self {
            CsvSink::Stdout(mut w) => w
                .flush()
                .map_err(|e| CliError::Usage(format!("cannot write the CSV: {e}"))),
            CsvSink::File { path, tmp, out } => {
                let done = out
                    .into_inner()
                    .map_err(std::io::IntoInnerError::into_error)
                    .and_then(|f| f.sync_all())
                    .and_then(|()| std::fs::rename(&tmp, &path));
                if let Err(e) = done {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(CliError::Usage(format!(
                        "cannot write {}: {e}",
                        path.display()
                    )));
                }
                Ok(())
            }
        }
    }
}

/// A run ready for its first iteration.
struct Started {
    trainer: Trainer,
    run_dir: Option<RunDir>,
    /// Warnings about the setup, said before training.
    notes: Vec<String>,
}

/// The trainer of a new run, or of a kept one continued.
fn start(args: &TrainArgs) -> Result<Started, CliError> {
    let usage = CliError::Usage;
    if let Some(dir) = &args.resume {
        let given = setup_options(args);
        if !given.is_empty() {
            return Err(usage(format!(
                "--resume continues the setup saved in {}; {} cannot change it (start a new run \
                 with --init {}/METHOD.safetensors instead)",
                dir.display(),
                given.join(", "),
                dir.display()
            )));
        }
        let (trainer, run_dir) = RunDir::resume(dir, args.iters).map_err(usage)?;
        check_outputs(args, &trainer.config().methods, &[])?;
        return Ok(Started {
            trainer,
            run_dir: Some(run_dir),
            notes: Vec::new(),
        });
    }
    let (mut config, preset_path) = resolve(args)?;
    // --init overrides a preset's `weights`.
    if let Some(path) = &args.init {
        config.weights = Some(path.clone());
    }
    let mut inputs: Vec<PathBuf> = preset_path.into_iter().collect();
    inputs.extend(config.weights.clone());
    let input_refs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    check_outputs(args, &config.methods, &input_refs)?;
    // A bad model file is refused before the device is looked for (the trainer reads it).
    if let Some(path) = &args.init {
        crate::train::model::load_initial(path).map_err(usage)?;
    }
    let notes = ignored_settings(&config);
    // A GPU run: what cannot run on the GPU is a usage error (exit 2), a missing adapter a
    // failure (exit 1).
    let ctx = if config.device == Device::Gpu {
        let data =
            TaskData::generate(config.task, &config.data, config.seed).map_err(CliError::Usage)?;
        crate::train::gpu::check_config(&config, &data)
            .map_err(|why| CliError::Usage(format!("--device gpu: {why}")))?;
        match crate::gpu::GpuContext::headless() {
            Ok(ctx) => {
                // Building the kernels can take minutes on a software adapter: say so.
                eprintln!(
                    "building the GPU kernels on {} (minutes on a software adapter)…",
                    ctx.adapter.summary()
                );
                ctx.set_build_observer(Some(crate::gpu::context::stderr_build_observer()));
                Some(ctx)
            }
            Err(e) => {
                eprintln!("error: --device gpu: {e}; use --device cpu (f64) instead");
                return Err(CliError::Failed);
            }
        }
    } else {
        None
    };
    let trainer = Trainer::new_on(config, ctx).map_err(CliError::Usage)?;
    let run_dir = match &args.run_dir {
        Some(dir) => Some(RunDir::create(dir, &trainer).map_err(usage)?),
        None => None,
    };
    Ok(Started {
        trainer,
        run_dir,
        notes,
    })
}

/// The exit code of a run stopped by signal `sig`: 128 + sig (130 for SIGINT, 143 for SIGTERM).
pub const fn stopped_code(sig: i32) -> i32 {
    128 + sig
}

/// The progress bar on stderr (only when it is a terminal, so that it never mixes with a
/// report on stdout): iteration, ETA, iterations per second, each method's last loss.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    names: Vec<&'static str>,
    last_loss: Vec<f64>,
    started: std::time::Instant,
    first_iter: usize,
}

impl Progress {
    fn new(config: &TrainConfig, iter: usize) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(config.iters as u64);
            bar.set_position(iter as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} it  ETA {eta}  {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Self {
            bar,
            names: config.methods.iter().map(|m| m.name()).collect(),
            last_loss: vec![f64::NAN; config.methods.len()],
            started: std::time::Instant::now(),
            first_iter: iter,
        }
    }

    fn update(&mut self, up: &TrainUpdate) {
        for (i, r) in &up.records {
            if let Some(l) = self.last_loss.get_mut(*i) {
                *l = r.loss;
            }
        }
        let Some(bar) = &self.bar else { return };
        bar.set_position(up.iter as u64);
        let done = up.iter.saturating_sub(self.first_iter) as f64;
        let rate = done / self.started.elapsed().as_secs_f64().max(1e-9);
        let msg = self
            .names
            .iter()
            .zip(&self.last_loss)
            .map(|(n, l)| format!("{n} {}", fmt_num(*l)))
            .collect::<Vec<_>>()
            .join("  ");
        bar.set_message(format!("{} it/s  {msg}", fmt_ms(rate)));
    }

    fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The temporary files the outputs are written to, which a second signal removes before the
/// process ends at once.
fn temp_paths(args: &TrainArgs, config: &TrainConfig, run_dir: Option<&RunDir>) -> Vec<PathBuf> {
    let mut temps: Vec<PathBuf> = Vec::new();
    if let Some(p) = args.csv.as_ref().filter(|p| p.as_os_str() != "-") {
        temps.push(crate::output::partial_path(p));
    }
    if let Some(base) = &args.save_model {
        for p in model_paths(base, &config.methods) {
            temps.push(crate::output::partial_path(&p));
            temps.push(crate::output::partial_path(&crate::output::failed_sibling(
                &p,
            )));
        }
    }
    if let Some(d) = run_dir {
        let mut names = vec![
            crate::train::run_dir::RUN_JSON.to_string(),
            crate::train::run_dir::CURVE_CSV.to_string(),
        ];
        names.extend(
            config
                .methods
                .iter()
                .map(|m| crate::train::run_dir::weights_file(m.name())),
        );
        temps.extend(
            names
                .iter()
                .map(|n| crate::output::partial_path(&d.path().join(n))),
        );
    }
    temps
}

pub fn run(args: &TrainArgs) -> Result<(), CliError> {
    let Started {
        mut trainer,
        mut run_dir,
        notes,
    } = start(args)?;
    let config = trainer.config().clone();
    let said: Vec<String> = notes.iter().chain(trainer.warnings()).cloned().collect();
    for w in &said {
        eprintln!("warning: {w}");
    }
    let temps = temp_paths(args, &config, run_dir.as_ref());
    let signals = super::stop::StopSignal::install(temps);
    let mut csv = match &args.csv {
        Some(p) => Some(CsvSink::open(p)?),
        None => None,
    };
    let mut bar = Progress::new(&config, trainer.iter());
    let mut dir_error = None;
    while !trainer.is_done() {
        if signals.received().is_some() {
            break;
        }
        let up = trainer.step();
        if let Some(sink) = &mut csv {
            sink.rows(&trainer, &up)?;
        }
        if let Some(d) = &mut run_dir
            && let Err(e) = d.record(&trainer, &up)
        {
            dir_error = Some(e);
            run_dir = None;
        }
        bar.update(&up);
    }
    bar.finish();
    let stopped_by = signals.received();
    if let Some(e) = dir_error {
        trainer.warn(format!("the run directory is no longer written: {e}"));
    }
    let mut report = trainer.finish();
    report.stopped_by = stopped_by.map(|s| super::stop::name(s).to_string());
    let mut closing: Vec<String> = Vec::new();
    if let Some(d) = &mut run_dir {
        let state = if stopped_by.is_some() || !trainer.is_done() {
            RunState::Stopped
        } else {
            RunState::Finished
        };
        d.save(&trainer, &report, state).map_err(CliError::Usage)?;
        closing.push(format!("run directory → {}", d.path().display()));
    }
    if let Some(sink) = csv {
        sink.finish()?;
        if let Some(p) = &args.csv {
            closing.push(format!(
                "curve → {}",
                if p.as_os_str() == "-" {
                    "stdout".into()
                } else {
                    p.display().to_string()
                }
            ));
        }
    }
    if args.json {
        let text =
            serde_json::to_string_pretty(&report).map_err(|e| CliError::Usage(e.to_string()))?;
        println!("{text}");
        closing.push("report → stdout (JSON)".into());
    } else {
        print_table(&report);
        closing.push("table → stdout".into());
    }
    // Warnings known before the run were said then; those that came up during it now.
    for w in report.warnings.iter().filter(|w| !said.contains(w)) {
        eprintln!("warning: {w}");
    }
    if let Some(base) = &args.save_model {
        let saved = save_models(base, &trainer)?;
        closing.push(format!(
            "models → {}",
            saved
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    eprintln!("nodelab train: {}", closing.join("; "));
    if let Some(sig) = stopped_by {
        eprintln!(
            "stopped by {} after iteration {} of {}: outputs written, marked stopped",
            super::stop::name(sig),
            report.iters_done,
            report.iters
        );
        return Err(CliError::Stopped(stopped_code(sig)));
    }
    if report
        .methods
        .iter()
        .all(|m| m.status == "diverged" || m.status == "failed")
    {
        return Err(CliError::Failed);
    }
    Ok(())
}

/// Saves every method's model (the last finite weights; a diverged method's weights are those
/// before the update that failed), with the run's status in its metadata. A method that
/// diverged or failed never replaces an existing file: its model goes to `NAME.partial.EXT`
/// beside it (said on stderr). Safetensors files carry the task and training settings.
fn save_models(base: &Path, trainer: &Trainer) -> Result<Vec<PathBuf>, CliError> {
    let config = trainer.config();
    let paths = model_paths(base, &config.methods);
    let meta = crate::train::run_dir::model_metadata(trainer);
    let mut saved = Vec::new();
    for (run, path) in trainer.runs().iter().zip(&paths) {
        let mut m = meta.clone();
        m.push(("method".into(), run.method.name().into()));
        m.push(("status".into(), run.status.name().into()));
        m.push(("iter".into(), trainer.iter().to_string()));
        if let Some(r) = run.status.reason() {
            m.push(("reason".into(), r));
        }
        let bad = matches!(
            run.status,
            MethodStatus::Diverged { .. } | MethodStatus::Failed { .. }
        );
        let path = if bad && path.exists() {
            let p = crate::output::failed_sibling(path);
            eprintln!(
                "{}: {}; its model goes to {} ({} is kept)",
                run.method.name(),
                run.status.name(),
                p.display(),
                path.display()
            );
            p
        } else {
            path.clone()
        };
        if trainer.adapter().is_some() && model_file::is_safetensors(&path) {
            // Trained in f32 on the GPU: the file stores exactly those f32 weights.
            m.push(("device".into(), "gpu".into()));
            let bytes = model_file::to_safetensors(
                &run.model.mlp,
                run.model.readout.as_ref(),
                &m,
                model_file::FloatKind::F32,
            )
            .map_err(CliError::Usage)?;
            model_file::write_atomic(&path, &bytes).map_err(CliError::Usage)?;
        } else {
            model_file::save(&path, &run.model.mlp, run.model.readout.as_ref(), &m)
                .map_err(CliError::Usage)?;
        }
        saved.push(path);
    }
    Ok(saved)
}

/// A time or a rate with three significant digits (22.7, 3.14, 0.0123), not seven decimals.
fn fmt_ms(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() || a == 0.0 {
        return format!("{x}");
    }
    let decimals = (2 - a.log10().floor() as i32).clamp(0, 12) as usize;
    format!("{x:.decimals$}")
}

fn print_table(report: &TrainReport) {
    println!(
        "task {}  device {}{}  precision {}  seed {}  iterations {}/{}  batch {}  {} lr {}{}{}",
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
        report.batch,
        report.optimizer,
        fmt_num(report.lr),
        if report.concurrent && report.device == "cpu" {
            "  (concurrent: times overlap)"
        } else {
            ""
        },
        report
            .stopped_by
            .as_ref()
            .map(|s| format!("  (stopped by {s})"))
            .unwrap_or_default()
    );
    let acc = |e: Option<&crate::train::record::EvalRecord>| {
        e.and_then(|e| e.accuracy)
            .map_or("—".into(), |a| format!("{:.1}%", 100.0 * a))
    };
    println!(
        "{:<20} {:<9} {:>11} {:>11} {:>11} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10} {:>10} {:>10}",
        "method",
        "status",
        "final loss",
        "final eval",
        "best eval",
        "final acc",
        "best acc",
        "mean ms",
        "median ms",
        "nfe fwd",
        "nfe bwd",
        "peak heap",
        "stored"
    );
    for m in &report.methods {
        println!(
            "{:<20} {:<9} {:>11} {:>11} {:>11} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10} {:>10} {:>10}",
            m.method.name(),
            m.status,
            m.final_loss.map_or("—".into(), fmt_num),
            m.final_eval
                .as_ref()
                .map_or("—".into(), |e| fmt_num(e.loss)),
            m.best_eval().map_or("—".into(), |e| fmt_num(e.loss)),
            acc(m.final_eval.as_ref()),
            acc(m.best_accuracy.as_ref()),
            fmt_ms(m.mean_ms_per_iter),
            fmt_ms(m.median_ms_per_iter),
            m.nfe_forward,
            m.nfe_backward,
            bytes(m.peak_heap_bytes),
            bytes(m.stored_bytes),
        );
    }
    println!(
        "final: the last evaluation (the trained model); best eval: the lowest evaluation loss; \
         best acc: the highest evaluation accuracy"
    );
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
}

#[cfg(test)]
mod tests {
    use super::fmt_ms;

    #[test]
    fn times_and_rates_have_three_significant_digits() {
        assert_eq!(fmt_ms(22.749635), "22.7");
        assert_eq!(fmt_ms(3.251), "3.25");
        assert_eq!(fmt_ms(0.0123456), "0.0123");
        assert_eq!(fmt_ms(1234.4), "1234");
        assert_eq!(fmt_ms(0.0), "0");
    }
}
