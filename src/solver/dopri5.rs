//! Dormand–Prince 5(4) (Dormand & Prince 1980) as in Hairer, Nørsett & Wanner, *Solving ODEs I*,
//! §II.5 and their code DOPRI5: FSAL (the 7th stage is f at the new point, reused as the next
//! k1: 6 new f-evaluations per attempt), the 5th-order solution is propagated (local
//! extrapolation), the error estimate is `h Σ e_i k_i`, the PI step controller
//! `fac = r^(0.2 − 0.75β) / r_old^β` (β = 0.04, safety 0.9, h may shrink to 1/5 or grow 10×)
//! and the 4th-order continuous extension CONTD5.

use super::common::{self, Setup};
use super::{Dense, Method, SolveError, StepEvent, StepRecord, Stepper};
use crate::nn::Real;

// Butcher tableau (c, a) and the weights of the 5th-order solution (= the 7th row, FSAL).
const C2: f64 = 1.0 / 5.0;
const C3: f64 = 3.0 / 10.0;
const C4: f64 = 4.0 / 5.0;
const C5: f64 = 8.0 / 9.0;
const A21: f64 = 1.0 / 5.0;
const A31: f64 = 3.0 / 40.0;
const A32: f64 = 9.0 / 40.0;
const A41: f64 = 44.0 / 45.0;
const A42: f64 = -56.0 / 15.0;
const A43: f64 = 32.0 / 9.0;
const A51: f64 = 19372.0 / 6561.0;
const A52: f64 = -25360.0 / 2187.0;
const A53: f64 = 64448.0 / 6561.0;
const A54: f64 = -212.0 / 729.0;
const A61: f64 = 9017.0 / 3168.0;
const A62: f64 = -355.0 / 33.0;
const A63: f64 = 46732.0 / 5247.0;
const A64: f64 = 49.0 / 176.0;
const A65: f64 = -5103.0 / 18656.0;
const A71: f64 = 35.0 / 384.0;
const A73: f64 = 500.0 / 1113.0;
const A74: f64 = 125.0 / 192.0;
const A75: f64 = -2187.0 / 6784.0;
const A76: f64 = 11.0 / 84.0;
// Error weights: 5th-order minus 4th-order weights.
const E1: f64 = 71.0 / 57600.0;
const E3: f64 = -71.0 / 16695.0;
const E4: f64 = 71.0 / 1920.0;
const E5: f64 = -17253.0 / 339200.0;
const E6: f64 = 22.0 / 525.0;
const E7: f64 = -1.0 / 40.0;
// Dense output (CONTD5).
const D1: f64 = -12715105075.0 / 11282082432.0;
const D3: f64 = 87487479700.0 / 32700410799.0;
const D4: f64 = -10690763975.0 / 1880347072.0;
const D5: f64 = 701980252875.0 / 199316789632.0;
const D6: f64 = -1453857185.0 / 822651844.0;
const D7: f64 = 69997945.0 / 29380423.0;

/// The tableau as data, for code that replays Dopri5 steps (e.g. gradient methods).
pub const TABLEAU_A: [[f64; 6]; 7] = [
    [0.0; 6],
    [A21, 0.0, 0.0, 0.0, 0.0, 0.0],
    [A31, A32, 0.0, 0.0, 0.0, 0.0],
    [A41, A42, A43, 0.0, 0.0, 0.0],
    [A51, A52, A53, A54, 0.0, 0.0],
    [A61, A62, A63, A64, A65, 0.0],
    [A71, 0.0, A73, A74, A75, A76],
];
pub const TABLEAU_C: [f64; 7] = [0.0, C2, C3, C4, C5, 1.0, 1.0];
/// Weights of the propagated 5th-order solution (stages 1–6; stage 7 has weight 0).
pub const WEIGHTS_B: [f64; 6] = [A71, 0.0, A73, A74, A75, A76];

const BETA: f64 = 0.04;
const SAFETY: f64 = 0.9;

/// A Dormand–Prince solve over states of float type `T` (f64 or f32): stages and states in
/// `T`, the tableau's coefficients rounded to `T` once per step (`h·a_ij`), time, step size
/// and the error norm in f64.
pub struct Dopri5<T = f64> {
    setup: Setup<T>,
    t: f64,
    y: Vec<T>,
    k: [Vec<T>; 7],
    tmp: Vec<T>,
    y_new: Vec<T>,
    /// The error estimate `h Σ e_i k_i`.
    err_est: Vec<T>,
    h: f64,
    started: bool,
    lifecycle: common::Lifecycle,
    nfev: u64,
    attempts: usize,
    last_rejected: bool,
    err_old: f64,
}

