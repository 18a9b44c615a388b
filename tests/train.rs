//! The training engine: tasks train, methods with the same discrete gradient follow the same
//! curve, runs are reproducible, a diverging method stops alone, control and streaming work,
//! and trained models round-trip through both file formats.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use nodelab::grad::GradMethod;
use nodelab::nn::model_file;
use nodelab::solver::{Method, SolverConfig};
use nodelab::train::{
    MethodStatus, TaskData, TaskName, TrainConfig, TrainControl, TrainEvent, Trainer, spawn,
    spawn_config,
};

fn run(config: TrainConfig) -> Trainer {
    let mut t = Trainer::new(config).expect("valid config");
    t.run(&TrainControl::new(), |_| {});
    t
}

fn evals(t: &Trainer, method: GradMethod) -> Vec<f64> {
    let run = t
        .runs()
        .iter()
        .find(|r| r.method == method)
        .expect("method ran");
    run.evals.iter().map(|e| e.loss).collect()
}

#[test]
fn spiral_fit_eval_loss_falls_fivefold_for_backprop_adjoint_and_afge() {
    let mut c = TrainConfig::defaults(TaskName::SpiralFit);
    c.methods = vec![GradMethod::Backprop, GradMethod::Adjoint, GradMethod::Afge];
    c.iters = 300;
    c.eval_every = 100;
    let t = run(c);
    for m in [GradMethod::Backprop, GradMethod::Adjoint, GradMethod::Afge] {
        let e = evals(&t, m);
        let (first, last) = (e[0], *e.last().unwrap());
        assert!(
            last * 5.0 <= first,
            "{m}: evaluation loss {first} → {last} (curve {e:?})"
        );
    }
}

#[test]
fn circles_with_one_extra_dimension_reaches_95_percent() {
    let c = TrainConfig::defaults(TaskName::Circles);
    assert_eq!(c.data.augment, 1);
    let t = run(c);
    for run in t.runs() {
        let last = run.evals.last().unwrap();
        let acc = last.accuracy.unwrap();
        assert!(acc >= 0.95, "{}: test accuracy {acc}", run.method);
        assert_eq!(run.status, MethodStatus::Finished);
    }
}

#[test]
fn freefall_fit_loss_falls_tenfold() {
    let mut c = TrainConfig::defaults(TaskName::FreefallFit);
    c.methods = vec![GradMethod::Backprop, GradMethod::Adjoint];
    let t = run(c);
    for m in [GradMethod::Backprop, GradMethod::Adjoint] {
        let e = evals(&t, m);
        let (first, last) = (e[0], *e.last().unwrap());
        assert!(last * 10.0 <= first, "{m}: {first} → {last}");
    }
}

#[test]
fn methods_with_the_same_discrete_gradient_follow_the_same_curve() {
    let mut c = TrainConfig::defaults(TaskName::Moons);
    c.solver = SolverConfig {
        method: Method::Rk4,
        h0: Some(0.125),
        ..SolverConfig::default()
    };
    c.methods = vec![
        GradMethod::Backprop,
        GradMethod::Checkpoint,
        GradMethod::Afge,
    ];
    c.iters = 50;
    c.batch = 32;
    c.eval_every = 0;
    let t = run(c.clone());
    let curve = |m: GradMethod| -> Vec<f64> {
        t.runs()
            .iter()
            .find(|r| r.method == m)
            .unwrap()
            .records
            .iter()
            .map(|r| r.loss)
            .collect()
    };
    let b = curve(GradMethod::Backprop);
    assert_eq!(b.len(), 50);
    for m in [GradMethod::Checkpoint, GradMethod::Afge] {
        let o = curve(m);
        let worst = b
            .iter()
            .zip(&o)
            .map(|(x, y)| (x - y).abs() / x.abs().max(1e-12))
            .fold(0.0f64, f64::max);
        assert!(worst < 1e-9, "{m}: largest relative difference {worst:e}");
    }
    // The curve moved: these are 50 real updates, not a constant.
    assert!(b[49] < b[0], "{} → {}", b[0], b[49]);
    // Lockstep runs are bit-reproducible for a seed, and another seed differs.
    let again = run(c.clone());
    for (r1, r2) in t.runs().iter().zip(again.runs()) {
        let l1: Vec<u64> = r1.records.iter().map(|r| r.loss.to_bits()).collect();
        let l2: Vec<u64> = r2.records.iter().map(|r| r.loss.to_bits()).collect();
        assert_eq!(l1, l2, "{}", r1.method);
        assert_eq!(r1.model, r2.model);
    }
    let mut other = c;
    other.seed = 1;
    let o = run(other);
    assert_ne!(o.runs()[0].records[0].loss, t.runs()[0].records[0].loss);
}

