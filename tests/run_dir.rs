//! Run directories: a run continued from its directory gives the same losses and weights, bit
//! for bit, as the same iterations in one go; kept runs are listed and loaded; the history
//! kept in memory stays bounded over long runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use nodelab::grad::GradMethod;
use nodelab::nn::model_file;
use nodelab::train::OptimizerKind;
use nodelab::train::history::KEEP;
use nodelab::train::run_dir::{self, RunDir, RunState};
use nodelab::train::{TaskName, TrainConfig, Trainer};

/// Steps `trainer` to its end, keeping it in `dir` (as the CLI and the app do).
fn drive(mut trainer: Trainer, mut dir: RunDir) -> Trainer {
    dir.min_interval = std::time::Duration::ZERO;
    while !trainer.is_done() {
        let up = trainer.step();
        dir.record(&trainer, &up).expect("record");
    }
    let report = trainer.finish();
    dir.save(&trainer, &report, RunState::Finished)
        .expect("save");
    trainer
}

fn config(iters: usize) -> TrainConfig {
    let mut c = TrainConfig::defaults(TaskName::Moons);
    c.methods = vec![GradMethod::Backprop, GradMethod::Adjoint];
    c.optimizer.kind = OptimizerKind::Adam;
    c.model.hidden = vec![8];
    c.data.points = 200;
    c.batch = 16;
    c.iters = iters;
    c.eval_every = 10;
    c.grad_check_every = 15;
    c.seed = 3;
    c
}

