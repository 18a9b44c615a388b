//! Plot (4): the coefficients a0, a1, a2 of p(τ) = a0 + a1 τ + a2 τ² (paper eq. 15) for one
//! component, as step-wise segments over each step; optionally p(τ) against the true f along
//! the selected step (f evaluated on the dense solution q(τ) by the run's worker).

use crate::app::charts::legend::legend_strip;
use crate::app::charts::series::{POINT_BUDGET, grey_out, prepared, show_series};
use crate::export::{Dash, Figure, Rgb, Series, SeriesKind};

use super::super::command::Command;
use super::super::model::RunData;
use super::super::state::ViewState;
use super::solution::{store_t_range, view_t_range};

const F_TRUE: Rgb = Rgb(220, 50, 47);

/// The run the coefficient plot shows: the focus run when it has coefficients, else the first
/// run that has them.
pub fn coeff_run(runs: &[RunData], view: &ViewState) -> Option<usize> {
    let has = |r: &RunData| r.config.method.has_coefficients();
    if runs.get(view.table_run).is_some_and(has) {
        Some(view.table_run)
    } else {
        runs.iter().position(has)
    }
}

pub fn series(
    runs: &[RunData],
    view: &ViewState,
    x_range: Option<(f64, f64)>,
    budget: usize,
) -> Vec<Series> {
    let Some(ri) = coeff_run(runs, view) else {
        return Vec::new();
    };
    let run = &runs[ri];
    let Some(p) = &run.problem else {
        return Vec::new();
    };
    let c = view.coeff_component.min(p.dim().saturating_sub(1));
    let mut out: Vec<Series> = (0..3)
        .map(|k| Series {
            name: format!("a{k} ({})", p.components[c]),
            // The run's colour, as in every plot; a0, a1, a2 differ by line style.
            color: run.color,
            kind: SeriesKind::Line {
                width: 2,
                style: Dash::of_component(k),
            },
            points: run
                .series
                .coeffs
                .get(k * p.dim() + c)
                .map(|st| prepared(st.revealed(view.playback.shown), x_range, budget))
                .unwrap_or_default(),
        })
        .collect();
    if view.show_p_vs_f
        && let Some(probe) = &run.probe
        && view
            .selected
            .is_some_and(|s| s.run == ri && s.record == probe.record)
    {
        let at = |v: &[f64]| -> Vec<[f64; 2]> {
            probe
                .tau
                .iter()
                .zip(v)
                .map(|(tau, y)| [probe.t + tau * probe.h, *y])
                .collect()
        };
        out.push(Series {
            name: format!("p(τ) for {}'", p.components[c]),
            color: Rgb(120, 120, 120),
            kind: SeriesKind::Line {
                width: 2,
                style: Dash::Dashed,
            },
            points: at(&probe.p[c]),
        });
        out.push(Series {
            name: "true f along q(τ)".to_string(),
            color: F_TRUE,
            kind: SeriesKind::Line {
                width: 1,
                style: Dash::Solid,
            },
            points: at(&probe.f_true[c]),
        });
    }
    out
}

pub fn figure(runs: &[RunData], view: &ViewState) -> Figure {
    Figure {
        title: "coefficients a0, a1, a2 (paper eq. 15)".into(),
        x_label: "t".into(),
        y_label: "a_k (units of f)".into(),
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
) {
    if coeff_run(runs, view).is_none() {
        ui.weak("a0, a1, a2: none of the chosen methods has the RK4 polynomial coefficients (Dopri5, midpoint and Euler do not).");
        return;
    }
    let x_range = view_t_range(ui);
    let mut s = series(runs, view, x_range, POINT_BUDGET);
    if view.stale.is_some() {
        grey_out(&mut s);
    }
    let height = (height - legend_strip(ui, &s)).max(50.0);
    let resp = super::time_plot("coefficients", "a0, a1, a2", height, runs, true).show(ui, |pui| {
        super::highlight_steps(pui, view, runs);
        show_series(pui, s, false);
        (super::read_pointer(pui), super::visible_t(pui))
    });
    view.plot_rects.push(("coefficients", resp.response.rect));
    let (pointer, t) = resp.inner;
    store_t_range(ui, t);
    super::apply_pointer(pointer, view, runs, commands);
}
