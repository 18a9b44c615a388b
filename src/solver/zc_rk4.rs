//! The zero-cost step-adaptive RK4 of Dabounou (afge-zero-cost-rk4.md, §3 and appendix), in two
//! variants that share the stepping and differ in the error estimate.
//!
//! Each attempt computes k2, k3, k4 and, at the new point, `k5 = f(t + h, q(1))`, which becomes
//! the next step's k1: 4 new f-evaluations per attempt (plus 1 at the start), no extra
//! evaluation for the estimate except on the robust variant's first step (see below).
//!
//! ## `zc-rk4-paper`: the printed algorithm
//! `err = h‖p(1) − f(t+h, q(1))‖∞ = h‖k4 − k5‖∞` (eq. 19 and appendix), accept iff `err ≤ ε`
//! (absolute), next or retry `h ← 0.9 h (err/ε)^(−1/4)` with no other limit; `err = 0` sends
//! the next step to t_end. Because `p(1) = k4 = f(t+h, y_n + h k3)`, the estimate is identically
//! zero when f does not depend on y (PAPER-NOTES): on P1/P2 this mode takes one step and jumps to
//! the end. It is kept to reproduce that, and the run carries a warning when it happens.
//!
//! ## `zc-rk4`: the robust zero-cost estimator
//! Two parts, both from values already computed:
//!
//! 1. **y-dependence** — `e1 = (h/6)(k4 − k5)`. This is the difference between RK4 and the
//!    third-order FSAL formula with weights `(1/6, 1/3, 1/3, 0, 1/6)` on `(k1, k2, k3, k4, k5)`
//!    (it satisfies the order conditions Σb = 1, Σbc = 1/2, Σbc² = 1/3, Σb·a·c = 1/6). The
//!    paper's estimate is 6·e1: it is the same embedded pair, and so it is blind in the same way.
//!    For `y' = λy`, e1 ≈ |y|(hλ)⁴/72: of order h⁴, larger than RK4's true local error
//!    |y|(hλ)⁵/120, which gives tolerance-proportional global errors.
//! 2. **t-dependence (quadrature part)** — when f depends on t only, RK4 is Simpson's rule on
//!    the samples `k1 = g(t_n)`, `m = (k2 + k3)/2 = g(t_n + h/2)`, `k5 = g(t_n + h)` of
//!    `g(t) = f(t, y(t))`, and every one-step comparison of these samples agrees with Simpson
//!    (hence is blind). We add two samples of g from the previous accepted step's polynomial
//!    `p_prev` (its nodes `p_prev(0)`, `p_prev(1/2)` when `h ≥ h_prev`; otherwise `p_prev` at
//!    `t_n − h` and `t_n − h/2`, so that the five nodes stay evenly spaced at this step's scale)
//!    and fit the quartic `P4` through the five samples. `P4` models g better than the step's
//!    quadratic `p`, and
//!    `e2 = h · max_{τ ∈ {1/4, 3/4}} |P4(t_n + τh) − p(τ)|`
//!    bounds how far `q` can be from the integral of g. For smooth g it is O(h⁴ g''') (again
//!    tolerance-proportional, like e1); when g jumps inside the step (P2's kinks) it stays
//!    O(h·J) with a constant near 0.1, so steps shrink to O(ε/J). A smooth-asymptotic estimate
//!    (Simpson's h⁵g⁗/2880 from the 4th divided difference) lets errors of 30–60× the tolerance
//!    through at a jump, and so would nodes taken from a much longer previous step.
//!    The first step has no previous polynomial: it spends one extra f-evaluation, g at τ = 1/4
//!    on the cubic q, and uses `e2 = h |g(t_n + h/4) − p(1/4)|`. This is the only evaluation
//!    the estimator ever adds (one per attempt of the first step).
//!
//! The accepted error is `max_i (|e1_i| + |e2_i|) / (ε + rtol·max(|y_n,i|, |y_n+1,i|)) ≤ 1`.
//! The controller is guarded ([`common::guarded`]): `h ← h·clamp(0.9 r^(−1/4), 0.2, 5)`, no
//! growth right after a
//! rejection, `h ≤ h_max`, and a solve stops below `h_min` or after `max_steps` attempts.

