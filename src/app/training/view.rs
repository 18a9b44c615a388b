//! The Training workspace's centre: loss curves (against iterations or wall time, log-y),
//! evaluation markers, the per-method comparison table and bars, gradient errors, and the
//! learned model live. One colour per method in every plot ([`run_color`] of its index).

use egui::{Color32, RichText, Ui};
use egui_plot::{Bar, BarChart, Heatmap, Legend, Line, Plot, PlotPoint, Points, Text};

use super::{FieldArrows, MethodView, TrainingAction, TrainingWorkspace};
use crate::app::plots::{POINT_BUDGET, decade_spacer, decimate, log_formatter};
use crate::app::theme::{c32, run_color};
use crate::train::record::MethodStatus;
use crate::train::{Prediction, TaskData};

fn colour(i: usize) -> Color32 {
    c32(run_color(i))
}

/// The whole centre.
pub fn ui(ui: &mut Ui, ws: &mut TrainingWorkspace) {
    if ws.methods.is_empty() {
        ui.heading("Train a neural ODE with several gradient methods side by side");
        ui.label(
            "Pick a task and the gradient methods on the left, then press ▶ Train. Every \
             method trains its own copy of the same initial weights on the same batches, so \
             their curves compare directly: loss, time per iteration, function evaluations, \
             memory, and the learned model as it learns.",
        );
        ws.request_preview();
        if let Some(data) = &ws.data {
            ui.add_space(8.0);
            ui.strong(format!("{}: the data", ws.config.task.name()));
            data_plot(ui, data, None, None, 0.0, ui.available_height().min(420.0));
        }
        return;
    }
    toolbar(ui, ws);
    let h = ui.available_height();
    let top = (h * 0.5).max(180.0);
    ui.columns(2, |cols| {
        loss_plot(&mut cols[0], ws, top);
        model_view(&mut cols[1], ws, top);
    });
    ui.separator();
    egui::ScrollArea::vertical()
        .id_salt("train-lower")
        .show(ui, |ui| {
            table(ui, ws);
            ui.columns(2, |cols| {
                bars(&mut cols[0], ws);
                grad_errors(&mut cols[1], ws);
            });
        });
}

fn toolbar(ui: &mut Ui, ws: &mut TrainingWorkspace) {
    ui.horizontal_wrapped(|ui| {
        ui.checkbox(&mut ws.view.log_y, "log y");
        ui.selectable_value(&mut ws.view.by_time, false, "vs iteration");
        ui.selectable_value(&mut ws.view.by_time, true, "vs wall time");
        ui.separator();
        ui.label("model shown:");
        for (i, m) in ws.methods.iter().enumerate() {
            ui.selectable_value(
                &mut ws.view.shown,
                i,
                RichText::new(m.method.name()).color(colour(i)),
            );
        }
        let shown = ws.methods.get(ws.view.shown);
        let model = shown.and_then(|m| m.model.clone());
        if ui
            .add_enabled(model.is_some(), egui::Button::new("Open in Explorer"))
            .on_hover_text("watch the adaptive solver on what this method learned")
            .clicked()
            && let (Some(model), Some(m)) = (model, shown)
        {
            let (y0, t_span) = match &ws.data {
                Some(TaskData::Trajectory(t)) => (
                    t.states[0].clone(),
                    [t.times[0], t.times[t.times.len() - 1]],
                ),
                Some(TaskData::Classes(c)) => (
                    c.lift(c.set.test.first().copied().unwrap_or([0.5, 0.0])),
                    [0.0, 1.0],
                ),
                None => (vec![0.0; model.mlp.dim()], [0.0, 1.0]),
            };
            let path = std::env::temp_dir().join(format!(
                "nodelab-{}-{}.json",
                ws.config.task.name(),
                m.method.name()
            ));
            ws.actions.push(TrainingAction::OpenInExplorer {
                model,
                path,
                y0,
                t_span,
            });
        }
    });
    for w in &ws.warnings {
        ui.colored_label(ui.visuals().warn_fg_color, w);
    }
}

