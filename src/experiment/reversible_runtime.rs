//! `reversible-runtime` (reversible-solvers, the runtime figure): the wall time of one forward
//! solve plus its backward pass over n fixed midpoint steps, for the reversible midpoint
//! (λ = 0.99) and for checkpointing at c checkpoints (and backprop), on the benchmarks' toy
//! problem ([`crate::bench::grad::toy_problem`]). Median of the timed repeats after a warm-up.
//!
//! Our `checkpoint` keeps uniform segments (one extra forward pass at any c); the paper's is
//! online recursive (binomial), whose recomputation grows as c shrinks. The checks: the
//! reversible midpoint's time grows linearly in n (log-log slope near 1) and lies below
//! checkpointing at every c at the largest n.

use serde_json::json;

use super::memory_scaling::log_slope;
use super::plot::{Plot, PlotKind, color};
use super::result::{Check, ExperimentResult, Table, Verdict};
use super::{Control, ControlKind, ExperimentError, RunContext, Settings};
use crate::bench::grad::toy_problem;
use crate::grad::{GradMethod, GradOptions, measure};
use crate::solver::{Method, SolverConfig};

pub(crate) const CONTROLS: &[Control] = &[
    Control {
        key: "steps",
        label: "steps n",
        help: "numbers of midpoint steps over t ∈ [0, 1]",
        kind: ControlKind::Numbers {
            quick: "100,300,1000,3000",
            full: "100,300,1000,3000,10000,30000",
        },
    },
    Control {
        key: "checkpoints",
        label: "checkpoints c",
        help: "checkpoint counts compared",
        kind: ControlKind::Numbers {
            quick: "2,8,32",
            full: "2,4,8,16,32,64",
        },
    },
    Control {
        key: "repeats",
        label: "timed repeats",
        help: "timed calls per point after one warm-up (the median is kept)",
        kind: ControlKind::Integer {
            min: 1,
            max: 50,
            quick: 3,
            full: 7,
        },
    },
];

pub fn run(s: &Settings, ctx: &RunContext) -> Result<ExperimentResult, ExperimentError> {
    let mut steps: Vec<usize> = s.list("steps").iter().map(|v| v.round() as usize).collect();
    steps.sort_unstable();
    steps.dedup();
    if steps.len() < 2 || steps.iter().any(|n| *n < 2 || *n > 1_000_000) {
        return Err(ExperimentError::BadSetting(
            "steps: give at least two step counts in [2, 1e6]".into(),
        ));
    }
    let counts: Vec<usize> = s
        .list("checkpoints")
        .iter()
        .map(|v| v.round().max(1.0) as usize)
        .collect();
    let repeats = s.int("repeats").max(1);
    let p = toy_problem(16, 16);
    let mut series: Vec<(String, GradMethod, Option<usize>)> = vec![(
        "reversible-midpoint".into(),
        GradMethod::ReversibleMidpoint,
        None,
    )];
    series.extend(counts.iter().map(|c| {
        (
            format!("checkpoint c = {c}"),
            GradMethod::Checkpoint,
            Some(*c),
        )
    }));
    series.push(("backprop".into(), GradMethod::Backprop, None));
    let total = (steps.len() * series.len()) as u64;
    let mut times: Vec<Vec<(f64, f64)>> = vec![Vec::new(); series.len()];
    let mut table = Table::new(
        "reversible-runtime",
        &["method", "checkpoints", "steps", "time_ms", "stored_bytes"],
    );
    let mut done = 0;
    for &n in &steps {
        let mut q = p.clone();
        q.solver = SolverConfig {
            method: Method::Midpoint,
            h0: Some((p.t1 - p.t0) / n as f64),
            ..SolverConfig::default()
        };
        for (k, (name, method, c)) in series.iter().enumerate() {
            ctx.check()?;
            ctx.report(&format!("{name} at n = {n}"), done, total);
            let opts = GradOptions {
                checkpoints: *c,
                reversible_steps: Some(n),
                lambda: 0.99,
                ..GradOptions::default()
            };
            let m = measure::measure(&q, *method, &opts, repeats)
                .map_err(|e| ExperimentError::Failed(format!("{name} at n = {n}: {e}")))?;
            table.rows.push(vec![
                json!(method.name()),
                c.map_or(serde_json::Value::Null, |c| json!(c)),
                json!(n),
                json!(m.time_ms),
                json!(m.output.stored_bytes),
            ]);
            times[k].push((n as f64, m.time_ms));
            done += 1;
        }
    }
    ctx.report("done", total, total);
    let mut plot = Plot::new(
        "reversible-runtime",
        "Forward + backward time over n midpoint steps",
        "steps n",
        "time (ms)",
    );
    plot.x_log = true;
    plot.y_log = true;
    for (k, (name, method, _)) in series.iter().enumerate() {
        plot.push(
            name,
            color(k),
            PlotKind::Line {
                width: 2,
                dashed: *method == GradMethod::Checkpoint,
            },
            times[k].iter().map(|(n, t)| [*n, *t]).collect(),
        );
    }
    let rev = &times[0];
    let slope = log_slope(rev);
    let rev_last = rev.last().map_or(f64::NAN, |p| p.1);
    let ckpt_last: Vec<f64> = times[1..=counts.len()]
        .iter()
        .filter_map(|t| t.last().map(|p| p.1))
        .collect();
    let ckpt_min = ckpt_last.iter().copied().fold(f64::INFINITY, f64::min);
    let ckpt_max = ckpt_last.iter().copied().fold(0.0, f64::max);
    let n_last = steps[steps.len() - 1];
    let shown = slope.map_or("no fit".into(), |v| format!("{v:.2}"));
    let checks = vec![
        Check {
            statement: "the reversible midpoint's time grows linearly in n".into(),
            holds: slope.is_some_and(|v| (v - 1.0).abs() <= 0.25),
            measured: format!("log-log slope {shown}"),
        },
        Check {
            statement: format!(
                "the reversible midpoint is faster than checkpointing at every c (n = {n_last})"
            ),
            holds: rev_last < ckpt_min,
            measured: format!(
                "{rev_last:.2} ms vs {ckpt_min:.2}–{ckpt_max:.2} ms (c = {})",
                counts
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    ];
    let summary = format!(
        "Paper (figure): the reversible midpoint's forward + backward time is linear in n and \
         below checkpointing (binomial) at c checkpoints. Ours (uniform checkpoints): slope \
         {shown}; at n = {n_last} reversible {rev_last:.2} ms, checkpointing \
         {ckpt_min:.2}–{ckpt_max:.2} ms."
    );
    Ok(ExperimentResult {
        verdict: Some(Verdict::from_checks(summary, checks)),
        tables: vec![table],
        figures: vec![plot],
        ..ExperimentResult::default()
    })
}
