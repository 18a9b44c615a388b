//! Helpers shared by the integration tests: running the binary, reading its JSON, comparing
//! vectors, and the one skip policy for tests that need a GPU adapter or a display.
//!
//! Skip policy: a test that needs an adapter (the GPU tests, the egui_kittest tests that render
//! with `.wgpu()`) or a display (the real window) calls [`gpu_context`], [`has_adapter`] or
//! [`has_display`] first and returns when told to. Under `CI=true` a missing adapter or display
//! fails the test loudly; elsewhere the test is skipped with the reason on stderr.
//!
//! Each test binary uses only part of this module.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use nodelab::gpu::GpuContext;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use serde_json::Value;

/// Whether the tests run under CI (`CI=true` or `CI=1`), where nothing may be skipped.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Applies the skip policy: under CI a missing resource fails, elsewhere it is printed.
/// Returns `true` when the test should return now.
pub fn skip(reason: &str) -> bool {
    assert!(
        !ci(),
        "CI=true but {reason}: CI must run every test (see .ci/run)"
    );
    eprintln!("skipped: {reason}");
    true
}

/// The repository root (presets, shaders, the tests' corpus).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A private runtime directory for the binary (wgpu and winit warn without one).
fn runtime_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("nodelab-test-runtime-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("runtime dir");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .expect("runtime dir mode");
        }
        dir
    })
}

/// The binary as a command, run from the repository root with a private runtime directory.
pub fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nodelab"));
    cmd.args(args)
        .current_dir(root())
        .env("XDG_RUNTIME_DIR", runtime_dir());
    cmd
}

/// Runs the binary to the end.
pub fn nodelab(args: &[&str]) -> Output {
    command(args).output().expect("the binary runs")
}

/// Runs the binary with extra environment variables.
pub fn nodelab_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = command(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

/// Runs `cmd` but kills it after `limit`: `None` when it had to be killed (a test of a bound
/// must not hang when the bound is missing).
pub fn output_within(mut cmd: Command, limit: Duration) -> Option<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    // Drain the pipes on threads so that a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_thread = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut v);
        v
    });
    let err_thread = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_thread.join().unwrap_or_default();
    let stderr = err_thread.join().unwrap_or_default();
    status.map(|status| Output {
        status,
        stdout,
        stderr,
    })
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The binary's stdout as JSON (the test fails with the text when it is not).
pub fn json(o: &Output) -> Value {
    let text = stdout(o);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}\nstderr: {}", stderr(o)))
}

/// A JSON array of numbers as a vector.
pub fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap_or_else(|| panic!("not a number: {x}")))
        .collect()
}

/// `‖a − b‖₂ / ‖b‖₂` (`‖a − b‖₂` when b is zero); NaN if anything is NaN, so `<= tol` fails.
pub fn rel_l2(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "vectors of different lengths");
    let diff: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let norm: f64 = b.iter().map(|y| y * y).sum();
    if norm > 0.0 {
        (diff / norm).sqrt()
    } else {
        diff.sqrt()
    }
}

/// `‖a − b‖∞ / max(‖b‖∞, floor)`; NaN if anything is NaN (so that `<= tol` fails).
pub fn rel_err(a: &[f64], b: &[f64], floor: f64) -> f64 {
    assert_eq!(a.len(), b.len());
    let mut diff = 0.0f64;
    let mut scale = floor;
    for (x, y) in a.iter().zip(b) {
        if x.is_nan() || y.is_nan() {
            return f64::NAN;
        }
        diff = diff.max((x - y).abs());
        scale = scale.max(y.abs());
    }
    diff / scale
}

/// `batch × d` numbers uniform in `[-r, r]`, seeded.
pub fn random_states(batch: usize, d: usize, r: f64, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..batch * d).map(|_| rng.random_range(-r..r)).collect()
}

/// A headless GPU context, or `None` when the test must return (skip policy above).
pub fn gpu_context() -> Option<Arc<GpuContext>> {
    match GpuContext::headless() {
        Ok(ctx) => {
            eprintln!("GPU adapter: {}", ctx.adapter.summary());
            Some(ctx)
        }
        Err(e) => {
            skip(&format!("no GPU adapter was found ({e})"));
            None
        }
    }
}

/// Whether a wgpu adapter exists, for tests that render with one (egui_kittest `.wgpu()`).
/// `false` means return now (skip policy above).
pub fn has_adapter() -> bool {
    gpu_context().is_some()
}

/// Whether a display exists for a real window. `false` means return now.
pub fn has_display() -> bool {
    if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some() {
        return true;
    }
    !skip("there is no display (run the tests under xvfb-run)")
}
