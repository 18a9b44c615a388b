//! The training loop. Every method trains its own copy of one initial model on the same seeded
//! batch sequence, so their curves compare directly. By default the methods take turns within
//! an iteration (lockstep: one gradient at a time, so no method's time includes another's);
//! `concurrent` runs them on threads at once. A method whose loss, gradient or update is not
//! finite, or whose solve fails, stops alone with its reason; a non-finite update is never
//! applied, so no NaN reaches the weights.
//!
//! [`Trainer`] is driven one iteration at a time (tests, the CLI) or run to the end under a
//! [`TrainControl`] ([`Trainer::run`]); [`mod@super::spawn`] runs it on its own thread.

use std::sync::Arc;
use std::time::Instant;

use super::config::{Device, Precision, TrainConfig};
use super::control::TrainControl;
use super::gpu::GpuTrainer;
use super::history::{KEEP, Strides, push_thinned};
use super::model::{self, Model};
use super::record::{
    EvalRecord, GradCheck, IterRecord, MethodReport, MethodStatus, Totals, TrainReport,
};
use super::rng::{SeedRng, Stream};
use super::task::{Prediction, TaskData};
use crate::gpu::GpuContext;
use crate::grad::{self, GradMethod, GradOptions, GradProblem};
use crate::optim::{self, OptimizerState};

/// One method's training state and history. The lists are thinned past
/// [`super::history::KEEP`] items (memory stays flat over long runs); `totals` sums every
/// iteration.
#[derive(Clone, Debug)]
pub struct MethodRun {
    pub method: GradMethod,
    pub model: Model,
    optimizer: OptimizerState,
    pub status: MethodStatus,
    pub records: Vec<IterRecord>,
    pub evals: Vec<EvalRecord>,
    pub checks: Vec<GradCheck>,
    pub totals: Totals,
    pub strides: Strides,
    wall_s: f64,
    /// Notes of the gradient (e.g. `--threads` without effect), passed to the run's warnings.
    notes: Vec<String>,
    /// GPU runs: the iteration whose device weights `model` holds.
    synced_iter: Option<usize>,
}

impl MethodRun {
    pub fn is_running(&self) -> bool {
        self.status == MethodStatus::Running
    }

    /// The optimiser's moments and step count.
    pub fn optimizer(&self) -> &OptimizerState {
        &self.optimizer
    }

    /// This method's cumulative training wall time, s.
    pub fn wall_s(&self) -> f64 {
        self.wall_s
    }

    fn push_record(&mut self, r: IterRecord) {
        self.totals.add_iter(&r);
        push_thinned(
            &mut self.records,
            &mut self.strides.records,
            r,
            |r| r.iter,
            KEEP,
        );
    }

    fn push_eval(&mut self, e: EvalRecord) {
        self.totals.add_eval(&e);
        push_thinned(
            &mut self.evals,
            &mut self.strides.evals,
            e,
            |e| e.iter,
            KEEP,
        );
    }

    fn push_check(&mut self, c: GradCheck) {
        push_thinned(
            &mut self.checks,
            &mut self.strides.checks,
            c,
            |c| c.iter,
            KEEP,
        );
    }
}

/// A method's state saved by a run directory, to continue it ([`Trainer::restore`]).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedMethod {
    /// The method's name.
    pub method: String,
    pub status: MethodStatus,
    pub wall_s: f64,
    pub totals: Totals,
    pub strides: Strides,
    pub records: Vec<IterRecord>,
    pub evals: Vec<EvalRecord>,
    pub checks: Vec<GradCheck>,
}

/// What one iteration (or evaluation) produced, by method index.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainUpdate {
    /// Iterations done so far.
    pub iter: usize,
    pub iters: usize,
    /// Seconds since the run started.
    pub elapsed_s: f64,
    pub records: Vec<(usize, IterRecord)>,
    pub evals: Vec<(usize, EvalRecord)>,
    pub checks: Vec<(usize, GradCheck)>,
    /// Methods whose status changed.
    pub status: Vec<(usize, MethodStatus)>,
    /// Each evaluated method's model and prediction (when predictions are on).
    pub models: Vec<(usize, Model, Prediction)>,
}

