//! Training small neural ODEs with several gradient methods side by side (CPU, f64).
//!
//! A run ([`TrainConfig`]) is a task (data generated from the seed, [`task`]), a model
//! ([`model`]), solver settings, an optimiser ([`optim`]) and a set of gradient methods
//! (any of [`crate::grad`]'s). Every method trains its own copy of the same initial weights on
//! the same batches ([`rng`]: ChaCha8 streams), so the curves compare directly; the engine
//! ([`engine`]) records per iteration and method the loss, times, f-evaluations, steps and
//! memory ([`record`]), evaluates every `eval_every` iterations and checks gradients against a
//! tight reference every `grad_check_every`. Control and streaming for the app: [`control`],
//! [`mod@spawn`]. No GUI type is used here: the CLI, the app, tests and benches share it.
//!
//! Where to start reading: [`engine`] ([`Trainer::step`]), then [`task`] and [`gpu`] (the same
//! loop with the iteration on the device). May import `grad`, `optim`, `nn`, `solver`,
//! `problem`, `preset` (the locator, for [`preset`]'s training presets), `gpu`, `density` and
//! `mem`; never
//! `bench`, `cli` or `app`.

pub mod config;
pub mod control;
pub mod curve;
pub mod datasets;
pub mod density_data;
pub mod digits_data;
pub mod engine;
pub mod gpu;
pub mod history;
pub mod model;
pub mod pca;
pub mod preset;
pub mod record;
pub mod rng;
pub mod run_dir;
pub mod spawn;
pub mod task;

pub use crate::optim::{OptimizerConfig, OptimizerKind};
pub use config::{Device, Precision, TrainConfig};
pub use control::TrainControl;
pub use engine::{MethodRun, TrainUpdate, Trainer};
pub use model::{Init, Model, ModelSpec};
pub use record::{MethodReport, MethodStatus, TrainReport};
pub use spawn::{
    Keep, RunReady, TrainEvent, TrainHandle, spawn, spawn_config, spawn_kept, spawn_resume,
    spawn_trainer,
};
pub use task::{Prediction, TaskData, TaskName, TaskSettings};
