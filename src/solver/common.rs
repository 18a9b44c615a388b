//! Pieces every stepper shares: evaluation with non-finite checks, the weighted error norm,
//! the automatic initial step and the step-size guards.

use std::sync::Arc;

use super::{OdeRhs, SharedSystem, SolveError, SolverConfig};
use crate::nn::Real;
use crate::problem::Problem;

/// Everything a stepper needs to start. `T` is the float type of the state (f64 for every
/// problem of the explorer; f32 too for the gradient methods' solves). Time, step sizes and
/// the error norms stay f64 for every `T`.
#[derive(Clone)]
pub struct Setup<T = f64> {
    pub system: SharedSystem<T>,
    pub t0: f64,
    pub t_end: f64,
    pub y0: Vec<T>,
    pub config: SolverConfig,
    /// Steps below this end the solve ("step size underflow").
    pub h_min: f64,
    pub h_max: f64,
    /// Bytes of one stored step record (see [`super::record_bytes`]).
    pub record_bytes: usize,
    /// Most attempted steps whose records fit in the memory budget ([`crate::mem::budget`]).
    pub max_records: usize,
    /// Whether step records carry the method's continuous extension (true by default). A
    /// caller that reads only the end states of steps sets it false: dopri5 then skips CONTD5
    /// (its records say [`super::Dense::Linear`]).
    pub dense_output: bool,
}

impl Setup<f64> {
    pub fn new(problem: &Problem, config: &SolverConfig) -> Self {
        Setup::of(
            Arc::new(OdeRhs(problem.system.clone())),
            problem.t0,
            problem.t_end,
            problem.y0.clone(),
            config,
        )
    }
}

impl<T: Real> Setup<T> {
    /// The setup of a solve of `system` from `(t0, y0)` to `t_end`.
    pub fn of(
        system: SharedSystem<T>,
        t0: f64,
        t_end: f64,
        y0: Vec<T>,
        config: &SolverConfig,
    ) -> Self {
        let span = t_end - t0;
        let record = super::record_bytes(config.method, y0.len());
        Self {
            system,
            t0,
            t_end,
            y0,
            config: config.clone(),
            h_min: config.h_min.unwrap_or(1e-12 * span),
            h_max: config.h_max.unwrap_or(span).min(span),
            record_bytes: record,
            max_records: crate::mem::budget() / record,
            dense_output: true,
        }
    }

    pub fn dim(&self) -> usize {
        self.y0.len()
    }

    /// Smallest representable step at `t`: below it `t + h == t`.
    pub fn h_floor(&self, t: f64) -> f64 {
        self.h_min
            .max(16.0 * f64::EPSILON * t.abs().max(self.t_end.abs()).max(1.0))
    }
}

/// Evaluates `f(t, y)` into `out`, counting the evaluation and refusing non-finite results.
#[inline]
pub fn eval<T: Real>(
    setup: &Setup<T>,
    nfev: &mut u64,
    t: f64,
    y: &[T],
    out: &mut [T],
) -> Result<(), SolveError> {
    *nfev += 1;
    setup.system.rhs(t, y, out);
    check_finite(setup, t, y, out)
}

/// [`eval`] by [`super::Rhs::rhs_skipping_quadrature`].
pub fn eval_skipping_quadrature<T: Real>(
    setup: &Setup<T>,
    nfev: &mut u64,
    t: f64,
    y: &[T],
    out: &mut [T],
) -> Result<(), SolveError> {
    *nfev += 1;
    setup.system.rhs_skipping_quadrature(t, y, out);
    check_finite(setup, t, y, out)
}

/// Ok when `out = f(t, y)` is finite, else the error with the system's diagnosis.
fn check_finite<T: Real>(setup: &Setup<T>, t: f64, y: &[T], out: &[T]) -> Result<(), SolveError> {
    if all_finite(out) {
        return Ok(());
    }
    let detail = setup.system.diagnose(t, y).unwrap_or_else(|| {
        let i = out.iter().position(|v| !v.is_finite()).unwrap_or(0);
        if y.iter().all(|v| v.is_finite()) {
            format!("f(t, y) component {i} is {} for a finite state", out[i])
        } else {
            "the state is no longer finite (the solution blew up)".to_string()
        }
    });
    Err(SolveError::NonFinite { t, detail })
}

/// Whether every value is finite: a fold without early exit, so that it vectorises (the check
/// runs on every evaluation).
#[inline]
pub fn all_finite<T: Real>(v: &[T]) -> bool {
    v.iter().fold(true, |ok, x| ok & x.is_finite())
}

