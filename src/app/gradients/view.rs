//! The Gradients room's centre: bars (log) of every measured quantity per method and the
//! table of `nodelab grad`; the memory scaling against the step count with the theory slopes;
//! the per-parameter scatter of two gradients with the diagonal. One colour per method, the
//! same in every plot and in the exports. The centre reads the result and changes only its view
//! settings ([`Centre`]); exports are actions.

use egui::{Color32, RichText, Ui};
use egui_plot::{Bar, BarChart, Legend, Line, LineStyle, Plot, Points};

use super::figures::{self, method_color, theory};
use super::{GradAction, GradResult, GradTab, GradView, Metric};
use crate::app::charts::axes::{decade_spacer, log_formatter};
use crate::app::theme::{c32, run_color};

fn colour(i: usize) -> Color32 {
    c32(run_color(i))
}

/// What the centre may change: its view settings, the export file name and the inline error;
/// what it asks for goes to `actions`.
pub struct Centre<'a> {
    pub view: &'a mut GradView,
    pub export_path: &'a mut String,
    pub error: &'a mut Option<String>,
    pub actions: &'a mut Vec<GradAction>,
}

/// The whole centre.
pub fn ui(ui: &mut Ui, result: Option<&GradResult>, c: &mut Centre<'_>) {
    let Some(result) = result else {
        ui.heading("Compare gradient methods on one neural ODE");
        ui.label(
            "Choose the field and loss and the gradient methods on the left, then press \
             ▶ Compute gradients. Each method computes dL/dθ once (timed over repeats); the \
             result is compared with the continuous gradient (a tight dopri5 solve of the \
             sensitivities, checked by finite differences) and with the exact derivative of \
             the method's own discrete forward map — side by side with its time, memory and \
             function evaluations.",
        );
        return;
    };
    ui.horizontal_wrapped(|ui| {
        ui.selectable_value(&mut c.view.tab, GradTab::Comparison, "Comparison");
        ui.selectable_value(&mut c.view.tab, GradTab::Scaling, "Memory scaling");
        ui.selectable_value(&mut c.view.tab, GradTab::PerParameter, "Per parameter");
        ui.separator();
        export_buttons(ui, c, result);
    });
    ui.label(RichText::new(result.header.trim_end()).small());
    if let Some(e) = &*c.error {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
    ui.separator();
    egui::ScrollArea::vertical()
        .id_salt("grad-centre")
        .show(ui, |ui| match c.view.tab {
            GradTab::Comparison => {
                legend(ui, result);
                bars(ui, result);
                ui.separator();
                table(ui, result);
            }
            GradTab::Scaling => scaling(ui, result),
            GradTab::PerParameter => per_parameter(ui, c, result),
        });
}

/// PNG / SVG of the tab's figure (on the comparison tab, of the chosen metric) and its CSV.
fn export_buttons(ui: &mut Ui, c: &mut Centre<'_>, result: &GradResult) {
    if c.view.tab == GradTab::Comparison {
        egui::ComboBox::from_id_salt("grad-export-metric")
            .selected_text(c.view.export_metric.title())
            .show_ui(ui, |ui| {
                for m in Metric::ALL {
                    ui.selectable_value(&mut c.view.export_metric, m, m.title());
                }
            })
            .response
            .accessible_name("exported bar plot")
            .on_hover_text("the bar plot PNG / SVG export");
    }
    ui.add(egui::TextEdit::singleline(c.export_path).desired_width(110.0))
        .accessible_name("export file name")
        .on_hover_text("file name (the extension follows the format)");
    let (a, b) = c.view.scatter;
    let figure = match c.view.tab {
        GradTab::Comparison => Some(figures::bars_figure(result, c.view.export_metric)),
        GradTab::Scaling => (!result.scaling.is_empty()).then(|| figures::scaling_figure(result)),
        GradTab::PerParameter => figures::scatter_figure(result, a, b),
    };
    let stem = std::path::PathBuf::from(c.export_path.trim());
    for ext in ["png", "svg"] {
        if ui
            .add_enabled(figure.is_some(), egui::Button::new(ext.to_uppercase()))
            .clicked()
            && let Some(figure) = figure.clone()
        {
            c.actions.push(GradAction::ExportPlot {
                figure,
                path: stem.with_extension(ext),
            });
        }
    }
    if ui.button("CSV").clicked() {
        let text = match c.view.tab {
            GradTab::Comparison => Some(figures::table_csv(result)),
            GradTab::Scaling => Some(figures::scaling_csv(result)),
            GradTab::PerParameter => figures::scatter_csv(result, a, b),
        };
        match text {
            Some(text) => c.actions.push(GradAction::ExportCsv {
                text,
                path: stem.with_extension("csv"),
            }),
            None => *c.error = Some("choose two gradients to export".into()),
        }
    }
}

/// The methods' colours, in a row.
fn legend(ui: &mut Ui, result: &GradResult) {
    ui.horizontal_wrapped(|ui| {
        for (i, r) in result.comparison.methods.iter().enumerate() {
            ui.label(RichText::new(format!("■ {}", r.method.name())).color(colour(i)));
        }
    });
}

/// Log-scale values of `metric`, one bar per method (two for NFE: forward, backward).
fn bar_plot(ui: &mut Ui, result: &GradResult, metric: Metric, width: f32) {
    ui.vertical(|ui| {
        ui.set_width(width);
        ui.label(
            RichText::new(format!("{} (log)", metric.title()))
                .small()
                .strong(),
        );
        // Every bar of the plot starts a decade under the smallest value, so heights compare.
        let base = result
            .comparison
            .methods
            .iter()
            .filter(|r| r.error.is_none())
            .flat_map(|r| metric.values(r))
            .filter(|v| v.is_finite() && *v > 0.0)
            .map(f64::log10)
            .fold(f64::INFINITY, f64::min)
            .floor()
            - 1.0;
        let mut charts = Vec::new();
        for (i, r) in result.comparison.methods.iter().enumerate() {
            if r.error.is_some() {
                continue;
            }
            let vals = metric.values(r);
            let k = vals.len() as f64;
            let bars: Vec<Bar> = vals
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite() && **v > 0.0)
                .map(|(j, v)| {
                    let x = i as f64 + (j as f64 - (k - 1.0) / 2.0) * 0.4;
                    Bar::new(x, v.log10() - base)
                        .base_offset(base)
                        .width(if k > 1.0 { 0.35 } else { 0.7 })
                        .fill(if j == 0 {
                            colour(i)
                        } else {
                            colour(i).gamma_multiply(0.55)
                        })
                        .name(format!("{} {v:.3e}", r.method.name()))
                })
                .collect();
            charts.push(BarChart::new(r.method.name(), bars).color(colour(i)));
        }
        Plot::new(("grad-bars", metric.title()))
            .height(130.0)
            .width(width)
            .allow_drag(false)
            .allow_zoom(false)
            .allow_scroll(false)
            .show_x(false)
            .y_axis_formatter(log_formatter)
            .y_grid_spacer(decade_spacer)
            .x_axis_formatter(|_, _| String::new())
            .show(ui, |pui| {
                for c in charts {
                    pui.bar_chart(c);
                }
            });
    });
}

