//! Barycentric Lagrange interpolation on Chebyshev points of the first kind (IRDM, irdm-
//! interpolated-adjoint.md §2, eq. 7; Berrut & Trefethen 2004).
//!
//! Nodes `x_j = cos((2j+1)π/(2N))`, j = 0…N−1, mapped to `[t0, t1]`, with weights
//! `w_j = (−1)^j sin((2j+1)π/(2N))`; `p(t) = Σ_j w_j y_j/(t − τ_j) / Σ_j w_j/(t − τ_j)`.
//!
//! The paper writes its grid as `t0 = τ_0 < … < τ_N = t1` (end points included, i.e. second-kind
//! points) but gives the first-kind weights; those weights are only right for first-kind points
//! (PAPER-NOTES), so we use first-kind points, which do not include t0 and t1.

use std::f64::consts::PI;

/// A Chebyshev grid on `[t0, t1]` with stored values (`n_nodes × m`, node-major).
#[derive(Clone, Debug, PartialEq)]
pub struct ChebInterp {
    pub nodes: Vec<f64>,
    pub weights: Vec<f64>,
    pub values: Vec<f64>,
    pub m: usize,
}

impl ChebInterp {
    /// `n` first-kind nodes on `[t0, t1]` for states of dimension `m` (values zeroed).
    pub fn new(t0: f64, t1: f64, n: usize, m: usize) -> Self {
        let (mid, half) = (0.5 * (t0 + t1), 0.5 * (t1 - t0));
        let mut nodes = Vec::with_capacity(n);
        let mut weights = Vec::with_capacity(n);
        for j in 0..n {
            let angle = (2 * j + 1) as f64 * PI / (2 * n) as f64;
            nodes.push(mid - half * angle.cos());
            let sign = if j % 2 == 0 { 1.0 } else { -1.0 };
            weights.push(sign * angle.sin());
        }
        Self {
            nodes,
            weights,
            values: vec![0.0; n * m],
            m,
        }
    }

    /// Bytes of the stored node values.
    pub fn stored_bytes(&self) -> usize {
        self.values.len() * std::mem::size_of::<f64>()
    }

    /// Values at node `j`.
    pub fn node_values_mut(&mut self, j: usize) -> &mut [f64] {
        &mut self.values[j * self.m..(j + 1) * self.m]
    }

    /// The interpolant at `t` into `out` (exact node values at the nodes).
    pub fn eval_into(&self, t: f64, out: &mut [f64]) {
        let m = self.m;
        if let Some(j) = self.nodes.iter().position(|&x| x == t) {
            out.copy_from_slice(&self.values[j * m..(j + 1) * m]);
            return;
        }
        out.fill(0.0);
        let mut den = 0.0;
        for (j, (&x, &w)) in self.nodes.iter().zip(&self.weights).enumerate() {
            let c = w / (t - x);
            den += c;
            for (o, v) in out.iter_mut().zip(&self.values[j * m..(j + 1) * m]) {
                *o += c * v;
            }
        }
        let inv = 1.0 / den;
        for o in out.iter_mut() {
            *o *= inv;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduces_polynomials_and_converges_for_analytic_functions() {
        // Degree ≤ n−1 polynomials are reproduced to rounding, including outside the nodes'
        // hull (t0 and t1 are not nodes of the first kind).
        let n = 6;
        let mut c = ChebInterp::new(0.5, 2.0, n, 1);
        let poly = |t: f64| 1.0 - 2.0 * t + 0.5 * t.powi(3) - 0.1 * t.powi(5);
        for j in 0..n {
            c.values[j] = poly(c.nodes[j]);
        }
        let mut out = [0.0];
        for &t in &[0.5, 0.77, 1.3, 2.0] {
            c.eval_into(t, &mut out);
            assert!((out[0] - poly(t)).abs() < 1e-12, "{t}");
        }
        // Geometric convergence for exp on [0, 1].
        let mut errs = Vec::new();
        for n in [4, 8, 12] {
            let mut c = ChebInterp::new(0.0, 1.0, n, 1);
            for j in 0..n {
                c.values[j] = c.nodes[j].exp();
            }
            let mut worst = 0.0f64;
            for k in 0..=50 {
                let t = k as f64 / 50.0;
                c.eval_into(t, &mut out);
                worst = worst.max((out[0] - t.exp()).abs());
            }
            errs.push(worst);
        }
        assert!(
            errs[0] < 1e-3 && errs[1] < 1e-8 && errs[2] < 1e-13,
            "{errs:?}"
        );
    }

    #[test]
    fn second_kind_weights_would_be_wrong_here() {
        // The paper's weights with end-point grids do not interpolate a line: a guard that the
        // nodes and weights we pair are the matching ones (first kind).
        let mut c = ChebInterp::new(0.0, 1.0, 5, 1);
        for j in 0..5 {
            c.values[j] = 3.0 * c.nodes[j] - 1.0;
        }
        let mut out = [0.0];
        c.eval_into(0.123, &mut out);
        assert!((out[0] - (3.0 * 0.123 - 1.0)).abs() < 1e-14);
        assert!(c.nodes.iter().all(|&x| x > 0.0 && x < 1.0));
    }
}
