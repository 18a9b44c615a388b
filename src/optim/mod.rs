//! Optimisers on a flat parameter vector θ with gradient g (PyTorch's conventions, weight decay
//! λ added to the gradient):
//!
//! - **SGD with momentum** μ: `g ← g + λθ`, `b ← μ b + g` (`b = g` at the first step),
//!   `θ ← θ − lr·b`;
//! - **RMSprop** with decay α: `g ← g + λθ`, `v ← α v + (1 − α) g²`, `θ ← θ − lr·g/(√v + ε)`;
//! - **Adam** (Kingma & Ba): `g ← g + λθ`, `m ← β₁m + (1 − β₁)g`, `v ← β₂v + (1 − β₂)g²`,
//!   `m̂ = m/(1 − β₁ᵗ)`, `v̂ = v/(1 − β₂ᵗ)`, `θ ← θ − lr·m̂/(√v̂ + ε)`.
//!
//! The update is written once, per parameter, in [`update_one`]; the CPU path maps it over θ
//! ([`step`], used by [`crate::train`]) and `shaders/optim.wgsl` is its f32 twin on the device
//! ([`crate::gpu::optim`]), tied to it by `tests/gpu_train.rs`.
//!
//! This module sits below both `train` and `gpu` and imports no other nodelab module.

use serde::{Deserialize, Serialize};

/// Which optimiser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Adam,
    Rmsprop,
    Sgd,
}

