//! Barycentric Chebyshev against piecewise-linear interpolation of the forward trajectory in
//! the interpolated adjoint (irdm-interpolated-adjoint §2–3, issue 21 item 4): the same
//! backward pass `da/ds = aᵀ∂f/∂y(ŷ)`, `dg/ds = aᵀ∂f/∂θ(ŷ)` in reversed time `s = t1 − t`
//! (`a(t1) = ∂L/∂y(t1)`, `g(t1) = 0`; `dL/dθ = g(t0)`), with `ŷ(t)` either
//!
//! - the barycentric interpolant on N Chebyshev points of the first kind
//!   ([`ChebInterp`], eq. 7), or
//! - the piecewise-linear interpolant on N equispaced nodes `t0 = τ_0 < … < τ_{N−1} = t1`
//!   (error `O(h²)`, h = (t1 − t0)/(N − 1), against Chebyshev's geometric rate for an analytic
//!   trajectory).
//!
//! The node values come from one fine RK4 solve (steps ≤ span/4096, error far below either
//! interpolation's), and the backward pass is fixed-step RK4 whose steps end on the
//! piecewise-linear nodes (the integrand is smooth inside every step), so the gradient error
//! against a tight backprop reference is the interpolation's alone.

use crate::grad::chebyshev::ChebInterp;
use crate::grad::{GradProblem, rel_l2};
use crate::nn::Mlp;

/// Fine forward steps per span for the node values.
const FORWARD_STEPS: usize = 4096;
/// Backward RK4 steps per span (at least; rounded up to a multiple of the linear intervals).
const BACKWARD_STEPS: usize = 2000;

/// How the forward trajectory is interpolated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interp {
    Chebyshev,
    Linear,
}

impl Interp {
    pub fn name(self) -> &'static str {
        match self {
            Interp::Chebyshev => "chebyshev",
            Interp::Linear => "piecewise-linear",
        }
    }
}

/// One classical RK4 step of `dy/dt = f(t, y)` (the network's field).
fn rk4_step(mlp: &Mlp, t: f64, y: &mut [f64], h: f64) {
    let k1 = mlp.forward(t, y);
    let at = |k: &[f64], c: f64| -> Vec<f64> { y.iter().zip(k).map(|(v, d)| v + c * d).collect() };
    let k2 = mlp.forward(t + 0.5 * h, &at(&k1, 0.5 * h));
    let k3 = mlp.forward(t + 0.5 * h, &at(&k2, 0.5 * h));
    let k4 = mlp.forward(t + h, &at(&k3, h));
    for (i, v) in y.iter_mut().enumerate() {
        *v += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
    }
}

/// The state at each of the increasing `times` (all in `[t0, ∞)`), from `y0` at `t0`, by RK4 with
/// steps of at most `span / FORWARD_STEPS` that land on every requested time.
pub fn states_at(mlp: &Mlp, y0: &[f64], t0: f64, span: f64, times: &[f64]) -> Vec<Vec<f64>> {
    let h_max = span / FORWARD_STEPS as f64;
    let (mut t, mut y) = (t0, y0.to_vec());
    let mut out = Vec::with_capacity(times.len());
    for &tau in times {
        while t < tau {
            let h = (tau - t).min(h_max);
            rk4_step(mlp, t, &mut y, h);
            t = if h == tau - t { tau } else { t + h };
        }
        out.push(y.clone());
    }
    out
}

/// The forward trajectory of `problem` (its first initial state) interpolated on `n` nodes.
pub struct Trajectory {
    kind: Interp,
    nodes: Vec<f64>,
    values: Vec<Vec<f64>>,
    cheb: Option<ChebInterp>,
}

impl Trajectory {
    pub fn new(problem: &GradProblem, kind: Interp, n: usize) -> Self {
        let (t0, t1) = (problem.t0, problem.t1);
        let n = n.max(2);
        let m = problem.mlp.dim();
        let y0 = &problem.y0[0];
        match kind {
            Interp::Chebyshev => {
                let mut c = ChebInterp::new(t0, t1, n, m);
                let values = states_at(&problem.mlp, y0, t0, t1 - t0, &c.nodes.clone());
                for (j, v) in values.iter().enumerate() {
                    c.node_values_mut(j).copy_from_slice(v);
                }
                Self {
                    kind,
                    nodes: c.nodes.clone(),
                    values,
                    cheb: Some(c),
                }
            }
            Interp::Linear => {
                let nodes: Vec<f64> = (0..n)
                    .map(|j| t0 + (t1 - t0) * j as f64 / (n - 1) as f64)
                    .collect();
                let values = states_at(&problem.mlp, y0, t0, t1 - t0, &nodes);
                Self {
                    kind,
                    nodes,
                    values,
                    cheb: None,
                }
            }
        }
    }

