//! Presets: TOML files that name a problem, its parameters, initial value, time span and the
//! solver settings. The same format is read by `nodelab solve`, `nodelab grad` and the app.
//!
//! ```toml
//! description = "Van der Pol as in the paper's Figure 3"
//! [problem]
//! name = "van-der-pol"          # a built-in (kind = "builtin" is the default)
//! params = { mu = 1.0 }
//! y0 = [2.0, 0.0]
//! t_span = [0.0, 20.0]
//! [solver]
//! method = "zc-rk4-paper"
//! tol = 1e-2
//! h0 = 0.1
//! ```
//!
//! A custom problem uses `kind = "custom"`, `variables = ["x", "v"]`,
//! `equations = ["v", "mu*(1 - x^2)*v - x"]` and `params`; a neural one uses `kind = "neural"`
//! and `weights = "mlp.json"` (relative to the preset file). Unknown keys are errors, and every
//! error names the file, line and column.
//!
//! The folder holds, one concern per file: [`schema`] (the tables as serde types), [`mod@locate`]
//! (the error type and the span locator every preset reader uses, `nodelab train`'s too), [`load`]
//! (reading a file into a [`LoadedPreset`], which keeps its text so later errors are located)
//! and [`build`] (turning `[problem]` and `[loss]` into a [`crate::problem::Problem`] or a
//! [`crate::grad::GradProblem`]).
//!
//! May import the numerics (`problem`, `solver`, `nn`, `grad`); never `train`, `cli` or `app`
//! (training presets, [`crate::train::preset`], build on [`mod@locate`], not the other way round).

pub mod build;
pub mod load;
pub mod locate;
pub mod schema;

pub use build::{PathPart, build_problem};
pub use load::LoadedPreset;
pub use locate::{Key, PresetError, is_train_preset, line_col, locate};
pub use schema::{LossSpec, Preset, ProblemKind, ProblemSpec, ReadoutSpec, StateSpec, TargetSpec};

#[cfg(test)]
mod tests;
