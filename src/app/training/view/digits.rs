//! The `digits` task's view (an input of more than two dimensions has no decision plane to
//! draw): the held-out images' confusion matrix with the test accuracy, beside the images in
//! the first two encoder (PCA) coordinates coloured by their digit — predicted wrong ones
//! drawn as rings. Before a model arrives: the training and test images in that plane.

use egui::{Align2, Color32, FontId, Rect, Sense, Ui, pos2, vec2};
use egui_plot::{Legend, Plot, Points};

use crate::train::Prediction;
use crate::train::task::digits::{DigitsData, plane};

/// One colour per digit (the Tableau 10 palette).
const DIGIT_COLORS: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

fn digit_color(k: usize) -> Color32 {
    let [r, g, b] = DIGIT_COLORS[k % DIGIT_COLORS.len()];
    Color32::from_rgb(r, g, b)
}

/// The digits view in `height` points.
pub fn ui(ui: &mut Ui, d: &DigitsData, pred: Option<&Prediction>, height: f32) {
    match pred {
        Some(Prediction::Digits {
            confusion,
            accuracy,
            points,
            labels,
            predicted,
        }) => {
            ui.label(format!(
                "test accuracy {:.1} % on {} held-out images · encoder: PCA to {} dims ({:.0} % \
                 of the pixel variance)",
                100.0 * accuracy,
                labels.len(),
                d.features(),
                100.0 * d.pca.explained()
            ));
            let h = (height - 20.0).max(60.0);
            ui.columns(2, |cols| {
                confusion_matrix(&mut cols[0], confusion, h);
                let wrong: Vec<bool> = labels.iter().zip(predicted).map(|(l, p)| l != p).collect();
                scatter(&mut cols[1], points, labels, &wrong, h);
            });
        }
        _ => {
            ui.label(format!(
                "{} training and {} test images in the first two of {} PCA coordinates \
                 (train: filled, test: rings); the confusion matrix appears with the first \
                 evaluation",
                d.train.len(),
                d.test.len(),
                d.features()
            ));
            let mut pts: Vec<[f64; 2]> = d.train.iter().map(|z| plane(z)).collect();
            let mut labels = d.train_labels.clone();
            let mut rings = vec![false; pts.len()];
            pts.extend(d.test.iter().map(|z| plane(z)));
            labels.extend(&d.test_labels);
            rings.resize(pts.len(), true);
            scatter(ui, &pts, &labels, &rings, (height - 20.0).max(60.0));
        }
    }
}

/// Rows: the true digit, columns: the predicted one; cells shaded by the share of their row.
fn confusion_matrix(ui: &mut Ui, confusion: &[Vec<u32>], height: f32) {
    let n = confusion.len();
    if n == 0 {
        return;
    }
    let side = ui.available_width().min(height).max(60.0);
    let (rect, _) = ui.allocate_exact_size(vec2(side, side), Sense::hover());
    let painter = ui.painter_at(rect);
    let margin = 22.0;
    let cell = (side - margin) / n as f32;
    let origin = rect.min + vec2(margin, margin);
    let text = ui.visuals().text_color();
    let font = FontId::proportional((cell * 0.38).clamp(7.0, 13.0));
    painter.text(
        rect.min + vec2(margin + (side - margin) / 2.0, 2.0),
        Align2::CENTER_TOP,
        "predicted →",
        FontId::proportional(11.0),
        text,
    );
    for (i, row) in confusion.iter().enumerate() {
        let total: u32 = row.iter().sum();
        painter.text(
            pos2(
                rect.min.x + margin / 2.0,
                origin.y + (i as f32 + 0.5) * cell,
            ),
            Align2::CENTER_CENTER,
            i.to_string(),
            font.clone(),
            text,
        );
        for (j, &count) in row.iter().enumerate() {
            if i == 0 {
                painter.text(
                    pos2(
                        origin.x + (j as f32 + 0.5) * cell,
                        rect.min.y + margin - 2.0,
                    ),
                    Align2::CENTER_BOTTOM,
                    j.to_string(),
                    font.clone(),
                    text,
                );
            }
            let share = if total > 0 {
                count as f32 / total as f32
            } else {
                0.0
            };
            let base = if i == j {
                Color32::from_rgb(40, 140, 70)
            } else {
                Color32::from_rgb(200, 60, 50)
            };
            let fill = if count == 0 {
                ui.visuals().faint_bg_color
            } else {
                base.gamma_multiply(0.15 + 0.85 * share)
            };
            let r = Rect::from_min_size(
                origin + vec2(j as f32 * cell, i as f32 * cell),
                vec2(cell - 1.0, cell - 1.0),
            );
            painter.rect_filled(r, 1.0, fill);
            if count > 0 {
                painter.text(
                    r.center(),
                    Align2::CENTER_CENTER,
                    count.to_string(),
                    font.clone(),
                    text,
                );
            }
        }
    }
}

/// The images in the encoder's first two coordinates, one colour per digit; those with `rings`
/// set drawn as rings.
fn scatter(ui: &mut Ui, points: &[[f64; 2]], labels: &[usize], rings: &[bool], height: f32) {
    Plot::new("train-digits-scatter")
        .height(height)
        .data_aspect(1.0)
        .x_axis_label("PCA 1 (whitened)")
        .y_axis_label("PCA 2 (whitened)")
        .legend(Legend::default().position(egui_plot::Corner::RightTop))
        .show(ui, |pui| {
            for k in 0..DIGIT_COLORS.len() {
                for filled in [true, false] {
                    let pts: Vec<[f64; 2]> = points
                        .iter()
                        .zip(labels)
                        .enumerate()
                        .filter(|(i, (_, l))| {
                            **l == k && rings.get(*i).copied().unwrap_or(false) != filled
                        })
                        .map(|(_, (p, _))| *p)
                        .collect();
                    if pts.is_empty() {
                        continue;
                    }
                    pui.points(
                        Points::new(format!("{k}"), pts)
                            .color(digit_color(k))
                            .radius(if filled { 2.0 } else { 3.0 })
                            .filled(filled),
                    );
                }
            }
        });
}