use super::common::{self, Setup};
use super::rk4::{self, Rk4Work};
use super::{Dense, Method, SolveError, StepEvent, StepRecord, Stepper};

/// The printed algorithm's safety factor (`h ← 0.9 h (err/ε)^(−1/4)`, the appendix): the
/// paper's own number, kept apart from the guarded controller's ([`common::guarded`]).
const PAPER_SAFETY: f64 = 0.9;

/// Which error estimate drives the controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Estimator {
    /// Exactly as printed in the paper.
    Paper,
    /// Our robust zero-cost estimate (e1 + e2 above).
    Robust,
}

/// The previous accepted step's polynomial p, used by the robust estimator.
#[derive(Clone, Debug)]
struct PreviousStep {
    t: f64,
    h: f64,
    /// `[a0 | a1 | a2]` of that step.
    coeffs: Vec<f64>,
}

/// Zero-cost adaptive RK4 stepper.
pub struct ZcRk4 {
    setup: Setup,
    estimator: Estimator,
    t: f64,
    y: Vec<f64>,
    /// f(t, y), reused from the previous step's end-point evaluation.
    k1: Vec<f64>,
    k5: Vec<f64>,
    work: Rk4Work,
    h: f64,
    started: bool,
    lifecycle: common::Lifecycle,
    nfev: u64,
    attempts: usize,
    last_rejected: bool,
    prev: Option<PreviousStep>,
    /// Accepted steps whose paper estimate was exactly 0, and the first time it happened.
    zero_estimates: usize,
    first_zero_t: f64,
    /// Zero estimates that come from rounding, not from f: tol is below the state's f64
    /// resolution, so steps are so small that `y_n + h·k3` and `y_n+1` round alike.
    rounding_zeros: usize,
    first_rounding_t: f64,
    smallest_rounding_h: f64,
    accepted: usize,
}

impl ZcRk4 {
    pub fn new(setup: Setup, estimator: Estimator) -> Self {
        let d = setup.dim();
        Self {
            t: setup.t0,
            y: setup.y0.clone(),
            k1: vec![0.0; d],
            k5: vec![0.0; d],
            work: Rk4Work::new(d),
            h: 0.0,
            started: false,
            lifecycle: common::Lifecycle::default(),
            nfev: 0,
            attempts: 0,
            last_rejected: false,
            prev: None,
            zero_estimates: 0,
            first_zero_t: f64::NAN,
            rounding_zeros: 0,
            first_rounding_t: f64::NAN,
            smallest_rounding_h: f64::INFINITY,
            accepted: 0,
            setup,
            estimator,
        }
    }

    fn start(&mut self) -> Result<(), SolveError> {
        common::eval(&self.setup, &mut self.nfev, self.t, &self.y, &mut self.k1)?;
        self.h = match self.setup.config.h0 {
            Some(h0) => h0,
            None => common::initial_step(&self.setup, &mut self.nfev, &self.k1, 4)?,
        };
        self.started = true;
        Ok(())
    }

