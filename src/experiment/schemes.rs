//! The fixed-step schemes of the reversible-solvers experiments on a plain right-hand side,
//! generic over the number type: f64 vectors for convergence sweeps, [`Complex`] scalars for
//! the linear test equation `y' = αy` of the stability regions.
//!
//! The definitions follow `src/grad/reversible.rs` (which runs them on neural fields only):
//! - `alf`: state (X, V), `V_0 = f(t_0, X_0)`; `X_½ = X + h/2 V`, `F = f(t + h/2, X_½)`,
//!   `V' = 2F − V`, `X' = X + hF`.
//! - `reversible-heun`: state (X, Y), `X_0 = Y_0 = y_0`; `Y' = 2X − Y + h f(t, Y)`,
//!   `X' = X + h/2 (f(t, Y) + f(t + h, Y'))`.
//! - λ-reversible around Φ (Euler, midpoint, RK4), state (Y, Z), `Y_0 = Z_0 = y_0`,
//!   `Ψ_h(x) = Φ_h(x) − x`: `Y' = λY + (1 − λ)Z + Ψ_h(t, Z)`, `Z' = Z − Ψ_{−h}(t + h, Y')`
//!   (McCallum & Foster; PAPER-NOTES).
//!
//! The output is the first component of the state (X or Y).

use std::ops::{Add, Mul, Sub};

/// A number the schemes run on.
pub trait Num: Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> {
    fn of(x: f64) -> Self;
}

impl Num for f64 {
    fn of(x: f64) -> Self {
        x
    }
}

/// A complex number (only what the stability computation needs).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Complex {
    pub re: f64,
    pub im: f64,
}

impl Complex {
    pub const fn new(re: f64, im: f64) -> Self {
        Self { re, im }
    }

    pub fn abs(self) -> f64 {
        self.re.hypot(self.im)
    }

    /// The principal square root.
    pub fn sqrt(self) -> Self {
        let r = self.abs();
        let re = ((r + self.re) * 0.5).max(0.0).sqrt();
        let im = ((r - self.re) * 0.5).max(0.0).sqrt();
        Self::new(re, if self.im < 0.0 { -im } else { im })
    }
}

impl Add for Complex {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self::new(self.re + o.re, self.im + o.im)
    }
}

impl Sub for Complex {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        Self::new(self.re - o.re, self.im - o.im)
    }
}

impl Mul for Complex {
    type Output = Self;
    fn mul(self, o: Self) -> Self {
        Self::new(
            self.re * o.re - self.im * o.im,
            self.re * o.im + self.im * o.re,
        )
    }
}

impl Num for Complex {
    fn of(x: f64) -> Self {
        Self::new(x, 0.0)
    }
}

/// The schemes compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Euler,
    Midpoint,
    Rk4,
    ReversibleEuler,
    ReversibleMidpoint,
    ReversibleRk4,
    Alf,
    ReversibleHeun,
}

impl Scheme {
    pub const ALL: [Scheme; 8] = [
        Scheme::Euler,
        Scheme::Midpoint,
        Scheme::Rk4,
        Scheme::ReversibleEuler,
        Scheme::ReversibleMidpoint,
        Scheme::ReversibleRk4,
        Scheme::Alf,
        Scheme::ReversibleHeun,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scheme::Euler => "euler",
            Scheme::Midpoint => "midpoint",
            Scheme::Rk4 => "rk4",
            Scheme::ReversibleEuler => "reversible-euler",
            Scheme::ReversibleMidpoint => "reversible-midpoint",
            Scheme::ReversibleRk4 => "reversible-rk4",
            Scheme::Alf => "alf",
            Scheme::ReversibleHeun => "reversible-heun",
        }
    }

    /// Classical order of convergence (of the base method, for the λ-reversible ones).
    pub fn order(self) -> u32 {
        match self {
            Scheme::Euler | Scheme::ReversibleEuler => 1,
            Scheme::Midpoint
            | Scheme::ReversibleMidpoint
            | Scheme::Alf
            | Scheme::ReversibleHeun => 2,
            Scheme::Rk4 | Scheme::ReversibleRk4 => 4,
        }
    }

    /// The explicit method a λ-reversible scheme is built on, or the scheme itself.
    fn base(self) -> Scheme {
        match self {
            Scheme::ReversibleEuler => Scheme::Euler,
            Scheme::ReversibleMidpoint => Scheme::Midpoint,
            Scheme::ReversibleRk4 => Scheme::Rk4,
            s => s,
        }
    }

    pub fn is_lambda_reversible(self) -> bool {
        matches!(
            self,
            Scheme::ReversibleEuler | Scheme::ReversibleMidpoint | Scheme::ReversibleRk4
        )
    }
}