/// Checks a candidate state; a non-finite one ends the solve.
pub fn check_state<T: Real>(t: f64, y: &[T]) -> Result<(), SolveError> {
    if all_finite(y) {
        return Ok(());
    }
    match y.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(SolveError::NonFinite {
            t,
            detail: format!("state component {i} became {} (the solution blew up)", y[i]),
        }),
    }
}

/// Weighted max norm `max_i |e_i| / (atol + rtol·max(|a_i|, |b_i|))` and the plain max norm,
/// accumulated in f64 whatever the state's float type.
/// NaN in any `e_i` makes both norms NaN (an undefined estimate must not look like a zero one).
/// Eight running maxima, so that the loop vectorises.
pub fn error_norms<T: Real>(e: &[T], a: &[T], b: &[T], atol: f64, rtol: f64) -> (f64, f64) {
    const L: usize = 8;
    let n = e.len();
    let (a, b) = (&a[..n], &b[..n]);
    let mut weighted = [0.0f64; L];
    let mut plain = [0.0f64; L];
    let mut nan = false;
    let mut lane = |l: usize, i: usize, weighted: &mut [f64; L], plain: &mut [f64; L]| {
        let scale = atol + rtol * a[i].to_f64().abs().max(b[i].to_f64().abs());
        let ei = e[i].to_f64().abs();
        let q = ei / scale;
        // `if x > m` ignores a NaN x, as f64::max does.
        weighted[l] = if q > weighted[l] { q } else { weighted[l] };
        plain[l] = if ei > plain[l] { ei } else { plain[l] };
        nan |= ei.is_nan();
    };
    let full = n / L * L;
    for i0 in (0..full).step_by(L) {
        for l in 0..L {
            lane(l, i0 + l, &mut weighted, &mut plain);
        }
    }
    for (l, i) in (full..n).enumerate() {
        lane(l, i, &mut weighted, &mut plain);
    }
    if nan {
        return (f64::NAN, f64::NAN);
    }
    let max = |m: [f64; L]| m.into_iter().fold(0.0f64, f64::max);
    (max(weighted), max(plain))
}

/// Automatic initial step (Hairer, Nørsett & Wanner, *Solving ODEs I*, §II.4), for a method of
/// order `order`. Costs one f-evaluation, counted in `nfev`. `f0 = f(t0, y0)`.
pub fn initial_step<T: Real>(
    setup: &Setup<T>,
    nfev: &mut u64,
    f0: &[T],
    order: u32,
) -> Result<f64, SolveError> {
    let (t0, y0) = (setup.t0, &setup.y0);
    let (atol, rtol) = (setup.config.tol, setup.config.rtol);
    let scale = |i: usize| atol + rtol * y0[i].to_f64().abs();
    let d = y0.len();
    let d0 = (0..d)
        .map(|i| y0[i].to_f64().abs() / scale(i))
        .fold(0.0, f64::max);
    let d1 = (0..d)
        .map(|i| f0[i].to_f64().abs() / scale(i))
        .fold(0.0, f64::max);
    let mut h0 = if d0 < 1e-5 || d1 < 1e-5 {
        1e-6
    } else {
        0.01 * d0 / d1
    };
    h0 = h0.min(setup.h_max);
    let y1: Vec<T> = (0..d).map(|i| y0[i] + T::of(h0) * f0[i]).collect();
    let mut f1 = vec![T::zero(); d];
    eval(setup, nfev, t0 + h0, &y1, &mut f1)?;
    let d2 = (0..d)
        .map(|i| (f1[i] - f0[i]).to_f64().abs() / scale(i))
        .fold(0.0, f64::max)
        / h0;
    let h1 = if d1.max(d2) <= 1e-15 {
        (h0 * 1e-3).max(1e-6)
    } else {
        (0.01 / d1.max(d2)).powf(1.0 / f64::from(order + 1))
    };
    let floor = setup.h_floor(t0);
    let wanted = (100.0 * h0).min(h1).min(setup.h_max);
    let h = wanted.max(floor);
    // A first step that already carries the state past the largest number is not a blow-up
    // of the solution: say which step it was and why it could not be smaller. When the floor
    // forced the step up, probe it with one more (counted) evaluation.
    let forced = wanted < floor || wanted.is_nan();
    let ht = T::of(h);
    let mut overflows = (0..d).any(|i| !(y0[i] + ht * f0[i]).is_finite());
    if forced && !overflows {
        let y1: Vec<T> = (0..d).map(|i| y0[i] + ht * f0[i]).collect();
        *nfev += 1;
        setup.system.rhs(t0 + h, &y1, &mut f1);
        overflows = (0..d).any(|i| !(y0[i] + ht * f1[i]).is_finite());
    }
    if overflows {
        let why = if forced {
            format!(
                "no smaller step is allowed: h_min = {floor:.3e} (by default 1e-12 of the span \
                 [{t0:e}, {:e}]); shorten the span or set h_min",
                setup.t_end
            )
        } else {
            "give a smaller h0 or h_max".to_string()
        };
        return Err(SolveError::NonFinite {
            t: t0,
            detail: format!(
                "the automatic first step h = {h:.3e} takes y0 + h·f(t0, y0) past the largest \
                 floating-point number before any step was taken ({why})"
            ),
        });
    }
    Ok(h)
}

