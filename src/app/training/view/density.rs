//! A density task's view: the data, the learned density as a heat map (linear or log scale),
//! samples of the flow, and the test points moving with the flow from t = 0 to t1 at flow time
//! `flow_t` (the slider and ▶ of the model panel), as the classification view does.

use egui::{Color32, Ui};
use egui_plot::{Heatmap, Legend, Plot, PlotPoint, Points};

use crate::train::Prediction;
use crate::train::task::DensityData;

/// Draws the density view of `d` with the prediction `pred` (when one has arrived).
pub fn ui(ui: &mut Ui, d: &DensityData, pred: Option<&Prediction>, flow_t: f32, height: f32) {
    let log_id = egui::Id::unique("nodelab-density-log-scale");
    let mut log_scale = ui.data(|m| m.get_temp::<bool>(log_id)).unwrap_or(true);
    if ui
        .checkbox(&mut log_scale, "log scale")
        .on_hover_text("colour by log p (else by p)")
        .changed()
    {
        ui.data_mut(|m| m.insert_temp(log_id, log_scale));
    }
    Plot::new("train-model-density")
        .height(height)
        .data_aspect(1.0)
        .legend(Legend::default().position(egui_plot::Corner::RightTop))
        .show(ui, |pui| {
            let point_colour = Color32::from_rgb(30, 110, 200);
            if let Some(Prediction::Density {
                bounds,
                n,
                log_density,
                samples,
                flow,
            }) = pred
            {
                heat_map(pui, *bounds, *n, log_density, log_scale);
                if flow_t < 1.0 && flow.len() > 1 {
                    let s = flow_t as f64 * (flow.len() - 1) as f64;
                    let (k, w) = (s.floor() as usize, s - s.floor());
                    let k1 = (k + 1).min(flow.len() - 1);
                    let pts: Vec<[f64; 2]> = flow[k]
                        .iter()
                        .zip(&flow[k1])
                        .map(|(a, b)| [a[0] + w * (b[0] - a[0]), a[1] + w * (b[1] - a[1])])
                        .collect();
                    pui.points(
                        Points::new("flowing test points", pts)
                            .color(point_colour)
                            .radius(2.5)
                            .filled(true),
                    );
                    return;
                }
                pui.points(
                    Points::new("samples", samples.clone())
                        .color(Color32::from_rgb(230, 120, 20))
                        .radius(1.8)
                        .filled(true),
                );
            }
            pui.points(
                Points::new("data (train)", d.set.train.clone())
                    .color(point_colour)
                    .radius(1.5)
                    .filled(true),
            );
            pui.points(
                Points::new("data (test)", d.set.test.clone())
                    .color(point_colour)
                    .radius(2.0)
                    .filled(false),
            );
        });
}

/// The learned density on the grid: white (low) … dark purple (high), by p / max p or by
/// log p over the 10 nats below its maximum.
fn heat_map(pui: &mut egui_plot::PlotUi<'_>, bounds: [f64; 4], n: usize, logp: &[f32], log: bool) {
    let dx = (bounds[1] - bounds[0]) / (n as f64 - 1.0);
    let dy = (bounds[3] - bounds[2]) / (n as f64 - 1.0);
    let top = logp
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f32::NEG_INFINITY, f32::max);
    let values: Vec<f64> = logp
        .iter()
        .map(|&v| {
            let t = if log {
                ((v - top + 10.0) / 10.0).clamp(0.0, 1.0)
            } else {
                (v - top).exp()
            };
            if t.is_finite() { f64::from(t) } else { 0.0 }
        })
        .collect();
    pui.heatmap(
        Heatmap::new(values, n)
            .at(PlotPoint::new(bounds[0] - dx / 2.0, bounds[2] - dy / 2.0))
            .tile_size(dx as f32, dy as f32)
            .show_labels(false)
            .custom_mapping(Box::new(|p| {
                let t = p.clamp(0.0, 1.0) as f32;
                let mix = |lo: f32, hi: f32| (lo + (hi - lo) * t) as u8;
                Color32::from_rgb(mix(255.0, 70.0), mix(255.0, 20.0), mix(255.0, 110.0))
            }))
            .name(if log { "log p" } else { "p" }),
    );
}
