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
use crate::nn::{BatchWork, BatchedMlp, Mlp, MlpWork};
use crate::problem::OdeSystem;

/// Scratch for one field evaluation: per-sample buffers, and the batched workspaces
/// ([`BatchWork`]: one for the whole group, one per row block when the batch is split over
/// threads). Allocated once per solve or per thread and reused: evaluations do not allocate
/// once the buffers fit the group.
#[derive(Clone, Debug, Default)]
pub struct FieldWork {
    pub mlp: MlpWork,
    /// Batched workspace for the whole group on this thread.
    pub batch: BatchWork<f64>,
    /// Batched workspaces of the row blocks (see [`super::batch::row_threads`]).
    pub blocks: Vec<BatchWork<f64>>,
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
        let net = self.mlp.batched();
        match row_blocks(&self.mlp, self.n, work) {
            Some(blocks) => net.forward_par(t, y, out, blocks),
            None => net.forward(t, y, out, &mut work.batch, false),
        }
    }
}

/// The row-block workspaces when this thread splits `n` rows over threads
/// ([`super::batch::row_threads`] > 1 and the batch large enough), else `None`.
fn row_blocks<'w>(
    mlp: &Mlp,
    n: usize,
    work: &'w mut FieldWork,
) -> Option<&'w mut [BatchWork<f64>]> {
    let threads = super::batch::row_threads();
    let blocks = BatchedMlp::<f64>::blocks(n, threads);
    if blocks < 2 {
        return None;
    }
    if work.blocks.len() < blocks {
        work.blocks.resize_with(blocks, BatchWork::default);
    }
    let per = n.div_ceil(blocks);
    for b in &mut work.blocks[..blocks] {
        b.ensure(mlp, per);
    }
    Some(&mut work.blocks[..blocks])
}

/// `F(Y)` into `f_out`, `vᵀ∂F/∂Y` into `vy` and `vᵀ∂F/∂θ` added to `gtheta` for n stacked
/// samples: one batched VJP, split over row blocks when this thread has row threads.
#[allow(clippy::too_many_arguments)]
fn stacked_vjp(
    mlp: &Mlp,
    n: usize,
    t: f64,
    y: &[f64],
    v: &[f64],
    f_out: &mut [f64],
    vy: &mut [f64],
    gtheta: &mut [f64],
    work: &mut FieldWork,
) {
    let net = mlp.batched();
    match row_blocks(mlp, n, work) {
        Some(blocks) => net.vjp_par(t, y, v, 1.0, f_out, vy, gtheta, blocks),
        None => net.vjp(t, y, v, 1.0, f_out, vy, gtheta, &mut work.batch),
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
        let m = y.len();
        let mut f = std::mem::take(&mut work.f);
        if f.len() < m {
            f.resize(m, 0.0);
        }
        stacked_vjp(&self.mlp, self.n, t, y, v, &mut f[..m], vy, gtheta, work);
        work.f = f;
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
        let m = self.state_dim();
        let t = self.t_ref - s;
        let mut f = std::mem::take(&mut work.f);
        if f.len() < m {
            f.resize(m, 0.0);
        }
        let mut ybuf = std::mem::take(&mut work.y);
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
        stacked_vjp(&self.mlp, self.n, t, y, a, &mut f[..m], da, dg, work);
        if let Some(dy) = dy {
            for (o, v) in dy.iter_mut().zip(&f[..m]) {
                *o = -v;
            }
        }
        work.f = f;
        work.y = ybuf;
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
