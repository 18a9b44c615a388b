//! A training run's settings: task, model, solver, optimiser, the gradient methods compared,
//! and the schedule. [`TrainConfig::defaults`] gives each task's settings.

use std::path::PathBuf;

use serde::Serialize;

use super::model::{Init, ModelSpec};
use super::task::{TaskName, TaskSettings};
use crate::grad::{GradMethod, GradOptions};
use crate::nn::{Activation, InputMap};
use crate::optim::{OptimizerConfig, OptimizerKind};
use crate::solver::{Method, SolverConfig};

/// Where the gradients are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    Cpu,
    Gpu,
    /// The GPU when a hardware adapter is present and every method has a kernel, else the CPU.
    Auto,
}

impl Device {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "cpu" => Some(Device::Cpu),
            "gpu" => Some(Device::Gpu),
            "auto" => Some(Device::Auto),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Gpu => "gpu",
            Device::Auto => "auto",
        }
    }
}

/// Floating-point precision of the gradient (see [`crate::grad::Precision`]).
pub use crate::grad::Precision;

/// The default gradient-check rate: every 50th iteration each method's gradient is compared
/// with a tight-tolerance backprop reference on the same weights and batch (one extra gradient
/// per 50 iterations), so the error against the reference is on record without asking.
pub const DEFAULT_GRAD_CHECK_EVERY: usize = 50;

/// Everything a training run needs.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    pub task: TaskName,
    pub data: TaskSettings,
    pub model: ModelSpec,
    pub solver: SolverConfig,
    pub optimizer: OptimizerConfig,
    /// Learning rates that differ from `optimizer.lr` for some methods.
    pub method_lr: Vec<(GradMethod, f64)>,
    /// The gradient methods compared; each trains its own copy of the model.
    pub methods: Vec<GradMethod>,
    pub grad_options: GradOptions,
    pub iters: usize,
    /// Items per iteration (windows or points; trajectory tasks without windows use 1).
    pub batch: usize,
    pub seed: u64,
    /// Evaluate every K iterations (and after the last); 0: only after the last.
    pub eval_every: usize,
    /// Compare each method's gradient with the reference every K iterations (0: never;
    /// default [`DEFAULT_GRAD_CHECK_EVERY`]).
    pub grad_check_every: usize,
    /// Run the methods of an iteration on their own threads at once (times then overlap).
    pub concurrent: bool,
    pub device: Device,
    pub precision: Precision,
    /// A saved model every method starts from instead of the seeded weights (`--init`, or
    /// `weights` in a preset's `[train]`); its network must have the run's shape.
    pub weights: Option<PathBuf>,
}