fn loss_plot(ui: &mut Ui, ws: &TrainingWorkspace, height: f32) {
    ui.strong(if ws.view.by_time {
        "training loss vs wall time (s) · evaluations ●"
    } else {
        "training loss vs iteration · evaluations ●"
    });
    let log = ws.view.log_y;
    let y = move |v: f64| if log { v.log10() } else { v };
    let mut plot = Plot::new("train-loss")
        .height(height)
        .legend(Legend::default().position(egui_plot::Corner::RightTop))
        .x_axis_label(if ws.view.by_time { "s" } else { "iteration" });
    if log {
        plot = plot
            .y_axis_formatter(log_formatter)
            .y_grid_spacer(decade_spacer);
    }
    plot.show(ui, |pui| {
        let range = {
            let b = pui.plot_bounds();
            Some((b.min()[0], b.max()[0]))
        };
        for (i, m) in ws.methods.iter().enumerate() {
            let src = if ws.view.by_time {
                &m.loss_by_time
            } else {
                &m.loss_by_iter
            };
            let pts: Vec<[f64; 2]> = decimate(src, range, POINT_BUDGET)
                .into_iter()
                .filter(|p| p.y.is_finite() && (!log || p.y > 0.0))
                .map(|p| [p.x, y(p.y)])
                .collect();
            let name = match &m.status {
                MethodStatus::Diverged { .. } => format!("{} ×", m.method.name()),
                _ => m.method.name().to_string(),
            };
            pui.line(Line::new(name, pts.clone()).color(colour(i)).width(1.5));
            let evals: Vec<[f64; 2]> = m
                .evals
                .iter()
                .filter(|e| e.loss.is_finite() && (!log || e.loss > 0.0))
                .filter_map(|e| {
                    let x = if ws.view.by_time {
                        m.records
                            .iter()
                            .find(|r| r.iter == e.iter)
                            .map_or(if e.iter == 0 { Some(0.0) } else { None }, |r| {
                                Some(r.wall_s)
                            })?
                    } else {
                        e.iter as f64
                    };
                    Some([x, y(e.loss)])
                })
                .collect();
            pui.points(
                Points::new("", evals)
                    .color(colour(i))
                    .radius(3.5)
                    .filled(true),
            );
            if let (MethodStatus::Diverged { reason, .. }, Some(last)) = (&m.status, pts.last()) {
                pui.text(
                    Text::new(
                        "",
                        PlotPoint::new(last[0], last[1]),
                        RichText::new(format!("× {reason}")).color(Color32::from_rgb(220, 50, 47)),
                    )
                    .anchor(egui::Align2::RIGHT_BOTTOM),
                );
            }
        }
    });
}

fn model_view(ui: &mut Ui, ws: &mut TrainingWorkspace, height: f32) {
    let Some(m) = ws.methods.get(ws.view.shown) else {
        return;
    };
    ui.strong(format!(
        "learned model: {} (updated at each evaluation)",
        m.method.name()
    ));
    let Some(data) = &ws.data else { return };
    match (&m.prediction, data) {
        (Some(Prediction::Classes { flow, .. }), TaskData::Classes(_)) if flow.len() > 1 => {
            ui.horizontal(|ui| {
                ui.label("flow t");
                ui.add(egui::Slider::new(&mut ws.view.flow_t, 0.0..=1.0))
                    .accessible_name("flow t");
                let label = if ws.view.flow_playing { "⏸" } else { "▶" };
                if ui
                    .button(label)
                    .on_hover_text("animate the points through the ODE block")
                    .clicked()
                {
                    if !ws.view.flow_playing && ws.view.flow_t >= 1.0 {
                        ws.view.flow_t = 0.0;
                    }
                    ws.view.flow_playing = !ws.view.flow_playing;
                }
            });
            if ws.view.flow_playing {
                let dt = ui.input(|i| i.stable_dt).min(0.1);
                ws.view.flow_t = (ws.view.flow_t + dt / 3.0).min(1.0);
                if ws.view.flow_t >= 1.0 {
                    ws.view.flow_playing = false;
                }
                ui.ctx().request_repaint();
            }
        }
        _ => {}
    }
    let m = &ws.methods[ws.view.shown];
    let h = ui.available_height().min(height);
    match (data, &m.field) {
        // A 2-D trajectory: the time plot, and the phase plane with the learned field.
        (TaskData::Trajectory(t), Some(field)) => {
            ui.columns(2, |cols| {
                data_plot(&mut cols[0], data, m.prediction.as_ref(), None, 0.0, h);
                phase_plane(&mut cols[1], t, m.prediction.as_ref(), field, h);
            });
        }
        _ => data_plot(
            ui,
            data,
            m.prediction.as_ref(),
            m.field.as_ref(),
            ws.view.flow_t,
            h,
        ),
    }
}

