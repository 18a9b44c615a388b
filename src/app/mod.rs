//! The desktop app (eframe, wgpu renderer). A thin layer over the numerics: it owns view state
//! and talks to worker threads through channels.

/// Opens the app; returns the process exit code.
pub fn run() -> i32 {
    // The app arrives with the GUI issue; until then, show the CLI help.
    use clap::CommandFactory;
    let _ = crate::cli::Cli::command().print_help();
    0
}
