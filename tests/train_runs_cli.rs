//! `nodelab train` as researchers use it: runs kept in a directory and resumed, a clean stop on
//! SIGINT / SIGTERM, outputs checked before the first iteration, and the findings of issue 24
//! (labels, warnings, models that carry their start, bounded counts).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{command, json, nodelab, stderr, stdout};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Leftover temporary files (`.NAME.partial-PID`) in `dir`.
fn partial_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.contains(".partial-"))
                .collect()
        })
        .unwrap_or_default()
}

/// A long run kept in `dir`, started in the background.
fn long_run(dir: &Path, csv: &Path, extra: &[&str]) -> Child {
    let mut args = vec![
        "train",
        "moons",
        "--iters",
        "1000000",
        "--eval-every",
        "5",
        "--run-dir",
        s(dir),
        "--csv",
        s(csv),
        "--json",
    ];
    args.extend_from_slice(extra);
    command(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts")
}

/// Waits until the run has saved itself once (its run.json exists).
fn wait_for_run_json(dir: &Path, child: &mut Child) {
    let start = Instant::now();
    while !dir.join("run.json").exists() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no run.json after 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kill(child: &Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Waits for the end, at most `limit` (then kills it and fails).
fn wait_within(child: Child, limit: Duration) -> std::process::Output {
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &id.to_string()])
                .status();
            panic!("the run did not exit within {limit:?} of the signal");
        }
    }
}

#[test]
fn sigint_finishes_the_iteration_writes_everything_marked_stopped_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, csv) = (tmp.path().join("run"), tmp.path().join("curve.csv"));
    let model = tmp.path().join("m.safetensors");
    let mut child = long_run(&dir, &csv, &["--hidden", "8", "--save-model", s(&model)]);
    wait_for_run_json(&dir, &mut child);
    kill(&child, "-INT");
    let out = wait_within(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["stopped_by"], "SIGINT");
    let done = report["iters_done"].as_u64().unwrap();
    assert!(done > 0 && done < 1_000_000);
    for m in report["methods"].as_array().unwrap() {
        assert_eq!(m["status"], "stopped", "{m}");
    }
    // The run directory says where it stopped; the CSV and the models are complete.
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["run"]["state"], "stopped");
    assert_eq!(run["run"]["iter"].as_u64(), Some(done));
    let rows = std::fs::read_to_string(&csv).unwrap().lines().count() as u64;
    assert_eq!(
        rows,
        1 + 2 * done,
        "a header and a row per method and iteration"
    );
    for m in ["backprop", "adjoint"] {
        let p = tmp.path().join(format!("m-{m}.safetensors"));
        let bytes = std::fs::read(&p).unwrap();
        let loaded = nodelab::nn::model_file::from_safetensors(&bytes).unwrap();
        assert_eq!(loaded.metadata["status"], "stopped");
    }
    assert!(
        partial_files(tmp.path()).is_empty(),
        "{:?}",
        partial_files(tmp.path())
    );
    assert!(partial_files(&dir).is_empty(), "{:?}", partial_files(&dir));
    assert!(stderr(&out).contains("run directory →"), "{}", stderr(&out));

    // It continues from there: 3 more iterations.
    let out = nodelab(&["train", "--resume", s(&dir), "--iters", "3", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["iters_done"].as_u64(), Some(done + 3));
    let curve = std::fs::read_to_string(dir.join("curve.csv")).unwrap();
    assert_eq!(curve.lines().count() as u64, 1 + 2 * (done + 3));
    // Settings cannot change on resume.
    let out = nodelab(&["train", "--resume", s(&dir), "--lr", "0.1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--lr"), "{}", stderr(&out));
}

#[test]
fn sigterm_stops_with_143_and_a_second_signal_leaves_no_partial_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, csv) = (tmp.path().join("run"), tmp.path().join("c.csv"));
    let mut child = long_run(&dir, &csv, &["--hidden", "8"]);
    wait_for_run_json(&dir, &mut child);
    kill(&child, "-TERM");
    let out = wait_within(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    assert_eq!(json(&out)["stopped_by"], "SIGTERM");

    // Two signals at once: the process ends at once, by the signal or with its code, and no
    // temporary or half-written file is left.
    let (dir2, csv2) = (tmp.path().join("run2"), tmp.path().join("c2.csv"));
    let mut child = long_run(&dir2, &csv2, &["--hidden", "64,64", "--batch", "250"]);
    wait_for_run_json(&dir2, &mut child);
    kill(&child, "-INT");
    kill(&child, "-INT");
    let out = wait_within(child, Duration::from_secs(20));
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert!(
            out.status.signal() == Some(2) || out.status.code() == Some(130),
            "{:?}",
            out.status
        );
    }
    assert!(
        partial_files(tmp.path()).is_empty(),
        "{:?}",
        partial_files(tmp.path())
    );
    assert!(
        partial_files(&dir2).is_empty(),
        "{:?}",
        partial_files(&dir2)
    );
    // What is there is whole: run.json parses.
    let text = std::fs::read_to_string(dir2.join("run.json")).unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok());
}