impl TrainUpdate {
    /// Appends a later update (a lagging reader receives both at once).
    pub fn merge(&mut self, later: TrainUpdate) {
        self.iter = later.iter;
        self.iters = later.iters;
        self.elapsed_s = later.elapsed_s;
        self.records.extend(later.records);
        self.evals.extend(later.evals);
        self.checks.extend(later.checks);
        self.status.extend(later.status);
        for (i, m, p) in later.models {
            // Only the newest model of a method matters to a reader.
            self.models.retain(|(j, _, _)| *j != i);
            self.models.push((i, m, p));
        }
    }
}

/// A training run in progress.
#[derive(Debug)]
pub struct Trainer {
    config: TrainConfig,
    data: TaskData,
    batch_rng: SeedRng,
    runs: Vec<MethodRun>,
    iter: usize,
    started: Instant,
    warnings: Vec<String>,
    /// Grid size of the predictions sent with evaluations (0: none).
    predict_grid: usize,
    /// The device side when the run trains on the GPU (run i of `runs` is its run i).
    gpu: Option<GpuTrainer>,
}

impl Trainer {
    /// Generates the data and the initial model; every method starts from that model. A GPU
    /// run (`device` gpu, or auto with a hardware adapter) finds its own adapter.
    pub fn new(config: TrainConfig) -> Result<Self, String> {
        Self::new_on(config, None)
    }

    /// As [`Trainer::new`], on `ctx` when the run trains on the GPU (the app's device; the
    /// CLI's, found before so that a missing adapter is told apart).
    pub fn new_on(config: TrainConfig, ctx: Option<Arc<GpuContext>>) -> Result<Self, String> {
        config.validate()?;
        let mut warnings = Vec::new();
        let data = TaskData::generate(config.task, &config.data, config.seed)?;
        let dim = data.dim();
        let mlp = config.model.build(dim, config.seed);
        let readout = config
            .task
            .classes()
            .map(|c| model::readout(dim, c, config.seed));
        let mut initial = Model { mlp, readout };
        if let Some(path) = &config.weights {
            let given = model::load_initial(path)?;
            initial = fit_initial(&initial, given)
                .map_err(|e| format!("initial weights {}: {e}", path.display()))?;
        }
        let trajectory = matches!(data, TaskData::Trajectory(_));
        if trajectory && data.pool() == 1 && config.batch > 1 {
            warnings.push(format!(
                "{} fits one trajectory per iteration; batch = {} has no effect",
                config.task.name(),
                config.batch
            ));
        } else if config.batch > data.pool() {
            warnings.push(format!(
                "batch = {} is more than the {} training items: every iteration uses all {}",
                config.batch,
                data.pool(),
                data.pool()
            ));
        }
        if !trajectory && config.data.test_fraction == 0.0 {
            warnings.push(
                "test_fraction = 0: there is no test set; evaluations use the training set".into(),
            );
        }
        let gpu = Self::device(&config, &data, &initial, ctx, &mut warnings)?;
        if gpu.is_none() && config.precision == Precision::F32 {
            // f32 on the CPU: the gradient in f32 (grad's generic path), the weights and the
            // optimiser state in f64 (mixed precision; the update adds an f32-accurate step).
            for &m in &config.methods {
                grad::check_f32(&config.solver, m, &grad_options(&config))
                    .map_err(|e| format!("--precision f32 on the CPU: {e}"))?;
            }
            warnings.extend(grad::f32_tolerance_warning(&config.solver));
        }
        if gpu.is_some() {
            // The default rate is not the user's request: the GPU path skips it silently.
            if config.grad_check_every > 0
                && config.grad_check_every != super::config::DEFAULT_GRAD_CHECK_EVERY
            {
                warnings.push(
                    "grad_check_every: the gradient check runs on the CPU path only (the GPU \
                     path reads no gradient back)"
                        .into(),
                );
            }
            if config.concurrent {
                warnings
                    .push("concurrent: the GPU path submits the methods one after another".into());
            }
        }
        let n = initial.n_params();
        let runs = config
            .methods
            .iter()
            .map(|&method| MethodRun {
                method,
                model: initial.clone(),
                optimizer: OptimizerState::new(n),
                status: MethodStatus::Running,
                records: Vec::new(),
                evals: Vec::new(),
                checks: Vec::new(),
                totals: Totals::default(),
                strides: Strides::default(),
                wall_s: 0.0,
                notes: Vec::new(),
                synced_iter: Some(0),
            })
            .collect();
        Ok(Self {
            batch_rng: SeedRng::new(config.seed, Stream::Batches),
            config,
            data,
            runs,
            iter: 0,
            started: Instant::now(),
            warnings,
            predict_grid: 0,
            gpu,
        })
    }