impl TrainConfig {
    /// The task's default settings.
    pub fn defaults(task: TaskName) -> Self {
        let mut data = TaskSettings {
            points: 500,
            noise: 0.05,
            test_fraction: 0.5,
            augment: usize::from(task == TaskName::Circles),
            features: super::task::digits::DEFAULT_FEATURES,
        };
        if task == TaskName::Digits {
            // All 1,797 images, a quarter held out.
            data.points = super::task::digits::IMAGES;
            data.test_fraction = 0.25;
            data.noise = 0.0;
        }
        if task.is_density() {
            // 4000 training points, 1000 held out for the test NLL.
            data.points = 5000;
            data.test_fraction = 0.2;
        }
        let mlp = |hidden: Vec<usize>, input_map, time_input, init| ModelSpec {
            hidden,
            activation: Activation::Tanh,
            input_map,
            time_input,
            init,
        };
        let fixed = |method, h0| SolverConfig {
            method,
            h0: Some(h0),
            ..SolverConfig::default()
        };
        let adaptive = |tol, rtol| SolverConfig {
            method: Method::Dopri5,
            tol,
            rtol,
            ..SolverConfig::default()
        };
        let (model, solver, optimizer, methods, iters, batch, eval_every) = match task {
            TaskName::SpiralFit => (
                mlp(vec![50], InputMap::Cube, false, Init::Normal { std: 0.1 }),
                adaptive(1e-9, 1e-7),
                OptimizerConfig::new(OptimizerKind::Rmsprop, 1e-3),
                vec![GradMethod::Backprop, GradMethod::Adjoint],
                300,
                20,
                20,
            ),
            TaskName::FreefallFit => (
                mlp(vec![16], InputMap::Identity, false, Init::Glorot),
                adaptive(1e-6, 1e-6),
                OptimizerConfig::new(OptimizerKind::Adam, 0.05),
                vec![GradMethod::Backprop, GradMethod::Adjoint],
                200,
                1,
                10,
            ),
            TaskName::WhiteDwarfIdent => (
                mlp(vec![32], InputMap::Identity, true, Init::Glorot),
                fixed(Method::Midpoint, 0.005),
                OptimizerConfig::new(OptimizerKind::Adam, 0.01),
                vec![
                    GradMethod::Backprop,
                    GradMethod::Checkpoint,
                    GradMethod::ReversibleMidpoint,
                ],
                100,
                1,
                10,
            ),
            // Continuous normalising flows: a time-dependent 2-32-32-2 tanh field, RK4 with 10
            // steps over [0, 1].
            t if t.is_density() => (
                mlp(vec![32, 32], InputMap::Identity, true, Init::Glorot),
                fixed(Method::Rk4, 0.1),
                OptimizerConfig::new(OptimizerKind::Adam, 0.01),
                vec![GradMethod::Backprop, GradMethod::Adjoint],
                600,
                256,
                50,
            ),
            // 8 encoder dimensions through an 8-32-8 tanh field, RK4 with 10 steps.
            TaskName::Digits => (
                mlp(vec![32], InputMap::Identity, false, Init::Glorot),
                fixed(Method::Rk4, 0.1),
                OptimizerConfig::new(OptimizerKind::Adam, 0.01),
                vec![GradMethod::Backprop, GradMethod::Adjoint],
                1000,
                64,
                50,
            ),
            _ => (
                mlp(vec![16, 16], InputMap::Identity, false, Init::Glorot),
                fixed(Method::Rk4, 0.1),
                OptimizerConfig::new(OptimizerKind::Adam, 0.02),
                vec![GradMethod::Backprop, GradMethod::Adjoint],
                300,
                64,
                10,
            ),
        };
        Self {
            task,
            data,
            model,
            solver,
            optimizer,
            method_lr: Vec::new(),
            methods,
            grad_options: GradOptions::default(),
            iters,
            batch,
            seed: 0,
            eval_every,
            grad_check_every: DEFAULT_GRAD_CHECK_EVERY,
            concurrent: false,
            device: Device::Cpu,
            precision: Precision::F64,
            weights: None,
        }
    }

    /// The optimiser settings of `method` (its own learning rate when `method_lr` has one).
    pub fn optimizer_for(&self, method: GradMethod) -> OptimizerConfig {
        let mut o = self.optimizer;
        if let Some(&(_, lr)) = self.method_lr.iter().find(|(m, _)| *m == method) {
            o.lr = lr;
        }
        o
    }

    /// Checks the settings; the message says which one and why.
    pub fn validate(&self) -> Result<(), String> {
        self.data.validate(self.task)?;
        self.model.validate()?;
        self.solver.validate().map_err(|e| format!("solver: {e}"))?;
        self.optimizer.validate()?;
        for &(m, lr) in &self.method_lr {
            if !(lr.is_finite() && lr > 0.0) {
                return Err(format!("method_lr {m} = {lr}: a learning rate must be > 0"));
            }
            if !self.methods.contains(&m) {
                return Err(format!(
                    "method_lr names {m}, which is not among the methods"
                ));
            }
        }
        if self.methods.is_empty() {
            return Err("no gradient method to train with".into());
        }
        let mut seen = self.methods.clone();
        seen.sort_by_key(|m| m.name());
        seen.dedup();
        if seen.len() != self.methods.len() {
            return Err("a gradient method is listed twice".into());
        }
        if self.iters == 0 || self.iters > 10_000_000 {
            return Err(format!("iters = {} must be in 1 ..= 10000000", self.iters));
        }
        if self.batch == 0 {
            return Err("batch must be at least 1".into());
        }
        let o = &self.grad_options;
        if !(o.lambda > 0.0 && o.lambda <= 1.0) {
            return Err(format!("lambda must be in (0, 1] (got {})", o.lambda));
        }
        if o.cheb_nodes < 2 || o.cheb_nodes > 4096 {
            return Err(format!(
                "cheb-nodes = {} must be in 2 ..= 4096",
                o.cheb_nodes
            ));
        }
        // Bounded like the other counts: a huge count would run for hours without a word.
        if let Some(k) = o.checkpoints
            && !(1..=1_000_000).contains(&k)
        {
            return Err(format!("checkpoints = {k} must be in 1 ..= 1000000"));
        }
        if let Some(n) = o.reversible_steps
            && !(1..=1_000_000).contains(&n)
        {
            return Err(format!("reversible-steps = {n} must be in 1 ..= 1000000"));
        }
        Ok(())
    }
}
