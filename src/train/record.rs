//! What a training run measures: one [`IterRecord`] per method and iteration, evaluations,
//! gradient checks, and the summary of each method ([`MethodReport`]) and of the run
//! ([`TrainReport`], `nodelab train --json`).

use serde::{Deserialize, Deserializer, Serialize};

use crate::grad::GradMethod;

/// Reads a number that JSON wrote as `null` (serde_json writes NaN so) back as NaN.
pub fn nan_if_null<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// One method's iteration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IterRecord {
    /// 1-based iteration.
    pub iter: usize,
    /// The batch loss at the weights before the update.
    pub loss: f64,
    /// Wall time of the gradient alone, ms.
    pub grad_ms: f64,
    /// Wall time of the whole iteration (gradient and update), ms.
    pub ms: f64,
    /// This method's cumulative training wall time, s (evaluations excluded).
    pub wall_s: f64,
    /// f-evaluations of the batched field (one covers every item of the batch), CPU and GPU
    /// alike.
    pub nfe_forward: u64,
    pub nfe_backward: u64,
    pub steps_accepted: usize,
    pub steps_rejected: usize,
    pub stored_bytes: usize,
    /// Heap high-water mark of the gradient above its start, bytes (lockstep runs in the
    /// `nodelab` binary; 0 when not measured).
    pub peak_heap_bytes: usize,
}

/// One evaluation of a method's model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    pub iter: usize,
    #[serde(deserialize_with = "nan_if_null")]
    pub loss: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_accuracy: Option<f64>,
}

/// A gradient compared with the reference on the same weights and batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GradCheck {
    pub iter: usize,
    /// `|g − g_ref| / |g_ref|` over the network's parameters.
    #[serde(deserialize_with = "nan_if_null")]
    pub err: f64,
}

/// Where a method stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MethodStatus {
    Running,
    /// Trained every iteration asked for.
    Finished,
    /// Stopped alone at `iter`: the loss, the gradient or the update was not finite, or the
    /// solve met a non-finite value or a collapsing step size (it blew up with the weights).
    Diverged {
        iter: usize,
        reason: String,
    },
    /// Stopped alone at `iter`: the gradient could not be computed (the solve's step limit or
    /// memory budget, a thread that could not start).
    Failed {
        iter: usize,
        reason: String,
    },
    /// The run was stopped before the end.
    Stopped,
}

impl MethodStatus {
    pub fn name(&self) -> &'static str {
        match self {
            MethodStatus::Running => "running",
            MethodStatus::Finished => "finished",
            MethodStatus::Diverged { .. } => "diverged",
            MethodStatus::Failed { .. } => "failed",
            MethodStatus::Stopped => "stopped",
        }
    }

    pub fn reason(&self) -> Option<String> {
        match self {
            MethodStatus::Diverged { iter, reason } | MethodStatus::Failed { iter, reason } => {
                Some(format!("iteration {iter}: {reason}"))
            }
            _ => None,
        }
    }
}

/// A point of a curve in the JSON report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub iter: usize,
    #[serde(deserialize_with = "nan_if_null")]
    pub loss: f64,
    pub ms: f64,
    /// The method's cumulative training wall time at this iteration, s.
    #[serde(default)]
    pub wall_s: f64,
}

/// One method's summary (`nodelab train --json`, `methods[]`). The curve, evaluations and
/// checks are those kept in memory (thinned past [`super::history::KEEP`] items; the whole
/// curve is in `--csv` and a run directory's `curve.csv`); the sums and the best and final
/// evaluations cover every iteration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MethodReport {
    pub method: GradMethod,
    pub status: &'static str,
    pub reason: Option<String>,
    /// Iterations this method trained.
    pub iters_done: u64,
    pub final_loss: Option<f64>,
    /// The last evaluation (the final model's loss and accuracy).
    pub final_eval: Option<EvalRecord>,
    /// The evaluation with the lowest loss.
    pub best_eval: Option<EvalRecord>,
    /// The evaluation with the highest accuracy (classification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_accuracy: Option<EvalRecord>,
    pub eval: Vec<EvalRecord>,
    pub curve: Vec<CurvePoint>,
    pub mean_ms_per_iter: f64,
    /// Median over the iterations kept in memory.
    pub median_ms_per_iter: f64,
    /// Training wall time of this method, s (evaluations excluded).
    pub wall_s: f64,
    pub nfe_forward: u64,
    pub nfe_backward: u64,
    pub peak_heap_bytes: usize,
    pub stored_bytes: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grad_err: Vec<GradCheck>,
}

impl MethodReport {
    /// Summarises a method's records; `totals` covers every iteration when the lists were
    /// thinned (None: the lists are complete).
    pub fn new(
        method: GradMethod,
        status: &MethodStatus,
        records: &[IterRecord],
        evals: &[EvalRecord],
        checks: &[GradCheck],
        totals: Option<&Totals>,
    ) -> Self {
        let own;
        let t = match totals {
            Some(t) => t,
            None => {
                own = Totals::of(records, evals);
                &own
            }
        };
        let mut ms: Vec<f64> = records.iter().map(|r| r.ms).collect();
        ms.sort_by(f64::total_cmp);
        let median = match ms.len() {
            0 => 0.0,
            n if n % 2 == 1 => ms[n / 2],
            n => 0.5 * (ms[n / 2 - 1] + ms[n / 2]),
        };
        Self {
            method,
            status: status.name(),
            reason: status.reason(),
            iters_done: t.iters,
            final_loss: t.last.as_ref().map(|r| r.loss),
            final_eval: t.last_eval.clone(),
            best_eval: t.best_eval.clone(),
            best_accuracy: t.best_accuracy.clone(),
            eval: evals.to_vec(),
            curve: records
                .iter()
                .map(|r| CurvePoint {
                    iter: r.iter,
                    loss: r.loss,
                    ms: r.ms,
                    wall_s: r.wall_s,
                })
                .collect(),
            mean_ms_per_iter: if t.iters == 0 {
                0.0
            } else {
                t.sum_ms / t.iters as f64
            },
            median_ms_per_iter: median,
            wall_s: t.last.as_ref().map_or(0.0, |r| r.wall_s),
            nfe_forward: t.nfe_forward,
            nfe_backward: t.nfe_backward,
            peak_heap_bytes: t.peak_heap_bytes,
            stored_bytes: t.stored_bytes,
            grad_err: checks.to_vec(),
        }
    }

