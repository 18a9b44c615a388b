//! `nodelab bench solvers`: the work-precision table.

use std::sync::atomic::AtomicBool;

use super::{BenchSolversArgs, CliError, fmt_num};
use crate::bench::work_precision::{self, DEFAULT_TOLERANCES, TARGETS, WorkPrecision};
use crate::problem::builtin::{self, BuiltinOverrides};
use crate::solver::Method;

const DEFAULT_PROBLEMS: &str = "van-der-pol,lorenz:2,paper-bump,freefall";

pub fn run(args: &BenchSolversArgs) -> Result<(), CliError> {
    let list = args.problems.as_deref().unwrap_or(DEFAULT_PROBLEMS);
    let mut problems = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, t_end) = match item.split_once(':') {
            Some((n, t)) => (
                n,
                Some(
                    t.parse::<f64>()
                        .ok()
                        .filter(|t| t.is_finite())
                        .ok_or_else(|| {
                            CliError::Usage(format!(
                                "--problems '{item}': expected NAME or NAME:T_END with a finite \
                                 T_END"
                            ))
                        })?,
                ),
            ),
            None => (item, None),
        };
        let problem = builtin::build(
            name,
            &BuiltinOverrides {
                t_end,
                ..Default::default()
            },
        )
        .map_err(|e| CliError::Usage(e.to_string()))?;
        problems.push(problem);
    }
    if problems.is_empty() {
        return Err(CliError::Usage(format!(
            "--problems lists no problem (give NAME or NAME:T_END, comma-separated; default: \
             {DEFAULT_PROBLEMS})"
        )));
    }
    let cancel = AtomicBool::new(false);
    let mut results = Vec::new();
    for problem in &problems {
        if !args.json {
            eprintln!(
                "sweeping {} on [{}, {}] …",
                problem.name,
                fmt_num(problem.t0),
                fmt_num(problem.t_end)
            );
        }
        results.push(work_precision::sweep(
            problem,
            &Method::ADAPTIVE,
            &DEFAULT_TOLERANCES,
            &|_, _| {},
            &cancel,
        ));
    }
    if args.json {
        let text = serde_json::to_string_pretty(&results)
            .map_err(|e| CliError::Usage(format!("cannot encode the report: {e}")))?;
        println!("{text}");
    } else {
        for r in &results {
            print_table(r);
        }
    }
    Ok(())
}

fn print_table(r: &WorkPrecision) {
    println!(
        "\n{} on [{}, {}], errors vs {}",
        r.problem,
        fmt_num(r.t_span[0]),
        fmt_num(r.t_span[1]),
        r.reference
    );
    let methods: Vec<&str> = Method::ADAPTIVE.iter().map(|m| m.name()).collect();
    print!("{:>8}", "tol");
    for m in &methods {
        print!("  {:>22}", format!("{m} nfev / err"));
    }
    println!();
    for tol in DEFAULT_TOLERANCES {
        print!("{:>8}", format!("{tol:.0e}"));
        for m in &methods {
            let cell = r
                .points
                .iter()
                .find(|p| p.method == *m && p.tol == tol)
                .map_or("—".to_string(), |p| match p.max_error {
                    Some(e) => format!("{} / {:.1e}", p.nfev, e),
                    None => "failed".to_string(),
                });
            print!("  {cell:>22}");
        }
        println!();
    }
    for target in TARGETS {
        print!("{:>8}", format!("→{target:.0e}"));
        for m in &methods {
            let cell = r
                .targets
                .iter()
                .find(|t| t.method == *m && t.target == target)
                .and_then(|t| t.nfev)
                .map_or("not reached".to_string(), |n| format!("{n:.0} nfev"));
            print!("  {cell:>22}");
        }
        println!();
    }
}
