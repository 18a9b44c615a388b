//! `nodelab density`: the log-density of a saved continuous normalising flow
//! ([`crate::density`]) on a grid or at the points of a CSV file, and samples of it.
//!
//! `log p(x) = log N(z(t1); 0, I) + ∫₀^{t1} tr ∂f/∂z dt`, one dopri5 solve of the augmented
//! state at atol = rtol = `--tol`. t1 comes from `--t1`, else the model's metadata (`t1`,
//! written by `nodelab train` for density tasks), else 1.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;

use super::CliError;
use crate::nn::model_file;
use crate::solver::{Method, SolverConfig};

#[derive(Debug, Args)]
pub struct DensityArgs {
    /// A flow saved by `nodelab train density-…` (safetensors or JSON weights).
    pub model: PathBuf,
    /// Evaluate on an N × N grid over [LO, HI]² (default 50 when no --points is given).
    #[arg(long)]
    pub grid: Option<usize>,
    /// The grid's range LO HI on both axes (default -4 4).
    #[arg(long, num_args = 2, value_names = ["LO", "HI"], allow_negative_numbers = true)]
    pub range: Option<Vec<f64>>,
    /// Evaluate at the points of a CSV file with a header naming the columns `x` and `y`.
    #[arg(long, value_name = "FILE.csv")]
    pub points: Option<PathBuf>,
    /// End time of the flow (default: the model's metadata, else 1).
    #[arg(long)]
    pub t1: Option<f64>,
    /// Tolerance of the dopri5 solve (atol = rtol; default 1e-8).
    #[arg(long)]
    pub tol: Option<f64>,
    /// Draw N samples (z ~ N(0, I) solved back from t1 to 0).
    #[arg(long)]
    pub samples: Option<usize>,
    /// Seed of the samples' base draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The `t1` recorded in a safetensors model's metadata.
fn metadata_t1(path: &Path) -> Option<f64> {
    if !model_file::is_safetensors(path) {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    let loaded = model_file::from_safetensors(&bytes).ok()?;
    loaded.metadata.get("t1")?.parse().ok()
}

/// Reads the `x` and `y` columns of a CSV file with a header.
pub fn read_points(path: &Path) -> Result<Vec<Vec<f64>>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or_else(|| {
        format!(
            "{}: the file is empty (expected a header x,y)",
            path.display()
        )
    })?;
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let col = |name: &str| {
        names.iter().position(|n| *n == name).ok_or_else(|| {
            format!(
                "{}: the header has no column '{name}' (expected x,y; got {header})",
                path.display()
            )
        })
    };
    let (ix, iy) = (col("x")?, col("y")?);
    let mut points = Vec::new();
    for (i, line) in lines {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let value = |c: usize| -> Result<f64, String> {
            let cell = cells
                .get(c)
                .ok_or_else(|| format!("{}:{}: too few columns", path.display(), i + 1))?;
            let v: f64 = cell
                .parse()
                .map_err(|_| format!("{}:{}: '{cell}' is not a number", path.display(), i + 1))?;
            if v.is_finite() {
                Ok(v)
            } else {
                Err(format!(
                    "{}:{}: '{cell}' is not finite",
                    path.display(),
                    i + 1
                ))
            }
        };
        points.push(vec![value(ix)?, value(iy)?]);
    }
    Ok(points)
}

/// Runs `nodelab density`.
pub fn run(args: &DensityArgs) -> Result<(), CliError> {
    let usage = CliError::Usage;
    let mlp = model_file::load(&args.model).map_err(usage)?;
    crate::density::check_flow(&mlp)
        .map_err(|e| CliError::Usage(format!("{}: {e}", args.model.display())))?;
    if mlp.dim() != 2 {
        return Err(CliError::Usage(format!(
            "{}: the flow has {} dimensions; nodelab density reads 2-D flows",
            args.model.display(),
            mlp.dim()
        )));
    }
    let t1 = args.t1.or_else(|| metadata_t1(&args.model)).unwrap_or(1.0);
    if !(t1.is_finite() && t1 > 0.0) {
        return Err(CliError::Usage(format!(
            "--t1 {t1}: must be finite and > 0"
        )));
    }
    let tol = args.tol.unwrap_or(1e-8);
    if !(tol.is_finite() && tol > 0.0 && tol < 1.0) {
        return Err(CliError::Usage(format!("--tol {tol}: must be in (0, 1)")));
    }
    let [lo, hi] = match args.range.as_deref() {
        None => [-4.0, 4.0],
        Some(&[lo, hi]) => [lo, hi],
        Some(_) => return Err(CliError::Usage("--range expects LO HI".into())),
    };
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(CliError::Usage(format!(
            "--range {lo} {hi}: must be finite with LO < HI"
        )));
    }
    if let Some(n) = args.grid
        && !(2..=2000).contains(&n)
    {
        return Err(CliError::Usage(format!(
            "--grid {n}: must be in 2 ..= 2000"
        )));
    }
    if let Some(n) = args.samples
        && n > 1_000_000
    {
        return Err(CliError::Usage(format!("--samples {n}: at most 1000000")));
    }
    let points = match &args.points {
        Some(p) => Some(read_points(p).map_err(usage)?),
        None => None,
    };
    let grid = args
        .grid
        .or((points.is_none() && args.samples.is_none()).then_some(50));
    let solver = SolverConfig {
        method: Method::Dopri5,
        tol,
        rtol: tol,
        max_steps: 1_000_000,
        ..SolverConfig::default()
    };
    let fail = |e: crate::grad::GradError| CliError::Usage(format!("the solve failed: {e}"));
    let mut out = serde_json::Map::new();
    out.insert("t1".into(), json!(t1));
    let mut text = String::new();
    if let Some(points) = &points {
        let (logp, _) = crate::density::log_density(&mlp, points, t1, &solver).map_err(fail)?;
        text.push_str("x,y,log_density\n");
        for (p, l) in points.iter().zip(&logp) {
            text.push_str(&format!("{},{},{}\n", p[0], p[1], l));
        }
        out.insert("log_density".into(), json!(logp));
    }
    if let Some(n) = grid {
        let axis: Vec<f64> = (0..n)
            .map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
            .collect();
        let pts: Vec<Vec<f64>> = axis
            .iter()
            .flat_map(|&y| axis.iter().map(move |&x| vec![x, y]))
            .collect();
        let (logp, _) = crate::density::log_density(&mlp, &pts, t1, &solver).map_err(fail)?;
        let rows: Vec<Vec<f64>> = logp.chunks(n).map(<[f64]>::to_vec).collect();
        let h = (hi - lo) / (n - 1) as f64;
        let mass: f64 = logp.iter().map(|l| l.exp()).sum::<f64>() * h * h;
        text.push_str(&format!(
            "# log p on a {n}×{n} grid over [{lo}, {hi}]² (rows: y ascending; columns: x \
             ascending); Σ p·h² = {mass:.6}\n"
        ));
        for r in &rows {
            let cells: Vec<String> = r.iter().map(|v| format!("{v:.6}")).collect();
            text.push_str(&cells.join(" "));
            text.push('\n');
        }
        if points.is_some() {
            out.insert("grid_log_density".into(), json!(rows));
        } else {
            out.insert("log_density".into(), json!(rows));
        }
        out.insert("xs".into(), json!(axis));
        out.insert("ys".into(), json!(axis));
        out.insert("mass".into(), json!(mass));
    }
    if let Some(n) = args.samples {
        let mut rng =
            crate::train::rng::SeedRng::new(args.seed, crate::train::rng::Stream::Batches);
        let base: Vec<Vec<f64>> = (0..n).map(|_| vec![rng.normal(), rng.normal()]).collect();
        let samples = crate::density::sample(&mlp, &base, t1, &solver).map_err(fail)?;
        text.push_str("# samples\nx,y\n");
        for s in &samples {
            text.push_str(&format!("{},{}\n", s[0], s[1]));
        }
        out.insert("samples".into(), json!(samples));
    }
    if args.json {
        println!("{}", serde_json::Value::Object(out));
    } else {
        print!("{text}");
    }
    Ok(())
}