/// Arrows of the learned field, scaled so that the longest is most of a grid cell.
fn field_arrows(pui: &mut egui_plot::PlotUi<'_>, field: &FieldArrows, color: Color32) {
    let longest = field
        .vectors
        .iter()
        .map(|v| v[0].hypot(v[1]))
        .fold(0.0_f64, f64::max);
    let (Some(first), Some(last)) = (field.origins.first(), field.origins.last()) else {
        return;
    };
    let cell = ((last[0] - first[0]).abs().min((last[1] - first[1]).abs())
        / (super::FIELD_GRID - 1) as f64)
        .max(f64::MIN_POSITIVE);
    let scale = if longest > 0.0 {
        0.9 * cell / longest
    } else {
        0.0
    };
    let tips: Vec<[f64; 2]> = field
        .origins
        .iter()
        .zip(&field.vectors)
        .map(|(o, v)| [o[0] + scale * v[0], o[1] + scale * v[1]])
        .collect();
    pui.arrows(
        egui_plot::Arrows::new("learned field f(t0, y)", field.origins.clone(), tips)
            .color(color)
            .tip_length(4.0),
    );
}

/// The phase plane of a 2-D trajectory task: the data, the predicted path and the learned field.
fn phase_plane(
    ui: &mut Ui,
    t: &crate::train::task::TrajectoryData,
    pred: Option<&Prediction>,
    field: &FieldArrows,
    height: f32,
) {
    Plot::new("train-model-phase")
        .height(height)
        .legend(Legend::default().position(egui_plot::Corner::RightTop))
        .x_axis_label("y1")
        .y_axis_label("y2")
        .show(ui, |pui| {
            field_arrows(pui, field, Color32::from_gray(140).gamma_multiply(0.8));
            let data: Vec<[f64; 2]> = t.states.iter().map(|s| [s[0], s[1]]).collect();
            pui.line(
                Line::new("data", data)
                    .color(Color32::from_gray(120))
                    .width(3.0),
            );
            if let Some(Prediction::Trajectory { states, .. }) = pred {
                let p: Vec<[f64; 2]> = states
                    .iter()
                    .filter(|s| s.len() == 2 && s.iter().all(|v| v.is_finite()))
                    .map(|s| [s[0], s[1]])
                    .collect();
                pui.line(
                    Line::new("model", p)
                        .color(Color32::from_rgb(220, 50, 47))
                        .style(egui_plot::LineStyle::dashed_dense())
                        .width(1.5),
                );
            }
        });
}