/// The columns of `curve.csv` that do not depend on timing.
fn curve_columns(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("curve.csv");
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let timed = ["grad_ms", "ms", "wall_s", "peak_heap_bytes"];
    text.lines()
        .map(|l| {
            l.split(',')
                .zip(&header)
                .filter(|(_, h)| !timed.contains(h))
                .map(|(v, _)| v)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

fn weights(dir: &Path, method: &str) -> (Vec<u64>, Vec<u64>) {
    let bytes = std::fs::read(dir.join(run_dir::weights_file(method))).expect("weights");
    let m = model_file::from_safetensors(&bytes).expect("model");
    let mut params: Vec<u64> = m.mlp.params.iter().map(|v| v.to_bits()).collect();
    if let Some(r) = &m.readout {
        params.extend(
            r.weight
                .iter()
                .flatten()
                .chain(&r.bias)
                .map(|v| v.to_bits()),
        );
    }
    let mut opt: Vec<u64> = Vec::new();
    for name in ["optim.m", "optim.v"] {
        let t = model_file::read_tensor(&bytes, name)
            .expect("read")
            .expect("tensor");
        opt.extend(t.iter().map(|v| v.to_bits()));
    }
    (params, opt)
}

#[test]
fn thirty_plus_thirty_resumed_equals_sixty_in_one_go_bit_for_bit() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (one, split) = (tmp.path().join("one"), tmp.path().join("split"));

    let t = Trainer::new(config(60)).expect("config");
    let d = RunDir::create(&one, &t).expect("create");
    let one_go = drive(t, d);

    let t = Trainer::new(config(30)).expect("config");
    let d = RunDir::create(&split, &t).expect("create");
    let first = drive(t, d);
    assert_eq!(first.iter(), 30);
    let (t, d) = RunDir::resume(&split, Some(30)).expect("resume");
    assert_eq!(t.iter(), 30);
    let resumed = drive(t, d);
    assert_eq!(resumed.iter(), 60);

    let (a, b) = (
        curve_columns(&one.join("curve.csv")),
        curve_columns(&split.join("curve.csv")),
    );
    assert_eq!(
        a.len(),
        1 + 2 * 60,
        "a header and one row per method and iteration"
    );
    assert_eq!(a, b, "the curves differ");
    for m in ["backprop", "adjoint"] {
        assert_eq!(
            weights(&one, m),
            weights(&split, m),
            "{m}: weights or optimiser state differ"
        );
    }
    for (r1, r2) in one_go.runs().iter().zip(resumed.runs()) {
        let losses = |r: &nodelab::train::MethodRun| -> Vec<u64> {
            r.evals.iter().map(|e| e.loss.to_bits()).collect()
        };
        assert_eq!(losses(r1), losses(r2), "{}: evaluations differ", r1.method);
        assert_eq!(
            r1.checks, r2.checks,
            "{}: gradient checks differ",
            r1.method
        );
        assert_eq!(r1.totals.nfe_forward, r2.totals.nfe_forward);
        assert_eq!(r1.totals.iters, 60);
    }

    // Without restoring the position in the batch sequence the runs part: the test can fail.
    let mut t = Trainer::new(config(31)).expect("config");
    let mut u = Trainer::new(config(31)).expect("config");
    for _ in 0..30 {
        t.step();
        u.step();
    }
    let pos = t.batch_position();
    let saved = t.saved_methods();
    let restored: Vec<_> = saved
        .into_iter()
        .zip(t.runs())
        .map(|(s, r)| (s, r.model.clone(), r.optimizer().clone()))
        .collect();
    let mut v = Trainer::new(config(31)).expect("config");
    v.restore(30, pos + 1, restored).expect("restore");
    u.step();
    v.step();
    assert_ne!(
        u.runs()[0].records.last().map(|r| r.loss),
        v.runs()[0].records.last().map(|r| r.loss),
        "another batch position must give another batch"
    );

    // Both runs are listed, newest first, with their final numbers; one loads for overlay.
    let runs = run_dir::list_runs(tmp.path());
    assert_eq!(runs.len(), 2);
    for r in &runs {
        assert_eq!(r.task, "moons");
        assert_eq!(r.state, RunState::Finished);
        assert_eq!(r.iters_done, 60);
        let names: Vec<&str> = r.methods.iter().map(|m| m.method.as_str()).collect();
        assert_eq!(names, ["backprop", "adjoint"]);
        assert!(
            r.methods
                .iter()
                .all(|m| m.final_loss.is_some() && m.final_eval.is_some())
        );
    }
    let loaded = run_dir::load_run(&split).expect("load");
    assert_eq!(loaded.methods[1].records.len(), 60);
    assert_eq!(loaded.methods[1].evals.len(), 7, "iterations 0, 10, …, 60");
    // A finished run continues only when asked for more.
    assert!(RunDir::resume(&split, None).is_err());
    // A directory that holds a run is not started over.
    let t = Trainer::new(config(5)).expect("config");
    assert!(RunDir::create(&split, &t).is_err());
}

#[test]
fn the_history_kept_in_memory_stays_bounded() {
    let mut c = TrainConfig::defaults(TaskName::Xor);
    c.methods = vec![GradMethod::Backprop];
    c.model.hidden = vec![2];
    c.data.points = 20;
    c.batch = 4;
    c.solver.h0 = Some(0.5);
    c.iters = 3 * KEEP + 17;
    c.eval_every = 1;
    c.grad_check_every = 0;
    let mut t = Trainer::new(c).expect("config");
    while !t.is_done() {
        t.step();
    }
    let report = t.finish();
    let run = &t.runs()[0];
    assert!(run.records.len() <= KEEP, "{} records", run.records.len());
    assert!(run.evals.len() <= KEEP, "{} evaluations", run.evals.len());
    assert_eq!(run.totals.iters as usize, 3 * KEEP + 17);
    assert_eq!(run.records.last().map(|r| r.iter), Some(3 * KEEP + 17));
    let m = &report.methods[0];
    assert_eq!(m.iters_done as usize, 3 * KEEP + 17);
    assert!(m.curve.len() <= KEEP && m.eval.len() <= KEEP);
    assert_eq!(m.final_eval.as_ref().map(|e| e.iter), Some(3 * KEEP + 17));
    // The sums cover every iteration, not only the kept ones.
    assert!(m.nfe_forward >= (3 * KEEP + 17) as u64);
}
