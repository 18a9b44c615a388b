//! Files without a dialog backend. rfd needs an XDG desktop portal or zenity on Linux; without
//! either, its dialogs return at once with nothing, which looks like a silent failure. The app
//! then says so and asks for the path in a small window of its own instead.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::export::Format;

use super::command::Command;
use super::state::PlotKind;

/// A dialog answered faster than this did not show (no person cancels a dialog that fast).
pub const FAILED_DIALOG: Duration = Duration::from_millis(250);

/// What a file is asked for.
#[derive(Clone, Debug, PartialEq)]
pub enum FileAction {
    LoadPreset,
    SavePreset,
    LoadWeights,
    ExportPlot { plot: PlotKind, format: Format },
    ExportCsv { run: usize },
}

impl FileAction {
    pub fn title(&self) -> String {
        match self {
            FileAction::LoadPreset => "Load preset".into(),
            FileAction::SavePreset => "Save preset".into(),
            FileAction::LoadWeights => "Load network weights".into(),
            FileAction::ExportPlot { plot, format } => format!(
                "Export {} ({})",
                plot.title(),
                format.extension().to_uppercase()
            ),
            FileAction::ExportCsv { .. } => "Export steps (CSV)".into(),
        }
    }

    /// The path offered at first.
    pub fn suggestion(&self, presets_dir: &Path) -> PathBuf {
        match self {
            FileAction::LoadPreset => presets_dir.join("paper-van-der-pol.toml"),
            FileAction::SavePreset => presets_dir.join("session.toml"),
            FileAction::LoadWeights => presets_dir.join("grad-mlp-2-8-2.json"),
            FileAction::ExportPlot { plot, format } => {
                PathBuf::from(format!("{}.{}", plot.stem(), format.extension()))
            }
            FileAction::ExportCsv { run } => PathBuf::from(format!("steps-run{}.csv", run + 1)),
        }
    }

    /// The command that does the work with `path`.
    pub fn command(&self, path: PathBuf) -> Command {
        match self {
            FileAction::LoadPreset => Command::LoadPreset(path),
            FileAction::SavePreset => Command::SavePreset(path),
            FileAction::LoadWeights => Command::LoadWeights(path),
            FileAction::ExportPlot { plot, format } => Command::ExportPlot {
                plot: *plot,
                format: *format,
                path: Some(path),
            },
            FileAction::ExportCsv { run } => Command::ExportCsv {
                run: *run,
                path: Some(path),
            },
        }
    }
}

/// Whether a file dialog backend can be expected: zenity on the `PATH`, or a D-Bus session (for
/// an XDG desktop portal; a dialog that still fails is caught by [`FAILED_DIALOG`]).
pub fn dialog_backend_available() -> bool {
    let zenity = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("zenity").is_file()));
    zenity || std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some()
}

/// The open path prompt.
#[derive(Clone, Debug, PartialEq)]
pub struct PathPrompt {
    pub action: FileAction,
    pub text: String,
}

/// Shows the prompt; returns the command to run once the user confirms, and whether the prompt
/// stays open.
pub fn ui(ctx: &egui::Context, prompt: &mut PathPrompt) -> (Option<Command>, bool) {
    let mut keep = true;
    let mut command = None;
    egui::Window::new(prompt.action.title())
        .id(egui::Id::unique("path-prompt"))
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_CENTER, egui::vec2(0.0, 0.0))
        .show(ctx, |ui| {
            ui.label(
                "No file dialog is available here (it needs an XDG desktop portal or zenity). \
                 Type the path instead:",
            );
            let edit = ui.add(
                egui::TextEdit::singleline(&mut prompt.text)
                    .desired_width(360.0)
                    .font(egui::TextStyle::Monospace),
            );
            let edit = edit.accessible_name("file path");
            let entered = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            ui.horizontal(|ui| {
                let path = prompt.text.trim();
                let ok = ui.add_enabled(!path.is_empty(), egui::Button::new("OK"));
                if (ok.clicked() || entered) && !path.is_empty() {
                    command = Some(prompt.action.command(PathBuf::from(path)));
                    keep = false;
                }
                if ui.button("Cancel").clicked() {
                    keep = false;
                }
            });
        });
    (command, keep)
}
