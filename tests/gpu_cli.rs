//! The GPU command lines: `nodelab grad --device gpu`, `nodelab bench gpu`, and the clear
//! message (never a panic) when no adapter exists.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod gpu_support;

use std::process::{Command, Output};

fn nodelab(args: &[&str], env: &[(&str, &str)]) -> Output {
    let runtime = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nodelab"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("XDG_RUNTIME_DIR", runtime.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn grad_device_gpu_reports_every_gpu_method_against_the_cpu() {
    if gpu_support::context().is_none() {
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
    assert_eq!(names, ["backprop", "adjoint", "afge", "reversible-heun"]);
    for m in methods {
        let e = m["err_vs_cpu"].as_f64().unwrap();
        assert!(e <= 1e-4, "{m}");
        assert!(m["gpu_bytes"].as_u64().unwrap() > 0);
        assert!(m["grad"].as_array().unwrap().iter().all(|g| g.is_f64()));
    }
}

#[test]
fn bench_gpu_prints_every_row_with_positive_throughput() {
    if gpu_support::context().is_none() {
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
    assert_eq!(rows.len(), 14);
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

/// With no usable backend (Metal requested on Linux) the commands say so in one line: `bench
/// gpu` fails with exit code 2, `grad --device gpu` warns and runs the CPU path.
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
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("falling back to the CPU f64 path"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("backprop"));
}
