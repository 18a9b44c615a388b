//! Publication-quality plot export (PNG and SVG) with plotters. GUI-free: the app describes each
//! plot as a [`Figure`] (the same series, colours and axis labels as on screen) and a worker
//! thread renders it here.

mod render;

use std::path::Path;

pub use render::{render_svg, write_png, write_svg};

/// An sRGB colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SeriesKind {
    /// A polyline through the points, in order; non-finite points break the line.
    Line { width: u32, style: Dash },
    /// Independent segments: points `2k` and `2k + 1` form one segment.
    Segments { width: u32 },
    /// One marker per point.
    Markers { shape: Marker, size: u32 },
}

/// Line styles (the app tells the components of a run apart by them: one colour per run).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Dash {
    #[default]
    Solid,
    Dashed,
    Dotted,
}

impl Dash {
    /// The style of component `c`: solid, dashed, dotted, then again.
    pub fn of_component(c: usize) -> Self {
        [Dash::Solid, Dash::Dashed, Dash::Dotted][c % 3]
    }
}

/// Marker shapes (the on-screen plots use the same ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Cross,
    Square,
}

/// One named series of a figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub color: Rgb,
    pub kind: SeriesKind,
    pub points: Vec<[f64; 2]>,
}

/// A horizontal reference line (e.g. the acceptance line `err/tol = 1`).
#[derive(Clone, Debug, PartialEq)]
pub struct HLine {
    pub y: f64,
    pub name: String,
    pub color: Rgb,
}

/// A 2-D plot: axes, labels and series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figure {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Logarithmic axes; points with a non-positive coordinate on a log axis are skipped.
    pub x_log: bool,
    pub y_log: bool,
    pub series: Vec<Series>,
    pub hlines: Vec<HLine>,
}

/// Output file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Png,
    Svg,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Svg => "svg",
        }
    }
}

/// Why an export failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ExportError {
    #[error("nothing to export: the plot has no finite data")]
    Empty,
    #[error("cannot draw the plot: {0}")]
    Draw(String),
    #[error("cannot write {path}: {message}")]
    Io { path: String, message: String },
}

/// Default export size in pixels (SVG user units): 1600×1000, a 16:10 figure.
pub const DEFAULT_SIZE: (u32, u32) = (1600, 1000);

/// Writes `figure` to `path` in `format`.
pub fn write(figure: &Figure, path: &Path, format: Format) -> Result<(), ExportError> {
    match format {
        Format::Png => write_png(figure, path, DEFAULT_SIZE),
        Format::Svg => write_svg(figure, path, DEFAULT_SIZE),
    }
}

impl Figure {
    /// The data bounds `[x_min, x_max, y_min, y_max]` over finite points (positive ones on log
    /// axes), including the horizontal lines; `None` when there is nothing to draw.
    pub fn bounds(&self) -> Option<[f64; 4]> {
        let ok = |v: f64, log: bool| v.is_finite() && (!log || v > 0.0);
        let add = |b: Option<[f64; 4]>, x: f64, y: f64| {
            Some(match b {
                None => [x, x, y, y],
                Some([x0, x1, y0, y1]) => [x0.min(x), x1.max(x), y0.min(y), y1.max(y)],
            })
        };
        let mut b: Option<[f64; 4]> = None;
        for s in &self.series {
            for p in &s.points {
                if ok(p[0], self.x_log) && ok(p[1], self.y_log) {
                    b = add(b, p[0], p[1]);
                }
            }
        }
        let [x0, _, _, _] = b?;
        for h in &self.hlines {
            if ok(h.y, self.y_log) {
                b = add(b, x0, h.y);
            }
        }
        b
    }
}
