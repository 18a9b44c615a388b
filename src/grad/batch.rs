//! Batches: which samples share one ODE state ("groups"), and running a method per group.
//!
//! `shared` stepping makes the whole batch one group: one stacked state, one step-size sequence
//! (what torchdiffeq and diffrax do with a batch). `per-sample` makes every sample its own
//! group, adapting its own steps; groups may then run on several threads.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::field::{GradFloat, StackedMlp};
use super::row_threads::with_row_threads;
use super::{GradError, GradOptions, GradOutput, GradProblem};
use crate::nn::{Mlp, Real};

/// How a batch is stepped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BatchSteps {
    #[default]
    #[serde(rename = "shared")]
    Shared,
    #[serde(rename = "per-sample")]
    PerSample,
}

impl BatchSteps {
    pub fn name(self) -> &'static str {
        match self {
            BatchSteps::Shared => "shared",
            BatchSteps::PerSample => "per-sample",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "shared" => Some(BatchSteps::Shared),
            "per-sample" => Some(BatchSteps::PerSample),
            _ => None,
        }
    }
}

/// Samples integrated as one stacked state, in the float type `T` (f64, the reference, or
/// f32): the state, θ and everything a method derives from them are `T`; the times are f64.
#[derive(Clone, Debug)]
pub struct Group<'a, T = f64> {
    pub problem: &'a GradProblem,
    pub mlp: Arc<Mlp>,
    /// θ rounded to `T` (shared by the groups).
    pub params: Arc<[T]>,
    /// Batch indices of the samples, in stacking order.
    pub samples: Vec<usize>,
    /// Stacked initial state.
    pub y0: Vec<T>,
    /// `[t0, τ_1, …, τ_K]`.
    pub ends: Vec<f64>,
}

impl<T: Real> Group<'_, T> {
    /// Stacked state dimension m = n·d.
    pub fn dim(&self) -> usize {
        self.y0.len()
    }

    pub fn n_params(&self) -> usize {
        self.mlp.n_params()
    }

    pub fn field(&self) -> StackedMlp<T> {
        StackedMlp {
            mlp: self.mlp.clone(),
            params: self.params.clone(),
            n: self.samples.len(),
            kind: self.problem.field_kind(),
        }
    }

    /// Number of observations K.
    pub fn n_obs(&self) -> usize {
        self.ends.len() - 1
    }

    /// The loss term of observation k at the stacked state `y`: its value, `∂L/∂Y` into `g`,
    /// read-out gradient added to `readout_grad`. The loss is evaluated in f64 from the state
    /// (observations only, so the conversion is cheap), `∂L/∂Y` rounded to `T`.
    pub fn loss_at(&self, k: usize, y: &[T], g: &mut [T], readout_grad: Option<&mut [f64]>) -> f64 {
        let y64: Vec<f64> = y.iter().map(|&v| v.to_f64()).collect();
        let mut g64 = vec![0.0; g.len()];
        let value = self.problem.loss.group_term(
            k,
            &self.samples,
            self.problem.y0.len(),
            &y64,
            &mut g64,
            readout_grad,
        );
        for (o, v) in g.iter_mut().zip(g64) {
            *o = T::of(v);
        }
        value
    }

    /// An output with zeroed gradients of the right lengths.
    pub fn empty_output(&self) -> GradOutput {
        let rl = self.problem.loss.readout_len();
        GradOutput {
            grad: vec![0.0; self.n_params()],
            readout_grad: (rl > 0).then(|| vec![0.0; rl]),
            ..GradOutput::default()
        }
    }
}

/// A rayon pool of `threads` threads, started once per thread count and kept for the process
/// (starting threads for every gradient would cost more than a small gradient).
fn shared_pool(threads: usize) -> Result<Arc<rayon::ThreadPool>, GradError> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let pools = POOLS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut pools = pools
        .lock()
        .map_err(|_| GradError::Invalid("the thread-pool registry is poisoned".into()))?;
    if let Some(p) = pools.get(&threads) {
        return Ok(p.clone());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| GradError::Invalid(format!("cannot start {threads} threads: {e}")))?;
    let pool = Arc::new(pool);
    pools.insert(threads, pool.clone());
    Ok(pool)
}

