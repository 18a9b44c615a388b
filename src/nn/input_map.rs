//! The input map `m` applied to the state before the first layer of a vector field.

use serde::{Deserialize, Serialize};

/// The map applied to the state before the first layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputMap {
    /// `m(y) = y`.
    #[default]
    Identity,
    /// `m(y) = y∘y∘y`, `m'(y) = 3 y∘y`.
    Cube,
}

impl InputMap {
    pub const ALL: [InputMap; 2] = [InputMap::Identity, InputMap::Cube];

    pub fn name(self) -> &'static str {
        match self {
            InputMap::Identity => "identity",
            InputMap::Cube => "cube",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn is_identity(&self) -> bool {
        *self == InputMap::Identity
    }

    /// `m(y)` componentwise.
    #[inline]
    pub fn apply(self, y: f64) -> f64 {
        match self {
            InputMap::Identity => y,
            InputMap::Cube => y * y * y,
        }
    }

    /// `m'(y)` componentwise.
    #[inline]
    pub fn derivative(self, y: f64) -> f64 {
        match self {
            InputMap::Identity => 1.0,
            InputMap::Cube => 3.0 * y * y,
        }
    }

    /// `m''(y)` componentwise (the divergence's gradient needs it, [`super::trace`]).
    #[inline]
    pub fn second_derivative(self, y: f64) -> f64 {
        match self {
            InputMap::Identity => 0.0,
            InputMap::Cube => 6.0 * y,
        }
    }
}
