//! Plot (5): the phase portrait of 2-D and 3-D problems (3-D: a chosen projection), with the
//! vector field drawn as arrows and the step points on the trajectory.

use crate::app::charts::axes::{AXIS_LABEL_MIN, nice_spacer, nice_x_spacer, sci_formatter};
use crate::app::charts::legend::{LegendKind, legend_entry, legend_strip};
use crate::app::charts::series::{POINT_BUDGET, grey_out, show_series};
use egui_plot::{Arrows, Plot};

use crate::export::{Dash, Figure, Marker, Rgb, Series, SeriesKind};

use super::super::command::Command;
use super::super::model::RunData;
use super::super::state::ViewState;
use super::super::worker::T_AXIS;
use crate::app::theme::{HIGHLIGHT, TARGET, c32, run_color};

const FIELD: Rgb = Rgb(150, 150, 150);
/// How near (points) the pointer must be to the initial-state handle to drag it.
pub const HANDLE_RADIUS: f32 = 10.0;

/// What the pointer did in the phase portrait this frame.
struct Gesture {
    handle_at: egui::Pos2,
    at_handle: bool,
    pressed_at_handle: bool,
    pointer: Option<[f64; 2]>,
    drag_started: bool,
    dragging: bool,
    drag_stopped: bool,
    shift_click: bool,
}

/// Whether the problem has a phase portrait.
pub fn applies(runs: &[RunData]) -> bool {
    runs.first()
        .and_then(|r| r.problem.as_ref())
        .is_some_and(|p| (1..=3).contains(&p.dim()))
}

/// The x coordinate of each point: component `axis`, or t for [`T_AXIS`].
fn coords(per_component: &[Vec<egui_plot::PlotPoint>], axis: usize) -> Option<Vec<f64>> {
    if axis == T_AXIS {
        Some(per_component.first()?.iter().map(|p| p.x).collect())
    } else {
        Some(per_component.get(axis)?.iter().map(|p| p.y).collect())
    }
}

/// A state's coordinate on `axis` (t for [`T_AXIS`]).
fn coord(t: f64, state: &[f64], axis: usize) -> Option<f64> {
    if axis == T_AXIS {
        Some(t)
    } else {
        state.get(axis).copied()
    }
}

fn axes(view: &ViewState, dim: usize) -> (usize, usize) {
    if dim == 1 {
        // A scalar problem: the solution in the (t, y) plane over its slope field.
        return (T_AXIS, 0);
    }
    let (a, b) = view.phase_axes;
    if a < dim && b < dim && a != b {
        (a, b)
    } else {
        (0, 1)
    }
}

/// Trajectory points (component a, component b) of the revealed accepted steps, thinned to
/// every k-th point beyond `budget` (a phase curve's x is not monotone, so no range cut), always
/// ending at the latest point.
fn trajectory(run: &RunData, shown: usize, (a, b): (usize, usize), budget: usize) -> Vec<[f64; 2]> {
    let b_points = match run.series.boundaries.get(b) {
        Some(s) => s.revealed(shown),
        None => return Vec::new(),
    };
    let xs: Vec<f64> = if a == T_AXIS {
        b_points.iter().map(|p| p.x).collect()
    } else {
        match run.series.boundaries.get(a) {
            Some(s) => s.revealed(shown).iter().map(|p| p.y).collect(),
            None => return Vec::new(),
        }
    };
    let n = xs.len().min(b_points.len());
    let stride = if budget == usize::MAX {
        1
    } else {
        n.div_ceil(budget.max(1)).max(1)
    };
    let mut out: Vec<[f64; 2]> = (0..n)
        .step_by(stride)
        .map(|i| [xs[i], b_points[i].y])
        .collect();
    if n > 0 && (n - 1) % stride != 0 {
        out.push([xs[n - 1], b_points[n - 1].y]);
    }
    out
}

