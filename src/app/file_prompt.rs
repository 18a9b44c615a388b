//! Files without a dialog backend. rfd needs an XDG desktop portal or zenity on Linux; without
//! either, its dialogs return at once with nothing, which looks like a silent failure. The app
//! then says so and asks for the path in a small window of its own instead. The prompt is
//! generic over what the path is for: each room keeps its own file actions.

use std::path::PathBuf;
use std::time::Duration;

/// A dialog answered faster than this did not show (no person cancels a dialog that fast).
pub const FAILED_DIALOG: Duration = Duration::from_millis(250);

/// Whether a file dialog backend can be expected: zenity on the `PATH`, or a D-Bus session (for
/// an XDG desktop portal; a dialog that still fails is caught by [`FAILED_DIALOG`]).
pub fn dialog_backend_available() -> bool {
    let zenity = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("zenity").is_file()));
    zenity || std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some()
}

/// The open path prompt: what the path is for (a room's own file action) and the text typed.
#[derive(Clone, Debug, PartialEq)]
pub struct PathPrompt<A> {
    pub action: A,
    pub text: String,
}

/// Shows the prompt titled `title`; returns the path once the user confirms, and whether the
/// prompt stays open.
pub fn ui<A>(
    ctx: &egui::Context,
    title: &str,
    prompt: &mut PathPrompt<A>,
) -> (Option<PathBuf>, bool) {
    let mut keep = true;
    let mut chosen = None;
    egui::Window::new(title)
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
                    chosen = Some(PathBuf::from(path));
                    keep = false;
                }
                if ui.button("Cancel").clicked() {
                    keep = false;
                }
            });
        });
    (chosen, keep)
}
