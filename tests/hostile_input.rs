//! Bad input and big work through the real binary: a corpus of malformed presets, formulas and
//! weights (tests/corpus/), each refused with exit code 2 and one located line; runs whose
//! memory is bounded; outputs that never overwrite an input; consistent exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{nodelab, nodelab_env, stderr, stdout};

fn corpus() -> PathBuf {
    common::root().join("tests/corpus")
}

/// Asserts exit code 2, one line on stderr starting `error: SOURCE:LINE:COL: ` (LINE as
/// expected when given) and containing `word`, no panic, nothing on stdout.
fn assert_located(out: &std::process::Output, what: &str, line: Option<usize>, word: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{what}: {err}{}", stdout(out));
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{what}: not one line: {err}"
    );
    let rest = err
        .strip_prefix("error: ")
        .unwrap_or_else(|| panic!("{what}: {err}"));
    // SOURCE:LINE:COL: message (the source may itself contain ':' only before the .toml).
    let after = rest
        .split_once(".toml:")
        .unwrap_or_else(|| panic!("{what}: no file location in {err}"))
        .1;
    let mut parts = after.splitn(3, ':');
    let l: usize = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{what}: no line in {err}"));
    let c: usize = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{what}: no column in {err}"));
    assert!(c >= 1, "{what}: {err}");
    if let Some(line) = line {
        assert_eq!(l, line, "{what}: wrong line in {err}");
    }
    assert!(err.contains(word), "{what}: '{word}' not in {err}");
    // Never the whole of a long input, never serde's internals.
    assert!(err.len() < 600, "{what}: {} bytes: {err}", err.len());
    assert!(!err.contains("untagged"), "{what}: {err}");
    assert!(!err.contains("we have"), "{what}: {err}");
}

/// `# expect: LINE WORD…` on the first line of a corpus preset.
fn expectation(text: &str) -> (usize, String) {
    let first = text.lines().next().unwrap();
    let rest = first.strip_prefix("# expect: ").expect("an expect line");
    let (line, word) = rest.split_once(' ').unwrap_or((rest, ""));
    (line.parse().unwrap(), word.to_string())
}

#[test]
fn every_malformed_preset_in_the_corpus_is_refused_with_its_location() {
    let dir = corpus().join("presets");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 40, "{} corpus presets", files.len());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let (line, word) = expectation(&text);
        let path = file.to_str().unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let out = if name.starts_with("grad-") {
            nodelab(&["grad", path, "--methods", "backprop", "--repeats", "1"])
        } else {
            nodelab(&["solve", path])
        };
        assert_located(&out, &name, Some(line), &word);
    }
}

/// The custom preset the formula corpus is tried in: equations[1] is on line 4.
fn custom_preset(equation: &str) -> String {
    format!(
        "[problem]\nkind = \"custom\"\nvariables = [\"x\", \"v\"]\nequations = [\"v\", {}]\n\
         params = {{ k = 2.0 }}\ny0 = [1.0, 0.0]\nt_span = [0.0, 1.0]\n",
        toml_string(equation)
    )
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[test]
fn every_malformed_formula_in_the_corpus_is_refused_at_its_column() {
    let text = std::fs::read_to_string(corpus().join("formulas.txt")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (formula, word) = line.split_once('\t').expect("FORMULA<TAB>WORD");
        let path = dir.path().join("f.toml");
        std::fs::write(&path, custom_preset(formula)).unwrap();
        let out = nodelab(&["solve", path.to_str().unwrap()]);
        assert_located(&out, formula, Some(4), word);
        n += 1;
    }
    assert!(n >= 20, "{n} formulas");
}

#[test]
fn every_malformed_weights_file_in_the_corpus_is_refused_at_the_weights_key() {
    let dir = corpus().join("weights");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let file = entry.unwrap().path();
        let tmp = tempfile::tempdir().unwrap();
        let preset = tmp.path().join("w.toml");
        std::fs::write(
            &preset,
            format!(
                "[problem]\nkind = \"neural\"\nweights = {}\nt_span = [0.0, 1.0]\n",
                toml_string(file.to_str().unwrap())
            ),
        )
        .unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let out = nodelab(&["solve", preset.to_str().unwrap()]);
        assert_located(&out, &name, Some(3), "");
        n += 1;
    }
    assert!(n >= 10, "{n} weights files");
}

/// Item 8: a formula far beyond any hand-typed one is refused at once (it took 25 s to parse).
#[test]
fn a_huge_formula_is_refused_quickly_with_its_length() {
    let formula = vec!["x"; 200_000].join(" + ");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.toml");
    std::fs::write(&path, custom_preset(&formula)).unwrap();
    let start = Instant::now();
    let out = nodelab(&["solve", path.to_str().unwrap()]);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_located(&out, "200 000 terms", Some(4), "characters long");
    assert!(stderr(&out).contains("limit is 10000"), "{}", stderr(&out));
}

