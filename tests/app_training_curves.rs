//! The Training room's loss curves as a user reads them: smoothing changes what is drawn (and
//! Ctrl+Z takes it back), the x axis switches between iteration, wall time and cumulative
//! f-evaluations, small multiples give each method a plot on shared axes, the curve settings
//! persist, and closing the window during a run asks first.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use egui::{Key, Modifiers, ViewportCommand, ViewportEvent, ViewportId};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use nodelab::app::room::{Restore, Room};
use nodelab::app::training::curves::CurveSettings;
use nodelab::app::training::{RunState, TrainingAction, TrainingWorkspace};
use nodelab::app::{AppOptions, NodelabApp, Workspace};
use nodelab::grad::GradMethod;
use nodelab::train::curve::{XAxis, smooth};
use nodelab::train::{TaskName, TrainConfig};

fn harness() -> Harness<'static, NodelabApp> {
    let opts = AppOptions {
        presets_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("presets"),
        restore: false,
        run_at_start: false,
        show_adapter: false,
        ..AppOptions::default()
    };
    Harness::builder()
        .with_size([1280.0, 800.0])
        .with_max_steps(40)
        .wgpu()
        .build_eframe(move |cc| NodelabApp::new(cc, opts))
}

fn frames_until(h: &mut Harness<'_, NodelabApp>, what: &str, done: impl Fn(&NodelabApp) -> bool) {
    let start = Instant::now();
    while !done(h.state()) {
        if start.elapsed() > Duration::from_secs(120) {
            let t = &h.state().training;
            panic!(
                "timed out waiting for {what}: {:?} at {}, {} listed (listing {}), {:?}",
                t.state,
                t.iter,
                t.runs.listed.len(),
                t.runs.listing,
                t.warnings
            );
        }
        h.run_steps(1);
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The Training room on screen with a finished run of circles: two methods, `iters`
/// iterations, an evaluation every 10.
fn trained(iters: usize) -> Harness<'static, NodelabApp> {
    let mut h = harness();
    h.run_steps(2);
    h.get_by_label("Training").click();
    h.run_steps(2);
    assert_eq!(h.state().workspace(), Workspace::Training);
    let mut c = TrainConfig::defaults(TaskName::Circles);
    c.methods = vec![GradMethod::Backprop, GradMethod::Adjoint];
    c.iters = iters;
    c.eval_every = 10;
    h.state_mut().training.config = c;
    h.run_steps(2);
    h.get_by_label("▶ Train").click();
    frames_until(&mut h, "the run to finish", |a| {
        a.training.state == RunState::Finished
    });
    h.run_steps(4);
    h
}

fn curves(h: &Harness<'_, NodelabApp>) -> CurveSettings {
    h.state().training.view.curves.clone()
}

fn set_curves(h: &mut Harness<'_, NodelabApp>, c: CurveSettings) {
    h.state_mut()
        .training
        .actions
        .push(TrainingAction::Curves(c));
    h.run_steps(3);
}

/// How many pixels of two renders differ.
fn differing_pixels(a: &image::RgbaImage, b: &image::RgbaImage) -> usize {
    assert_eq!(a.dimensions(), b.dimensions());
    a.pixels().zip(b.pixels()).filter(|(p, q)| p != q).count()
}

#[test]
fn smoothing_changes_what_is_drawn_and_ctrl_z_takes_it_back() {
    if !common::has_adapter() {
        return;
    }
    let mut h = trained(80);
    // The default: smoothed at 0.6, the smoothed curve is the debiased EMA of the raw loss.
    assert_eq!(curves(&h).smoothing, 0.6);
    let ws = &h.state().training;
    for m in &ws.methods {
        let raw: Vec<f64> = m.records.iter().map(|r| r.loss).collect();
        let want = smooth(&raw, 0.6);
        let got: Vec<f64> = m.curve.smoothed().iter().map(|p| p.y).collect();
        assert_eq!(got, want);
    }
    let smoothed = h.render().unwrap();
    let no_smoothing = CurveSettings {
        smoothing: 0.0,
        ..curves(&h)
    };
    set_curves(&mut h, no_smoothing);
    assert_eq!(curves(&h).smoothing, 0.0);
    let raw = h.render().unwrap();
    let changed = differing_pixels(&smoothed, &raw);
    assert!(changed > 500, "only {changed} pixels changed");
    // Ctrl+Z restores the smoothing, and the same picture.
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run_steps(3);
    assert_eq!(curves(&h).smoothing, 0.6);
    let back = h.render().unwrap();
    assert!(differing_pixels(&smoothed, &back) < changed / 10);
    h.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    h.run_steps(3);
    assert_eq!(curves(&h).smoothing, 0.0);
}

#[test]
fn the_x_axis_switches_between_iteration_wall_time_and_evaluations() {
    if !common::has_adapter() {
        return;
    }
    let mut h = trained(60);
    let x_max = |h: &Harness<'_, NodelabApp>| h.state().training.view.drawn[0].1[1];
    // Against iterations the plot ends near iteration 60.
    assert_eq!(curves(&h).x_axis, XAxis::Iteration);
    assert!((60.0..70.0).contains(&x_max(&h)), "{}", x_max(&h));
    let ws = &h.state().training;
    let nfe: f64 = ws
        .methods
        .iter()
        .map(|m| {
            m.records
                .iter()
                .map(|r| (r.nfe_forward + r.nfe_backward) as f64)
                .sum::<f64>()
        })
        .fold(0.0, f64::max);
    let wall = ws
        .methods
        .iter()
        .filter_map(|m| m.records.last().map(|r| r.wall_s))
        .fold(0.0, f64::max);
    assert!(nfe > 100.0 && wall > 0.0);
    h.get_by_label("f-evaluations").click();
    h.run_steps(3);
    assert_eq!(curves(&h).x_axis, XAxis::Evaluations);
    let x = x_max(&h);
    assert!(x >= nfe && x < 1.2 * nfe, "x max {x}, f-evaluations {nfe}");
    h.get_by_label("wall time").click();
    h.run_steps(3);
    assert_eq!(curves(&h).x_axis, XAxis::WallTime);
    let x = x_max(&h);
    assert!(x >= wall && x < 1.2 * wall, "x max {x}, wall time {wall}");
    // Each switch is an undo step.
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run_steps(3);
    assert_eq!(curves(&h).x_axis, XAxis::Evaluations);
}

#[test]
fn small_multiples_draw_one_plot_per_method_on_shared_axes() {
    if !common::has_adapter() {
        return;
    }
    let mut h = trained(40);
    assert_eq!(h.state().training.view.drawn.len(), 1);
    h.get_by_label("small multiples").click();
    h.run_steps(4);
    assert!(curves(&h).small_multiples);
    let drawn = h.state().training.view.drawn.clone();
    let names: Vec<&str> = drawn.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["backprop", "adjoint"]);
    let (a, b) = (drawn[0].1, drawn[1].1);
    // The same bounds, to a small fraction of the span (the linked plots round to pixels).
    for k in 0..4 {
        let span = if k < 2 { a[1] - a[0] } else { a[3] - a[2] };
        assert!((a[k] - b[k]).abs() <= 1e-4 * span, "{a:?} vs {b:?}");
    }
}

