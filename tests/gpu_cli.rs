//! The GPU command lines: `nodelab grad --device gpu`, `nodelab bench gpu`, and the clear
//! message (never a panic) when no adapter exists.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Output;

use nodelab::gpu::GpuGradMethod;
use nodelab::grad::{self, GradMethod, GradOptions};
use nodelab::solver::{Method, SolverConfig};

fn nodelab(args: &[&str], env: &[(&str, &str)]) -> Output {
    common::nodelab_env(args, env)
}

/// The CPU f64 gradient of `method` on `preset`, computed here rather than read from the
/// binary: fixed-step RK4 with the GPU's step `h`, except `afge` on a per-sample zc-rk4
/// preset, which the GPU runs on its adaptive kernel with the preset's own settings.
fn cpu_gradient(preset: &std::path::Path, method: &str, h: f64) -> Vec<f64> {
    let loaded = nodelab::preset::Preset::load(preset).unwrap();
    let mut p = loaded.build_grad_problem().unwrap();
    let adaptive_afge = method == "afge"
        && p.solver.method == Method::ZcRk4
        && p.batch_steps == grad::BatchSteps::PerSample;
    if !adaptive_afge {
        p.solver = SolverConfig {
            method: Method::Rk4,
            h0: Some(h),
            ..SolverConfig::default()
        };
    }
    let m = GradMethod::parse(method).unwrap();
    grad::compute(&p, m, &GradOptions::default()).unwrap().grad
}

#[test]
fn grad_device_gpu_reports_every_gpu_method_against_the_cpu() {
    if common::gpu_context().is_none() {
        return;
    }
    let out = nodelab(
        &[
            "grad",
            "presets/grad-batch.toml",
            "--device",
            "gpu",
            "--json",
        ],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!v["adapter"]["name"].as_str().unwrap().is_empty());
    let methods = v["methods"].as_array().unwrap();
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
            "afge",
            "alf",
            "reversible-heun",
            "reversible-rk4",
            "reversible-midpoint"
        ]
    );
    let preset = common::root().join("presets/grad-batch.toml");
    let h = v["step"].as_f64().unwrap();
    for m in methods {
        let name = m["method"].as_str().unwrap();
        let gpu = common::numbers(&m["grad"]);
        let cpu = cpu_gradient(&preset, name, h);
        // f32 against f64 on the same steps.
        let e = common::rel_l2(&gpu, &cpu);
        assert!(e <= 1e-4, "{name}: {e:e} vs the CPU");
        // The binary's own figure agrees with the test's.
        let reported = m["err_vs_cpu"].as_f64().unwrap();
        assert!(
            (reported - e).abs() <= 1e-6 + 0.01 * e,
            "{name}: {reported:e} vs {e:e}"
        );
        assert!(m["gpu_bytes"].as_u64().unwrap() > 0);
    }
}

#[test]
fn bench_gpu_prints_every_row_with_positive_throughput() {
    if common::gpu_context().is_none() {
        return;
    }
    let out = nodelab(
        &[
            "bench",
            "gpu",
            "--batch",
            "3,65",
            "--steps",
            "4",
            "--width",
            "4",
            "--repeats",
            "1",
            "--json",
        ],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 20);
    for r in rows {
        for key in ["gpu_samples_per_s", "cpu_samples_per_s", "gpu_over_cpu"] {
            let x = r[key].as_f64().unwrap();
            assert!(x > 0.0 && x.is_finite(), "{key}: {r}");
        }
    }
    let table = nodelab(
        &[
            "bench",
            "gpu",
            "--batch",
            "2",
            "--steps",
            "2",
            "--width",
            "2",
            "--repeats",
            "1",
        ],
        &[],
    );
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.starts_with("GPU: "), "{text}");
    assert!(text.contains("forward-zc-rk4") && text.contains("reversible-heun"));
}