    /// `ŷ(t)` into `out`.
    pub fn eval_into(&self, t: f64, out: &mut [f64]) {
        if let Some(c) = &self.cheb {
            c.eval_into(t, out);
            return;
        }
        let n = self.nodes.len();
        let k = self.nodes.partition_point(|&x| x <= t).clamp(1, n - 1);
        let (a, b) = (self.nodes[k - 1], self.nodes[k]);
        let w = (t - a) / (b - a);
        for (i, o) in out.iter_mut().enumerate() {
            *o = (1.0 - w) * self.values[k - 1][i] + w * self.values[k][i];
        }
    }

    pub fn kind(&self) -> Interp {
        self.kind
    }
}

/// `dL/dθ` of `problem` (terminal loss, first initial state) by the backward pass over the
/// interpolated trajectory `traj`.
pub fn gradient(problem: &GradProblem, traj: &Trajectory) -> Vec<f64> {
    let mlp = &problem.mlp;
    let (t0, t1) = (problem.t0, problem.t1);
    let (m, p) = (mlp.dim(), mlp.n_params());
    // a(t1) = ∂L/∂y(t1) at the exact end state (both interpolants see the same loss).
    let end = states_at(mlp, &problem.y0[0], t0, t1 - t0, &[t1]);
    let mut a = vec![0.0; m];
    problem.loss.sample_term(0, 0, 1, &end[0], &mut a, None);
    // Backward steps end on the linear nodes: a multiple of the N − 1 intervals.
    let intervals = (traj.nodes.len() - 1).max(1);
    let steps = BACKWARD_STEPS.div_ceil(intervals) * intervals;
    let h = (t1 - t0) / steps as f64;
    let mut work = mlp.work();
    let (mut y, mut f, mut vy) = (vec![0.0; m], vec![0.0; m], vec![0.0; m]);
    // The derivative of u = [a | g] at reversed time s.
    let mut deriv = |s: f64, a: &[f64], out: &mut [f64]| {
        let t = t1 - s;
        traj.eval_into(t, &mut y);
        out[m..].fill(0.0);
        mlp.vjp_into(t, &y, a, 1.0, &mut f, &mut vy, &mut out[m..], &mut work);
        out[..m].copy_from_slice(&vy);
    };
    let mut u = vec![0.0; m + p];
    u[..m].copy_from_slice(&a);
    let (mut k1, mut k2, mut k3, mut k4) = (
        vec![0.0; m + p],
        vec![0.0; m + p],
        vec![0.0; m + p],
        vec![0.0; m + p],
    );
    let mut tmp = vec![0.0; m + p];
    for i in 0..steps {
        let s = i as f64 * h;
        deriv(s, &u[..m], &mut k1);
        for j in 0..m {
            tmp[j] = u[j] + 0.5 * h * k1[j];
        }
        deriv(s + 0.5 * h, &tmp[..m], &mut k2);
        for j in 0..m {
            tmp[j] = u[j] + 0.5 * h * k2[j];
        }
        deriv(s + 0.5 * h, &tmp[..m], &mut k3);
        for j in 0..m {
            tmp[j] = u[j] + h * k3[j];
        }
        deriv(s + h, &tmp[..m], &mut k4);
        for j in 0..m + p {
            u[j] += h / 6.0 * (k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j]);
        }
    }
    u[m..].to_vec()
}

/// Relative L2 gradient error of each interpolation at `n` nodes against `reference`:
/// `(chebyshev, piecewise-linear)`.
pub fn errors(problem: &GradProblem, n: usize, reference: &[f64]) -> (f64, f64) {
    let err = |kind| {
        let g = gradient(problem, &Trajectory::new(problem, kind, n));
        if g.len() == reference.len() {
            rel_l2(&g, reference)
        } else {
            f64::NAN
        }
    };
    (err(Interp::Chebyshev), err(Interp::Linear))
}
