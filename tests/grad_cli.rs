//! The `nodelab grad` and `nodelab bench grad` contract: JSON fields, the table, exit codes and
//! errors, and the measured (counting-allocator) peak heap figures of the binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{json, nodelab, stderr};
use serde_json::Value;

const FIELDS: [&str; 13] = [
    "method",
    "loss",
    "grad",
    "err_vs_continuous",
    "err_vs_discrete",
    "time_ms",
    "stored_bytes",
    "peak_heap_bytes",
    "nfe_forward",
    "nfe_backward",
    "steps_accepted",
    "steps_rejected",
    "warnings",
];

#[test]
fn grad_json_has_every_field_and_the_expected_errors() {
    let out = nodelab(&[
        "grad",
        "presets/grad-mlp-2-8-2.toml",
        "--json",
        "--repeats",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["problem"]["mlp"]["n_params"], 42);
    assert_eq!(v["problem"]["batch"], 1);
    let reference = v["reference"]["grad"].as_array().unwrap();
    assert_eq!(reference.len(), 42);
    assert!(v["reference"]["loss"].as_f64().unwrap() > 0.0);
    assert!(v["reference"]["fd_rel_diff"].as_f64().unwrap() < 1e-6);
    let methods = v["methods"].as_array().unwrap();
    let names: Vec<&str> = methods
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    for name in [
        "backprop",
        "checkpoint",
        "adjoint",
        "interp-adjoint",
        "afge",
        "alf",
        "reversible-heun",
        "reversible-rk4",
        "fd",
    ] {
        assert!(names.contains(&name), "{name}");
    }
    let get = |name: &str| methods.iter().find(|m| m["method"] == name).unwrap();
    for m in methods {
        for f in FIELDS {
            assert!(!m[f].is_null(), "{}: {f} missing", m["method"]);
        }
        assert_eq!(m["grad"].as_array().unwrap().len(), 42);
        assert!(m["time_ms"].as_f64().unwrap() > 0.0);
        assert!(m["stored_bytes"].as_u64().unwrap() > 0);
        // The binary counts heap bytes: every method allocates its buffers.
        assert!(
            m["peak_heap_bytes"].as_u64().unwrap() > 0,
            "{}",
            m["method"]
        );
    }
    let f = |name: &str, key: &str| get(name)[key].as_f64().unwrap();
    // backprop is the discrete derivative itself; afge and checkpoint equal it to rounding;
    // the adjoint is not exact for the discrete model.
    assert_eq!(f("backprop", "err_vs_discrete"), 0.0);
    assert!(f("checkpoint", "err_vs_discrete") < 1e-13);
    assert!(f("afge", "err_vs_discrete") < 1e-12);
    assert!(f("adjoint", "err_vs_discrete") > 1e-12);
    assert!(f("backprop", "err_vs_continuous") < 1e-6);
    assert!(f("reversible-rk4", "err_vs_discrete") < 1e-12);
    assert!(get("adjoint")["reconstruction_error"].as_f64().unwrap() < 1e-6);
    assert!(f("backprop", "nfe_backward") > 0.0);
    assert_eq!(f("afge", "nfe_backward"), 0.0);
}

#[test]
fn grad_table_and_method_selection() {
    let out = nodelab(&[
        "grad",
        "presets/grad-batch.toml",
        "--methods",
        "backprop,adjoint,reversible-heun",
        "--repeats",
        "1",
        "--threads",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("err_cont") && text.contains("peak_heap"),
        "{text}"
    );
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with("backprop")
                || l.starts_with("adjoint")
                || l.starts_with("reversible-heun")
        })
        .collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert!(!text.lines().any(|l| l.starts_with("checkpoint")));
}