#[derive(Default)]
struct MemoryStorage(HashMap<String, String>);

impl eframe::Storage for MemoryStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.into(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

#[test]
fn the_curve_settings_are_saved_with_the_session() {
    if !common::has_adapter() {
        return;
    }
    let mut h = harness();
    h.run_steps(2);
    let c = CurveSettings {
        smoothing: 0.9,
        x_axis: XAxis::Evaluations,
        small_multiples: true,
        log_y: false,
    };
    set_curves(&mut h, c.clone());
    let mut storage = MemoryStorage::default();
    eframe::App::save(h.state_mut(), &mut storage);
    let stored = |k: &str| storage.0.get(k).cloned();
    let back = TrainingWorkspace::restore(Restore {
        stored: &stored,
        options: &AppOptions::default(),
    });
    assert_eq!(back.view.curves, c);
}

fn request_close(h: &mut Harness<'_, NodelabApp>) {
    h.input_mut()
        .viewports
        .entry(ViewportId::ROOT)
        .or_default()
        .events
        .push(ViewportEvent::Close);
    h.step();
}

fn sent(h: &Harness<'_, NodelabApp>, cmd: &ViewportCommand) -> bool {
    h.output()
        .viewport_output
        .get(&ViewportId::ROOT)
        .is_some_and(|v| v.commands.contains(cmd))
}

#[test]
fn closing_the_window_during_a_run_asks_first() {
    if !common::has_adapter() {
        return;
    }
    let mut h = harness();
    h.run_steps(2);
    h.get_by_label("Training").click();
    h.run_steps(2);
    let mut c = TrainConfig::defaults(TaskName::Circles);
    c.methods = vec![GradMethod::Backprop];
    c.iters = 1_000_000;
    h.state_mut().training.config = c;
    h.run_steps(2);
    h.get_by_label("▶ Train").click();
    frames_until(&mut h, "a few iterations", |a| a.training.iter >= 3);
    // From another room: the close is cancelled, the Training room and the prompt come up.
    h.get_by_label("Explorer").click();
    h.run_steps(2);
    request_close(&mut h);
    assert!(sent(&h, &ViewportCommand::CancelClose));
    h.run_steps(2);
    assert_eq!(h.state().workspace(), Workspace::Training);
    assert!(h.state().training.close.asked);
    // Keep training: the prompt goes, the run goes on.
    h.get_by_label("Keep training").click();
    h.run_steps(2);
    assert!(!h.state().training.close.asked);
    let at = h.state().training.iter;
    frames_until(&mut h, "more iterations", |a| a.training.iter > at + 2);
    assert_eq!(h.state().training.state, RunState::Running);
    // Stop and keep: the run ends after its iteration, then the window closes.
    request_close(&mut h);
    h.run_steps(2);
    h.get_by_label("Stop and keep the run").click();
    let start = Instant::now();
    loop {
        h.step();
        if sent(&h, &ViewportCommand::Close) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "never closed");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(h.state().training.state, RunState::Finished);
    // The close it sent comes back as a request: it goes through.
    request_close(&mut h);
    assert!(!sent(&h, &ViewportCommand::CancelClose));
}

#[test]
fn quit_without_keeping_closes_at_once() {
    if !common::has_adapter() {
        return;
    }
    let mut h = harness();
    h.run_steps(2);
    h.get_by_label("Training").click();
    h.run_steps(2);
    let mut c = TrainConfig::defaults(TaskName::Circles);
    c.methods = vec![GradMethod::Backprop];
    c.iters = 1_000_000;
    h.state_mut().training.config = c;
    h.run_steps(2);
    h.get_by_label("▶ Train").click();
    frames_until(&mut h, "a few iterations", |a| a.training.iter >= 3);
    request_close(&mut h);
    h.run_steps(2);
    h.get_by_label("Quit without keeping").click();
    h.step();
    h.step();
    assert!(sent(&h, &ViewportCommand::Close));
}

/// The app with its runs folder in `dir`.
fn harness_keeping(dir: &std::path::Path) -> Harness<'static, NodelabApp> {
    let opts = AppOptions {
        presets_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("presets"),
        restore: false,
        run_at_start: false,
        show_adapter: false,
        runs_dir: Some(dir.to_path_buf()),
        ..AppOptions::default()
    };
    // Tall enough that the Runs list under the setup is on screen without scrolling.
    Harness::builder()
        .with_size([1280.0, 1600.0])
        .with_max_steps(40)
        .wgpu()
        .build_eframe(move |cc| NodelabApp::new(cc, opts))
}

