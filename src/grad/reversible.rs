//! Algebraically reversible fixed-step solvers: exact backprop of their own discrete map with
//! O(1) memory, the forward states being reconstructed backwards step by step
//! (reversible-solvers.md).
//!
//! - `alf`, the asynchronous leapfrog integrator (Zhuang et al., ICLR 2021), state (X, V),
//!   `V_0 = f(t_0, X_0)`: `X_½ = X + h/2 V`, `F = f(t + h/2, X_½)`, `V' = 2F − V`,
//!   `X' = X + hF` (= `X_½ + h/2 V'`; the slides' side-by-side table prints `X_n + ½V_{n+1}h`,
//!   a typo for `X_{n+½} + ½V_{n+1}h`). Reverse: `X_½ = X' − h/2 V'`, `V = 2F − V'`, `X = X' − hF`.
//! - `reversible-heun` (Kidger et al., NeurIPS 2021), state (X, Y), `X_0 = Y_0 = y_0`:
//!   `Y' = 2X − Y + h f(t, Y)`, `X' = X + h/2 (f(t, Y) + f(t + h, Y'))`; one f-evaluation per
//!   step. Reverse: `Y = 2X' − Y' − h f(t + h, Y')`, `X = X' − h/2 (f(t, Y) + f(t + h, Y'))`.
//! - `reversible-rk4` / `reversible-midpoint` (McCallum & Foster), state (Y, Z), `Y_0 = Z_0 =
//!   y_0`, coupling λ ∈ (0, 1], `Ψ_h(x) = Φ_h(x) − x` for the RK4 / midpoint step Φ:
//!   `Y' = λY + (1 − λ)Z + Ψ_h(t, Z)`, `Z' = Z − Ψ_{−h}(t + h, Y')`; reverse:
//!   `Z = Z' + Ψ_{−h}(t + h, Y')`, `Y = λ⁻¹Y' + (1 − λ⁻¹)Z − λ⁻¹Ψ_h(t, Z)` (PAPER-NOTES).
//!
//! The output is X (alf, reversible-heun) or Y (λ-schemes). The backward pass carries the state
//! and its adjoint from T to t0: each step reconstructs its input state and applies the exact
//! VJP of the step map. The reconstruction error |X_0, Y_0 reconstructed − y_0| is reported.
//! [`gradient_stored`] uses stored states instead (the same derivative without
//! reconstruction): the reference for "the exact derivative of its own discrete map".
//!
//! Generic over the group's float type `T` (f64 or f32): states, adjoints and θ̄ in `T`; the
//! step size, λ and the scheme's constants are f64, rounded to `T` once per step.

use super::batch::Group;
use super::field::{Field, FieldWork, GradFloat, stacked_vjp};
use super::forward;
use super::tableau::{self, RkWork, Tableau};
use super::{GradError, GradOptions, GradOutput};
use crate::nn::Real;

/// Which reversible scheme.
#[derive(Clone, Debug, PartialEq)]
pub enum Scheme {
    Alf,
    Heun,
    /// λ-coupling around an explicit method Φ.
    Lambda(Tableau),
}

/// Fixed-step grid: `(t_start, h, n)` per segment, plus the f-evaluations and steps spent to
/// choose it and a note.
struct Grid {
    segments: Vec<(f64, f64, usize)>,
    nfev: u64,
    note: Option<String>,
}

fn grid<T: GradFloat>(g: &Group<'_, T>, opts: &GradOptions) -> Result<Grid, GradError> {
    let span = g.ends[g.n_obs()] - g.ends[0];
    let config = &g.problem.solver;
    let (total, nfev, note) = if let Some(n) = opts.reversible_steps {
        (n.max(1), 0, None)
    } else if config.method.is_adaptive() {
        let (schedule, stats) =
            forward::schedule(std::sync::Arc::new(g.field()), &g.ends, &g.y0, config)?;
        let n = schedule.steps.len().max(1);
        (
            n,
            stats.nfev,
            Some(format!(
                "reversible methods take fixed steps: as many as the {} solve accepted",
                config.method
            )),
        )
    } else {
        let h0 = config.h0.unwrap_or(span / 1000.0);
        (((span / h0) - 1e-9).ceil().max(1.0) as usize, 0, None)
    };
    let segments = g
        .ends
        .windows(2)
        .map(|w| {
            let n = ((total as f64 * (w[1] - w[0]) / span).round() as usize).max(1);
            (w[0], (w[1] - w[0]) / n as f64, n)
        })
        .collect();
    Ok(Grid {
        segments,
        nfev,
        note,
    })
}

