//! Left panel, top: the vector field — a built-in problem (grouped, formula and parameters), a
//! custom system typed as formulas (errors shown inline as the user types), or a neural vector
//! field from a weights file.

use crate::preset::ProblemKind;
use crate::problem::builtin::{self, BUILTINS};
use crate::problem::formula::{FormulaSpec, FormulaSystem};

use crate::app::explorer::command::Command;
use crate::app::explorer::session::{BuiltinDraft, CustomDraft, Session};

/// The custom draft's parse result, recomputed only when the draft changes.
#[derive(Clone, Debug, Default)]
pub struct CustomCheck {
    checked: Option<CustomDraft>,
    /// Error per equation (by component) and for the system as a whole.
    pub per_equation: Vec<Option<String>>,
    pub general: Option<String>,
}

impl CustomCheck {
    /// Re-parses the formulas when the draft changed (parsing is microseconds; nothing is
    /// evaluated here).
    pub fn update(&mut self, draft: &CustomDraft) {
        if self.checked.as_ref() == Some(draft) {
            return;
        }
        self.per_equation = vec![None; draft.equations.len()];
        self.general = None;
        let spec = FormulaSpec {
            variables: draft.variables.clone(),
            expressions: draft.equations.clone(),
            params: draft.params.clone(),
        };
        if let Err(e) = FormulaSystem::new(spec) {
            match e.component {
                Some(c) if c < self.per_equation.len() => {
                    let msg = match e.column() {
                        Some(col) => format!("column {col}: {}", e.message),
                        None => e.message.clone(),
                    };
                    self.per_equation[c] = Some(msg);
                }
                _ => self.general = Some(e.message.clone()),
            }
        }
        if draft.y0.len() != draft.variables.len() && self.general.is_none() {
            self.general = Some(format!(
                "{} variables but {} initial values",
                draft.variables.len(),
                draft.y0.len()
            ));
        }
        self.checked = Some(draft.clone());
    }

    pub fn is_ok(&self) -> bool {
        self.general.is_none() && self.per_equation.iter().all(Option::is_none)
    }
}

/// A number field that shows and accepts scientific notation.
pub fn sci_field(ui: &mut egui::Ui, value: &mut f64, name: &str) -> egui::Response {
    ui.add(
        egui::DragValue::new(value)
            .speed(0.0)
            .custom_formatter(|v, _| format_num(v))
            .custom_parser(|s| s.trim().parse::<f64>().ok()),
    )
    .accessible_name(name)
}

/// A number field dragged linearly.
pub fn num_field(ui: &mut egui::Ui, value: &mut f64, name: &str) -> egui::Response {
    let speed = (value.abs() * 0.01).max(0.01);
    ui.add(
        egui::DragValue::new(value)
            .speed(speed)
            .custom_formatter(|v, _| format_num(v))
            .custom_parser(|s| s.trim().parse::<f64>().ok()),
    )
    .accessible_name(name)
}

