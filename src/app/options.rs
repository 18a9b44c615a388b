//! How the app is started: the launch settings (from the environment, see [`super`]) and the
//! test harness's switches.

use std::path::PathBuf;

use super::rooms::Workspace;

/// How the app is started.
#[derive(Clone, Debug)]
pub struct AppOptions {
    /// Folder listed in the Presets menu.
    pub presets_dir: PathBuf,
    /// Restore the session saved by the previous launch.
    pub restore: bool,
    /// Run the session's solvers at start.
    pub run_at_start: bool,
    /// Close after this many frames (smoke tests).
    pub exit_after_frames: Option<u64>,
    /// Save a screenshot of the window before closing (with `exit_after_frames`).
    pub screenshot: Option<PathBuf>,
    /// Show the adapter's name in the status bar (off in snapshot tests, whose adapter's
    /// name carries a driver version).
    pub show_adapter: bool,
    /// A preset to load at start.
    pub preset: Option<PathBuf>,
    /// The central view to open with.
    pub tab: Option<super::explorer::state::Tab>,
    /// Start with the debug overlay (frame time) shown.
    pub debug_overlay: bool,
    /// Start with "as fast as possible" playback.
    pub fast_playback: bool,
    /// Select this attempt of the first run once it exists (screenshots).
    pub select: Option<usize>,
    /// Hovering a step previews it (off for screenshots under Xvfb, whose pointer rests in the
    /// middle of the window).
    pub hover: bool,
    /// The workspace to open with.
    pub workspace: Option<Workspace>,
    /// Start the training (of the restored or loaded setup) at launch.
    pub start_training: bool,
    /// How long the session must stay unchanged before an automatic re-solve (tests use zero:
    /// the re-solve then starts on the next frame, deterministically).
    pub auto_solve_delay: std::time::Duration,
    /// Use the system's file dialogs where a backend is found (off: always ask for paths in
    /// the app's own prompt).
    pub file_dialogs: bool,
    /// The window's inner size at start (`NODELAB_WINDOW_SIZE=1920x1080`); 1280×800 if unset.
    pub window_size: Option<[f32; 2]>,
    /// The runs folder: runs started in the Training room are kept there and its Runs list
    /// reads it (`NODELAB_RUNS_DIR`, else the platform's data folder); `None`: runs are not
    /// kept (the default, for tests).
    pub runs_dir: Option<PathBuf>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            presets_dir: PathBuf::from("presets"),
            restore: true,
            run_at_start: true,
            exit_after_frames: None,
            screenshot: None,
            show_adapter: true,
            preset: None,
            tab: None,
            debug_overlay: false,
            fast_playback: false,
            select: None,
            hover: true,
            workspace: None,
            start_training: false,
            auto_solve_delay: super::explorer::freshness::DEFAULT_DELAY,
            file_dialogs: true,
            window_size: None,
            runs_dir: None,
        }
    }
}