#[test]
fn a_diverging_method_stops_alone_and_keeps_finite_weights() {
    let mut c = TrainConfig::defaults(TaskName::Gaussians);
    c.methods = vec![GradMethod::Backprop, GradMethod::Adjoint];
    c.optimizer.kind = nodelab::train::OptimizerKind::Sgd;
    c.optimizer.lr = 0.05;
    c.method_lr = vec![(GradMethod::Adjoint, 1e12)];
    c.iters = 40;
    let t = run(c);
    let [ok, bad] = t.runs() else {
        panic!("two methods")
    };
    assert_eq!(ok.status, MethodStatus::Finished);
    assert_eq!(ok.records.len(), 40);
    match &bad.status {
        MethodStatus::Diverged { iter, reason } => {
            assert!(*iter < 40, "stopped at {iter}");
            assert!(!reason.is_empty());
            assert_eq!(bad.records.len(), iter - 1);
        }
        other => panic!("adjoint should have diverged, is {other:?}"),
    }
    assert!(bad.model.flat().iter().all(|v| v.is_finite()));
    let report = t.report();
    assert!(report.methods[1].reason.is_some());
}

#[test]
fn pause_stops_the_iteration_counter_and_resume_and_stop_work() {
    let mut c = TrainConfig::defaults(TaskName::Xor);
    c.iters = 100_000;
    c.eval_every = 0;
    c.batch = 8;
    let handle = spawn(c, TrainControl::new(), 4).unwrap();
    let ctl = handle.control.clone();
    let mut last_iter = 0;
    let mut seen = |timeout: Duration| {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            match handle.events.recv_timeout(Duration::from_millis(20)) {
                Ok(TrainEvent::Update(u)) => last_iter = last_iter.max(u.iter),
                Ok(TrainEvent::Finished(_) | TrainEvent::Failed(_)) => break,
                Ok(TrainEvent::Ready(_)) | Err(_) => {}
            }
        }
        last_iter
    };
    let before = seen(Duration::from_millis(400));
    assert!(before > 0, "no progress while running");
    ctl.pause();
    let at_pause = seen(Duration::from_millis(200));
    let later = seen(Duration::from_millis(300));
    assert_eq!(at_pause, later, "iterations went on while paused");
    ctl.step();
    let stepped = seen(Duration::from_millis(300));
    assert_eq!(stepped, later + 1, "Step runs exactly one iteration");
    ctl.resume();
    let resumed = seen(Duration::from_millis(300));
    assert!(resumed > stepped, "no progress after resume");
    ctl.stop();
    let report = handle.join().unwrap();
    assert!(report.iters_done < 100_000);
    assert!(report.methods.iter().all(|m| m.status == "stopped"));
}

/// `spawn_config` sets the run up on its own thread: `Ready` (the data, the device) comes
/// first, then the updates; a setup that cannot run sends `Failed` alone and joins with it.
#[test]
fn a_run_set_up_on_its_thread_says_ready_or_why_not() {
    let mut c = TrainConfig::defaults(TaskName::Moons);
    c.iters = 4;
    c.eval_every = 2;
    c.device = nodelab::train::Device::Cpu;
    let expected = TaskData::generate(c.task, &c.data, c.seed).unwrap();
    let handle = spawn_config(c, 0, TrainControl::new(), 8).unwrap();
    let first = handle.events.recv_timeout(Duration::from_secs(60)).unwrap();
    let TrainEvent::Ready(ready) = first else {
        panic!("the first event is not Ready: {first:?}")
    };
    assert_eq!(ready.device, "CPU, f64");
    assert_eq!(format!("{:?}", ready.data), format!("{expected:?}"));
    let report = handle.join().unwrap();
    assert_eq!(report.iters_done, 4);

    let mut bad = TrainConfig::defaults(TaskName::Moons);
    bad.device = nodelab::train::Device::Gpu;
    bad.methods = vec![GradMethod::InterpAdjoint];
    let handle = spawn_config(bad, 0, TrainControl::new(), 8).unwrap();
    let (joined, events) = handle.into_parts();
    let why = joined.unwrap_err();
    assert!(why.contains("interp-adjoint: CPU only"), "{why}");
    let all: Vec<TrainEvent> = events.try_iter().collect();
    assert!(
        matches!(all.as_slice(), [TrainEvent::Failed(e)] if *e == why),
        "{all:?}"
    );
}