/// Runs `method` on every group of `p` and sums the results (f64, the reference; see
/// [`run_groups_as`]).
pub fn run_groups(
    p: &GradProblem,
    opts: &GradOptions,
    method: impl Fn(&Group<'_>) -> Result<GradOutput, GradError> + Sync,
) -> Result<GradOutput, GradError> {
    run_groups_as::<f64>(p, opts, method)
}

/// Runs `method` on every group of `p` in the float type `T` and sums the results. With
/// `opts.threads > 1`, per-sample groups run in parallel; one shared group splits its rows (the
/// batched layer products) over the threads instead.
pub fn run_groups_as<T: GradFloat>(
    p: &GradProblem,
    opts: &GradOptions,
    method: impl Fn(&Group<'_, T>) -> Result<GradOutput, GradError> + Sync,
) -> Result<GradOutput, GradError> {
    let mlp = Arc::new(p.mlp.clone());
    let params: Arc<[T]> = p.mlp.params_as::<T>().into();
    let ends = p.segment_ends();
    let groups: Vec<Vec<usize>> = match p.batch_steps {
        BatchSteps::Shared => vec![(0..p.y0.len()).collect()],
        BatchSteps::PerSample => (0..p.y0.len()).map(|b| vec![b]).collect(),
    };
    let make = |samples: &Vec<usize>| Group {
        problem: p,
        mlp: mlp.clone(),
        params: params.clone(),
        y0: samples
            .iter()
            .flat_map(|&b| p.y0[b].iter().map(|&v| T::of(v)))
            .collect(),
        samples: samples.clone(),
        ends: ends.clone(),
    };
    let parallel = opts.threads > 1 && groups.len() > 1;
    let pool = || shared_pool(opts.threads);
    let outputs: Vec<Result<GradOutput, GradError>> = if parallel {
        use rayon::prelude::*;
        pool()?.install(|| groups.par_iter().map(|s| method(&make(s))).collect())
    } else if opts.threads > 1
        && crate::nn::BatchedMlp::<f64>::blocks(groups.first().map_or(0, Vec::len), opts.threads)
            > 1
    {
        let threads = opts.threads;
        pool()?.install(|| {
            with_row_threads(threads, || {
                groups.iter().map(|s| method(&make(s))).collect()
            })
        })
    } else {
        groups.iter().map(|s| method(&make(s))).collect()
    };
    let mut total: Option<GradOutput> = None;
    for out in outputs {
        let out = out?;
        match &mut total {
            None => total = Some(out),
            Some(t) => combine(t, out, parallel),
        }
    }
    let mut total = total.ok_or_else(|| GradError::Invalid("empty batch".into()))?;
    let rows = p.y0.len();
    if opts.threads > 1 && !parallel && crate::nn::BatchedMlp::<f64>::blocks(rows, opts.threads) < 2
    {
        total.warnings.push(format!(
            "--threads {} has no effect here: a shared batch is split over threads in blocks of \
             at least {} samples, and this one has {rows}",
            opts.threads,
            crate::nn::batched::MIN_ROWS_PER_THREAD
        ));
    }
    Ok(total)
}

/// Adds a group's output to the total. Stored bytes: groups run one after another reuse their
/// memory (the largest counts); parallel groups hold theirs at once (they add up).
fn combine(total: &mut GradOutput, out: GradOutput, parallel: bool) {
    total.loss += out.loss;
    for (a, b) in total.grad.iter_mut().zip(&out.grad) {
        *a += b;
    }
    if let (Some(a), Some(b)) = (&mut total.readout_grad, &out.readout_grad) {
        for (x, y) in a.iter_mut().zip(b) {
            *x += y;
        }
    }
    total.nfe_forward += out.nfe_forward;
    total.nfe_backward += out.nfe_backward;
    total.steps_accepted += out.steps_accepted;
    total.steps_rejected += out.steps_rejected;
    total.stored_bytes = if parallel {
        total.stored_bytes + out.stored_bytes
    } else {
        total.stored_bytes.max(out.stored_bytes)
    };
    total.reconstruction_error = match (total.reconstruction_error, out.reconstruction_error) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    for w in out.warnings {
        if !total.warnings.contains(&w) {
            total.warnings.push(w);
        }
    }
}
