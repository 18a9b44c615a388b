//! The command-line contract: output formats, exit codes and error messages.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{json, nodelab, stderr, stdout};

#[test]
fn presets_lists_every_builtin_as_name_tab_description() {
    let out = nodelab(&["presets"]);
    assert!(out.status.success());
    let text = stdout(&out);
    let names: Vec<&str> = text
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    for name in [
        "paper-bump",
        "paper-kink",
        "van-der-pol",
        "lorenz",
        "sir",
        "freefall",
        "spiral-cubic",
        "white-dwarf",
        "lotka-volterra",
        "exponential",
    ] {
        assert!(names.contains(&name), "{name} missing from:\n{text}");
    }
    for line in text.lines() {
        let parts: Vec<&str> = line.split('\t').collect();
        assert_eq!(parts.len(), 2, "{line}");
        assert!(!parts[1].is_empty());
    }
}

#[test]
fn solve_json_has_every_field_of_the_contract() {
    let out = nodelab(&[
        "solve",
        "van-der-pol",
        "--method",
        "zc-rk4",
        "--tol",
        "1e-6",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    for key in [
        "problem",
        "method",
        "tol",
        "accepted",
        "rejected",
        "nfev",
        "h_min",
        "h_max",
        "t_final",
        "y_final",
        "max_error",
        "warnings",
        "error",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["problem"], "van-der-pol");
    assert_eq!(v["method"], "zc-rk4");
    assert_eq!(v["tol"], 1e-6);
    assert_eq!(v["t_final"], 20.0);
    assert_eq!(v["y_final"].as_array().unwrap().len(), 2);
    assert!(
        v["max_error"].is_null(),
        "van-der-pol has no exact solution"
    );
    assert!(v["error"].is_null());
    assert!(v["h_min"].as_f64().unwrap() <= v["h_max"].as_f64().unwrap());
}

#[test]
fn solve_reports_the_error_against_the_exact_solution_and_the_paper_warning() {
    let out = nodelab(&[
        "solve",
        "paper-bump",
        "--method",
        "zc-rk4-paper",
        "--tol",
        "1e-2",
        "--h0",
        "0.1",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert!(v["max_error"].as_f64().unwrap() > 1.0);
    let warnings = v["warnings"].as_array().unwrap();
    assert!(warnings[0].as_str().unwrap().contains("identically zero"));
    // h_min/h_max exclude the final step shortened to hit t_end.
    assert_eq!(v["h_min"], 0.1);
    assert_eq!(v["h_max"], 0.1);
}

#[test]
fn steps_csv_has_the_contract_header_and_one_row_per_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("steps.csv");
    let out = nodelab(&[
        "solve",
        "van-der-pol",
        "--method",
        "zc-rk4-paper",
        "--tol",
        "1e-2",
        "--h0",
        "0.1",
        "--steps-csv",
        csv.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "t,h,err,accepted,nfev,y_0,y_1,a0_0,a0_1,a1_0,a1_1,a2_0,a2_1"
    );
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|f| f.parse::<f64>().unwrap()).collect())
        .collect();
    let (acc, rej) = (
        v["accepted"].as_u64().unwrap(),
        v["rejected"].as_u64().unwrap(),
    );
    assert_eq!(rows.len() as u64, acc + rej);
    assert_eq!(rows.iter().filter(|r| r[3] == 1.0).count() as u64, acc);
    // Accepted steps tile [0, 20]; a rejected attempt starts where the next one does.
    let mut t = 0.0;
    for r in &rows {
        assert_eq!(r[0], t, "row starts at {} instead of {t}", r[0]);
        if r[3] == 1.0 {
            t = r[0] + r[1];
        }
    }
    assert!((t - 20.0).abs() < 1e-12);
    let last = rows.iter().rev().find(|r| r[3] == 1.0).unwrap();
    assert_eq!(last[5], v["y_final"][0].as_f64().unwrap());
    assert_eq!(last[4], v["nfev"].as_f64().unwrap());
    // p(1) = a0 + a1 + a2 = k4, and a0 is f at the step start: for x' = v that is v_n.
    let first = &rows[0];
    assert_eq!(first[7], 0.0, "a0 of x' = v at v(0) = 0");
    assert_eq!(first[8], -2.0, "a0 of v' = mu(1-x^2)v - x at (2, 0)");
}

#[test]
fn methods_without_coefficients_leave_the_columns_empty() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("d.csv");
    let out = nodelab(&[
        "solve",
        "exponential",
        "--method",
        "dopri5",
        "--steps-csv",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&csv).unwrap();
    let row = text.lines().nth(1).unwrap();
    assert!(row.ends_with(",,,"), "{row}");
    let out = nodelab(&[
        "solve",
        "exponential",
        "--method",
        "euler",
        "--steps-csv",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&csv).unwrap();
    let fields: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(fields[2], "", "fixed-step methods have no error estimate");
}

#[test]
fn a_failed_solve_exits_1_and_still_prints_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let preset = dir.path().join("blowup.toml");
    std::fs::write(
        &preset,
        "[problem]\nkind = \"custom\"\nvariables = [\"y\"]\nequations = [\"y^2\"]\ny0 = [1.0]\nt_span = [0.0, 2.0]\n",
    )
    .unwrap();
    let out = nodelab(&["solve", preset.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    let error = v["error"].as_str().unwrap();
    assert!(error.contains("t = "), "{error}");
    assert!(v["accepted"].as_u64().unwrap() > 0);
}

/// A failed solve never replaces a good steps file: the old file stays byte for byte, and the
/// partial step list goes to `NAME.partial.csv` beside it, as stderr says.
#[test]
fn a_failed_solve_keeps_the_old_steps_csv_and_writes_a_partial_one_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("old.csv");
    std::fs::write(&csv, "precious\n").unwrap();
    let out = nodelab(&[
        "solve",
        "van-der-pol",
        "--tol",
        "1e-300",
        "--steps-csv",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), "precious\n");
    let partial = dir.path().join("old.partial.csv");
    let text = std::fs::read_to_string(&partial).unwrap();
    assert!(text.starts_with("t,h,"), "{text}");
    assert!(text.lines().count() > 1, "the attempted steps are kept");
    assert!(stderr(&out).contains("old.partial.csv"), "{}", stderr(&out));
}

#[test]
fn bad_preset_exits_2_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let preset = dir.path().join("bad.toml");
    std::fs::write(
        &preset,
        "[problem]\nname = \"lorenz\"\n[solver]\nmethod = \"rk45\"\n",
    )
    .unwrap();
    let out = nodelab(&["solve", preset.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("bad.toml:4:"), "{err}");

    std::fs::write(&preset, "[problem]\nname = \"lorenz\"\ncolour = 3\n").unwrap();
    let err = stderr(&nodelab(&["solve", preset.to_str().unwrap()]));
    assert!(err.contains("bad.toml:3:1"), "{err}");

    let out = nodelab(&["solve", "missing-file.toml"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_usage_exits_2_with_one_line() {
    for args in [
        vec!["solve", "van-der-pol", "--method", "rk45"],
        vec!["solve", "no-such-problem"],
        vec!["solve", "van-der-pol", "--param", "nu=3"],
        vec!["solve", "van-der-pol", "--param", "mu"],
        vec!["solve", "van-der-pol", "--tol", "-1"],
        vec!["solve", "van-der-pol", "--frobnicate"],
    ] {
        let out = nodelab(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn params_and_t_end_override_the_builtin() {
    let run = |extra: &[&str]| {
        let mut args = vec![
            "solve",
            "exponential",
            "--method",
            "dopri5",
            "--tol",
            "1e-10",
            "--json",
        ];
        args.extend_from_slice(extra);
        json(&nodelab(&args))
    };
    let v = run(&["--param", "lambda=0.5", "--t-end", "2"]);
    assert_eq!(v["t_final"], 2.0);
    let y = v["y_final"][0].as_f64().unwrap();
    assert!((y - 1.0f64.exp()).abs() < 1e-8, "{y}");
    assert!(v["max_error"].as_f64().unwrap() < 1e-8);
}

#[test]
fn shipped_presets_all_solve() {
    for entry in std::fs::read_dir("presets").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        if nodelab::train::preset::is_train_preset(&text) {
            // Training presets are run by `nodelab train` (tests/train_cli.rs); `solve` says so.
            let out = nodelab(&["solve", path.to_str().unwrap()]);
            assert_eq!(out.status.code(), Some(2));
            assert!(stderr(&out).contains("nodelab train"), "{}", stderr(&out));
            continue;
        }
        let out = nodelab(&["solve", path.to_str().unwrap(), "--json"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            path.display(),
            stderr(&out)
        );
    }
    assert!(Path::new("presets/paper-lorenz.toml").exists());
}

#[test]
fn bench_solvers_reports_costs_to_reach_targets() {
    let out = nodelab(&["bench", "solvers", "--problems", "freefall", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    let r = &v[0];
    assert_eq!(r["problem"], "freefall");
    assert_eq!(r["reference"], "exact");
    let points = r["points"].as_array().unwrap();
    assert_eq!(points.len(), 4 * 9);
    let dopri_1e6 = r["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["method"] == "dopri5" && t["target"] == 1e-6)
        .unwrap();
    assert!(dopri_1e6["nfev"].as_f64().unwrap() > 50.0);
    // Tighter tolerances cost more evaluations for every adaptive method but the paper's.
    for method in ["zc-rk4", "rk4-doubling", "dopri5"] {
        let nfev: Vec<u64> = points
            .iter()
            .filter(|p| p["method"] == method)
            .map(|p| p["nfev"].as_u64().unwrap())
            .collect();
        assert!(nfev.windows(2).all(|w| w[0] <= w[1]), "{method}: {nfev:?}");
    }
}

/// `nodelab … | head`: a reader that goes away ends the command quietly (SIGPIPE's default
/// action), never a "failed printing to stdout" panic.
#[test]
fn a_closed_pipe_ends_the_command_without_a_panic() {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = common::command(&["experiment", "--list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Closed before the command prints: its first write meets a pipe without a reader.
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!err.contains("panicked"), "stderr: {err}");
    assert_ne!(status.code(), Some(101), "stderr: {err}");
}
