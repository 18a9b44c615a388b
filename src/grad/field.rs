//! Vector fields on the stacked state of a group of samples, and the augmented systems of the
//! sensitivity and adjoint methods.
//!
//! A group of n samples of dimension d is one state `Y = [y_1 | … | y_n]` of dimension m = n·d
//! with `F(t, Y)_b = MLP(t, y_b)`. The same types implement [`Field`] (explicit stepping with
//! caller scratch, used to replay steps) and [`Rhs`] (integration by the solvers of
//! [`crate::solver`], with thread-local scratch).
//!
//! Precision: the stacked fields are generic over the float type `T` ([`GradFloat`]: f64, the
//! reference, or f32): states, stages, activations, VJPs and θ-gradients are `T`; time stays
//! f64 (rounded to `T` where it enters the network). The per-sample Jacobians of
//! [`SensitivityField`] are f64 only.

use std::cell::RefCell;
use std::sync::Arc;
use std::thread::LocalKey;

use super::chebyshev::ChebInterp;
use crate::nn::trace::{CnfNet, TraceWork};
use crate::nn::{BatchWork, BatchedMlp, Mlp, MlpWork, Real};
use crate::solver::{Rhs, Scalar};

/// A float type the gradient methods run in: f64 (the reference) or f32. Holds the
/// per-thread scratch of each type.
pub trait GradFloat: Scalar {
    /// This thread's field scratch in this type.
    fn field_work() -> &'static LocalKey<RefCell<FieldWork<Self>>>;
    /// This thread's spare tape buffer ([`super::tape`]).
    fn spare_tape() -> &'static LocalKey<RefCell<Vec<Self>>>;
}

thread_local! {
    static WORK_F64: RefCell<FieldWork<f64>> = RefCell::new(FieldWork::default());
    static WORK_F32: RefCell<FieldWork<f32>> = RefCell::new(FieldWork::default());
    static SPARE_F64: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
    static SPARE_F32: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

impl GradFloat for f64 {
    fn field_work() -> &'static LocalKey<RefCell<FieldWork<f64>>> {
        &WORK_F64
    }
    fn spare_tape() -> &'static LocalKey<RefCell<Vec<f64>>> {
        &SPARE_F64
    }
}

impl GradFloat for f32 {
    fn field_work() -> &'static LocalKey<RefCell<FieldWork<f32>>> {
        &WORK_F32
    }
    fn spare_tape() -> &'static LocalKey<RefCell<Vec<f32>>> {
        &SPARE_F32
    }
}

/// Scratch for one field evaluation: per-sample buffers (f64), and the batched workspaces
/// ([`BatchWork`]: one for the whole group, one per row block when the batch is split over
/// threads) in the field's float type `T`. Allocated once per solve or per thread and reused:
/// evaluations do not allocate once the buffers fit the group.
#[derive(Clone, Debug, Default)]
pub struct FieldWork<T = f64> {
    pub mlp: MlpWork,
    /// Batched workspace for the whole group on this thread.
    pub batch: BatchWork<T>,
    /// Batched workspaces of the row blocks (see [`super::row_threads::row_threads`]).
    pub blocks: Vec<BatchWork<T>>,
    /// Workspace of the density (CNF) field ([`FieldKind::Density`]).
    pub trace: TraceWork<T>,
    f: Vec<T>,
    jy: Vec<f64>,
    jtheta: Vec<f64>,
    y: Vec<T>,
    y64: Vec<f64>,
    scratch: Vec<f64>,
}

impl<T: Real> FieldWork<T> {
    pub fn new(mlp: &Mlp) -> Self {
        let mut w = Self::default();
        w.ensure(mlp);
        w
    }

