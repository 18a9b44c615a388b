//! GPU compute on wgpu: WGSL kernels for batched neural-ODE solves and gradients (f32), each
//! checked against the CPU f64 reference.
//!
//! - [`context`]: the one place that finds an adapter (or takes eframe's device);
//! - [`shader`]: the WGSL sources of `shaders/`, specialised per model shape;
//! - [`codegen`]: the straight-line MLP functions of one shape;
//! - [`stages`]: the Runge–Kutta stage functions generated from a `grad::tableau::Tableau`;
//! - [`dataset`]: the training set on the device and the batch gathered from it by index;
//! - [`buffers`]: host mirrors of the WGSL structs and the buffer sizes;
//! - [`layout`]: the model [`Shape`] and its offsets, computed once;
//! - [`codes`]: status, loss and activation codes and controller constants, written into WGSL;
//! - [`methods`], [`objective`], [`schedule`]: the GPU mirrors of the CPU's gradient methods,
//!   losses (and their packing into the `data` buffer) and step schedules;
//! - [`optim`]: the optimiser step on the device (training; the update of [`crate::optim`] in
//!   f32), [`readback`]: buffer readback;
//! - [`engine`]: [`GpuSolver`], pipelines per shape and buffers per batch size, reused (one
//!   file per concern: memory, uploads, pipelines, dispatch, solves, gather, optimiser step);
//! - [`report`]: `nodelab grad --device gpu`, each GPU gradient next to the CPU f64 one.
//!
//! Every kernel keeps a whole sample's work in one invocation: a forward solve (fixed-step RK4
//! or per-sample adaptive zero-cost RK4) is one dispatch, a gradient (`backprop`, `adjoint`,
//! `afge`, `reversible-heun`) is one dispatch plus one reduction, with no per-step readback.
//! Every loss of `nodelab::grad` runs inside the gradient kernels ([`GpuObjective`]): `half-sse`,
//! `mse`, `trajectory-mse` (the solve split at the observation times as the CPU splits it) and
//! `cross-entropy` after a linear read-out (its gradient reduced with dL/dθ).
//!
//! May import the numerics below it (`nn`, `solver`, `grad`, `problem`, `optim`) and `preset`
//! (for [`report`]); never `train` (which drives this layer), `cli` or `app`.

pub mod buffers;
pub mod codegen;
pub mod codes;
pub mod context;
pub mod dataset;
pub mod engine;
pub mod layout;
pub mod methods;
pub mod objective;
pub mod optim;
pub mod readback;
pub mod report;
pub mod schedule;
pub mod shader;
pub mod stages;

pub use buffers::SampleStats;
pub use context::{AdapterReport, GpuContext, GpuError};
pub use engine::{ForwardResult, GpuSolver, GradResult};
pub use layout::Shape;
pub use methods::GpuGradMethod;
pub use objective::{GpuLoss, GpuObjective};
pub use schedule::{AdaptiveSettings, FixedSchedule, Segment};