/// The task's data, with a prediction over it when there is one: decision regions and the test
/// points at flow time `flow_t` for classifiers; data and predicted trajectory otherwise.
pub fn data_plot(
    ui: &mut Ui,
    data: &TaskData,
    pred: Option<&Prediction>,
    field: Option<&FieldArrows>,
    flow_t: f32,
    height: f32,
) {
    match data {
        TaskData::Classes(c) => {
            Plot::new("train-model-classes")
                .height(height)
                .data_aspect(1.0)
                .legend(Legend::default().position(egui_plot::Corner::RightTop))
                .show(ui, |pui| {
                    let class_colour = |l: usize| {
                        if l == 1 {
                            Color32::from_rgb(230, 120, 20)
                        } else {
                            Color32::from_rgb(30, 110, 200)
                        }
                    };
                    if let Some(Prediction::Classes {
                        bounds,
                        n,
                        p1,
                        flow,
                        labels,
                    }) = pred
                    {
                        decision_regions(pui, *bounds, *n, p1);
                        if let Some(field) = field
                            && (flow_t >= 1.0 || flow.len() <= 1)
                        {
                            field_arrows(pui, field, Color32::from_gray(60).gamma_multiply(0.7));
                        }
                        if flow_t < 1.0 && flow.len() > 1 {
                            let s = flow_t as f64 * (flow.len() - 1) as f64;
                            let (k, w) = (s.floor() as usize, s - s.floor());
                            let k1 = (k + 1).min(flow.len() - 1);
                            for class in [0, 1] {
                                let pts: Vec<[f64; 2]> = flow[k]
                                    .iter()
                                    .zip(&flow[k1])
                                    .zip(labels)
                                    .filter(|(_, l)| **l == class)
                                    .map(|((a, b), _)| {
                                        [a[0] + w * (b[0] - a[0]), a[1] + w * (b[1] - a[1])]
                                    })
                                    .collect();
                                pui.points(
                                    Points::new(format!("flowing class {class}"), pts)
                                        .color(class_colour(class))
                                        .radius(2.5)
                                        .filled(true),
                                );
                            }
                            return;
                        }
                    }
                    for (class, name) in [(0usize, "class 0"), (1, "class 1")] {
                        let train: Vec<[f64; 2]> = c
                            .set
                            .train
                            .iter()
                            .zip(&c.set.train_labels)
                            .filter(|(_, l)| **l == class)
                            .map(|(p, _)| *p)
                            .collect();
                        let test: Vec<[f64; 2]> = c
                            .set
                            .test
                            .iter()
                            .zip(&c.set.test_labels)
                            .filter(|(_, l)| **l == class)
                            .map(|(p, _)| *p)
                            .collect();
                        pui.points(
                            Points::new(format!("{name} (train)"), train)
                                .color(class_colour(class))
                                .radius(2.5)
                                .filled(true),
                        );
                        pui.points(
                            Points::new(format!("{name} (test)"), test)
                                .color(class_colour(class))
                                .radius(2.5)
                                .filled(false),
                        );
                    }
                });
        }
        TaskData::Trajectory(t) => {
            let d = t.states[0].len();
            Plot::new("train-model-trajectory")
                .height(height)
                .legend(Legend::default().position(egui_plot::Corner::RightTop))
                .x_axis_label("t")
                .show(ui, |pui| {
                    for c in 0..d {
                        let observed = t.components.is_empty() || t.components.contains(&c);
                        let data: Vec<[f64; 2]> = t
                            .times
                            .iter()
                            .zip(&t.states)
                            .map(|(tt, s)| [*tt, s[c]])
                            .collect();
                        let grey = if c == 0 {
                            Color32::from_gray(120)
                        } else {
                            Color32::from_gray(170)
                        };
                        let label = format!(
                            "data y{}{}",
                            c + 1,
                            if observed { "" } else { " (not observed)" }
                        );
                        pui.line(Line::new(label, data).color(grey).width(3.0));
                        if let Some(Prediction::Trajectory { times, states }) = pred {
                            let p: Vec<[f64; 2]> = times
                                .iter()
                                .zip(states)
                                .filter(|(_, s)| s[c].is_finite())
                                .map(|(tt, s)| [*tt, s[c]])
                                .collect();
                            pui.line(
                                Line::new(format!("model y{}", c + 1), p)
                                    .color(if c == 0 {
                                        Color32::from_rgb(220, 50, 47)
                                    } else {
                                        Color32::from_rgb(38, 139, 210)
                                    })
                                    .style(egui_plot::LineStyle::dashed_dense())
                                    .width(1.5),
                            );
                        }
                    }
                });
        }
    }
}

