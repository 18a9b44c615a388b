//! `nodelab experiment`: the papers' experiments ([`crate::experiment`]) from the command
//! line: `--list`, or one experiment with its verdict, tables and figures.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use clap::Args;
use serde_json::{Value, json};

use super::progress::Progress;
use super::{CliError, fmt_num};
use crate::experiment::{
    self, Availability, Cache, ExperimentResult, Preset, RunContext, Settings,
};
use crate::grad::progress as counter;

#[derive(Debug, Args)]
pub struct ExperimentArgs {
    /// The experiment (see `--list`).
    pub name: Option<String>,
    /// List the experiments: name, paper, section, claim.
    #[arg(long)]
    pub list: bool,
    /// The quick setting (well under a minute); default: the full setting.
    #[arg(long)]
    pub quick: bool,
    /// Write every figure (PNG, SVG), table (CSV) and the result (JSON) into DIR.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print one JSON object instead of the text report.
    #[arg(long)]
    pub json: bool,
    /// Set a control: KEY=VALUE (repeatable; the keys are listed in the text report).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Coupling λ of the λ-reversible schemes (same as `--set lambda=X`).
    #[arg(long)]
    pub lambda: Option<String>,
    /// Step size h (stability-regions; same as `--set h=X`).
    #[arg(long)]
    pub h: Option<String>,
    /// Run even when a cached result for these settings exists (and do not store it).
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Cache folder (default: $NODELAB_CACHE_DIR, else ~/.cache/nodelab/experiments).
    #[arg(long = "cache-dir", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

pub fn run(args: &ExperimentArgs) -> Result<(), CliError> {
    if args.list {
        return list(args.json);
    }
    let name = args
        .name
        .as_deref()
        .ok_or_else(|| CliError::Usage("give an experiment name, or --list to see them".into()))?;
    let spec = experiment::find(name).ok_or_else(|| {
        CliError::Usage(format!(
            "unknown experiment '{name}' (known: {})",
            experiment::REGISTRY
                .iter()
                .map(|e| e.name)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    if let Availability::NotYet { needs } = spec.availability {
        return Err(CliError::Usage(format!(
            "{}: not implemented yet: needs {needs}",
            spec.name
        )));
    }
    let mut settings = spec.settings(if args.quick {
        Preset::Quick
    } else {
        Preset::Full
    });
    let mut sets: Vec<(String, String)> = Vec::new();
    for item in &args.set {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("--set expects KEY=VALUE, got '{item}'")))?;
        sets.push((k.trim().to_string(), v.to_string()));
    }
    for (key, value) in [("lambda", &args.lambda), ("h", &args.h)] {
        if let Some(v) = value {
            if spec.control(key).is_none() {
                return Err(CliError::Usage(format!(
                    "--{key} does not apply to {} (its settings: {})",
                    spec.name,
                    spec.controls
                        .iter()
                        .map(|c| c.key)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            sets.push((key.to_string(), v.clone()));
        }
    }
    for (k, v) in &sets {
        settings.set(spec, k, v).map_err(CliError::Usage)?;
    }
    let cache = (!args.no_cache)
        .then(|| Cache::new(args.cache_dir.clone().unwrap_or_else(Cache::default_dir)));

    let progress = Arc::new(Progress::new(args.json));
    let last_stage = Arc::new(Mutex::new(String::new()));
    let ctx = {
        let progress = progress.clone();
        RunContext {
            progress: Arc::new(move |p: &experiment::Progress| {
                if let Ok(mut last) = last_stage.lock() {
                    if *last != p.stage {
                        progress.stage(&p.stage, Some(p.total));
                        last.clone_from(&p.stage);
                    }
                    while counter::done() < p.done {
                        counter::tick();
                    }
                }
            }),
            cancel: Arc::new(AtomicBool::new(false)),
        }
    };
    let outcome = experiment::run_cached(spec, &settings, &ctx, cache.as_ref());
    drop(ctx);
    if let Ok(p) = Arc::try_unwrap(progress) {
        drop(p);
    }
    let (result, cached, warning) = outcome.map_err(|e| match e {
        experiment::ExperimentError::Failed(m) => {
            eprintln!("error: {m}");
            CliError::Failed
        }
        other => CliError::Usage(other.to_string()),
    })?;
    if let Some(w) = warning {
        eprintln!("warning: {w}");
    }
    if cached && !args.json {
        eprintln!("(cached result; --no-cache runs it again)");
    }
    if let Some(dir) = &args.out {
        let files = result.write_all(dir).map_err(CliError::Usage)?;
        if !args.json {
            eprintln!("wrote {} files to {}", files.len(), dir.display());
        }
    }
    if args.json {
        println!("{}", result.to_json().map_err(CliError::Usage)?);
    } else {
        print_report(&result, &settings, spec);
    }
    Ok(())
}

fn list(json: bool) -> Result<(), CliError> {
    if json {
        let items: Vec<Value> = experiment::REGISTRY
            .iter()
            .map(|e| {
                json!({
                    "name": e.name,
                    "paper": e.paper,
                    "section": e.section,
                    "claim": e.claim,
                    "implemented": e.availability == Availability::Implemented,
                })
            })
            .collect();
        println!("{}", json!({ "experiments": items }));
        return Ok(());
    }
    for e in experiment::REGISTRY {
        let status = match e.availability {
            Availability::Implemented => String::new(),
            Availability::NotYet { .. } => " [not implemented yet]".into(),
        };
        println!(
            "{}{status}\n  {} — {}\n  {}\n",
            e.name, e.paper, e.section, e.claim
        );
    }
    Ok(())
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), fmt_num),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn print_report(r: &ExperimentResult, settings: &Settings, spec: &experiment::ExperimentSpec) {
    println!("{} ({}, {})", r.experiment, r.paper, r.section);
    println!("claim: {}", r.claim);
    let set: Vec<String> = settings
        .values
        .iter()
        .map(|(k, v)| match v {
            experiment::SettingValue::Number(n) => format!("{k}={}", fmt_num(*n)),
            experiment::SettingValue::Text(t) => format!("{k}={t}"),
        })
        .collect();
    println!("settings: {}", set.join(" "));
    for t in &r.tables {
        println!("\n{}", t.name);
        let cells: Vec<Vec<String>> = t
            .rows
            .iter()
            .map(|row| row.iter().map(cell).collect())
            .collect();
        let widths: Vec<usize> = (0..t.columns.len())
            .map(|c| {
                cells
                    .iter()
                    .map(|row| row.get(c).map_or(0, |s| s.chars().count()))
                    .chain([t.columns[c].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |row: Vec<&str>| {
            row.iter()
                .zip(&widths)
                .map(|(s, w)| format!("{s:>w$}"))
                .collect::<Vec<_>>()
                .join("  ")
        };
        println!("{}", line(t.columns.iter().map(String::as_str).collect()));
        for row in &cells {
            println!("{}", line(row.iter().map(String::as_str).collect()));
        }
    }
    if let Some(v) = &r.verdict {
        println!("\nverdict: {}", v.status.label());
        println!("{}", v.summary);
        for c in &v.checks {
            let mark = if c.holds { "holds" } else { "does not hold" };
            println!("  - {} — {mark}: {}", c.statement, c.measured);
        }
    }
    println!(
        "\n{} s; full setting: {}",
        fmt_num(r.elapsed_s),
        spec.full_runtime
    );
}
