//! Outputs shared by the CLI and the app: the per-step CSV, the solve summary JSON, the gradient
//! comparison's text table and the number formats of the text tables.
//!
//! May import the numerics (`problem`, `solver`, `grad`); never `cli` or `app`.

pub mod grad_table;
pub mod steps_csv;
pub mod summary;
pub mod text;

pub use summary::SolveSummary;