/// `a + c·b`, elementwise.
fn axpy<T: Num>(a: &[T], c: T, b: &[T]) -> Vec<T> {
    a.iter().zip(b).map(|(&x, &y)| x + c * y).collect()
}

/// One step `Φ_h(t, y)` of an explicit base method (Euler, midpoint, RK4).
pub fn explicit_step<T: Num>(
    base: Scheme,
    f: &dyn Fn(f64, &[T]) -> Vec<T>,
    t: f64,
    h: f64,
    y: &[T],
) -> Vec<T> {
    let ht = T::of(h);
    match base {
        Scheme::Midpoint => {
            let k1 = f(t, y);
            let k2 = f(t + 0.5 * h, &axpy(y, T::of(0.5 * h), &k1));
            axpy(y, ht, &k2)
        }
        Scheme::Rk4 => {
            let k1 = f(t, y);
            let k2 = f(t + 0.5 * h, &axpy(y, T::of(0.5 * h), &k1));
            let k3 = f(t + 0.5 * h, &axpy(y, T::of(0.5 * h), &k2));
            let k4 = f(t + h, &axpy(y, ht, &k3));
            let sixth = T::of(h / 6.0);
            (0..y.len())
                .map(|i| y[i] + sixth * (k1[i] + T::of(2.0) * (k2[i] + k3[i]) + k4[i]))
                .collect()
        }
        _ => axpy(y, ht, &f(t, y)),
    }
}

/// The state of a scheme: `(a, b)` = (X, V), (X, Y) or (Y, Z); `b` is unused by the base
/// methods.
#[derive(Clone, Debug, PartialEq)]
pub struct State<T> {
    pub a: Vec<T>,
    pub b: Vec<T>,
}

/// The initial state of `scheme` from `y0` at `t0`.
pub fn init<T: Num>(
    scheme: Scheme,
    f: &dyn Fn(f64, &[T]) -> Vec<T>,
    t0: f64,
    y0: &[T],
) -> State<T> {
    let b = match scheme {
        Scheme::Alf => f(t0, y0),
        _ => y0.to_vec(),
    };
    State { a: y0.to_vec(), b }
}

