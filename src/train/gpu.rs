//! Training on the device (`--device gpu`, f32): every method keeps its weights, its read-out
//! and its optimiser moments in GPU buffers, and an iteration is one submission — the method's
//! gather of the batch from the training set, the gradient kernel, the reduction over the
//! batch and the optimiser kernel ([`crate::gpu::optim`]) — followed by one 32-byte readback
//! (loss, outcome, step counters). The training set (the lifted points and labels, or the
//! samples of the true trajectory) is uploaded once per run ([`crate::gpu::dataset`]); per
//! iteration the host writes the batch's B indices (drawn by the same seeded sequence as the
//! CPU path, [`super::rng`]) and the optimiser's step parameters, 4·B + 80 bytes
//! ([`DeviceStep::upload_bytes`]); the weights come back only for evaluations and at the end.
//!
//! What runs here is fixed up front ([`check_config`]): methods with a kernel
//! ([`GpuGradMethod`]), losses with a kernel ([`GpuLoss`], on every component or some), any
//! input map of the plain field (the density field: identity) and fixed-step RK4; anything
//! else is refused with the reason, never run on the CPU instead.
//! Density tasks run the kernels on the CNF's augmented state `[z, ℓ]` (a density shape,
//! [`Shape::of_field`]) with the nll loss; afge has no kernel for that field.

use std::sync::Arc;
use std::time::Instant;

use super::config::TrainConfig;
use super::model::Model;
use super::task::TaskData;
use crate::gpu::dataset::{DeviceSet, HostSet, SetKind};
use crate::gpu::optim::{GpuOptimizer, StepSummary};
use crate::gpu::{
    FixedSchedule, GpuContext, GpuGradMethod, GpuLoss, GpuObjective, GpuSolver, Shape,
    shader::Kernel,
};
use crate::grad::GradMethod;
use crate::solver::Method;

