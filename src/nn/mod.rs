//! Neural networks used as ODE vector fields, and their files.
//!
//! [`Mlp`] is the network (one sample at a time); [`BatchedMlp`] evaluates it a batch at a
//! time, layer by layer ([`thin`] products) or, for one hidden tanh layer, through the
//! [`fused`] kernels, written once over the SIMD instruction sets of [`simd`]. Below them:
//! [`activation`] (σ and its derivatives), [`tanh`] (the fast tanh), [`affine`] (one
//! sample's layer), [`input_map`], [`real`] (f64 or f32); [`model_file`] reads and writes
//! the weights files; [`trace`] is the field with its divergence (continuous normalising flows).

pub mod activation;
pub mod affine;
pub mod batched;
pub mod fused;
pub mod input_map;
pub mod mlp;
pub mod model_file;
pub mod real;
pub mod simd;
pub mod tanh;
pub mod thin;
pub mod trace;

pub use activation::Activation;
pub use batched::{BatchWork, BatchedMlp};
pub use input_map::InputMap;
pub use mlp::{Mlp, MlpWork};
pub use model_file::WeightsFile;
pub use real::Real;
