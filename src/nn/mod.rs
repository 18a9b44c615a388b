//! Neural networks used as ODE vector fields.

pub mod mlp;

pub use mlp::{Activation, Mlp, MlpWork, WeightsFile};
