//! `afge-classification` (afge-zero-cost-rk4 §5.1): the paper trains an ODE-block classifier on
//! MNIST for 10 epochs with AFGE (forward sensitivities, no backward pass) and with the
//! standard neural ODE of Chen et al. (the adjoint), and reports the peak test accuracy
//! (99.41 % vs 99.32 %) and the mean training time per epoch (67.38 s vs 76.65 s, the latter
//! without an anomalous epoch 6; 106.65 s with it).
//!
//! Ours, on the 8×8 digits instead of MNIST (nothing may be downloaded; the `digits` task,
//! `presets/train-digits.toml`): PCA to d dimensions fitted on the training split, an MLP ODE
//! block (d-H-d tanh) solved by fixed-step RK4 (10 steps on [0, 1]), a linear read-out to 10
//! classes, cross-entropy, Adam. `afge`, `backprop` and `adjoint` each train their own copy of
//! the same initial weights on the same seeded batches (an epoch: ⌈n_train / batch⌉ batches),
//! evaluated on the held-out images after every epoch.
//!
//! What to expect from the mathematics: with a fixed-step solver `afge` propagates the exact
//! derivative of the discrete forward map (RK methods commute with linearisation), so its
//! gradient equals `backprop`'s to rounding and the accuracy curves coincide; but the forward
//! sensitivity S = dy/dθ has D·|θ| entries per sample, so each step costs about |θ| / D times a
//! state step, against a backward pass of a few state steps for backprop and the adjoint.

use serde_json::json;

use super::plot::{Plot, PlotKind, color};
use super::result::{Check, ExperimentResult, Table, Verdict};
use super::training;
use super::{Control, ControlKind, ExperimentError, RunContext, Settings};
use crate::grad::GradMethod;
use crate::train::Trainer;

pub(crate) const PRESET: &str = "presets/train-digits.toml";

/// The paper's MNIST numbers: (method, peak test accuracy %, mean seconds per epoch).
pub const PAPER: [(GradMethod, f64, f64); 2] = [
    (GradMethod::Afge, 99.41, 67.38),
    (GradMethod::Adjoint, 99.32, 76.65),
];

/// The methods compared, in the order they train.
pub const METHODS: [GradMethod; 3] = [GradMethod::Afge, GradMethod::Backprop, GradMethod::Adjoint];

pub(crate) const CONTROLS: &[Control] = &[
    Control {
        key: "epochs",
        label: "epochs",
        help: "passes over the training images per method (the paper: 10)",
        kind: ControlKind::Integer {
            min: 1,
            max: 200,
            quick: 3,
            full: 10,
        },
    },
    Control {
        key: "hidden",
        label: "hidden width H",
        help: "width of the ODE block's hidden layer (d-H-d tanh)",
        kind: ControlKind::Integer {
            min: 1,
            max: 256,
            quick: 16,
            full: 32,
        },
    },
    Control {
        key: "features",
        label: "encoder dimension d",
        help: "PCA components of the 64 pixels: the ODE state's dimension",
        kind: ControlKind::Integer {
            min: 2,
            max: 64,
            quick: 8,
            full: 8,
        },
    },
];

/// One method's training, epoch by epoch.
#[derive(Clone, Debug)]
pub struct MethodCurve {
    pub method: GradMethod,
    /// Test accuracy (fraction) after epoch e = 0 (the initial model), 1, … .
    pub accuracy: Vec<f64>,
    pub train_accuracy: Vec<f64>,
    /// Training seconds of epoch e = 1, 2, … (gradients and updates, evaluations excluded).
    pub seconds: Vec<f64>,
    /// Largest bytes kept for the gradient in an iteration.
    pub stored_bytes: usize,
}

impl MethodCurve {
    pub fn best_accuracy(&self) -> f64 {
        self.accuracy.iter().copied().fold(f64::NAN, f64::max)
    }

    pub fn final_accuracy(&self) -> f64 {
        self.accuracy.last().copied().unwrap_or(f64::NAN)
    }