    /// Robust estimate: per-component `|e1| + |e2|` into `e`. Returns the f-evaluations it
    /// spent (one on the first step, which has no previous polynomial; zero otherwise).
    fn robust_estimate(&self, h: f64, coeffs: &[f64], e: &mut [f64]) -> Result<u64, SolveError> {
        let d = self.y.len();
        let w = &self.work;
        for i in 0..d {
            e[i] = (h / 6.0 * (w.k4[i] - self.k5[i])).abs();
        }
        let mut p = vec![0.0; d];
        let Some(prev) = &self.prev else {
            // First step: sample g once at τ = 1/4 on the cubic q and compare with p(1/4).
            let mut q = vec![0.0; d];
            let mut g = vec![0.0; d];
            rk4::cubic_eval(coeffs, &self.y, h, 0.25, &mut q);
            let mut nfev = 0;
            common::eval(&self.setup, &mut nfev, self.t + 0.25 * h, &q, &mut g)?;
            rk4::p_eval(coeffs, 0.25, &mut p);
            for i in 0..d {
                e[i] += h * (g[i] - p[i]).abs();
            }
            return Ok(nfev);
        };
        // Two samples of g before t_n: the previous step's own nodes p_prev(0), p_prev(1/2)
        // when this step is at least as long, otherwise p_prev evaluated at t_n − h and
        // t_n − h/2 so that the five nodes are evenly spaced at this step's scale.
        let (nodes, before) = if h >= prev.h {
            let mut mid = vec![0.0; d];
            rk4::p_eval(&prev.coeffs, 0.5, &mut mid);
            let nodes = [
                (prev.t - self.t) / h,
                (prev.t + 0.5 * prev.h - self.t) / h,
                0.0,
                0.5,
                1.0,
            ];
            (nodes, [prev.coeffs[..d].to_vec(), mid])
        } else {
            let (mut v0, mut v1) = (vec![0.0; d], vec![0.0; d]);
            rk4::p_eval(&prev.coeffs, 1.0 - h / prev.h, &mut v0);
            rk4::p_eval(&prev.coeffs, 1.0 - 0.5 * h / prev.h, &mut v1);
            ([-1.0, -0.5, 0.0, 0.5, 1.0], [v0, v1])
        };
        let mut deviation = vec![0.0f64; d];
        for tau in [0.25, 0.75] {
            let weights = lagrange_weights(&nodes, tau);
            rk4::p_eval(coeffs, tau, &mut p);
            for i in 0..d {
                let mid = 0.5 * (w.k2[i] + w.k3[i]);
                let quartic = weights[0] * before[0][i]
                    + weights[1] * before[1][i]
                    + weights[2] * self.k1[i]
                    + weights[3] * mid
                    + weights[4] * self.k5[i];
                deviation[i] = deviation[i].max(h * (quartic - p[i]).abs());
            }
        }
        for i in 0..d {
            e[i] += deviation[i];
        }
        Ok(0)
    }

