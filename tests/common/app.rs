//! The app test harness shared by the `app_*` tests that include it with
//! `#[path = "common/app.rs"] mod app_harness;`: the app without restored state, without a
//! solve at start and with the adapter's name hidden, driven deterministically with
//! [`settle`].

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use egui_kittest::Harness;
use nodelab::app::{AppOptions, NodelabApp};

/// The smallest supported window and a large one.
pub const SMALL: [f32; 2] = [900.0, 600.0];
pub const LARGE: [f32; 2] = [1920.0, 1080.0];

pub fn presets() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("presets")
}

pub fn options(presets_dir: &Path) -> AppOptions {
    AppOptions {
        presets_dir: presets_dir.to_path_buf(),
        restore: false,
        run_at_start: false,
        show_adapter: false,
        // Deterministic: a stale result is re-solved on the next frame, and files are asked
        // for in the app's own prompt.
        auto_solve_delay: std::time::Duration::ZERO,
        file_dialogs: false,
        ..AppOptions::default()
    }
}

/// The app at `size` with `opts`, rendered with wgpu (snapshots need it). `memory`, when given,
/// replaces egui's memory before the app is built, as eframe does with the memory saved by a
/// previous launch.
pub fn harness_with(
    size: [f32; 2],
    opts: AppOptions,
    memory: Option<egui::Memory>,
) -> Harness<'static, NodelabApp> {
    Harness::builder()
        .with_size(size)
        .with_max_steps(40)
        .wgpu()
        .build_eframe(move |cc| {
            if let Some(m) = memory {
                cc.egui_ctx.memory_mut(|mem| *mem = m);
            }
            NodelabApp::new(cc, opts)
        })
}

pub fn harness_at(size: [f32; 2]) -> Harness<'static, NodelabApp> {
    harness_with(size, options(&presets()), None)
}

/// Applies pending commands, waits for every worker and job, and lets the UI settle.
pub fn settle(h: &mut Harness<'_, NodelabApp>) {
    h.run_steps(2);
    h.state_mut().settle();
    h.run_steps(3);
}
