//! Starts the real binary (no subcommand: the app) under X, once per workspace, and checks that
//! the wgpu window opens, renders and closes by itself. CI runs it under `xvfb-run` with CI=true, where it must
//! not skip; locally it is skipped (with a reason) when DISPLAY is unset.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn the_app_window_opens_renders_and_closes() {
    if !common::has_display() {
        return;
    }
    opens_renders_and_closes(&[]);
}

#[test]
fn each_workspace_of_the_real_binary_renders() {
    if !common::has_display() {
        return;
    }
    opens_renders_and_closes(&[("NODELAB_WORKSPACE", "explorer")]);
    opens_renders_and_closes(&[
        ("NODELAB_WORKSPACE", "gradients"),
        ("NODELAB_PRESET", "presets/grad-mlp-2-8-2.toml"),
        ("NODELAB_START", "1"),
    ]);
    opens_renders_and_closes(&[("NODELAB_WORKSPACE", "training")]);
}

/// Opens the app with `env`, lets it close itself after 40 frames, and checks its screenshot.
fn opens_renders_and_closes(env: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("window.png");
    let runtime = dir.path().join("runtime");
    std::fs::create_dir(&runtime).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_nodelab"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NODELAB_EXIT_AFTER_FRAMES", "40")
        .env("NODELAB_SCREENSHOT", &shot)
        .env("NODELAB_FRESH", "1")
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_RUNTIME_DIR", &runtime)
        .envs(env.iter().copied())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("the app ({env:?}) did not close by itself within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "the app ({env:?}) exited with {status}");
    let img = image::open(&shot)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", shot.display()))
        .to_rgba8();
    assert!(
        img.width() >= 900 && img.height() >= 600,
        "{:?}",
        img.dimensions()
    );
    // Something was drawn: the frame is not one flat colour.
    let first = img.get_pixel(0, 0);
    let different = img.pixels().filter(|p| *p != first).count();
    assert!(
        different > (img.width() * img.height() / 20) as usize,
        "a blank frame ({env:?})"
    );
}
