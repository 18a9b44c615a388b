//! Right panel, bottom: run statistics per solver, with warnings and errors shown prominently.

use crate::app::explorer::command::Command;
use crate::app::explorer::model::{RunData, RunStatus};
use crate::app::explorer::state::ViewState;
use crate::app::theme::{c32, run_color};

fn num(v: f64) -> String {
    format!("{v:.3e}")
}

/// A coloured box for a warning or an error.
pub fn banner(ui: &mut egui::Ui, text: &str, error: bool) {
    let (fill, fg) = if error {
        (
            ui.visuals().error_fg_color.gamma_multiply(0.18),
            ui.visuals().error_fg_color,
        )
    } else {
        (
            ui.visuals().warn_fg_color.gamma_multiply(0.18),
            ui.visuals().warn_fg_color,
        )
    };
    egui::Frame::new()
        .fill(fill)
        .stroke(egui::Stroke::new(1.0, fg))
        .corner_radius(4.0)
        .inner_margin(6.0)
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            let icon = if error { "⛔" } else { "⚠" };
            ui.label(
                egui::RichText::new(format!("{icon} {text}"))
                    .color(fg)
                    .strong(),
            );
        });
}

pub fn ui(ui: &mut egui::Ui, runs: &[RunData], view: &mut ViewState, commands: &mut Vec<Command>) {
    ui.heading("Run statistics");
    if runs.is_empty() {
        ui.weak("Press Run to solve.");
    }
    if let Some(reason) = &view.stale {
        ui.label(
            egui::RichText::new(format!("Stale: {reason}.")).color(ui.visuals().warn_fg_color),
        );
    }
    for (i, run) in runs.iter().enumerate() {
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            ui.radio_value(&mut view.table_run, i, "focus")
                .on_hover_text("focus: the step table and plot clicks use this run");
            let (rect, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
            ui.painter().rect_filled(rect, 2.0, c32(run_color(i)));
            ui.label(egui::RichText::new(run.label()).strong());
            if ui
                .small_button("CSV")
                .on_hover_text("export this run's steps (the CLI's --steps-csv format)")
                .clicked()
            {
                commands.push(Command::ExportCsv { run: i, path: None });
            }
        });
        let s = run.stats(view.playback.shown);
        egui::Grid::new(("stats", i))
            .num_columns(2)
            .spacing([10.0, 2.0])
            .show(ui, |ui| {
                let mut row = |k: &str, v: String| {
                    ui.label(k);
                    ui.label(egui::RichText::new(v).monospace());
                    ui.end_row();
                };
                row("accepted", s.accepted.to_string());
                row("rejected", s.rejected.to_string());
                row("nfev", s.nfev.to_string());
                if let Some((lo, hi)) = s.h_range {
                    row("h range", format!("{} … {}", num(lo), num(hi)));
                }
                match s.max_error {
                    Some(e) => row("max error", format!("{} (vs exact)", num(e))),
                    None => row("max error", "— (no exact solution)".into()),
                }
                if view.playback.shown < run.records.len() {
                    row(
                        "shown",
                        format!("{} / {}", view.playback.shown, run.records.len()),
                    );
                }
            });
        if i == 0 && !run.batch.is_empty() {
            ui.label(format!(
                "A batch of {} initial states: the first is stepped here, the other {} are drawn thin.",
                run.batch.len() + 1,
                run.batch.len()
            ));
        }
        if i == 0 && !run.targets.is_empty() {
            ui.label(format!(
                "{} loss targets drawn as squares.",
                run.targets.len()
            ));
        }
        match &run.status {
            RunStatus::Starting => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("starting…");
                });
            }
            RunStatus::Running => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(format!("solving… {} attempts so far", run.records.len()));
                });
            }
            RunStatus::Done => {}
            RunStatus::Stopped => banner(ui, "stopped before t_end", false),
            RunStatus::Invalid(e) => banner(ui, e, true),
            RunStatus::Failed(e) => banner(ui, &format!("the solve stopped: {e}"), true),
        }
        for w in &run.warnings {
            banner(ui, w, false);
        }
    }
}
