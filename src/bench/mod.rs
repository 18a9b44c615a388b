//! Benchmarks shared by the CLI (`nodelab bench …`) and the app.

pub mod work_precision;