    /// The device side of a run: `gpu` needs an adapter and kernels for everything (else an
    /// error); `auto` takes the GPU only with a hardware adapter and kernels for everything
    /// (else the CPU, saying why); `cpu` none.
    fn device(
        config: &TrainConfig,
        data: &TaskData,
        initial: &Model,
        ctx: Option<Arc<GpuContext>>,
        warnings: &mut Vec<String>,
    ) -> Result<Option<GpuTrainer>, String> {
        if config.device == Device::Cpu {
            return Ok(None);
        }
        let sizing: Vec<usize> = (0..data.pool().min(config.batch)).collect();
        let plan = super::gpu::check_config(config, data);
        if config.device == Device::Gpu {
            plan.map_err(|why| format!("--device gpu: {why}"))?;
            let ctx = match ctx {
                Some(c) => c,
                None => GpuContext::shared().map_err(|e| format!("--device gpu: {e}"))?,
            };
            return GpuTrainer::new(ctx, config, data, initial, &sizing)
                .map(Some)
                .map_err(|why| format!("--device gpu: {why}"));
        }
        let fallback = |warnings: &mut Vec<String>, why: String| {
            warnings.push(format!("device auto: training on the CPU ({why})"));
            Ok(None)
        };
        if let Err(why) = plan {
            return fallback(warnings, why);
        }
        let ctx = match ctx.map_or_else(GpuContext::shared, Ok) {
            Ok(ctx) => ctx,
            Err(e) => return fallback(warnings, e.to_string()),
        };
        if ctx.adapter.software {
            return fallback(
                warnings,
                format!(
                    "the only adapter, {}, is a software renderer",
                    ctx.adapter.summary()
                ),
            );
        }
        match GpuTrainer::new(ctx, config, data, initial, &sizing) {
            Ok(g) => Ok(Some(g)),
            Err(why) => fallback(warnings, why),
        }
    }

    /// The adapter the run trains on (None: the CPU).
    pub fn adapter(&self) -> Option<String> {
        self.gpu.as_ref().map(|g| g.context().adapter.summary())
    }

    /// Where the run trains, in words: "CPU, f64" or "GPU, f32: ADAPTER".
    pub fn device_label(&self) -> String {
        match self.adapter() {
            Some(a) => format!("GPU, f32: {a}"),
            None => format!("CPU, {}", self.report_precision()),
        }
    }