/// Scratch of the reversible passes.
struct Work<T> {
    fw: FieldWork<T>,
    rk: RkWork<T>,
    stages_f: Vec<T>,
    stages_b: Vec<T>,
    phi_f: Vec<T>,
    phi_b: Vec<T>,
    /// f at the current point (alf: at X_½; heun: f(t, Y) cache).
    f: Vec<T>,
    v1: Vec<T>,
    v2: Vec<T>,
    nfe: u64,
    nvjp: u64,
}

impl<T: Real> Work<T> {
    fn new(g: &Group<'_, T>, s: usize) -> Self {
        let m = g.dim();
        Self {
            fw: FieldWork::new(&g.mlp),
            rk: RkWork::new(s, m),
            stages_f: vec![T::zero(); s * m],
            stages_b: vec![T::zero(); s * m],
            phi_f: vec![T::zero(); m],
            phi_b: vec![T::zero(); m],
            f: vec![T::zero(); m],
            v1: vec![T::zero(); m],
            v2: vec![T::zero(); m],
            nfe: 0,
            nvjp: 0,
        }
    }

    fn bytes(&self) -> usize {
        (self.stages_f.len()
            + self.stages_b.len()
            + self.phi_f.len()
            + self.phi_b.len()
            + self.f.len()
            + self.v1.len()
            + self.v2.len()
            + self.rk.k.len()
            + self.rk.kbar.len()
            + self.rk.stage.len()
            + self.rk.vy.len())
            * T::BYTES
    }
}

/// Batched VJP of the group field with f: `vy = vᵀ∂F/∂Y`, `f_out = F`, `gθ += vᵀ∂F/∂θ`.
#[allow(clippy::too_many_arguments)]
fn vjp_f<T: Real>(
    g: &Group<'_, T>,
    t: f64,
    y: &[T],
    v: &[T],
    f_out: &mut [T],
    vy: &mut [T],
    gtheta: &mut [T],
    fw: &mut FieldWork<T>,
) {
    stacked_vjp(&g.field(), t, y, v, f_out, vy, gtheta, fw);
}

impl Scheme {
    /// Initial state (A, B) from y0; for Heun also the cache `w.f = f(t0, Y0)`.
    fn init<T: Real>(&self, g: &Group<'_, T>, t0: f64, a: &mut [T], b: &mut [T], w: &mut Work<T>) {
        a.copy_from_slice(&g.y0);
        match self {
            Scheme::Alf => {
                g.field().eval(t0, &g.y0, b, &mut w.fw);
                w.nfe += 1;
            }
            Scheme::Heun => {
                b.copy_from_slice(&g.y0);
                g.field().eval(t0, &g.y0, &mut w.f, &mut w.fw);
                w.nfe += 1;
            }
            Scheme::Lambda(_) => b.copy_from_slice(&g.y0),
        }
    }

    /// One forward step of size h from t, in place on (A, B).
    #[allow(clippy::too_many_arguments)]
    fn forward<T: Real>(
        &self,
        g: &Group<'_, T>,
        lambda: f64,
        t: f64,
        h: f64,
        a: &mut [T],
        b: &mut [T],
        w: &mut Work<T>,
    ) {
        let field = g.field();
        let m = a.len();
        let (ht, hh, two) = (T::of(h), T::of(0.5 * h), T::of(2.0));
        match self {
            Scheme::Alf => {
                for i in 0..m {
                    w.v1[i] = a[i] + hh * b[i];
                }
                field.eval(t + 0.5 * h, &w.v1, &mut w.f, &mut w.fw);
                w.nfe += 1;
                for i in 0..m {
                    b[i] = two * w.f[i] - b[i];
                    a[i] += ht * w.f[i];
                }
            }
            Scheme::Heun => {
                // w.f = f(t, Y) on entry.
                for i in 0..m {
                    b[i] = two * a[i] - b[i] + ht * w.f[i];
                }
                field.eval(t + h, b, &mut w.v1, &mut w.fw);
                w.nfe += 1;
                for i in 0..m {
                    a[i] += hh * (w.f[i] + w.v1[i]);
                }
                w.f.copy_from_slice(&w.v1);
            }
            Scheme::Lambda(tab) => {
                w.nfe += tableau::step(
                    tab,
                    &field,
                    t,
                    h,
                    b,
                    &mut w.phi_f,
                    &mut w.stages_f,
                    &mut w.rk.k,
                    &mut w.fw,
                );
                let (lam, rest) = (T::of(lambda), T::of(1.0 - lambda));
                for i in 0..m {
                    a[i] = lam * a[i] + rest * b[i] + (w.phi_f[i] - b[i]);
                }
                w.nfe += tableau::step(
                    tab,
                    &field,
                    t + h,
                    -h,
                    a,
                    &mut w.phi_b,
                    &mut w.stages_b,
                    &mut w.rk.k,
                    &mut w.fw,
                );
                for i in 0..m {
                    b[i] -= w.phi_b[i] - a[i];
                }
            }
        }
    }