    pub fn mean_seconds(&self) -> f64 {
        self.seconds.iter().sum::<f64>() / self.seconds.len().max(1) as f64
    }
}

/// Trains `method` for `epochs` epochs of `per_epoch` iterations, evaluating after each.
fn train_method(
    mut config: crate::train::TrainConfig,
    method: GradMethod,
    per_epoch: usize,
    ctx: &RunContext,
    done_before: u64,
    total: u64,
) -> Result<MethodCurve, ExperimentError> {
    config.methods = vec![method];
    config.eval_every = per_epoch;
    let iters = config.iters;
    let mut trainer = Trainer::new(config).map_err(ExperimentError::Failed)?;
    let mut wall_at_epoch = vec![0.0];
    let mut evals = Vec::new();
    let mut stored = 0;
    while !trainer.is_done() {
        ctx.check()?;
        let up = trainer.step();
        for (_, r) in &up.records {
            stored = stored.max(r.stored_bytes);
            if r.iter % per_epoch == 0 {
                wall_at_epoch.push(r.wall_s);
            }
        }
        evals.extend(up.evals.into_iter().map(|(_, e)| e));
        ctx.report(method.name(), done_before + trainer.iter() as u64, total);
    }
    if trainer.iter() < iters {
        let status = trainer.runs().first().map(|r| format!("{:?}", r.status));
        return Err(ExperimentError::Failed(format!(
            "{method} stopped after {} of {iters} iterations ({})",
            trainer.iter(),
            status.unwrap_or_default()
        )));
    }
    Ok(MethodCurve {
        method,
        accuracy: evals.iter().filter_map(|e| e.accuracy).collect(),
        train_accuracy: evals.iter().filter_map(|e| e.train_accuracy).collect(),
        seconds: wall_at_epoch.windows(2).map(|w| w[1] - w[0]).collect(),
        stored_bytes: stored,
    })
}

pub fn run(s: &Settings, ctx: &RunContext) -> Result<ExperimentResult, ExperimentError> {
    let mut config = training::load(PRESET)?;
    let epochs = s.int("epochs").max(1);
    config.model.hidden = vec![s.int("hidden").max(1)];
    config.data.features = s.int("features").clamp(2, 64);
    let n_test = ((config.data.points as f64) * config.data.test_fraction).round() as usize;
    let n_train = config.data.points - n_test;
    let per_epoch = n_train.div_ceil(config.batch.max(1));
    config.iters = epochs * per_epoch;
    let total = (METHODS.len() * config.iters) as u64;
    let mut curves = Vec::new();
    for (i, &m) in METHODS.iter().enumerate() {
        let done = (i * config.iters) as u64;
        curves.push(train_method(
            config.clone(),
            m,
            per_epoch,
            ctx,
            done,
            total,
        )?);
    }
    let n_params = {
        let d = config.data.features + config.data.augment;
        let h = config.model.hidden[0];
        (d * h + h) + (h * d + d)
    };
    Ok(result(
        &curves,
        epochs,
        per_epoch,
        n_params,
        config.data.features,
    ))
}

