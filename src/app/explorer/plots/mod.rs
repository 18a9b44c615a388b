//! The explorer's plots: the linked time plots (solution, step size, error ratio, dense-output
//! coefficients), the phase portrait and the work–precision diagram. Each view draws from the
//! runs' prepared buffers (decimated to the visible range, never altering the data) and can
//! describe itself as an export figure ([`crate::export::Figure`]). The axis, series and legend
//! helpers they use are shared with the other rooms ([`crate::app::charts`]).

pub mod coefficients;
pub mod error_ratio;
pub mod phase;
pub mod solution;
pub mod step_size;
pub mod work_precision;

use crate::app::charts::axes::{AXIS_LABEL_MIN, nice_spacer, nice_x_spacer, sci_formatter};
use crate::app::charts::legend::{LegendKind, legend_entry, legend_strip};
use egui::Id;
use egui_plot::{Plot, PlotUi, Span};

use super::command::Command;
use super::model::RunData;
use super::state::{StepRef, ViewState};
use crate::app::theme::{HIGHLIGHT, c32};

/// Link group of the time plots (shared t axis and cursor).
pub fn t_link() -> Id {
    Id::unique("nodelab-t-axis")
}

/// A time plot with the shared t axis, cursor and app styling; `show_t`: draw the t axis (the
/// lowest plot of the stack does; the others share it and keep their height for data).
pub fn time_plot(
    id: &str,
    y_label: &str,
    height: f32,
    runs: &[RunData],
    show_t: bool,
) -> Plot<'static> {
    let span = runs
        .iter()
        .find_map(|r| r.problem.as_ref())
        .map_or((0.0, 1.0), |p| (p.t0, p.t_end));
    // Every time plot includes the whole span, so that their automatic bounds agree.
    Plot::new(id.to_string())
        .show_grid(true)
        .include_x(span.0)
        .include_x(span.1)
        .height(height)
        .link_axis(t_link(), [true, false])
        .link_cursor(t_link(), [true, false])
        .custom_x_axes(vec![
            egui_plot::AxisHints::new_x()
                .label("t")
                .formatter(sci_formatter)
                .label_spacing(AXIS_LABEL_MIN..=AXIS_LABEL_MIN + 1.0),
        ])
        .custom_y_axes(vec![
            egui_plot::AxisHints::new_y()
                .label(y_label.to_string())
                .min_thickness(56.0)
                .formatter(sci_formatter)
                .label_spacing(AXIS_LABEL_MIN..=AXIS_LABEL_MIN + 1.0),
        ])
        .x_grid_spacer(nice_x_spacer)
        .y_grid_spacer(nice_spacer)
        .show_axes([show_t, true])
}

/// The focus run (what hovering and clicking in a plot select from).
pub fn focus_run(view: &ViewState, runs: &[RunData]) -> Option<usize> {
    (view.table_run < runs.len()).then_some(view.table_run)
}

/// Shades the selected and the hovered step across a time plot.
pub fn highlight_steps(pui: &mut PlotUi<'_>, view: &ViewState, runs: &[RunData]) {
    for (step, alpha) in [(view.hovered, 40u8), (view.selected, 80u8)] {
        let Some(r) = step.and_then(|s| runs.get(s.run)?.records.get(s.record)) else {
            continue;
        };
        let fill = c32(HIGHLIGHT).gamma_multiply(alpha as f32 / 255.0);
        pui.span(
            Span::new("", r.t..=r.t + r.h)
                .fill(fill)
                .border_width(1.0)
                .border_color(c32(HIGHLIGHT)),
        );
    }
}

/// What the pointer did in a time plot this frame.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pointer {
    pub t: Option<f64>,
    pub clicked: bool,
}

/// Reads the pointer inside a plot (call at the end of the plot closure).
pub fn read_pointer(pui: &PlotUi<'_>) -> Pointer {
    let t = pui
        .response()
        .hovered()
        .then(|| pui.pointer_coordinate())
        .flatten()
        .map(|p| p.x);
    Pointer {
        t,
        clicked: pui.response().clicked(),
    }
}

/// Turns a pointer into hover state and a selection command.
pub fn apply_pointer(
    pointer: Pointer,
    view: &mut ViewState,
    runs: &[RunData],
    commands: &mut Vec<Command>,
) {
    let Some(t) = pointer.t else { return };
    let Some(run) = focus_run(view, runs) else {
        return;
    };
    let hit = runs[run]
        .accepted_step_at(t, view.playback.shown)
        .map(|record| StepRef { run, record });
    if hit.is_some() {
        view.hovered_next = hit;
    }
    if pointer.clicked && hit.is_some() {
        commands.push(Command::Select(hit));
    }
}

