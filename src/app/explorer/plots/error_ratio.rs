//! Plot (3): the error estimate over the tolerance scale, err/tol, against t (log scale), with
//! the acceptance line at 1: a step is accepted iff its ratio is ≤ 1.

use crate::app::charts::axes::{decade_spacer, log_formatter};
use crate::app::charts::legend::legend_strip;
use crate::app::charts::series::{POINT_BUDGET, grey_out, prepared, show_series};
use crate::export::{Dash, Figure, HLine, Marker, Rgb, Series, SeriesKind};

use super::super::command::Command;
use super::super::model::RunData;
use super::super::state::ViewState;
use super::solution::{store_t_range, view_t_range};
use crate::app::theme::{REJECTED, c32, run_color};

const ACCEPT_LINE: Rgb = Rgb(120, 120, 120);
/// An estimate of exactly zero (the paper estimator's blind spot) is drawn at this floor of
/// the log axis.
pub const ZERO_FLOOR: f64 = 1e-16;

fn floored(mut pts: Vec<[f64; 2]>) -> Vec<[f64; 2]> {
    for p in &mut pts {
        p[1] = p[1].max(ZERO_FLOOR);
    }
    pts
}

pub fn series(
    runs: &[RunData],
    view: &ViewState,
    x_range: Option<(f64, f64)>,
    budget: usize,
) -> Vec<Series> {
    let shown = view.playback.shown;
    let mut out = Vec::new();
    for (ri, run) in runs.iter().enumerate() {
        let acc = run.series.err_accepted.revealed(shown);
        out.push(Series {
            name: format!("err/tol {}", run.label()),
            color: run_color(ri),
            kind: SeriesKind::Markers {
                shape: Marker::Circle,
                size: 2,
            },
            points: floored(prepared(acc, x_range, budget)),
        });
        out.push(Series {
            name: if ri == 0 {
                "rejected".into()
            } else {
                String::new()
            },
            color: REJECTED,
            kind: SeriesKind::Markers {
                shape: Marker::Cross,
                size: 4,
            },
            points: floored(prepared(
                run.series.err_rejected.revealed(shown),
                x_range,
                budget,
            )),
        });
    }
    out
}

/// Whether any run has an error estimate (fixed-step methods have none).
pub fn has_estimates(runs: &[RunData]) -> bool {
    runs.iter().any(|r| r.config.method.is_adaptive())
}

pub fn figure(runs: &[RunData], view: &ViewState) -> Figure {
    Figure {
        title: "error estimate / tolerance".into(),
        x_label: "t".into(),
        y_label: "err / tol (0 drawn at 1e-16)".into(),
        y_log: true,
        series: series(runs, view, None, usize::MAX),
        hlines: vec![HLine {
            y: 1.0,
            name: "accept (err/tol = 1)".into(),
            color: ACCEPT_LINE,
        }],
        ..Figure::default()
    }
}

pub fn ui(
    ui: &mut egui::Ui,
    runs: &[RunData],
    view: &mut ViewState,
    commands: &mut Vec<Command>,
    height: f32,
    show_t: bool,
) {
    let x_range = view_t_range(ui);
    let mut s = series(runs, view, x_range, POINT_BUDGET);
    let accept = [Series {
        name: "accept: err/tol = 1 (0 drawn at 1e-16)".into(),
        color: ACCEPT_LINE,
        kind: SeriesKind::Line {
            width: 1,
            style: Dash::Dashed,
        },
        points: Vec::new(),
    }];
    if view.stale.is_some() {
        grey_out(&mut s);
    }
    let height = (height - legend_strip(ui, &accept)).max(50.0);
    let resp = super::time_plot("error-ratio", "err/tol", height, runs, show_t)
        .y_axis_formatter(log_formatter)
        .y_grid_spacer(decade_spacer)
        .show(ui, |pui| {
            super::highlight_steps(pui, view, runs);
            pui.hline(
                egui_plot::HLine::new("", 0.0)
                    .color(c32(ACCEPT_LINE))
                    .style(egui_plot::LineStyle::dashed_loose()),
            );
            show_series(pui, s, true);
            (super::read_pointer(pui), super::visible_t(pui))
        });
    view.plot_rects.push(("error-ratio", resp.response.rect));
    let (pointer, t) = resp.inner;
    store_t_range(ui, t);
    super::apply_pointer(pointer, view, runs, commands);
}