impl OptimizerKind {
    pub const ALL: [OptimizerKind; 3] = [
        OptimizerKind::Adam,
        OptimizerKind::Rmsprop,
        OptimizerKind::Sgd,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Adam => "adam",
            OptimizerKind::Rmsprop => "rmsprop",
            OptimizerKind::Sgd => "sgd",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Optimiser settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    pub kind: OptimizerKind,
    pub lr: f64,
    /// Adam's β₁.
    pub beta1: f64,
    /// Adam's β₂.
    pub beta2: f64,
    /// RMSprop's decay α.
    pub decay: f64,
    /// SGD's momentum μ (0: plain SGD).
    pub momentum: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl OptimizerConfig {
    /// The usual defaults of `kind` at learning rate `lr`.
    pub fn new(kind: OptimizerKind, lr: f64) -> Self {
        Self {
            kind,
            lr,
            beta1: 0.9,
            beta2: 0.999,
            decay: 0.99,
            momentum: 0.9,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        let check = |ok: bool, what: &str, v: f64| {
            if ok {
                Ok(())
            } else {
                Err(format!("optimizer {what} = {v} is out of range"))
            }
        };
        check(self.lr.is_finite() && self.lr > 0.0, "lr (> 0)", self.lr)?;
        check(
            (0.0..1.0).contains(&self.beta1),
            "beta1 ([0, 1))",
            self.beta1,
        )?;
        check(
            (0.0..1.0).contains(&self.beta2),
            "beta2 ([0, 1))",
            self.beta2,
        )?;
        check(
            (0.0..1.0).contains(&self.decay),
            "decay ([0, 1))",
            self.decay,
        )?;
        check(
            (0.0..1.0).contains(&self.momentum),
            "momentum ([0, 1))",
            self.momentum,
        )?;
        check(
            self.eps.is_finite() && self.eps > 0.0,
            "eps (> 0)",
            self.eps,
        )?;
        check(
            self.weight_decay.is_finite() && self.weight_decay >= 0.0,
            "weight_decay (≥ 0)",
            self.weight_decay,
        )
    }
}

/// Moments of one optimiser run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptimizerState {
    /// Steps taken.
    pub t: u64,
    /// First moment (Adam) or momentum buffer (SGD).
    pub m: Vec<f64>,
    /// Second moment (Adam, RMSprop).
    pub v: Vec<f64>,
}

impl OptimizerState {
    pub fn new(n: usize) -> Self {
        Self {
            t: 0,
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }
}

/// One parameter's update at step `t` (1-based): returns the new θ and writes the moments.
#[inline]
pub fn update_one(
    c: &OptimizerConfig,
    t: u64,
    theta: f64,
    grad: f64,
    m: &mut f64,
    v: &mut f64,
) -> f64 {
    let g = grad + c.weight_decay * theta;
    match c.kind {
        OptimizerKind::Sgd => {
            *m = if t == 1 { g } else { c.momentum * *m + g };
            theta - c.lr * *m
        }
        OptimizerKind::Rmsprop => {
            *v = c.decay * *v + (1.0 - c.decay) * g * g;
            theta - c.lr * g / (v.sqrt() + c.eps)
        }
        OptimizerKind::Adam => {
            *m = c.beta1 * *m + (1.0 - c.beta1) * g;
            *v = c.beta2 * *v + (1.0 - c.beta2) * g * g;
            let m_hat = *m / (1.0 - c.beta1.powi(t as i32));
            let v_hat = *v / (1.0 - c.beta2.powi(t as i32));
            theta - c.lr * m_hat / (v_hat.sqrt() + c.eps)
        }
    }
}

/// One step over θ: `params` and the state are updated in place.
pub fn step(c: &OptimizerConfig, state: &mut OptimizerState, params: &mut [f64], grad: &[f64]) {
    state.t += 1;
    let t = state.t;
    for (((p, &g), m), v) in params
        .iter_mut()
        .zip(grad)
        .zip(state.m.iter_mut())
        .zip(state.v.iter_mut())
    {
        *p = update_one(c, t, *p, g, m, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam_first_two_steps_by_hand() {
        let c = OptimizerConfig::new(OptimizerKind::Adam, 0.1);
        let mut s = OptimizerState::new(1);
        let mut p = [1.0];
        step(&c, &mut s, &mut p, &[2.0]);
        // m̂ = g, v̂ = g²: the first step is lr·sign(g) up to ε.
        let expected1 = 1.0 - 0.1 * 2.0 / (2.0 + 1e-8);
        assert!((p[0] - expected1).abs() < 1e-15, "{}", p[0]);
        step(&c, &mut s, &mut p, &[-1.0]);
        let m: f64 = 0.9 * (0.1 * 2.0) - 0.1;
        let v: f64 = 0.999 * (0.001 * 4.0) + 0.001 * 1.0;
        let m_hat = m / (1.0 - 0.81);
        let v_hat = v / (1.0 - 0.999f64 * 0.999);
        let expected2 = expected1 - 0.1 * m_hat / (v_hat.sqrt() + 1e-8);
        assert!((p[0] - expected2).abs() < 1e-15, "{} vs {expected2}", p[0]);
    }

    #[test]
    fn rmsprop_by_hand() {
        let c = OptimizerConfig::new(OptimizerKind::Rmsprop, 1e-3);
        let mut s = OptimizerState::new(2);
        let mut p = [0.5, -0.5];
        step(&c, &mut s, &mut p, &[3.0, 0.0]);
        let v = 0.01 * 9.0;
        assert!((p[0] - (0.5 - 1e-3 * 3.0 / (f64::sqrt(v) + 1e-8))).abs() < 1e-15);
        assert_eq!(p[1], -0.5);
        step(&c, &mut s, &mut p, &[1.0, 0.0]);
        let v2 = 0.99 * v + 0.01;
        let p0 = 0.5 - 1e-3 * 3.0 / (f64::sqrt(v) + 1e-8) - 1e-3 / (f64::sqrt(v2) + 1e-8);
        assert!((p[0] - p0).abs() < 1e-15);
    }

    #[test]
    fn sgd_momentum_and_weight_decay_by_hand() {
        let mut c = OptimizerConfig::new(OptimizerKind::Sgd, 0.5);
        c.weight_decay = 0.1;
        let mut s = OptimizerState::new(1);
        let mut p = [2.0];
        step(&c, &mut s, &mut p, &[1.0]);
        // g = 1 + 0.1·2 = 1.2, b = 1.2, θ = 2 − 0.6
        assert!((p[0] - 1.4).abs() < 1e-15);
        step(&c, &mut s, &mut p, &[1.0]);
        // g = 1 + 0.14 = 1.14, b = 0.9·1.2 + 1.14 = 2.22, θ = 1.4 − 1.11
        assert!((p[0] - 0.29).abs() < 1e-14, "{}", p[0]);
    }

    #[test]
    fn bad_settings_are_refused() {
        let mut c = OptimizerConfig::new(OptimizerKind::Adam, -1.0);
        assert!(c.validate().unwrap_err().contains("lr"));
        c.lr = 1e-3;
        c.beta2 = 1.0;
        assert!(c.validate().unwrap_err().contains("beta2"));
    }
}
