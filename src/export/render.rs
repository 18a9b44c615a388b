//! Drawing a [`Figure`] with plotters, on the bitmap (PNG) or SVG backend.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use super::{Dash, ExportError, Figure, Marker, Rgb, SeriesKind};

const FONT: &str = "sans-serif";

/// plotters' ab_glyph text backend only knows fonts registered by name: register egui's
/// default font once, so exported figures use the same typeface as the app.
fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bundled font is valid; a failure would only mean text is not drawn.
        let _ = plotters::style::register_font(
            FONT,
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        );
    });
}

fn color(c: Rgb) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

/// Renders `figure` as an SVG document.
pub fn render_svg(figure: &Figure, size: (u32, u32)) -> Result<String, ExportError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        draw(&root, figure)?;
        root.present()
            .map_err(|e| ExportError::Draw(e.to_string()))?;
    }
    Ok(out)
}

/// Writes `figure` as an SVG file.
pub fn write_svg(figure: &Figure, path: &Path, size: (u32, u32)) -> Result<(), ExportError> {
    let text = render_svg(figure, size)?;
    crate::output::write_bytes(path, text.as_bytes()).map_err(|e| ExportError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Writes `figure` as a PNG file.
pub fn write_png(figure: &Figure, path: &Path, size: (u32, u32)) -> Result<(), ExportError> {
    let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        draw(&root, figure)?;
        root.present()
            .map_err(|e| ExportError::Draw(e.to_string()))?;
    }
    let image = image::RgbImage::from_raw(size.0, size.1, pixels)
        .ok_or_else(|| ExportError::Draw("pixel buffer has the wrong size".into()))?;
    // Encoded in memory, then written next to `path` and renamed into place.
    let mut png = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut png, image::ImageFormat::Png)
        .and_then(|()| crate::output::write_bytes(path, png.get_ref()).map_err(Into::into))
        .map_err(|e| ExportError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })
}

/// Pads a range so that a flat series still gets a visible axis.
/// The data range with a 5 % margin, kept finite: a margin that would overflow (a diverged
/// loss of 1e300 on a log axis) is clamped, since plotters' tick search never ends on an
/// infinite bound.
fn padded(lo: f64, hi: f64, log: bool) -> (f64, f64) {
    if log {
        let (a, b) = (lo.log10(), hi.log10());
        let pad = ((b - a) * 0.05).max(0.05);
        // plotters divides the bounds: their ratio must stay finite too (≤ 10^300).
        let lo_exp = (a - pad).max(-300.0);
        let hi_exp = (b + pad).min(300.0).min(lo_exp + 300.0);
        (10f64.powf(lo_exp), 10f64.powf(hi_exp))
    } else {
        let big = f64::MAX / 4.0;
        let (lo, hi) = (lo.clamp(-big, big), hi.clamp(-big, big));
        let pad = ((hi - lo) * 0.05).max(1e-12 * lo.abs().max(hi.abs()).max(1.0));
        ((lo - pad).max(-2.0 * big), (hi + pad).min(2.0 * big))
    }
}