fn result(
    curves: &[MethodCurve],
    epochs: usize,
    per_epoch: usize,
    n_params: usize,
    features: usize,
) -> ExperimentResult {
    let get = |m: GradMethod| curves.iter().find(|c| c.method == m);
    let adjoint_s = get(GradMethod::Adjoint).map_or(f64::NAN, MethodCurve::mean_seconds);
    let paper_ratio = PAPER[0].2 / PAPER[1].2;
    let (summary_table, epoch_table) = tables(curves, adjoint_s);
    let mut checks = Vec::new();
    let mut summary = format!(
        "Paper (MNIST, 10 epochs): AFGE peaks at 99.41 % vs 99.32 % for the standard (adjoint) \
         neural ODE, {:.2} s vs {:.2} s per epoch (AFGE ×{paper_ratio:.2}). Ours (8×8 digits, \
         PCA to {features}, {n_params} ODE parameters, {epochs} epochs of {per_epoch} batches, \
         fixed-step RK4): ",
        PAPER[0].2, PAPER[1].2
    );
    if let (Some(afge), Some(bp), Some(adj)) = (
        get(GradMethod::Afge),
        get(GradMethod::Backprop),
        get(GradMethod::Adjoint),
    ) {
        let gap = 100.0 * (afge.best_accuracy() - adj.best_accuracy());
        checks.push(Check {
            statement: "AFGE reaches the standard neural ODE's (adjoint's) accuracy: best test \
                        accuracy no more than 1 point below"
                .into(),
            holds: gap >= -1.0,
            measured: format!(
                "{:.2} % vs {:.2} % ({gap:+.2} points; paper +0.09)",
                100.0 * afge.best_accuracy(),
                100.0 * adj.best_accuracy()
            ),
        });
        let ratio_adj = afge.mean_seconds() / adj.mean_seconds();
        checks.push(Check {
            statement: "AFGE trains faster per epoch than the adjoint".into(),
            holds: ratio_adj < 1.0,
            measured: format!(
                "{:.3} s vs {:.3} s per epoch (×{ratio_adj:.2}; paper ×{paper_ratio:.2})",
                afge.mean_seconds(),
                adj.mean_seconds()
            ),
        });
        let ratio_bp = afge.mean_seconds() / bp.mean_seconds();
        checks.push(Check {
            statement: "AFGE trains faster per epoch than backprop through the solver".into(),
            holds: ratio_bp < 1.0,
            measured: format!(
                "{:.3} s vs {:.3} s per epoch (×{ratio_bp:.2})",
                afge.mean_seconds(),
                bp.mean_seconds()
            ),
        });
        summary.push_str(&format!(
            "best test accuracy afge {:.2} %, backprop {:.2} %, adjoint {:.2} %; seconds per \
             epoch afge {:.3}, backprop {:.3}, adjoint {:.3} (afge ×{ratio_adj:.2} the \
             adjoint's). AFGE's gradient equals backprop's here (fixed steps), so the accuracy \
             matches; its forward sensitivities cost about |θ|/d state steps per step, so it is \
             the slowest per epoch, not the fastest.",
            100.0 * afge.best_accuracy(),
            100.0 * bp.best_accuracy(),
            100.0 * adj.best_accuracy(),
            afge.mean_seconds(),
            bp.mean_seconds(),
            adj.mean_seconds(),
        ));
    }
    let figures = figures(curves, paper_ratio, adjoint_s);
    let objects: Vec<serde_json::Value> = curves
        .iter()
        .map(|c| {
            json!({
                "method": c.method.name(),
                "test_accuracy": c.accuracy,
                "train_accuracy": c.train_accuracy,
                "seconds_per_epoch": c.seconds,
                "best_test_accuracy": c.best_accuracy(),
                "mean_seconds_per_epoch": c.mean_seconds(),
                "stored_bytes": c.stored_bytes,
            })
        })
        .collect();
    let mut data = serde_json::Map::new();
    data.insert("methods".into(), serde_json::Value::Array(objects));
    data.insert(
        "paper".into(),
        json!({
            "dataset": "MNIST",
            "afge": {"best_test_accuracy": 0.9941, "seconds_per_epoch": PAPER[0].2},
            "adjoint": {"best_test_accuracy": 0.9932, "seconds_per_epoch": PAPER[1].2},
        }),
    );
    data.insert("iters_per_epoch".into(), json!(per_epoch));
    data.insert("ode_params".into(), json!(n_params));
    ExperimentResult {
        verdict: Some(Verdict::from_checks(summary, checks)),
        tables: vec![summary_table, epoch_table],
        figures,
        data,
        ..ExperimentResult::default()
    }
}