/// Item 2: inputs that used to give an answer (or nothing) with exit 0.
#[test]
fn silently_wrong_inputs_are_refused() {
    let cases: [&[&str]; 7] = [
        &["bench", "solvers", "--problems", ""],
        &["bench", "solvers", "--problems", " , "],
        &["grad", "presets/grad-mlp-2-8-2.toml", "--repeats", "0"],
        &[
            "grad",
            "presets/grad-mlp-2-8-2.toml",
            "--reversible-steps",
            "0",
        ],
        &["solve", "van-der-pol", "--param", "mu=nan"],
        &["solve", "van-der-pol", "--t-end", "inf"],
        &["solve", "van-der-pol", "--tol", "nan"],
    ];
    for args in cases {
        let out = nodelab(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(stdout(&out).is_empty(), "{args:?}");
    }
    // An option's error names the option.
    let out = nodelab(&["solve", "van-der-pol", "--tol=-1"]);
    assert!(stderr(&out).contains("--tol"), "{}", stderr(&out));
    // A built-in named on the command line has no file position to point at.
    let out = nodelab(&["solve", "van-der-pool"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("unknown problem 'van-der-pool'"), "{err}");
    assert!(!err.contains(":2:1"), "{err}");
}

/// Item 3: an output never replaces an input of the same run, under any spelling of its path.
#[test]
fn an_output_never_overwrites_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let preset = dir.path().join("mine.toml");
    let text = "[problem]\nname = \"van-der-pol\"\nt_span = [0.0, 1.0]\n";
    std::fs::write(&preset, text).unwrap();
    let same = dir.path().join(".").join("mine.toml");
    for out_path in [&preset, &same] {
        let out = nodelab(&[
            "solve",
            preset.to_str().unwrap(),
            "--steps-csv",
            out_path.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("is an input"), "{}", stderr(&out));
        assert_eq!(std::fs::read_to_string(&preset).unwrap(), text);
    }
    // The weights file of a neural preset is an input too.
    let weights = common::root().join("presets/grad-mlp-2-8-2.json");
    let copy = dir.path().join("w.json");
    std::fs::copy(&weights, &copy).unwrap();
    let before = std::fs::read(&copy).unwrap();
    let neural = dir.path().join("n.toml");
    std::fs::write(
        &neural,
        "[problem]\nkind = \"neural\"\nweights = \"w.json\"\ny0 = [1.0, 0.0]\n",
    )
    .unwrap();
    let out = nodelab(&[
        "solve",
        neural.to_str().unwrap(),
        "--steps-csv",
        copy.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(std::fs::read(&copy).unwrap(), before);
    // A real output is written whole, and no temporary file is left behind.
    let csv = dir.path().join("steps.csv");
    let out = nodelab(&[
        "solve",
        preset.to_str().unwrap(),
        "--steps-csv",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(std::fs::read_to_string(&csv).unwrap().starts_with("t,h,"));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Item 3: a run that cannot write its output leaves the old file as it was.
#[cfg(unix)]
#[test]
fn a_failed_write_leaves_the_old_output_untouched() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("steps.csv");
    std::fs::write(&csv, "old contents\n").unwrap();
    // A folder we cannot create files in: the temporary file fails, the rename never happens.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o500)).unwrap();
    let out = nodelab(&["solve", "van-der-pol", "--steps-csv", csv.to_str().unwrap()]);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    if out.status.code() == Some(0) {
        // Running as root: permissions do not stop us, so there is nothing to check here.
        return;
    }
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot write"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), "old contents\n");
}

/// Item 1: a fixed-step run whose length is known to be absurd is refused up front with the
/// estimate, and an adaptive run that reaches the memory budget stops there with the steps
/// taken so far (exit 1, its report printed). Neither may grow without bound: the test kills
/// the binary after 60 s.
#[test]
fn a_run_with_an_absurd_step_budget_stops_at_its_memory_cap() {
    let dir = tempfile::tempdir().unwrap();
    let preset = dir.path().join("absurd.toml");
    std::fs::write(
        &preset,
        "[problem]\nname = \"van-der-pol\"\n[solver]\nmethod = \"rk4\"\nh0 = 1e-9\n\
         max_steps = 9223372036854775807\n",
    )
    .unwrap();
    let cmd = common::command(&["solve", preset.to_str().unwrap()]);
    let out = common::output_within(cmd, Duration::from_secs(60))
        .expect("the absurd run was not refused (killed after 60 s)");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("memory budget"), "{err}");
    assert!(err.contains("steps") && err.contains("TiB"), "{err}");

    // Adaptive: nothing is known up front; a 16 MiB budget stops it.
    std::fs::write(
        &preset,
        "[problem]\nname = \"van-der-pol\"\nt_span = [0.0, 1e7]\n[solver]\nmethod = \"dopri5\"\n\
         tol = 1e-12\nmax_steps = 9223372036854775807\n",
    )
    .unwrap();
    let mut cmd = common::command(&["solve", preset.to_str().unwrap(), "--json"]);
    cmd.env("NODELAB_MEMORY_BUDGET", "16M");
    let out = common::output_within(cmd, Duration::from_secs(60))
        .expect("the run did not stop at its memory budget (killed after 60 s)");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v = common::json(&out);
    let error = v["error"].as_str().unwrap();
    assert!(error.contains("memory budget reached"), "{error}");
    let steps = v["accepted"].as_u64().unwrap() + v["rejected"].as_u64().unwrap();
    let record = nodelab::solver::record_bytes(nodelab::solver::Method::Dopri5, 2) as u64;
    // It stopped at the budget: not before, not after.
    assert_eq!(steps, (16 << 20) / record, "{error}");
    assert!(
        error.contains(&format!("after {steps} attempted steps")),
        "{error}"
    );

    // A budget that is not a size is refused, not ignored.
    let out = nodelab_env(
        &["solve", "van-der-pol"],
        &[("NODELAB_MEMORY_BUDGET", "lots")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("NODELAB_MEMORY_BUDGET"),
        "{}",
        stderr(&out)
    );
}

/// Item 1: a Chebyshev grid that cannot fit is refused before any work, with its size.
#[test]
fn an_absurd_chebyshev_grid_is_refused_with_its_size() {
    let out = nodelab(&[
        "grad",
        "presets/grad-mlp-2-8-2.toml",
        "--methods",
        "interp-adjoint",
        "--cheb-nodes",
        "100000000",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cheb-nodes 100000000") && err.contains("GiB"),
        "{err}"
    );
}

/// Item 6: a span so long that the smallest allowed first step overflows the state is not
/// reported as a blow-up of the solution.
#[test]
fn an_overflowing_first_step_is_not_called_a_blow_up() {
    let out = nodelab(&["solve", "van-der-pol", "--t-end", "1e300", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v = common::json(&out);
    let error = v["error"].as_str().unwrap();
    assert!(!error.contains("blew up"), "{error}");
    assert!(
        error.contains("first step") && error.contains("h_min"),
        "{error}"
    );
}

/// Item 6: the paper estimator's zero from rounding (tol far below f64 precision) is not
/// blamed on f being independent of y.
#[test]
fn a_rounding_zero_estimate_is_not_blamed_on_f() {
    let out = nodelab(&[
        "solve",
        "van-der-pol",
        "--method",
        "zc-rk4-paper",
        "--tol",
        "1e-300",
        "--t-end",
        "0.001",
        "--json",
    ]);
    let v = common::json(&out);
    let warnings: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings.iter().all(|w| !w.contains("does not depend on y")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("rounding")),
        "{warnings:?} / {}",
        stderr(&out)
    );
}

/// Item 7: a model that blows up is a failed computation (exit 1) on every device; a device
/// that does not exist is bad usage (exit 2), never a silent run somewhere else.
#[test]
fn outcomes_have_one_exit_code_whatever_the_device() {
    let dir = tempfile::tempdir().unwrap();
    let mlp =
        nodelab::nn::Mlp::random(&[2, 8, 2], nodelab::nn::Activation::Identity, false, 4.0, 7);
    std::fs::write(
        dir.path().join("w.json"),
        serde_json::to_string(&mlp.to_file()).unwrap(),
    )
    .unwrap();
    let preset = dir.path().join("p.toml");
    std::fs::write(
        &preset,
        "[problem]\nkind = \"neural\"\nweights = \"w.json\"\ny0 = [1.0, -0.5]\n\
         t_span = [0.0, 400.0]\n[solver]\nmethod = \"rk4\"\nh0 = 0.05\n\
         [loss]\nkind = \"half-sse\"\ntarget = [0.3, 0.7]\n",
    )
    .unwrap();
    let p = preset.to_str().unwrap();
    let cpu = nodelab(&["grad", p, "--methods", "backprop", "--repeats", "1"]);
    assert_eq!(cpu.status.code(), Some(1), "{}", stderr(&cpu));
    assert!(stderr(&cpu).contains("error: "), "{}", stderr(&cpu));
    if common::has_adapter() {
        let gpu = nodelab(&["grad", p, "--methods", "backprop", "--device", "gpu"]);
        assert_eq!(gpu.status.code(), Some(1), "{}", stderr(&gpu));
    }
    let out = nodelab(&[
        "bench", "grad", "--device", "gpu", "--batch", "1", "--hidden", "2",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // The app refuses a frame count it cannot read instead of never closing.
    let cmd = {
        let mut c = common::command(&[]);
        c.env("NODELAB_EXIT_AFTER_FRAMES", "abc");
        c
    };
    let out = common::output_within(cmd, Duration::from_secs(30)).expect("the app did not exit");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("NODELAB_EXIT_AFTER_FRAMES"),
        "{}",
        stderr(&out)
    );
}

/// Item 5: a long formula's error shows the place, not the whole formula.
#[test]
fn a_formula_error_shows_an_excerpt_not_the_whole_formula() {
    let long = format!("{} + q", vec!["x"; 2000].join(" + "));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.toml");
    std::fs::write(&path, custom_preset(&long)).unwrap();
    let out = nodelab(&["solve", path.to_str().unwrap()]);
    assert_located(&out, "long formula", Some(4), "unknown name 'q'");
    assert!(stderr(&out).contains('…'), "{}", stderr(&out));
}

/// Writes a neural preset for an MLP of `dims` (tanh) into `dir`.
fn neural_preset(dir: &std::path::Path, dims: &[usize], solver: &str) -> PathBuf {
    let mlp = nodelab::nn::Mlp::random(dims, nodelab::nn::Activation::Tanh, false, 1.0, 11);
    std::fs::write(
        dir.join("w.json"),
        serde_json::to_string(&mlp.to_file()).unwrap(),
    )
    .unwrap();
    let preset = dir.join("p.toml");
    std::fs::write(
        &preset,
        format!(
            "[problem]\nkind = \"neural\"\nweights = \"w.json\"\ny0 = [1.0, -0.5]\n\
             t_span = [0.0, 0.3]\n[solver]\n{solver}\n[loss]\nkind = \"half-sse\"\n\
             target = [0.3, 0.7]\n"
        ),
    )
    .unwrap();
    preset
}

/// Item 4: long work says what it will cost and shows signs of life on stderr (plain lines
/// when stderr is not a terminal), and stays quiet under --json.
#[test]
fn long_gradient_work_estimates_its_cost_and_shows_progress() {
    let dir = tempfile::tempdir().unwrap();
    // 2-80-80-2: 6882 parameters, so fd's 13 765 forward solves take several seconds even on
    // an idle machine (the first progress line comes after one second).
    let preset = neural_preset(dir.path(), &[2, 80, 80, 2], "method = \"rk4\"\nh0 = 0.01");
    let p = preset.to_str().unwrap();
    let out = nodelab(&[
        "grad",
        p,
        "--methods",
        "fd",
        "--repeats",
        "1",
        "--fd-check",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("estimate: fd needs 13765 forward solves"),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.starts_with("… fd ") && l.contains("/6882")),
        "{err}"
    );
    let out = nodelab(&[
        "grad",
        p,
        "--methods",
        "fd",
        "--repeats",
        "1",
        "--fd-check",
        "2",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

/// Item 4: above 10 000 parameters `all` leaves fd out and says so; the reference's tolerance
/// is an option, and the report names the one used.
#[test]
fn fd_is_left_out_of_all_on_a_large_model() {
    let dir = tempfile::tempdir().unwrap();
    // 2-100-100-2: 10 602 parameters.
    let preset = neural_preset(dir.path(), &[2, 100, 100, 2], "method = \"rk4\"\nh0 = 0.1");
    let out = nodelab(&[
        "grad",
        preset.to_str().unwrap(),
        "--repeats",
        "1",
        "--fd-check",
        "1",
        "--reference-tol",
        "1e-6",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = common::json(&out);
    let names: Vec<&str> = v["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"fd"), "{names:?}");
    assert!(names.contains(&"backprop") && names.len() == 9, "{names:?}");
    let notes = v["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().contains("fd left out")),
        "{notes:?}"
    );
    assert!(
        v["reference"]["method"].as_str().unwrap().contains("1e-6"),
        "{}",
        v["reference"]
    );
}

/// Item 9: without XDG_RUNTIME_DIR the binary gives itself a private one, so GPU commands do
/// not print the Vulkan loader's and winit's warnings about it.
#[test]
fn gpu_commands_print_no_runtime_dir_warnings() {
    let mut cmd = common::command(&[
        "grad",
        "presets/grad-mlp-2-8-2.toml",
        "--device",
        "gpu",
        "--methods",
        "backprop",
        "--repeats",
        "1",
    ]);
    cmd.env_remove("XDG_RUNTIME_DIR");
    let out = cmd.output().unwrap();
    let err = stderr(&out);
    assert!(!err.contains("XDG_RUNTIME_DIR"), "{err}");
    // With an adapter it runs; without one it says so in one line (exit 2).
    match out.status.code() {
        Some(0) => assert!(stdout(&out).contains("backprop")),
        Some(2) => assert_eq!(err.trim_end().lines().count(), 1, "{err}"),
        other => panic!("exit {other:?}: {err}"),
    }
}