/// The visible t range of the linked time plots when the user zoomed (None while the plots
/// fit all data, so that new data keeps extending the view).
pub fn visible_t(pui: &PlotUi<'_>) -> Option<(f64, f64)> {
    if pui.auto_bounds().x {
        None
    } else {
        let b = pui.plot_bounds();
        Some((b.min()[0], b.max()[0]))
    }
}

/// The linked time plots (solution, h, err/tol, coefficients), stacked.
pub fn time_plots(
    ui: &mut egui::Ui,
    runs: &[RunData],
    view: &mut ViewState,
    commands: &mut Vec<Command>,
) {
    if runs.iter().all(|r| r.problem.is_none()) {
        ui.centered_and_justified(|ui| {
            ui.weak("Choose a vector field and solvers on the left, then press ▶ Run.");
        });
        return;
    }
    // One legend for the runs (their colours hold in every plot below); each plot's own strip
    // names only what is particular to it (components by line style, the acceptance line, …).
    let mut entries: Vec<crate::export::Series> = runs
        .iter()
        .map(|r| {
            legend_entry(
                r.label(),
                r.color,
                LegendKind::Line(crate::export::Dash::Solid),
            )
        })
        .collect();
    entries.push(legend_entry(
        "rejected attempt".into(),
        crate::app::theme::REJECTED,
        LegendKind::Marker(crate::export::Marker::Cross),
    ));
    legend_strip(ui, &entries);
    let coeffs = coefficients::coeff_run(runs, view);
    let est = error_ratio::has_estimates(runs);
    let gap = ui.spacing().item_spacing.y;
    let header = if coeffs.is_some() { 24.0 } else { 0.0 };
    let heights = plot_heights(
        ui.available_height() - header - 4.0 * gap,
        est,
        coeffs.is_some(),
    );
    let fits = heights.iter().sum::<f32>() <= ui.available_height() - header - 4.0 * gap + 1.0;
    // Too little room for every plot at a readable height: they scroll instead of shrinking.
    egui::ScrollArea::vertical()
        .vscroll(!fits)
        .auto_shrink([false, false])
        .show(ui, |ui| {
            stacked_time_plots(ui, runs, view, commands, heights, coeffs)
        });
}

/// Minimum readable heights of the solution, h, err/tol and coefficient plots (legend
/// included): three labelled ticks need about 3 × [`LABEL_SPACING`] of axis.
pub const MIN_PLOT_HEIGHTS: [f32; 4] = [110.0, 80.0, 80.0, 130.0];

/// Heights of the stacked time plots in `total` points: shares 1.5 : 1 : 1 : 1.5 (the
/// coefficient plot holds three curves), each at least [`MIN_PLOT_HEIGHTS`].
pub fn plot_heights(total: f32, est: bool, coeffs: bool) -> [f32; 4] {
    let weights = [
        1.5,
        1.0,
        if est { 1.0 } else { 0.0 },
        if coeffs { 1.5 } else { 0.0 },
    ];
    let sum: f32 = weights.iter().sum();
    let mut out = [0.0; 4];
    for k in 0..4 {
        if weights[k] > 0.0 {
            out[k] = (total * weights[k] / sum).max(MIN_PLOT_HEIGHTS[k]);
        }
    }
    out
}

fn stacked_time_plots(
    ui: &mut egui::Ui,
    runs: &[RunData],
    view: &mut ViewState,
    commands: &mut Vec<Command>,
    h: [f32; 4],
    coeffs: Option<usize>,
) {
    let last_t = if coeffs.is_some() {
        3
    } else if h[2] > 0.0 {
        2
    } else {
        1
    };
    solution::ui(ui, runs, view, commands, h[0]);
    step_size::ui(ui, runs, view, commands, h[1], last_t == 1);
    if h[2] > 0.0 {
        error_ratio::ui(ui, runs, view, commands, h[2], last_t == 2);
    }
    if let Some(ri) = coeffs {
        let p = runs[ri].problem.as_ref();
        ui.horizontal_wrapped(|ui| {
            ui.label(format!("a0, a1, a2 of {} for", runs[ri].config.method));
            if let Some(p) = p {
                for (c, name) in p.components.iter().enumerate() {
                    ui.selectable_value(&mut view.coeff_component, c, name);
                }
            }
            ui.separator();
            ui.checkbox(&mut view.show_p_vs_f, "p(τ) vs true f on the selected step");
        });
        coefficients::ui(ui, runs, view, commands, h[3]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coefficient_plot_gets_the_most_room_with_the_solution() {
        let h = plot_heights(600.0, true, true);
        assert!(h[3] >= h[1] * 1.4 && h[3] >= MIN_PLOT_HEIGHTS[3], "{h:?}");
        let small = plot_heights(200.0, true, true);
        for k in 0..4 {
            assert!(small[k] >= MIN_PLOT_HEIGHTS[k], "{small:?}");
        }
    }
}