/// Help texts written for a terminal, made readable in the UI: TeX-style exponent groups
/// `^{3/2}` become `^(3/2)` and code quotes (backticks) are dropped.
pub fn pretty(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '`' => {}
            '^' if chars.peek() == Some(&'{') => {
                chars.next();
                depth += 1;
                out.push_str("^(");
            }
            '}' if depth > 0 => {
                depth -= 1;
                out.push(')');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Shortest readable form of a number (`0.1`, `1e-6`, `2.5`).
pub fn format_num(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e5) {
        format!("{v:e}")
    } else {
        let s = format!("{v:.6}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s.is_empty() || s == "-" {
            "0".into()
        } else {
            s.to_string()
        }
    }
}

/// The panel reads the session and edits a copy of it; a changed copy becomes one
/// [`Command::Edit`] (applied, with undo, in one place by the shell).
pub fn ui(ui: &mut egui::Ui, current: &Session, check: &CustomCheck, commands: &mut Vec<Command>) {
    let mut draft = current.clone();
    edit_ui(ui, &mut draft, check, commands);
    if draft != *current {
        commands.push(Command::Edit(Box::new(draft)));
    }
}

fn edit_ui(
    ui: &mut egui::Ui,
    session: &mut Session,
    check: &CustomCheck,
    commands: &mut Vec<Command>,
) {
    ui.heading("Vector field");
    if !session.description.is_empty() {
        ui.add(egui::Label::new(egui::RichText::new(pretty(&session.description)).weak()).wrap());
    }
    let before = (session.kind, session.builtin.name.clone());
    ui.horizontal(|ui| {
        ui.selectable_value(&mut session.kind, ProblemKind::Builtin, "Built-in");
        ui.selectable_value(&mut session.kind, ProblemKind::Custom, "Formulas");
        ui.selectable_value(&mut session.kind, ProblemKind::Neural, "Neural");
    });
    ui.add_space(4.0);
    match session.kind {
        ProblemKind::Builtin => builtin_ui(ui, &mut session.builtin),
        ProblemKind::Custom => custom_ui(ui, &mut session.custom, check),
        ProblemKind::Neural => neural_ui(ui, session, commands),
    }
    // A preset's description speaks of its own problem: another problem chosen here drops it.
    if (session.kind, session.builtin.name.as_str()) != (before.0, before.1.as_str()) {
        session.description.clear();
    }
}

fn builtin_ui(ui: &mut egui::Ui, draft: &mut BuiltinDraft) {
    let mut chosen = draft.name.clone();
    egui::ComboBox::from_id_salt("builtin-problem")
        .selected_text(chosen.clone())
        .width(ui.available_width() - 8.0)
        .show_ui(ui, |ui| {
            let mut group = "";
            for info in BUILTINS {
                if info.group != group {
                    group = info.group;
                    ui.add_space(2.0);
                    ui.label(egui::RichText::new(group).small().strong());
                }
                ui.selectable_value(&mut chosen, info.name.to_string(), info.name)
                    .on_hover_text(pretty(info.description));
            }
        })
        .response
        .accessible_name("problem");
    if chosen != draft.name {
        *draft = BuiltinDraft::defaults(&chosen);
    }
    let Some(info) = builtin::info(&draft.name) else {
        return;
    };
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_width(ui.available_width());
        for line in info.formula {
            ui.label(egui::RichText::new(pretty(line)).italics().size(14.0));
        }
        ui.label(egui::RichText::new(pretty(info.source)).small().weak());
    });
    if !info.params.is_empty() {
        egui::Grid::new("builtin-params")
            .num_columns(3)
            .spacing([8.0, 4.0])
            .show(ui, |ui| {
                for (name, _, meaning) in info.params {
                    if let Some(v) = draft.params.get_mut(*name) {
                        ui.label(*name).on_hover_text(*meaning);
                        num_field(ui, v, name);
                        // Cut to the panel's width (the whole text on hover).
                        ui.add(
                            egui::Label::new(egui::RichText::new(*meaning).small().weak())
                                .truncate(),
                        );
                        ui.end_row();
                    }
                }
            });
    }
    state_ui(ui, info.components, &mut draft.y0, &mut draft.t_span);
}

/// y0 per component and the time span.
fn state_ui<S: AsRef<str>>(
    ui: &mut egui::Ui,
    components: &[S],
    y0: &mut [f64],
    t_span: &mut [f64; 2],
) {
    egui::Grid::new(ui.next_auto_id())
        .num_columns(2)
        .spacing([8.0, 4.0])
        .show(ui, |ui| {
            ui.label("y0");
            ui.horizontal_wrapped(|ui| {
                for (c, v) in y0.iter_mut().enumerate() {
                    let name = components.get(c).map_or("?", |s| s.as_ref());
                    ui.label(egui::RichText::new(format!("{name}:")).weak());
                    num_field(ui, v, &format!("{name}(t0)"));
                }
            });
            ui.end_row();
            ui.label("t span");
            ui.horizontal(|ui| {
                num_field(ui, &mut t_span[0], "t0");
                ui.label("…");
                num_field(ui, &mut t_span[1], "t_end");
            });
            ui.end_row();
        });
}

