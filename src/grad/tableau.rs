//! Explicit Runge–Kutta tableaus as data, one step with its stages recorded, and the exact
//! reverse sweep through that step (the discrete adjoint).
//!
//! A step `y' = y + h Σ_i b_i K_i`, `K_i = F(t + c_i h, Y_i)`, `Y_i = y + h Σ_{j<i} a_ij K_j`.
//! Its reverse sweep, given `ȳ'`: `K̄_i = h b_i ȳ'`, `ȳ = ȳ'`, then for `i = s…1`:
//! `Ȳ_i = K̄_iᵀ ∂F/∂Y(Y_i)` (θ̄ += `K̄_iᵀ ∂F/∂θ(Y_i)`), `ȳ += Ȳ_i`, `K̄_j += h a_ij Ȳ_i` (j < i).
//! The step size is a constant of the map. States, stages and adjoints are in the float type
//! `T` (f64 or f32); the products `h·a_ij`, `h·b_i` are formed in f64 and rounded to `T`.

use super::field::{Field, FieldVjp, FieldWork};
use crate::nn::Real;
use crate::solver::{Method, dopri5};

/// Butcher tableau of an explicit method.
#[derive(Clone, Debug, PartialEq)]
pub struct Tableau {
    pub name: &'static str,
    pub c: Vec<f64>,
    /// Strictly lower triangular: `a[i]` has `i` entries.
    pub a: Vec<Vec<f64>>,
    pub b: Vec<f64>,
}

impl Tableau {
    pub fn euler() -> Self {
        Self {
            name: "euler",
            c: vec![0.0],
            a: vec![vec![]],
            b: vec![1.0],
        }
    }

    /// Explicit midpoint `y + h F(t + h/2, y + h/2 F(t, y))`.
    pub fn midpoint() -> Self {
        Self {
            name: "midpoint",
            c: vec![0.0, 0.5],
            a: vec![vec![], vec![0.5]],
            b: vec![0.0, 1.0],
        }
    }

    /// Classical RK4 (paper eqs. 10–11).
    pub fn rk4() -> Self {
        Self {
            name: "rk4",
            c: vec![0.0, 0.5, 0.5, 1.0],
            a: vec![vec![], vec![0.5], vec![0.0, 0.5], vec![0.0, 0.0, 1.0]],
            b: vec![1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0],
        }
    }

    /// Dormand–Prince 5(4): the six stages of the propagated 5th-order solution (the FSAL
    /// seventh stage has weight 0), from [`crate::solver::dopri5`]'s tableau.
    pub fn dopri5() -> Self {
        let a = (0..6).map(|i| dopri5::TABLEAU_A[i][..i].to_vec()).collect();
        Self {
            name: "dopri5",
            c: dopri5::TABLEAU_C[..6].to_vec(),
            a,
            b: dopri5::WEIGHTS_B.to_vec(),
        }
    }

    /// The tableau a solver propagates with, and how many equal sub-steps one accepted step is:
    /// zc-rk4, zc-rk4-paper and rk4 propagate classical RK4 (their estimators only look at the
    /// stages); rk4-doubling propagates two RK4 half steps; dopri5 its 5th-order solution.
    pub fn for_method(method: Method) -> (Self, usize) {
        match method {
            Method::ZcRk4 | Method::ZcRk4Paper | Method::Rk4 => (Self::rk4(), 1),
            Method::Rk4Doubling => (Self::rk4(), 2),
            Method::Dopri5 => (Self::dopri5(), 1),
            Method::Midpoint => (Self::midpoint(), 1),
            Method::Euler => (Self::euler(), 1),
        }
    }

    pub fn stages(&self) -> usize {
        self.b.len()
    }
}

/// Scratch for stepping a field of dimension m with a tableau of s stages.
#[derive(Clone, Debug)]
pub struct RkWork<T = f64> {
    pub k: Vec<T>,
    pub kbar: Vec<T>,
    pub stage: Vec<T>,
    pub vy: Vec<T>,
}