    fn report_precision(&self) -> &'static str {
        match self.config.precision {
            Precision::F64 => "f64",
            Precision::F32 => "f32",
        }
    }

    /// Reads every running method's weights back from the device (evaluations, the end).
    fn sync_device_models(&mut self) {
        let Some(gpu) = &self.gpu else { return };
        for (i, run) in self.runs.iter_mut().enumerate() {
            if run.synced_iter == Some(self.iter) {
                continue;
            }
            if let Err(e) = gpu.read_model(i, &mut run.model) {
                let w = format!("{}: reading the weights back failed: {e}", run.method);
                if !self.warnings.contains(&w) {
                    self.warnings.push(w);
                }
            }
            run.synced_iter = Some(self.iter);
        }
    }

    /// Sends each method's model and its prediction with every evaluation (the app's live view),
    /// classifiers on a `grid` × `grid` heat map.
    pub fn with_predictions(mut self, grid: usize) -> Self {
        self.predict_grid = grid;
        self
    }

    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    pub fn data(&self) -> &TaskData {
        &self.data
    }

    pub fn runs(&self) -> &[MethodRun] {
        &self.runs
    }

    /// Iterations done.
    pub fn iter(&self) -> usize {
        self.iter
    }

    /// The position in the batch sequence (ChaCha8 word position of its stream).
    pub fn batch_position(&self) -> u128 {
        self.batch_rng.word_pos()
    }

    /// What a run directory saves of each method to continue it.
    pub fn saved_methods(&self) -> Vec<SavedMethod> {
        self.runs
            .iter()
            .map(|r| SavedMethod {
                method: r.method.name().to_string(),
                status: r.status.clone(),
                wall_s: r.wall_s,
                totals: r.totals.clone(),
                strides: r.strides,
                records: r.records.clone(),
                evals: r.evals.clone(),
                checks: r.checks.clone(),
            })
            .collect()
    }

    /// Continues a saved run: `iter` iterations done, the batch sequence at `position`, each
    /// method's history, weights and optimiser state (in the order of `config.methods`).
    /// Methods that were stopped or had finished run again; diverged or failed ones stay so.
    /// CPU runs only (a GPU run's optimiser state stays on the device).
    pub fn restore(
        &mut self,
        iter: usize,
        position: u128,
        methods: Vec<(SavedMethod, Model, OptimizerState)>,
    ) -> Result<(), String> {
        if self.gpu.is_some() {
            return Err(
                "a run on the GPU cannot be resumed (its optimiser state stays on the device)"
                    .into(),
            );
        }
        if methods.len() != self.runs.len() {
            return Err(format!(
                "the saved run has {} methods, the setup {}",
                methods.len(),
                self.runs.len()
            ));
        }
        let n = self.runs.first().map_or(0, |r| r.model.n_params());
        for (run, (saved, model, opt)) in self.runs.iter_mut().zip(methods) {
            if saved.method != run.method.name() {
                return Err(format!(
                    "the saved run has {} where the setup has {}",
                    saved.method, run.method
                ));
            }
            if model.n_params() != n || model.mlp.sizes != run.model.mlp.sizes {
                return Err(format!(
                    "{}: the saved weights do not fit the setup's network",
                    run.method
                ));
            }
            if opt.m.len() != n || opt.v.len() != n {
                return Err(format!(
                    "{}: the saved optimiser state has the wrong size",
                    run.method
                ));
            }
            run.model = model;
            run.optimizer = opt;
            run.status = match saved.status {
                MethodStatus::Stopped | MethodStatus::Finished => MethodStatus::Running,
                other => other,
            };
            run.wall_s = saved.wall_s;
            run.totals = saved.totals;
            run.strides = saved.strides;
            run.records = saved.records;
            run.evals = saved.evals;
            run.checks = saved.checks;
            run.synced_iter = Some(iter);
        }
        self.iter = iter;
        self.batch_rng.set_word_pos(position);
        Ok(())
    }

    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Adds a warning to the run's report (once).
    pub fn warn(&mut self, w: String) {
        if !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }

    /// Whether every iteration was done or no method is left running.
    pub fn is_done(&self) -> bool {
        self.iter >= self.config.iters || !self.runs.iter().any(MethodRun::is_running)
    }

    fn update(&self) -> TrainUpdate {
        TrainUpdate {
            iter: self.iter,
            iters: self.config.iters,
            elapsed_s: self.started.elapsed().as_secs_f64(),
            ..TrainUpdate::default()
        }
    }

    /// Evaluates every running method's model now (iteration `self.iter`).
    pub fn evaluate(&mut self) -> TrainUpdate {
        self.sync_device_models();
        let mut up = self.update();
        for (i, run) in self.runs.iter_mut().enumerate() {
            if !run.is_running() && !run.evals.is_empty() {
                continue;
            }
            let e = match self.data.evaluate(&run.model, &self.config.solver) {
                Ok(e) => EvalRecord {
                    iter: self.iter,
                    loss: e.loss,
                    accuracy: e.accuracy,
                    train_accuracy: e.train_accuracy,
                },
                Err(err) => {
                    let w = format!("{}: evaluation failed: {err}", run.method);
                    if !self.warnings.contains(&w) {
                        self.warnings.push(w);
                    }
                    EvalRecord {
                        iter: self.iter,
                        loss: f64::NAN,
                        accuracy: None,
                        train_accuracy: None,
                    }
                }
            };
            run.push_eval(e.clone());
            up.evals.push((i, e));
            if self.predict_grid > 0
                && let Ok(p) = self
                    .data
                    .predict(&run.model, &self.config.solver, self.predict_grid)
            {
                up.models.push((i, run.model.clone(), p));
            }
        }
        up
    }

    /// One iteration of every running method (and the evaluation when it is due).
    pub fn step(&mut self) -> TrainUpdate {
        if self.is_done() {
            return self.update();
        }
        if self.iter == 0 && self.runs.iter().all(|r| r.evals.is_empty()) {
            // The starting point of every evaluation curve.
            let first = self.evaluate();
            let mut up = self.step_inner();
            let mut all = first;
            all.merge(std::mem::take(&mut up));
            return all;
        }
        self.step_inner()
    }

    fn step_inner(&mut self) -> TrainUpdate {
        let items = self.data.draw_batch(&mut self.batch_rng, self.config.batch);
        self.iter += 1;
        let iter = self.iter;
        let check =
            self.config.grad_check_every > 0 && iter.is_multiple_of(self.config.grad_check_every);
        let cfg = &self.config;
        let data = &self.data;
        if let Some(gpu) = &mut self.gpu {
            let mut up = TrainUpdate {
                iter: self.iter,
                iters: cfg.iters,
                elapsed_s: self.started.elapsed().as_secs_f64(),
                ..TrainUpdate::default()
            };
            for (i, run) in self.runs.iter_mut().enumerate() {
                if !run.is_running() {
                    continue;
                }
                if let Some(st) = train_one_device(gpu, i, run, &items, iter) {
                    up.status.push((i, st));
                } else if let Some(r) = run.records.last() {
                    up.records.push((i, r.clone()));
                }
            }
            return self.after_iteration(up);
        }
        let concurrent = cfg.concurrent && self.runs.iter().filter(|r| r.is_running()).count() > 1;
        let results: Vec<(usize, Option<GradCheck>, Option<MethodStatus>)> = if concurrent {
            std::thread::scope(|s| {
                let handles: Vec<_> = self
                    .runs
                    .iter_mut()
                    .enumerate()
                    .filter(|(_, r)| r.is_running())
                    .map(|(i, run)| {
                        let items = &items;
                        s.spawn(move || {
                            let (c, st) = train_one(run, data, cfg, items, iter, check, false);
                            (i, c, st)
                        })
                    })
                    .collect();
                handles.into_iter().filter_map(|h| h.join().ok()).collect()
            })
        } else {
            self.runs
                .iter_mut()
                .enumerate()
                .filter(|(_, r)| r.is_running())
                .map(|(i, run)| {
                    let (c, st) = train_one(run, data, cfg, &items, iter, check, true);
                    (i, c, st)
                })
                .collect()
        };
        let notes: Vec<String> = self
            .runs
            .iter_mut()
            .flat_map(|r| std::mem::take(&mut r.notes))
            .collect();
        for w in notes {
            self.warn(w);
        }
        let mut up = self.update();
        for (i, check, status) in results {
            if let Some(r) = self.runs[i].records.last()
                && r.iter == iter
            {
                up.records.push((i, r.clone()));
            }
            if let Some(c) = check {
                up.checks.push((i, c));
            }
            if let Some(st) = status {
                up.status.push((i, st));
            }
        }
        self.after_iteration(up)
    }

    /// The evaluation when it is due, and the end of the run after the last iteration.
    fn after_iteration(&mut self, mut up: TrainUpdate) -> TrainUpdate {
        let iter = self.iter;
        let cfg = &self.config;
        let due = (cfg.eval_every > 0 && iter.is_multiple_of(cfg.eval_every)) || iter == cfg.iters;
        if due {
            let ev = self.evaluate();
            up.evals.extend(ev.evals);
            up.models.extend(ev.models);
        }
        if iter == self.config.iters {
            for (i, run) in self.runs.iter_mut().enumerate() {
                if run.is_running() {
                    run.status = MethodStatus::Finished;
                    up.status.push((i, run.status.clone()));
                }
            }
        }
        up
    }

    /// Ends the run (early when `iter < iters`: running methods become `stopped`) and
    /// summarises it.
    pub fn finish(&mut self) -> TrainReport {
        let early = self.iter < self.config.iters;
        if early && self.iter > 0 {
            let needs_eval = self
                .runs
                .iter()
                .any(|r| r.is_running() && r.evals.last().is_none_or(|e| e.iter != self.iter));
            if needs_eval {
                self.evaluate();
            }
        }
        self.sync_device_models();
        for run in &mut self.runs {
            if run.is_running() {
                run.status = if early {
                    MethodStatus::Stopped
                } else {
                    MethodStatus::Finished
                };
            }
        }
        self.report()
    }

    /// The report of the run so far.
    pub fn report(&self) -> TrainReport {
        TrainReport {
            task: self.config.task.name(),
            device: if self.gpu.is_some() { "gpu" } else { "cpu" },
            adapter: self.adapter(),
            precision: match self.config.precision {
                _ if self.gpu.is_some() => "f32",
                Precision::F64 => "f64",
                Precision::F32 => "f32",
            },
            seed: self.config.seed,
            iters: self.config.iters,
            iters_done: self.iter,
            batch: self.config.batch.min(self.data.pool()),
            optimizer: self.config.optimizer.kind.name(),
            lr: self.config.optimizer.lr,
            sizes: self
                .runs
                .first()
                .map_or_else(Vec::new, |r| r.model.mlp.sizes.clone()),
            n_params: self.runs.first().map_or(0, |r| r.model.n_params()),
            stopped_by: None,
            // The GPU path submits the methods one after another: their times never overlap.
            concurrent: self.config.concurrent && self.gpu.is_none(),
            methods: self
                .runs
                .iter()
                .map(|r| {
                    MethodReport::new(
                        r.method,
                        &r.status,
                        &r.records,
                        &r.evals,
                        &r.checks,
                        Some(&r.totals),
                    )
                })
                .collect(),
            warnings: self.warnings.clone(),
        }
    }

    /// Runs to the end (or until `control` stops it), passing every update to `sink`.
    pub fn run(
        &mut self,
        control: &TrainControl,
        mut sink: impl FnMut(TrainUpdate),
    ) -> TrainReport {
        while !self.is_done() {
            if !control.wait_turn() {
                break;
            }
            sink(self.step());
        }
        self.finish()
    }
}

