//! Classical RK4 (paper eqs. 10–11) and the per-step polynomials of the zero-cost method.
//!
//! With `m = (k2 + k3)/2`, the quadratic `p(τ) = a0 + a1 τ + a2 τ²` of paper eqs. (13)–(17)
//! interpolates `p(0) = k1`, `p(1/2) = m`, `p(1) = k4`:
//!
//! `a0 = k1`, `a1 = −3k1 + 2(k2 + k3) − k4`, `a2 = 2(k1 − (k2 + k3) + k4)`  (eq. 15),
//!
//! and its integral `q(τ) = y_n + hτ(a0 + a1 τ/2 + a2 τ²/3)` (eq. 19) reproduces the RK4 update
//! at τ = 1 (eq. 20). The coefficients are "in units of f": not divided by h.

use super::SolveError;
use super::common::{Setup, eval};
use crate::nn::Real;

/// Work arrays for one RK4 step (states of float type `T`).
#[derive(Clone, Debug)]
pub struct Rk4Work<T = f64> {
    pub k2: Vec<T>,
    pub k3: Vec<T>,
    pub k4: Vec<T>,
    pub tmp: Vec<T>,
    pub y_new: Vec<T>,
}

impl<T: Real> Rk4Work<T> {
    pub fn new(d: usize) -> Self {
        Self {
            k2: vec![T::zero(); d],
            k3: vec![T::zero(); d],
            k4: vec![T::zero(); d],
            tmp: vec![T::zero(); d],
            y_new: vec![T::zero(); d],
        }
    }

    /// Computes k2, k3, k4 from `k1 = f(t, y)` (3 evaluations) and the RK4 update `y_new`.
    pub fn step(
        &mut self,
        setup: &Setup<T>,
        nfev: &mut u64,
        t: f64,
        y: &[T],
        k1: &[T],
        h: f64,
    ) -> Result<(), SolveError> {
        let d = y.len();
        let (half, full) = (T::of(0.5 * h), T::of(h));
        for i in 0..d {
            self.tmp[i] = y[i] + half * k1[i];
        }
        eval(setup, nfev, t + 0.5 * h, &self.tmp, &mut self.k2)?;
        for i in 0..d {
            self.tmp[i] = y[i] + half * self.k2[i];
        }
        eval(setup, nfev, t + 0.5 * h, &self.tmp, &mut self.k3)?;
        for i in 0..d {
            self.tmp[i] = y[i] + full * self.k3[i];
        }
        eval(setup, nfev, t + h, &self.tmp, &mut self.k4)?;
        update(y, h, k1, &self.k2, &self.k3, &self.k4, &mut self.y_new);
        Ok(())
    }

    /// `[a0 | a1 | a2]` for the stages of the last [`Rk4Work::step`].
    pub fn coefficients(&self, k1: &[T]) -> Vec<T> {
        let mut c = vec![T::zero(); 3 * k1.len()];
        coefficients_into(k1, &self.k2, &self.k3, &self.k4, &mut c);
        c
    }
}

/// The RK4 update `y + h/6 (k1 + 2(k2 + k3) + k4)` (eq. 11).
#[inline]
pub fn update<T: Real>(y: &[T], h: f64, k1: &[T], k2: &[T], k3: &[T], k4: &[T], out: &mut [T]) {
    let (h6, two) = (T::of(h / 6.0), T::of(2.0));
    for i in 0..y.len() {
        out[i] = y[i] + h6 * (k1[i] + two * (k2[i] + k3[i]) + k4[i]);
    }
}

/// Paper eq. (15) into `out = [a0 | a1 | a2]`.
#[inline]
pub fn coefficients_into<T: Real>(k1: &[T], k2: &[T], k3: &[T], k4: &[T], out: &mut [T]) {
    let d = k1.len();
    let (two, three) = (T::of(2.0), T::of(3.0));
    for i in 0..d {
        let s = k2[i] + k3[i];
        out[i] = k1[i];
        out[d + i] = -three * k1[i] + two * s - k4[i];
        out[2 * d + i] = two * (k1[i] - s + k4[i]);
    }
}