pub fn series(runs: &[RunData], view: &ViewState, budget: usize) -> Vec<Series> {
    let mut out = Vec::new();
    let Some(dim) = runs
        .first()
        .and_then(|r| r.problem.as_ref())
        .map(|p| p.dim())
    else {
        return out;
    };
    let ax = axes(view, dim);
    if let Some(field) = runs.first().and_then(|r| r.field.as_ref())
        && view.show_field
        && field.axes == ax
    {
        let mut pts = Vec::with_capacity(2 * field.origins.len());
        for (o, t) in field.origins.iter().zip(&field.tips) {
            pts.push([o.x, o.y]);
            pts.push([t.x, t.y]);
        }
        out.push(Series {
            name: "f (direction field)".into(),
            color: FIELD,
            kind: SeriesKind::Segments { width: 1 },
            points: pts,
        });
    }
    if let Some(run) = runs.first() {
        // The other samples of a batch, thin, and the loss targets.
        for (s, sample) in run.batch.iter().enumerate() {
            let (Some(xs), Some(ys)) = (coords(sample, ax.0), coords(sample, ax.1)) else {
                continue;
            };
            out.push(Series {
                name: if s == 0 {
                    format!("other {} samples of the batch", run.batch.len())
                } else {
                    String::new()
                },
                color: run.color,
                kind: SeriesKind::Line {
                    width: 1,
                    style: Dash::Solid,
                },
                points: xs.iter().zip(&ys).map(|(x, y)| [*x, *y]).collect(),
            });
        }
        let targets: Vec<[f64; 2]> = run
            .targets
            .iter()
            .filter_map(|t| Some([coord(t.t, &t.state, ax.0)?, coord(t.t, &t.state, ax.1)?]))
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
    }
    for (ri, run) in runs.iter().enumerate() {
        let pts = trajectory(run, view.playback.shown, ax, budget);
        out.push(Series {
            name: run.label(),
            color: run_color(ri),
            kind: SeriesKind::Line {
                width: 2,
                style: Dash::Solid,
            },
            points: pts.clone(),
        });
        out.push(Series {
            name: String::new(),
            color: run_color(ri),
            kind: SeriesKind::Markers {
                shape: Marker::Circle,
                size: 2,
            },
            points: pts,
        });
    }
    if let Some(sel) = view.selected
        && let Some(r) = runs
            .get(sel.run)
            .and_then(|run| run.records.get(sel.record))
    {
        out.push(Series {
            name: "selected step".into(),
            color: HIGHLIGHT,
            kind: SeriesKind::Markers {
                shape: Marker::Square,
                size: 5,
            },
            points: vec![[
                coord(r.t + r.h, &r.y, ax.0).unwrap_or(f64::NAN),
                coord(r.t + r.h, &r.y, ax.1).unwrap_or(f64::NAN),
            ]],
        });
    }
    out
}

fn labels(runs: &[RunData], view: &ViewState) -> (String, String) {
    let Some(p) = runs.first().and_then(|r| r.problem.as_ref()) else {
        return ("x".into(), "y".into());
    };
    let (a, b) = axes(view, p.dim());
    let name = |c: usize| p.components.get(c).cloned().unwrap_or_else(|| "t".into());
    (name(a), name(b))
}

pub fn figure(runs: &[RunData], view: &ViewState) -> Figure {
    let (x, y) = labels(runs, view);
    Figure {
        title: "phase portrait".into(),
        x_label: x,
        y_label: y,
        series: series(runs, view, usize::MAX),
        ..Figure::default()
    }
}

/// The region and fixed state the vector field should cover, once the first run is complete.
fn wanted_field(runs: &[RunData], view: &ViewState) -> Option<Command> {
    let run = runs.first()?;
    let p = run.problem.as_ref()?;
    if !run.is_finished() || run.records.is_empty() {
        return None;
    }
    let ax = axes(view, p.dim());
    if run.field.as_ref().is_some_and(|f| f.axes == ax) {
        return None;
    }
    let n = run.series.boundaries[0].points.len();
    let mut lo = p.y0.clone();
    let mut hi = p.y0.clone();
    let mut mean = vec![0.0; p.dim()];
    for c in 0..p.dim() {
        for q in &run.series.boundaries[c].points {
            if q.y.is_finite() {
                lo[c] = lo[c].min(q.y);
                hi[c] = hi[c].max(q.y);
                mean[c] += q.y / n as f64;
            }
        }
        // The field covers a batch's other samples too.
        for q in run.batch.iter().filter_map(|s| s.get(c)).flatten() {
            if q.y.is_finite() {
                lo[c] = lo[c].min(q.y);
                hi[c] = hi[c].max(q.y);
            }
        }
    }
    let range = |c: usize| {
        if c == T_AXIS {
            (p.t0, p.t_end)
        } else {
            (lo[c], hi[c])
        }
    };
    let padded = |c: usize| {
        let (a, b) = range(c);
        let pad = ((b - a) * 0.1).max(1e-3);
        (a - pad, b + pad)
    };
    let ((x0, x1), (y0, y1)) = (padded(ax.0), padded(ax.1));
    Some(Command::RequestField {
        run: 0,
        axes: ax,
        bounds: [x0, x1, y0, y1],
        fixed: mean,
    })
}