impl<T: Real> Dopri5<T> {
    pub fn new(setup: Setup<T>) -> Self {
        let d = setup.dim();
        Self {
            t: setup.t0,
            y: setup.y0.clone(),
            k: std::array::from_fn(|_| vec![T::zero(); d]),
            tmp: vec![T::zero(); d],
            y_new: vec![T::zero(); d],
            err_est: vec![T::zero(); d],
            h: 0.0,
            started: false,
            lifecycle: common::Lifecycle::default(),
            nfev: 0,
            attempts: 0,
            last_rejected: false,
            err_old: 1e-4,
            setup,
        }
    }

    /// Stage `s` (0-based, 1..=5) at `t + c_s h` from `y + h Σ a_sj k_j`.
    fn stage(&mut self, s: usize, h: f64) -> Result<(), SolveError> {
        let a: [T; 6] = std::array::from_fn(|j| T::of(TABLEAU_A[s][j]));
        let ht = T::of(h);
        let (y, k, tmp) = (&self.y, &self.k, &mut self.tmp);
        match s {
            1 => combine(tmp, Some(y), ht, [a[0]], [&k[0]]),
            2 => combine(tmp, Some(y), ht, [a[0], a[1]], [&k[0], &k[1]]),
            3 => combine(tmp, Some(y), ht, [a[0], a[1], a[2]], [&k[0], &k[1], &k[2]]),
            4 => combine(
                tmp,
                Some(y),
                ht,
                [a[0], a[1], a[2], a[3]],
                [&k[0], &k[1], &k[2], &k[3]],
            ),
            _ => combine(
                tmp,
                Some(y),
                ht,
                [a[0], a[1], a[2], a[3], a[4]],
                [&k[0], &k[1], &k[2], &k[3], &k[4]],
            ),
        }
        let (head, tail) = self.k.split_at_mut(s);
        let _ = head;
        let t = self.t + TABLEAU_C[s] * h;
        if s == 1 {
            // k2's weight is 0 in the solution, the error estimate and CONTD5: only the later
            // stages read it, and they never read its quadrature part.
            return common::eval_skipping_quadrature(
                &self.setup,
                &mut self.nfev,
                t,
                &self.tmp,
                &mut tail[0],
            );
        }
        common::eval(&self.setup, &mut self.nfev, t, &self.tmp, &mut tail[0])
    }

    fn try_attempt_inner(&mut self) -> Result<Option<StepRecord<T>>, SolveError> {
        if !self.started {
            let (t, y) = (self.t, self.y.clone());
            common::eval(&self.setup, &mut self.nfev, t, &y, &mut self.k[0])?;
            self.h = match self.setup.config.h0 {
                Some(h0) => h0,
                None => common::initial_step(&self.setup, &mut self.nfev, &self.k[0], 5)?,
            };
            self.started = true;
        }
        if self.t >= self.setup.t_end {
            return Ok(None);
        }
        let (h, clipped) = common::guard_step(&self.setup, self.t, self.h, self.attempts)?;
        self.attempts += 1;
        for s in 1..6 {
            self.stage(s, h)?;
        }
        let d = self.y.len();
        let ht = T::of(h);
        let w7 = [A71, A73, A74, A75, A76].map(T::of);
        {
            let k = &self.k;
            let ks: [&[T]; 5] = [&k[0], &k[2], &k[3], &k[4], &k[5]];
            combine(&mut self.y_new, Some(&self.y), ht, w7, ks);
        }
        let t = self.t;
        common::check_state(t + h, &self.y_new)?;
        {
            let (head, tail) = self.k.split_at_mut(6);
            let _ = head;
            common::eval(
                &self.setup,
                &mut self.nfev,
                t + h,
                &self.y_new,
                &mut tail[0],
            )?;
        }
        let k = &self.k;
        let we = [E1, E3, E4, E5, E6, E7].map(T::of);
        let e = &mut self.err_est;
        combine(e, None, ht, we, [&k[0], &k[2], &k[3], &k[4], &k[5], &k[6]]);
        let (ratio, err) = common::error_norms(
            e,
            &self.y,
            &self.y_new,
            self.setup.config.tol,
            self.setup.config.rtol,
        );
        let accepted = ratio <= 1.0;
        // PI controller (Hairer's DOPRI5).
        let expo = 0.2 - BETA * 0.75;
        let fac11 = ratio.max(1e-300).powf(expo);
        let h_next = if accepted {
            let fac = (fac11 / self.err_old.powf(BETA) / SAFETY).clamp(0.1, 5.0);
            let mut h_new = h / fac;
            if self.last_rejected {
                h_new = h_new.min(h);
            }
            h_new
        } else {
            h / (fac11 / SAFETY).min(5.0)
        };
        let dense = if self.setup.dense_output {
            let mut r = vec![T::zero(); 4 * d];
            let wd = [D1, D3, D4, D5, D6, D7].map(T::of);
            let (r2, rest) = r.split_at_mut(d);
            let (r3, rest) = rest.split_at_mut(d);
            let (r4, r5) = rest.split_at_mut(d);
            combine(r5, None, ht, wd, [&k[0], &k[2], &k[3], &k[4], &k[5], &k[6]]);
            let (y, y_new, k0, k6) = (&self.y[..d], &self.y_new[..d], &k[0][..d], &k[6][..d]);
            for i in 0..d {
                let a = y_new[i] - y[i];
                let b = ht * k0[i] - a;
                r2[i] = a;
                r3[i] = b;
                r4[i] = a - ht * k6[i] - b;
            }
            Dense::Dopri { r }
        } else {
            Dense::Linear
        };
        let record = StepRecord {
            t,
            h,
            err: Some(err),
            err_ratio: Some(ratio),
            accepted,
            clipped,
            nfev: self.nfev,
            y: self.y_new.clone(),
            dense,
        };
        if accepted {
            self.err_old = ratio.max(1e-4);
            self.t = if clipped { self.setup.t_end } else { t + h };
            self.y.copy_from_slice(&self.y_new);
            self.k.swap(0, 6);
        }
        self.last_rejected = !accepted;
        self.h = h_next;
        Ok(Some(record))
    }
}