fn custom_ui(ui: &mut egui::Ui, draft: &mut CustomDraft, check: &CustomCheck) {
    ui.label(
        egui::RichText::new(
            "One right-hand side per variable; t, parameters, sin, exp, … allowed.",
        )
        .small()
        .weak(),
    );
    let mut remove = None;
    let n = draft.variables.len().min(draft.equations.len());
    for i in 0..n {
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut draft.variables[i])
                    .desired_width(48.0)
                    .hint_text("var"),
            );
            ui.label("' =");
            let err = check.per_equation.get(i).cloned().flatten();
            // The remove button first, from the right, and the formula takes what is left: a
            // width computed from `available_width()` before the button would overflow the
            // panel, and a resizable panel grows with its contents frame after frame.
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if n > 1
                    && ui
                        .small_button("✖")
                        .on_hover_text("remove this variable")
                        .clicked()
                {
                    remove = Some(i);
                }
                let mut edit = egui::TextEdit::singleline(&mut draft.equations[i])
                    .font(egui::TextStyle::Monospace)
                    .hint_text("right-hand side")
                    .desired_width(ui.available_width().max(40.0));
                if err.is_some() {
                    edit = edit.text_color(ui.visuals().error_fg_color);
                }
                ui.add(edit)
                    .accessible_name(format!("{}'", draft.variables[i]));
            });
        });
        if let Some(e) = check.per_equation.get(i).cloned().flatten() {
            ui.colored_label(ui.visuals().error_fg_color, format!("⚠ {e}"));
        }
    }
    if let Some(i) = remove {
        draft.variables.remove(i);
        draft.equations.remove(i);
        if i < draft.y0.len() {
            draft.y0.remove(i);
        }
    }
    if ui.small_button("+ variable").clicked() {
        draft.variables.push(format!("y{}", draft.variables.len()));
        draft.equations.push("0".into());
        draft.y0.push(0.0);
    }
    if let Some(e) = &check.general {
        ui.colored_label(ui.visuals().error_fg_color, format!("⚠ {e}"));
    }
    ui.label("Parameters");
    let mut remove = None;
    for (i, (name, value)) in draft.params.iter_mut().enumerate() {
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(name)
                    .desired_width(60.0)
                    .hint_text("name"),
            );
            ui.label("=");
            let label = format!("value of {name}");
            num_field(ui, value, &label);
            if ui
                .small_button("✖")
                .on_hover_text("remove this parameter")
                .clicked()
            {
                remove = Some(i);
            }
        });
    }
    if let Some(i) = remove {
        draft.params.remove(i);
    }
    if ui.small_button("+ parameter").clicked() {
        draft.params.push((format!("p{}", draft.params.len()), 1.0));
    }
    draft.y0.resize(draft.variables.len(), 0.0);
    let names = draft.variables.clone();
    state_ui(ui, &names, &mut draft.y0, &mut draft.t_span);
}

fn neural_ui(ui: &mut egui::Ui, session: &mut Session, commands: &mut Vec<Command>) {
    let draft = &mut session.neural;
    ui.label("f(t, y) = MLP(y) from a weights file (JSON, as written by nodelab grad).");
    ui.horizontal(|ui| {
        if ui.button("Load weights…").clicked() {
            commands.push(Command::PickWeights);
        }
        ui.weak("or drop a .json file on the window");
    });
    match &draft.weights {
        Some(p) => {
            ui.label(
                egui::RichText::new(p.display().to_string())
                    .monospace()
                    .small(),
            );
        }
        None => {
            ui.colored_label(ui.visuals().warn_fg_color, "no weights file loaded");
        }
    }
    // The network's components are called y1, y2, … in the plots too.
    let names: Vec<String> = (1..=draft.y0.len()).map(|i| format!("y{i}")).collect();
    state_ui(ui, &names, &mut draft.y0, &mut draft.t_span);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_texts_show_no_tex_groups_or_backticks() {
        assert_eq!(
            pretty("v' = -2v/t - (x^2-C)^{3/2}, see `nodelab presets`"),
            "v' = -2v/t - (x^2-C)^(3/2), see nodelab presets"
        );
        assert_eq!(pretty("e^{−(t−3)(t−7)}"), "e^(−(t−3)(t−7))");
        for info in BUILTINS {
            for text in [info.description, info.source]
                .into_iter()
                .chain(info.formula.iter().copied())
            {
                let p = pretty(text);
                assert!(!p.contains("^{") && !p.contains('`'), "{}: {p}", info.name);
            }
        }
    }
}
