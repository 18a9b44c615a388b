//! A figure as an experiment result stores it: serialisable, so that a cached result reopens
//! with its figures; [`Plot::to_figure`] turns it into the exporter's [`Figure`].

use serde::{Deserialize, Serialize};

use crate::export::{Dash, Figure, HLine, Marker, Rgb, Series, SeriesKind};

/// How a series is drawn (mirrors [`SeriesKind`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlotKind {
    Line {
        width: u32,
        dashed: bool,
    },
    /// Points `2k`, `2k + 1` form one segment (filled regions are drawn as row runs).
    Segments {
        width: u32,
    },
    Circles {
        size: u32,
    },
    Crosses {
        size: u32,
    },
    Squares {
        size: u32,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlotSeries {
    pub name: String,
    pub color: [u8; 3],
    pub kind: PlotKind,
    pub points: Vec<[f64; 2]>,
}

/// One figure of a result; `name` is its file stem when exported.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Plot {
    pub name: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_log: bool,
    pub y_log: bool,
    pub series: Vec<PlotSeries>,
    /// Horizontal reference lines `(y, name)`.
    pub hlines: Vec<(f64, String)>,
}

/// A palette of distinguishable colours (Tableau 10).
pub const PALETTE: [[u8; 3]; 10] = [
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

/// Colour `i` of [`PALETTE`].
pub fn color(i: usize) -> [u8; 3] {
    PALETTE[i % PALETTE.len()]
}

impl Plot {
    pub fn new(name: &str, title: &str, x_label: &str, y_label: &str) -> Self {
        Self {
            name: name.into(),
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            ..Self::default()
        }
    }

    pub fn push(&mut self, name: &str, color: [u8; 3], kind: PlotKind, points: Vec<[f64; 2]>) {
        self.series.push(PlotSeries {
            name: name.into(),
            color,
            kind,
            points,
        });
    }

    /// The exporter's figure.
    pub fn to_figure(&self) -> Figure {
        let rgb = |c: [u8; 3]| Rgb(c[0], c[1], c[2]);
        Figure {
            title: self.title.clone(),
            x_label: self.x_label.clone(),
            y_label: self.y_label.clone(),
            x_log: self.x_log,
            y_log: self.y_log,
            series: self
                .series
                .iter()
                .map(|s| Series {
                    name: s.name.clone(),
                    color: rgb(s.color),
                    kind: match s.kind {
                        PlotKind::Line { width, dashed } => SeriesKind::Line {
                            width,
                            style: if dashed { Dash::Dashed } else { Dash::Solid },
                        },
                        PlotKind::Segments { width } => SeriesKind::Segments { width },
                        PlotKind::Circles { size } => SeriesKind::Markers {
                            shape: Marker::Circle,
                            size,
                        },
                        PlotKind::Crosses { size } => SeriesKind::Markers {
                            shape: Marker::Cross,
                            size,
                        },
                        PlotKind::Squares { size } => SeriesKind::Markers {
                            shape: Marker::Square,
                            size,
                        },
                    },
                    points: s.points.clone(),
                })
                .collect(),
            hlines: self
                .hlines
                .iter()
                .map(|(y, name)| HLine {
                    y: *y,
                    name: name.clone(),
                    color: Rgb(120, 120, 120),
                })
                .collect(),
        }
    }
}