    /// One backward step: (A, B) holds the step's output and becomes its input (reconstructed,
    /// or taken from `stored`); (Ā, B̄) holds the output's adjoint and becomes the input's.
    /// For Heun, `w.f` holds f(t + h, Y') on entry and f(t, Y) on exit.
    #[allow(clippy::too_many_arguments)]
    fn backward<T: Real>(
        &self,
        g: &Group<'_, T>,
        lambda: f64,
        t: f64,
        h: f64,
        a: &mut [T],
        b: &mut [T],
        abar: &mut [T],
        bbar: &mut [T],
        gtheta: &mut [T],
        stored: Option<(&[T], &[T])>,
        w: &mut Work<T>,
    ) {
        match self {
            Scheme::Alf => alf_backward(g, t, h, a, b, abar, bbar, gtheta, stored, w),
            Scheme::Heun => heun_backward(g, t, h, a, b, abar, bbar, gtheta, stored, w),
            Scheme::Lambda(tab) => {
                lambda_backward(g, tab, lambda, t, h, a, b, abar, bbar, gtheta, stored, w)
            }
        }
    }
}

/// ALF backward step (see [`Scheme::backward`]).
#[allow(clippy::too_many_arguments)]
fn alf_backward<T: Real>(
    g: &Group<'_, T>,
    t: f64,
    h: f64,
    a: &mut [T],
    b: &mut [T],
    abar: &mut [T],
    bbar: &mut [T],
    gtheta: &mut [T],
    stored: Option<(&[T], &[T])>,
    w: &mut Work<T>,
) {
    let m = a.len();
    let (ht, hh, two) = (T::of(h), T::of(0.5 * h), T::of(2.0));
    // X_½ and F̄ = h X̄' + 2 V̄'.
    match stored {
        Some((x, v)) => {
            for i in 0..m {
                w.v1[i] = x[i] + hh * v[i];
            }
        }
        None => {
            for i in 0..m {
                w.v1[i] = a[i] - hh * b[i];
            }
        }
    }
    for i in 0..m {
        w.phi_f[i] = ht * abar[i] + two * bbar[i];
    }
    vjp_f(
        g,
        t + 0.5 * h,
        &w.v1,
        &w.phi_f,
        &mut w.f,
        &mut w.v2,
        gtheta,
        &mut w.fw,
    );
    w.nvjp += 1;
    match stored {
        Some((x, v)) => {
            a.copy_from_slice(x);
            b.copy_from_slice(v);
        }
        None => {
            for i in 0..m {
                b[i] = two * w.f[i] - b[i];
                a[i] -= ht * w.f[i];
            }
        }
    }
    for i in 0..m {
        bbar[i] = -bbar[i] + hh * w.v2[i];
        abar[i] += w.v2[i];
    }
}

