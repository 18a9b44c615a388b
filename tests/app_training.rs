//! The Training workspace, driven like a user: switch to it, train two methods on circles,
//! pause, resume, stop; a diverging method shows its reason while the other finishes; a trained
//! model opens in the explorer as a neural vector field.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use nodelab::app::training::RunState;
use nodelab::app::{AppOptions, NodelabApp, Workspace};
use nodelab::grad::GradMethod;
use nodelab::preset::ProblemKind;
use nodelab::train::record::MethodStatus;
use nodelab::train::{OptimizerKind, TaskName, TrainConfig};

fn harness(size: [f32; 2]) -> Harness<'static, NodelabApp> {
    let opts = AppOptions {
        presets_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("presets"),
        restore: false,
        run_at_start: false,
        show_adapter: false,
        ..AppOptions::default()
    };
    Harness::builder()
        .with_size(size)
        .with_max_steps(40)
        .wgpu()
        .build_eframe(move |cc| NodelabApp::new(cc, opts))
}

/// Runs frames until `done` holds (or panics after `timeout`).
fn frames_until(
    h: &mut Harness<'_, NodelabApp>,
    timeout: Duration,
    what: &str,
    done: impl Fn(&NodelabApp) -> bool,
) {
    let start = Instant::now();
    while !done(h.state()) {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        h.run_steps(1);
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn iters(app: &NodelabApp) -> Vec<usize> {
    app.training
        .methods
        .iter()
        .map(|m| m.records.len())
        .collect()
}

#[test]
fn two_methods_train_pause_resume_stop() {
    if !common::has_adapter() {
        return;
    }
    let mut h = harness([1280.0, 800.0]);
    h.run_steps(2);
    h.get_by_label("Training").click();
    h.run_steps(2);
    assert_eq!(h.state().workspace(), Workspace::Training);
    let mut c = TrainConfig::defaults(TaskName::Circles);
    c.methods = vec![GradMethod::Backprop, GradMethod::Adjoint];
    c.iters = 100_000;
    c.eval_every = 5;
    h.state_mut().training.config = c;
    h.run_steps(2);
    h.get_by_label("▶ Train").click();
    frames_until(&mut h, Duration::from_secs(60), "both curves", |a| {
        let n = iters(a);
        n.len() == 2 && n.iter().all(|&k| k >= 5)
    });
    // Both curves grow, with one colour each in the legend and the table.
    // The checkbox, the "model shown" choice and the table name each method.
    assert!(h.query_all_by_label("backprop").count() >= 3);
    assert!(h.query_all_by_label("adjoint").count() >= 3);
    assert_eq!(
        h.state().training.state,
        RunState::Running,
        "{:?}",
        h.state().training.warnings
    );
    // The run's thread said where it trains (Auto: a hardware GPU, else the CPU in f64).
    let device = h.state().training.device.clone().unwrap_or_default();
    assert!(
        device == "CPU, f64" || device.starts_with("GPU, f32: "),
        "device {device:?}"
    );
    h.get_by_label("⏸ Pause").click();
    h.run_steps(3);
    // Let anything already sent arrive, then the counter must stand still.
    std::thread::sleep(Duration::from_millis(200));
    h.run_steps(3);
    let paused = h.state().training.iter;
    std::thread::sleep(Duration::from_millis(300));
    h.run_steps(3);
    assert_eq!(
        h.state().training.iter,
        paused,
        "iterations went on while paused"
    );
    assert_eq!(h.state().training.state, RunState::Paused);
    h.get_by_label("▶ Resume").click();
    frames_until(
        &mut h,
        Duration::from_secs(60),
        "progress after resume",
        |a| a.training.iter > paused + 3,
    );
    h.get_by_label("⏹ Stop").click();
    frames_until(&mut h, Duration::from_secs(60), "the run to end", |a| {
        a.training.state == RunState::Finished
    });
    let ws = &h.state().training;
    assert!(!ws.is_running());
    assert!(ws.methods.iter().all(|m| m.status == MethodStatus::Stopped));
    assert!(ws.iter < 100_000);
    // The learned model arrived with the evaluations.
    assert!(
        ws.methods
            .iter()
            .all(|m| m.model.is_some() && m.prediction.is_some())
    );
}

#[test]
fn a_diverging_method_shows_its_reason_while_the_other_finishes() {
    if !common::has_adapter() {
        return;
    }
    let mut h = harness([1280.0, 800.0]);
    h.run_steps(2);
    h.get_by_label("Training").click();
    let mut c = TrainConfig::defaults(TaskName::Gaussians);
    c.methods = vec![GradMethod::Backprop, GradMethod::Adjoint];
    c.optimizer.kind = OptimizerKind::Sgd;
    c.optimizer.lr = 0.05;
    c.method_lr = vec![(GradMethod::Adjoint, 1e12)];
    c.iters = 40;
    h.state_mut().training.config = c;
    h.run_steps(2);
    h.get_by_label("▶ Train").click();
    frames_until(&mut h, Duration::from_secs(60), "the end of the run", |a| {
        a.training.state == RunState::Finished
    });
    h.run_steps(3);
    let ws = &h.state().training;
    assert_eq!(ws.methods[0].status, MethodStatus::Finished);
    // A non-finite update (diverged) or a solve that fails on the huge weights (failed).
    assert!(
        matches!(
            ws.methods[1].status,
            MethodStatus::Diverged { .. } | MethodStatus::Failed { .. }
        ),
        "{:?}",
        ws.methods[1].status
    );
    // The table says so in red, with the reason on hover, and the curve is marked.
    h.get_by_label_contains(&format!("{} at", ws.methods[1].status.name()));
    // The exported loss plot carries the same curves: per method the raw loss, the smoothed
    // loss, and the evaluations as a line and markers.
    let fig = h.state().training.loss_figure();
    assert_eq!(fig.series.len(), 8);
    let points = |name: &str| {
        fig.series
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.points.len())
            .unwrap()
    };
    assert_eq!(points("backprop"), 40);
    assert_eq!(points("backprop (raw)"), 40);
    assert!(
        points("adjoint") < 40,
        "the diverged method's curve ends early"
    );
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("loss.png");
    nodelab::export::write(&fig, &png, nodelab::export::Format::Png).unwrap();
    let img = image::open(&png).unwrap();
    assert!(img.width() > 100 && img.height() > 100);
    h.get_by_label("adjoint ×");
}

#[test]
fn open_in_explorer_loads_the_trained_model_as_a_neural_field() {
    if !common::has_adapter() {
        return;
    }
    let mut h = harness([1280.0, 800.0]);
    h.run_steps(2);
    h.get_by_label("Training").click();
    let mut c = TrainConfig::defaults(TaskName::SpiralFit);
    c.methods = vec![GradMethod::Backprop];
    c.iters = 4;
    c.eval_every = 2;
    h.state_mut().training.config = c;
    h.run_steps(2);
    h.get_by_label("▶ Train").click();
    frames_until(&mut h, Duration::from_secs(60), "the end of the run", |a| {
        a.training.state == RunState::Finished
    });
    h.run_steps(2);
    h.get_by_label("Open in Explorer").click();
    h.run_steps(2);
    h.state_mut().settle();
    h.run_steps(3);
    let app = h.state();
    assert_eq!(app.workspace(), Workspace::Explorer);
    assert_eq!(app.session().kind, ProblemKind::Neural);
    let n = &app.session().neural;
    assert!(n.weights.as_ref().is_some_and(|p| p.exists()));
    assert_eq!(n.y0, vec![2.0, 0.0], "the spiral's start");
    assert_eq!(n.t_span, [0.0, 25.0]);
    let model = nodelab::nn::model_file::load(n.weights.as_ref().unwrap()).unwrap();
    assert_eq!(model.input_map, nodelab::nn::InputMap::Cube);
}

#[test]
fn the_setup_survives_a_relaunch_and_training_presets_load() {
    let mut ws = nodelab::app::training::TrainingWorkspace::default();
    ws.config.task = TaskName::Moons;
    ws.config.iters = 77;
    ws.config.methods = vec![GradMethod::Afge];
    let text = ws.to_toml().unwrap();
    let back = nodelab::app::training::TrainingWorkspace::from_toml(&text);
    assert_eq!(back.config, ws.config);
    // A broken saved setup opens with defaults instead of failing.
    let broken = nodelab::app::training::TrainingWorkspace::from_toml("[train]\ntask = 3\n");
    assert_eq!(broken.config, TrainConfig::defaults(TaskName::Circles));
}

/// A run that cannot start (no GPU kernel for a method on `--device gpu`) is set up on its own
/// thread: the click returns at once, and the reason shows in the panel as a failed run.
#[test]
fn a_run_that_cannot_start_says_why_in_the_panel() {
    if !common::has_adapter() {
        return;
    }
    let mut h = harness([1280.0, 800.0]);
    h.run_steps(2);
    h.get_by_label("Training").click();
    h.run_steps(2);
    let mut c = TrainConfig::defaults(TaskName::Circles);
    c.methods = vec![GradMethod::InterpAdjoint];
    c.device = nodelab::train::Device::Gpu;
    h.state_mut().training.config = c;
    h.run_steps(2);
    let clicked = Instant::now();
    h.get_by_label("▶ Train").click();
    h.run_steps(1);
    assert!(
        clicked.elapsed() < Duration::from_secs(5),
        "the frame waited for the run's setup"
    );
    frames_until(&mut h, Duration::from_secs(60), "the failure", |a| {
        matches!(a.training.state, RunState::Failed(_))
    });
    let RunState::Failed(why) = h.state().training.state.clone() else {
        unreachable!()
    };
    assert!(why.contains("interp-adjoint: CPU only"), "{why}");
    assert!(!h.state().training.is_running());
    h.run_steps(2);
    h.get_by_label(why.as_str());
    // The setup is kept: the user fixes it and trains on the CPU.
    h.state_mut().training.config.device = nodelab::train::Device::Cpu;
    h.state_mut().training.config.iters = 3;
    h.run_steps(2);
    h.get_by_label("▶ Train").click();
    frames_until(&mut h, Duration::from_secs(60), "the CPU run", |a| {
        a.training.state == RunState::Finished
    });
    assert_eq!(h.state().training.device.as_deref(), Some("CPU, f64"));
    assert_eq!(h.state().training.methods[0].records.len(), 3);
}

#[test]
fn training_workspace_at_the_smallest_window() {
    if !common::has_adapter() {
        return;
    }
    let mut h = harness([900.0, 600.0]);
    h.run_steps(2);
    h.get_by_label("Training").click();
    frames_until(&mut h, Duration::from_secs(30), "the data preview", |a| {
        a.training.data.is_some()
    });
    h.run_steps(3);
    // The controls stay reachable at the minimum size.
    h.get_by_label("▶ Train");
    h.get_by_label("Step");
    h.state_mut().dismiss_toasts();
    h.run_steps(2);
    h.snapshot("training_idle_900x600");
}

/// The panel cannot start a run itself: pressing ▶ Train only emits an action (no thread, the
/// room stays idle), and the room's one apply point turns that action into a run.
#[test]
fn the_train_button_emits_an_action_that_the_apply_point_turns_into_a_run() {
    use nodelab::app::room::{Room, RoomCx, Shared};
    use nodelab::app::training::{TrainingAction, TrainingWorkspace, setup};

    let mut ws = TrainingWorkspace::default();
    ws.config.iters = 2;
    let mut h = Harness::new_ui_state(
        |ui, state: &mut (TrainingWorkspace, Vec<TrainingAction>)| {
            let (ws, actions) = state;
            let mut path = String::from("model.json");
            setup::ui(ui, ws, &mut path, actions, None);
        },
        (ws, Vec::new()),
    );
    h.run();
    h.get_by_label("▶ Train").click();
    h.run();
    let (mut ws, actions) = std::mem::take(h.state_mut());
    assert!(
        matches!(actions[..], [TrainingAction::Start { paused: false }]),
        "{actions:?}"
    );
    assert_eq!(ws.state, RunState::Idle, "the panel started nothing");
    let mut shared = Shared::new(&AppOptions::default(), std::sync::Arc::new(|| {}), true);
    ws.actions = actions;
    ws.apply(&mut RoomCx::new(&mut shared, Vec::new()));
    assert!(ws.actions.is_empty());
    assert_eq!(
        ws.state,
        RunState::Running,
        "the apply point started the run"
    );
    ws.stop();
}

/// The digits are a fixed image set: their setup shows no noise control (the task ignores it)
/// and calls the points "images"; the point-set tasks keep both.
#[test]
fn the_digits_setup_shows_only_what_the_task_reads() {
    if !common::has_adapter() {
        return;
    }
    let mut h = harness([1280.0, 800.0]);
    h.run_steps(2);
    h.get_by_label("Training").click();
    h.run_steps(2);
    h.state_mut().training.config = TrainConfig::defaults(TaskName::Circles);
    h.run_steps(2);
    assert!(h.query_all_by_label("noise").count() > 0, "circles: noise");
    assert_eq!(h.query_all_by_label("images").count(), 0);
    h.state_mut().training.config = TrainConfig::defaults(TaskName::Digits);
    h.run_steps(2);
    assert_eq!(
        h.query_all_by_label("noise").count(),
        0,
        "digits: a noise control"
    );
    assert!(h.query_all_by_label("images").count() > 0, "digits: images");
}