/// The run's starting model from a saved one (`--init`, `weights`): `given`'s network, which
/// must have the shape of the seeded `seeded`, and its read-out (a model without one keeps the
/// seeded read-out of a classifier).
fn fit_initial(seeded: &Model, given: Model) -> Result<Model, String> {
    let shape = |m: &Model| {
        let mlp = &m.mlp;
        format!(
            "layers {:?}, {}, input map {}, time input {}",
            mlp.sizes,
            mlp.activation.name(),
            mlp.input_map.name(),
            mlp.time_input
        )
    };
    let (want, got) = (shape(seeded), shape(&given));
    if want != got {
        return Err(format!(
            "the model ({got}) does not fit this run's network ({want})"
        ));
    }
    let readout = match (given.readout, &seeded.readout) {
        (Some(r), Some(own)) => {
            let width = |r: &grad::Readout| r.weight.first().map_or(0, Vec::len);
            if r.n_classes() != own.n_classes() || width(&r) != width(own) {
                return Err("the model's read-out does not fit this task".into());
            }
            Some(r)
        }
        (None, own) => own.clone(),
        (Some(_), None) => {
            return Err("the model has a classifier read-out; this task has none".into());
        }
    };
    Ok(Model {
        mlp: given.mlp,
        readout,
    })
}

