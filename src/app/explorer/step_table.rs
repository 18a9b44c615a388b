//! Bottom panel: the attempted steps of the focus run, sortable, scrolling to the selection.

use egui_extras::{Column, TableBuilder};

use crate::app::explorer::command::Command;
use crate::app::explorer::model::RunData;
use crate::app::explorer::state::{SortColumn, StepRef, ViewState};
use crate::app::theme::{REJECTED, c32};

/// The row order for a sort, cached while the data and the sort stay the same.
#[derive(Clone, Debug, Default)]
pub struct TableOrder {
    key: Option<(u64, usize, SortColumn, bool)>,
    pub rows: Vec<u32>,
}

impl TableOrder {
    fn update(&mut self, run: &RunData, shown: usize, sort: (SortColumn, bool)) {
        let shown = shown.min(run.records.len());
        let key = (run.generation, shown, sort.0, sort.1);
        if self.key == Some(key) {
            return;
        }
        let recs = &run.records;
        let mut rows: Vec<u32> = (0..shown as u32).collect();
        let f = |i: &u32| -> f64 {
            let r = &recs[*i as usize];
            match sort.0 {
                SortColumn::Index => *i as f64,
                SortColumn::T => r.t,
                SortColumn::H => r.h,
                SortColumn::Err => r.err.unwrap_or(f64::NEG_INFINITY),
                SortColumn::Accepted => f64::from(u8::from(r.accepted)),
                SortColumn::Nfev => r.nfev as f64,
            }
        };
        if sort.0 != SortColumn::Index {
            rows.sort_by(|a, b| f(a).total_cmp(&f(b)).then(a.cmp(b)));
        }
        if !sort.1 {
            rows.reverse();
        }
        self.rows = rows;
        self.key = Some(key);
    }
}

/// A table cell that lets clicks through to the row (selectable text would take them).
fn cell(ui: &mut egui::Ui, text: impl Into<egui::WidgetText>) {
    ui.add(egui::Label::new(text).selectable(false));
}

fn mono(text: String) -> egui::RichText {
    egui::RichText::new(text).monospace()
}

/// Numbers as the inspector shows them (one format across the app).
fn num(v: f64) -> String {
    crate::app::explorer::inspector::num(v)
}

pub fn ui(
    ui: &mut egui::Ui,
    runs: &[RunData],
    view: &mut ViewState,
    order: &mut TableOrder,
    commands: &mut Vec<Command>,
) {
    let Some(run) = runs.get(view.table_run) else {
        ui.weak("No steps yet.");
        return;
    };
    order.update(run, view.playback.shown, view.sort);
    ui.horizontal(|ui| {
        ui.strong("Steps");
        ui.label(format!(
            "of {} — {} attempts shown",
            run.label(),
            order.rows.len()
        ));
    });
    let selected_row = view
        .selected
        .filter(|s| s.run == view.table_run)
        .and_then(|s| order.rows.iter().position(|&r| r as usize == s.record));
    // Narrow windows scroll the table sideways rather than cutting the state column.
    egui::ScrollArea::horizontal().show(ui, |ui| {
        let mut table = TableBuilder::new(ui)
            .id_salt("step-table")
            .striped(true)
            .sense(egui::Sense::click())
            .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
            .column(Column::exact(40.0))
            .columns(Column::exact(76.0), 3)
            .column(Column::exact(72.0))
            .column(Column::exact(44.0))
            .column(Column::auto().at_least(180.0))
            .auto_shrink([false, false])
            .min_scrolled_height(0.0)
            .max_scroll_height(f32::INFINITY);
        if view.scroll_to_selection
            && let Some(row) = selected_row
        {
            table = table.scroll_to_row(row, Some(egui::Align::Center));
        }
        view.scroll_to_selection = false;
        let d = run.problem.as_ref().map_or(0, |p| p.dim());
        let columns = [
            ("#", SortColumn::Index),
            ("t", SortColumn::T),
            ("h", SortColumn::H),
            ("err", SortColumn::Err),
            ("accepted", SortColumn::Accepted),
            ("nfev", SortColumn::Nfev),
        ];
        table
            .header(20.0, |mut header| {
                for (name, col) in columns {
                    header.col(|ui| {
                        let arrow = if view.sort.0 == col {
                            if view.sort.1 { " ⏶" } else { " ⏷" }
                        } else {
                            ""
                        };
                        if ui
                            .button(egui::RichText::new(format!("{name}{arrow}")).strong())
                            .clicked()
                        {
                            view.sort = if view.sort.0 == col {
                                (col, !view.sort.1)
                            } else {
                                (col, true)
                            };
                        }
                    });
                }
                header.col(|ui| {
                    let names = run
                        .problem
                        .as_ref()
                        .map(|p| p.components.iter().take(3).cloned().collect::<Vec<_>>())
                        .unwrap_or_default();
                    let more = if d > 3 { ", …" } else { "" };
                    ui.strong(format!("{}{more}", names.join(", ")));
                });
            })
            .body(|body| {
                body.rows(18.0, order.rows.len(), |mut row| {
                    let i = order.rows[row.index()] as usize;
                    let r = &run.records[i];
                    let this = StepRef {
                        run: view.table_run,
                        record: i,
                    };
                    row.set_selected(view.selected == Some(this));
                    row.set_hovered(view.hovered == Some(this));
                    row.col(|ui| cell(ui, i.to_string()));
                    row.col(|ui| cell(ui, mono(num(r.t))));
                    row.col(|ui| cell(ui, mono(num(r.h))));
                    row.col(|ui| cell(ui, mono(r.err.map_or("—".into(), num))));
                    row.col(|ui| {
                        if r.accepted {
                            cell(ui, "yes");
                        } else {
                            cell(ui, egui::RichText::new("no").color(c32(REJECTED)));
                        }
                    });
                    row.col(|ui| cell(ui, mono(r.nfev.to_string())));
                    row.col(|ui| {
                        let ys: Vec<String> = r.y.iter().take(3).map(|v| num(*v)).collect();
                        cell(ui, mono(ys.join(", ")));
                    });
                    let resp = row.response();
                    if resp.clicked() {
                        commands.push(Command::Select(Some(this)));
                    }
                    if resp.hovered() {
                        view.hovered_next = Some(this);
                    }
                });
            });
    });
}