/// The bar plots, as many a row as fit.
fn bars(ui: &mut Ui, result: &GradResult) {
    let avail = ui.available_width();
    let per_row = ((avail / 260.0).floor() as usize).clamp(1, 4);
    let width = (avail / per_row as f32 - 10.0).max(120.0);
    for row in Metric::ALL.chunks(per_row) {
        ui.horizontal(|ui| {
            for &m in row {
                bar_plot(ui, result, m, width);
            }
        });
    }
    ui.weak(
        "NFE: forward (full colour) | backward (pale). Peak heap is the process's heap \
         high-water mark above the start of each call.",
    );
}

fn sci(v: f64) -> String {
    if v.is_nan() {
        "—".into()
    } else {
        format!("{v:.2e}")
    }
}

/// The table of `nodelab grad`, the best value of each column starred.
fn table(ui: &mut Ui, result: &GradResult) {
    let c = &result.comparison;
    ui.strong("comparison (★ best)");
    ui.label(format!(
        "reference: {} | loss {:.10e} | fd check on {} parameters: max rel diff {}",
        c.reference.method,
        c.reference.loss,
        c.reference.fd_checked,
        sci(c.reference.fd_rel_diff)
    ));
    type Col = (&'static str, fn(&crate::grad::measure::MethodRow) -> f64);
    let cols: [Col; 8] = [
        ("err_cont", |r| r.err_vs_continuous),
        ("err_disc", |r| r.err_vs_discrete),
        ("time_ms", |r| r.time_ms),
        ("stored", |r| r.stored_bytes as f64),
        ("peak_heap", |r| r.peak_heap_bytes as f64),
        ("nfe_fwd", |r| r.nfe_forward as f64),
        ("nfe_bwd", |r| r.nfe_backward as f64),
        ("steps", |r| r.steps_accepted as f64),
    ];
    let ok: Vec<_> = c.methods.iter().filter(|r| r.error.is_none()).collect();
    let best: Vec<Option<f64>> = cols
        .iter()
        .map(|(_, f)| {
            ok.iter()
                .map(|r| f(r))
                .filter(|v| v.is_finite())
                .reduce(f64::min)
        })
        .collect();
    egui::ScrollArea::horizontal()
        .id_salt("grad-table")
        .show(ui, |ui| {
            egui::Grid::new("grad-table-grid")
                .striped(true)
                .num_columns(cols.len() + 4)
                .show(ui, |ui| {
                    ui.strong("method");
                    ui.strong("loss");
                    for (name, _) in &cols {
                        ui.strong(*name);
                    }
                    ui.strong("rejected");
                    ui.strong("recon_err");
                    ui.end_row();
                    for (i, r) in c.methods.iter().enumerate() {
                        ui.label(RichText::new(r.method.name()).color(colour(i)).strong());
                        if let Some(e) = &r.error {
                            ui.colored_label(ui.visuals().error_fg_color, format!("failed: {e}"));
                            ui.end_row();
                            continue;
                        }
                        ui.label(format!("{:.10e}", r.loss));
                        for (k, (name, f)) in cols.iter().enumerate() {
                            let v = f(r);
                            let text = match *name {
                                "err_cont" | "err_disc" => sci(v),
                                "time_ms" => format!("{v:.3}"),
                                "stored" | "peak_heap" => crate::report::text::bytes(v as usize),
                                _ => format!("{v:.0}"),
                            };
                            let is_best = ok.len() > 1 && best[k] == Some(v);
                            if is_best {
                                ui.label(RichText::new(format!("{text} ★")).strong());
                            } else {
                                ui.label(text);
                            }
                        }
                        ui.label(r.steps_rejected.to_string());
                        ui.label(r.reconstruction_error.map_or("—".into(), sci));
                        ui.end_row();
                    }
                });
        });
    for r in &c.methods {
        for w in &r.warnings {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!("warning ({}): {w}", r.method),
            );
        }
    }
    if !result.counting {
        ui.weak("peak heap is 0: the counting allocator is not installed in this process");
    }
    egui::CollapsingHeader::new("as `nodelab grad` prints it")
        .id_salt("grad-text-table")
        .show(ui, |ui| {
            let mut text = result.text_table();
            ui.add(
                egui::TextEdit::multiline(&mut text)
                    .font(egui::TextStyle::Monospace)
                    .desired_width(f32::INFINITY)
                    .interactive(true),
            );
        });
}

