//! Vector fields on the stacked state of a group of samples, and the augmented systems of the
//! sensitivity and adjoint methods.
//!
//! A group of n samples of dimension d is one state `Y = [y_1 | … | y_n]` of dimension m = n·d
//! with `F(t, Y)_b = MLP(t, y_b)`. The same types implement [`Field`] (explicit stepping with
//! caller scratch, used to replay steps) and [`OdeSystem`] (integration by the solvers of
//! [`crate::solver`], with thread-local scratch).

use std::cell::RefCell;
use std::sync::Arc;

use super::chebyshev::ChebInterp;
use crate::nn::{Mlp, MlpWork};
use crate::problem::OdeSystem;

/// Scratch for one field evaluation.
#[derive(Clone, Debug, Default)]
pub struct FieldWork {
    pub mlp: MlpWork,
    f: Vec<f64>,
    vy: Vec<f64>,
    jy: Vec<f64>,
    jtheta: Vec<f64>,
    y: Vec<f64>,
    scratch: Vec<f64>,
}

impl FieldWork {
    pub fn new(mlp: &Mlp) -> Self {
        let mut w = Self::default();
        w.ensure(mlp);
        w
    }

    pub fn ensure(&mut self, mlp: &Mlp) {
        self.mlp.ensure(mlp);
        let (d, p) = (mlp.dim(), mlp.n_params());
        if self.f.len() < d {
            self.f.resize(d, 0.0);
            self.vy.resize(d, 0.0);
            self.jy.resize(d * d, 0.0);
        }
        if self.jtheta.len() < d * p {
            self.jtheta.resize(d * p, 0.0);
        }
        if self.scratch.len() < 2 * mlp.max_width() {
            self.scratch.resize(2 * mlp.max_width(), 0.0);
        }
    }
}

thread_local! {
    static WORK: RefCell<FieldWork> = RefCell::new(FieldWork::default());
}

/// Runs `f` with this thread's scratch sized for `mlp`.
fn with_work<R>(mlp: &Mlp, f: impl FnOnce(&mut FieldWork) -> R) -> R {
    WORK.with(|cell| {
        let mut w = cell.borrow_mut();
        w.ensure(mlp);
        f(&mut w)
    })
}

/// A right-hand side evaluated with caller scratch.
pub trait Field {
    fn dim(&self) -> usize;
    fn eval(&self, t: f64, y: &[f64], out: &mut [f64], work: &mut FieldWork);
}

/// A field with a vector-Jacobian product.
pub trait FieldVjp: Field {
    /// `vy = vᵀ ∂F/∂Y` (overwritten) and `gtheta += vᵀ ∂F/∂θ`.
    fn vjp(
        &self,
        t: f64,
        y: &[f64],
        v: &[f64],
        vy: &mut [f64],
        gtheta: &mut [f64],
        work: &mut FieldWork,
    );
}

/// `F(t, Y)_b = MLP(t, y_b)` for n stacked samples.
#[derive(Clone, Debug)]
pub struct StackedMlp {
    pub mlp: Arc<Mlp>,
    pub n: usize,
}

impl Field for StackedMlp {
    fn dim(&self) -> usize {
        self.n * self.mlp.dim()
    }

    fn eval(&self, t: f64, y: &[f64], out: &mut [f64], work: &mut FieldWork) {
        let d = self.mlp.dim();
        for (yb, ob) in y.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
            self.mlp.forward_into(t, yb, ob, &mut work.scratch);
        }
    }
}

impl FieldVjp for StackedMlp {
    fn vjp(
        &self,
        t: f64,
        y: &[f64],
        v: &[f64],
        vy: &mut [f64],
        gtheta: &mut [f64],
        work: &mut FieldWork,
    ) {
        let d = self.mlp.dim();
        for b in 0..self.n {
            let r = b * d..(b + 1) * d;
            self.mlp.vjp_into(
                t,
                &y[r.clone()],
                &v[r.clone()],
                1.0,
                &mut work.f[..d],
                &mut vy[r],
                gtheta,
                &mut work.mlp,
            );
        }
    }
}

impl OdeSystem for StackedMlp {
    fn dim(&self) -> usize {
        Field::dim(self)
    }

    fn rhs(&self, t: f64, y: &[f64], dydt: &mut [f64]) {
        with_work(&self.mlp, |w| self.eval(t, y, dydt, w));
    }
}

/// Forward sensitivities: `u = [Y | S]`, `S = dY/dθ` (row `b·d + i` of length P),
/// `Y' = F(t, Y)`, `S_b' = ∂f/∂y(y_b) S_b + ∂f/∂θ(y_b)` (adjoint-sensitivity.md eq. 21).
#[derive(Clone, Debug)]
pub struct SensitivityField {
    pub mlp: Arc<Mlp>,
    pub n: usize,
}

impl Field for SensitivityField {
    fn dim(&self) -> usize {
        self.n * self.mlp.dim() * (1 + self.mlp.n_params())
    }

