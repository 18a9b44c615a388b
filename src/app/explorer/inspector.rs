//! Right panel, top: the selected step — t, h, err, accepted, nfev, y and a0/a1/a2 per
//! component.

use crate::app::explorer::command::Command;
use crate::app::explorer::model::RunData;
use crate::app::explorer::state::{StepRef, ViewState};
use crate::app::theme::{REJECTED, c32, run_color};

/// Six significant-looking digits in at most ~9 characters, so the panel keeps its width.
pub fn num(v: f64) -> String {
    if v == 0.0 || (1e-3..1e4).contains(&v.abs()) {
        format!("{v:.5}")
    } else {
        format!("{v:.3e}")
    }
}

pub fn ui(ui: &mut egui::Ui, runs: &[RunData], view: &mut ViewState, commands: &mut Vec<Command>) {
    ui.heading("Step");
    // A hovered step previews; otherwise the selected one.
    let hovering = view.hovered.is_some() && view.hovered != view.selected;
    let Some(sel) = view.hovered.or(view.selected) else {
        ui.weak("Hover or click a step in a plot or in the table to inspect it.");
        return;
    };
    if hovering {
        ui.label(
            egui::RichText::new("hovered (click to select)")
                .small()
                .weak(),
        );
    }
    let Some(run) = runs.get(sel.run) else { return };
    let Some(r) = run.records.get(sel.record) else {
        return;
    };
    let Some(p) = &run.problem else { return };
    ui.horizontal(|ui| {
        let (rect, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
        ui.painter().rect_filled(rect, 2.0, c32(run_color(sel.run)));
        ui.label(run.label());
    });
    ui.horizontal(|ui| {
        if ui
            .small_button("◀")
            .on_hover_text("previous attempt")
            .clicked()
            && sel.record > 0
        {
            commands.push(Command::Select(Some(StepRef {
                run: sel.run,
                record: sel.record - 1,
            })));
        }
        ui.label(format!("attempt #{}", sel.record));
        if ui.small_button("▶").on_hover_text("next attempt").clicked()
            && sel.record + 1 < run.records.len().min(view.playback.shown)
        {
            commands.push(Command::Select(Some(StepRef {
                run: sel.run,
                record: sel.record + 1,
            })));
        }
    });
    if r.accepted {
        ui.label(
            egui::RichText::new("✔ accepted").color(ui.visuals().widgets.active.fg_stroke.color),
        );
    } else {
        ui.label(
            egui::RichText::new("✖ rejected")
                .color(c32(REJECTED))
                .strong(),
        );
    }
    egui::Grid::new("step-fields")
        .num_columns(2)
        .spacing([10.0, 3.0])
        .striped(true)
        .show(ui, |ui| {
            let row = |ui: &mut egui::Ui, k: &str, v: String| {
                ui.label(k);
                ui.label(egui::RichText::new(v).monospace());
                ui.end_row();
            };
            row(ui, "t", num(r.t));
            row(ui, "h", num(r.h));
            row(ui, "err", r.err.map_or("—".into(), num));
            row(ui, "err/tol", r.err_ratio.map_or("—".into(), num));
            row(
                ui,
                "accepted",
                if r.accepted {
                    "yes".into()
                } else {
                    "no".into()
                },
            );
            row(ui, "nfev", r.nfev.to_string());
            if r.clipped {
                row(ui, "clipped", "landed on t_end".into());
            }
        });
    ui.add_space(4.0);
    let d = p.dim();
    let coeffs = r.dense.coefficients();
    egui::Grid::new("step-components")
        .num_columns(5)
        .spacing([10.0, 3.0])
        .striped(true)
        .show(ui, |ui| {
            for h in ["", "y", "a0", "a1", "a2"] {
                ui.label(egui::RichText::new(h).strong());
            }
            ui.end_row();
            for c in 0..d {
                ui.label(&p.components[c]);
                ui.label(egui::RichText::new(num(r.y[c])).monospace());
                for k in 0..3 {
                    let v = coeffs.map_or("—".into(), |a| num(a[k * d + c]));
                    ui.label(egui::RichText::new(v).monospace());
                }
                ui.end_row();
            }
        });
    if coeffs.is_none() {
        ui.weak(format!(
            "{} has no a0/a1/a2 (not an RK4 cubic).",
            run.config.method
        ));
    } else {
        ui.label(
            egui::RichText::new("p(τ) = a0 + a1·τ + a2·τ²,  q(τ) = y_n + hτ(a0 + a1τ/2 + a2τ²/3)")
                .small()
                .weak(),
        );
    }
}
