//! The desktop app (eframe, wgpu renderer): a front-end over the numerics, in rooms. The shell
//! ([`shell`]) is the window: menus, the room bar, the status bar, toasts, jobs, theme, GPU
//! context and persistence. The rooms ([`explorer`], [`gradients`], [`training`]) are listed
//! once, in [`rooms`], and each implements [`room::Room`]: it owns its saved setup (undoable,
//! [`undo`]), the data its workers produce, and its view state; its panels emit edits and
//! actions that the room applies in one place. Shared by the rooms: plot helpers ([`charts`]),
//! file work off the UI thread ([`jobs`], [`file_prompt`]), [`theme`], [`layout`],
//! [`toasts`], [`status_bar`]. Solves, training, measurements and file I/O run on named
//! threads that talk to the UI over bounded channels; the UI thread does no numerics.
//!
//! Environment (smoke tests): `NODELAB_EXIT_AFTER_FRAMES=N` closes the window after N frames,
//! `NODELAB_SCREENSHOT=path.png` saves a screenshot of the window before closing,
//! `NODELAB_FRESH=1` ignores the state saved by the previous launch (session, window size and
//! panel layout), `NODELAB_WINDOW_SIZE=WxH` opens the window at that size; for screenshots,
//! `NODELAB_PRESET=file.toml` loads a preset at start, `NODELAB_TAB=phase|work-precision` opens
//! that view, `NODELAB_DEBUG_OVERLAY=1` shows the frame-time overlay and `NODELAB_FAST=1` plays
//! back as fast as possible, `NODELAB_SELECT=N` selects attempt N of the first run and `NODELAB_NO_HOVER=1` turns off
//! hover previews (Xvfb's pointer rests in the middle of the window).
//! `NODELAB_EXPERIMENT=name` selects that experiment in the Experiments workspace.
//! `NODELAB_WORKSPACE=explorer|gradients|training|experiments` opens that workspace, a training preset in
//! `NODELAB_PRESET` opens the Training workspace with it (a gradient preset, with
//! `NODELAB_WORKSPACE=gradients`, the Gradients workspace), and `NODELAB_START=1` starts the
//! training (or the Gradients run) at launch.

pub mod charts;
pub mod experiments;
pub mod explorer;
pub mod file_prompt;
pub mod gradients;
pub mod jobs;
pub mod layout;
pub mod options;
pub mod room;
pub mod rooms;
pub mod shell;
pub mod status_bar;
pub mod theme;
pub mod toasts;
pub mod training;
pub mod undo;

use std::path::PathBuf;

use explorer::state::Tab;

pub use options::AppOptions;
pub use rooms::Workspace;
pub use shell::NodelabApp;

/// Refuses environment settings that would otherwise be ignored (a window told to close after
/// `abc` frames would never close).
pub fn check_env() -> Result<(), String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    for key in ["NODELAB_EXIT_AFTER_FRAMES", "NODELAB_SELECT"] {
        if let Some(v) = var(key)
            && v.parse::<u64>().is_err()
        {
            return Err(format!(
                "{key}='{v}' is not a whole number of frames or steps"
            ));
        }
    }
    if let Some(t) = var("NODELAB_TAB")
        && !matches!(t.as_str(), "phase" | "work-precision" | "time")
    {
        return Err(format!(
            "NODELAB_TAB='{t}' is not a view (known: phase, work-precision, time)"
        ));
    }
    if let Some(w) = var("NODELAB_WORKSPACE")
        && Workspace::parse(&w).is_none()
    {
        return Err(format!(
            "NODELAB_WORKSPACE='{w}' is not a workspace (known: {})",
            Workspace::names()
        ));
    }
    Ok(())
}

/// Options from the environment (see the module docs).
pub fn options_from_env() -> AppOptions {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    AppOptions {
        exit_after_frames: var("NODELAB_EXIT_AFTER_FRAMES").and_then(|v| v.parse().ok()),
        screenshot: var("NODELAB_SCREENSHOT").map(PathBuf::from),
        restore: var("NODELAB_FRESH").is_none(),
        preset: var("NODELAB_PRESET").map(PathBuf::from),
        tab: var("NODELAB_TAB").and_then(|t| match t.as_str() {
            "phase" => Some(Tab::Phase),
            "work-precision" => Some(Tab::WorkPrecision),
            "time" => Some(Tab::TimePlots),
            _ => None,
        }),
        debug_overlay: var("NODELAB_DEBUG_OVERLAY").is_some(),
        fast_playback: var("NODELAB_FAST").is_some(),
        select: var("NODELAB_SELECT").and_then(|v| v.parse().ok()),
        hover: var("NODELAB_NO_HOVER").is_none(),
        workspace: var("NODELAB_WORKSPACE").and_then(|w| Workspace::parse(&w)),
        start_training: var("NODELAB_START").is_some(),
        window_size: var("NODELAB_WINDOW_SIZE").and_then(|v| {
            let (w, h) = v.split_once('x')?;
            let size = [w.trim().parse::<f32>().ok()?, h.trim().parse::<f32>().ok()?];
            size.iter()
                .all(|s| s.is_finite() && *s >= 1.0 && *s <= 16384.0)
                .then_some(size)
        }),
        runs_dir: Some(crate::train::run_dir::default_runs_dir()),
        ..AppOptions::default()
    }
}

/// Window options: 1280×800, wgpu renderer, drag and drop.
pub fn native_options() -> eframe::NativeOptions {
    eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("nodelab")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size(layout::MIN_WINDOW)
            .with_drag_and_drop(true),
        renderer: eframe::Renderer::Wgpu,
        ..eframe::NativeOptions::default()
    }
}

/// [`native_options`] for a launch with `options`: a fresh start (`NODELAB_FRESH=1`) neither
/// restores the previous window size nor the previous layout.
pub fn native_options_for(options: &AppOptions) -> eframe::NativeOptions {
    let mut native = eframe::NativeOptions {
        persist_window: options.restore,
        ..native_options()
    };
    if !options.restore {
        // eframe reads the saved window geometry whatever `persist_window` says: a fresh start
        // gets a storage of its own, so nothing saved is read back (nor overwritten).
        native.persistence_path =
            Some(std::env::temp_dir().join(format!("nodelab-fresh-{}", std::process::id())));
    }
    if let Some([w, h]) = options.window_size {
        let [min_w, min_h] = layout::MIN_WINDOW;
        native.viewport = native
            .viewport
            .with_inner_size([w.max(min_w), h.max(min_h)]);
    }
    native
}

/// Opens the app; returns the process exit code.
pub fn run() -> i32 {
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .try_init();
    if let Err(e) = check_env() {
        eprintln!("error: {e}");
        return 2;
    }
    let options = options_from_env();
    let result = eframe::run_native(
        "nodelab",
        native_options_for(&options),
        Box::new(move |cc| Ok(Box::new(NodelabApp::new(cc, options)))),
    );
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: cannot open the app window: {e}");
            1
        }
    }
}