/// One step of `scheme` from `t` with step `h` (λ is used by the λ-reversible schemes).
pub fn step<T: Num>(
    scheme: Scheme,
    lambda: f64,
    f: &dyn Fn(f64, &[T]) -> Vec<T>,
    t: f64,
    h: f64,
    s: &State<T>,
) -> State<T> {
    match scheme {
        Scheme::Euler | Scheme::Midpoint | Scheme::Rk4 => State {
            a: explicit_step(scheme, f, t, h, &s.a),
            b: s.b.clone(),
        },
        Scheme::Alf => {
            let half = axpy(&s.a, T::of(0.5 * h), &s.b);
            let force = f(t + 0.5 * h, &half);
            let v: Vec<T> = force
                .iter()
                .zip(&s.b)
                .map(|(&fi, &vi)| T::of(2.0) * fi - vi)
                .collect();
            State {
                a: axpy(&s.a, T::of(h), &force),
                b: v,
            }
        }
        Scheme::ReversibleHeun => {
            let fy = f(t, &s.b);
            let y_new: Vec<T> = (0..s.a.len())
                .map(|i| T::of(2.0) * s.a[i] - s.b[i] + T::of(h) * fy[i])
                .collect();
            let fy_new = f(t + h, &y_new);
            let x_new = (0..s.a.len())
                .map(|i| s.a[i] + T::of(0.5 * h) * (fy[i] + fy_new[i]))
                .collect();
            State { a: x_new, b: y_new }
        }
        Scheme::ReversibleEuler | Scheme::ReversibleMidpoint | Scheme::ReversibleRk4 => {
            let base = scheme.base();
            let (lam, rest) = (T::of(lambda), T::of(1.0 - lambda));
            // Ψ_h(t, Z) = Φ_h(t, Z) − Z
            let phi_z = explicit_step(base, f, t, h, &s.b);
            let y_new: Vec<T> = (0..s.a.len())
                .map(|i| lam * s.a[i] + rest * s.b[i] + (phi_z[i] - s.b[i]))
                .collect();
            // Ψ_{−h}(t + h, Y') = Φ_{−h}(t + h, Y') − Y'
            let phi_y = explicit_step(base, f, t + h, -h, &y_new);
            let z_new = (0..s.a.len())
                .map(|i| s.b[i] - (phi_y[i] - y_new[i]))
                .collect();
            State { a: y_new, b: z_new }
        }
    }
}

/// Integrates `y' = f(t, y)` from `(t0, y0)` over `n` steps of size `h` and returns the output
/// component at the end.
pub fn integrate<T: Num>(
    scheme: Scheme,
    lambda: f64,
    f: &dyn Fn(f64, &[T]) -> Vec<T>,
    t0: f64,
    y0: &[T],
    h: f64,
    n: usize,
) -> Vec<T> {
    let mut s = init(scheme, f, t0, y0);
    for k in 0..n {
        s = step(scheme, lambda, f, t0 + k as f64 * h, h, &s);
    }
    s.a
}

/// The 2×2 step matrix `M(z)` of `scheme` on `y' = αy` with `z = αh` (h = 1, α = z), in the
/// state coordinates (a, b) — for ALF with `b` scaled by h, which does not change the
/// eigenvalues. Built by applying one step to the unit vectors, so it is the matrix of the
/// scheme as implemented above. The base methods' matrix is `diag(R(z), 1)`-like: only
/// `M[0][0] = R(z)` matters for them.
pub fn step_matrix(scheme: Scheme, lambda: f64, z: Complex) -> [[Complex; 2]; 2] {
    let f = move |_t: f64, y: &[Complex]| -> Vec<Complex> { y.iter().map(|&v| z * v).collect() };
    let one = Complex::of(1.0);
    let zero = Complex::of(0.0);
    let col = |a: Complex, b: Complex| {
        let s = step(
            scheme,
            lambda,
            &f,
            0.0,
            1.0,
            &State {
                a: vec![a],
                b: vec![b],
            },
        );
        [s.a[0], s.b[0]]
    };
    let c0 = col(one, zero);
    let c1 = col(zero, one);
    [[c0[0], c1[0]], [c0[1], c1[1]]]
}

/// Spectral radius of a complex 2×2 matrix.
pub fn spectral_radius(m: [[Complex; 2]; 2]) -> f64 {
    let tr = m[0][0] + m[1][1];
    let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    let half = tr * Complex::of(0.5);
    let disc = (half * half - det).sqrt();
    (half + disc).abs().max((half - disc).abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complex_sqrt_squares_back() {
        for (re, im) in [(3.0, 4.0), (-1.0, 0.0), (-2.0, -5.0), (0.0, 1.0)] {
            let z = Complex::new(re, im);
            let r = z.sqrt();
            let back = r * r;
            assert!((back - z).abs() < 1e-12, "{z:?}: {back:?}");
            assert!(r.re >= 0.0);
        }
    }
}