/// Reversible Heun backward step (see [`Scheme::backward`]).
#[allow(clippy::too_many_arguments)]
fn heun_backward<T: Real>(
    g: &Group<'_, T>,
    t: f64,
    h: f64,
    a: &mut [T],
    b: &mut [T],
    abar: &mut [T],
    bbar: &mut [T],
    gtheta: &mut [T],
    stored: Option<(&[T], &[T])>,
    w: &mut Work<T>,
) {
    let m = a.len();
    let (ht, hh, two) = (T::of(h), T::of(0.5 * h), T::of(2.0));
    // (1) Ȳ'_tot = Ȳ' + J(Y')ᵀ (h/2 X̄').
    for i in 0..m {
        w.phi_f[i] = hh * abar[i];
    }
    vjp_f(
        g,
        t + h,
        b,
        &w.phi_f,
        &mut w.phi_b,
        &mut w.v2,
        gtheta,
        &mut w.fw,
    );
    w.nvjp += 1;
    for i in 0..m {
        bbar[i] += w.v2[i];
    }
    // (2) Y: reconstructed or stored; keep Y' in v1 for X.
    w.v1.copy_from_slice(b);
    match stored {
        Some((_, y)) => b.copy_from_slice(y),
        None => {
            for i in 0..m {
                b[i] = two * a[i] - w.v1[i] - ht * w.f[i];
            }
        }
    }
    // (3) F̄_Y = h Ȳ'_tot + h/2 X̄', VJP at Y (gives f(t, Y) in phi_b).
    for i in 0..m {
        w.phi_f[i] = ht * bbar[i] + hh * abar[i];
    }
    vjp_f(
        g,
        t,
        b,
        &w.phi_f,
        &mut w.phi_b,
        &mut w.v2,
        gtheta,
        &mut w.fw,
    );
    w.nvjp += 1;
    // (4) adjoints.
    for i in 0..m {
        abar[i] += two * bbar[i];
        bbar[i] = -bbar[i] + w.v2[i];
    }
    // (5) X.
    match stored {
        Some((x, _)) => a.copy_from_slice(x),
        None => {
            for i in 0..m {
                a[i] -= hh * (w.phi_b[i] + w.f[i]);
            }
        }
    }
    w.f.copy_from_slice(&w.phi_b);
}

/// λ-reversible backward step (see [`Scheme::backward`]).
#[allow(clippy::too_many_arguments)]
fn lambda_backward<T: Real>(
    g: &Group<'_, T>,
    tab: &Tableau,
    lambda: f64,
    t: f64,
    h: f64,
    a: &mut [T],
    b: &mut [T],
    abar: &mut [T],
    bbar: &mut [T],
    gtheta: &mut [T],
    stored: Option<(&[T], &[T])>,
    w: &mut Work<T>,
) {
    let field = g.field();
    let m = a.len();
    let (lam, rest) = (T::of(lambda), T::of(1.0 - lambda));
    // Stages of Φ_{−h}(t + h, Y').
    w.nfe += tableau::step(
        tab,
        &field,
        t + h,
        -h,
        a,
        &mut w.phi_b,
        &mut w.stages_b,
        &mut w.rk.k,
        &mut w.fw,
    );
    match stored {
        Some((_, z)) => b.copy_from_slice(z),
        None => {
            for i in 0..m {
                b[i] += w.phi_b[i] - a[i];
            }
        }
    }
    w.nfe += tableau::step(
        tab,
        &field,
        t,
        h,
        b,
        &mut w.phi_f,
        &mut w.stages_f,
        &mut w.rk.k,
        &mut w.fw,
    );
    match stored {
        Some((y, _)) => a.copy_from_slice(y),
        None => {
            for i in 0..m {
                a[i] = (a[i] - rest * b[i] - (w.phi_f[i] - b[i])) / lam;
            }
        }
    }
    // Z' = Z − Ψ_{−h}(Y'): Ȳ'_tot = Ȳ' + Z̄' + Φ_{−h}ᵀ(−Z̄').
    for i in 0..m {
        w.v1[i] = -bbar[i];
    }
    w.nvjp += tableau::step_vjp(
        tab,
        &field,
        t + h,
        -h,
        &w.stages_b,
        &mut w.v1,
        gtheta,
        &mut w.rk.kbar,
        &mut w.rk.vy,
        &mut w.fw,
    );
    for i in 0..m {
        abar[i] += bbar[i] + w.v1[i];
    }
    // Y' = λY + (1 − λ)Z + Φ_h(Z) − Z: Z̄ = Z̄' − λȲ'_tot + Φ_hᵀ(Ȳ'_tot), Ȳ = λȲ'_tot.
    w.v2.copy_from_slice(abar);
    w.nvjp += tableau::step_vjp(
        tab,
        &field,
        t,
        h,
        &w.stages_f,
        &mut w.v2,
        gtheta,
        &mut w.rk.kbar,
        &mut w.rk.vy,
        &mut w.fw,
    );
    for i in 0..m {
        bbar[i] += -lam * abar[i] + w.v2[i];
        abar[i] *= lam;
    }
}

