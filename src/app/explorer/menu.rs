//! The explorer's menu entries (presets, export, view toggles) and its playback toolbar.

use std::path::PathBuf;

use crate::export::Format;

use super::command::Command;
use super::playback::{MAX_FINITE_SPEED, MIN_SPEED};
use super::state::{PlotKind, ViewState};
use crate::app::room::Menu;

/// The explorer's entries of the shell's menu `menu`.
pub fn entries(
    menu: Menu,
    ui: &mut egui::Ui,
    presets: &[PathBuf],
    view: &mut ViewState,
    commands: &mut Vec<Command>,
) {
    match menu {
        Menu::File => {
            if ui.button("Load preset…").clicked() {
                commands.push(Command::LoadPresetDialog);
            }
            if ui.button("Save preset…").clicked() {
                commands.push(Command::SavePresetDialog);
            }
            ui.separator();
            if ui.button("Load neural weights…").clicked() {
                commands.push(Command::PickWeights);
            }
        }
        Menu::Presets => {
            if presets.is_empty() {
                ui.weak("no presets/ folder found");
            }
            for p in presets {
                let name = p
                    .file_stem()
                    .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
                if ui
                    .button(name)
                    .on_hover_text(p.display().to_string())
                    .clicked()
                {
                    commands.push(Command::LoadPreset(p.clone()));
                }
            }
            ui.separator();
            if ui.button("Refresh list").clicked() {
                commands.push(Command::RefreshPresets);
            }
        }
        Menu::Export => {
            for plot in PlotKind::ALL {
                ui.menu_button(plot.title(), |ui| {
                    for format in [Format::Png, Format::Svg] {
                        let label = format!("{} …", format.extension().to_uppercase());
                        if ui.button(label).clicked() {
                            commands.push(Command::ExportPlot {
                                plot,
                                format,
                                path: None,
                            });
                        }
                    }
                });
            }
            ui.separator();
            if ui.button("Step table (CSV)…").clicked() {
                commands.push(Command::ExportCsv {
                    run: view.table_run,
                    path: None,
                });
            }
        }
        Menu::View => {
            ui.checkbox(&mut view.show_table, "Step table");
            ui.checkbox(&mut view.show_dense, "Dense output q(τ) inside steps");
            ui.checkbox(&mut view.show_exact, "Exact solution");
        }
    }
}

/// The playback toolbar.
pub fn toolbar(
    ui: &mut egui::Ui,
    view: &mut ViewState,
    available: usize,
    commands: &mut Vec<Command>,
) {
    // Wraps onto a second row in a narrow window instead of widening it.
    ui.horizontal_wrapped(|ui| {
        let p = &mut view.playback;
        if p.playing {
            if ui.button("⏸ Pause").clicked() {
                commands.push(Command::Pause);
            }
        } else if ui.button("▶ Play").clicked() {
            commands.push(Command::Play);
        }
        if ui
            .button("⏮ Back")
            .on_hover_text("hide the last attempt")
            .clicked()
        {
            commands.push(Command::StepBack);
        }
        if ui
            .button("⏭ Step")
            .on_hover_text("reveal one more attempted step")
            .clicked()
        {
            commands.push(Command::StepForward);
        }
        if ui
            .button("⟲ Restart")
            .on_hover_text("replay from the first step")
            .clicked()
        {
            commands.push(Command::Restart);
        }
        ui.separator();
        ui.add_enabled(
            !p.as_fast_as_possible,
            egui::Slider::new(&mut p.speed, MIN_SPEED..=MAX_FINITE_SPEED)
                .logarithmic(true)
                .text("speed")
                .suffix(" steps/s")
                .custom_formatter(|v, _| format!("{v:.0}")),
        );
        ui.checkbox(&mut p.as_fast_as_possible, "as fast as possible");
        ui.separator();
        ui.label(format!(
            "attempt {} / {}",
            p.shown.min(available),
            available
        ));
    });
}
