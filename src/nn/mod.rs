//! Neural networks used as ODE vector fields, and their files.

pub mod mlp;
pub mod model_file;

pub use mlp::{Activation, InputMap, Mlp, MlpWork, WeightsFile};
