//! nodelab: a desktop lab for neural ordinary differential equations.
//!
//! The numerics (problems, solvers, networks, gradient methods) import no GUI type, so the CLI,
//! tests and benches use them directly.

pub mod app;
pub mod bench;
pub mod cli;
pub mod density;
pub mod experiment;
pub mod export;
pub mod gpu;
pub mod grad;
pub mod mem;
pub mod nn;
pub mod optim;
pub mod output;
pub mod preset;
pub mod problem;
pub mod report;
pub mod solver;
pub mod train;
