//! Classical RK4 with step doubling (Press et al., *Numerical Recipes*, §17.2; the paper's
//! baseline).
//!
//! Each attempt takes one step of size h (`y_big`) and two of size h/2 (`y2`) from the same
//! start: 1 + 3 + 3 + 4 = 11 f-evaluations (the start slope is shared). The difference
//! `(y2 − y_big)/15` estimates the local error of `y2` (Richardson: both are 4th order, the
//! error of two half steps is 1/16 of the error of the full step), and `y2` is propagated
//! without local extrapolation, so the method stays a 4th-order RK4 scheme. The controller is
//! the guarded one ([`common::guarded`]): `h ← h·clamp(0.9 r^(−1/5), 0.2, 5)`.

use super::common::{self, Setup};
use super::rk4::Rk4Work;
use super::{Dense, Method, SolveError, StepEvent, StepRecord, Stepper};

pub struct Rk4Doubling {
    setup: Setup,
    t: f64,
    y: Vec<f64>,
    k1: Vec<f64>,
    /// Whether `k1` holds f(t, y) for the current state.
    k1_valid: bool,
    big: Rk4Work,
    half: Rk4Work,
    k1_mid: Vec<f64>,
    h: f64,
    started: bool,
    lifecycle: common::Lifecycle,
    nfev: u64,
    attempts: usize,
    last_rejected: bool,
}

impl Rk4Doubling {
    pub fn new(setup: Setup) -> Self {
        let d = setup.dim();
        Self {
            t: setup.t0,
            y: setup.y0.clone(),
            k1: vec![0.0; d],
            k1_valid: false,
            big: Rk4Work::new(d),
            half: Rk4Work::new(d),
            k1_mid: vec![0.0; d],
            h: 0.0,
            started: false,
            lifecycle: common::Lifecycle::default(),
            nfev: 0,
            attempts: 0,
            last_rejected: false,
            setup,
        }
    }

    fn try_attempt_inner(&mut self) -> Result<Option<StepRecord>, SolveError> {
        if self.t >= self.setup.t_end {
            return Ok(None);
        }
        if !self.k1_valid {
            common::eval(&self.setup, &mut self.nfev, self.t, &self.y, &mut self.k1)?;
            self.k1_valid = true;
        }
        if !self.started {
            self.h = match self.setup.config.h0 {
                Some(h0) => h0,
                None => common::initial_step(&self.setup, &mut self.nfev, &self.k1, 4)?,
            };
            self.started = true;
        }
        if self.t >= self.setup.t_end {
            return Ok(None);
        }
        let (h, clipped) = common::guard_step(&self.setup, self.t, self.h, self.attempts)?;
        self.attempts += 1;
        let t = self.t;
        let setup = &self.setup;
        self.big
            .step(setup, &mut self.nfev, t, &self.y, &self.k1, h)?;
        let coeffs = self.big.coefficients(&self.k1);
        self.half
            .step(setup, &mut self.nfev, t, &self.y, &self.k1, 0.5 * h)?;
        let first = self.half.coefficients(&self.k1);
        let y_mid = self.half.y_new.clone();
        common::check_state(t + 0.5 * h, &y_mid)?;
        common::eval(setup, &mut self.nfev, t + 0.5 * h, &y_mid, &mut self.k1_mid)?;
        self.half.step(
            setup,
            &mut self.nfev,
            t + 0.5 * h,
            &y_mid,
            &self.k1_mid,
            0.5 * h,
        )?;
        let second = self.half.coefficients(&self.k1_mid);
        let y2 = self.half.y_new.clone();
        common::check_state(t + h, &y2)?;

        let d = self.y.len();
        let e: Vec<f64> = (0..d).map(|i| (y2[i] - self.big.y_new[i]) / 15.0).collect();
        let (ratio, err) =
            common::error_norms(&e, &self.y, &y2, setup.config.tol, setup.config.rtol);
        let accepted = ratio <= 1.0;
        let mut fac = common::guarded::factor(ratio, 5.0);
        if accepted && self.last_rejected {
            fac = fac.min(1.0);
        }
        let record = StepRecord {
            t,
            h,
            err: Some(err),
            err_ratio: Some(ratio),
            accepted,
            clipped,
            nfev: self.nfev,
            y: y2.clone(),
            dense: Dense::Rk4Halves {
                coeffs,
                first,
                second,
                y_mid,
            },
        };
        if accepted {
            self.t = if clipped { self.setup.t_end } else { t + h };
            self.y = y2;
            self.k1_valid = false;
        }
        self.last_rejected = !accepted;
        self.h = h * fac;
        Ok(Some(record))
    }
}

impl common::AttemptStep for Rk4Doubling {
    fn try_attempt(&mut self) -> Result<Option<StepRecord>, SolveError> {
        self.try_attempt_inner()
    }

    fn lifecycle(&mut self) -> &mut common::Lifecycle {
        &mut self.lifecycle
    }
}

impl Stepper for Rk4Doubling {
    fn method(&self) -> Method {
        Method::Rk4Doubling
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
        Vec::new()
    }
}