    fn eval(&self, t: f64, u: &[f64], out: &mut [f64], work: &mut FieldWork) {
        let (d, p) = (self.mlp.dim(), self.mlp.n_params());
        let m = self.n * d;
        let (y, s) = u.split_at(m);
        let (dy, ds) = out.split_at_mut(m);
        let FieldWork {
            mlp: mw,
            jy,
            jtheta,
            ..
        } = work;
        for b in 0..self.n {
            let r = b * d..(b + 1) * d;
            self.mlp
                .jacobian_into(t, &y[r.clone()], &mut dy[r], jy, jtheta, mw);
            let sb = &s[b * d * p..(b + 1) * d * p];
            let dsb = &mut ds[b * d * p..(b + 1) * d * p];
            for i in 0..d {
                let row = &mut dsb[i * p..(i + 1) * p];
                row.copy_from_slice(&jtheta[i * p..(i + 1) * p]);
                for j in 0..d {
                    let a = jy[i * d + j];
                    if a != 0.0 {
                        for (o, sv) in row.iter_mut().zip(&sb[j * p..(j + 1) * p]) {
                            *o += a * sv;
                        }
                    }
                }
            }
        }
    }
}

impl OdeSystem for SensitivityField {
    fn dim(&self) -> usize {
        Field::dim(self)
    }

    fn rhs(&self, t: f64, y: &[f64], dydt: &mut [f64]) {
        with_work(&self.mlp, |w| self.eval(t, y, dydt, w));
    }
}

/// Where the adjoint pass takes the forward state from.
#[derive(Clone, Debug)]
pub enum StateSource {
    /// Integrated backwards with the adjoint (backsolve): the state is `[Y | a | g]`.
    Backsolve,
    /// Interpolated (IRDM): the state is `[a | g]`.
    Interpolated(Arc<ChebInterp>),
}

/// `(y, a, dy/ds, da/ds, dg/ds)` views of an adjoint state and its derivative.
type AdjointParts<'a> = (
    &'a [f64],
    &'a [f64],
    Option<&'a mut [f64]>,
    &'a mut [f64],
    &'a mut [f64],
);

/// The adjoint system in reversed time `s = t_ref − t` (so the solvers integrate forwards):
/// `dY/ds = −F(t, Y)`, `da/ds = aᵀ ∂F/∂Y`, `dg/ds = aᵀ ∂F/∂θ` (irdm eqs. 3, 5, 6; adjoint-
/// sensitivity.md Algorithm 1, with the sign of time flipped). After integrating to
/// `s = t_ref − t0`, `a = ∂L/∂Y(t0)` and `g = dL/dθ` (contributions of this segment).
#[derive(Clone, Debug)]
pub struct AdjointField {
    pub mlp: Arc<Mlp>,
    pub n: usize,
    pub t_ref: f64,
    pub source: StateSource,
}

impl AdjointField {
    pub fn state_dim(&self) -> usize {
        self.n * self.mlp.dim()
    }
}

impl Field for AdjointField {
    fn dim(&self) -> usize {
        let m = self.state_dim();
        let extra = match self.source {
            StateSource::Backsolve => m,
            StateSource::Interpolated(_) => 0,
        };
        extra + m + self.mlp.n_params()
    }

    fn eval(&self, s: f64, u: &[f64], out: &mut [f64], work: &mut FieldWork) {
        let d = self.mlp.dim();
        let m = self.state_dim();
        let t = self.t_ref - s;
        let FieldWork {
            mlp: mw,
            f,
            y: ybuf,
            ..
        } = work;
        let (y, a, dy, da, dg): AdjointParts<'_> = match &self.source {
            StateSource::Backsolve => {
                let (y, rest) = u.split_at(m);
                let (dy, rest_out) = out.split_at_mut(m);
                let (da, dg) = rest_out.split_at_mut(m);
                (y, &rest[..m], Some(dy), da, dg)
            }
            StateSource::Interpolated(interp) => {
                if ybuf.len() < m {
                    ybuf.resize(m, 0.0);
                }
                interp.eval_into(t, &mut ybuf[..m]);
                let (da, dg) = out.split_at_mut(m);
                (&ybuf[..m], &u[..m], None, da, dg)
            }
        };
        dg.fill(0.0);
        let mut dy = dy;
        for b in 0..self.n {
            let r = b * d..(b + 1) * d;
            self.mlp.vjp_into(
                t,
                &y[r.clone()],
                &a[r.clone()],
                1.0,
                &mut f[..d],
                &mut da[r.clone()],
                dg,
                mw,
            );
            if let Some(dy) = dy.as_deref_mut() {
                for (o, v) in dy[r].iter_mut().zip(&f[..d]) {
                    *o = -v;
                }
            }
        }
    }
}

impl OdeSystem for AdjointField {
    fn dim(&self) -> usize {
        Field::dim(self)
    }

    fn rhs(&self, t: f64, y: &[f64], dydt: &mut [f64]) {
        with_work(&self.mlp, |w| self.eval(t, y, dydt, w));
    }
}