/// Stored (solid) and peak (dashed) bytes against the steps, log-log, with the theory slopes.
fn scaling(ui: &mut Ui, result: &GradResult) {
    ui.strong("memory scaling: bytes against steps N (fixed-step rk4), log-log");
    if let Some(e) = &result.scaling_error {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
    if result.scaling.is_empty() {
        ui.weak("not measured: tick “memory scaling” on the left and compute again");
        return;
    }
    if figures::methods_of(result).is_empty() {
        ui.weak("none of the chosen methods is in the memory-scaling measurement (fd is not)");
        return;
    }
    ui.weak(
        "solid: stored bytes · dashed: peak heap · dotted: the theory slope through the first \
         point — O(N) backprop, O(K = √N) checkpoint, O(1) adjoints and reversible solvers, \
         O(P·D) forward sensitivities. checkpoint and afge (step control on the state) also \
         keep the accepted step list, 16 bytes per step: with a small state that O(N) term shows",
    );
    let log = |v: f64| (v > 0.0).then(|| v.log10());
    let height = (ui.available_height() - 20.0).max(260.0);
    Plot::new("grad-scaling")
        .height(height)
        .legend(Legend::default().position(egui_plot::Corner::LeftTop))
        .x_axis_formatter(log_formatter)
        .x_grid_spacer(decade_spacer)
        .y_axis_formatter(log_formatter)
        .y_grid_spacer(decade_spacer)
        .x_axis_label("steps N")
        .y_axis_label("bytes")
        .show(ui, |pui| {
            for method in figures::methods_of(result) {
                let color = c32(method_color(result, method));
                let rows: Vec<_> = result
                    .scaling
                    .iter()
                    .filter(|r| r.method == method)
                    .collect();
                let stored: Vec<[f64; 2]> = rows
                    .iter()
                    .filter_map(|r| Some([(r.steps as f64).log10(), log(r.stored_bytes as f64)?]))
                    .collect();
                let peak: Vec<[f64; 2]> = rows
                    .iter()
                    .filter_map(|r| {
                        Some([(r.steps as f64).log10(), log(r.peak_heap_bytes as f64)?])
                    })
                    .collect();
                pui.line(
                    Line::new(method.name(), stored.clone())
                        .color(color)
                        .width(2.0),
                );
                pui.points(Points::new(method.name(), stored).color(color).radius(3.0));
                if !peak.is_empty() {
                    pui.line(
                        Line::new(method.name(), peak)
                            .color(color)
                            .style(LineStyle::dashed_loose())
                            .width(1.5),
                    );
                }
                if let Some([a, b]) = figures::theory_line(&rows) {
                    pui.line(
                        Line::new(
                            format!("{} {}", method.name(), theory(method).0),
                            vec![[a[0].log10(), a[1].log10()], [b[0].log10(), b[1].log10()]],
                        )
                        .color(color.gamma_multiply(0.7))
                        .style(LineStyle::dotted_dense())
                        .width(1.0),
                    );
                }
            }
        });
}

/// The gradients of two chosen methods against each other, with the diagonal.
fn per_parameter(ui: &mut Ui, c: &mut Centre<'_>, result: &GradResult) {
    let names: Vec<String> = std::iter::once("continuous reference".to_string())
        .chain(
            result
                .comparison
                .methods
                .iter()
                .map(|r| r.method.name().to_string()),
        )
        .collect();
    let pick = |ui: &mut Ui, id: &str, label: &str, which: &mut Option<usize>| {
        ui.label(label);
        let current = which.map_or(0, |i| i + 1);
        egui::ComboBox::from_id_salt(id)
            .selected_text(names[current.min(names.len() - 1)].clone())
            .show_ui(ui, |ui| {
                for (k, n) in names.iter().enumerate() {
                    let value = k.checked_sub(1);
                    ui.selectable_value(which, value, n);
                }
            })
            .response
            .accessible_name(format!("{label} gradient"));
    };
    ui.horizontal_wrapped(|ui| {
        pick(ui, "grad-scatter-x", "x:", &mut c.view.scatter.0);
        pick(ui, "grad-scatter-y", "y:", &mut c.view.scatter.1);
    });
    let (a, b) = c.view.scatter;
    let (Some((na, ga)), Some((nb, gb))) =
        (figures::gradient(result, a), figures::gradient(result, b))
    else {
        ui.weak("that method failed: it has no gradient");
        return;
    };
    // Where they differ most, so the eye knows where to look.
    let worst = ga
        .iter()
        .zip(gb)
        .enumerate()
        .map(|(i, (x, y))| (i, (x - y).abs()))
        .max_by(|p, q| p.1.total_cmp(&q.1));
    let rel = crate::grad::rel_l2(gb, ga);
    ui.label(format!(
        "{nb} against {na}: relative l2 difference {} over {} parameters{}",
        sci(rel),
        ga.len(),
        worst.map_or(String::new(), |(i, d)| format!(
            "; largest |difference| {} at θ_{i}",
            sci(d)
        ))
    ));
    let pts: Vec<[f64; 2]> = ga.iter().zip(gb).map(|(x, y)| [*x, *y]).collect();
    let (lo, hi) = pts
        .iter()
        .flatten()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(*v), h.max(*v))
        });
    let color = b.map_or(c32(crate::app::theme::EXACT), colour);
    let height = (ui.available_height() - 10.0).max(260.0);
    Plot::new("grad-scatter")
        .height(height)
        .data_aspect(1.0)
        .legend(Legend::default().position(egui_plot::Corner::LeftTop))
        .x_axis_label(format!("dL/dθ ({na})"))
        .y_axis_label(format!("dL/dθ ({nb})"))
        .show(ui, |pui| {
            if lo.is_finite() && hi.is_finite() {
                pui.line(
                    Line::new("diagonal (equal)", vec![[lo, lo], [hi, hi]])
                        .color(Color32::GRAY)
                        .style(LineStyle::dashed_dense()),
                );
            }
            pui.points(
                Points::new(format!("{nb} vs {na}"), pts)
                    .color(color)
                    .radius(3.0)
                    .filled(true),
            );
        });
}
