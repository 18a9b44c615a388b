//! A density task's view: the data, the learned density as a heat map (linear or log scale),
//! samples of the flow, and the test points moving with the flow from t = 0 to t1 at flow time
//! `flow_t` (the slider and ▶ of the model panel), as the classification view does.

use egui::{Color32, Ui};
use egui_plot::{Heatmap, Legend, Plot, PlotPoint, Points};
use serde::{Deserialize, Serialize};

use crate::app::charts::axes::{nice_x_spacer, x_axis_hints};
use crate::train::Prediction;
use crate::train::task::DensityData;

/// How the density view is drawn (saved with the session).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DensitySettings {
    /// Colour by log p over the 10 nats below its maximum (else by p / max p).
    pub log_scale: bool,
}

impl Default for DensitySettings {
    fn default() -> Self {
        Self { log_scale: true }
    }
}

/// The training points: filled, red.
pub const TRAIN_COLOUR: Color32 = Color32::from_rgb(228, 26, 28);
/// The held-out test points (and the test points flowing): rings, light blue.
pub const TEST_COLOUR: Color32 = Color32::from_rgb(80, 170, 255);
/// Samples of the flow: near-black, on the bright high-density colours where they fall.
pub const SAMPLE_COLOUR: Color32 = Color32::from_rgb(25, 25, 25);

/// Draws the density view of `d` with the prediction `pred` (when one has arrived).
pub fn ui(
    ui: &mut Ui,
    d: &DensityData,
    pred: Option<&Prediction>,
    settings: &mut DensitySettings,
    flow_t: f32,
    height: f32,
) {
    ui.checkbox(&mut settings.log_scale, "log scale")
        .on_hover_text("colour by log p (else by p)");
    let log_scale = settings.log_scale;
    Plot::new("train-model-density")
        .height(height)
        .custom_x_axes(vec![x_axis_hints("")])
        .x_grid_spacer(nice_x_spacer)
        .data_aspect(1.0)
        .legend(Legend::default().position(egui_plot::Corner::RightTop))
        .show(ui, |pui| {
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
                        Points::new("test points, flowing", pts)
                            .color(TEST_COLOUR)
                            .radius(2.5)
                            .filled(true),
                    );
                    return;
                }
                pui.points(
                    Points::new("samples of the flow", samples.clone())
                        .color(SAMPLE_COLOUR)
                        .radius(1.8)
                        .filled(true),
                );
            }
            pui.points(
                Points::new("data (train)", d.set.train.clone())
                    .color(TRAIN_COLOUR)
                    .radius(1.5)
                    .filled(true),
            );
            pui.points(
                Points::new("data (test)", d.set.test.clone())
                    .color(TEST_COLOUR)
                    .radius(2.2)
                    .filled(false),
            );
        });
}

/// The learned density on the grid in viridis (dark purple low … yellow high: no end of the map
/// is the background of either theme, and it reads in grey), by p / max p or by log p over the
/// 10 nats below its maximum.
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
            .custom_mapping(Box::new(viridis))
            .name(if log { "log p" } else { "p" }),
    );
}

/// Viridis at `t` ∈ [0, 1]: linear between its ten evenly spaced colours (viridisLite's
/// `viridis(10)`, from matplotlib's viridis table).
pub fn viridis(t: f64) -> Color32 {
    const STOPS: [[u8; 3]; 10] = [
        [0x44, 0x01, 0x54],
        [0x48, 0x28, 0x78],
        [0x3e, 0x4a, 0x89],
        [0x31, 0x68, 0x8e],
        [0x26, 0x82, 0x8e],
        [0x1f, 0x9e, 0x89],
        [0x35, 0xb7, 0x79],
        [0x6d, 0xcd, 0x59],
        [0xb4, 0xde, 0x2c],
        [0xfd, 0xe7, 0x25],
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let s = t * (STOPS.len() - 1) as f64;
    let k = (s.floor() as usize).min(STOPS.len() - 2);
    let w = s - k as f64;
    let mix = |c: usize| {
        let (a, b) = (f64::from(STOPS[k][c]), f64::from(STOPS[k + 1][c]));
        (a + (b - a) * w).round() as u8
    };
    Color32::from_rgb(mix(0), mix(1), mix(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ends and a middle stop of viridis; the low end is far from both themes'
    /// backgrounds (egui's dark panel ≈ 27, light ≈ 248 grey), the points' colours apart.
    #[test]
    fn viridis_ends_read_on_both_themes() {
        assert_eq!(viridis(0.0), Color32::from_rgb(68, 1, 84));
        assert_eq!(viridis(1.0), Color32::from_rgb(253, 231, 37));
        assert_eq!(viridis(4.0 / 9.0), Color32::from_rgb(0x26, 0x82, 0x8e));
        assert_eq!(viridis(4.5 / 9.0), Color32::from_rgb(35, 144, 140));
        assert_eq!(viridis(f64::NAN), viridis(0.0));
        let dist = |a: Color32, b: Color32| {
            let d = |x: u8, y: u8| (f64::from(x) - f64::from(y)).powi(2);
            (d(a.r(), b.r()) + d(a.g(), b.g()) + d(a.b(), b.b())).sqrt()
        };
        let low = viridis(0.0);
        for bg in [
            Color32::from_gray(27),
            Color32::from_gray(248),
            Color32::WHITE,
        ] {
            assert!(dist(low, bg) > 60.0, "{low:?} vs {bg:?}");
        }
        assert!(dist(TRAIN_COLOUR, TEST_COLOUR) > 150.0);
    }
}