/// `out_i = base_i + ht · (w_0 k_0[i] + w_1 k_1[i] + …)` (or without `base`, `ht · (…)`),
/// summed left to right as the scalar formulas are written, over slices cut to `out`'s length
/// so that the loop vectorises (the stages, the new state and the error estimate).
/// Runs on AVX2 when the CPU has it (the loop is the same; Rust never fuses `a·b + c` into an
/// FMA, so the result is bit for bit the baseline build's).
#[inline]
fn combine<T: Real, const S: usize>(
    out: &mut [T],
    base: Option<&[T]>,
    ht: T,
    w: [T; S],
    ks: [&[T]; S],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        unsafe { combine_avx2(out, base, ht, w, ks) };
        return;
    }
    combine_loop(out, base, ht, w, ks);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn combine_avx2<T: Real, const S: usize>(
    out: &mut [T],
    base: Option<&[T]>,
    ht: T,
    w: [T; S],
    ks: [&[T]; S],
) {
    combine_loop(out, base, ht, w, ks);
}

#[inline(always)]
fn combine_loop<T: Real, const S: usize>(
    out: &mut [T],
    base: Option<&[T]>,
    ht: T,
    w: [T; S],
    ks: [&[T]; S],
) {
    let d = out.len();
    let ks = ks.map(|k| &k[..d]);
    let sum = |i: usize| {
        let mut acc = w[0] * ks[0][i];
        for j in 1..S {
            acc += w[j] * ks[j][i];
        }
        acc
    };
    match base {
        Some(base) => {
            let base = &base[..d];
            for i in 0..d {
                out[i] = base[i] + ht * sum(i);
            }
        }
        None => {
            for i in 0..d {
                out[i] = ht * sum(i);
            }
        }
    }
}

impl<T: Real> common::AttemptStep<T> for Dopri5<T> {
    fn try_attempt(&mut self) -> Result<Option<StepRecord<T>>, SolveError> {
        self.try_attempt_inner()
    }

    fn lifecycle(&mut self) -> &mut common::Lifecycle {
        &mut self.lifecycle
    }
}

impl<T: Real> Stepper<T> for Dopri5<T> {
    fn method(&self) -> Method {
        Method::Dopri5
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

    fn proposed_h(&self) -> Option<f64> {
        (self.started && self.h.is_finite() && self.h > 0.0).then_some(self.h)
    }

    fn extend_to(&mut self, t_end: f64) -> bool {
        let at_end = self.started && self.lifecycle.done && self.t == self.setup.t_end;
        let later = t_end.is_finite() && t_end > self.t;
        if !at_end || self.lifecycle.failed.is_some() || !later {
            return false;
        }
        let span = t_end - self.t;
        let config = &self.setup.config;
        self.setup.h_max = config.h_max.unwrap_or(span).min(span);
        self.setup.h_min = config.h_min.unwrap_or(1e-12 * span);
        self.setup.t_end = t_end;
        self.lifecycle.done = false;
        true
    }
}