/// Options of the gradient methods for training (threads per gradient: the configured
/// `grad_options.threads`, 1 by default; the run's precision: on the CPU the gradient is
/// computed in it, the weights and the optimiser stay f64).
fn grad_options(cfg: &TrainConfig) -> GradOptions {
    GradOptions {
        threads: cfg.grad_options.threads.max(1),
        precision: cfg.precision,
        ..cfg.grad_options.clone()
    }
}

/// One method's iteration: gradient, checks, update. Returns the gradient check and a new
/// status when the method stopped.
fn train_one(
    run: &mut MethodRun,
    data: &TaskData,
    cfg: &TrainConfig,
    items: &[usize],
    iter: usize,
    check: bool,
    measure_heap: bool,
) -> (Option<GradCheck>, Option<MethodStatus>) {
    let problem = data.batch_problem(items, &run.model, &cfg.solver);
    let opts = grad_options(cfg);
    let start = Instant::now();
    let (out, peak) = if measure_heap {
        crate::mem::peak_during(|| grad::compute(&problem, run.method, &opts))
    } else {
        (grad::compute(&problem, run.method, &opts), 0)
    };
    let grad_ms = start.elapsed().as_secs_f64() * 1e3;
    let mut stop = |reason: String| {
        run.status = MethodStatus::Diverged { iter, reason };
        Some(run.status.clone())
    };
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            // A solve that met a non-finite value or a collapsing step blew up with the
            // weights: diverged. The step limit, the memory budget or a thread that could
            // not start are failures of the computation, not of the training.
            let reason = e.to_string();
            let blew_up = ["not finite", "non-finite", "step size underflow"]
                .iter()
                .any(|k| reason.contains(k));
            run.status = if blew_up {
                MethodStatus::Diverged { iter, reason }
            } else {
                MethodStatus::Failed { iter, reason }
            };
            return (None, Some(run.status.clone()));
        }
    };
    for w in &out.warnings {
        if !run.notes.contains(w) {
            run.notes.push(w.clone());
        }
    }
    if !out.loss.is_finite() {
        return (None, stop(format!("the loss is not finite ({})", out.loss)));
    }
    let mut g = out.grad.clone();
    if let Some(rg) = &out.readout_grad {
        g.extend(rg);
    }
    if let Some(i) = g.iter().position(|v| !v.is_finite()) {
        return (
            None,
            stop(format!("the gradient is not finite (parameter {i})")),
        );
    }
    let checked = if check {
        reference_error(&problem, &out.grad).map(|err| GradCheck { iter, err })
    } else {
        None
    };
    let update_start = Instant::now();
    let mut params = run.model.flat();
    optim::step(
        &cfg.optimizer_for(run.method),
        &mut run.optimizer,
        &mut params,
        &g,
    );
    let update_ms = update_start.elapsed().as_secs_f64() * 1e3;
    if let Some(i) = params.iter().position(|v| !v.is_finite()) {
        return (
            checked,
            stop(format!(
                "the update made parameter {i} non-finite (weights kept)"
            )),
        );
    }
    run.model.set_flat(&params);
    let ms = grad_ms + update_ms;
    run.wall_s += ms * 1e-3;
    run.push_record(IterRecord {
        iter,
        loss: out.loss,
        grad_ms,
        ms,
        wall_s: run.wall_s,
        nfe_forward: out.nfe_forward,
        nfe_backward: out.nfe_backward,
        steps_accepted: out.steps_accepted,
        steps_rejected: out.steps_rejected,
        stored_bytes: out.stored_bytes,
        peak_heap_bytes: peak,
    });
    if let Some(c) = &checked {
        run.push_check(c.clone());
    }
    (checked, None)
}