#[test]
fn grad_errors_are_one_line_with_exit_code_2() {
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "grad",
                "presets/grad-mlp-2-8-2.toml",
                "--methods",
                "backprop,nope",
            ],
            "unknown gradient method 'nope'",
        ),
        (
            &["grad", "presets/grad-mlp-2-8-2.toml", "--device", "tpu"],
            "unknown device 'tpu'",
        ),
        (&["grad", "presets/paper-lorenz.toml"], "neural problem"),
        (
            &["grad", "presets/grad-mlp-2-8-2.toml", "--lambda", "0"],
            "lambda",
        ),
    ];
    for (args, expected) in cases {
        let out = nodelab(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy("presets/grad-mlp-2-8-2.json", dir.path().join("m.json")).unwrap();
    let preset = dir.path().join("p.toml");
    std::fs::write(
        &preset,
        "[problem]\nkind = \"neural\"\nweights = \"m.json\"\ny0 = [1.0, 0.0]\n",
    )
    .unwrap();
    let out = nodelab(&["grad", preset.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing [loss]"), "{}", stderr(&out));
}

/// The bench's memory-scaling table, measured by the binary's counting allocator: backprop's
/// peak heap grows with the steps (≈10× per 10× steps), the adjoint's and the reversible
/// methods' peaks stay flat.
#[test]
fn bench_grad_reports_tables_and_measured_memory_scaling() {
    let out = nodelab(&[
        "bench",
        "grad",
        "--batch",
        "8",
        "--hidden",
        "6",
        "--repeats",
        "1",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["methods"].as_array().unwrap().len(), 10);
    let rows = v["memory_scaling"].as_array().unwrap();
    assert_eq!(rows.len(), 24);
    let peak = |m: &str, n: u64| {
        rows.iter()
            .find(|r| r["method"] == m && r["steps"] == n)
            .unwrap()["peak_heap_bytes"]
            .as_f64()
            .unwrap()
    };
    let ratio = peak("backprop", 1000) / peak("backprop", 100);
    assert!(ratio > 7.0 && ratio < 11.0, "backprop peak ratio {ratio}");
    for m in ["adjoint", "alf", "reversible-heun", "reversible-rk4"] {
        let r = peak(m, 1000) / peak(m, 10);
        assert!(r < 1.05, "{m}: peak grows {r}");
    }
}

#[test]
fn backward_and_afge_solvers_can_be_chosen() {
    let run = |extra: &[&str]| {
        let mut args = vec![
            "grad",
            "presets/grad-mlp-2-8-2.toml",
            "--json",
            "--repeats",
            "1",
            "--fd-check",
            "0",
            "--methods",
            "adjoint,afge",
        ];
        args.extend_from_slice(extra);
        let out = nodelab(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        json(&out)
    };
    let base = run(&[]);
    let chosen = run(&["--adjoint-method", "rk4", "--afge-method", "zc-rk4"]);
    let nfe = |v: &Value, i: usize, k: &str| v["methods"][i][k].as_u64().unwrap();
    // Fixed-step rk4 backwards: 1000 steps of 4 evaluations.
    assert_eq!(nfe(&chosen, 0, "nfe_backward"), 4000);
    assert!(nfe(&base, 0, "nfe_backward") < 1000);
    // afge with another solver stays exact for its own discrete map.
    assert!(chosen["methods"][1]["err_vs_discrete"].as_f64().unwrap() < 1e-12);
    let out = nodelab(&[
        "grad",
        "presets/grad-mlp-2-8-2.toml",
        "--adjoint-method",
        "rk5",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

/// A forward solve that blows up is a failed computation: exit 1 and the cause on stderr.
#[test]
fn a_failing_solve_exits_1_with_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    // f(y) = 3 y: exponential growth past any max_steps budget of 5 attempts.
    std::fs::write(
        dir.path().join("m.json"),
        r#"{"activation":"tanh","layers":[{"weight":[[3.0,0.0],[0.0,3.0]],"bias":[0.0,0.0]}]}"#,
    )
    .unwrap();
    let preset = dir.path().join("p.toml");
    std::fs::write(
        &preset,
        "[problem]\nkind = \"neural\"\nweights = \"m.json\"\ny0 = [1.0, 1.0]\nt_span = [0.0, 5.0]\n\
         [solver]\nmethod = \"dopri5\"\ntol = 1e-10\nmax_steps = 5\n[loss]\nkind = \"mse\"\n\
         target = [0.0, 0.0]\n",
    )
    .unwrap();
    let out = nodelab(&["grad", preset.to_str().unwrap(), "--methods", "backprop"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("max_steps"), "{}", stderr(&out));
}

/// `--precision f32`: every method but afge and fd runs in f32 (those two are left out of
/// `all` with a note); their gradients are the f64 discrete derivative to f32 rounding — not
/// exactly (that would be f64), but within 1e-4 relative — and unknown precisions or f64-only
/// methods are usage errors.
#[test]
fn grad_runs_in_f32_and_refuses_what_f32_does_not_run() {
    let run = |precision: &str| {
        let out = nodelab(&[
            "grad",
            "presets/grad-mlp-2-8-2.toml",
            "--json",
            "--repeats",
            "1",
            "--precision",
            precision,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        json(&out)
    };
    let v32 = run("f32");
    assert_eq!(v32["precision"], "f32");
    let methods = v32["methods"].as_array().unwrap();
    let names: Vec<&str> = methods
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "backprop",
            "checkpoint",
            "adjoint",
            "interp-adjoint",
            "alf",
            "reversible-heun",
            "reversible-rk4",
            "reversible-midpoint"
        ]
    );
    assert!(v32["notes"][0].as_str().unwrap().contains("afge"));
    let v64 = run("f64");
    for name in ["backprop", "checkpoint"] {
        let err = |v: &Value| {
            v["methods"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["method"] == name)
                .unwrap()["err_vs_discrete"]
                .as_f64()
                .unwrap()
        };
        let (e32, e64) = (err(&v32), err(&v64));
        assert!(e32 > 0.0 && e32 < 1e-4, "{name} f32: {e32}");
        assert!(e64 < e32, "{name}: f64 {e64} vs f32 {e32}");
    }
    let cases: [(&[&str], &str); 3] = [
        (
            &["grad", "presets/grad-mlp-2-8-2.toml", "--precision", "f16"],
            "unknown precision 'f16'",
        ),
        (
            &[
                "grad",
                "presets/grad-mlp-2-8-2.toml",
                "--precision",
                "f32",
                "--methods",
                "afge",
            ],
            "afge: f64 only",
        ),
        (
            &[
                "grad",
                "presets/grad-mlp-2-8-2.toml",
                "--precision",
                "f32",
                "--methods",
                "fd",
            ],
            "finite differences in f32",
        ),
    ];
    for (args, expected) in cases {
        let out = nodelab(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
}

/// `bench grad --precision both`: an f64 and an f32 row per method in the speed table and the
/// f32/f64 time ratio of each.
#[test]
fn bench_grad_measures_both_precisions() {
    let out = nodelab(&[
        "bench",
        "grad",
        "--batch",
        "8",
        "--hidden",
        "6",
        "--repeats",
        "1",
        "--no-scaling",
        "--methods",
        "backprop,adjoint",
        "--precision",
        "both",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    let speed = v["speed"].as_array().unwrap();
    for p in ["f64", "f32"] {
        for m in ["backprop", "adjoint"] {
            assert!(
                speed
                    .iter()
                    .any(|r| r["precision"] == p && r["method"] == m),
                "{p} {m}"
            );
        }
    }
    let ratios = v["f32_over_f64"].as_array().unwrap();
    assert_eq!(ratios.len(), 2);
    for r in ratios {
        assert!(r["ratio"].as_f64().unwrap() > 0.0);
    }
    let out = nodelab(&["bench", "grad", "--precision", "f16"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("f16"), "{}", stderr(&out));
}

/// Solves whose caller keeps nothing per step (the reference's forward sensitivities, the
/// adjoint) are not limited by the memory budget's count of step records: under a 16 KiB budget
/// the reference and adjoint still run, while backprop (whose tape grows with the steps) is
/// still bounded by it. Before, the reference stopped after 4 steps here.
#[test]
fn solves_that_keep_nothing_per_step_ignore_the_record_budget() {
    let out = common::nodelab_env(
        &[
            "grad",
            "presets/grad-batch.toml",
            "--methods",
            "adjoint",
            "--json",
            "--repeats",
            "1",
        ],
        &[("NODELAB_MEMORY_BUDGET", "16K")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    let adjoint = &v["methods"][0];
    assert_eq!(adjoint["method"], "adjoint");
    assert!(adjoint["err_vs_continuous"].as_f64().unwrap() < 1e-4);
    // A budget below one step record still stops a solve that keeps its steps, with the
    // budget named.
    let out = common::nodelab_env(
        &[
            "grad",
            "presets/grad-batch.toml",
            "--methods",
            "checkpoint",
            "--repeats",
            "1",
        ],
        &[("NODELAB_MEMORY_BUDGET", "1K")],
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("memory budget"), "{}", stderr(&out));
}
