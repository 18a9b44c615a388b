//! The `nodelab` command line. Every numerical workflow of the app is reachable from here.
//!
//! Exit codes: 0 success, 1 the computation failed (its report is still printed), 2 bad usage or
//! a bad file (one line on stderr), 130 / 143 a run stopped by SIGINT / SIGTERM that wrote its
//! outputs (marked stopped).
//!
//! A front-end beside the app: it parses options, calls the core (`grad`, `train`, `bench`,
//! `gpu`, `preset`, `report`) and prints. It may import every core module, never `app`; nothing
//! but `main.rs` imports it. What both front-ends need (measurements, tables, formats) lives in
//! the core, not here.

pub mod bench_gpu;
pub mod bench_gpu_tasks;
pub mod bench_grad;
mod bench_solvers;
pub mod bench_train;
pub mod density;
pub mod experiment;
pub mod grad;
mod presets;
pub mod progress;
mod solve;
pub mod stop;
pub mod train;

use std::path::PathBuf;

pub use crate::report::text::fmt_num;

use clap::{Args, Parser, Subcommand};

/// A desktop lab for neural ODEs. Without a subcommand, opens the app.
#[derive(Debug, Parser)]
#[command(name = "nodelab", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the built-in problems: `name<TAB>description`.
    Presets,
    /// Integrate a problem and report the steps taken.
    Solve(SolveArgs),
    /// Compare gradient methods on a neural-ODE preset: gradient, error, time, memory, NFE.
    Grad(grad::GradArgs),
    /// Train a neural ODE on a task with several gradient methods side by side.
    Train(Box<train::TrainArgs>),
    /// Log-density (grid or CSV points) and samples of a trained continuous normalising flow.
    Density(Box<density::DensityArgs>),
    /// The papers' experiments: claim, measurement, verdict (`--list` to see them).
    Experiment(Box<experiment::ExperimentArgs>),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Work-precision table: f-evaluations vs achieved error over a tolerance sweep.
    Solvers(BenchSolversArgs),
    /// Gradient methods on a fixed toy problem, plus a memory-scaling table.
    Grad(bench_grad::BenchGradArgs),
    /// GPU vs CPU throughput (samples per second) over batch sizes.
    Gpu(bench_gpu::BenchGpuArgs),
    /// Milliseconds per training iteration of each method (spiral-fit, circles).
    Train(bench_train::BenchTrainArgs),
}

#[derive(Debug, Args)]
pub struct SolveArgs {
    /// A built-in problem name (see `nodelab presets`) or a preset file (.toml).
    pub target: String,
    /// Solver: zc-rk4-paper, zc-rk4, rk4-doubling, dopri5, rk4, midpoint, euler.
    #[arg(long)]
    pub method: Option<String>,
    /// Absolute tolerance ε.
    #[arg(long)]
    pub tol: Option<f64>,
    /// Relative tolerance (default 0: absolute control, as in the paper).
    #[arg(long)]
    pub rtol: Option<f64>,
    /// Initial step (adaptive methods) or the step (fixed methods).
    #[arg(long)]
    pub h0: Option<f64>,
    /// End of the time span.
    #[arg(long = "t-end")]
    pub t_end: Option<f64>,
    /// Override a problem parameter: NAME=VALUE (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Write one CSV row per attempted step to FILE.
    #[arg(long = "steps-csv", value_name = "FILE")]
    pub steps_csv: Option<PathBuf>,
    /// Print one JSON object instead of the text report.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchSolversArgs {
    /// Comma-separated problems, each optionally `NAME:T_END`
    /// (default: van-der-pol,lorenz:2,paper-bump,freefall).
    #[arg(long)]
    pub problems: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// A CLI failure and its exit code.
#[derive(Debug)]
pub enum CliError {
    /// Bad usage or a bad input file: exit 2.
    Usage(String),
    /// The computation itself failed (its report was printed): exit 1.
    Failed,
    /// Stopped by a signal after writing its outputs: exit with this code (128 + the signal).
    Stopped(i32),
}

impl From<crate::bench::grad::BenchError> for CliError {
    fn from(e: crate::bench::grad::BenchError) -> Self {
        CliError::Usage(e.to_string())
    }
}

impl From<crate::preset::PresetError> for CliError {
    fn from(e: crate::preset::PresetError) -> Self {
        CliError::Usage(e.to_string())
    }
}

/// Rust starts programs with SIGPIPE ignored, so `println!` panics ("failed printing to
/// stdout: Broken pipe") when the reader of a pipe goes away (`nodelab experiment --list |
/// head`). A command-line tool should end quietly then, as Unix tools do: restore the default
/// action for the CLI's commands. Not for the app, whose sockets must see EPIPE as an error.
fn end_quietly_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: resetting a signal's disposition to its default has no memory-safety
    // preconditions; it runs before any command starts its threads.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Parses the command line and runs it. Returns the process exit code. `open_app` is called
/// when no subcommand is given.
pub fn run(open_app: impl FnOnce() -> i32) -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return 0;
            }
            // One line: clap's first line carries the message.
            let text = e.render().to_string();
            let line = text.lines().next().unwrap_or("bad usage");
            eprintln!("{line} (see `nodelab --help`)");
            return 2;
        }
    };
    if let Err(e) = crate::mem::budget_from_env() {
        eprintln!("error: {e}");
        return 2;
    }
    if let Err(e) = crate::nn::simd::select_from_env() {
        eprintln!("error: {e}");
        return 2;
    }
    if cli.command.is_none() {
        return open_app();
    }
    end_quietly_on_closed_pipe();
    let result = match cli.command {
        None => return open_app(),
        Some(Command::Presets) => presets::run(),
        Some(Command::Solve(args)) => solve::run(&args),
        Some(Command::Grad(args)) => grad::run(&args),
        Some(Command::Train(args)) => train::run(&args),
        Some(Command::Density(args)) => density::run(&args),
        Some(Command::Experiment(args)) => experiment::run(&args),
        Some(Command::Bench(BenchCommand::Solvers(args))) => bench_solvers::run(&args),
        Some(Command::Bench(BenchCommand::Grad(args))) => bench_grad::run(&args),
        Some(Command::Bench(BenchCommand::Gpu(args))) => bench_gpu::run(&args),
        Some(Command::Bench(BenchCommand::Train(args))) => bench_train::run(&args),
    };
    match result {
        Ok(()) => 0,
        Err(CliError::Failed) => 1,
        Err(CliError::Stopped(code)) => code,
        Err(CliError::Usage(msg)) => {
            eprintln!("error: {}", msg.replace('\n', " | "));
            2
        }
    }
}

/// Parses `NAME=VALUE`.
pub fn parse_param(text: &str) -> Result<(String, f64), CliError> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| CliError::Usage(format!("--param expects NAME=VALUE, got '{text}'")))?;
    let value: f64 = value
        .trim()
        .parse()
        .map_err(|_| CliError::Usage(format!("--param {name}: '{value}' is not a number")))?;
    if !value.is_finite() {
        return Err(CliError::Usage(format!(
            "--param {name}: the value must be finite (got {value})"
        )));
    }
    Ok((name.trim().to_string(), value))
}

/// Parses a method name with a helpful error.
pub fn parse_method(name: &str) -> Result<crate::solver::Method, CliError> {
    crate::solver::Method::parse(name).ok_or_else(|| {
        CliError::Usage(format!(
            "unknown method '{name}' (known: {})",
            crate::solver::Method::ALL.map(|m| m.name()).join(", ")
        ))
    })
}
