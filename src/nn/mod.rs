//! Neural networks used as ODE vector fields, and their files.

pub mod batched;
pub mod fused;
pub mod mlp;
pub mod model_file;
pub mod thin;

pub use batched::{BatchWork, BatchedMlp, Real};
pub use mlp::{Activation, InputMap, Mlp, MlpWork, WeightsFile};
