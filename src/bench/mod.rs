//! Benchmarks shared by the CLI (`nodelab bench …`) and the app: work-precision sweeps of the
//! solvers and the gradient-method measurements (toy problem, flops, thread and memory scaling).
//!
//! May import the numerics (`problem`, `solver`, `nn`, `grad`); never `cli` or `app`. The text
//! tables of `nodelab bench` are the CLI's.

pub mod grad;
pub mod work_precision;
