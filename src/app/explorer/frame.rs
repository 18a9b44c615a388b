//! The explorer on screen: the setup panel (left), the inspector (right), the step table
//! (bottom), the central views, the preset-error window and the path prompt; and its keys.

use crate::app::room::{Room, RoomCx};
use crate::app::{file_prompt, layout, status_bar};

use super::command::Command;
use super::state::Tab;
use super::{Explorer, inspector, lens, problem_panel, solver_panel, stats, step_table};

impl Explorer {
    /// The panels and the central view (the toolbar is drawn in [`Room::top_panels`]).
    pub(super) fn frame(&mut self, ui: &mut egui::Ui, cx: &mut RoomCx<'_>) {
        let ctx = ui.ctx().clone();
        // Width ranges follow the window, so that neither a long formula nor a width restored
        // from another launch can push the plots out (see `layout`).
        let window = ui.max_rect().size();
        let (left, right) = (layout::left(window.x), layout::right(window.x));
        let left_panel = egui::Panel::left("setup")
            .resizable(true)
            .size_range(left.range)
            .default_size(left.default)
            .show(ui, |ui| {
                // Contents wider than the panel scroll sideways: a panel must never grow
                // with its contents (it would paint over its neighbour).
                egui::ScrollArea::both().show(ui, |ui| {
                    problem_panel::ui(ui, &self.session, &self.custom_check, &mut self.commands);
                    ui.separator();
                    let running = self.runs.iter().any(|r| !r.is_finished());
                    solver_panel::ui(
                        ui,
                        &self.session,
                        running,
                        &mut self.view.auto_solve,
                        &mut self.commands,
                    );
                });
            });
        // Wide enough for the step's components, so that showing a step never resizes the
        // plots under the pointer.
        let right_panel = egui::Panel::right("inspector")
            .resizable(true)
            .size_range(right.range)
            .default_size(right.default)
            .show(ui, |ui| {
                // Contents wider than the panel scroll sideways: a panel must never grow
                // with its contents (it would paint over its neighbour).
                egui::ScrollArea::both().show(ui, |ui| {
                    inspector::ui(ui, &self.runs, &mut self.view, &mut self.commands);
                    lens::ui(ui, &self.runs, &self.view);
                    ui.separator();
                    stats::ui(ui, &self.runs, &mut self.view, &mut self.commands);
                });
            });
        if self.view.show_table && self.view.tab == Tab::TimePlots && !self.runs.is_empty() {
            egui::Panel::bottom("steps")
                .resizable(true)
                .size_range(layout::table(window.y))
                .default_size(170.0_f32.min(window.y * 0.25))
                .show(ui, |ui| {
                    step_table::ui(
                        ui,
                        &self.runs,
                        &mut self.view,
                        &mut self.table_order,
                        &mut self.commands,
                    );
                });
        }
        let central = egui::CentralPanel::default().show(ui, |ui| self.central(ui));
        self.view.layout = layout::Layout {
            window,
            left: left_panel.response.rect,
            right: right_panel.response.rect,
            central: central.response.rect,
        };
        self.error_window(&ctx);
        if let Some(prompt) = &mut self.path_prompt {
            let (path, keep) = file_prompt::ui(&ctx, &prompt.action.title(), prompt);
            if let Some(path) = path {
                self.commands.push(Command::for_path(&prompt.action, path));
            }
            if !keep {
                self.path_prompt = None;
            }
        }
        if cx.shared.debug_overlay {
            status_bar::overlay(&ctx, &cx.shared.frame_times, self.points());
            ctx.request_repaint();
        }

        self.view.hovered = self.view.hovered_next.take().filter(|_| self.hover);
    }

    /// Ctrl+R runs; Space plays or pauses; the arrows step (not while a text field is typed in).
    pub(super) fn keys(&mut self, ctx: &egui::Context) {
        let typing = ctx.egui_wants_keyboard_input();
        let (space, right, left, run) = ctx.input(|i| {
            (
                i.key_pressed(egui::Key::Space),
                i.key_pressed(egui::Key::ArrowRight),
                i.key_pressed(egui::Key::ArrowLeft),
                i.modifiers.command && i.key_pressed(egui::Key::R),
            )
        });
        if run {
            self.commands.push(Command::Run);
        }
        if !typing {
            if space {
                self.commands.push(if self.view.playback.playing {
                    Command::Pause
                } else {
                    Command::Play
                });
            }
            if right {
                self.commands.push(Command::StepForward);
            }
            if left {
                self.commands.push(Command::StepBack);
            }
        }
    }

    fn error_window(&mut self, ctx: &egui::Context) {
        let Some(err) = self.preset_error.clone() else {
            return;
        };
        let mut open = true;
        egui::Window::new("Preset not loaded")
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::vec2(0.0, 0.0))
            .open(&mut open)
            .show(ctx, |ui| {
                ui.label("The preset has an error; nothing was changed.");
                stats::banner(ui, &err, true);
                if ui.button("OK").clicked() {
                    self.commands.push(Command::DismissError);
                }
            });
        if !open {
            self.commands.push(Command::DismissError);
        }
    }

    fn central(&mut self, ui: &mut egui::Ui) {
        self.view.plot_rects.clear();
        ui.horizontal(|ui| {
            let tabs = [
                (Tab::TimePlots, "Time plots"),
                (Tab::Phase, "Phase portrait"),
                (Tab::WorkPrecision, "Work–precision"),
            ];
            for (tab, name) in tabs {
                ui.selectable_value(&mut self.view.tab, tab, name);
            }
        });
        ui.separator();
        let sweep_stale = self.sweep.is_stale(&self.session.problem_spec());
        let stale = match self.view.tab {
            Tab::WorkPrecision => sweep_stale.then(|| {
                let of = self
                    .sweep
                    .result
                    .as_ref()
                    .map_or("", |wp| wp.problem.as_str());
                format!("this sweep is for {of}, not the problem set up now")
            }),
            _ => self.view.stale.clone(),
        };
        if let Some(reason) = stale {
            let next = if !self.session_is_valid() {
                "fix the setup's errors to solve again"
            } else if self.view.auto_solve {
                "re-solving…"
            } else {
                "automatic re-solving is off: press ▶ Run (or run the sweep)"
            };
            stats::banner(
                ui,
                &format!("Stale results, greyed out: {reason}; {next}"),
                false,
            );
        }
        match self.view.tab {
            Tab::TimePlots => {
                super::plots::time_plots(ui, &self.runs, &mut self.view, &mut self.commands)
            }
            Tab::Phase => {
                let y0 = self.session.y0().to_vec();
                super::plots::phase::ui(ui, &self.runs, &y0, &mut self.view, &mut self.commands);
            }
            Tab::WorkPrecision => {
                super::plots::work_precision::ui(
                    ui,
                    &self.sweep,
                    &self.runs,
                    sweep_stale,
                    &mut self.commands,
                );
            }
        }
    }
}
