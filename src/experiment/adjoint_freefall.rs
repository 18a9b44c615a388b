//! `adjoint-freefall` (adjoint-sensitivity, "Data Generation" and the training loop of its
//! Julia example): free fall with drag learned from 100 positions on [0, 5]
//! (`presets/train-freefall-fit.toml`: MLP 2-16-2 tanh, Adam 0.05, sum of squared errors,
//! dopri5 at 1e-6) with backprop and with the adjoint: loss curves, training time, the bytes
//! each keeps for its backward pass and the heap high-water mark.
//!
//! The paper prints no numbers for this example: it expects "the loss to be very small" after
//! training and states that the adjoint's memory does not grow with the steps while direct
//! differentiation stores the whole trajectory. The checks: both runs reduce the loss by the
//! same factor (within 2×), and the adjoint stores less than backprop.

use serde_json::json;

use super::plot::{Plot, PlotKind, color};
use super::result::{Check, ExperimentResult, Table, Verdict};
use super::training;
use super::{Control, ControlKind, ExperimentError, RunContext, Settings};
use crate::grad::GradMethod;

pub(crate) const PRESET: &str = "presets/train-freefall-fit.toml";

pub(crate) const CONTROLS: &[Control] = &[Control {
    key: "iters",
    label: "training iterations",
    help: "Adam iterations per method (the paper's example: 200 epochs)",
    kind: ControlKind::Integer {
        min: 2,
        max: 5000,
        quick: 60,
        full: 200,
    },
}];

pub fn run(s: &Settings, ctx: &RunContext) -> Result<ExperimentResult, ExperimentError> {
    let mut config = training::load(PRESET)?;
    config.iters = s.int("iters").max(2);
    let iters = config.iters;
    let methods = [GradMethod::Backprop, GradMethod::Adjoint];
    let total = (methods.len() * iters) as u64;
    let mut runs = Vec::new();
    for (i, m) in methods.iter().enumerate() {
        let run = training::train(config.clone(), *m, ctx, m.name(), (i * iters) as u64, total)?;
        runs.push((*m, run));
    }
    let mut table = Table::new(
        "adjoint-freefall",
        &[
            "method",
            "first_loss",
            "final_loss",
            "time_s",
            "stored_bytes",
            "peak_heap_bytes",
            "nfe_forward",
            "nfe_backward",
        ],
    );
    let mut curves = Plot::new(
        "adjoint-freefall-loss",
        "Training loss (sum of squared errors) per iteration",
        "iteration",
        "loss",
    );
    curves.y_log = true;
    for (k, (m, r)) in runs.iter().enumerate() {
        let first = r.records.first().map_or(f64::NAN, |x| x.loss);
        let last = r.records.last();
        table.rows.push(vec![
            json!(m.name()),
            json!(first),
            json!(r.final_loss()),
            json!(r.wall_s()),
            json!(r.max_stored()),
            json!(r.max_peak()),
            json!(last.map_or(0, |x| x.nfe_forward)),
            json!(last.map_or(0, |x| x.nfe_backward)),
        ]);
        curves.push(
            m.name(),
            color(k),
            PlotKind::Line {
                width: 2,
                dashed: k == 1,
            },
            r.records.iter().map(|x| [x.iter as f64, x.loss]).collect(),
        );
    }
    let (bp, adj) = (&runs[0].1, &runs[1].1);
    let reduction = |r: &training::Trained| {
        let first = r.records.first().map_or(f64::NAN, |x| x.loss);
        first / r.final_loss()
    };
    let (rb, ra) = (reduction(bp), reduction(adj));
    let ratio = (rb / ra).max(ra / rb);
    let checks = vec![
        Check {
            statement: "both methods fit the data (loss reduced at least 10×)".into(),
            holds: rb >= 10.0 && ra >= 10.0,
            measured: format!("backprop ÷{rb:.1}, adjoint ÷{ra:.1} over {iters} iterations"),
        },
        Check {
            statement: "the adjoint fits as backprop does (reductions within 2×)".into(),
            holds: ratio <= 2.0,
            measured: format!(
                "final loss {:.3e} (backprop) vs {:.3e} (adjoint)",
                bp.final_loss(),
                adj.final_loss()
            ),
        },
        Check {
            statement: "the adjoint stores less than backprop".into(),
            holds: adj.max_stored() < bp.max_stored(),
            measured: format!(
                "{} vs {}",
                crate::mem::fmt_bytes(adj.max_stored() as f64),
                crate::mem::fmt_bytes(bp.max_stored() as f64)
            ),
        },
    ];
    let summary = format!(
        "Paper: no numbers; the loss should become very small and the adjoint keep memory \
         low. Ours ({iters} iterations): backprop {:.3e} in {:.2} s storing {}, adjoint \
         {:.3e} in {:.2} s storing {}.",
        bp.final_loss(),
        bp.wall_s(),
        crate::mem::fmt_bytes(bp.max_stored() as f64),
        adj.final_loss(),
        adj.wall_s(),
        crate::mem::fmt_bytes(adj.max_stored() as f64),
    );
    Ok(ExperimentResult {
        verdict: Some(Verdict::from_checks(summary, checks)),
        tables: vec![table],
        figures: vec![curves],
        ..ExperimentResult::default()
    })
}
