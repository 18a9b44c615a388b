//! Drawing export-style series on screen (the same names, colours, markers and data as the
//! exported figure), decimated to a point budget, greyed out when stale.

use egui_plot::{PlotPoint, PlotUi};

use crate::app::theme::c32;

/// Points drawn per series at most (about two per horizontal pixel of a wide plot).
pub const POINT_BUDGET: usize = 4000;

/// The points of `points` (sorted by x) that fall in `x_range` (plus one either side), reduced
/// to at most `budget` by keeping each bucket's minimum and maximum in order (so spikes stay
/// visible). The data itself is never changed.
pub fn decimate(
    points: &[PlotPoint],
    x_range: Option<(f64, f64)>,
    budget: usize,
) -> Vec<PlotPoint> {
    let (lo, hi) = match x_range {
        Some((a, b)) => (
            points.partition_point(|p| p.x < a).saturating_sub(1),
            (points.partition_point(|p| p.x <= b) + 1).min(points.len()),
        ),
        None => (0, points.len()),
    };
    let visible = &points[lo..hi.max(lo)];
    let budget = budget.max(4);
    if visible.len() <= budget {
        return visible.to_vec();
    }
    let buckets = budget / 2;
    let n = visible.len();
    let mut out = Vec::with_capacity(budget);
    for b in 0..buckets {
        let chunk = &visible[b * n / buckets..(b + 1) * n / buckets];
        let (mut imin, mut imax) = (0, 0);
        for (i, p) in chunk.iter().enumerate() {
            if p.y < chunk[imin].y {
                imin = i;
            }
            if p.y > chunk[imax].y {
                imax = i;
            }
        }
        let (a, b) = (imin.min(imax), imin.max(imax));
        out.push(chunk[a]);
        if b != a {
            out.push(chunk[b]);
        }
    }
    out
}

/// Draws export-style series on screen: the same names, colours, markers and data (`y_log`:
/// the axis shows log10 of the values, with positive values only).
pub fn show_series(pui: &mut PlotUi<'_>, series: Vec<crate::export::Series>, y_log: bool) {
    use crate::export::{Dash, Marker, SeriesKind};
    use egui_plot::{LineStyle, MarkerShape, Points};
    for s in series {
        let pts: Vec<[f64; 2]> = if y_log {
            s.points
                .iter()
                .filter(|p| p[1] > 0.0)
                .map(|p| [p[0], p[1].log10()])
                .collect()
        } else {
            s.points
        };
        let color = c32(s.color);
        match s.kind {
            SeriesKind::Line { width, style } => {
                let style = match style {
                    Dash::Solid => LineStyle::Solid,
                    Dash::Dashed => LineStyle::dashed_dense(),
                    Dash::Dotted => LineStyle::dotted_dense(),
                };
                pui.line(
                    egui_plot::Line::new(s.name, pts)
                        .color(color)
                        .width(width as f32)
                        .style(style)
                        .allow_band(false),
                );
            }
            SeriesKind::Segments { width } => {
                for (k, ab) in pts.chunks_exact(2).enumerate() {
                    let name = if k == 0 {
                        s.name.clone()
                    } else {
                        String::new()
                    };
                    pui.line(
                        egui_plot::Line::new(name, vec![ab[0], ab[1]])
                            .color(color)
                            .width(width as f32),
                    );
                }
            }
            SeriesKind::Markers { shape, size } => {
                let shape = match shape {
                    Marker::Circle => MarkerShape::Circle,
                    Marker::Cross => MarkerShape::Cross,
                    Marker::Square => MarkerShape::Square,
                };
                pui.points(
                    Points::new(s.name, pts)
                        .shape(shape)
                        .radius(size as f32)
                        .color(color)
                        .filled(true),
                );
            }
        }
    }
}

/// Stale results are drawn greyed out: each colour is mixed halfway with grey and thinned.
pub fn grey_out(series: &mut [crate::export::Series]) {
    for s in series {
        let crate::export::Rgb(r, g, b) = s.color;
        let mix = |c: u8| ((u16::from(c) + 2 * 128) / 3) as u8;
        s.color = crate::export::Rgb(mix(r), mix(g), mix(b));
    }
}

/// `decimate` into export-series points.
pub fn prepared(points: &[PlotPoint], x_range: Option<(f64, f64)>, budget: usize) -> Vec<[f64; 2]> {
    if budget == usize::MAX {
        return points.iter().map(|p| [p.x, p.y]).collect();
    }
    decimate(points, x_range, budget)
        .into_iter()
        .map(|p| [p.x, p.y])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimation_keeps_extremes_and_order() {
        let pts: Vec<PlotPoint> = (0..100_000)
            .map(|i| {
                let x = i as f64;
                let y = if i == 54_321 { 1e6 } else { (x * 0.01).sin() };
                PlotPoint::new(x, y)
            })
            .collect();
        let d = decimate(&pts, None, 1000);
        assert!(d.len() <= 1000);
        assert!(d.windows(2).all(|w| w[0].x <= w[1].x));
        assert!(d.iter().any(|p| p.y == 1e6), "the spike survives");
        let small = decimate(&pts[..10], None, 1000);
        assert_eq!(small.len(), 10);
    }

    #[test]
    fn decimation_restricts_to_the_visible_range() {
        let pts: Vec<PlotPoint> = (0..1000).map(|i| PlotPoint::new(i as f64, 0.0)).collect();
        let d = decimate(&pts, Some((100.5, 199.5)), 10_000);
        assert_eq!(d.first().map(|p| p.x), Some(100.0));
        assert_eq!(d.last().map(|p| p.x), Some(200.0));
    }
}
