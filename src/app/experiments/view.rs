//! The centre: the experiment's paper, section and claim; the run's progress or how it ended;
//! the verdict (badge, summary, the checks it rests on); the figures and tables of the result.
//! A result computed with other settings than the current ones is marked stale and greyed.

use egui::{Color32, RichText, Ui};
use serde_json::Value;

use super::{ExpAction, ExpView, Experiments, Outcome, Shown};
use crate::app::charts::axes::short_sci;
use crate::experiment::{Availability, ExperimentSpec, Table, VerdictStatus};

/// Rows of a table shown on screen (the CSV export has all of them).
const SHOWN_ROWS: usize = 200;

/// The mark of a verdict in the list.
pub fn status_mark(status: VerdictStatus) -> &'static str {
    match status {
        VerdictStatus::Holds => "✔",
        VerdictStatus::DoesNotHold => "✖",
        VerdictStatus::HoldsInPart => "◐",
    }
}

fn status_color(status: VerdictStatus) -> Color32 {
    match status {
        VerdictStatus::Holds => Color32::from_rgb(40, 150, 60),
        VerdictStatus::DoesNotHold => Color32::from_rgb(200, 50, 45),
        VerdictStatus::HoldsInPart => Color32::from_rgb(210, 140, 20),
    }
}

/// The centre of the room: the toolbar (Run, Cancel, Export), then the rest in a scroll area.
/// Changes only the view state (the figure and table on screen); pushes actions.
pub fn ui(ui: &mut Ui, room: &Experiments, view: &mut ExpView, actions: &mut Vec<ExpAction>) {
    let spec = room.setup.spec();
    toolbar(ui, room, spec, actions);
    ui.separator();
    egui::ScrollArea::vertical()
        .id_salt("experiment-centre")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            header(ui, spec);
            if let Availability::NotYet { needs } = spec.availability {
                ui.add_space(8.0);
                ui.label(
                    RichText::new(format!("Not implemented yet: needs {needs}."))
                        .italics()
                        .weak(),
                );
                return;
            }
            status(ui, room, spec);
            let Some(shown) = room.shown() else {
                if !room.is_running() {
                    ui.add_space(8.0);
                    ui.label("No result yet: choose Quick or Full and press ▶ Run.");
                }
                return;
            };
            let stale = shown.is_stale(spec, &room.setup.settings_of(spec));
            verdict(ui, shown, stale);
            ui.separator();
            figures(ui, shown, view, stale);
            ui.separator();
            tables(ui, shown, view);
        });
}

/// The experiment's name, Run / Cancel, and the export folder with Export.
fn toolbar(ui: &mut Ui, room: &Experiments, spec: &ExperimentSpec, actions: &mut Vec<ExpAction>) {
    ui.horizontal_wrapped(|ui| {
        ui.heading(spec.name);
        ui.add_space(12.0);
        let implemented = matches!(spec.availability, Availability::Implemented);
        if !implemented {
            return;
        }
        let running = room.is_running();
        let prefix = format!("{}/", spec.name);
        let bad = room.view.errors.keys().any(|k| k.starts_with(&prefix));
        if ui
            .add_enabled(!running && !bad, egui::Button::new("▶ Run"))
            .on_hover_text(
                "runs the experiment with these settings (a cached result opens at once)",
            )
            .clicked()
        {
            actions.push(ExpAction::Run);
        }
        if ui
            .add_enabled(running, egui::Button::new("■ Cancel"))
            .clicked()
        {
            actions.push(ExpAction::Cancel);
        }
        ui.add_space(12.0);
        let mut dir = room.setup.export_dir.clone();
        let edit = ui
            .add(egui::TextEdit::singleline(&mut dir).desired_width(120.0))
            .accessible_name("export folder")
            .on_hover_text(
                "exports go to FOLDER/NAME/: PNG and SVG per figure, CSV per table, NAME.json",
            );
        if edit.changed() {
            actions.push(ExpAction::SetExportDir(dir));
        }
        if ui
            .add_enabled(room.shown().is_some(), egui::Button::new("Export"))
            .on_hover_text(
                "PNG, SVG, CSV and JSON, as `nodelab experiment NAME --out DIR` writes them",
            )
            .clicked()
        {
            actions.push(ExpAction::Export);
        }
    });
}

fn header(ui: &mut Ui, spec: &ExperimentSpec) {
    ui.label(
        RichText::new(format!("{} — {}", spec.paper, spec.section))
            .small()
            .weak(),
    );
    ui.add_space(2.0);
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new("Claim:").strong());
        ui.label(spec.claim);
    });
}

/// Progress of the run, how the last one ended, or where the result came from.
fn status(ui: &mut Ui, room: &Experiments, spec: &ExperimentSpec) {
    ui.add_space(4.0);
    if let Some(job) = room.job.as_ref().filter(|j| j.name == spec.name) {
        let elapsed = job.started.elapsed().as_secs_f64();
        let (fraction, text) = match &job.progress {
            Some(p) if p.total > 0 => (
                p.done as f32 / p.total as f32,
                format!("{}: {}/{} ({elapsed:.1} s)", p.stage, p.done, p.total),
            ),
            Some(p) => (0.0, format!("{} ({elapsed:.1} s)", p.stage)),
            None => (0.0, format!("starting ({elapsed:.1} s)")),
        };
        ui.add(egui::ProgressBar::new(fraction).text(text).animate(true));
        return;
    }
    if let Some(job) = &room.job {
        ui.label(RichText::new(format!("{} is running", job.name)).weak());
    }
    match room.outcomes.get(spec.name) {
        Some(Outcome::Cancelled) => {
            ui.colored_label(ui.visuals().warn_fg_color, "cancelled");
        }
        Some(Outcome::Failed(e)) => {
            ui.colored_label(ui.visuals().error_fg_color, format!("failed: {e}"));
        }
        None => {}
    }
}