    pub fn ensure(&mut self, mlp: &Mlp) {
        self.mlp.ensure(mlp);
        let (d, p) = (mlp.dim(), mlp.n_params());
        if self.f.len() < d {
            self.f.resize(d, T::zero());
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

/// Runs `f` with this thread's scratch in `T` sized for `mlp`.
fn with_work<T: GradFloat, R>(mlp: &Mlp, f: impl FnOnce(&mut FieldWork<T>) -> R) -> R {
    T::field_work().with(|cell| {
        let mut w = cell.borrow_mut();
        w.ensure(mlp);
        f(&mut w)
    })
}

/// A right-hand side evaluated with caller scratch, over states of float type `T`.
pub trait Field<T = f64> {
    fn dim(&self) -> usize;
    fn eval(&self, t: f64, y: &[T], out: &mut [T], work: &mut FieldWork<T>);
}

/// A field with a vector-Jacobian product.
pub trait FieldVjp<T = f64>: Field<T> {
    /// `vy = vᵀ ∂F/∂Y` (overwritten) and `gtheta += vᵀ ∂F/∂θ`.
    fn vjp(
        &self,
        t: f64,
        y: &[T],
        v: &[T],
        vy: &mut [T],
        gtheta: &mut [T],
        work: &mut FieldWork<T>,
    );
}

/// What the state of one sample is and what the network's field makes of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// The state is `y` (d values), `y' = MLP(t, y)`.
    #[default]
    Plain,
    /// A continuous normalising flow: the state is `[z, ℓ]` (d + 1 values),
    /// `[z, ℓ]' = [MLP(t, z), tr ∂MLP/∂z (t, z)]` ([`crate::nn::trace`]), so that `ℓ(t1)` is the
    /// log-determinant of the flow map when `ℓ(0) = 0`.
    Density,
}

impl FieldKind {
    /// Values per sample for a network with d outputs.
    pub fn state_dim(self, d: usize) -> usize {
        match self {
            FieldKind::Plain => d,
            FieldKind::Density => d + 1,
        }
    }
}

/// `F(t, Y)_b = MLP(t, y_b)` for n stacked samples (or, for [`FieldKind::Density`], the CNF's
/// augmented field of each sample), with θ in `T` (`params`, rounded once).
#[derive(Clone, Debug)]
pub struct StackedMlp<T = f64> {
    pub mlp: Arc<Mlp>,
    /// θ in `T` (the network's parameters, rounded).
    pub params: Arc<[T]>,
    pub n: usize,
    pub kind: FieldKind,
}

impl<T: Real> StackedMlp<T> {
    /// The field of `n` stacked samples of `mlp`, θ rounded to `T`.
    pub fn new(mlp: Arc<Mlp>, n: usize) -> Self {
        let params = mlp.params_as::<T>().into();
        Self {
            mlp,
            params,
            n,
            kind: FieldKind::Plain,
        }
    }

    /// The same field with the state of `kind`.
    pub fn with_kind(mut self, kind: FieldKind) -> Self {
        self.kind = kind;
        self
    }

    /// Values per sample.
    pub fn sample_dim(&self) -> usize {
        self.kind.state_dim(self.mlp.dim())
    }

    /// The batched network in `T`.
    pub fn net(&self) -> BatchedMlp<'_, T> {
        BatchedMlp::new(&self.mlp, &self.params)
    }
}

impl<T: Real> Field<T> for StackedMlp<T> {
    fn dim(&self) -> usize {
        self.n * self.sample_dim()
    }

    fn eval(&self, t: f64, y: &[T], out: &mut [T], work: &mut FieldWork<T>) {
        if self.kind == FieldKind::Density {
            CnfNet::new(&self.mlp, &self.params).forward(T::of(t), y, out, &mut work.trace);
            return;
        }
        let net = self.net();
        match row_blocks(&self.mlp, self.n, work) {
            Some(blocks) => net.forward_par(T::of(t), y, out, blocks),
            None => net.forward(T::of(t), y, out, &mut work.batch, false),
        }
    }
}

/// The row-block workspaces when this thread splits `n` rows over threads
/// ([`super::row_threads::row_threads`] > 1 and the batch large enough), else `None`.
fn row_blocks<'w, T: Real>(
    mlp: &Mlp,
    n: usize,
    work: &'w mut FieldWork<T>,
) -> Option<&'w mut [BatchWork<T>]> {
    let threads = super::row_threads::row_threads();
    let blocks = BatchedMlp::<T>::blocks(n, threads);
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
pub(crate) fn stacked_vjp<T: Real>(
    field: &StackedMlp<T>,
    t: f64,
    y: &[T],
    v: &[T],
    f_out: &mut [T],
    vy: &mut [T],
    gtheta: &mut [T],
    work: &mut FieldWork<T>,
) {
    if field.kind == FieldKind::Density {
        let mut discard = Vec::new();
        let gtheta = if gtheta.is_empty() {
            discard.resize(field.params.len(), T::zero());
            &mut discard[..]
        } else {
            gtheta
        };
        CnfNet::new(&field.mlp, &field.params).vjp(
            T::of(t),
            y,
            v,
            f_out,
            vy,
            gtheta,
            &mut work.trace,
        );
        return;
    }
    let net = field.net();
    let (t, one) = (T::of(t), T::one());
    match row_blocks(&field.mlp, field.n, work) {
        Some(blocks) => net.vjp_par(t, y, v, one, f_out, vy, gtheta, blocks),
        None => net.vjp(t, y, v, one, f_out, vy, gtheta, &mut work.batch),
    }
}

