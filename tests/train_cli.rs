//! `nodelab train` and `nodelab bench train`: the JSON and CSV contracts, saved models that open
//! in `nodelab solve`, the shipped training presets, and exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{json, nodelab, stderr, stdout};

#[test]
fn json_report_has_the_contract_fields() {
    let out = nodelab(&[
        "train",
        "circles",
        "--iters",
        "6",
        "--eval-every",
        "3",
        "--grad-check-every",
        "2",
        "--methods",
        "backprop,adjoint",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["task"], "circles");
    assert_eq!(v["device"], "cpu");
    assert_eq!(v["seed"], 0);
    assert_eq!(v["iters"], 6);
    let methods = v["methods"].as_array().unwrap();
    assert_eq!(methods.len(), 2);
    for m in methods {
        for key in [
            "method",
            "status",
            "reason",
            "final_loss",
            "eval",
            "curve",
            "mean_ms_per_iter",
            "median_ms_per_iter",
            "nfe_forward",
            "nfe_backward",
            "peak_heap_bytes",
            "stored_bytes",
            "grad_err",
        ] {
            assert!(m.get(key).is_some(), "missing {key} in {m}");
        }
        assert_eq!(m["status"], "finished");
        assert_eq!(m["curve"].as_array().unwrap().len(), 6);
        // Evaluations at 0, 3 and 6, each with a test accuracy in [0, 1].
        let eval = m["eval"].as_array().unwrap();
        let iters: Vec<u64> = eval.iter().map(|e| e["iter"].as_u64().unwrap()).collect();
        assert_eq!(iters, vec![0, 3, 6]);
        assert!(
            eval.iter()
                .all(|e| (0.0..=1.0).contains(&e["accuracy"].as_f64().unwrap()))
        );
        // Gradient checks at 2, 4, 6: fixed-step RK4 backprop vs the tight reference.
        let errs = m["grad_err"].as_array().unwrap();
        assert_eq!(errs.len(), 3);
        for e in errs {
            let err = e["err"].as_f64().unwrap();
            assert!(err > 0.0 && err < 1e-2, "{}: {err}", m["method"]);
        }
        assert!(m["nfe_forward"].as_u64().unwrap() > 0);
        assert!(
            m["peak_heap_bytes"].as_u64().unwrap() > 0,
            "measured in the binary"
        );
    }
}

#[test]
fn csv_has_one_row_per_method_and_iteration() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("curves.csv");
    let out = nodelab(&[
        "train",
        "gaussians",
        "--iters",
        "4",
        "--eval-every",
        "2",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[..3], ["method", "iter", "loss"]);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2 * 4);
    assert!(rows.iter().all(|r| r.len() == header.len()));
    let eval_col = header.iter().position(|h| *h == "eval_loss").unwrap();
    let with_eval: Vec<&str> = rows
        .iter()
        .filter(|r| !r[eval_col].is_empty())
        .map(|r| r[1])
        .collect();
    // Rows are written as training goes: iteration by iteration, the methods in turn.
    assert_eq!(with_eval, vec!["2", "2", "4", "4"]);
    assert_eq!(rows[0][0], "backprop");
    assert_eq!(rows[1][0], "adjoint");
    // The table is printed too.
    assert!(stdout(&out).contains("backprop"));
}

