//! The comparison table: one row per method, sortable by any column, the best value starred.

use egui::{Color32, RichText, Ui};

use super::super::{MethodView, TrainingView, TrainingWorkspace};
use crate::train::record::MethodStatus;

/// A table column: header, hover text, value of a method, lower-is-better.
struct Column {
    name: &'static str,
    help: &'static str,
    value: fn(&MethodView) -> Option<f64>,
    lower_better: bool,
}

fn per_iter(m: &MethodView, f: impl Fn(&crate::train::record::IterRecord) -> f64) -> Option<f64> {
    m.mean(f)
}

const COLUMNS: &[Column] = &[
    Column {
        name: "loss",
        help: "latest batch loss",
        value: |m| m.records.last().map(|r| r.loss),
        lower_better: true,
    },
    Column {
        name: "eval",
        help: "latest evaluation loss (density tasks: the test NLL in nats)",
        value: |m| m.evals.last().map(|e| e.loss),
        lower_better: true,
    },
    Column {
        name: "acc %",
        help: "latest test accuracy (classification)",
        value: |m| m.evals.last().and_then(|e| e.accuracy).map(|a| 100.0 * a),
        lower_better: false,
    },
    Column {
        name: "ms/it",
        help: "mean wall time of an iteration (gradient + update)",
        value: |m| per_iter(m, |r| r.ms),
        lower_better: true,
    },
    Column {
        name: "grad ms",
        help: "mean wall time of the gradient alone",
        value: |m| per_iter(m, |r| r.grad_ms),
        lower_better: true,
    },
    Column {
        name: "NFE fwd",
        help: "f-evaluations of the forward pass per iteration",
        value: |m| per_iter(m, |r| r.nfe_forward as f64),
        lower_better: true,
    },
    Column {
        name: "NFE bwd",
        help: "evaluations of the backward pass per iteration",
        value: |m| per_iter(m, |r| r.nfe_backward as f64),
        lower_better: true,
    },
    Column {
        name: "steps",
        help: "accepted steps per iteration",
        value: |m| per_iter(m, |r| r.steps_accepted as f64),
        lower_better: true,
    },
    Column {
        name: "rejected",
        help: "rejected steps per iteration",
        value: |m| per_iter(m, |r| r.steps_rejected as f64),
        lower_better: true,
    },
    Column {
        name: "stored KiB",
        help: "bytes the method keeps for its backward pass",
        value: |m| {
            m.records
                .iter()
                .map(|r| r.stored_bytes)
                .max()
                .map(|b| b as f64 / 1024.0)
        },
        lower_better: true,
    },
    Column {
        name: "peak KiB",
        help: "heap high-water mark while a gradient ran (in the app this includes what the UI \
               thread allocated meanwhile; `nodelab train` measures the gradient alone)",
        value: |m| {
            m.records
                .iter()
                .map(|r| r.peak_heap_bytes)
                .max()
                .map(|b| b as f64 / 1024.0)
        },
        lower_better: true,
    },
    Column {
        name: "grad err",
        help: "latest relative error against the reference gradient",
        value: |m| m.checks.last().map(|c| c.err),
        lower_better: true,
    },
];

fn fmt(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if !v.is_finite() => format!("{v}"),
        Some(v) if v != 0.0 && (v.abs() < 1e-2 || v.abs() >= 1e5) => format!("{v:.2e}"),
        Some(v) if v.fract() == 0.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.3}"),
    }
}

/// The comparison table: sortable by any column, the best value of each column starred.
pub fn ui(ui: &mut Ui, ws: &TrainingWorkspace, view: &mut TrainingView) {
    ui.strong("comparison (click a header to sort; ★ best)");
    let best: Vec<Option<f64>> = COLUMNS
        .iter()
        .map(|c| {
            let vals = ws
                .methods
                .iter()
                .filter_map(|m| (c.value)(m))
                .filter(|v| v.is_finite());
            if c.lower_better {
                vals.reduce(f64::min)
            } else {
                vals.reduce(f64::max)
            }
        })
        .collect();
    let mut order: Vec<usize> = (0..ws.methods.len()).collect();
    let (col, asc) = view.sort;
    if col > 0 {
        let c = &COLUMNS[col - 1];
        order.sort_by(|&a, &b| {
            let va = (c.value)(&ws.methods[a]).unwrap_or(f64::INFINITY);
            let vb = (c.value)(&ws.methods[b]).unwrap_or(f64::INFINITY);
            va.total_cmp(&vb)
        });
        if !asc {
            order.reverse();
        }
    }
    egui::ScrollArea::horizontal()
        .id_salt("train-table")
        .show(ui, |ui| {
            egui::Grid::new("train-table-grid")
                .striped(true)
                .num_columns(COLUMNS.len() + 2)
                .show(ui, |ui| {
                    if ui.button("method").clicked() {
                        view.sort = (0, true);
                    }
                    ui.label("status");
                    for (k, c) in COLUMNS.iter().enumerate() {
                        let arrow = match view.sort {
                            (s, true) if s == k + 1 => " ⏶",
                            (s, false) if s == k + 1 => " ⏷",
                            _ => "",
                        };
                        if ui
                            .button(format!("{}{arrow}", c.name))
                            .on_hover_text(c.help)
                            .clicked()
                        {
                            view.sort = if view.sort.0 == k + 1 {
                                (k + 1, !view.sort.1)
                            } else {
                                (k + 1, true)
                            };
                        }
                    }
                    ui.end_row();
                    for &i in &order {
                        let m = &ws.methods[i];
                        ui.label(
                            RichText::new(m.method.name())
                                .color(super::colour(i))
                                .strong(),
                        );
                        match &m.status {
                            MethodStatus::Diverged { iter, reason }
                            | MethodStatus::Failed { iter, reason } => {
                                ui.label(
                                    RichText::new(format!("{} at {iter}", m.status.name()))
                                        .color(Color32::from_rgb(220, 50, 47)),
                                )
                                .on_hover_text(reason);
                            }
                            s => {
                                ui.label(s.name());
                            }
                        }
                        for (k, c) in COLUMNS.iter().enumerate() {
                            let v = (c.value)(m);
                            let is_best = ws.methods.len() > 1
                                && v.is_some_and(|v| best[k].is_some_and(|b| v == b));
                            let text = format!("{}{}", fmt(v), if is_best { " ★" } else { "" });
                            if is_best {
                                ui.label(RichText::new(text).strong());
                            } else {
                                ui.label(text);
                            }
                        }
                        ui.end_row();
                    }
                });
        });
}
