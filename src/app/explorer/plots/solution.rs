//! Plot (1): the solution components, with markers at the step boundaries, the per-step cubic
//! q(τ) drawn inside each step (dense output), rejected candidates and the exact solution.

use crate::app::charts::legend::legend_strip;
use crate::app::charts::series::{POINT_BUDGET, grey_out, prepared, show_series};
use crate::export::{Dash, Figure, Marker, Series, SeriesKind};

use super::super::command::Command;
use super::super::model::RunData;
use super::super::state::ViewState;
use super::Pointer;
use crate::app::theme::{EXACT, REJECTED, TARGET, run_color};

/// Dense output is drawn when at most this many steps are visible.
const DENSE_MAX_STEPS: usize = 800;
/// τ samples per step of the dense curve.
const DENSE_SAMPLES: usize = 12;

/// The series of the solution plot (`budget = usize::MAX`: full data, for export). Each run
/// has one colour, as in every other plot; the components of a run differ by line style.
pub fn series(
    runs: &[RunData],
    view: &ViewState,
    x_range: Option<(f64, f64)>,
    budget: usize,
) -> Vec<Series> {
    let shown = view.playback.shown;
    let mut out = Vec::new();
    for (ri, run) in runs.iter().enumerate() {
        let Some(p) = &run.problem else { continue };
        let d = p.dim();
        let color = run_color(ri);
        if view.show_exact && ri == 0 {
            for (c, curve) in run.exact_curve.iter().enumerate() {
                out.push(Series {
                    name: format!("{} exact", p.components[c]),
                    color: EXACT,
                    kind: SeriesKind::Line {
                        width: 1,
                        style: Dash::of_component(c),
                    },
                    points: prepared(curve, x_range, budget),
                });
            }
        }
        if ri == 0 {
            out.extend(batch_series(run, x_range, budget));
        }
        let dense = view
            .show_dense
            .then(|| dense_curves(run, shown, x_range))
            .flatten();
        for c in 0..d {
            let name = if runs.len() == 1 {
                p.components[c].clone()
            } else {
                format!("{} · {}", p.components[c], run.config.method)
            };
            let bounds = run.series.boundaries[c].revealed(shown);
            let line = match &dense {
                Some(curves) => curves[c].clone(),
                None => prepared(bounds, x_range, budget),
            };
            out.push(Series {
                name: name.clone(),
                color,
                kind: SeriesKind::Line {
                    width: 2,
                    style: Dash::of_component(c),
                },
                points: line,
            });
            out.push(Series {
                name: String::new(),
                color,
                kind: SeriesKind::Markers {
                    shape: Marker::Circle,
                    size: 2,
                },
                points: prepared(bounds, x_range, budget),
            });
            out.push(Series {
                name: if c == 0 && ri == 0 {
                    "rejected".into()
                } else {
                    String::new()
                },
                color: REJECTED,
                kind: SeriesKind::Markers {
                    shape: Marker::Cross,
                    size: 3,
                },
                points: prepared(run.series.rejected[c].revealed(shown), x_range, budget),
            });
        }
        // The latest attempt, when rejected, stands out until its retry replaces it.
        if let Some(last) = run.records[..shown.min(run.records.len())].last()
            && !last.accepted
        {
            for c in 0..d {
                out.push(Series {
                    name: String::new(),
                    color: REJECTED,
                    kind: SeriesKind::Markers {
                        shape: Marker::Square,
                        size: 5,
                    },
                    points: vec![[last.t + last.h, last.y[c]]],
                });
            }
        }
    }
    out
}

/// The other samples of a batch (thin lines in the run's colour, each component in its line
/// style) and the loss targets (squares), over t.
fn batch_series(run: &RunData, x_range: Option<(f64, f64)>, budget: usize) -> Vec<Series> {
    let mut out = Vec::new();
    let color = run.color;
    for (s, sample) in run.batch.iter().enumerate() {
        for (c, pts) in sample.iter().enumerate() {
            out.push(Series {
                name: if s == 0 && c == 0 {
                    format!("other {} samples of the batch", run.batch.len())
                } else {
                    String::new()
                },
                color,
                kind: SeriesKind::Line {
                    width: 1,
                    style: Dash::of_component(c),
                },
                points: prepared(pts, x_range, budget),
            });
        }
    }
    let targets: Vec<[f64; 2]> = run
        .targets
        .iter()
        .flat_map(|t| t.state.iter().map(move |v| [t.t, *v]))
        .collect();
    if !targets.is_empty() {
        out.push(Series {
            name: "loss targets".into(),
            color: TARGET,
            kind: SeriesKind::Markers {
                shape: Marker::Square,
                size: 4,
            },
            points: targets,
        });
    }
    out
}