/// A reversible method on one group (states reconstructed backwards).
pub fn gradient<T: GradFloat>(
    g: &Group<'_, T>,
    scheme: Scheme,
    opts: &GradOptions,
) -> Result<GradOutput, GradError> {
    run(g, &scheme, opts, false)
}

/// The same derivative with every forward state stored instead of reconstructed.
pub fn gradient_stored<T: GradFloat>(
    g: &Group<'_, T>,
    scheme: Scheme,
    opts: &GradOptions,
) -> Result<GradOutput, GradError> {
    run(g, &scheme, opts, true)
}

fn run<T: GradFloat>(
    g: &Group<'_, T>,
    scheme: &Scheme,
    opts: &GradOptions,
    store: bool,
) -> Result<GradOutput, GradError> {
    let grid = grid(g, opts)?;
    let m = g.dim();
    let lambda = opts.lambda;
    let s = match scheme {
        Scheme::Lambda(tab) => tab.stages(),
        _ => 1,
    };
    let mut w = Work::new(g, s);
    let mut out = g.empty_output();
    let (mut a, mut b) = (vec![T::zero(); m], vec![T::zero(); m]);
    let t0 = g.ends[0];
    scheme.init(g, t0, &mut a, &mut b, &mut w);
    let mut obs_grads = vec![T::zero(); g.n_obs() * m];
    let mut gtheta = vec![T::zero(); g.n_params()];
    let mut states: Vec<T> = Vec::new();
    let mut steps = 0;
    for (k, &(ts, h, n)) in grid.segments.iter().enumerate() {
        for i in 0..n {
            if store {
                states.extend_from_slice(&a);
                states.extend_from_slice(&b);
            }
            scheme.forward(g, lambda, ts + i as f64 * h, h, &mut a, &mut b, &mut w);
            steps += 1;
        }
        out.loss += g.loss_at(
            k,
            &a,
            &mut obs_grads[k * m..(k + 1) * m],
            out.readout_grad.as_deref_mut(),
        );
    }
    if a.iter().chain(&b).any(|v| !v.is_finite()) {
        return Err(GradError::Solve(
            "the reversible solve blew up (non-finite state); try more steps".into(),
        ));
    }
    let nfe_forward = w.nfe + grid.nfev;
    w.nfe = 0;
    let (mut abar, mut bbar) = (vec![T::zero(); m], vec![T::zero(); m]);
    let mut index = steps;
    for (k, &(ts, h, n)) in grid.segments.iter().enumerate().rev() {
        for (x, &gl) in abar.iter_mut().zip(&obs_grads[k * m..(k + 1) * m]) {
            *x += gl;
        }
        for i in (0..n).rev() {
            index -= 1;
            let stored = store.then(|| {
                let base = index * 2 * m;
                (&states[base..base + m], &states[base + m..base + 2 * m])
            });
            scheme.backward(
                g,
                lambda,
                ts + i as f64 * h,
                h,
                &mut a,
                &mut b,
                &mut abar,
                &mut bbar,
                &mut gtheta,
                stored,
                &mut w,
            );
        }
    }
    if matches!(scheme, Scheme::Alf) {
        // V_0 = f(t0, X_0): θ̄ += V̄_0ᵀ ∂f/∂θ(X_0).
        vjp_f(
            g,
            t0,
            &g.y0,
            &bbar,
            &mut w.f,
            &mut w.v2,
            &mut gtheta,
            &mut w.fw,
        );
        w.nvjp += 1;
    }
    super::backprop::widen_into(&gtheta, &mut out.grad);
    let mut recon = a
        .iter()
        .zip(&g.y0)
        .map(|(&x, &y)| (x - y).to_f64().abs())
        .fold(0.0, f64::max);
    if !matches!(scheme, Scheme::Alf) {
        recon = b
            .iter()
            .zip(&g.y0)
            .map(|(&x, &y)| (x - y).to_f64().abs())
            .fold(recon, f64::max);
    }
    out.nfe_forward = nfe_forward;
    out.nfe_backward = w.nfe + w.nvjp;
    out.steps_accepted = steps;
    out.stored_bytes = (a.len() + b.len() + abar.len() + bbar.len() + obs_grads.len()) * T::BYTES
        + w.bytes()
        + states.len() * T::BYTES;
    out.reconstruction_error = Some(recon);
    if let Some(note) = grid.note {
        out.warnings.push(note);
    }
    Ok(out)
}
