//! `nodelab grad`: every gradient method on one neural-ODE preset, side by side: gradient, its
//! error against the continuous and the discrete reference, wall time, stored and peak heap
//! bytes, f-evaluations and steps.

use std::path::Path;

use clap::Args;
use serde_json::json;

use super::CliError;
use crate::grad::measure::{self, Comparison};
use crate::grad::{AfgeControl, GradMethod, GradOptions, GradProblem, Precision};
use crate::preset::Preset;
use crate::report::grad_table::{problem_header, table};

#[derive(Debug, Args)]
pub struct GradArgs {
    /// A preset file (.toml) with a neural problem and a [loss] table.
    pub preset: String,
    /// Comma-separated gradient methods, or `all`: backprop, checkpoint, adjoint,
    /// interp-adjoint, afge, alf, reversible-heun, reversible-rk4, reversible-midpoint, fd.
    #[arg(long, default_value = "all")]
    pub methods: String,
    /// Checkpoints of `checkpoint` (default ⌈√N⌉ for N steps).
    #[arg(long)]
    pub checkpoints: Option<usize>,
    /// Chebyshev nodes of `interp-adjoint`.
    #[arg(long = "cheb-nodes", default_value_t = 16)]
    pub cheb_nodes: usize,
    /// Coupling λ ∈ (0, 1] of `reversible-rk4` / `reversible-midpoint`.
    #[arg(long, default_value_t = 0.99)]
    pub lambda: f64,
    /// Step control of `afge`: `state` (steps chosen on y) or `augmented` (on [y, S]).
    #[arg(long = "afge-control", default_value = "state")]
    pub afge_control: String,
    /// Solver of the backward pass of `adjoint` / `interp-adjoint` (default: the forward one).
    #[arg(long = "adjoint-method")]
    pub adjoint_method: Option<String>,
    /// Tolerance (atol = rtol) of that backward solver (default: the forward one's).
    #[arg(long = "adjoint-tol")]
    pub adjoint_tol: Option<f64>,
    /// Solver of `afge` (default: the preset's), at the preset's tolerances.
    #[arg(long = "afge-method")]
    pub afge_method: Option<String>,
    /// Fixed steps of the reversible methods over the span (default: the configured fixed
    /// step, or as many as the adaptive forward solve accepted).
    #[arg(long = "reversible-steps")]
    pub reversible_steps: Option<usize>,
    /// Timed repeats per method after one warm-up call (`fd`: one).
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Worker threads: per-sample groups run in parallel; a shared batch is split over them in
    /// row blocks of at least 64 samples.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Parameters on which the continuous reference is cross-checked by finite differences.
    #[arg(long = "fd-check", default_value_t = 32)]
    pub fd_check: usize,
    /// Tolerance (atol = rtol) of the continuous reference's dopri5 solve; looser is faster on
    /// large models.
    #[arg(long = "reference-tol", default_value_t = crate::grad::reference::DEFAULT_TOL)]
    pub reference_tol: f64,
    /// Where to compute: cpu (f64 reference) or gpu (wgpu, f32).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Float type of the CPU methods: f64 (the default and the reference) or f32 (backprop,
    /// checkpoint and adjoint, with dopri5 or a fixed-step solver; the references stay f64).
    #[arg(long, default_value = "f64")]
    pub precision: String,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Above this many parameters `--methods all` leaves `fd` out (it needs 2P + 1 forward
/// solves); `--methods fd` still runs it.
pub const FD_ALL_MAX_PARAMS: usize = 10_000;

/// Parses `--methods`.
pub fn parse_methods(list: &str) -> Result<Vec<GradMethod>, CliError> {
    if list.trim() == "all" {
        return Ok(GradMethod::ALL.to_vec());
    }
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| {
            if name == "all" {
                return Err(CliError::Usage(format!(
                    "--methods {list}: 'all' stands alone (every method); list names otherwise"
                )));
            }
            GradMethod::parse(name).ok_or_else(|| {
                CliError::Usage(format!(
                    "unknown gradient method '{name}' (known: {}, or all)",
                    GradMethod::ALL.map(|m| m.name()).join(", ")
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(|v| {
            if v.is_empty() {
                Err(CliError::Usage("--methods lists no method".into()))
            } else {
                Ok(v)
            }
        })
}

/// Rejects devices this build cannot use.
pub fn check_device(device: &str) -> Result<(), CliError> {
    match device {
        "cpu" | "gpu" => Ok(()),
        other => Err(CliError::Usage(format!(
            "unknown device '{other}' (known: cpu, gpu)"
        ))),
    }
}

/// Parses `--precision`.
pub fn parse_precision(name: &str) -> Result<Precision, CliError> {
    Precision::parse(name).map_err(|e| CliError::Usage(format!("--precision: {e}")))
}

/// In f32, `--methods all` keeps the methods that run in f32 (a note says which were left
/// out); an explicit list is checked method by method by [`crate::grad::check_options`].
pub fn methods_for_precision(
    list: &str,
    methods: &mut Vec<GradMethod>,
    precision: Precision,
    notes: &mut Vec<String>,
) {
    if precision == Precision::F32 && list.trim() == "all" {
        let (kept, left): (Vec<GradMethod>, Vec<GradMethod>) =
            methods.iter().partition(|m| m.supports_f32());
        if !left.is_empty() {
            notes.push(format!(
                "precision f32: {} left out of `all` (f64 only)",
                left.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")
            ));
        }
        *methods = kept;
    }
}

pub fn run(args: &GradArgs) -> Result<(), CliError> {
    check_device(&args.device)?;
    let precision = parse_precision(&args.precision)?;
    if args.device == "gpu" {
        if precision != Precision::F64 {
            return Err(CliError::Usage(
                "--precision applies to the CPU methods; the GPU computes in f32".into(),
            ));
        }
        return run_gpu(args);
    }
    let methods = parse_methods(&args.methods)?;
    let afge_control = AfgeControl::parse(&args.afge_control).ok_or_else(|| {
        CliError::Usage(format!(
            "--afge-control: '{}' is not state or augmented",
            args.afge_control
        ))
    })?;
    // A count of 0 would silently run once (or divide by zero): refuse it.
    for (flag, value) in [
        ("--threads", Some(args.threads)),
        ("--repeats", Some(args.repeats)),
        ("--reversible-steps", args.reversible_steps),
        ("--checkpoints", args.checkpoints),
    ] {
        if value == Some(0) {
            return Err(CliError::Usage(format!("{flag} must be at least 1")));
        }
    }
    let loaded = Preset::load(Path::new(&args.preset))?;
    let problem = loaded.build_grad_problem()?;
    let adjoint_solver = if args.adjoint_method.is_some() || args.adjoint_tol.is_some() {
        let mut c = problem.solver.clone();
        if let Some(m) = &args.adjoint_method {
            c.method = super::parse_method(m)?;
        }
        if let Some(tol) = args.adjoint_tol {
            c.tol = tol;
            c.rtol = tol;
        }
        c.validate()
            .map_err(|e| CliError::Usage(format!("--adjoint-tol: {e}")))?;
        Some(c)
    } else {
        None
    };
    let afge_solver = match &args.afge_method {
        Some(m) => {
            let mut c = problem.solver.clone();
            c.method = super::parse_method(m)?;
            Some(c)
        }
        None => None,
    };
    let opts = GradOptions {
        adjoint_solver,
        afge_solver,
        checkpoints: args.checkpoints,
        cheb_nodes: args.cheb_nodes,
        lambda: args.lambda,
        afge_control,
        reversible_steps: args.reversible_steps,
        threads: args.threads,
        precision,
        ..GradOptions::default()
    };
    // Option errors are usage errors: check them once before measuring.
    // A failed solve is a failed computation (exit 1, the cause on stderr).
    if !(args.reference_tol.is_finite() && args.reference_tol > 0.0) {
        return Err(CliError::Usage(format!(
            "--reference-tol must be a positive number (got {})",
            args.reference_tol
        )));
    }
    let n_params = problem.mlp.n_params();
    let mut methods = methods;
    let mut notes = Vec::new();
    if args.methods.trim() == "all" && n_params > FD_ALL_MAX_PARAMS {
        methods.retain(|&m| m != GradMethod::Fd);
        notes.push(format!(
            "fd left out of `all`: {n_params} parameters need {} forward solves (more than \
             {FD_ALL_MAX_PARAMS} parameters); ask for it with --methods fd",
            2 * n_params + 1
        ));
    }
    methods_for_precision(&args.methods, &mut methods, precision, &mut notes);
    for &m in &methods {
        crate::grad::check_options(&problem, m, &opts).map_err(failed)?;
    }
    let progress = super::progress::Progress::new(args.json);
    progress.stage("checking the forward solve (backprop)", None);
    let start = std::time::Instant::now();
    crate::grad::compute(&problem, GradMethod::Backprop, &opts).map_err(failed)?;
    let backprop_s = start.elapsed().as_secs_f64();
    announce_costs(&progress, args, &problem, &methods, backprop_s);
    let on_stage = |name: &str| {
        let total = (name == "fd").then_some(n_params as u64);
        progress.stage(name, total);
    };
    let settings = measure::Settings {
        reference_tol: args.reference_tol,
        on_stage: &on_stage,
    };
    let comparison = measure::compare_with(
        &problem,
        &methods,
        &opts,
        args.repeats,
        args.fd_check,
        &settings,
    )
    .map_err(|e| {
        failed(match e {
            crate::grad::GradError::Solve(m) => {
                crate::grad::GradError::Solve(format!("reference gradient: {m}"))
            }
            other => other,
        })
    })?;
    drop(progress);
    if args.json {
        let mut v = comparison_json(&args.preset, &problem, &comparison);
        v["notes"] = json!(notes);
        v["precision"] = json!(precision);
        println!("{v}");
    } else {
        print!("{}", problem_header(&args.preset, &problem));
        println!("precision {precision} (the references are f64)");
        print!("{}", table(&comparison));
        for n in &notes {
            println!("note: {n}");
        }
    }
    if comparison.methods.iter().any(|r| r.error.is_some()) {
        return Err(CliError::Failed);
    }
    Ok(())
}

/// `grad --device gpu`: the wgpu kernels, each next to the CPU f64 gradient of the same
/// method, with the CPU path's exit codes: 2 for bad input or no adapter, 1 for a failed
/// computation.
fn run_gpu(args: &GradArgs) -> Result<(), CliError> {
    // The wgpu kernels, each next to the CPU f64 gradient of the same method. The exit
    // codes are the CPU path's: 2 for bad input or no adapter, 1 for a failed computation.
    use crate::gpu::report::{GradCommandError, grad_command};
    if args.repeats == 0 {
        return Err(CliError::Usage("--repeats must be at least 1".into()));
    }
    match grad_command(
        Path::new(&args.preset),
        &args.methods,
        args.repeats,
        args.json,
    ) {
        Ok(out) => {
            print!("{}", out.text);
            if out.any_failed {
                Err(CliError::Failed)
            } else {
                Ok(())
            }
        }
        Err(GradCommandError::Usage(m)) => Err(CliError::Usage(m)),
        Err(GradCommandError::Failed(m)) => {
            eprintln!("error: {m}");
            Err(CliError::Failed)
        }
    }
}

/// Says what the slow parts will cost before they start (only when they are not quick): the
/// reference on a large model, and fd's forward solves.
fn announce_costs(
    progress: &super::progress::Progress,
    args: &GradArgs,
    problem: &GradProblem,
    methods: &[GradMethod],
    backprop_s: f64,
) {
    let n_params = problem.mlp.n_params();
    // Estimates of the two slow parts, before they start (only when they are not quick).
    if n_params > FD_ALL_MAX_PARAMS {
        progress.note(&format!(
            "estimate: the reference integrates the sensitivities of {n_params} parameters \
             ({} numbers per sample) with dopri5 at tol {:e}: expect many times the backprop \
             time ({}); a looser --reference-tol is faster",
            problem.mlp.dim() * (n_params + 1),
            args.reference_tol,
            fmt_duration(backprop_s)
        ));
    }
    // One backprop call is about two forward solves.
    let fd_s = (2 * n_params + 1) as f64 * backprop_s / 2.0;
    if methods.contains(&GradMethod::Fd) && fd_s > 1.0 {
        progress.note(&format!(
            "estimate: fd needs {} forward solves, about {}",
            2 * n_params + 1,
            fmt_duration(fd_s)
        ));
    }
}

/// Maps a gradient error to the CLI's: bad settings are usage errors (exit 2); a solve that
/// fails is a failed computation (exit 1), reported on stderr.
pub fn failed(e: crate::grad::GradError) -> CliError {
    match e {
        crate::grad::GradError::Invalid(m) => CliError::Usage(m),
        crate::grad::GradError::Solve(m) => {
            eprintln!("error: {m}");
            CliError::Failed
        }
    }
}

/// The `problem` object of the JSON report.
pub fn problem_json(source: &str, p: &GradProblem) -> serde_json::Value {
    json!({
        "preset": source,
        "mlp": {
            "sizes": p.mlp.sizes,
            "activation": p.mlp.activation.name(),
            "time_input": p.mlp.time_input,
            "n_params": p.mlp.n_params(),
        },
        "batch": p.y0.len(),
        "t_span": [p.t0, p.t1],
        "solver": p.solver,
        "batch_steps": p.batch_steps,
        "loss": p.loss.kind,
    })
}

/// The whole JSON report.
pub fn comparison_json(source: &str, p: &GradProblem, c: &Comparison) -> serde_json::Value {
    json!({
        "problem": problem_json(source, p),
        "reference": c.reference,
        "methods": c.methods,
    })
}

/// A duration for estimates: `40 ms`, `12 s`, `3.5 min`, `2.1 h`.
fn fmt_duration(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{:.0} ms", seconds * 1e3)
    } else if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else if seconds < 7200.0 {
        format!("{:.1} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}