/// The methods with a GPU kernel, for messages.
fn kernel_list() -> String {
    GpuGradMethod::ALL
        .iter()
        .map(|m| m.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The GPU form of each method of `config`, or why the run cannot train on the GPU (the first
/// reason: a method without a kernel, a loss without a kernel, an input map, a solver).
pub fn check_config(config: &TrainConfig, data: &TaskData) -> Result<Vec<GpuGradMethod>, String> {
    let methods = config
        .methods
        .iter()
        .map(|&m| {
            GpuGradMethod::of_cpu(m).ok_or_else(|| {
                format!(
                    "{m}: CPU only (no GPU kernel; the GPU trains with {})",
                    kernel_list()
                )
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let kind = match data {
        TaskData::Trajectory(t) => t.loss,
        TaskData::Classes(_) | TaskData::Digits(_) => crate::grad::LossKind::CrossEntropy,
        TaskData::Density(_) => crate::grad::LossKind::Nll,
    };
    if GpuLoss::of_kind(kind).is_none() {
        return Err(format!(
            "{}: its {} loss has no GPU kernel (the GPU kernels: half-sse, mse, trajectory-mse, \
             trajectory-l1, trajectory-sse, cross-entropy, nll); train it on the CPU",
            config.task.name(),
            kind.name()
        ));
    }
    if let TaskData::Density(_) = data
        && let Some(m) = methods.iter().find(|m| !m.kernel().runs_density())
    {
        return Err(format!(
            "{}: {}",
            m.name(),
            crate::gpu::layout::NO_TRACE_SENSITIVITY
        ));
    }
    // The density (trace) field applies no input map (the plain field does, f = MLP(m(y))).
    if matches!(data, TaskData::Density(_)) && !config.model.input_map.is_identity() {
        return Err(format!(
            "input_map = \"{}\": the GPU's density field applies no input map; train on the CPU",
            config.model.input_map.name()
        ));
    }
    if config.solver.method != Method::Rk4 {
        return Err(format!(
            "the GPU trains with fixed-step RK4; the run's solver is {} (set method = \"rk4\" and \
             h0, or train on the CPU)",
            config.solver.method.name()
        ));
    }
    Ok(methods)
}

/// One method's device state.
struct DeviceRun {
    method: GpuGradMethod,
    solver: GpuSolver,
    optimizer: GpuOptimizer,
}

/// What one device iteration returned.
#[derive(Clone, Copy, Debug)]
pub struct DeviceStep {
    pub summary: StepSummary,
    /// Wall time of the batch upload, the submission and the readback.
    pub ms: f64,
    pub nfe_forward: u64,
    pub nfe_backward: u64,
    /// Bytes of the method's device buffers.
    pub device_bytes: u64,
    /// Bytes the host wrote to the device for this iteration (the batch indices and the
    /// step parameters).
    pub upload_bytes: u64,
}

/// The device side of a training run: one [`DeviceRun`] per method, in the run's order.
pub struct GpuTrainer {
    ctx: Arc<GpuContext>,
    schedule: FixedSchedule,
    loss: GpuLoss,
    /// The training set, on the device once for every method.
    set: Arc<DeviceSet>,
    runs: Vec<DeviceRun>,
}

impl std::fmt::Debug for GpuTrainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuTrainer")
            .field("adapter", &self.ctx.adapter.name)
            .field(
                "methods",
                &self.runs.iter().map(|r| r.method).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The task's training set in the gather's form: the lifted training points with their labels,
/// or the samples of the trajectory with windows of `w − 1` observations after their start
/// (the whole trajectory from sample 0 for tasks without windows), as
/// [`TaskData::batch_problem`] builds one batch.
pub fn host_set(data: &TaskData) -> HostSet {
    match data {
        TaskData::Classes(c) => HostSet {
            kind: SetKind::Classes,
            dim: data.dim(),
            rows: c.set.train.iter().flat_map(|&p| c.lift(p)).collect(),
            labels: c.set.train_labels.iter().map(|&l| l as u32).collect(),
        },
        TaskData::Digits(d) => HostSet {
            kind: SetKind::Classes,
            dim: data.dim(),
            rows: d.train.iter().flat_map(|z| d.lift(z)).collect(),
            labels: d.train_labels.iter().map(|&l| l as u32).collect(),
        },
        // The density field's initial states [x, 0] (ℓ(0) = 0), as `batch_problem` builds them.
        TaskData::Density(d) => HostSet {
            kind: SetKind::Points,
            dim: data.dim() + 1,
            rows: d.set.train.iter().flat_map(|p| [p[0], p[1], 0.0]).collect(),
            labels: Vec::new(),
        },
        TaskData::Trajectory(t) => HostSet {
            kind: SetKind::Windows {
                n_obs: t.window.unwrap_or(t.times.len()) - 1,
            },
            dim: data.dim(),
            rows: t.states.iter().flatten().copied().collect(),
            labels: Vec::new(),
        },
    }
}

/// A batch in the kernels' form: initial states (sample-major) and the loss data.
fn batch_objective(
    data: &TaskData,
    items: &[usize],
    model: &Model,
    config: &TrainConfig,
) -> Result<(Vec<f64>, GpuObjective), String> {
    let problem = data.batch_problem(items, model, &config.solver);
    let objective = GpuObjective::from_loss(&problem.loss)?;
    Ok((problem.y0.into_iter().flatten().collect(), objective))
}

impl GpuTrainer {
    /// Uploads `initial` for every method (each its own θ, read-out and moments; one pipeline
    /// compilation shared by all) with the first batch `items`, and compiles every kernel the
    /// run needs before the first timed iteration.
    pub fn new(
        ctx: Arc<GpuContext>,
        config: &TrainConfig,
        data: &TaskData,
        initial: &Model,
        items: &[usize],
    ) -> Result<Self, String> {
        let methods = check_config(config, data)?;
        let e = |err: crate::gpu::GpuError| err.to_string();
        let (y0, objective) = batch_objective(data, items, initial, config)?;
        // The span of one gradient: [0, 1] for the classifiers, a window for trajectories.
        let (t0, t1) = match data {
            TaskData::Classes(_) | TaskData::Digits(_) => (0.0, 1.0),
            TaskData::Density(d) => (0.0, d.t1),
            TaskData::Trajectory(t) => {
                let w = t.window.unwrap_or(t.times.len());
                (t.times[0], t.times[w - 1])
            }
        };
        let schedule = FixedSchedule::new(t0, t1, config.solver.h0).map_err(e)?;
        let density = matches!(data, TaskData::Density(_));
        let shape = Shape::of_field(&initial.mlp, density);
        for &m in &methods {
            m.kernel()
                .check(&shape)
                .map_err(|why| format!("{}: {why}", m.name()))?;
        }
        let n_extra = initial.readout.as_ref().map_or(0, |r| r.n_params());
        let set = DeviceSet::upload(ctx.clone(), &host_set(data)).map_err(e)?;
        let mut first = GpuSolver::for_field(ctx.clone(), &initial.mlp, density).map_err(e)?;
        for &m in &methods {
            first.compile(m.kernel()).map_err(e)?;
        }
        first.compile(Kernel::Reduce).map_err(e)?;
        let mut first = Some(first);
        let mut out: Vec<DeviceRun> = Vec::with_capacity(methods.len());
        for &method in &methods {
            let mut solver = match (first.take(), out.first()) {
                (Some(s), _) => s,
                (None, Some(r)) => r.solver.sibling(&initial.mlp).map_err(e)?,
                (None, None) => return Err("internal: no solver to share pipelines with".into()),
            };
            solver.checkpoints = config.grad_options.checkpoints;
            solver.lambda = config.grad_options.lambda;
            solver.set_objective(&y0, &objective).map_err(e)?;
            solver.attach_set(set.clone()).map_err(e)?;
            let optimizer = GpuOptimizer::new(
                ctx.clone(),
                config.optimizer_for(method.cpu()),
                initial.mlp.n_params(),
                n_extra,
            )
            .map_err(e)?;
            out.push(DeviceRun {
                method,
                solver,
                optimizer,
            });
        }
        Ok(Self {
            ctx,
            schedule,
            loss: objective.loss,
            set,
            runs: out,
        })
    }

    pub fn context(&self) -> &Arc<GpuContext> {
        &self.ctx
    }

    /// The CPU method of each device run, in order.
    pub fn methods(&self) -> Vec<GradMethod> {
        self.runs.iter().map(|r| r.method.cpu()).collect()
    }

    /// Bytes of the training set on the device (shared by every method).
    pub fn set_bytes(&self) -> u64 {
        self.set.bytes()
    }

    /// One iteration of run `i` on the batch `items` (indices into the training set: points,
    /// or window starts), gathered on the device.
    pub fn step(&mut self, i: usize, items: &[usize]) -> Result<DeviceStep, String> {
        let indices = items
            .iter()
            .map(|&k| u32::try_from(k).map_err(|_| format!("batch index {k} is too large")))
            .collect::<Result<Vec<u32>, String>>()?;
        let (schedule, loss) = (self.schedule, self.loss);
        let run = self
            .runs
            .get_mut(i)
            .ok_or_else(|| format!("no device run {i}"))?;
        let written = run.solver.uploaded_bytes() + run.optimizer.uploaded_bytes();
        let start = Instant::now();
        run.solver
            .select_batch(&indices)
            .map_err(|e| e.to_string())?;
        let summary = run
            .solver
            .train_step(run.method, &schedule, loss, &mut run.optimizer)
            .map_err(|e| e.to_string())?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let upload_bytes = run.solver.uploaded_bytes() + run.optimizer.uploaded_bytes() - written;
        let segs = run
            .solver
            .segments(run.method, &schedule)
            .map_err(|e| e.to_string())?;
        // Counted per batch, as on the CPU: one evaluation of the batched field covers every
        // sample (the device's fixed steps are the same for all of them).
        let steps = u64::from(segs.iter().map(|g| g.n).sum::<u32>());
        let (f, b) = run.method.nfe_per_step();
        let device_bytes = run
            .solver
            .train_bytes(run.method, &schedule)
            .map_err(|e| e.to_string())?
            + run.optimizer.bytes();
        Ok(DeviceStep {
            summary,
            ms,
            nfe_forward: f * steps + u64::from(run.method.reversible()),
            nfe_backward: b * steps,
            device_bytes,
            upload_bytes,
        })
    }

    /// Reads run `i`'s weights (θ and read-out, f32) into `model`.
    pub fn read_model(&self, i: usize, model: &mut Model) -> Result<(), String> {
        let run = self
            .runs
            .get(i)
            .ok_or_else(|| format!("no device run {i}"))?;
        let (theta, readout) = run.solver.read_weights().map_err(|e| e.to_string())?;
        let mut flat: Vec<f64> = theta.iter().map(|&v| f64::from(v)).collect();
        flat.extend(readout.iter().map(|&v| f64::from(v)));
        if flat.len() != model.n_params() {
            return Err(format!(
                "the device holds {} parameters, the model {}",
                flat.len(),
                model.n_params()
            ));
        }
        model.set_flat(&flat);
        Ok(())
    }
}
