//! Machine-readable outputs shared by the CLI and the app: the per-step CSV and the solve
//! summary JSON.

pub mod steps_csv;
pub mod summary;

pub use summary::SolveSummary;