#[test]
fn outputs_are_checked_before_the_first_iteration() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-folder").join("x.csv");
    let m = tmp.path().join("m.json");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--csv".into(), s(&missing).into()], "does not exist"),
        (
            vec!["--save-model".into(), s(tmp.path()).into()],
            "must end in .json or .safetensors",
        ),
        (
            vec![
                "--save-model".into(),
                s(&tmp.path().join("model.pt")).into(),
            ],
            "must end in .json or .safetensors",
        ),
        (
            vec![
                "--save-model".into(),
                s(&tmp.path().join("out.json")).into(),
                "--csv".into(),
                s(&tmp.path().join("out-adjoint.json")).into(),
            ],
            "both write",
        ),
        (
            vec![
                "--methods".into(),
                "adjoint".into(),
                "--save-model".into(),
                s(&m).into(),
                "--csv".into(),
                s(&m).into(),
            ],
            "both write",
        ),
        (
            vec!["--csv".into(), "-".into(), "--json".into()],
            "standard output",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["train", "circles", "--iters", "1000000"];
        args.extend(extra.iter().map(String::as_str));
        // A million iterations would take hours: a check after training would hang here.
        let out = common::output_within(command(&args), Duration::from_secs(60))
            .expect("refused before training");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn a_diverged_run_never_replaces_a_model_and_statuses_are_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("good.safetensors");
    std::fs::write(&model, b"the good model").unwrap();
    let out = nodelab(&[
        "train",
        "gaussians",
        "--iters",
        "30",
        "--optimizer",
        "sgd",
        "--lr",
        "1e12",
        "--methods",
        "backprop",
        "--save-model",
        s(&model),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(std::fs::read(&model).unwrap(), b"the good model");
    let partial = tmp.path().join("good.partial.safetensors");
    let bytes = std::fs::read(&partial).expect("the diverged model beside it");
    let loaded = nodelab::nn::model_file::from_safetensors(&bytes).unwrap();
    assert_eq!(loaded.metadata["status"], "diverged");
    assert!(
        stderr(&out).contains("good.partial.safetensors"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_table_labels_final_and_best_and_warnings_go_to_stderr() {
    let out = nodelab(&[
        "train",
        "circles",
        "--iters",
        "4",
        "--eval-every",
        "2",
        "--test-fraction",
        "0",
        "--batch",
        "100000",
        "--methods",
        "backprop",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(
        table.contains("final acc") && table.contains("best acc"),
        "{table}"
    );
    assert!(!table.contains("warning"), "{table}");
    let err = stderr(&out);
    assert!(err.contains("test_fraction = 0"), "{err}");
    assert!(
        err.contains("batch = 100000 is more than the 500 training items"),
        "{err}"
    );
    assert!(err.contains("nodelab train: table → stdout"), "{err}");
    // The JSON has the batch used, the rate and the network's sizes.
    let out = nodelab(&[
        "train", "circles", "--iters", "2", "--batch", "100000", "--json",
    ]);
    let v = json(&out);
    assert_eq!(v["batch"], 250);
    assert_eq!(v["lr"], 0.02);
    assert_eq!(v["sizes"], serde_json::json!([3, 16, 16, 3]));
    assert!(v["methods"][0]["final_eval"]["accuracy"].is_number());
    assert!(v["methods"][0]["best_eval"]["accuracy"].is_number());
    let best = v["methods"][0]["best_accuracy"]["accuracy"]
        .as_f64()
        .unwrap();
    for e in v["methods"][0]["eval"].as_array().unwrap() {
        assert!(
            e["accuracy"].as_f64().unwrap() <= best,
            "best_accuracy is the highest"
        );
    }
    // --threads that cannot split the batch says so (as `nodelab grad` does).
    let out = nodelab(&["train", "spiral-fit", "--iters", "1", "--threads", "4"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--threads 4 has no effect here"),
        "{}",
        stderr(&out)
    );
    // Settings a trajectory task ignores are named.
    let out = nodelab(&[
        "train",
        "spiral-fit",
        "--iters",
        "1",
        "--noise",
        "0.2",
        "--augment",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("noise = 0.2: spiral-fit is a trajectory task"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("augment = 2"), "{}", stderr(&out));
}

#[test]
fn json_models_carry_the_readout_and_the_start_and_solve_says_what_it_used() {
    let tmp = tempfile::tempdir().unwrap();
    let spiral = tmp.path().join("spiral.json");
    let out = nodelab(&[
        "train",
        "spiral-fit",
        "--iters",
        "2",
        "--methods",
        "backprop",
        "--save-model",
        s(&spiral),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s_out = nodelab(&["solve", s(&spiral), "--method", "dopri5", "--json"]);
    assert_eq!(s_out.status.code(), Some(0), "{}", stderr(&s_out));
    assert_eq!(
        json(&s_out)["t_final"],
        25.0,
        "the trajectory task's span from a JSON model"
    );
    assert!(
        stderr(&s_out).contains("t_span = [0.0, 25.0]"),
        "{}",
        stderr(&s_out)
    );
    let circles = tmp.path().join("c.json");
    let out = nodelab(&[
        "train",
        "circles",
        "--iters",
        "2",
        "--methods",
        "backprop",
        "--save-model",
        s(&circles),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&circles).unwrap()).unwrap();
    assert_eq!(v["readout"]["bias"].as_array().unwrap().len(), 2);
    assert_eq!(v["metadata"]["task"], "circles");
    // --init starts from it (the read-out included): the first loss is that of the saved model.
    let out = nodelab(&[
        "train",
        "circles",
        "--iters",
        "1",
        "--methods",
        "backprop",
        "--init",
        s(&circles),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let fresh = nodelab(&[
        "train",
        "circles",
        "--iters",
        "1",
        "--methods",
        "backprop",
        "--json",
    ]);
    assert_ne!(
        json(&out)["methods"][0]["final_loss"],
        json(&fresh)["methods"][0]["final_loss"]
    );
    // A model whose metadata holds a NaN span is refused, not solved on defaults.
    let mut bad = v.clone();
    bad["metadata"]["t_span"] = serde_json::Value::String("[0, NaN]".into());
    bad["metadata"]["y0"] = serde_json::Value::String("[1, 2, 3]".into());
    let bad_path = tmp.path().join("bad.json");
    std::fs::write(&bad_path, bad.to_string()).unwrap();
    let out = nodelab(&["solve", s(&bad_path)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("t_span"), "{}", stderr(&out));
}

#[test]
fn messages_and_bounds() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["train", "circles", "--methods", "all,backprop"],
            "'all' stands alone",
        ),
        (
            &["train", "circles", "--reversible-steps", "4000000000"],
            "reversible-steps",
        ),
        (&["train", "presets/paper-lorenz.toml"], "nodelab solve"),
    ];
    for (args, needle) in cases {
        let out = common::output_within(command(args), Duration::from_secs(60)).expect("no hang");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
    let dup = tmp.path().join("dup.toml");
    std::fs::write(
        &dup,
        "[train]\ntask = \"xor\"\nmethods = [\n \"adjoint\",\n \"adjoint\",\n]\n",
    )
    .unwrap();
    let out = nodelab(&["train", s(&dup)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(":5:"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("'adjoint' is listed twice"),
        "{}",
        stderr(&out)
    );
    // --csv - writes the rows on standard output.
    let out = nodelab(&[
        "train",
        "xor",
        "--iters",
        "2",
        "--methods",
        "backprop",
        "--csv",
        "-",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("method,iter,loss"),
        "{}",
        stdout(&out)
    );
    // The options only TOML had.
    let out = nodelab(&[
        "train",
        "xor",
        "--iters",
        "1",
        "--weight-decay",
        "0.01",
        "--activation",
        "relu",
        "--init-std",
        "0.2",
        "--points",
        "40",
        "--input-map",
        "cube",
        "--time-input",
        "true",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["sizes"][0], 3, "2-D points + t");
}

#[test]
fn model_errors_name_the_file_and_bench_train_checks_before_measuring() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("broken.json");
    std::fs::write(&bad, "{\"activation\": \"tanh\"").unwrap();
    let out = nodelab(&["solve", s(&bad)]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("broken.json"), "{err}");
    assert!(
        !err.contains("broken.json:3:1"),
        "a made-up preset location: {err}"
    );
    // --init with a network of another shape is refused before training.
    let out = nodelab(&[
        "train",
        "circles",
        "--hidden",
        "4",
        "--init",
        "presets/grad-mlp-2-8-2.json",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("does not fit"), "{}", stderr(&out));
    // A batch list that cannot run is refused before the spiral rows are measured.
    let out = common::output_within(
        command(&["bench", "train", "--batches", "100000000", "--json"]),
        Duration::from_secs(60),
    )
    .expect("refused at once");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    // In f32 the default methods leave out the f64-only ones, saying so.
    let out = nodelab(&[
        "bench",
        "train",
        "--precision",
        "f32",
        "--iters",
        "1",
        "--spiral-only",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("leaves out afge"), "{}", stderr(&out));
    assert!(
        json(&out)
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["method"] != "afge")
    );
}