/// The dense output q(τ) of the visible revealed steps, per component, or `None` when too many
/// steps are visible for it to be seen.
fn dense_curves(
    run: &RunData,
    shown: usize,
    x_range: Option<(f64, f64)>,
) -> Option<Vec<Vec<[f64; 2]>>> {
    let d = run.problem.as_ref()?.dim();
    let n = run.accepted.partition_point(|&i| (i as usize) < shown);
    let acc = &run.accepted[..n];
    let (lo, hi) = match x_range {
        Some((a, b)) => (
            acc.partition_point(|&i| {
                let r = &run.records[i as usize];
                r.t + r.h < a
            }),
            acc.partition_point(|&i| run.records[i as usize].t <= b),
        ),
        None => (0, acc.len()),
    };
    if hi.saturating_sub(lo) > DENSE_MAX_STEPS {
        return None;
    }
    let mut curves = vec![Vec::with_capacity((hi - lo) * DENSE_SAMPLES + 1); d];
    let mut y = vec![0.0; d];
    for &i in &acc[lo..hi] {
        let i = i as usize;
        let r = &run.records[i];
        let start = run.start_state(i)?;
        for k in 0..=DENSE_SAMPLES {
            if k == 0 && !curves[0].is_empty() {
                continue;
            }
            let tau = k as f64 / DENSE_SAMPLES as f64;
            r.dense.eval(start, &r.y, r.h, tau, &mut y);
            for c in 0..d {
                curves[c].push([r.t + tau * r.h, y[c]]);
            }
        }
    }
    Some(curves)
}

/// The solution plot's own legend: the components by line style (the runs' colours are in
/// the legend above the time plots), the exact solution, a batch's samples and loss targets.
fn legend(runs: &[RunData], view: &ViewState, series: &[Series]) -> Vec<Series> {
    use crate::app::charts::legend::{LegendKind, legend_entry};
    let mut out = Vec::new();
    if let Some(p) = runs.iter().find_map(|r| r.problem.as_ref()) {
        for (c, name) in p.components.iter().enumerate() {
            out.push(legend_entry(
                name.clone(),
                COMPONENT_KEY,
                LegendKind::Line(Dash::of_component(c)),
            ));
        }
        if view.show_exact && runs.first().is_some_and(|r| !r.exact_curve.is_empty()) {
            out.push(Series {
                name: "exact".into(),
                color: EXACT,
                kind: SeriesKind::Line {
                    width: 1,
                    style: Dash::Solid,
                },
                points: Vec::new(),
            });
        }
    }
    out.extend(
        series
            .iter()
            .filter(|s| s.name.starts_with("other ") || s.name == "loss targets")
            .map(|s| Series {
                points: Vec::new(),
                ..s.clone()
            }),
    );
    out
}

/// The neutral colour of the component keys in the legend.
const COMPONENT_KEY: crate::export::Rgb = crate::export::Rgb(160, 160, 160);

pub fn figure(runs: &[RunData], view: &ViewState) -> Figure {
    Figure {
        title: title(runs),
        x_label: "t".into(),
        y_label: "y".into(),
        series: series(runs, view, None, usize::MAX),
        ..Figure::default()
    }
}

fn title(runs: &[RunData]) -> String {
    runs.first()
        .and_then(|r| r.problem.as_ref())
        .map_or("solution".into(), |p| format!("{}: solution", p.name))
}

pub fn ui(
    ui: &mut egui::Ui,
    runs: &[RunData],
    view: &mut ViewState,
    commands: &mut Vec<Command>,
    height: f32,
) {
    let x_range = view_t_range(ui);
    let mut s = series(runs, view, x_range, POINT_BUDGET);
    if view.stale.is_some() {
        grey_out(&mut s);
    }
    let height = (height - legend_strip(ui, &legend(runs, view, &s))).max(50.0);
    let resp = super::time_plot("solution", "y", height, runs, false).show(ui, |pui| {
        super::highlight_steps(pui, view, runs);
        show_series(pui, s, false);
        (super::read_pointer(pui), super::visible_t(pui))
    });
    view.plot_rects.push(("solution", resp.response.rect));
    let (pointer, t): (Pointer, _) = resp.inner;
    store_t_range(ui, t);
    super::apply_pointer(pointer, view, runs, commands);
}

/// The t range of the linked time plots from the previous frame (see [`super::visible_t`]).
pub fn view_t_range(ui: &egui::Ui) -> Option<(f64, f64)> {
    ui.ctx()
        .data(|d| d.get_temp::<Option<(f64, f64)>>(egui::Id::unique("nodelab-t-range")))
        .flatten()
}

pub fn store_t_range(ui: &egui::Ui, t: Option<(f64, f64)>) {
    ui.ctx()
        .data_mut(|d| d.insert_temp(egui::Id::unique("nodelab-t-range"), t));
}