impl<T: Real> FieldVjp<T> for StackedMlp<T> {
    fn vjp(
        &self,
        t: f64,
        y: &[T],
        v: &[T],
        vy: &mut [T],
        gtheta: &mut [T],
        work: &mut FieldWork<T>,
    ) {
        let m = y.len();
        let mut f = std::mem::take(&mut work.f);
        if f.len() < m {
            f.resize(m, T::zero());
        }
        stacked_vjp(self, t, y, v, &mut f[..m], vy, gtheta, work);
        work.f = f;
    }
}

impl<T: GradFloat> Rhs<T> for StackedMlp<T> {
    fn dim(&self) -> usize {
        Field::dim(self)
    }

    fn rhs(&self, t: f64, y: &[T], dydt: &mut [T]) {
        with_work(&self.mlp, |w| self.eval(t, y, dydt, w));
    }
}

/// Forward sensitivities: `u = [Y | S]`, `S = dY/dθ` (row `b·d + i` of length P),
/// `Y' = F(t, Y)`, `S_b' = ∂f/∂y(y_b) S_b + ∂f/∂θ(y_b)` (adjoint-sensitivity.md eq. 21).
/// For [`FieldKind::Density`] the per-sample Jacobians are those of the augmented field
/// `[f, tr ∂f/∂z]`, row by row from d + 1 VJPs with unit vectors ([`CnfNet::vjp`]).
#[derive(Clone, Debug)]
pub struct SensitivityField {
    pub mlp: Arc<Mlp>,
    pub n: usize,
    pub kind: FieldKind,
}

