//! Solver behaviour against analytic solutions, independent references and convergence orders.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use nodelab::problem::Problem;
use nodelab::problem::builtin::{self, BuiltinOverrides};
use nodelab::problem::formula::{self, FormulaSpec, FormulaSystem};
use nodelab::solver::{self, Method, SolveError, SolverConfig, StepEvent};

fn builtin(name: &str) -> Problem {
    builtin::build(name, &BuiltinOverrides::default()).unwrap()
}

fn custom(vars: &[&str], exprs: &[&str], y0: &[f64], t_end: f64) -> Problem {
    let system = FormulaSystem::new(FormulaSpec {
        variables: vars.iter().map(|s| s.to_string()).collect(),
        expressions: exprs.iter().map(|s| s.to_string()).collect(),
        params: vec![],
    })
    .unwrap();
    formula::build_problem(system, y0.to_vec(), 0.0, t_end).unwrap()
}

fn config(method: Method, tol: f64, h0: Option<f64>) -> SolverConfig {
    SolverConfig {
        method,
        tol,
        h0,
        ..SolverConfig::default()
    }
}

/// Error at t_end of a fixed-step solve with `n` steps.
fn final_error(problem: &Problem, method: Method, n: usize, exact_end: &[f64]) -> f64 {
    let h = (problem.t_end - problem.t0) / n as f64;
    let solution = solver::solve(problem, &config(method, 1.0, Some(h))).unwrap();
    assert!(solution.error.is_none());
    assert_eq!(solution.accepted(), n);
    solution
        .y_final()
        .iter()
        .zip(exact_end)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

/// Observed orders log2(e(N)/e(2N)) over a step-halving sweep.
fn observed_orders(problem: &Problem, method: Method, exact_end: &[f64]) -> Vec<f64> {
    let errors: Vec<f64> = [16, 32, 64, 128]
        .iter()
        .map(|&n| final_error(problem, method, n, exact_end))
        .collect();
    errors.windows(2).map(|w| (w[0] / w[1]).log2()).collect()
}

#[test]
fn fixed_step_methods_converge_with_their_order_on_exponential() {
    let problem = builtin::build(
        "exponential",
        &BuiltinOverrides {
            params: vec![("lambda".into(), 1.3)],
            t_end: Some(1.0),
            ..Default::default()
        },
    )
    .unwrap();
    let exact = problem.exact_at(1.0).unwrap();
    for (method, order) in [
        (Method::Rk4, 4.0),
        (Method::Midpoint, 2.0),
        (Method::Euler, 1.0),
    ] {
        let orders = observed_orders(&problem, method, &exact);
        let last = *orders.last().unwrap();
        assert!(
            (last - order).abs() < 0.15,
            "{method}: observed orders {orders:?}, expected {order}"
        );
    }
}

#[test]
fn fixed_step_methods_converge_with_their_order_on_a_non_autonomous_problem() {
    // y' = y cos t, y(0) = 1: y = exp(sin t). Also exercises the formula parser in a solve.
    let problem = custom(&["y"], &["y*cos(t)"], &[1.0], 2.0);
    let exact = [2.0f64.sin().exp()];
    for (method, order) in [
        (Method::Rk4, 4.0),
        (Method::Midpoint, 2.0),
        (Method::Euler, 1.0),
    ] {
        let orders = observed_orders(&problem, method, &exact);
        let last = *orders.last().unwrap();
        assert!(
            (last - order).abs() < 0.2,
            "{method}: observed orders {orders:?}, expected {order}"
        );
    }
}

#[test]
fn dopri5_error_follows_the_tolerance() {
    let problem = builtin("freefall");
    let mut previous = f64::INFINITY;
    for tol in [1e-3, 1e-5, 1e-7, 1e-9] {
        let solution = solver::solve(&problem, &config(Method::Dopri5, tol, None)).unwrap();
        let err = solution.max_error(&problem).unwrap();
        assert!(err <= 10.0 * tol, "tol {tol}: error {err}");
        assert!(
            err < previous / 10.0,
            "tol {tol}: error {err} after {previous}"
        );
        previous = err;
        // 6 new evaluations per attempt after the start (FSAL), 2 to start (f0 and the
        // automatic initial step).
        assert_eq!(solution.nfev, 2 + 6 * solution.records.len() as u64);
    }
}

#[test]
fn dopri5_dense_output_is_accurate_inside_steps() {
    let problem = builtin("freefall");
    let solution = solver::solve(&problem, &config(Method::Dopri5, 1e-8, None)).unwrap();
    let mut worst = 0.0f64;
    for k in 0..200 {
        let t = 10.0 * (k as f64 + 0.5) / 200.0;
        let dense = solution.dense_at(t).unwrap();
        let exact = problem.exact_at(t).unwrap();
        for (a, b) in dense.iter().zip(&exact) {
            worst = worst.max((a - b).abs());
        }
    }
    assert!(worst < 1e-6, "dense output error {worst}");
}

#[test]
fn rk4_dense_cubic_matches_the_exact_solution_to_fourth_order() {
    // q(τ) of eq. (19) is O(h⁴)-accurate inside steps: halving h divides the error by ≳ 8.
    let problem = custom(&["y"], &["y*cos(t)"], &[1.0], 2.0);
    let dense_error = |n: usize| {
        let solution =
            solver::solve(&problem, &config(Method::Rk4, 1.0, Some(2.0 / n as f64))).unwrap();
        (0..97)
            .map(|k| {
                let t = 2.0 * (k as f64 + 0.31) / 97.0;
                (solution.dense_at(t).unwrap()[0] - t.sin().exp()).abs()
            })
            .fold(0.0, f64::max)
    };
    let ratio = dense_error(20) / dense_error(40);
    assert!(ratio > 8.0, "dense error ratio {ratio}");
}

#[test]
fn paper_estimator_is_blind_on_p1_and_says_why() {
    let problem = builtin("paper-bump");
    let solution = solver::solve(&problem, &config(Method::ZcRk4Paper, 1e-2, Some(0.1))).unwrap();
    // One step of h0, then err = 0 sends the next step straight to t_end.
    assert_eq!(solution.accepted(), 2);
    assert_eq!(solution.records[0].err, Some(0.0));
    assert_eq!(solution.t_final(), 10.0);
    assert!(solution.max_error(&problem).unwrap() > 1.0);
    assert!(
        solution
            .warnings
            .iter()
            .any(|w| w.contains("identically zero") && w.contains("does not depend on y")),
        "{:?}",
        solution.warnings
    );
    // The count agrees with the step table: both steps (the second clipped to t_end) are zero.
    assert!(solution.records.iter().all(|r| r.err == Some(0.0)));
    assert!(
        solution
            .warnings
            .iter()
            .any(|w| w.contains("zero on 2 of 2")),
        "{:?}",
        solution.warnings
    );
    // 1 evaluation at the start and 4 per attempt.
    assert_eq!(solution.nfev, 1 + 4 * solution.records.len() as u64);
}

#[test]
fn paper_estimator_has_no_zero_warning_when_f_depends_on_y() {
    let problem = builtin("van-der-pol");
    let solution = solver::solve(&problem, &config(Method::ZcRk4Paper, 1e-2, Some(0.1))).unwrap();
    assert!(solution.error.is_none());
    assert!(solution.warnings.is_empty(), "{:?}", solution.warnings);
    assert!(solution.accepted() > 20);
}

/// `[t, t + h]` of the smallest accepted step, leaving out the final clipped step and the start-up
/// ramp (the leading steps that each grew by 4× or more, from a deliberately small first step).
fn smallest_step(solution: &solver::Solution) -> (f64, f64) {
    let all: Vec<_> = solution
        .records
        .iter()
        .filter(|r| r.accepted && !r.clipped)
        .collect();
    let ramp = all
        .windows(2)
        .take_while(|w| w[1].h >= 4.0 * w[0].h)
        .count()
        + 1;
    let steps: Vec<_> = all.into_iter().skip(ramp).collect();
    steps
        .iter()
        .min_by(|a, b| a.h.total_cmp(&b.h))
        .map(|r| (r.t, r.t + r.h))
        .unwrap()
}

#[test]
fn robust_zc_rk4_meets_the_tolerance_on_p1_and_refines_at_the_bump() {
    let problem = builtin("paper-bump");
    for tol in [1e-2, 1e-4, 1e-6] {
        for h0 in [None, Some(0.1)] {
            let solution = solver::solve(&problem, &config(Method::ZcRk4, tol, h0)).unwrap();
            assert!(solution.error.is_none());
            assert!(solution.warnings.is_empty());
            let err = solution.max_error(&problem).unwrap();
            assert!(err <= 10.0 * tol, "tol {tol} h0 {h0:?}: error {err}");
            let (a, b) = smallest_step(&solution);
            assert!(
                a >= 2.5 && b <= 7.5,
                "tol {tol}: smallest step on [{a}, {b}]"
            );
        }
    }
}

#[test]
fn robust_zc_rk4_meets_the_tolerance_on_p2_and_refines_at_the_kinks() {
    use std::f64::consts::PI;
    let problem = builtin("paper-kink");
    for tol in [1e-2, 1e-4, 1e-6] {
        for h0 in [None, Some(0.1), Some(0.37)] {
            let solution = solver::solve(&problem, &config(Method::ZcRk4, tol, h0)).unwrap();
            assert!(solution.error.is_none());
            let err = solution.max_error(&problem).unwrap();
            assert!(err <= 10.0 * tol, "tol {tol} h0 {h0:?}: error {err}");
            // Distance from the smallest step to the nearest kink.
            let (a, b) = smallest_step(&solution);
            let distance = |k: f64| (a - k).max(k - b).max(0.0);
            let d = distance(3.0 * PI / 4.0).min(distance(5.0 * PI / 4.0));
            assert!(d < 0.2, "tol {tol} h0 {h0:?}: smallest step on [{a}, {b}]");
        }
    }
}

#[test]
fn robust_zc_rk4_costs_four_evaluations_per_attempt() {
    // Start: f(t0) and the automatic initial step (1 each); the first step's attempts spend one
    // extra sample; every attempt 4.
    let problem = builtin("van-der-pol");
    let solution = solver::solve(&problem, &config(Method::ZcRk4, 1e-6, None)).unwrap();
    let first_attempts = solution.records.iter().position(|r| r.accepted).unwrap() as u64 + 1;
    assert_eq!(
        solution.nfev,
        2 + first_attempts + 4 * solution.records.len() as u64
    );
}

#[test]
fn robust_zc_rk4_error_is_proportional_to_the_tolerance() {
    // Global error ∝ ε: the estimator overestimates RK4's local error by O(1/h) (PAPER-NOTES),
    // so the achieved error tracks the tolerance over several decades.
    let problem = builtin("freefall");
    for tol in [1e-4, 1e-6, 1e-8] {
        let solution = solver::solve(&problem, &config(Method::ZcRk4, tol, None)).unwrap();
        let err = solution.max_error(&problem).unwrap();
        assert!(err <= tol && err >= tol / 100.0, "tol {tol}: error {err}");
    }
}

#[test]
fn adaptive_methods_agree_with_a_tight_reference_on_lorenz() {
    let problem = builtin::build(
        "lorenz",
        &BuiltinOverrides {
            t_end: Some(2.0),
            ..Default::default()
        },
    )
    .unwrap();
    let reference = solver::solve(&problem, &config(Method::Dopri5, 1e-12, None)).unwrap();
    for method in [Method::ZcRk4, Method::Rk4Doubling, Method::ZcRk4Paper] {
        let solution = solver::solve(&problem, &config(method, 1e-7, None)).unwrap();
        let diff = solution
            .y_final()
            .iter()
            .zip(reference.y_final())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(diff < 1e-4, "{method}: {diff}");
    }
}

#[test]
fn rk4_doubling_spends_eleven_evaluations_per_step() {
    let problem = builtin("van-der-pol");
    let solution = solver::solve(&problem, &config(Method::Rk4Doubling, 1e-5, Some(0.05))).unwrap();
    assert!(solution.error.is_none());
    let (acc, rej) = (solution.accepted() as u64, solution.rejected() as u64);
    // Each accepted step pays f(t_n) once (11 in all); a retry reuses it (10).
    assert_eq!(solution.nfev, 11 * acc + 10 * rej);
}

#[test]
fn blow_up_ends_with_a_clear_error_in_bounded_steps() {
    // y' = y², y(0) = 1 blows up at t = 1.
    let problem = custom(&["y"], &["y^2"], &[1.0], 2.0);
    for method in [
        Method::ZcRk4,
        Method::ZcRk4Paper,
        Method::Dopri5,
        Method::Rk4Doubling,
    ] {
        for rtol in [0.0, 1e-6] {
            let mut cfg = config(method, 1e-6, None);
            cfg.rtol = rtol;
            let solution = solver::solve(&problem, &cfg).unwrap();
            let err = solution.error.clone().expect("the solve must fail");
            let t = err.t();
            // The numerical solution may step slightly past the blow-up time before failing.
            assert!(
                (0.99..=1.01).contains(&t),
                "{method}: failed at t = {t}: {err}"
            );
            assert!(err.to_string().contains("t = "), "{err}");
            assert!(
                solution.records.len() < 100_000,
                "{method}: {} steps",
                solution.records.len()
            );
            // The steps taken so far are kept.
            assert!(solution.accepted() > 10);
        }
    }
    // A fixed-step method runs into non-finite values instead.
    let solution = solver::solve(&problem, &config(Method::Rk4, 1.0, Some(0.01))).unwrap();
    assert!(matches!(solution.error, Some(SolveError::NonFinite { .. })));
}

#[test]
fn nan_producing_formula_is_reported_with_its_formula() {
    // y' = -sqrt(y) reaches y < 0 in finite time; sqrt of a negative number is NaN.
    let problem = custom(&["y"], &["-sqrt(y) - 0.5"], &[1.0], 5.0);
    for method in Method::ALL {
        let solution = solver::solve(&problem, &config(method, 1e-6, Some(0.01))).unwrap();
        let err = solution
            .error
            .clone()
            .unwrap_or_else(|| panic!("{method} did not fail"));
        let text = err.to_string();
        assert!(
            text.contains("sqrt(y)") && text.contains("NaN"),
            "{method}: {text}"
        );
        assert!(solution.records.len() < 10_000);
    }
}

#[test]
fn max_steps_is_an_error_naming_t() {
    let problem = builtin("van-der-pol");
    let mut cfg = config(Method::ZcRk4, 1e-10, None);
    cfg.max_steps = 50;
    let solution = solver::solve(&problem, &cfg).unwrap();
    assert!(matches!(solution.error, Some(SolveError::MaxSteps { .. })));
    assert_eq!(solution.records.len(), 50);
}

#[test]
fn steppers_report_done_after_t_end_and_keep_failing_after_an_error() {
    let problem = builtin("exponential");
    let mut stepper = solver::stepper(&problem, &config(Method::ZcRk4, 1e-4, None)).unwrap();
    let mut n = 0;
    loop {
        match stepper.attempt() {
            StepEvent::Step(_) => n += 1,
            StepEvent::Done => break,
            StepEvent::Failed(e) => panic!("{e}"),
        }
    }
    assert!(n > 5);
    assert_eq!(stepper.attempt(), StepEvent::Done);
    assert_eq!(stepper.t(), problem.t_end);

    let blow_up = custom(&["y"], &["y^2"], &[1.0], 2.0);
    let mut stepper = solver::stepper(&blow_up, &config(Method::Rk4, 1.0, Some(0.1))).unwrap();
    let failure = loop {
        if let StepEvent::Failed(e) = stepper.attempt() {
            break e;
        }
    };
    assert_eq!(stepper.attempt(), StepEvent::Failed(failure));
}

#[test]
fn bad_settings_are_refused_before_solving() {
    let problem = builtin("exponential");
    for bad in [
        config(Method::ZcRk4, 0.0, None),
        config(Method::ZcRk4, f64::NAN, None),
        config(Method::ZcRk4, 1e-6, Some(-1.0)),
    ] {
        assert!(solver::solve(&problem, &bad).is_err());
    }
    let mut reversed = problem.clone();
    reversed.t_end = -1.0;
    assert!(solver::solve(&reversed, &SolverConfig::default()).is_err());
}

#[test]
fn white_dwarf_matches_its_series_near_the_centre() {
    // x = 1 − g0 t²/6 + g0 g1 t⁴/120 + O(t⁶), g0 = (1−C)^{3/2}, g1 = 3(1−C)^{1/2}.
    let problem = builtin::build(
        "white-dwarf",
        &BuiltinOverrides {
            t_end: Some(0.2),
            ..Default::default()
        },
    )
    .unwrap();
    let c = 0.01f64;
    let (g0, g1) = ((1.0 - c).powf(1.5), 3.0 * (1.0 - c).sqrt());
    let solution = solver::solve(&problem, &config(Method::Dopri5, 1e-12, None)).unwrap();
    let t = 0.2f64;
    let series = 1.0 - g0 * t * t / 6.0 + g0 * g1 * t.powi(4) / 120.0;
    assert!((solution.y_final()[0] - series).abs() < 1e-6);
    // And the whole default span integrates without error (the surface is crossed).
    let full = builtin("white-dwarf");
    let solution = solver::solve(&full, &config(Method::ZcRk4, 1e-6, None)).unwrap();
    assert!(solution.error.is_none(), "{:?}", solution.error);
}

/// A forced damped oscillator `y₁' = y₂, y₂' = −y₁ − 0.3 y₂ + sin 3t` with a quadrature
/// `q' = y₁² + y₂²` (q feeds nothing): with `skip`, [`solver::Rhs::rhs_skipping_quadrature`] leaves `q'` zero.
struct WithQuadrature {
    skip: bool,
}

impl solver::Rhs<f64> for WithQuadrature {
    fn dim(&self) -> usize {
        3
    }

    fn rhs(&self, t: f64, y: &[f64], dydt: &mut [f64]) {
        dydt[0] = y[1];
        dydt[1] = -y[0] - 0.3 * y[1] + (3.0 * t).sin();
        dydt[2] = y[0] * y[0] + y[1] * y[1];
    }

    fn rhs_skipping_quadrature(&self, t: f64, y: &[f64], dydt: &mut [f64]) {
        self.rhs(t, y, dydt);
        if self.skip {
            dydt[2] = 0.0;
        }
    }
}

/// Every accepted step `(t, h, y)` of a dopri5 solve of [`WithQuadrature`].
fn quadrature_steps(skip: bool) -> Vec<(f64, f64, Vec<f64>)> {
    let config = SolverConfig {
        method: Method::Dopri5,
        tol: 1e-8,
        rtol: 1e-8,
        ..SolverConfig::default()
    };
    let setup = solver::common::Setup::of(
        std::sync::Arc::new(WithQuadrature { skip }),
        0.0,
        5.0,
        vec![1.0, 0.0, 0.0],
        &config,
    );
    let mut stepper = solver::stepper_of(setup).unwrap();
    let mut steps = Vec::new();
    loop {
        match stepper.attempt() {
            StepEvent::Step(r) => {
                if r.accepted {
                    steps.push((r.t, r.h, r.y.clone()));
                }
            }
            StepEvent::Done => break,
            StepEvent::Failed(e) => panic!("{e}"),
        }
    }
    steps
}

/// Dopri5 evaluates stage 2 without the quadrature part (b₂ = ê₂ = d₂ = 0, and the stages never
/// read a quadrature component): the steps, the error control and the quadrature itself are
/// bit for bit those of the full evaluation. A stepper that combined k₂'s quadrature part
/// anywhere would change q (k₂ ≠ 0 there) and fail this.
#[test]
fn dopri5_skips_the_quadrature_of_stage_two_exactly() {
    let full = quadrature_steps(false);
    let skipped = quadrature_steps(true);
    assert!(full.len() > 20, "{} steps", full.len());
    assert_eq!(full, skipped);
    // The quadrature is the integral of |y|², not zero.
    assert!(full.last().unwrap().2[2] > 0.5);
}
