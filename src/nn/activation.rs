//! Hidden-layer nonlinearities σ, their first and second derivatives, in any float type
//! ([`Real`]: f64 or f32). The one definition used by the per-sample [`super::Mlp`] and the
//! batched [`super::BatchedMlp`] paths (tanh through the fast vector tanh, [`super::tanh`]).

use serde::{Deserialize, Serialize};

use super::real::Real;

/// Hidden-layer nonlinearity σ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Tanh,
    Softplus,
    Relu,
    Sigmoid,
    Identity,
}

impl Activation {
    pub const ALL: [Activation; 5] = [
        Activation::Tanh,
        Activation::Softplus,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Identity,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Activation::Tanh => "tanh",
            Activation::Softplus => "softplus",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Identity => "identity",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// σ(x): tanh by the fast tanh ([`Real::tanh_scalar`]), softplus as
    /// `max(x, 0) + log1p(e^{−|x|})` (no overflow), sigmoid `1/(1 + e^{−x})`.
    #[inline]
    pub fn apply<T: Real>(self, x: T) -> T {
        let one = T::one();
        match self {
            Activation::Tanh => T::tanh_scalar(x),
            Activation::Softplus => x.max(T::zero()) + (-x.abs()).exp().ln_1p(),
            Activation::Relu => x.max(T::zero()),
            Activation::Sigmoid => one / (one + (-x).exp()),
            Activation::Identity => x,
        }
    }

    /// σ applied in place to every element of `z` (vectorised for tanh).
    #[inline]
    pub fn apply_slice<T: Real>(self, z: &mut [T]) {
        match self {
            Activation::Tanh => T::tanh_in_place(z),
            _ => {
                for v in z.iter_mut() {
                    *v = self.apply(*v);
                }
            }
        }
    }

    /// σ'(x) expressed through `x` and `s = σ(x)` (whichever is cheaper).
    #[inline]
    pub fn derivative<T: Real>(self, x: T, s: T) -> T {
        let one = T::one();
        match self {
            Activation::Tanh => one - s * s,
            Activation::Softplus => one / (one + (-x).exp()),
            Activation::Relu => {
                if x > T::zero() {
                    one
                } else {
                    T::zero()
                }
            }
            Activation::Sigmoid => s * (one - s),
            Activation::Identity => one,
        }
    }

    /// `z ← σ'(z)` given `s = σ(z)`, elementwise (the activation matched once, outside the
    /// loop, so that the loop vectorises).
    pub fn derivative_slice<T: Real>(self, z: &mut [T], s: &[T]) {
        let one = T::one();
        match self {
            Activation::Tanh => {
                for (zv, &sv) in z.iter_mut().zip(s) {
                    *zv = one - sv * sv;
                }
            }
            Activation::Sigmoid => {
                for (zv, &sv) in z.iter_mut().zip(s) {
                    *zv = sv * (one - sv);
                }
            }
            Activation::Identity => z.fill(one),
            _ => {
                for (zv, &sv) in z.iter_mut().zip(s) {
                    *zv = self.derivative(*zv, sv);
                }
            }
        }
    }

    /// σ''(x) expressed through `x` and `s = σ(x)`.
    #[inline]
    pub fn second_derivative<T: Real>(self, x: T, s: T) -> T {
        let (one, two) = (T::one(), T::one() + T::one());
        match self {
            Activation::Tanh => -two * s * (one - s * s),
            Activation::Softplus => {
                let g = one / (one + (-x).exp());
                g * (one - g)
            }
            Activation::Relu | Activation::Identity => T::zero(),
            Activation::Sigmoid => s * (one - s) * (one - two * s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_derivatives_match_finite_differences() {
        for act in Activation::ALL {
            for &x in &[-2.3f64, -0.4, 0.7, 1.9] {
                let h = 1e-6;
                let d = (act.apply(x + h) - act.apply(x - h)) / (2.0 * h);
                assert!(
                    (d - act.derivative(x, act.apply(x))).abs() < 1e-8,
                    "{act:?}"
                );
                let dd = (act.derivative(x + h, act.apply(x + h))
                    - act.derivative(x - h, act.apply(x - h)))
                    / (2.0 * h);
                assert!(
                    (dd - act.second_derivative(x, act.apply(x))).abs() < 1e-6,
                    "{act:?}"
                );
            }
        }
    }
}