impl<T: Real> RkWork<T> {
    pub fn new(s: usize, m: usize) -> Self {
        Self {
            k: vec![T::zero(); s * m],
            kbar: vec![T::zero(); s * m],
            stage: vec![T::zero(); s * m],
            vy: vec![T::zero(); m],
        }
    }
}

/// One step from `(t, y)` of size `h` into `y_out`; stage inputs `Y_i` into `stages` (`s·m`).
/// Returns the f-evaluations spent (s).
#[allow(clippy::too_many_arguments)]
pub fn step<T: Real, F: Field<T> + ?Sized>(
    tab: &Tableau,
    field: &F,
    t: f64,
    h: f64,
    y: &[T],
    y_out: &mut [T],
    stages: &mut [T],
    k: &mut [T],
    work: &mut FieldWork<T>,
) -> u64 {
    let m = y.len();
    let s = tab.stages();
    for i in 0..s {
        let (done, rest) = k.split_at_mut(i * m);
        let yi = &mut stages[i * m..(i + 1) * m];
        yi.copy_from_slice(y);
        for (j, &aij) in tab.a[i].iter().enumerate() {
            if aij != 0.0 {
                let kj = &done[j * m..(j + 1) * m];
                let ha = T::of(h * aij);
                for (o, &kv) in yi.iter_mut().zip(kj) {
                    *o += ha * kv;
                }
            }
        }
        field.eval(t + tab.c[i] * h, yi, &mut rest[..m], work);
    }
    y_out.copy_from_slice(y);
    for i in 0..s {
        if tab.b[i] != 0.0 {
            let hb = T::of(h * tab.b[i]);
            for (o, &kv) in y_out.iter_mut().zip(&k[i * m..(i + 1) * m]) {
                *o += hb * kv;
            }
        }
    }
    s as u64
}

/// Reverse sweep through one step whose stage inputs are `stages`: on entry `ybar` is the
/// adjoint of the step's output, on exit that of its input; `gtheta` accumulates θ̄.
/// Returns the VJPs spent (s).
#[allow(clippy::too_many_arguments)]
pub fn step_vjp<T: Real, F: FieldVjp<T> + ?Sized>(
    tab: &Tableau,
    field: &F,
    t: f64,
    h: f64,
    stages: &[T],
    ybar: &mut [T],
    gtheta: &mut [T],
    kbar: &mut [T],
    vy: &mut [T],
    work: &mut FieldWork<T>,
) -> u64 {
    let m = ybar.len();
    step_vjp_with(tab, h, ybar, kbar, vy, |i, kbar_i, vy| {
        field.vjp(
            t + tab.c[i] * h,
            &stages[i * m..(i + 1) * m],
            kbar_i,
            vy,
            gtheta,
            work,
        );
    })
}

/// The reverse sweep of [`step_vjp`] with the stage VJPs left to `stage_vjp(i, K̄_i, Ȳ_i)`
/// (which writes `Ȳ_i = K̄_iᵀ ∂F/∂Y(Y_i)` and accumulates θ̄ itself). Returns s.
pub fn step_vjp_with<T: Real>(
    tab: &Tableau,
    h: f64,
    ybar: &mut [T],
    kbar: &mut [T],
    vy: &mut [T],
    mut stage_vjp: impl FnMut(usize, &[T], &mut [T]),
) -> u64 {
    let m = ybar.len();
    let s = tab.stages();
    for i in 0..s {
        let hb = T::of(h * tab.b[i]);
        for (o, &v) in kbar[i * m..(i + 1) * m].iter_mut().zip(ybar.iter()) {
            *o = hb * v;
        }
    }
    for i in (0..s).rev() {
        stage_vjp(i, &kbar[i * m..(i + 1) * m], vy);
        for (o, &v) in ybar.iter_mut().zip(vy.iter()) {
            *o += v;
        }
        for (j, &aij) in tab.a[i].iter().enumerate() {
            if aij != 0.0 {
                let ha = T::of(h * aij);
                for (o, &v) in kbar[j * m..(j + 1) * m].iter_mut().zip(vy.iter()) {
                    *o += ha * v;
                }
            }
        }
    }
    s as u64
}
