//! The lens on the selected step (right panel): the step zoomed to its own interval, τ ∈ [0, 1].
//! Inside the step, q(τ) minus a tight reference solution from the same start state (the local
//! error as it builds up) against the error estimate; p(τ) against the true f along q(τ) (the
//! paper's zero-cost idea: p(1) − f(t + h, q(1)) costs nothing, since f(t + h, q(1)) is the next
//! step's k1); and the estimate taken apart: the paper's part h‖p(1) − f(1)‖, the y-dependence
//! part e1 = (h/6)(k4 − k5) of `zc-rk4`, and its quadrature part e2, which is what keeps
//! `zc-rk4` from being blind where f depends on t only (there p(1) = f(1) exactly).

use crate::app::charts::axes::{AXIS_LABEL_MIN, nice_spacer, nice_x_spacer, sci_formatter};
use egui_plot::{HLine, Line, LineStyle, Plot, PlotPoints};

use crate::solver::{Method, StepRecord};

use crate::app::explorer::model::RunData;
use crate::app::explorer::protocol::ProbeResult;
use crate::app::explorer::state::ViewState;
use crate::app::theme::{EXACT, REJECTED, c32};

/// The parts of a step's error estimate, in absolute units (max norm over components).
#[derive(Clone, Debug, PartialEq)]
pub struct EstimateParts {
    /// The estimate that drove the controller.
    pub err: Option<f64>,
    /// The paper's estimate h‖p(1) − f(t + h, q(1))‖ = h‖k4 − k5‖.
    pub paper: f64,
    /// zc-rk4's y-dependence part (h/6)‖k4 − k5‖.
    pub e1: f64,
    /// zc-rk4's quadrature part, what the estimate holds beyond e1 (`None` for other methods).
    pub e2: Option<f64>,
    /// ‖q(1) − reference(1)‖: the true local error of the step.
    pub true_error: f64,
}

/// Takes a step's estimate apart (see the module docs).
pub fn estimate_parts(probe: &ProbeResult, record: &StepRecord, method: Method) -> EstimateParts {
    let last = probe.tau.len().saturating_sub(1);
    let max_over = |f: &dyn Fn(usize) -> f64| {
        (0..probe.p.len())
            .map(f)
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max)
    };
    let paper = probe.h.abs() * max_over(&|c| (probe.p[c][last] - probe.f_true[c][last]).abs());
    let e1 = paper / 6.0;
    let true_error = max_over(&|c| (probe.q[c][last] - probe.reference[c][last]).abs());
    let e2 = (method == Method::ZcRk4).then(|| record.err.map_or(0.0, |e| (e - e1).max(0.0)));
    EstimateParts {
        err: record.err,
        paper,
        e1,
        e2,
        true_error,
    }
}

/// The two plots of the lens: q(τ) − reference against ±err, and p(τ) against f along q(τ).
fn lens_plots(
    ui: &mut egui::Ui,
    probe: &ProbeResult,
    c: usize,
    color: egui::Color32,
    err_line: f64,
) {
    let width = ui.available_width();
    ui.label(egui::RichText::new("q(τ) − reference inside the step").small());
    Plot::new("lens-error")
        .height(110.0)
        .width(width)
        .allow_scroll(false)
        .custom_x_axes(vec![
            egui_plot::AxisHints::new_x()
                .label("τ")
                .formatter(sci_formatter)
                .label_spacing(label_spacing()),
        ])
        .custom_y_axes(vec![
            egui_plot::AxisHints::new_y()
                .formatter(sci_formatter)
                .min_thickness(52.0)
                .label_spacing(label_spacing()),
        ])
        .x_grid_spacer(nice_x_spacer)
        .y_grid_spacer(nice_spacer)
        .show(ui, |pui| {
            pui.line(
                line(
                    "q − ref",
                    &probe.tau,
                    probe.q[c]
                        .iter()
                        .zip(&probe.reference[c])
                        .map(|(q, y)| q - y),
                )
                .color(color)
                .width(2.0),
            );
            for s in [-1.0, 1.0] {
                pui.hline(
                    HLine::new("", s * err_line)
                        .color(c32(EXACT))
                        .style(LineStyle::dashed_dense()),
                );
            }
        });
    ui.label(egui::RichText::new("p(τ) (dashed) and f along q(τ) (red)").small());
    Plot::new("lens-pf")
        .height(110.0)
        .width(width)
        .allow_scroll(false)
        .custom_x_axes(vec![
            egui_plot::AxisHints::new_x()
                .label("τ")
                .formatter(sci_formatter)
                .label_spacing(label_spacing()),
        ])
        .custom_y_axes(vec![
            egui_plot::AxisHints::new_y()
                .formatter(sci_formatter)
                .min_thickness(52.0)
                .label_spacing(label_spacing()),
        ])
        .x_grid_spacer(nice_x_spacer)
        .y_grid_spacer(nice_spacer)
        .show(ui, |pui| {
            pui.line(
                line("p(τ)", &probe.tau, probe.p[c].iter().copied())
                    .color(color)
                    .style(LineStyle::dashed_dense())
                    .width(2.0),
            );
            pui.line(
                line(
                    "f(t + τh, q(τ))",
                    &probe.tau,
                    probe.f_true[c].iter().copied(),
                )
                .color(c32(REJECTED))
                .width(1.5),
            );
        });
}