/// Shortens `h` so the step lands exactly on `t_end`; returns `(h, clipped)`.
#[inline]
pub fn clip_to_end(t: f64, h: f64, t_end: f64) -> (f64, bool) {
    // Also absorb a remainder too small to be a step of its own.
    if t + h >= t_end || t_end - (t + h) < 1e-10 * h {
        (t_end - t, true)
    } else {
        (h, false)
    }
}

/// The guarded step controller of `zc-rk4`, `rk4-doubling` and the GPU's adaptive kernels:
/// `h ← h·clamp(SAFETY·r^(−1/q), FAC_MIN, FAC_MAX)` with q the order of the error estimate plus
/// one. Defined once here; [`crate::gpu::codes`] writes the same numbers into the WGSL.
pub mod guarded {
    /// Safety factor on the optimal step.
    pub const SAFETY: f64 = 0.9;
    /// The step shrinks at most to this fraction per attempt…
    pub const FAC_MIN: f64 = 0.2;
    /// …and grows at most this many times.
    pub const FAC_MAX: f64 = 5.0;

    /// The factor for error ratio `ratio` (error over tolerance) of an estimate of order q − 1.
    #[inline]
    pub fn factor(ratio: f64, q: f64) -> f64 {
        super::step_factor(ratio, q, SAFETY, FAC_MIN, FAC_MAX)
    }
}

/// The standard step-size factor `safety · r^(−1/q)`, limited to `[fac_min, fac_max]`.
#[inline]
pub fn step_factor(ratio: f64, q: f64, safety: f64, fac_min: f64, fac_max: f64) -> f64 {
    if ratio <= 0.0 {
        fac_max
    } else {
        (safety * ratio.powf(-1.0 / q)).clamp(fac_min, fac_max)
    }
}

/// Whether a stepper has finished or failed; once either, `attempt()` repeats the outcome.
#[derive(Clone, Debug, Default)]
pub struct Lifecycle {
    pub done: bool,
    pub failed: Option<SolveError>,
}

/// A stepper's core: one attempted step, `Ok(None)` once t_end is reached.
pub trait AttemptStep<T = f64> {
    fn try_attempt(&mut self) -> Result<Option<super::StepRecord<T>>, SolveError>;
    fn lifecycle(&mut self) -> &mut Lifecycle;
}

/// Turns [`AttemptStep::try_attempt`] into the [`super::StepEvent`] protocol.
pub fn drive<T, S: AttemptStep<T>>(stepper: &mut S) -> super::StepEvent<T> {
    use super::StepEvent;
    let state = stepper.lifecycle();
    if let Some(e) = &state.failed {
        return StepEvent::Failed(e.clone());
    }
    if state.done {
        return StepEvent::Done;
    }
    match stepper.try_attempt() {
        Ok(Some(r)) => StepEvent::Step(r),
        Ok(None) => {
            stepper.lifecycle().done = true;
            StepEvent::Done
        }
        Err(e) => {
            stepper.lifecycle().failed = Some(e.clone());
            StepEvent::Failed(e)
        }
    }
}

/// The guards every adaptive stepper applies before an attempt: the attempt budget, the
/// step-size floor, `h_max`, and the shortening of the last step. Returns `(h, clipped)`.
pub fn guard_step<T: Real>(
    setup: &Setup<T>,
    t: f64,
    h_proposed: f64,
    attempts: usize,
) -> Result<(f64, bool), SolveError> {
    if attempts >= setup.config.max_steps {
        return Err(SolveError::MaxSteps {
            t,
            max_steps: setup.config.max_steps,
        });
    }
    check_budget(setup, t, attempts)?;
    let h_floor = setup.h_floor(t);
    let h = h_proposed.min(setup.h_max);
    if h.is_nan() || h < h_floor {
        return Err(SolveError::StepUnderflow {
            t,
            h,
            h_min: h_floor,
        });
    }
    Ok(clip_to_end(t, h, setup.t_end))
}

/// Stops a run whose stored records would pass the memory budget.
pub fn check_budget<T>(setup: &Setup<T>, t: f64, attempts: usize) -> Result<(), SolveError> {
    if attempts >= setup.max_records {
        return Err(SolveError::MemoryBudget {
            t,
            steps: attempts,
            bytes: attempts * setup.record_bytes,
            budget: crate::mem::budget(),
        });
    }
    Ok(())
}
