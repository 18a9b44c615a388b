//! The left panel: every experiment of the registry (those not implemented yet greyed, with
//! what they need), then the settings of the one on screen — the quick and full presets and a
//! field per control.

use egui::{RichText, Ui};

use super::{ExpAction, Experiments};
use crate::experiment::{
    Availability, ControlKind, ExperimentSpec, Preset, REGISTRY, SettingValue,
};

/// The panel. Reads the room; pushes actions.
pub fn ui(ui: &mut Ui, room: &Experiments, actions: &mut Vec<ExpAction>) {
    ui.label(RichText::new("The papers' claims, measured").strong());
    ui.add_space(4.0);
    for spec in REGISTRY {
        entry(ui, room, spec, actions);
    }
    ui.separator();
    settings(ui, room, room.setup.spec(), actions);
}

fn entry(
    ui: &mut Ui,
    room: &Experiments,
    spec: &'static ExperimentSpec,
    actions: &mut Vec<ExpAction>,
) {
    let selected = room.setup.selected == spec.name;
    let running = room.job.as_ref().is_some_and(|j| j.name == spec.name);
    let badge = room
        .results
        .get(spec.name)
        .and_then(|s| s.result.verdict.as_ref())
        .map(|v| super::view::status_mark(v.status));
    let mut text = RichText::new(spec.name);
    let response = match spec.availability {
        Availability::Implemented => {
            let label = match (running, badge) {
                (true, _) => format!("{} ⏳", spec.name),
                (false, Some(mark)) => format!("{} {mark}", spec.name),
                (false, None) => spec.name.to_string(),
            };
            text = RichText::new(label);
            ui.selectable_label(selected, text)
                .on_hover_text(format!("{} — {}\n{}", spec.paper, spec.section, spec.claim))
        }
        Availability::NotYet { needs } => ui
            .selectable_label(selected, text.weak().italics())
            .on_hover_text(format!("not implemented yet: needs {needs}")),
    };
    if response.clicked() && !selected {
        actions.push(ExpAction::Select(spec.name.to_string()));
    }
}

/// The text a control's field shows for `value`.
fn value_text(value: Option<&SettingValue>) -> String {
    match value {
        Some(SettingValue::Number(v)) => format!("{v}"),
        Some(SettingValue::Text(t)) => t.clone(),
        None => String::new(),
    }
}

fn settings(
    ui: &mut Ui,
    room: &Experiments,
    spec: &'static ExperimentSpec,
    actions: &mut Vec<ExpAction>,
) {
    if let Availability::NotYet { needs } = spec.availability {
        ui.label(RichText::new("Not implemented yet").strong());
        ui.label(format!("needs {needs}"));
        return;
    }
    let current = room.setup.settings_of(spec);
    ui.label(RichText::new("Settings").strong());
    ui.horizontal(|ui| {
        let quick = spec.settings(Preset::Quick);
        let full = spec.settings(Preset::Full);
        if ui
            .selectable_label(current == quick, "Quick")
            .on_hover_text("the quick setting: under a minute or two on a laptop CPU")
            .clicked()
        {
            actions.push(ExpAction::Preset(Preset::Quick));
        }
        if ui
            .selectable_label(current == full, "Full")
            .on_hover_text(format!("the full setting (takes {})", spec.full_runtime))
            .clicked()
        {
            actions.push(ExpAction::Preset(Preset::Full));
        }
    });
    egui::Grid::new(("experiment-controls", spec.name))
        .num_columns(2)
        .spacing([8.0, 4.0])
        .show(ui, |ui| {
            for control in spec.controls {
                let id = format!("{}/{}", spec.name, control.key);
                let range = match control.kind {
                    ControlKind::Number { min, max, .. } => format!("in [{min}, {max}]"),
                    ControlKind::Integer { min, max, .. } => format!("integer in [{min}, {max}]"),
                    ControlKind::Numbers { .. } => "comma-separated positive numbers".into(),
                };
                ui.label(control.label).on_hover_text(format!(
                    "{} ({range}; --set {}=…)",
                    control.help, control.key
                ));
                let mut text = room
                    .view
                    .texts
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| value_text(current.values.get(control.key)));
                let edit = ui
                    .add(egui::TextEdit::singleline(&mut text).desired_width(120.0))
                    .accessible_name(control.label);
                if edit.changed() || edit.lost_focus() {
                    actions.push(ExpAction::Set {
                        key: control.key.to_string(),
                        text,
                    });
                }
                ui.end_row();
                if let Some(e) = room.view.errors.get(&id) {
                    ui.label("");
                    ui.colored_label(ui.visuals().error_fg_color, e);
                    ui.end_row();
                }
            }
        });
    ui.label(
        RichText::new(format!("full setting: {}", spec.full_runtime))
            .small()
            .weak(),
    );
}