/// The phase portrait; `y0` is the session's initial state, drawn as a handle that can be
/// dragged (the trajectories re-solve live) — shift-click adds a trajectory from a point.
pub fn ui(
    ui: &mut egui::Ui,
    runs: &[RunData],
    y0: &[f64],
    view: &mut ViewState,
    commands: &mut Vec<Command>,
) {
    // While a re-solve starts (the new run does not know its problem yet), keep drawing the
    // plot with the last problem seen: a drag of the initial state must not lose its widget.
    if let Some(p) = runs.first().and_then(|r| r.problem.as_ref()) {
        if view.phase_problem.as_ref() != Some(p) {
            view.phase_problem = Some(p.clone());
        }
    } else if runs.is_empty() || view.y0_drag.is_none() {
        view.phase_problem = None;
    }
    let Some(p) = view
        .phase_problem
        .clone()
        .filter(|p| (1..=3).contains(&p.dim()))
    else {
        ui.centered_and_justified(|ui| {
            ui.weak("Solve a problem to see its phase portrait.");
        });
        return;
    };
    let p = &p;
    let dim = p.dim();
    ui.horizontal_wrapped(|ui| {
        if dim == 3 {
            ui.label("Projection:");
            for (a, b) in [(0, 1), (0, 2), (1, 2)] {
                let text = format!("{}–{}", p.components[a], p.components[b]);
                if ui
                    .selectable_label(view.phase_axes == (a, b), text)
                    .clicked()
                {
                    view.phase_axes = (a, b);
                }
            }
            ui.separator();
        }
        ui.checkbox(&mut view.show_field, "vector field f");
        if dim == 3 && view.show_field {
            let (a, b) = axes(view, dim);
            if let Some(hidden) = (0..3).find(|c| *c != a && *c != b) {
                ui.weak(format!(
                    "arrows: f with {} held at its mean along the trajectory",
                    p.components[hidden]
                ));
            }
        }
    });
    if view.show_field
        && let Some(cmd) = wanted_field(runs, view)
    {
        commands.push(cmd);
    }
    let (xl, yl) = labels(runs, view);
    let mut s = series(runs, view, POINT_BUDGET);
    if view.stale.is_some() {
        grey_out(&mut s);
    }
    let mut legend = s.clone();
    legend.push(legend_entry(
        "y0: drag it (re-solves live); shift-click adds a trajectory".into(),
        HIGHLIGHT,
        LegendKind::Marker(Marker::Circle),
    ));
    legend_strip(ui, &legend);
    let ax = axes(view, dim);
    // The session's initial state (ahead of the run's while a re-solve is on its way).
    let y0: Vec<f64> = if y0.len() == dim {
        y0.to_vec()
    } else {
        p.y0.clone()
    };
    let handle = view.y0_drag.unwrap_or([
        coord(p.t0, &y0, ax.0).unwrap_or(p.t0),
        coord(p.t0, &y0, ax.1).unwrap_or(0.0),
    ]);
    // A press on the handle (where it was drawn last frame) moves the initial state, not the
    // plot.
    let pressed_on_handle = ui
        .ctx()
        .input(|i| i.pointer.press_origin())
        .is_some_and(|p| {
            view.y0_handle_at
                .is_some_and(|h| p.distance(h) <= HANDLE_RADIUS)
        });
    let grabbing = view.y0_hot || view.y0_drag.is_some() || pressed_on_handle;
    let plot = Plot::new("phase")
        .custom_x_axes(vec![
            egui_plot::AxisHints::new_x()
                .label(xl)
                .formatter(sci_formatter)
                .label_spacing(AXIS_LABEL_MIN..=AXIS_LABEL_MIN + 1.0),
        ])
        .custom_y_axes(vec![
            egui_plot::AxisHints::new_y()
                .label(yl)
                .formatter(sci_formatter)
                .min_thickness(48.0)
                .label_spacing(AXIS_LABEL_MIN..=AXIS_LABEL_MIN + 1.0),
        ])
        .allow_drag(!grabbing)
        .x_grid_spacer(nice_x_spacer)
        .y_grid_spacer(nice_spacer);
    // Equal scales for a phase plane; t and y of a scalar problem have units of their own.
    let plot = if dim == 1 {
        plot
    } else {
        plot.data_aspect(1.0)
    };
    let resp = plot.show(ui, |pui| {
        let (field, rest): (Vec<Series>, Vec<Series>) = s
            .into_iter()
            .partition(|s| matches!(s.kind, SeriesKind::Segments { .. }));
        for f in field {
            let origins: Vec<[f64; 2]> = f.points.iter().step_by(2).copied().collect();
            let tips: Vec<[f64; 2]> = f.points.iter().skip(1).step_by(2).copied().collect();
            pui.arrows(
                Arrows::new(f.name, origins, tips)
                    .color(c32(f.color).gamma_multiply(0.7))
                    .tip_length(6.0),
            );
        }
        show_series(pui, rest, false);
        pui.points(
            egui_plot::Points::new("y0 (drag; shift-click adds a trajectory)", vec![handle])
                .shape(egui_plot::MarkerShape::Circle)
                .radius(7.0)
                .filled(false)
                .color(c32(HIGHLIGHT)),
        );
        let r = pui.response();
        let pointer = pui.pointer_coordinate();
        let handle_at = pui.screen_from_plot(egui_plot::PlotPoint::new(handle[0], handle[1]));
        let near = |pos: egui::Pos2| pos.distance(handle_at) <= HANDLE_RADIUS;
        let at_handle = r.hover_pos().is_some_and(near);
        // A drag starts once the pointer has moved: judge it by where it was pressed.
        let pressed_at_handle = pui
            .ctx()
            .input(|i| i.pointer.press_origin())
            .is_some_and(near);
        let shift = pui.ctx().input(|i| i.modifiers.shift);
        Gesture {
            handle_at,
            pressed_at_handle,
            at_handle,
            pointer: pointer.map(|p| [p.x, p.y]),
            drag_started: r.drag_started(),
            dragging: r.dragged(),
            drag_stopped: r.drag_stopped(),
            shift_click: r.clicked() && shift,
        }
    });
    view.plot_rects.push(("phase", resp.response.rect));
    let g = resp.inner;
    apply_gesture(&g, handle, ax, dim, &y0, view, commands);
}