/// With no usable backend (Metal requested on Linux) the commands say so in one line and fail
/// with exit code 2 (README: `--device gpu` never runs somewhere else).
#[cfg(target_os = "linux")]
#[test]
fn no_adapter_is_a_clear_message_not_a_panic() {
    let env = [("WGPU_BACKEND", "metal")];
    let out = nodelab(&["bench", "gpu", "--batch", "1"], &env);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no GPU adapter found"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let out = nodelab(
        &[
            "grad",
            "presets/grad-mlp-2-8-2.toml",
            "--device",
            "gpu",
            "--methods",
            "backprop",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no GPU adapter found"), "{err}");
    assert!(err.contains("--device cpu"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(out.stdout.is_empty());
}

/// Writes `preset` (TOML) and `weights` (the MLP's weights file) into a fresh folder.
fn write_preset(mlp: &nodelab::nn::Mlp, preset: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("w.json"),
        serde_json::to_string(&mlp.to_file()).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.path().join("p.toml"), preset).unwrap();
    dir
}

fn gpu_json(preset: &std::path::Path, methods: &str) -> serde_json::Value {
    gpu_json_exit(preset, methods, 0)
}

fn gpu_json_exit(preset: &std::path::Path, methods: &str, code: i32) -> serde_json::Value {
    let path = preset.to_str().unwrap();
    let out = nodelab(
        &[
            "grad",
            path,
            "--device",
            "gpu",
            "--methods",
            methods,
            "--json",
        ],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The trajectory preset (observations at 0.5, 1.0, 1.5; fixed-step RK4 split at them) and a
/// cross-entropy preset (zc-rk4 per sample: afge on the adaptive kernel) through every GPU
/// method, each within f32 tolerance of the CPU f64 engine, read-out gradient included.
#[test]
fn grad_device_gpu_runs_the_trajectory_and_cross_entropy_losses() {
    if common::gpu_context().is_none() {
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let v = gpu_json(&root.join("presets/grad-trajectory.toml"), "all");
    assert_eq!(v["loss"], "trajectory-mse");
    let methods = v["methods"].as_array().unwrap();
    assert_eq!(methods.len(), GpuGradMethod::ALL.len());
    for m in methods {
        assert!(m["err_vs_cpu"].as_f64().unwrap() <= 1e-4, "{m}");
        assert!(m.get("readout_grad").is_none(), "{m}");
    }

    let mlp = nodelab::nn::Mlp::random(&[2, 8, 2], nodelab::nn::Activation::Tanh, false, 1.0, 91);
    let dir = write_preset(
        &mlp,
        "[problem]\nkind = \"neural\"\nweights = \"w.json\"\n\
         y0 = [[1.0, -0.5], [0.5, 0.5], [-1.0, 0.2], [0.0, -1.0], [1.5, 1.0]]\n\
         t_span = [0.0, 1.0]\n[solver]\nmethod = \"zc-rk4\"\ntol = 1e-6\nrtol = 1e-6\n\
         batch_steps = \"per-sample\"\n[loss]\nkind = \"cross-entropy\"\n\
         labels = [0, 2, 1, 1, 0]\n\
         readout = { weight = [[1.0, -0.5], [0.3, 0.8], [-0.7, 0.2]], bias = [0.1, 0.0, -0.2] }\n",
    );
    let v = gpu_json(&dir.path().join("p.toml"), "all");
    assert_eq!(v["loss"], "cross-entropy");
    let methods = v["methods"].as_array().unwrap();
    assert_eq!(methods.len(), GpuGradMethod::ALL.len());
    for m in methods {
        assert!(m["err_vs_cpu"].as_f64().unwrap() <= 1e-4, "{m}");
        assert!(m["readout_err_vs_cpu"].as_f64().unwrap() <= 1e-4, "{m}");
        assert_eq!(m["readout_grad"].as_array().unwrap().len(), 9, "{m}");
    }
}

/// A method the GPU cannot run on a problem says so in its own row (JSON `error`, a table
/// line), and the other methods still run: here the adaptive f32 afge, which cannot meet a
/// tolerance of 1e-14 (its steps underflow), next to fixed-step backprop. As on the CPU, a
/// failed method makes the exit code 1.
#[test]
fn grad_device_gpu_reports_a_method_it_cannot_run_per_method() {
    if common::gpu_context().is_none() {
        return;
    }
    let mlp = nodelab::nn::Mlp::random(&[2, 8, 2], nodelab::nn::Activation::Tanh, false, 1.0, 92);
    let dir = write_preset(
        &mlp,
        "[problem]\nkind = \"neural\"\nweights = \"w.json\"\n\
         y0 = [[1.0, -0.5], [0.3, 0.2]]\nt_span = [0.0, 0.2]\n[solver]\nmethod = \"zc-rk4\"\n\
         tol = 1e-14\nrtol = 1e-14\nbatch_steps = \"per-sample\"\n[loss]\n\
         kind = \"half-sse\"\ntarget = [[0.0, 0.0], [0.1, 0.1]]\n",
    );
    let preset = dir.path().join("p.toml");
    let v = gpu_json_exit(&preset, "afge,backprop", 1);
    let methods = v["methods"].as_array().unwrap();
    assert_eq!(methods[0]["method"], "afge");
    assert!(methods[0].get("grad").is_none(), "{}", methods[0]);
    let err = methods[0]["error"].as_str().unwrap();
    assert!(err.contains("step size underflow"), "{err}");
    assert_eq!(methods[1]["method"], "backprop");
    assert!(methods[1]["err_vs_cpu"].as_f64().unwrap() <= 1e-4);
    let out = nodelab(
        &[
            "grad",
            preset.to_str().unwrap(),
            "--device",
            "gpu",
            "--methods",
            "afge,backprop",
            "--repeats",
            "1",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("afge") && l.contains("error: ")),
        "{text}"
    );
    assert!(text.lines().any(|l| l.starts_with("backprop ")), "{text}");
}

/// `bench gpu --task` measures the batch asked for: a classification task gets enough points
/// for its training split to hold it (circles has 250 training points by default), and the
/// row reports the longest dispatch measured with GPU timestamps where the adapter has them.
#[test]
fn bench_gpu_task_runs_the_batch_asked_for() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let out = nodelab(
        &[
            "bench", "gpu", "--task", "circles", "--batch", "600", "--iters", "1", "--hidden", "4",
            "--json",
        ],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let row: serde_json::Value = text
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON row in {text}"));
    assert_eq!(row["batch_used"], 600, "{row}");
    assert!(row["gpu_ms"].as_f64().unwrap() > 0.0, "{row}");
    let timestamps = ctx
        .device
        .features()
        .contains(wgpu::Features::TIMESTAMP_QUERY);
    assert_eq!(row["longest_dispatch_ms"].is_number(), timestamps, "{row}");
}
