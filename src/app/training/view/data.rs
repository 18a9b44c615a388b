//! The task's data, with a prediction over it: decision regions and the flowed test points for
//! classifiers, data and predicted trajectory otherwise.

use egui::{Color32, Ui};
use egui_plot::{Heatmap, Legend, Line, Plot, PlotPoint, Points};

use super::super::FieldArrows;
use crate::train::{Prediction, TaskData};

/// The task's data, with a prediction over it when there is one: decision regions and the test
/// points at flow time `flow_t` for classifiers; data and predicted trajectory otherwise.
pub fn ui(
    ui: &mut Ui,
    data: &TaskData,
    pred: Option<&Prediction>,
    field: Option<&FieldArrows>,
    density: &mut super::density::DensitySettings,
    flow_t: f32,
    height: f32,
) {
    match data {
        TaskData::Density(d) => super::density::ui(ui, d, pred, density, flow_t, height),
        TaskData::Digits(d) => super::digits::ui(ui, d, pred, height),
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

/// Arrows of the learned field, scaled so that the longest is most of a grid cell.
pub(super) fn field_arrows(pui: &mut egui_plot::PlotUi<'_>, field: &FieldArrows, color: Color32) {
    let longest = field
        .vectors
        .iter()
        .map(|v| v[0].hypot(v[1]))
        .fold(0.0_f64, f64::max);
    let (Some(first), Some(last)) = (field.origins.first(), field.origins.last()) else {
        return;
    };
    let cell = ((last[0] - first[0]).abs().min((last[1] - first[1]).abs())
        / (super::super::FIELD_GRID - 1) as f64)
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