/// `p(τ) = a0 + a1 τ + a2 τ²` (eq. 17).
#[inline]
pub fn p_eval(coeffs: &[f64], tau: f64, out: &mut [f64]) {
    let d = out.len();
    for i in 0..d {
        out[i] = coeffs[i] + tau * (coeffs[d + i] + tau * coeffs[2 * d + i]);
    }
}

/// `q(τ) = y_n + hτ(a0 + a1 τ/2 + a2 τ²/3)` (eq. 19).
#[inline]
pub fn cubic_eval<T: Real>(coeffs: &[T], y_start: &[T], h: f64, tau: f64, out: &mut [T]) {
    let d = y_start.len();
    let (ht, tau) = (T::of(h * tau), T::of(tau));
    let (two, three) = (T::of(2.0), T::of(3.0));
    for i in 0..d {
        let inner = coeffs[i] + tau * (coeffs[d + i] / two + tau * coeffs[2 * d + i] / three);
        out[i] = y_start[i] + ht * inner;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::StdRng};

    fn random_vec(rng: &mut StdRng, d: usize) -> Vec<f64> {
        (0..d).map(|_| rng.random_range(-3.0..3.0)).collect()
    }

    /// p(1) = k4, p(1/2) = (k2+k3)/2, p(0) = k1, p'(0) = a1 (eq. 13) and q(1) is the RK4
    /// update (eq. 20), on random stage values.
    #[test]
    fn polynomial_identities_hold_on_random_stages() {
        let mut rng = StdRng::seed_from_u64(42);
        for _ in 0..200 {
            let d = rng.random_range(1..6);
            let (k1, k2, k3, k4, y) = (
                random_vec(&mut rng, d),
                random_vec(&mut rng, d),
                random_vec(&mut rng, d),
                random_vec(&mut rng, d),
                random_vec(&mut rng, d),
            );
            let h = rng.random_range(1e-3..2.0);
            let mut c = vec![0.0; 3 * d];
            coefficients_into(&k1, &k2, &k3, &k4, &mut c);
            let mut p = vec![0.0; d];
            p_eval(&c, 1.0, &mut p);
            for i in 0..d {
                assert!((p[i] - k4[i]).abs() < 1e-12);
            }
            p_eval(&c, 0.5, &mut p);
            for i in 0..d {
                assert!((p[i] - 0.5 * (k2[i] + k3[i])).abs() < 1e-12);
            }
            p_eval(&c, 0.0, &mut p);
            assert_eq!(p, k1);
            // p'(0) = a1 = −3k1 + 2(k2+k3) − k4, by a finite difference of p.
            let mut pe = vec![0.0; d];
            p_eval(&c, 1e-7, &mut pe);
            for i in 0..d {
                let slope = (pe[i] - k1[i]) / 1e-7;
                let a1 = -3.0 * k1[i] + 2.0 * (k2[i] + k3[i]) - k4[i];
                assert!((slope - a1).abs() < 1e-5 * (1.0 + a1.abs()));
            }
            let mut q = vec![0.0; d];
            let mut rk = vec![0.0; d];
            cubic_eval(&c, &y, h, 1.0, &mut q);
            update(&y, h, &k1, &k2, &k3, &k4, &mut rk);
            for i in 0..d {
                assert!((q[i] - rk[i]).abs() < 1e-12 * (1.0 + rk[i].abs()));
            }
            // q is the integral of h·p: q'(τ) = h p(τ).
            let tau = rng.random_range(0.1..0.9);
            let (mut qa, mut qb) = (vec![0.0; d], vec![0.0; d]);
            cubic_eval(&c, &y, h, tau + 1e-6, &mut qa);
            cubic_eval(&c, &y, h, tau - 1e-6, &mut qb);
            p_eval(&c, tau, &mut p);
            for i in 0..d {
                let dq = (qa[i] - qb[i]) / 2e-6;
                assert!((dq - h * p[i]).abs() < 1e-5 * (1.0 + dq.abs()));
            }
        }
    }
}