    /// The best evaluation loss and its accuracy.
    pub fn best_eval(&self) -> Option<&EvalRecord> {
        self.best_eval.as_ref()
    }
}

/// A whole run (`nodelab train --json`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrainReport {
    pub task: &'static str,
    pub device: &'static str,
    pub adapter: Option<String>,
    pub precision: &'static str,
    pub seed: u64,
    pub iters: usize,
    /// Iterations every running method completed.
    pub iters_done: usize,
    /// Items per iteration actually drawn (the asked batch clamped to the training set).
    pub batch: usize,
    pub optimizer: &'static str,
    pub lr: f64,
    /// The network's layer widths, input to output, and its parameter count (read-out included).
    pub sizes: Vec<usize>,
    pub n_params: usize,
    /// Why the run ended before `iters` (e.g. `SIGINT`), when it was stopped from outside.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<String>,
    /// Whether the methods' times overlapped (`--concurrent`).
    pub concurrent: bool,
    pub methods: Vec<MethodReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The CSV header of `nodelab train --csv` (one row per method and iteration).
pub const CSV_HEADER: &str = "method,iter,loss,grad_ms,ms,wall_s,nfe_forward,nfe_backward,\
steps_accepted,steps_rejected,stored_bytes,peak_heap_bytes,eval_loss,accuracy,train_accuracy,grad_err";

/// One CSV row; the evaluation and the gradient check of that iteration when there were any.
pub fn csv_row(
    method: GradMethod,
    r: &IterRecord,
    eval: Option<&EvalRecord>,
    check: Option<&GradCheck>,
) -> String {
    let opt = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x:e}"));
    format!(
        "{},{},{:e},{:.6},{:.6},{:.6},{},{},{},{},{},{},{},{},{},{}",
        method.name(),
        r.iter,
        r.loss,
        r.grad_ms,
        r.ms,
        r.wall_s,
        r.nfe_forward,
        r.nfe_backward,
        r.steps_accepted,
        r.steps_rejected,
        r.stored_bytes,
        r.peak_heap_bytes,
        opt(eval.map(|e| e.loss)),
        opt(eval.and_then(|e| e.accuracy)),
        opt(eval.and_then(|e| e.train_accuracy)),
        opt(check.map(|c| c.err)),
    )
}

/// The whole CSV: every method's iterations, with the evaluation and the gradient check of an
/// iteration when there were any (`nodelab train --csv` and the app's export).
pub fn csv<'a>(
    methods: impl Iterator<
        Item = (
            GradMethod,
            &'a [IterRecord],
            &'a [EvalRecord],
            &'a [GradCheck],
        ),
    >,
) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for (method, records, evals, checks) in methods {
        for r in records {
            let eval = evals.iter().find(|e| e.iter == r.iter);
            let check = checks.iter().find(|c| c.iter == r.iter);
            out.push_str(&csv_row(method, r, eval, check));
            out.push('\n');
        }
    }
    out
}

/// Sums over every iteration and evaluation of a method (not only the kept ones).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Iterations recorded.
    pub iters: u64,
    /// Sum of the iterations' wall times, ms.
    pub sum_ms: f64,
    pub nfe_forward: u64,
    pub nfe_backward: u64,
    pub peak_heap_bytes: usize,
    pub stored_bytes: usize,
    /// The newest iteration.
    pub last: Option<IterRecord>,
    /// The evaluation with the lowest finite loss.
    pub best_eval: Option<EvalRecord>,
    /// The newest evaluation.
    pub last_eval: Option<EvalRecord>,
    /// The evaluation with the highest accuracy (classification).
    #[serde(default)]
    pub best_accuracy: Option<EvalRecord>,
}

impl Totals {
    pub fn add_iter(&mut self, r: &IterRecord) {
        self.iters += 1;
        self.sum_ms += r.ms;
        self.nfe_forward += r.nfe_forward;
        self.nfe_backward += r.nfe_backward;
        self.peak_heap_bytes = self.peak_heap_bytes.max(r.peak_heap_bytes);
        self.stored_bytes = self.stored_bytes.max(r.stored_bytes);
        self.last = Some(r.clone());
    }

    pub fn add_eval(&mut self, e: &EvalRecord) {
        let better = e.loss.is_finite()
            && self
                .best_eval
                .as_ref()
                .is_none_or(|b| e.loss < b.loss || !b.loss.is_finite());
        if better {
            self.best_eval = Some(e.clone());
        }
        if let Some(a) = e.accuracy
            && self
                .best_accuracy
                .as_ref()
                .and_then(|b| b.accuracy)
                .is_none_or(|b| a > b)
        {
            self.best_accuracy = Some(e.clone());
        }
        self.last_eval = Some(e.clone());
    }

    /// Totals of a complete list of records (a history that was never thinned).
    pub fn of(records: &[IterRecord], evals: &[EvalRecord]) -> Self {
        let mut t = Self::default();
        records.iter().for_each(|r| t.add_iter(r));
        evals.iter().for_each(|e| t.add_eval(e));
        t
    }
}
