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
use crate::grad::{BatchSteps, GradMethod, GradOptions, GradProblem, Loss, LossKind};
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
    if args.batch == 0 || args.hidden == 0 || args.repeats == 0 {
        return Err(CliError::Usage(
            "--batch, --hidden and --repeats must be at least 1".into(),
        ));
    }
    let methods = parse_methods(&args.methods)?;
    let p = toy_problem(args.batch, args.hidden);
    if let Some(dir) = &args.write_toy {
        return write_toy(dir, &p);
    }
    let opts = GradOptions::default();
    let progress = super::progress::Progress::new(args.json);
    let on_stage = |name: &str| {
        let total = (name == "fd").then_some(p.mlp.n_params() as u64);
        progress.stage(name, total);
    };
    let settings = measure::Settings {
        reference_tol: crate::grad::reference::DEFAULT_TOL,
        on_stage: &on_stage,
    };
    let comparison = measure::compare_with(&p, &methods, &opts, args.repeats, 16, &settings)
        .map_err(super::grad::failed)?;
    let scaling = if args.no_scaling {
        Vec::new()
    } else {
        progress.stage("memory scaling", None);
        memory_scaling(&p)?
    };
    drop(progress);
    let source = "bench grad (toy problem)";
    if args.json {
        let mut v = comparison_json(source, &p, &comparison);
        v["memory_scaling"] = json!(scaling);
        println!("{v}");
    } else {
        print!("{}", problem_header(source, &p));
        print!("{}", table(&comparison));
        if !scaling.is_empty() {
            print!("{}", scaling_table(&scaling));
        }
    }
    if comparison.methods.iter().any(|r| r.error.is_some()) {
        return Err(CliError::Failed);
    }
    Ok(())
}
