//! The app's workspaces ("rooms") and the top bar that switches between them. Each workspace
//! owns its panels and view state; the shell, theme, menus, toasts, jobs and export are shared.

use super::NodelabApp;

/// The app's workspaces, switched from the top bar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Workspace {
    #[default]
    Explorer,
    Gradients,
    Training,
}

impl Workspace {
    pub const ALL: [Workspace; 3] = [
        Workspace::Explorer,
        Workspace::Gradients,
        Workspace::Training,
    ];

    /// The name of `NODELAB_WORKSPACE` and of the top bar (lower case there).
    pub fn name(self) -> &'static str {
        match self {
            Workspace::Explorer => "explorer",
            Workspace::Gradients => "gradients",
            Workspace::Training => "training",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.name() == name)
    }

    fn label(self) -> &'static str {
        match self {
            Workspace::Explorer => "Explorer",
            Workspace::Gradients => "Gradients",
            Workspace::Training => "Training",
        }
    }

    fn help(self) -> &'static str {
        match self {
            Workspace::Explorer => "step adaptation, live: solvers on one ODE",
            Workspace::Gradients => {
                "gradient methods side by side on one neural ODE: error, time, memory"
            }
            Workspace::Training => "train a neural ODE with several gradient methods side by side",
        }
    }
}

impl NodelabApp {
    /// The bar that switches workspaces; a workspace with work going on shows a dot.
    pub(super) fn workspace_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            for w in Workspace::ALL {
                let busy = match w {
                    Workspace::Explorer => false,
                    Workspace::Gradients => self.gradients.is_running(),
                    Workspace::Training => self.training.is_running(),
                };
                let label = if busy {
                    format!("{} ●", w.label())
                } else {
                    w.label().to_string()
                };
                ui.selectable_value(&mut self.workspace, w, label)
                    .on_hover_text(w.help());
            }
        });
    }
}