/// The classifier's P(class 1) over the grid `bounds` (n × n cells): blue (class 0) … orange
/// (class 1), pale near ½.
fn decision_regions(pui: &mut egui_plot::PlotUi<'_>, bounds: [f64; 4], n: usize, p1: &[f32]) {
    let dx = (bounds[1] - bounds[0]) / (n as f64 - 1.0);
    let dy = (bounds[3] - bounds[2]) / (n as f64 - 1.0);
    let values: Vec<f64> = p1.iter().map(|&v| f64::from(v)).collect();
    pui.heatmap(
        Heatmap::new(values, n)
            .at(PlotPoint::new(bounds[0] - dx / 2.0, bounds[2] - dy / 2.0))
            .tile_size(dx as f32, dy as f32)
            .show_labels(false)
            .custom_mapping(Box::new(|p| {
                // Blue (class 0) … orange (class 1), pale near 0.5.
                let t = p.clamp(0.0, 1.0) as f32;
                let a = (2.0 * (t - 0.5)).abs();
                let (r, g, b) = if t > 0.5 {
                    (230.0, 150.0, 60.0)
                } else {
                    (60.0, 130.0, 210.0)
                };
                let mix = |c: f32| (255.0 + (c - 255.0) * (0.25 + 0.5 * a)) as u8;
                Color32::from_rgb(mix(r), mix(g), mix(b))
            }))
            .name("P(class 1)"),
    );
}

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
        help: "latest evaluation loss",
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
fn table(ui: &mut Ui, ws: &mut TrainingWorkspace) {
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
    let (col, asc) = ws.view.sort;
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
                        ws.view.sort = (0, true);
                    }
                    ui.label("status");
                    for (k, c) in COLUMNS.iter().enumerate() {
                        let arrow = match ws.view.sort {
                            (s, true) if s == k + 1 => " ⏶",
                            (s, false) if s == k + 1 => " ⏷",
                            _ => "",
                        };
                        if ui
                            .button(format!("{}{arrow}", c.name))
                            .on_hover_text(c.help)
                            .clicked()
                        {
                            ws.view.sort = if ws.view.sort.0 == k + 1 {
                                (k + 1, !ws.view.sort.1)
                            } else {
                                (k + 1, true)
                            };
                        }
                    }
                    ui.end_row();
                    for &i in &order {
                        let m = &ws.methods[i];
                        ui.label(RichText::new(m.method.name()).color(colour(i)).strong());
                        match &m.status {
                            MethodStatus::Diverged { iter, reason } => {
                                ui.label(
                                    RichText::new(format!("diverged at {iter}"))
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

/// Bars of the mean time per iteration and the f-evaluations per iteration, per method.
fn bars(ui: &mut Ui, ws: &TrainingWorkspace) {
    ui.strong("ms per iteration (bars) per method");
    let bars: Vec<Bar> = ws
        .methods
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            m.mean(|r| r.ms).map(|v| {
                Bar::new(i as f64, v)
                    .name(m.method.name())
                    .fill(colour(i))
                    .width(0.7)
            })
        })
        .collect();
    let names: Vec<String> = ws
        .methods
        .iter()
        .map(|m| m.method.name().to_string())
        .collect();
    Plot::new("train-bars")
        .height(160.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .y_axis_label("ms")
        .x_axis_formatter(move |mark, _| {
            let i = mark.value.round();
            if (mark.value - i).abs() < 1e-6 && i >= 0.0 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .show(ui, |pui| pui.bar_chart(BarChart::new("ms/it", bars)));
}

/// Gradient error against the reference over iterations (log), when checks are on.
fn grad_errors(ui: &mut Ui, ws: &TrainingWorkspace) {
    ui.strong("gradient error vs reference (log)");
    if ws.methods.iter().all(|m| m.checks.is_empty()) {
        ui.weak("gradient checks are off (set “grad check” on the left)");
        return;
    }
    Plot::new("train-grad-err")
        .height(160.0)
        .y_axis_formatter(log_formatter)
        .y_grid_spacer(decade_spacer)
        .x_axis_label("iteration")
        .show(ui, |pui| {
            for (i, m) in ws.methods.iter().enumerate() {
                let pts: Vec<[f64; 2]> = m
                    .checks
                    .iter()
                    .filter(|c| c.err > 0.0)
                    .map(|c| [c.iter as f64, c.err.log10()])
                    .collect();
                pui.line(Line::new(m.method.name(), pts.clone()).color(colour(i)));
                pui.points(Points::new("", pts).color(colour(i)).radius(2.5));
            }
        });
}