fn verdict(ui: &mut Ui, shown: &Shown, stale: bool) {
    let r = &shown.result;
    // The run's time goes in the hover text, so that the screen does not change with it.
    let origin = if shown.cached {
        "from the cache"
    } else {
        "computed now"
    };
    let hover = format!("the run took {:.1} s\n{}", r.elapsed_s, settings_text(r));
    if stale {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            "⚠ stale: this result was computed with other settings — press ▶ Run to update",
        )
        .on_hover_text(settings_text(r));
    }
    let Some(v) = &r.verdict else {
        ui.label(RichText::new(format!("no verdict; {origin}")).weak())
            .on_hover_text(hover);
        return;
    };
    ui.horizontal_wrapped(|ui| {
        let color = if stale {
            Color32::GRAY
        } else {
            status_color(v.status)
        };
        let badge = egui::Button::new(
            RichText::new(format!(" {} {} ", status_mark(v.status), v.status.label()))
                .strong()
                .color(Color32::WHITE),
        )
        .fill(color)
        .sense(egui::Sense::hover());
        ui.add(badge)
            .on_hover_text(format!("verdict: {}", v.status.label()));
        ui.label(RichText::new(origin).small().weak())
            .on_hover_text(hover);
    });
    ui.label(&v.summary);
    egui::CollapsingHeader::new(format!("Checks ({})", v.checks.len()))
        .id_salt("experiment-checks")
        // Open where the window leaves room for the figure below them.
        .default_open(ui.ctx().content_rect().height() >= 800.0)
        .show(ui, |ui| {
            for c in &v.checks {
                ui.horizontal_wrapped(|ui| {
                    let (mark, color) = if c.holds {
                        ("✔", status_color(VerdictStatus::Holds))
                    } else {
                        ("✖", status_color(VerdictStatus::DoesNotHold))
                    };
                    ui.colored_label(color, mark);
                    ui.label(&c.statement);
                    ui.label(RichText::new(format!("— {}", c.measured)).weak());
                });
            }
        });
}

/// The settings a result was computed with, one per line.
fn settings_text(r: &crate::experiment::ExperimentResult) -> String {
    r.settings
        .values
        .iter()
        .map(|(k, v)| match v {
            crate::experiment::SettingValue::Number(n) => format!("{k} = {n}"),
            crate::experiment::SettingValue::Text(t) => format!("{k} = {t}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn figures(ui: &mut Ui, shown: &Shown, view: &mut ExpView, stale: bool) {
    if shown.figures.is_empty() {
        return;
    }
    let name = shown.result.experiment.clone();
    let mut k = view.figure.get(&name).copied().unwrap_or(0);
    k = k.min(shown.figures.len() - 1);
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new("Figure").strong());
        for (i, f) in shown.figures.iter().enumerate() {
            if ui
                .selectable_label(i == k, &f.name)
                .on_hover_text(&f.title)
                .clicked()
            {
                k = i;
            }
        }
    });
    view.figure.insert(name, k);
    let height = (ui.ctx().content_rect().height() * 0.55).clamp(260.0, 640.0);
    shown.figures[k].ui(ui, height, stale);
}

fn tables(ui: &mut Ui, shown: &Shown, view: &mut ExpView) {
    if shown.result.tables.is_empty() {
        return;
    }
    let name = shown.result.experiment.clone();
    let mut k = view.table.get(&name).copied().unwrap_or(0);
    k = k.min(shown.result.tables.len() - 1);
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new("Table").strong());
        for (i, t) in shown.result.tables.iter().enumerate() {
            if ui.selectable_label(i == k, &t.name).clicked() {
                k = i;
            }
        }
    });
    view.table.insert(name, k);
    table(ui, &shown.result.tables[k]);
}

/// A cell as text: numbers to four decimals, small and large ones in scientific notation
/// (integers as they are).
fn cell_text(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) if f != 0.0 && (f.abs() < 1e-2 || f.abs() >= 1e5) => short_sci(f),
            (None, Some(f)) => format!("{}", (f * 1e4).round() / 1e4),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn table(ui: &mut Ui, t: &Table) {
    egui::ScrollArea::horizontal()
        .id_salt(("experiment-table", &t.name))
        .show(ui, |ui| {
            egui::Grid::new(("experiment-table-grid", &t.name))
                .striped(true)
                .spacing([14.0, 3.0])
                .show(ui, |ui| {
                    for c in &t.columns {
                        ui.label(RichText::new(c).strong());
                    }
                    ui.end_row();
                    for row in t.rows.iter().take(SHOWN_ROWS) {
                        for v in row {
                            ui.label(RichText::new(cell_text(v)).monospace());
                        }
                        ui.end_row();
                    }
                });
        });
    if t.rows.len() > SHOWN_ROWS {
        ui.label(
            RichText::new(format!(
                "… {} more rows in the CSV export",
                t.rows.len() - SHOWN_ROWS
            ))
            .weak(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_read_as_numbers_to_four_decimals_or_scientific() {
        assert_eq!(cell_text(&Value::from(42)), "42");
        assert_eq!(cell_text(&Value::from(0.123456)), "0.1235");
        assert_eq!(cell_text(&Value::from(1.5e-7)), "1.5e-7");
        assert_eq!(cell_text(&Value::Null), "—");
        assert_eq!(cell_text(&Value::from(true)), "yes");
    }
}
