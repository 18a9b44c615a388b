//! The `digits` training task: the shipped images through the PCA encoder, the ODE block and a
//! ten-class read-out — its gradient against central differences, a short run well above
//! chance, `nodelab train digits --json`, and the `afge-classification` experiment.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{json, nodelab, stderr};
use nodelab::experiment::{self, Preset, RunContext};
use nodelab::grad::{self, GradMethod, GradOptions};
use nodelab::train::task::{TaskData, TaskName};
use nodelab::train::{TrainConfig, Trainer};

fn preset_config() -> TrainConfig {
    let path = common::root().join("presets/train-digits.toml");
    let (c, _) = nodelab::train::preset::TrainPreset::load(&path).unwrap();
    c
}

#[test]
fn the_batch_gradient_matches_central_differences() {
    let c = preset_config();
    let data = TaskData::generate(c.task, &c.data, c.seed).unwrap();
    assert!(matches!(data, TaskData::Digits(_)));
    assert_eq!(data.dim(), 8);
    let trainer = Trainer::new(c.clone()).unwrap();
    let model = trainer.runs()[0].model.clone();
    assert_eq!(model.readout.as_ref().unwrap().n_classes(), 10);
    let items: Vec<usize> = (0..16).collect();
    let loss_of = |m: &nodelab::train::Model| {
        let p = data.batch_problem(&items, m, &c.solver);
        grad::compute(&p, GradMethod::Backprop, &GradOptions::default())
            .unwrap()
            .loss
    };
    let p = data.batch_problem(&items, &model, &c.solver);
    let out = grad::compute(&p, GradMethod::Backprop, &GradOptions::default()).unwrap();
    let mut analytic = out.grad.clone();
    analytic.extend(out.readout_grad.unwrap());
    let flat = model.flat();
    // A first-layer weight, a last-layer bias, a read-out weight and a read-out bias.
    let n_mlp = model.mlp.n_params();
    for k in [3, n_mlp - 2, n_mlp + 5, flat.len() - 1] {
        let h = 1e-6;
        let mut plus = model.clone();
        let mut v = flat.clone();
        v[k] += h;
        plus.set_flat(&v);
        let mut minus = model.clone();
        v[k] -= 2.0 * h;
        minus.set_flat(&v);
        let fd = (loss_of(&plus) - loss_of(&minus)) / (2.0 * h);
        assert!(
            (fd - analytic[k]).abs() < 1e-6 * (1.0 + fd.abs()),
            "parameter {k}: central difference {fd} vs backprop {}",
            analytic[k]
        );
    }
    // afge's forward sensitivities give backprop's gradient on fixed steps.
    let a = grad::compute(&p, GradMethod::Afge, &GradOptions::default()).unwrap();
    let scale = out.grad.iter().map(|g| g.abs()).fold(0.0, f64::max);
    for (x, y) in a.grad.iter().zip(&out.grad) {
        assert!((x - y).abs() < 1e-10 * scale, "{x} vs {y}");
    }
}

#[test]
fn a_short_run_classifies_well_above_chance() {
    let mut c = preset_config();
    c.methods = vec![GradMethod::Backprop];
    c.iters = 150;
    c.eval_every = 0;
    c.grad_check_every = 0;
    let mut t = Trainer::new(c).unwrap();
    while !t.is_done() {
        t.step();
    }
    let report = t.finish();
    let evals = &t.runs()[0].evals;
    let first = evals.first().unwrap().accuracy.unwrap();
    let last = evals.last().unwrap().accuracy.unwrap();
    // Ten classes: chance is 10 %; 150 Adam steps on 64 images reach far more.
    assert!(first < 0.4, "the initial model is not trained yet: {first}");
    assert!(last > 0.6, "test accuracy after 150 iterations: {last}");
    assert_eq!(report.methods.len(), 1);
}

#[test]
fn cli_trains_digits_and_reports_accuracy() {
    let out = nodelab(&[
        "train",
        "digits",
        "--iters",
        "8",
        "--eval-every",
        "4",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["task"], "digits");
    for m in v["methods"].as_array().unwrap() {
        assert_eq!(m["status"], "finished");
        let eval = m["eval"].as_array().unwrap();
        let iters: Vec<u64> = eval.iter().map(|e| e["iter"].as_u64().unwrap()).collect();
        assert_eq!(iters, vec![0, 4, 8]);
        for e in eval {
            let a = e["accuracy"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&a), "{a}");
        }
    }
    // A bad setting is refused with the key's name.
    let out = nodelab(&["train", "digits", "--points", "5000", "--iters", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("points"), "{}", stderr(&out));
    assert_eq!(TaskName::parse("digits"), Some(TaskName::Digits));
}

#[test]
fn afge_classification_one_epoch_gives_afge_backprops_accuracy() {
    // One epoch of a small block, in process; the `--quick` setting runs through the binary
    // below (about 15 s in the test profile, opt-level 1).
    let spec = experiment::find("afge-classification").unwrap();
    let mut s = spec.settings(Preset::Quick);
    s.set(spec, "epochs", "1").unwrap();
    s.set(spec, "hidden", "4").unwrap();
    let r = experiment::run(spec, &s, &RunContext::silent()).unwrap();
    let methods = r.data["methods"].as_array().unwrap();
    let names: Vec<&str> = methods
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["afge", "backprop", "adjoint"]);
    let acc = |i: usize| common::numbers(&methods[i]["test_accuracy"]);
    assert_eq!(acc(0).len(), 2, "epoch 0 and epoch 1");
    // Same initial weights and batches, equal gradients to rounding: equal accuracies.
    assert_eq!(acc(0), acc(1));
    assert_eq!(acc(0)[0], acc(2)[0]);
    for m in methods {
        let s = common::numbers(&m["seconds_per_epoch"]);
        assert!(s.len() == 1 && s[0] > 0.0, "{s:?}");
    }
    let v = r.verdict.as_ref().unwrap();
    assert_eq!(v.checks.len(), 3);
    assert!(v.summary.contains("99.41"));
    for t in ["afge-classification", "afge-classification-epochs"] {
        assert!(r.table(t).is_some(), "{t}");
    }
    assert_eq!(r.figures.len(), 3);
}

#[test]
fn afge_classification_quick_run_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let out = nodelab(&[
        "experiment",
        "afge-classification",
        "--quick",
        "--no-cache",
        "--out",
        dir.path().to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    for m in v["methods"].as_array().unwrap() {
        let best = m["best_test_accuracy"].as_f64().unwrap();
        assert!(best > 0.6, "{}: {best}", m["method"]);
    }
    for ext in ["png", "svg", "csv", "json"] {
        let any = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == ext));
        assert!(any, "no .{ext} written");
    }
}