/// Turns the pointer's gesture on the initial-state handle into commands: a drag moves the
/// initial state (live), a shift-click adds a trajectory from the point.
fn apply_gesture(
    g: &Gesture,
    handle: [f64; 2],
    ax: (usize, usize),
    dim: usize,
    y0: &[f64],
    view: &mut ViewState,
    commands: &mut Vec<Command>,
) {
    view.plot_rects.push((
        "y0-handle",
        egui::Rect::from_center_size(g.handle_at, egui::Vec2::splat(2.0 * HANDLE_RADIUS)),
    ));
    view.y0_hot = g.at_handle;
    view.y0_handle_at = Some(g.handle_at);
    if g.drag_started && g.pressed_at_handle {
        view.y0_drag = Some(handle);
    }
    if let (Some(_), Some(pt)) = (view.y0_drag, g.pointer)
        && g.dragging
    {
        view.y0_drag = Some(pt);
        // The t axis of a scalar problem stays at t0: only the state moves.
        let values = [(ax.0, pt[0]), (ax.1, pt[1])]
            .into_iter()
            .filter(|(c, _)| *c < dim)
            .collect();
        commands.push(Command::SetInitialState(values));
    }
    if g.drag_stopped {
        view.y0_drag = None;
    }
    if g.shift_click
        && let Some(pt) = g.pointer
    {
        let mut state = y0.to_vec();
        for (c, v) in [(ax.0, pt[0]), (ax.1, pt[1])] {
            if let Some(slot) = state.get_mut(c) {
                *slot = v;
            }
        }
        commands.push(Command::AddTrajectory(state));
    }
}
