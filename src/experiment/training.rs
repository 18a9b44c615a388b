//! Training runs for the experiments: a training preset (looked up in the working folder, then
//! in the source tree) run on the CPU with one gradient method, iteration by iteration through
//! [`crate::train::Trainer`], cancellable between iterations.

use std::path::{Path, PathBuf};

use super::{ExperimentError, RunContext};
use crate::grad::GradMethod;
use crate::train::preset::TrainPreset;
use crate::train::record::{EvalRecord, IterRecord};
use crate::train::{Device, TrainConfig, Trainer};

/// The preset file `rel` (e.g. `presets/train-white-dwarf-ident.toml`): in the working folder,
/// else in the source tree.
pub fn preset_path(rel: &str) -> PathBuf {
    let local = Path::new(rel);
    if local.is_file() {
        local.to_path_buf()
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
    }
}

/// The training configuration of preset `rel`, on the CPU, evaluated only at the end.
pub fn load(rel: &str) -> Result<TrainConfig, ExperimentError> {
    let (mut config, _) =
        TrainPreset::load(&preset_path(rel)).map_err(|e| ExperimentError::Failed(e.to_string()))?;
    config.device = Device::Cpu;
    config.eval_every = 0;
    config.grad_check_every = 0;
    config.concurrent = false;
    Ok(config)
}

/// What one method's training produced.
#[derive(Clone, Debug)]
pub struct Trained {
    pub records: Vec<IterRecord>,
    /// The evaluations (`config.eval_every`; at least the start and the end).
    pub evals: Vec<EvalRecord>,
}

impl Trained {
    /// The batch loss of the last iteration.
    pub fn final_loss(&self) -> f64 {
        self.records.last().map_or(f64::NAN, |r| r.loss)
    }

    /// Training wall time, seconds (gradients and updates; evaluations excluded).
    pub fn wall_s(&self) -> f64 {
        self.records.last().map_or(0.0, |r| r.wall_s)
    }

    pub fn max_stored(&self) -> usize {
        self.records
            .iter()
            .map(|r| r.stored_bytes)
            .max()
            .unwrap_or(0)
    }

    pub fn max_peak(&self) -> usize {
        self.records
            .iter()
            .map(|r| r.peak_heap_bytes)
            .max()
            .unwrap_or(0)
    }
}

/// Trains `config` with `method` alone for `config.iters` iterations; `stage` names the
/// progress, which counts `done_before + iteration` of `total`.
pub fn train(
    mut config: TrainConfig,
    method: GradMethod,
    ctx: &RunContext,
    stage: &str,
    done_before: u64,
    total: u64,
) -> Result<Trained, ExperimentError> {
    config.methods = vec![method];
    let iters = config.iters;
    let mut trainer = Trainer::new(config).map_err(ExperimentError::Failed)?;
    let mut records = Vec::with_capacity(iters);
    let mut evals = Vec::new();
    while !trainer.is_done() {
        ctx.check()?;
        let update = trainer.step();
        records.extend(update.records.into_iter().map(|(_, r)| r));
        evals.extend(update.evals.into_iter().map(|(_, e)| e));
        ctx.report(stage, done_before + trainer.iter() as u64, total);
    }
    if let Some(run) = trainer.runs().first()
        && records.len() < iters
    {
        return Err(ExperimentError::Failed(format!(
            "{stage}: {method} stopped after {} of {iters} iterations ({:?})",
            records.len(),
            run.status
        )));
    }
    Ok(Trained { records, evals })
}