    fn try_attempt_inner(&mut self) -> Result<Option<StepRecord>, SolveError> {
        if !self.started {
            self.start()?;
        }
        if self.t >= self.setup.t_end {
            return Ok(None);
        }
        let (h, clipped) = common::guard_step(&self.setup, self.t, self.h, self.attempts)?;
        self.attempts += 1;

        let (t, setup) = (self.t, &self.setup);
        self.work
            .step(setup, &mut self.nfev, t, &self.y, &self.k1, h)?;
        common::check_state(t + h, &self.work.y_new)?;
        common::eval(setup, &mut self.nfev, t + h, &self.work.y_new, &mut self.k5)?;
        let coeffs = self.work.coefficients(&self.k1);

        let d = self.y.len();
        let (tol, rtol) = (self.setup.config.tol, self.setup.config.rtol);
        let (ratio, err) = match self.estimator {
            Estimator::Paper => {
                let err = (0..d)
                    .map(|i| (h * (self.work.k4[i] - self.k5[i])).abs())
                    .fold(0.0, f64::max);
                (err / tol, err)
            }
            Estimator::Robust => {
                let mut e = vec![0.0; d];
                self.nfev += self.robust_estimate(h, &coeffs, &mut e)?;
                common::error_norms(&e, &self.y, &self.work.y_new, tol, rtol)
            }
        };
        let accepted = ratio <= 1.0;
        let record = StepRecord {
            t,
            h,
            err: Some(err),
            err_ratio: Some(ratio),
            accepted,
            clipped,
            nfev: self.nfev,
            y: self.work.y_new.clone(),
            dense: Dense::Rk4 { coeffs },
        };

        // Next (or retry) step size.
        let h_next = match self.estimator {
            Estimator::Paper => {
                if err == 0.0 {
                    // "err = 0 means jump to the end": (err/ε)^(−1/4) is infinite.
                    f64::INFINITY
                } else {
                    PAPER_SAFETY * h * (err / tol).powf(-0.25)
                }
            }
            Estimator::Robust => {
                let mut fac = common::guarded::factor(ratio, 4.0);
                if accepted && self.last_rejected {
                    fac = fac.min(1.0);
                }
                h * fac
            }
        };

        if accepted {
            // The final step, clipped to t_end, counts once the blind pattern has shown itself
            // (P1: the zero sends the second step to t_end, and its estimate is zero too); alone,
            // a clipped sliver of a step can round to a zero estimate whatever f is.
            if self.estimator == Estimator::Paper
                && err == 0.0
                && (!clipped || self.zero_estimates > 0)
            {
                // A tolerance below the state's floating-point resolution makes steps so
                // small that y_n + h·k3 and y_n+1 round to the same numbers: then k4 = k5
                // exactly whatever f is, and the zero says nothing about y-dependence.
                let scale = self.y.iter().fold(0.0f64, |a, v| a.max(v.abs()));
                let below_rounding = self.setup.config.tol < 16.0 * f64::EPSILON * scale;
                if below_rounding {
                    if self.rounding_zeros == 0 {
                        self.first_rounding_t = t;
                    }
                    self.rounding_zeros += 1;
                    self.smallest_rounding_h = self.smallest_rounding_h.min(h);
                } else {
                    if self.zero_estimates == 0 {
                        self.first_zero_t = t;
                    }
                    self.zero_estimates += 1;
                }
            }
            if self.estimator == Estimator::Robust {
                self.prev = Some(PreviousStep {
                    t,
                    h,
                    coeffs: record
                        .dense
                        .coefficients()
                        .map(<[f64]>::to_vec)
                        .unwrap_or_default(),
                });
            }
            self.t = if clipped { self.setup.t_end } else { t + h };
            self.y.copy_from_slice(&self.work.y_new);
            std::mem::swap(&mut self.k1, &mut self.k5);
            self.accepted += 1;
        }
        self.last_rejected = !accepted;
        self.h = h_next;
        Ok(Some(record))
    }
}

/// Lagrange basis values `L_j(x)` for the given nodes.
fn lagrange_weights(nodes: &[f64; 5], x: f64) -> [f64; 5] {
    let mut w = [1.0; 5];
    for j in 0..5 {
        for k in 0..5 {
            if k != j {
                w[j] *= (x - nodes[k]) / (nodes[j] - nodes[k]);
            }
        }
    }
    w
}

impl common::AttemptStep for ZcRk4 {
    fn try_attempt(&mut self) -> Result<Option<StepRecord>, SolveError> {
        self.try_attempt_inner()
    }

    fn lifecycle(&mut self) -> &mut common::Lifecycle {
        &mut self.lifecycle
    }
}

impl Stepper for ZcRk4 {
    fn method(&self) -> Method {
        match self.estimator {
            Estimator::Paper => Method::ZcRk4Paper,
            Estimator::Robust => Method::ZcRk4,
        }
    }

    fn attempt(&mut self) -> StepEvent {
        common::drive(self)
    }

    fn t(&self) -> f64 {
        self.t
    }

    fn y(&self) -> &[f64] {
        &self.y
    }

    fn nfev(&self) -> u64 {
        self.nfev
    }

    fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.setup.config.rtol > 0.0 && self.estimator == Estimator::Paper {
            out.push(
                "zc-rk4-paper controls the absolute error only (as printed); rtol is ignored"
                    .to_string(),
            );
        }
        if self.zero_estimates > 0 {
            out.push(format!(
                "error estimate identically zero on {} of {} accepted steps (first at t = {:.6}): \
                 the paper's estimate h‖p(1) − f(t+h, q(1))‖ compares k4 = f(t+h, y_n + h·k3) with \
                 f(t+h, y_n+1), which coincide when f does not depend on y, so the controller is \
                 blind and the step jumps to t_end. Use zc-rk4 for a robust zero-cost estimate.",
                self.zero_estimates, self.accepted, self.first_zero_t
            ));
        }
        if self.rounding_zeros > 0 {
            out.push(format!(
                "error estimate exactly zero on {} of {} accepted steps (first at t = {:.6}) \
                 because of rounding: the tolerance {:e} is below what f64 resolves on this \
                 state (about 1e-16 relative), so steps as small as h = {:.3e} make \
                 y_n + h·k3 and y_n+1 round to the same numbers. Use a larger tol.",
                self.rounding_zeros,
                self.accepted,
                self.first_rounding_t,
                self.setup.config.tol,
                self.smallest_rounding_h
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::f64::consts::PI;

    use crate::problem::builtin::{self, BuiltinOverrides};
    use crate::solver::{self, Method, SolverConfig};

    fn first_record(name: &str, method: Method, h: f64) -> crate::solver::StepRecord {
        let problem = builtin::build(name, &BuiltinOverrides::default()).unwrap();
        let config = SolverConfig {
            method,
            tol: 1.0,
            h0: Some(h),
            ..SolverConfig::default()
        };
        let mut stepper = solver::stepper(&problem, &config).unwrap();
        match stepper.attempt() {
            solver::StepEvent::Step(r) => r,
            other => panic!("{other:?}"),
        }
    }

    /// PAPER-NOTES: for y' = λy the paper's estimate is ≈ |y|(hλ)⁴/12 (order h⁴, where RK4's
    /// local error is |y|(hλ)⁵/120).
    #[test]
    fn paper_estimate_has_the_predicted_leading_term_on_the_test_equation() {
        for h in [0.05, 0.02, 0.01] {
            let r = first_record("exponential", Method::ZcRk4Paper, h);
            let predicted = h.powi(4) / 12.0; // λ = −1, y0 = 1
            let ratio = r.err.unwrap() / predicted;
            assert!((ratio - 1.0).abs() < 0.1, "h = {h}: ratio {ratio}");
        }
    }

    /// e1 is the paper's estimate divided by 6 (the embedded FSAL 4(3) pair), and e2 adds to it.
    #[test]
    fn robust_estimate_contains_the_embedded_pair() {
        let paper = first_record("van-der-pol", Method::ZcRk4Paper, 0.05);
        let robust = first_record("van-der-pol", Method::ZcRk4, 0.05);
        assert!(robust.err.unwrap() >= paper.err.unwrap() / 6.0 * (1.0 - 1e-12));
    }

    /// Where the paper's estimate is exactly zero (f independent of y), the robust one is not.
    #[test]
    fn robust_estimate_is_never_blind_on_quadratures() {
        for name in ["paper-bump", "paper-kink"] {
            let problem = builtin::build(name, &BuiltinOverrides::default()).unwrap();
            let config = SolverConfig {
                method: Method::ZcRk4,
                tol: 1e-6,
                ..SolverConfig::default()
            };
            let solution = solver::solve(&problem, &config).unwrap();
            // Only a step on which f is a polynomial of degree ≤ 2 may have a zero estimate:
            // for P2 that is the flat stretch (3π/4, 5π/4) where f = 0; P1 has none.
            let flat = |t: f64| t > 3.0 * PI / 4.0 && t < 5.0 * PI / 4.0;
            let blind = solution
                .records
                .iter()
                .filter(|r| r.err == Some(0.0))
                .filter(|r| !(name == "paper-kink" && flat(r.t) && flat(r.t + r.h)))
                .count();
            assert_eq!(blind, 0, "{name}");
        }
    }
}