/// An axis tick's text with at most four significant digits: `10^-5` computed as
/// `10f64.powf(-5.0)` reads `1e-5`, not `9.9999999e-6`; magnitudes outside [1e-3, 1e4) use
/// the exponent form.
fn tick_label(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let trim = |m: &str| -> String {
        if m.contains('.') {
            m.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            m.to_string()
        }
    };
    let mag = v.abs().log10().floor();
    if (-3.0..4.0).contains(&mag) {
        let decimals = (3.0 - mag).max(0.0) as usize;
        trim(&format!("{v:.decimals$}"))
    } else {
        let s = format!("{v:.3e}");
        match s.split_once('e') {
            Some((m, e)) => format!("{}e{e}", trim(m)),
            None => s,
        }
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    fig: &Figure,
) -> Result<(), ExportError> {
    register_font();
    root.fill(&WHITE)
        .map_err(|e| ExportError::Draw(e.to_string()))?;
    let [x0, x1, y0, y1] = fig.bounds().ok_or(ExportError::Empty)?;
    let (x0, x1) = padded(x0, x1, fig.x_log);
    let (y0, y1) = padded(y0, y1, fig.y_log);
    match (fig.x_log, fig.y_log) {
        (false, false) => chart(root, fig, x0..x1, y0..y1),
        (false, true) => chart(root, fig, x0..x1, (y0..y1).log_scale()),
        (true, false) => chart(root, fig, (x0..x1).log_scale(), y0..y1),
        (true, true) => chart(root, fig, (x0..x1).log_scale(), (y0..y1).log_scale()),
    }
}

fn chart<DB, X, Y>(
    root: &DrawingArea<DB, Shift>,
    fig: &Figure,
    x: X,
    y: Y,
) -> Result<(), ExportError>
where
    DB: DrawingBackend,
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| ExportError::Draw(e.to_string());
    let (w, _) = root.dim_in_pixel();
    let scale = (w as f64 / 800.0).max(1.0);
    let px = |v: f64| (v * scale).round() as u32;
    let mut chart = ChartBuilder::on(root)
        .caption(&fig.title, (FONT, px(18.0)))
        .margin(px(12.0))
        .x_label_area_size(px(44.0))
        .y_label_area_size(px(70.0))
        .build_cartesian_2d(x, y)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(&fig.x_label)
        .y_desc(&fig.y_label)
        .label_style((FONT, px(13.0)))
        .axis_desc_style((FONT, px(15.0)))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(205, 205, 205))
        .x_label_formatter(&|v: &f64| tick_label(*v))
        .y_label_formatter(&|v: &f64| tick_label(*v))
        .draw()
        .map_err(err)?;
    let usable = |p: &[f64; 2]| {
        p[0].is_finite()
            && p[1].is_finite()
            && (!fig.x_log || p[0] > 0.0)
            && (!fig.y_log || p[1] > 0.0)
    };
    for h in &fig.hlines {
        if !(h.y.is_finite() && (!fig.y_log || h.y > 0.0)) {
            continue;
        }
        let range = chart.x_range();
        let c = color(h.color);
        chart
            .draw_series(DashedLineSeries::new(
                [(range.start, h.y), (range.end, h.y)],
                px(6.0),
                px(4.0),
                c.stroke_width(px(1.5)),
            ))
            .map_err(err)?
            .label(&h.name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    for s in &fig.series {
        let c = color(s.color);
        let pts = || s.points.iter().filter(|p| usable(p)).map(|p| (p[0], p[1]));
        let anno = match s.kind {
            SeriesKind::Line { width, style: dash } => {
                let style = c.stroke_width(px(width as f64));
                // A non-finite point splits the polyline (e.g. a blow-up).
                let mut pieces: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
                for p in &s.points {
                    if usable(p) {
                        if let Some(last) = pieces.last_mut() {
                            last.push((p[0], p[1]));
                        }
                    } else if pieces.last().is_some_and(|l| !l.is_empty()) {
                        pieces.push(Vec::new());
                    }
                }
                for (k, piece) in pieces.into_iter().filter(|p| !p.is_empty()).enumerate() {
                    let a = match dash {
                        Dash::Dashed => chart
                            .draw_series(DashedLineSeries::new(piece, px(5.0), px(4.0), style))
                            .map_err(err)?,
                        Dash::Dotted => chart
                            .draw_series(DashedLineSeries::new(piece, px(1.5), px(3.0), style))
                            .map_err(err)?,
                        Dash::Solid => chart
                            .draw_series(LineSeries::new(piece, style))
                            .map_err(err)?,
                    };
                    if k == 0 && !s.name.is_empty() {
                        let name = s.name.clone();
                        a.label(name).legend(move |(x, y)| {
                            PathElement::new([(x, y), (x + 20, y)], c.stroke_width(3))
                        });
                    }
                }
                None
            }
            SeriesKind::Segments { width } => {
                let style = c.stroke_width(px(width as f64));
                let v: Vec<[f64; 2]> = s.points.clone();
                let segs = v
                    .chunks_exact(2)
                    .filter(|ab| usable(&ab[0]) && usable(&ab[1]))
                    .map(|ab| PathElement::new([(ab[0][0], ab[0][1]), (ab[1][0], ab[1][1])], style))
                    .collect::<Vec<_>>();
                Some(chart.draw_series(segs).map_err(err)?)
            }
            SeriesKind::Markers { shape, size } => {
                let r = px(size as f64) as i32;
                let style = c.filled();
                let line = c.stroke_width(px(1.5));
                Some(match shape {
                    Marker::Circle => chart
                        .draw_series(pts().map(|p| Circle::new(p, r, style)))
                        .map_err(err)?,
                    Marker::Square => chart
                        .draw_series(pts().map(|p| {
                            EmptyElement::at(p) + Rectangle::new([(-r, -r), (r, r)], style)
                        }))
                        .map_err(err)?,
                    Marker::Cross => chart
                        .draw_series(pts().map(|p| Cross::new(p, r + 1, line)))
                        .map_err(err)?,
                })
            }
        };
        if let Some(anno) = anno {
            let name = s.name.clone();
            if !name.is_empty() {
                anno.label(name).legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], c.stroke_width(3))
                });
            }
        }
    }
    chart
        .configure_series_labels()
        .label_font((FONT, px(13.0)))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod padding_tests {
    use super::padded;

    #[test]
    fn huge_ranges_stay_finite() {
        for (lo, hi, log) in [
            (1e-2, 1.8e295, true),
            (1e-320, 1e308, true),
            (-1e308, 1e308, false),
            (f64::MAX, f64::MAX, false),
        ] {
            let (a, b) = padded(lo, hi, log);
            assert!(
                a.is_finite() && b.is_finite() && a < b,
                "{lo} {hi}: {a} {b}"
            );
            if log {
                assert!((b / a).is_finite(), "{lo} {hi}: ratio {}", b / a);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tick_label;

    #[test]
    fn tick_labels_are_short_and_round() {
        assert_eq!(tick_label(10f64.powf(-5.0)), "1e-5");
        assert_eq!(tick_label(9.9999999e-6), "1e-5");
        assert_eq!(tick_label(2.5e7), "2.5e7");
        assert_eq!(tick_label(0.25), "0.25");
        assert_eq!(tick_label(0.1 + 0.2), "0.3");
        assert_eq!(tick_label(1234.5678), "1235");
        assert_eq!(tick_label(-40.0), "-40");
        assert_eq!(tick_label(0.0), "0");
    }
}
