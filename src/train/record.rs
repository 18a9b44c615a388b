//! What a training run measures: one [`IterRecord`] per method and iteration, evaluations,
//! gradient checks, and the summary of each method ([`MethodReport`]) and of the run
//! ([`TrainReport`], `nodelab train --json`).

use serde::Serialize;

use crate::grad::GradMethod;

/// One method's iteration.
#[derive(Clone, Debug, PartialEq, Serialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalRecord {
    pub iter: usize,
    pub loss: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_accuracy: Option<f64>,
}

/// A gradient compared with the reference on the same weights and batch.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GradCheck {
    pub iter: usize,
    /// `|g − g_ref| / |g_ref|` over the network's parameters.
    pub err: f64,
}

/// Where a method stands.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MethodStatus {
    Running,
    /// Trained every iteration asked for.
    Finished,
    /// Stopped alone at `iter` (non-finite loss or gradient, a failed solve, …).
    Diverged {
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
            MethodStatus::Stopped => "stopped",
        }
    }

    pub fn reason(&self) -> Option<String> {
        match self {
            MethodStatus::Diverged { iter, reason } => Some(format!("iteration {iter}: {reason}")),
            _ => None,
        }
    }
}

/// A point of a curve in the JSON report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CurvePoint {
    pub iter: usize,
    pub loss: f64,
    pub ms: f64,
}

/// One method's summary (`nodelab train --json`, `methods[]`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MethodReport {
    pub method: GradMethod,
    pub status: &'static str,
    pub reason: Option<String>,
    pub final_loss: Option<f64>,
    pub eval: Vec<EvalRecord>,
    pub curve: Vec<CurvePoint>,
    pub mean_ms_per_iter: f64,
    pub median_ms_per_iter: f64,
    pub nfe_forward: u64,
    pub nfe_backward: u64,
    pub peak_heap_bytes: usize,
    pub stored_bytes: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grad_err: Vec<GradCheck>,
}

impl MethodReport {
    /// Summarises a method's records.
    pub fn new(
        method: GradMethod,
        status: &MethodStatus,
        records: &[IterRecord],
        evals: &[EvalRecord],
        checks: &[GradCheck],
    ) -> Self {
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
            final_loss: records.last().map(|r| r.loss),
            eval: evals.to_vec(),
            curve: records
                .iter()
                .map(|r| CurvePoint {
                    iter: r.iter,
                    loss: r.loss,
                    ms: r.ms,
                })
                .collect(),
            mean_ms_per_iter: if ms.is_empty() {
                0.0
            } else {
                ms.iter().sum::<f64>() / ms.len() as f64
            },
            median_ms_per_iter: median,
            nfe_forward: records.iter().map(|r| r.nfe_forward).sum(),
            nfe_backward: records.iter().map(|r| r.nfe_backward).sum(),
            peak_heap_bytes: records.iter().map(|r| r.peak_heap_bytes).max().unwrap_or(0),
            stored_bytes: records.iter().map(|r| r.stored_bytes).max().unwrap_or(0),
            grad_err: checks.to_vec(),
        }
    }

    /// The best evaluation loss and its accuracy.
    pub fn best_eval(&self) -> Option<&EvalRecord> {
        self.eval
            .iter()
            .filter(|e| e.loss.is_finite())
            .min_by(|a, b| a.loss.total_cmp(&b.loss))
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
