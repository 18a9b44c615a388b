//! Fixed-step explicit methods: classical RK4 (eqs. 10–11 of the paper), the explicit midpoint
//! rule `y + h f(t + h/2, y + h/2 f(t, y))` and Euler `y + h f(t, y)`.
//!
//! The step is `h0` (default: 1/1000 of the span); the last step is shortened to land on t_end.
//! Step starts are computed as `t0 + i·h` so that no rounding drift accumulates.

use super::common::{self, Setup};
use super::rk4::Rk4Work;
use super::{Dense, Method, SolveError, StepEvent, StepRecord, Stepper};
use crate::nn::Real;

/// A fixed-step solve over states of float type `T` (f64 or f32).
pub struct FixedStep<T = f64> {
    setup: Setup<T>,
    method: Method,
    h: f64,
    n_steps: u64,
    index: u64,
    t: f64,
    y: Vec<T>,
    k1: Vec<T>,
    k1_valid: bool,
    k2: Vec<T>,
    tmp: Vec<T>,
    rk4: Rk4Work<T>,
    nfev: u64,
    lifecycle: common::Lifecycle,
}

impl<T: Real> FixedStep<T> {
    pub fn new(setup: Setup<T>, method: Method) -> Self {
        let d = setup.dim();
        let span = setup.t_end - setup.t0;
        let h = setup.config.h0.unwrap_or(span / 1000.0);
        // Steps of exactly h, plus one shortened step for any remainder.
        let n_steps = ((span / h) - 1e-9).ceil().max(1.0) as u64;
        Self {
            method,
            h,
            n_steps,
            index: 0,
            t: setup.t0,
            y: setup.y0.clone(),
            k1: vec![T::zero(); d],
            k1_valid: false,
            k2: vec![T::zero(); d],
            tmp: vec![T::zero(); d],
            rk4: Rk4Work::new(d),
            nfev: 0,
            lifecycle: common::Lifecycle::default(),
            setup,
        }
    }

    fn try_attempt_inner(&mut self) -> Result<Option<StepRecord<T>>, SolveError> {
        if self.index >= self.n_steps {
            return Ok(None);
        }
        if self.index as usize >= self.setup.config.max_steps {
            return Err(SolveError::MaxSteps {
                t: self.t,
                max_steps: self.setup.config.max_steps,
            });
        }
        common::check_budget(&self.setup, self.t, self.index as usize)?;
        let t = self.setup.t0 + self.index as f64 * self.h;
        let last = self.index + 1 == self.n_steps;
        let h = if last { self.setup.t_end - t } else { self.h };
        let clipped = last && h < self.h * (1.0 - 1e-9);
        if !self.k1_valid {
            common::eval(&self.setup, &mut self.nfev, t, &self.y, &mut self.k1)?;
        }
        let d = self.y.len();
        let setup = &self.setup;
        let ht = T::of(h);
        let (y_new, dense) = match self.method {
            Method::Euler => {
                let y: Vec<T> = (0..d).map(|i| self.y[i] + ht * self.k1[i]).collect();
                (y, Dense::Linear)
            }
            Method::Midpoint => {
                let half = T::of(0.5 * h);
                for i in 0..d {
                    self.tmp[i] = self.y[i] + half * self.k1[i];
                }
                common::eval(setup, &mut self.nfev, t + 0.5 * h, &self.tmp, &mut self.k2)?;
                let y: Vec<T> = (0..d).map(|i| self.y[i] + ht * self.k2[i]).collect();
                (y, Dense::Linear)
            }
            _ => {
                self.rk4
                    .step(setup, &mut self.nfev, t, &self.y, &self.k1, h)?;
                let coeffs = self.rk4.coefficients(&self.k1);
                (self.rk4.y_new.clone(), Dense::Rk4 { coeffs })
            }
        };
        common::check_state(t + h, &y_new)?;
        self.y.copy_from_slice(&y_new);
        self.k1_valid = false;
        self.index += 1;
        self.t = if last { self.setup.t_end } else { t + h };
        Ok(Some(StepRecord {
            t,
            h,
            err: None,
            err_ratio: None,
            accepted: true,
            clipped,
            nfev: self.nfev,
            y: y_new,
            dense,
        }))
    }
}

impl<T: Real> common::AttemptStep<T> for FixedStep<T> {
    fn try_attempt(&mut self) -> Result<Option<StepRecord<T>>, SolveError> {
        self.try_attempt_inner()
    }

    fn lifecycle(&mut self) -> &mut common::Lifecycle {
        &mut self.lifecycle
    }
}

impl<T: Real> Stepper<T> for FixedStep<T> {
    fn method(&self) -> Method {
        self.method
    }

    fn attempt(&mut self) -> StepEvent<T> {
        common::drive(self)
    }

    fn t(&self) -> f64 {
        self.t
    }

    fn y(&self) -> &[T] {
        &self.y
    }

    fn nfev(&self) -> u64 {
        self.nfev
    }

    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}
