//! `nodelab solve`.

use std::path::{Path, PathBuf};

use super::{CliError, SolveArgs, fmt_num, parse_method, parse_param};
use crate::output;
use crate::preset::{LoadedPreset, Preset, ProblemKind, ProblemSpec};
use crate::problem::Problem;
use crate::report::{SolveSummary, steps_csv};
use crate::solver::{self, SolverConfig};

/// A neural problem on a model file (weights JSON or safetensors): the start state and span
/// a trained model's metadata records, else zeros on [0, 1].
fn model_preset(path: &Path) -> Result<LoadedPreset, CliError> {
    // The model is read and checked first, so that its errors name the file itself (not a
    // line of the preset made up below).
    crate::nn::model_file::load_model(path).map_err(CliError::Usage)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .ok_or_else(|| CliError::Usage(format!("{} is not a file", path.display())))?;
    let mut text = format!(
        "[problem]\nkind = \"neural\"\nweights = {}\n",
        toml::Value::String(name)
    );
    let list = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Said on stderr either way: a model without a recorded start integrates from zeros.
    match crate::nn::model_file::start_hint(path).map_err(CliError::Usage)? {
        Some((y0, span)) => {
            eprintln!(
                "{}: y0 = [{}], t_span = [{}] (recorded in the model)",
                path.display(),
                list(&y0),
                list(&span)
            );
            text.push_str(&format!(
                "y0 = [{}]\nt_span = [{}]\n",
                list(&y0),
                list(&span)
            ));
        }
        None => eprintln!(
            "{}: the model records no start: y0 = zeros, t_span = [0, 1] (override with a preset)",
            path.display()
        ),
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    Ok(LoadedPreset::from_text(
        &text,
        &path.display().to_string(),
        dir,
    )?)
}

/// Resolves the target (built-in name or preset file) and the overrides into a problem and
/// solver settings, and lists the files the run reads (which it must never write).
pub fn resolve(args: &SolveArgs) -> Result<(Problem, SolverConfig, Vec<PathBuf>), CliError> {
    let is_file = args.target.ends_with(".toml") || Path::new(&args.target).is_file();
    let is_model = [".json", ".safetensors"]
        .iter()
        .any(|e| args.target.to_ascii_lowercase().ends_with(e));
    let mut loaded = if is_model {
        model_preset(Path::new(&args.target))?
    } else if is_file {
        Preset::load(Path::new(&args.target))?
    } else {
        // A built-in named on the command line: there is no text to point into.
        LoadedPreset {
            preset: Preset {
                description: None,
                problem: ProblemSpec {
                    kind: ProblemKind::Builtin,
                    name: Some(args.target.clone()),
                    ..ProblemSpec::default()
                },
                solver: SolverConfig::default(),
                compare: Vec::new(),
                batch_steps: Default::default(),
                loss: None,
            },
            text: String::new(),
            source: "<command line>".into(),
            base_dir: PathBuf::from("."),
        }
    };
    // The preset as written first, so that its errors point at the file.
    loaded.validate()?;
    let preset = &mut loaded.preset;
    for p in &args.params {
        let (name, value) = parse_param(p)?;
        if preset.problem.kind == ProblemKind::Neural {
            return Err(CliError::Usage(
                "--param does not apply to a neural problem".into(),
            ));
        }
        preset.problem.params.insert(name, value);
    }
    if let Some(t_end) = args.t_end {
        if !t_end.is_finite() {
            return Err(CliError::Usage(format!(
                "--t-end must be a finite number (got {t_end})"
            )));
        }
        let t0 = match preset.problem.t_span {
            Some([t0, _]) => t0,
            None => match preset.problem.kind {
                ProblemKind::Builtin => preset
                    .problem
                    .name
                    .as_deref()
                    .and_then(crate::problem::builtin::info)
                    .map_or(0.0, |b| b.t_span.0),
                _ => 0.0,
            },
        };
        preset.problem.t_span = Some([t0, t_end]);
    }
    let mut config = preset.solver.clone();
    if let Some(m) = &args.method {
        config.method = parse_method(m)?;
    }
    if let Some(tol) = args.tol {
        config.tol = tol;
    }
    if let Some(rtol) = args.rtol {
        config.rtol = rtol;
    }
    if let Some(h0) = args.h0 {
        config.h0 = Some(h0);
    }
    // What is wrong now came from an option: name it.
    config
        .check()
        .map_err(|(key, e)| CliError::Usage(format!("--{}: {e}", key.replace('_', "-"))))?;
    let problem = loaded.build_problem()?;
    let mut inputs = Vec::new();
    if is_file {
        inputs.push(PathBuf::from(&args.target));
    }
    if let Some(w) = &loaded.preset.problem.weights {
        inputs.push(loaded.base_dir.join(w));
    }
    Ok((problem, config, inputs))
}

pub fn run(args: &SolveArgs) -> Result<(), CliError> {
    let (problem, config, inputs) = resolve(args)?;
    if let Some(path) = &args.steps_csv {
        let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
        output::check_not_input(path, &inputs, "--steps-csv").map_err(CliError::Usage)?;
    }
    let solution = solver::solve(&problem, &config).map_err(|e| CliError::Usage(e.to_string()))?;
    let summary = SolveSummary::new(&problem, &config, &solution);
    if let Some(requested) = &args.steps_csv {
        // A failed solve never replaces a good file: its partial step list goes next to the
        // requested file under a name that says so, and the old file stays as it was.
        let path = if summary.error.is_some() {
            let partial = output::failed_sibling(requested);
            eprintln!(
                "note: the solve failed; its {} attempted steps are in {} ({} is unchanged)",
                solution.records.len(),
                partial.display(),
                requested.display()
            );
            partial
        } else {
            requested.clone()
        };
        // Written next to the target and renamed into place: a failure leaves the old file.
        output::write_atomic(&path, |mut w| {
            steps_csv::write(&mut w, problem.dim(), &solution.records)
        })
        .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", path.display())))?;
    }
    if args.json {
        let text = serde_json::to_string(&summary)
            .map_err(|e| CliError::Usage(format!("cannot encode the report: {e}")))?;
        println!("{text}");
    } else {
        print_text(&problem, &config, &summary);
    }
    if summary.error.is_some() {
        Err(CliError::Failed)
    } else {
        Ok(())
    }
}

fn print_text(problem: &Problem, config: &SolverConfig, s: &SolveSummary) {
    println!("problem    {} — {}", s.problem, problem.description);
    println!(
        "method     {} (tol {}, rtol {})",
        s.method,
        fmt_num(config.tol),
        fmt_num(config.rtol)
    );
    println!(
        "steps      {} accepted, {} rejected, {} f-evaluations",
        s.accepted, s.rejected, s.nfev
    );
    if let (Some(lo), Some(hi)) = (s.h_min, s.h_max) {
        println!("h range    [{}, {}]", fmt_num(lo), fmt_num(hi));
    }
    let y: Vec<String> = s.y_final.iter().map(|v| fmt_num(*v)).collect();
    println!("t_final    {}   y = [{}]", fmt_num(s.t_final), y.join(", "));
    if let Some(e) = s.max_error {
        println!("max error  {} (vs the exact solution)", fmt_num(e));
    }
    for w in &s.warnings {
        println!("warning: {w}");
    }
    if let Some(e) = &s.error {
        println!("error: {e}");
    }
}