/// One method's iteration on the device: the batch gathered by index, the gradient, reduction and
/// optimiser kernels in one submission, the summary read back. Returns a new status when the
/// method stopped (a refused step leaves the device weights as they were).
fn train_one_device(
    gpu: &mut GpuTrainer,
    i: usize,
    run: &mut MethodRun,
    items: &[usize],
    iter: usize,
) -> Option<MethodStatus> {
    let mut stop = |reason: String| {
        run.status = MethodStatus::Diverged { iter, reason };
        Some(run.status.clone())
    };
    let step = match gpu.step(i, items) {
        Ok(step) => step,
        Err(reason) => {
            run.status = MethodStatus::Failed { iter, reason };
            return Some(run.status.clone());
        }
    };
    if let Some(reason) = step.summary.outcome.reason() {
        return stop(reason);
    }
    run.wall_s += step.ms * 1e-3;
    run.push_record(IterRecord {
        iter,
        loss: f64::from(step.summary.loss),
        grad_ms: step.ms,
        ms: step.ms,
        wall_s: run.wall_s,
        nfe_forward: step.nfe_forward,
        nfe_backward: step.nfe_backward,
        steps_accepted: step.summary.accepted as usize,
        steps_rejected: step.summary.rejected as usize,
        stored_bytes: step.device_bytes as usize,
        peak_heap_bytes: 0,
    });
    None
}

/// Relative error of `grad` against the reference gradient on the same weights and batch:
/// backprop through a dopri5 solve at rtol = atol = 1e-12.
fn reference_error(problem: &GradProblem, grad: &[f64]) -> Option<f64> {
    let mut tight = problem.clone();
    tight.solver = grad::reference::tight_solver();
    let r = grad::compute(&tight, GradMethod::Backprop, &GradOptions::default()).ok()?;
    Some(grad::rel_l2(grad, &r.grad))
}