fn start(h: &mut Harness<'_, NodelabApp>, iters: usize) {
    h.run_steps(2);
    h.get_by_label("Training").click();
    h.run_steps(2);
    let mut c = TrainConfig::defaults(TaskName::Circles);
    c.methods = vec![GradMethod::Backprop, GradMethod::Adjoint];
    c.iters = iters;
    c.eval_every = 10;
    h.state_mut().training.config = c;
    h.run_steps(2);
    h.get_by_label("▶ Train").click();
}

fn run_json(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap()
}

#[test]
fn a_kept_run_is_listed_laid_over_the_plot_and_resumed() {
    if !common::has_adapter() {
        return;
    }
    let folder = tempfile::tempdir().unwrap();
    let mut h = harness_keeping(folder.path());
    start(&mut h, 30);
    frames_until(&mut h, "the run to finish and be listed", |a| {
        a.training.state == RunState::Finished && a.training.runs.listed.len() == 1
    });
    // Kept by default in the runs folder: the report, the curve, the weights, the setup.
    let dir = h.state().training.runs.current_dir.clone().unwrap();
    assert!(dir.starts_with(folder.path()));
    for f in [
        "run.json",
        "curve.csv",
        "setup.toml",
        "backprop.safetensors",
        "adjoint.safetensors",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    assert_eq!(run_json(&dir)["run"]["state"], "finished");
    let listed = h.state().training.runs.listed[0].clone();
    assert_eq!(listed.task, "circles");
    assert_eq!(listed.iters_done, 30);
    h.get_by_label_contains(&listed.created());
    // Cleared from the screen, it can be laid over the plot of the next run.
    h.get_by_label("⟲ Reset").click();
    h.run_steps(2);
    h.get_by_label("overlay").click();
    frames_until(&mut h, "the overlay", |a| {
        a.training.runs.overlays.len() == 1
    });
    let name = nodelab::app::training::runs::dir_name(&dir);
    start(&mut h, 20);
    frames_until(&mut h, "the second run", |a| {
        a.training.state == RunState::Finished && a.training.runs.listed.len() == 2
    });
    h.run_steps(3);
    h.get_by_label(&format!("backprop · {name}"));
    h.get_by_label(&format!("adjoint · {name}"));
    // Resume the first one: it comes back on screen and trains 30 more iterations.
    h.get_by_label("⟲ Reset").click();
    h.run_steps(2);
    let row = h
        .state()
        .training
        .runs
        .listed
        .iter()
        .position(|r| r.dir == dir)
        .unwrap();
    h.query_all_by_label("Resume").nth(row).unwrap().click();
    frames_until(&mut h, "the resumed run", |a| {
        a.training.state == RunState::Finished && a.training.iter == 60
    });
    let ws = &h.state().training;
    assert_eq!(ws.runs.current_dir.as_deref(), Some(dir.as_path()));
    assert_eq!(ws.config.iters, 60, "the kept setup is the setup");
    for m in &ws.methods {
        let iters: Vec<usize> = m.records.iter().map(|r| r.iter).collect();
        assert_eq!(iters, (1..=60).collect::<Vec<_>>());
    }
    assert_eq!(run_json(&dir)["run"]["iter"], 60);
}

#[test]
fn stop_and_keep_keeps_the_run_and_quitting_without_keeping_deletes_it() {
    if !common::has_adapter() {
        return;
    }
    for (choice, kept) in [
        ("Stop and keep the run", true),
        ("Quit without keeping", false),
    ] {
        let folder = tempfile::tempdir().unwrap();
        let mut h = harness_keeping(folder.path());
        start(&mut h, 1_000_000);
        frames_until(&mut h, "a kept run", |a| {
            a.training.iter >= 3 && a.training.runs.current_dir.is_some()
        });
        let dir = h.state().training.runs.current_dir.clone().unwrap();
        request_close(&mut h);
        assert!(sent(&h, &ViewportCommand::CancelClose));
        h.run_steps(2);
        h.get_by_label(choice).click();
        let start = Instant::now();
        loop {
            h.step();
            if sent(&h, &ViewportCommand::Close) {
                break;
            }
            if start.elapsed() > Duration::from_secs(60) {
                let t = &h.state().training;
                panic!(
                    "{choice}: never closed: {:?}, {:?}, discarding {}",
                    t.state, t.close, t.runs.discarding
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(dir.exists(), kept, "{choice}");
        if kept {
            assert_eq!(run_json(&dir)["run"]["state"], "stopped");
        }
    }
}

/// A long run holds a bounded history in the app: 100 000 iterations of a cheap run leave at
/// most `KEEP` (+ the newest) records, gradient checks and curve points per method, spread
/// over the whole run (the first kept within the first stride, the last the final
/// iteration), and every evaluation still finds its place on the wall-time axis.
#[test]
fn a_long_run_keeps_a_bounded_history_in_memory() {
    use nodelab::train::history::KEEP;
    let iters = 100_000;
    let mut c = TrainConfig::defaults(TaskName::Xor);
    c.methods = vec![GradMethod::Backprop];
    c.model.hidden = vec![2];
    c.data.points = 16;
    c.batch = 2;
    c.solver.h0 = Some(0.5);
    c.iters = iters;
    c.eval_every = 1000;
    c.grad_check_every = 20;
    let mut ws = TrainingWorkspace::new(c, None);
    ws.start(false);
    let start = Instant::now();
    while ws.state != RunState::Finished {
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "{:?} at {}",
            ws.state,
            ws.iter
        );
        ws.poll();
        std::thread::sleep(Duration::from_millis(5));
    }
    let m = &ws.methods[0];
    assert_eq!(m.records.last().map(|r| r.iter), Some(iters));
    assert_eq!(m.checks.last().map(|r| r.iter), Some(iters));
    // The stride that keeps 100 000 iterations within KEEP = 2048: 64.
    assert_eq!(m.strides.records, 64);
    for (what, n) in [
        ("records", m.records.len()),
        ("checks", m.checks.len()),
        ("curve points", m.curve.len()),
    ] {
        assert!(n <= KEEP + 1 && n > KEEP / 2, "{what}: {n} kept");
    }
    assert!(m.records[0].iter <= m.strides.records);
    assert_eq!(m.evals.len(), iters / 1000 + 1);
    for e in &m.evals {
        let x = m.curve.x_of_iter(XAxis::WallTime, e.iter);
        assert!(x.is_some_and(f64::is_finite), "evaluation at {}", e.iter);
    }
}

/// A loss record of a made-up kept run.
fn kept_record(iter: usize) -> nodelab::train::record::IterRecord {
    nodelab::train::record::IterRecord {
        iter,
        loss: 5.0 / iter as f64,
        grad_ms: 1.0,
        ms: 1.0,
        wall_s: 1e-3 * iter as f64,
        nfe_forward: 10,
        nfe_backward: 10,
        steps_accepted: 0,
        steps_rejected: 0,
        stored_bytes: 0,
        peak_heap_bytes: 0,
    }
}

/// Kept runs laid over the plot are in the small multiples too: their curve of a current
/// method in that method's plot, a method the current run lacks in a plot of its own, and the
/// shared axes take in their range (a kept run three times as long, with a larger loss).
#[test]
fn small_multiples_show_the_kept_runs_on_the_shared_axes() {
    use nodelab::app::training::curves::CurveData;
    use nodelab::app::training::runs::{Overlay, OverlayMethod};
    if !common::has_adapter() {
        return;
    }
    let mut h = trained(20);
    let settings = curves(&h);
    let records: Vec<_> = (1..=60).map(kept_record).collect();
    let method = |name: &str| OverlayMethod {
        method: name.into(),
        curve: CurveData::of(&records, &settings),
        records: records.clone(),
        evals: Vec::new(),
    };
    h.state_mut().training.runs.overlays.push(Overlay {
        dir: PathBuf::from("/nowhere/kept-run"),
        label: "kept-run".into(),
        methods: vec![method("backprop"), method("afge")],
    });
    h.get_by_label("small multiples").click();
    h.run_steps(4);
    let drawn = h.state().training.view.drawn.clone();
    let names: Vec<&str> = drawn.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["backprop", "adjoint", "afge"]);
    h.get_by_label("afge (kept runs only)");
    for (name, b) in &drawn {
        assert!(b[1] >= 60.0, "{name}: x to {} only", b[1]);
        // log10 of the kept run's first loss, 5.
        assert!(b[3] >= 5f64.log10(), "{name}: y to {} only", b[3]);
    }
}

/// The density view's log-scale choice is saved with the session and restored.
#[test]
fn the_density_log_scale_is_saved_with_the_session() {
    let mut ws = TrainingWorkspace::default();
    assert!(ws.view.density.log_scale, "log scale by default");
    ws.view.density.log_scale = false;
    let mut stored: HashMap<String, String> = HashMap::new();
    Room::save(&ws, &mut |k, v| {
        stored.insert(k.to_string(), v);
    });
    let get = |k: &str| stored.get(k).cloned();
    let back = TrainingWorkspace::restore(Restore {
        stored: &get,
        options: &AppOptions::default(),
    });
    assert!(!back.view.density.log_scale);
}

/// A relaunch opens the room that was on screen when the app was closed (unless
/// `NODELAB_WORKSPACE` asks for another).
#[test]
fn a_relaunch_opens_the_room_last_on_screen() {
    use nodelab::app::shell::initial_workspace;
    if !common::has_adapter() {
        return;
    }
    let mut h = harness();
    h.run_steps(2);
    h.get_by_label("Training").click();
    h.run_steps(2);
    let mut storage = MemoryStorage::default();
    eframe::App::save(h.state_mut(), &mut storage);
    let get = |k: &str| storage.0.get(k).cloned();
    assert_eq!(
        initial_workspace(&AppOptions::default(), &get),
        Workspace::Training
    );
    let asked = AppOptions {
        workspace: Some(Workspace::Explorer),
        ..AppOptions::default()
    };
    assert_eq!(initial_workspace(&asked, &get), Workspace::Explorer);
    assert_eq!(
        initial_workspace(&AppOptions::default(), &|_| None),
        Workspace::default()
    );
}