impl SensitivityField {
    /// The density field's `[Y' | S']`: per sample, rows i of `∂F/∂y` and `∂F/∂θ` from the VJP
    /// with `e_i`, then `S_b' = ∂F/∂y S_b + ∂F/∂θ`.
    fn eval_density(&self, t: f64, u: &[f64], out: &mut [f64], work: &mut FieldWork) {
        let p = self.mlp.n_params();
        let c = self.mlp.dim() + 1;
        let m = self.n * c;
        let (y, s) = u.split_at(m);
        let (dy, ds) = out.split_at_mut(m);
        let net = CnfNet::new(&self.mlp, &self.mlp.params);
        if work.jy.len() < c * c {
            work.jy.resize(c * c, 0.0);
        }
        if work.jtheta.len() < c * p {
            work.jtheta.resize(c * p, 0.0);
        }
        let FieldWork {
            jy, jtheta, trace, ..
        } = work;
        let (mut e, mut f) = (vec![0.0; c], vec![0.0; c]);
        for b in 0..self.n {
            let yb = &y[b * c..(b + 1) * c];
            jtheta[..c * p].fill(0.0);
            for i in 0..c {
                e.fill(0.0);
                e[i] = 1.0;
                net.vjp(
                    t,
                    yb,
                    &e,
                    &mut f,
                    &mut jy[i * c..(i + 1) * c],
                    &mut jtheta[i * p..(i + 1) * p],
                    trace,
                );
            }
            dy[b * c..(b + 1) * c].copy_from_slice(&f);
            let sb = &s[b * c * p..(b + 1) * c * p];
            let dsb = &mut ds[b * c * p..(b + 1) * c * p];
            for i in 0..c {
                let row = &mut dsb[i * p..(i + 1) * p];
                row.copy_from_slice(&jtheta[i * p..(i + 1) * p]);
                for j in 0..c {
                    let a = jy[i * c + j];
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

impl Field for SensitivityField {
    fn dim(&self) -> usize {
        self.n * self.kind.state_dim(self.mlp.dim()) * (1 + self.mlp.n_params())
    }

    fn eval(&self, t: f64, u: &[f64], out: &mut [f64], work: &mut FieldWork) {
        if self.kind == FieldKind::Density {
            self.eval_density(t, u, out, work);
            return;
        }
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

impl Rhs<f64> for SensitivityField {
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
type AdjointParts<'a, T> = (
    &'a [T],
    &'a [T],
    Option<&'a mut [T]>,
    &'a mut [T],
    &'a mut [T],
);

/// The adjoint system in reversed time `s = t_ref − t` (so the solvers integrate forwards):
/// `dY/ds = −F(t, Y)`, `da/ds = aᵀ ∂F/∂Y`, `dg/ds = aᵀ ∂F/∂θ` (irdm eqs. 3, 5, 6; adjoint-
/// sensitivity.md Algorithm 1, with the sign of time flipped). After integrating to
/// `s = t_ref − t0`, `a = ∂L/∂Y(t0)` and `g = dL/dθ` (contributions of this segment).
/// Generic over the float type `T` of `[Y | a | g]` (the Chebyshev grid is f64; its values are
/// rounded to `T`).
#[derive(Clone, Debug)]
pub struct AdjointField<T = f64> {
    /// The forward field (network and θ in `T`).
    pub field: StackedMlp<T>,
    pub t_ref: f64,
    pub source: StateSource,
}

impl<T: Real> AdjointField<T> {
    pub fn state_dim(&self) -> usize {
        self.field.n * self.field.sample_dim()
    }
}

impl<T: Real> Field<T> for AdjointField<T> {
    fn dim(&self) -> usize {
        let m = self.state_dim();
        let extra = match self.source {
            StateSource::Backsolve => m,
            StateSource::Interpolated(_) => 0,
        };
        extra + m + self.field.mlp.n_params()
    }

    fn eval(&self, s: f64, u: &[T], out: &mut [T], work: &mut FieldWork<T>) {
        self.eval_parts(s, u, out, work, true);
    }
}

impl<T: Real> AdjointField<T> {
    /// The field; with `want_theta` false the θ-part `dg/ds` is left zero (it is a
    /// quadrature: no component's derivative reads g), which saves the θ outer products.
    fn eval_parts(
        &self,
        s: f64,
        u: &[T],
        out: &mut [T],
        work: &mut FieldWork<T>,
        want_theta: bool,
    ) {
        let m = self.state_dim();
        let t = self.t_ref - s;
        let mut f = std::mem::take(&mut work.f);
        if f.len() < m {
            f.resize(m, T::zero());
        }
        let mut ybuf = std::mem::take(&mut work.y);
        let (y, a, dy, da, dg): AdjointParts<'_, T> = match &self.source {
            StateSource::Backsolve => {
                let (y, rest) = u.split_at(m);
                let (dy, rest_out) = out.split_at_mut(m);
                let (da, dg) = rest_out.split_at_mut(m);
                (y, &rest[..m], Some(dy), da, dg)
            }
            StateSource::Interpolated(interp) => {
                if ybuf.len() < m {
                    ybuf.resize(m, T::zero());
                }
                if work.y64.len() < m {
                    work.y64.resize(m, 0.0);
                }
                interp.eval_into(t, &mut work.y64[..m]);
                for (o, &v) in ybuf[..m].iter_mut().zip(&work.y64[..m]) {
                    *o = T::of(v);
                }
                let (da, dg) = out.split_at_mut(m);
                (&ybuf[..m], &u[..m], None, da, dg)
            }
        };
        dg.fill(T::zero());
        let dg = if want_theta { dg } else { &mut [][..] };
        stacked_vjp(&self.field, t, y, a, &mut f[..m], da, dg, work);
        if let Some(dy) = dy {
            for (o, &v) in dy.iter_mut().zip(&f[..m]) {
                *o = -v;
            }
        }
        work.f = f;
        work.y = ybuf;
    }
}

impl<T: GradFloat> Rhs<T> for AdjointField<T> {
    fn dim(&self) -> usize {
        Field::dim(self)
    }

    fn rhs(&self, t: f64, y: &[T], dydt: &mut [T]) {
        with_work(&self.field.mlp, |w| self.eval(t, y, dydt, w));
    }

    /// g (the trailing P components) is the quadrature: left zero.
    fn rhs_skipping_quadrature(&self, t: f64, y: &[T], dydt: &mut [T]) {
        with_work(&self.field.mlp, |w| self.eval_parts(t, y, dydt, w, false));
    }
}
