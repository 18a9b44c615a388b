//! Plot legends drawn above the plot as a wrapped row (so that no entry covers data).

use crate::app::theme::c32;

/// What a legend entry shows.
pub enum LegendKind {
    Line(crate::export::Dash),
    Marker(crate::export::Marker),
}

/// A legend-only series (no points): a name with its colour and line style or marker.
pub fn legend_entry(
    name: String,
    color: crate::export::Rgb,
    kind: LegendKind,
) -> crate::export::Series {
    crate::export::Series {
        name,
        color,
        kind: match kind {
            LegendKind::Line(style) => crate::export::SeriesKind::Line { width: 2, style },
            LegendKind::Marker(shape) => crate::export::SeriesKind::Markers { shape, size: 3 },
        },
        points: Vec::new(),
    }
}

/// The legend of a plot, drawn above it as one wrapped row of entries (line sample or marker
/// in the series' colour and style, then its name), so that no entry covers data. Returns the
/// height used.
pub fn legend_strip(ui: &mut egui::Ui, series: &[crate::export::Series]) -> f32 {
    let top = ui.cursor().top();
    let mut seen: Vec<&str> = Vec::new();
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 4.0;
        for s in series {
            if s.name.is_empty() || seen.contains(&s.name.as_str()) {
                continue;
            }
            seen.push(&s.name);
            // Swatch and name are one widget, so they stay together when the row wraps.
            legend_item(ui, s);
            ui.add_space(8.0);
        }
    });
    ui.cursor().top() - top
}

/// One legend entry: the swatch (line in its style, or marker) and the name.
fn legend_item(ui: &mut egui::Ui, s: &crate::export::Series) {
    use crate::export::{Dash, SeriesKind};
    let text_color = ui.visuals().text_color();
    let galley = ui.painter().layout_no_wrap(
        s.name.clone(),
        egui::TextStyle::Small.resolve(ui.style()),
        text_color,
    );
    let size = egui::vec2(26.0 + galley.size().x, galley.size().y.max(12.0));
    let (whole, response) = ui.allocate_exact_size(size, egui::Sense::hover());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, s.name.clone()));
    ui.painter().galley(
        egui::pos2(
            whole.left() + 26.0,
            whole.center().y - galley.size().y / 2.0,
        ),
        galley,
        text_color,
    );
    {
        let rect = egui::Rect::from_min_size(
            egui::pos2(whole.left(), whole.center().y - 6.0),
            egui::vec2(22.0, 12.0),
        );
        let color = c32(s.color);
        let y = rect.center().y;
        let p = ui.painter();
        match s.kind {
            SeriesKind::Line { width, style } => {
                let stroke = egui::Stroke::new(width.max(1) as f32 + 0.5, color);
                let (a, b) = (egui::pos2(rect.left(), y), egui::pos2(rect.right(), y));
                match style {
                    Dash::Solid => {
                        p.line_segment([a, b], stroke);
                    }
                    Dash::Dashed => {
                        p.extend(egui::Shape::dashed_line(&[a, b], stroke, 5.0, 3.0));
                    }
                    Dash::Dotted => {
                        p.extend(egui::Shape::dotted_line(&[a, b], color, 3.5, 1.2));
                    }
                }
            }
            SeriesKind::Segments { .. } => {
                p.arrow(
                    egui::pos2(rect.left(), y),
                    egui::vec2(rect.width(), 0.0),
                    egui::Stroke::new(1.0, color),
                );
            }
            SeriesKind::Markers { shape, .. } => {
                let c = rect.center();
                match shape {
                    crate::export::Marker::Circle => {
                        p.circle_filled(c, 3.5, color);
                    }
                    crate::export::Marker::Square => {
                        p.rect_filled(
                            egui::Rect::from_center_size(c, egui::vec2(7.0, 7.0)),
                            0.0,
                            color,
                        );
                    }
                    crate::export::Marker::Cross => {
                        let st = egui::Stroke::new(1.5, color);
                        p.line_segment([c + egui::vec2(-4.0, -4.0), c + egui::vec2(4.0, 4.0)], st);
                        p.line_segment([c + egui::vec2(-4.0, 4.0), c + egui::vec2(4.0, -4.0)], st);
                    }
                }
            }
        }
    }
}