#[test]
fn a_slow_reader_never_blocks_training_and_loses_nothing() {
    let mut c = TrainConfig::defaults(TaskName::Gaussians);
    c.iters = 30;
    c.eval_every = 10;
    let handle = spawn(c, TrainControl::new(), 1).unwrap();
    // Read nothing while the run goes on: with a one-slot channel, training must still reach
    // its last iteration.
    let start = std::time::Instant::now();
    while handle.iterations_done() < 30 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "training stalled at {} with an unread channel",
            handle.iterations_done()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut records = 0;
    let mut finished = false;
    while let Ok(ev) = handle.events.recv_timeout(Duration::from_secs(30)) {
        match ev {
            TrainEvent::Update(u) => records += u.records.len(),
            TrainEvent::Finished(r) => {
                finished = true;
                assert_eq!(r.iters_done, 30);
                break;
            }
            TrainEvent::Ready(_) => {}
            TrainEvent::Failed(e) => panic!("{e}"),
        }
    }
    assert!(finished);
    assert_eq!(
        records,
        2 * 30,
        "every record arrives, merged when the reader lagged"
    );
    assert_eq!(handle.join().unwrap().iters_done, 30);
}

#[test]
fn trained_models_round_trip_bit_exactly_in_both_formats() {
    let mut c = TrainConfig::defaults(TaskName::Circles);
    c.iters = 3;
    c.methods = vec![GradMethod::Backprop];
    let t = run(c);
    let model = &t.runs()[0].model;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("m.json");
    model_file::save(&json, &model.mlp, model.readout.as_ref(), &[]).unwrap();
    assert_eq!(model_file::load(&json).unwrap(), model.mlp);
    let st = dir.path().join("m.safetensors");
    let meta = vec![("task".to_string(), "circles".to_string())];
    model_file::save(&st, &model.mlp, model.readout.as_ref(), &meta).unwrap();
    assert_eq!(model_file::load(&st).unwrap(), model.mlp);
    // The safetensors crate's own reader sees the tensors and the metadata.
    let bytes = std::fs::read(&st).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let w0 = tensors.tensor("layers.0.weight").unwrap();
    assert_eq!(w0.dtype(), safetensors::Dtype::F64);
    assert_eq!(w0.shape(), &[16, 3]);
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let m = header.metadata().as_ref().unwrap();
    assert_eq!(m["task"], "circles");
    assert_eq!(m["activation"], "tanh");
    assert_eq!(m["sizes"], "[3,16,16,3]");
    let loaded = model_file::from_safetensors(&bytes).unwrap();
    assert_eq!(loaded.readout.as_ref(), model.readout.as_ref());
}

#[test]
fn cube_input_map_gradients_match_finite_differences() {
    // The spiral model sees y∘y∘y: its y-derivative carries 3y².
    let c = TrainConfig::defaults(TaskName::SpiralFit);
    let mlp = c.model.build(2, 3);
    let y = [0.7, -1.2];
    let v = [0.3, -0.8];
    let mut work = mlp.work();
    let (mut f, mut vy) = ([0.0; 2], [0.0; 2]);
    let mut gt = vec![0.0; mlp.n_params()];
    mlp.vjp_into(0.0, &y, &v, 1.0, &mut f, &mut vy, &mut gt, &mut work);
    for i in 0..2 {
        let eps = 1e-6;
        let (mut a, mut b) = (y, y);
        a[i] += eps;
        b[i] -= eps;
        let fa = mlp.forward(0.0, &a);
        let fb = mlp.forward(0.0, &b);
        let fd: f64 = (0..2).map(|k| v[k] * (fa[k] - fb[k]) / (2.0 * eps)).sum();
        assert!(
            (fd - vy[i]).abs() < 1e-8,
            "component {i}: fd {fd} vs vjp {}",
            vy[i]
        );
    }
    let mut jv = [0.0; 2];
    let u = [1.0, 0.5];
    mlp.jvp_into(0.0, &y, &u, None, &mut f, &mut jv, &mut work);
    let eps = 1e-6;
    let fa = mlp.forward(0.0, &[y[0] + eps * u[0], y[1] + eps * u[1]]);
    let fb = mlp.forward(0.0, &[y[0] - eps * u[0], y[1] - eps * u[1]]);
    for k in 0..2 {
        let fd = (fa[k] - fb[k]) / (2.0 * eps);
        assert!((fd - jv[k]).abs() < 1e-8, "{fd} vs {}", jv[k]);
    }
}

#[test]
fn white_dwarf_data_follow_the_problem() {
    let c = TrainConfig::defaults(TaskName::WhiteDwarfIdent);
    let TaskData::Trajectory(t) = TaskData::generate(c.task, &c.data, 0).unwrap() else {
        panic!("trajectory task");
    };
    assert_eq!(t.states[0], vec![1.0, 0.0]);
    // Near the centre x ≈ 1 − (1 − C)^{3/2} t²/6.
    let t1 = t.times[1];
    let expected = 1.0 - (0.99f64).powf(1.5) * t1 * t1 / 6.0;
    assert!(
        (t.states[1][0] - expected).abs() < 1e-5,
        "{} vs {expected}",
        t.states[1][0]
    );
}
