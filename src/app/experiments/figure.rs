//! A result's figure on screen: the stored [`Plot`] turned once into the exporter's series,
//! with log axes already taken (log10 of positive values), and drawn with egui_plot each frame
//! from that prepared data — the same names, colours and markers as the exported PNG / SVG.

use egui_plot::{HLine, LineStyle};

use crate::app::charts::axes::{
    AXIS_LABEL_MIN, decade_spacer, decade_x_spacer, log_formatter, nice_spacer, nice_x_spacer,
    sci_formatter,
};
use crate::app::charts::legend::legend_strip;
use crate::app::charts::series::{grey_out, show_series};
use crate::experiment::Plot;
use crate::export::{Series, SeriesKind};

/// A figure prepared for the screen.
#[derive(Clone, Debug)]
pub struct ScreenPlot {
    pub name: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_log: bool,
    pub y_log: bool,
    /// Points in axis units (log10 on a log axis).
    pub series: Vec<Series>,
    /// The greyed copy drawn while the result is stale.
    pub greyed: Vec<Series>,
    pub hlines: Vec<(f64, String)>,
}

impl ScreenPlot {
    pub fn of(plot: &Plot) -> Self {
        let figure = plot.to_figure();
        let axis = |v: f64, log: bool| {
            if !log {
                Some(v)
            } else if v > 0.0 {
                Some(v.log10())
            } else {
                None
            }
        };
        let series: Vec<Series> = figure
            .series
            .into_iter()
            .map(|mut s| {
                let segments = matches!(s.kind, SeriesKind::Segments { .. });
                let mapped: Vec<Option<[f64; 2]>> = s
                    .points
                    .iter()
                    .map(|p| Some([axis(p[0], plot.x_log)?, axis(p[1], plot.y_log)?]))
                    .collect();
                s.points = if segments {
                    // Keep whole segments only (a dropped end would pair the wrong points).
                    mapped
                        .chunks_exact(2)
                        .filter_map(|ab| Some([ab[0]?, ab[1]?]))
                        .flatten()
                        .collect()
                } else {
                    mapped.into_iter().flatten().collect()
                };
                s
            })
            .collect();
        let mut greyed = series.clone();
        grey_out(&mut greyed);
        Self {
            name: plot.name.clone(),
            title: plot.title.clone(),
            x_label: plot.x_label.clone(),
            y_label: plot.y_label.clone(),
            x_log: plot.x_log,
            y_log: plot.y_log,
            series,
            greyed,
            hlines: plot
                .hlines
                .iter()
                .filter_map(|(y, n)| Some((axis(*y, plot.y_log)?, n.clone())))
                .collect(),
        }
    }

    /// Points drawn (the debug overlay counts them).
    pub fn points(&self) -> usize {
        self.series.iter().map(|s| s.points.len()).sum()
    }

    /// Title, legend and the plot, `height` points high (greyed when `stale`).
    pub fn ui(&self, ui: &mut egui::Ui, height: f32, stale: bool) {
        ui.label(egui::RichText::new(&self.title).strong());
        let series = if stale { &self.greyed } else { &self.series };
        let used = legend_strip(ui, series);
        let log_label = |label: &str, log: bool| {
            if log {
                format!("{label} (log)")
            } else {
                label.to_string()
            }
        };
        let x_axis = egui_plot::AxisHints::new_x()
            .label(log_label(&self.x_label, self.x_log))
            .formatter(if self.x_log {
                log_formatter
            } else {
                sci_formatter
            })
            .label_spacing(AXIS_LABEL_MIN..=AXIS_LABEL_MIN + 1.0);
        let y_axis = egui_plot::AxisHints::new_y()
            .label(log_label(&self.y_label, self.y_log))
            .formatter(if self.y_log {
                log_formatter
            } else {
                sci_formatter
            })
            .min_thickness(56.0)
            .label_spacing(AXIS_LABEL_MIN..=AXIS_LABEL_MIN + 1.0);
        egui_plot::Plot::new(("experiment-figure", &self.name))
            .height((height - used).max(160.0))
            .allow_scroll(false)
            .custom_x_axes(vec![x_axis])
            .custom_y_axes(vec![y_axis])
            .x_grid_spacer(if self.x_log {
                decade_x_spacer
            } else {
                nice_x_spacer
            })
            .y_grid_spacer(if self.y_log {
                decade_spacer
            } else {
                nice_spacer
            })
            .show(ui, |pui| {
                show_series(pui, series.clone(), false);
                for (y, name) in &self.hlines {
                    pui.hline(
                        HLine::new(name.clone(), *y)
                            .color(egui::Color32::from_gray(120))
                            .style(LineStyle::dashed_dense()),
                    );
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::PlotKind;

    #[test]
    fn log_axes_take_log10_and_drop_non_positive_points_and_their_segments() {
        let mut p = Plot::new("p", "t", "x", "y");
        p.x_log = true;
        p.y_log = true;
        p.push(
            "line",
            [0, 0, 0],
            PlotKind::Line {
                width: 1,
                dashed: false,
            },
            vec![[10.0, 100.0], [0.0, 1.0], [1000.0, 0.1]],
        );
        p.push(
            "seg",
            [0, 0, 0],
            PlotKind::Segments { width: 1 },
            vec![[1.0, 1.0], [-1.0, 1.0], [10.0, 10.0], [100.0, 10.0]],
        );
        p.hlines.push((-1.0, "negative".into()));
        p.hlines.push((1e-3, "floor".into()));
        let s = ScreenPlot::of(&p);
        assert_eq!(s.series[0].points, vec![[1.0, 2.0], [3.0, -1.0]]);
        assert_eq!(s.series[1].points, vec![[1.0, 1.0], [2.0, 1.0]]);
        assert_eq!(s.hlines, vec![(-3.0, "floor".to_string())]);
    }
}
