//! Plot (2): the step size h against t on a log scale, accepted against rejected attempts.

use crate::app::charts::axes::{decade_spacer, log_formatter};
use crate::app::charts::series::{POINT_BUDGET, grey_out, prepared, show_series};
use crate::export::{Dash, Figure, Marker, Series, SeriesKind};

use super::super::command::Command;
use super::super::model::RunData;
use super::super::state::ViewState;
use super::solution::{store_t_range, view_t_range};
use crate::app::theme::{REJECTED, run_color};

pub fn series(
    runs: &[RunData],
    view: &ViewState,
    x_range: Option<(f64, f64)>,
    budget: usize,
) -> Vec<Series> {
    let shown = view.playback.shown;
    let mut out = Vec::new();
    for (ri, run) in runs.iter().enumerate() {
        let color = run_color(ri);
        let acc = run.series.h_accepted.revealed(shown);
        out.push(Series {
            name: format!("h {}", run.label()),
            color,
            kind: SeriesKind::Line {
                width: 1,
                style: Dash::Solid,
            },
            points: prepared(acc, x_range, budget),
        });
        out.push(Series {
            name: String::new(),
            color,
            kind: SeriesKind::Markers {
                shape: Marker::Circle,
                size: 2,
            },
            points: prepared(acc, x_range, budget),
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
            points: prepared(run.series.h_rejected.revealed(shown), x_range, budget),
        });
    }
    out
}

pub fn figure(runs: &[RunData], view: &ViewState) -> Figure {
    Figure {
        title: "step size h".into(),
        x_label: "t".into(),
        y_label: "h".into(),
        y_log: true,
        series: series(runs, view, None, usize::MAX),
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
    if view.stale.is_some() {
        grey_out(&mut s);
    }
    // The runs' legend above the time plots names every line here.
    let resp = super::time_plot("step-size", "h (log)", height, runs, show_t)
        .y_axis_formatter(log_formatter)
        .y_grid_spacer(decade_spacer)
        .show(ui, |pui| {
            super::highlight_steps(pui, view, runs);
            show_series(pui, s, true);
            (super::read_pointer(pui), super::visible_t(pui))
        });
    view.plot_rects.push(("step-size", resp.response.rect));
    let (pointer, t) = resp.inner;
    store_t_range(ui, t);
    super::apply_pointer(pointer, view, runs, commands);
}