/// The summary (one row per method, the paper's MNIST numbers beside ours) and the per-epoch
/// table.
fn tables(curves: &[MethodCurve], adjoint_s: f64) -> (Table, Table) {
    let paper = |m: GradMethod| PAPER.iter().find(|p| p.0 == m);
    let mut summary_table = Table::new(
        "afge-classification",
        &[
            "method",
            "best_test_accuracy",
            "final_test_accuracy",
            "s_per_epoch",
            "time_vs_adjoint",
            "stored_bytes",
            "paper_best_accuracy_mnist",
            "paper_s_per_epoch_mnist",
            "paper_time_vs_adjoint",
        ],
    );
    for c in curves {
        let p = paper(c.method);
        summary_table.rows.push(vec![
            json!(c.method.name()),
            json!(100.0 * c.best_accuracy()),
            json!(100.0 * c.final_accuracy()),
            json!(c.mean_seconds()),
            json!(c.mean_seconds() / adjoint_s),
            json!(c.stored_bytes),
            p.map_or(serde_json::Value::Null, |p| json!(p.1)),
            p.map_or(serde_json::Value::Null, |p| json!(p.2)),
            p.map_or(serde_json::Value::Null, |p| json!(p.2 / PAPER[1].2)),
        ]);
    }
    let mut epoch_table = Table::new(
        "afge-classification-epochs",
        &[
            "method",
            "epoch",
            "test_accuracy",
            "train_accuracy",
            "seconds",
        ],
    );
    for c in curves {
        for e in 0..c.accuracy.len() {
            epoch_table.rows.push(vec![
                json!(c.method.name()),
                json!(e),
                json!(100.0 * c.accuracy[e]),
                c.train_accuracy
                    .get(e)
                    .map_or(serde_json::Value::Null, |a| json!(100.0 * a)),
                if e == 0 {
                    serde_json::Value::Null
                } else {
                    c.seconds
                        .get(e - 1)
                        .map_or(serde_json::Value::Null, |s| json!(s))
                },
            ]);
        }
    }
    (summary_table, epoch_table)
}

/// Test accuracy per epoch, seconds per epoch, and time relative to the adjoint beside the
/// paper's ratio.
fn figures(curves: &[MethodCurve], paper_ratio: f64, adjoint_s: f64) -> Vec<Plot> {
    // Wide to narrow, so that coinciding curves (equal gradients) all stay visible.
    let line = |k: usize| PlotKind::Line {
        width: [5, 3, 2][k % 3],
        dashed: k == 1,
    };
    let mut acc = Plot::new(
        "afge-classification-accuracy",
        "Test accuracy per epoch (ours: 8×8 digits; paper's MNIST peaks as lines)",
        "epoch",
        "test accuracy (%)",
    );
    let mut time = Plot::new(
        "afge-classification-time",
        "Training seconds per epoch",
        "epoch",
        "seconds",
    );
    time.y_log = true;
    let mut ratio = Plot::new(
        "afge-classification-time-ratio",
        "Seconds per epoch relative to the adjoint (ours per epoch; the paper's mean as a line)",
        "epoch",
        "time ÷ adjoint's",
    );
    ratio.y_log = true;
    let adj = curves.iter().find(|c| c.method == GradMethod::Adjoint);
    for (k, c) in curves.iter().enumerate() {
        acc.push(
            c.method.name(),
            color(k),
            line(k),
            c.accuracy
                .iter()
                .enumerate()
                .map(|(e, a)| [e as f64, 100.0 * a])
                .collect(),
        );
        time.push(
            c.method.name(),
            color(k),
            line(k),
            c.seconds
                .iter()
                .enumerate()
                .map(|(e, s)| [(e + 1) as f64, *s])
                .collect(),
        );
        if let Some(adj) = adj {
            ratio.push(
                c.method.name(),
                color(k),
                line(k),
                c.seconds
                    .iter()
                    .zip(&adj.seconds)
                    .enumerate()
                    .map(|(e, (s, a))| [(e + 1) as f64, s / a])
                    .collect(),
            );
        }
    }
    acc.hlines
        .push((PAPER[0].1, "paper afge peak (MNIST)".into()));
    acc.hlines
        .push((PAPER[1].1, "paper standard peak (MNIST)".into()));
    time.hlines.push((adjoint_s, "adjoint, mean (ours)".into()));
    ratio
        .hlines
        .push((paper_ratio, "paper afge ÷ standard (MNIST)".into()));
    vec![acc, time, ratio]
}