#[test]
fn saved_models_open_in_solve_with_their_start_and_span() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("spiral.safetensors");
    let out = nodelab(&[
        "train",
        "spiral-fit",
        "--iters",
        "3",
        "--methods",
        "backprop,adjoint",
        "--save-model",
        base.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for m in ["backprop", "adjoint"] {
        let path = dir.path().join(format!("spiral-{m}.safetensors"));
        assert!(path.exists(), "{}", stdout(&out));
        let s = nodelab(&[
            "solve",
            path.to_str().unwrap(),
            "--method",
            "dopri5",
            "--json",
        ]);
        assert_eq!(s.status.code(), Some(0), "{}", stderr(&s));
        let v = json(&s);
        assert_eq!(v["t_final"], 25.0, "the trajectory task's span");
    }
    let json_path = dir.path().join("one.json");
    let out = nodelab(&[
        "train",
        "circles",
        "--iters",
        "2",
        "--methods",
        "backprop",
        "--save-model",
        json_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = nodelab(&["solve", json_path.to_str().unwrap(), "--json"]);
    assert_eq!(s.status.code(), Some(0), "{}", stderr(&s));
    assert_eq!(
        json(&s)["y_final"].as_array().unwrap().len(),
        3,
        "2-D points + 1 augmented"
    );
}

#[test]
fn shipped_training_presets_run() {
    let mut n = 0;
    for entry in std::fs::read_dir("presets").unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("train-") {
            continue;
        }
        n += 1;
        let out = nodelab(&["train", path.to_str().unwrap(), "--iters", "2", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        let v = json(&out);
        let task = name.trim_start_matches("train-").trim_end_matches(".toml");
        assert_eq!(v["task"], task);
        assert!(
            v["methods"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["status"] == "finished")
        );
    }
    assert_eq!(
        n,
        nodelab::train::TaskName::ALL.len(),
        "one preset per task"
    );
}

#[test]
fn bad_input_exits_2_with_a_message() {
    let cases: &[(&[&str], &str)] = &[
        (&["train", "circlez"], "unknown task 'circlez'"),
        (
            &["train", "circles", "--methods", "bakprop"],
            "unknown gradient method",
        ),
        (
            &[
                "train",
                "circles",
                "--device",
                "gpu",
                "--methods",
                "interp-adjoint",
            ],
            "interp-adjoint: CPU only",
        ),
        (&["train", "circles", "--precision", "f16"], "f16"),
        (&["train", "circles", "--lr=-1"], "lr"),
        (&["train", "circles", "--iters", "0"], "iters"),
        (&["train", "circles", "--noise", "nan"], "noise"),
        (
            &["train", "circles", "--method-lr", "fd=1"],
            "not among the methods",
        ),
        (
            &["train", "spiral-fit", "--solver", "rk5"],
            "unknown solver 'rk5'",
        ),
        (
            &["train", "spiral-fit", "--h0", "0"],
            "--h0 must be a positive",
        ),
    ];
    for (args, needle) in cases {
        let out = nodelab(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

#[test]
fn one_diverging_method_exits_0_all_diverging_exit_1() {
    let out = nodelab(&[
        "train",
        "gaussians",
        "--iters",
        "30",
        "--optimizer",
        "sgd",
        "--lr",
        "0.05",
        "--method-lr",
        "adjoint=1e12",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["methods"][0]["status"], "finished");
    assert_eq!(v["methods"][1]["status"], "diverged");
    assert!(
        v["methods"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("iteration")
    );
    let out = nodelab(&[
        "train",
        "gaussians",
        "--iters",
        "30",
        "--optimizer",
        "sgd",
        "--lr",
        "1e12",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("stopped at iteration"));
}

#[test]
fn outputs_never_overwrite_the_preset_read() {
    let dir = tempfile::tempdir().unwrap();
    let preset = dir.path().join("mine.toml");
    std::fs::write(&preset, "[train]\ntask = \"xor\"\niters = 2\n").unwrap();
    let out = nodelab(&[
        "train",
        preset.to_str().unwrap(),
        "--csv",
        preset.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(&preset).unwrap(),
        "[train]\ntask = \"xor\"\niters = 2\n"
    );
}

#[test]
fn bench_train_reports_each_method() {
    let out = nodelab(&[
        "bench",
        "train",
        "--iters",
        "2",
        "--batches",
        "64",
        "--methods",
        "backprop,adjoint",
        "--cpu-only",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rows = json(&out);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["task"], "spiral-fit");
    assert_eq!(rows[2]["task"], "circles");
    assert_eq!(rows[2]["batch"], 64);
    assert!(
        rows.iter()
            .all(|r| r["median_ms_per_iter"].as_f64().unwrap() > 0.0)
    );
}

/// `train --precision f32` on the CPU: the gradient in f32, the weights in f64. Six iterations
/// follow the f64 run to f32 rounding (final losses within 1e-3 relative, not equal); an
/// f64-only method is refused.
#[test]
fn train_in_f32_on_the_cpu_follows_f64() {
    let run = |precision: &str| {
        let out = nodelab(&[
            "train",
            "circles",
            "--iters",
            "6",
            "--methods",
            "backprop,adjoint",
            "--precision",
            precision,
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        json(&out)
    };
    let (v32, v64) = (run("f32"), run("f64"));
    assert_eq!(v32["precision"], "f32");
    assert_eq!(v64["precision"], "f64");
    for (a, b) in v32["methods"]
        .as_array()
        .unwrap()
        .iter()
        .zip(v64["methods"].as_array().unwrap())
    {
        assert_eq!(a["status"], "finished");
        let (l32, l64) = (
            a["final_loss"].as_f64().unwrap(),
            b["final_loss"].as_f64().unwrap(),
        );
        let rel = (l32 - l64).abs() / l64.abs();
        assert!(rel < 1e-3 && rel > 0.0, "{}: {l32} vs {l64}", a["method"]);
    }
    let out = nodelab(&[
        "train",
        "circles",
        "--methods",
        "afge",
        "--precision",
        "f32",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("afge: f64 only"), "{}", stderr(&out));
}

/// `--solver` and `--h0` replace the task's solver: fixed RK4 takes ⌈span/h⌉ steps of 4
/// evaluations per window, so halving h doubles the forward evaluations.
#[test]
fn solver_and_h0_options_set_the_fixed_step() {
    let nfe = |h: &str| {
        let out = nodelab(&[
            "train",
            "spiral-fit",
            "--methods",
            "backprop",
            "--iters",
            "2",
            "--hidden",
            "8",
            "--solver",
            "rk4",
            "--h0",
            h,
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        json(&out)["methods"][0]["nfe_forward"].as_u64().unwrap()
    };
    let (coarse, fine) = (nfe("0.05"), nfe("0.025"));
    assert!(coarse > 0);
    assert_eq!(
        fine,
        2 * coarse,
        "h 0.05: {coarse} evaluations, h 0.025: {fine}"
    );
}
