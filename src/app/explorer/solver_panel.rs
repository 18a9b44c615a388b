//! Left panel, bottom: the solvers run on the problem (each overlaid with its own colour) and
//! their settings.

use crate::solver::{Method, SolverConfig};

use crate::app::explorer::command::Command;
use crate::app::explorer::problem_panel::sci_field;
use crate::app::theme::{c32, run_color};

/// Reads the session's solvers and edits a copy; a changed copy becomes one
/// [`Command::Edit`] of the session.
pub fn ui(
    ui: &mut egui::Ui,
    session: &crate::app::explorer::session::Session,
    running: bool,
    auto_solve: &mut bool,
    commands: &mut Vec<Command>,
) {
    let mut solvers = session.solvers.clone();
    edit_ui(ui, &mut solvers, running, auto_solve, commands);
    if solvers != session.solvers {
        let mut next = session.clone();
        next.solvers = solvers;
        commands.push(Command::Edit(Box::new(next)));
    }
}

fn edit_ui(
    ui: &mut egui::Ui,
    solvers: &mut Vec<SolverConfig>,
    running: bool,
    auto_solve: &mut bool,
    commands: &mut Vec<Command>,
) {
    ui.heading("Solvers");
    let mut remove = None;
    let n = solvers.len();
    for (i, cfg) in solvers.iter_mut().enumerate() {
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.horizontal(|ui| {
                let (rect, _) =
                    ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
                ui.painter().rect_filled(rect, 2.0, c32(run_color(i)));
                egui::ComboBox::from_id_salt(("method", i))
                    .selected_text(cfg.method.name())
                    .width(130.0)
                    .show_ui(ui, |ui| {
                        for m in Method::ALL {
                            ui.selectable_value(&mut cfg.method, m, m.name())
                                .on_hover_text(m.description());
                        }
                    })
                    .response
                    .accessible_name(format!("method {}", i + 1))
                    .on_hover_text(cfg.method.description());
                if n > 1
                    && ui
                        .small_button("Remove")
                        .on_hover_text("remove this solver")
                        .clicked()
                {
                    remove = Some(i);
                }
            });
            egui::Grid::new(("solver-grid", i))
                .num_columns(4)
                .spacing([6.0, 4.0])
                .show(ui, |ui| {
                    if cfg.method.is_adaptive() {
                        ui.label("ε (tol)");
                        sci_field(ui, &mut cfg.tol, "tol").on_hover_text("absolute tolerance ε");
                        ui.label("rtol");
                        sci_field(ui, &mut cfg.rtol, "rtol").on_hover_text(
                            "relative tolerance (0: absolute control, as in the paper)",
                        );
                        ui.end_row();
                    }
                    ui.label("h0");
                    let mut auto = cfg.h0.is_none();
                    let text = if cfg.method.is_adaptive() {
                        "auto"
                    } else {
                        "span/1000"
                    };
                    ui.horizontal(|ui| {
                        if ui.checkbox(&mut auto, text).changed() {
                            cfg.h0 = if auto { None } else { Some(0.1) };
                        }
                        if let Some(h) = &mut cfg.h0 {
                            sci_field(ui, h, "h0");
                        }
                    });
                    ui.end_row();
                });
            if let Err(e) = cfg.validate() {
                ui.colored_label(ui.visuals().error_fg_color, format!("⚠ {e}"));
            }
        });
    }
    if let Some(i) = remove {
        solvers.remove(i);
    }
    ui.horizontal(|ui| {
        if ui.button("+ compare another solver").clicked() {
            let base = solvers.last().cloned().unwrap_or_default();
            let next = Method::ADAPTIVE
                .into_iter()
                .find(|m| !solvers.iter().any(|s| s.method == *m))
                .unwrap_or(Method::Dopri5);
            solvers.push(SolverConfig {
                method: next,
                ..base
            });
        }
    });
    ui.add_space(6.0);
    ui.horizontal(|ui| {
        let run = egui::Button::new(egui::RichText::new("▶ Run").strong())
            .min_size(egui::vec2(80.0, 26.0));
        if ui
            .add(run)
            .on_hover_text("solve with every solver (Ctrl+R)")
            .clicked()
        {
            commands.push(Command::Run);
        }
        if running && ui.button("■ Stop").clicked() {
            commands.push(Command::Cancel);
        }
    });
    ui.checkbox(auto_solve, "re-solve after each edit")
        .on_hover_text(
            "solve again shortly after the problem or a solver changes; turn off for very long \
             runs (stale plots are then greyed and labelled)",
        );
}