fn label_spacing() -> egui::Rangef {
    egui::Rangef::new(AXIS_LABEL_MIN, AXIS_LABEL_MIN + 1.0)
}

fn line(name: &str, tau: &[f64], v: impl Iterator<Item = f64>) -> Line<'static> {
    let pts: Vec<[f64; 2]> = tau.iter().zip(v).map(|(t, y)| [*t, y]).collect();
    Line::new(name.to_string(), PlotPoints::from(pts))
}

pub fn ui(ui: &mut egui::Ui, runs: &[RunData], view: &ViewState) {
    let Some(sel) = view.selected else { return };
    let Some(run) = runs.get(sel.run) else { return };
    let (Some(r), Some(probe), Some(problem)) = (
        run.records.get(sel.record),
        run.probe.as_ref().filter(|p| p.record == sel.record),
        run.problem.as_ref(),
    ) else {
        if run.config.method.has_coefficients() {
            ui.weak("Lens: asking the worker for the step's reference solution…");
        }
        return;
    };
    if probe.q.is_empty() || probe.reference.is_empty() {
        return;
    }
    let c = view.coeff_component.min(problem.dim().saturating_sub(1));
    let name = &problem.components[c];
    egui::CollapsingHeader::new(format!("Lens on attempt #{} ({name})", sel.record))
        .id_salt("lens")
        .default_open(true)
        .show(ui, |ui| {
            let color = c32(run.color);
            let parts = estimate_parts(probe, r, run.config.method);
            lens_plots(ui, probe, c, color, parts.err.unwrap_or(0.0));
            let num = crate::app::explorer::inspector::num;
            egui::Grid::new("lens-parts")
                .num_columns(2)
                .spacing([10.0, 2.0])
                .show(ui, |ui| {
                    let mut row = |k: &str, v: String, hint: &str| {
                        ui.label(k).on_hover_text(hint);
                        ui.label(egui::RichText::new(v).monospace());
                        ui.end_row();
                    };
                    row(
                        "estimate",
                        parts.err.map_or("—".into(), num),
                        "the error estimate that decided this attempt (dashed lines above: ±)",
                    );
                    row(
                        "true local error",
                        num(parts.true_error),
                        "‖q(1) − reference(1)‖ from the same start state",
                    );
                    row(
                        "paper h‖p(1) − f(1)‖",
                        num(parts.paper),
                        "zero whenever f does not depend on y: then p(1) = f(1) exactly",
                    );
                    if let Some(e2) = parts.e2 {
                        row(
                            "e1 = paper / 6",
                            num(parts.e1),
                            "y-dependence part of zc-rk4",
                        );
                        row(
                            "e2 (quadrature)",
                            num(e2),
                            "the rest of zc-rk4's estimate: a quartic through two samples of \
                             the previous step's p and this step's k1, (k2+k3)/2, k5",
                        );
                    }
                });
            let note = match run.config.method {
                Method::ZcRk4Paper if parts.paper == 0.0 => {
                    "The paper's estimate is exactly zero here: p(1) equals f at the step's end, \
                     so this step was accepted blind."
                }
                Method::ZcRk4Paper => {
                    "The paper's estimate compares p(1) with f at the step's end, at no cost."
                }
                Method::ZcRk4 => {
                    "zc-rk4 adds the quadrature part e2 to the paper's comparison, so it is not \
                     blind where f depends on t only (there p(1) = f(1) and e1 = 0)."
                }
                _ => "",
            };
            if !note.is_empty() {
                ui.add(egui::Label::new(egui::RichText::new(note).small().weak()).wrap());
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::builtin::{self, BuiltinOverrides};
    use crate::solver::{self, SolverConfig};

    fn parts_of(name: &str, method: Method, step: usize) -> EstimateParts {
        let problem = builtin::build(name, &BuiltinOverrides::default()).unwrap();
        let config = SolverConfig {
            method,
            tol: 1e-4,
            ..SolverConfig::default()
        };
        let sol = solver::solve(&problem, &config).unwrap();
        let (start, r) = sol.accepted_steps().nth(step).unwrap();
        let probe =
            crate::app::explorer::worker::probe(&problem, 0, r.t, r.h, start, &r.y, &r.dense)
                .unwrap();
        estimate_parts(&probe, r, method)
    }

    #[test]
    fn the_lens_takes_the_estimate_apart() {
        // van der Pol: f depends on y, the paper's part sees the error and e1 is a sixth of it.
        let p = parts_of("van-der-pol", Method::ZcRk4, 5);
        assert!(p.paper > 0.0 && (p.e1 - p.paper / 6.0).abs() < 1e-18);
        assert!(p.true_error > 0.0 && p.true_error < 1e-2, "{p:?}");
        let err = p.err.unwrap();
        assert!((p.e1 + p.e2.unwrap() - err).abs() <= 1e-12 * err.max(1.0) || p.e1 > err);
        // P1 (f depends on t only): the paper's part is blind, zc-rk4's quadrature part is not.
        let blind = parts_of("paper-bump", Method::ZcRk4, 2);
        assert!(blind.paper < 1e-15, "{blind:?}");
        assert!(blind.e2.unwrap() > 0.0, "{blind:?}");
    }
}
