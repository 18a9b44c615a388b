//! The Gradients workspace, driven like a user: switch to it, compute three methods on the
//! 2-8-2 gradient preset, see three rows; the memory-scaling and per-parameter views; exports;
//! the launch settings (NODELAB_WORKSPACE=gradients, NODELAB_PRESET, NODELAB_START); a snapshot.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/app.rs"]
mod app_harness;
mod common;

use std::time::{Duration, Instant};

use app_harness::{LARGE, SMALL, harness_at, options, presets, settle};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use nodelab::app::gradients::{GradState, GradTab};
use nodelab::app::{AppOptions, NodelabApp, Workspace};
use nodelab::grad::GradMethod;

const THREE: [GradMethod; 3] = [GradMethod::Backprop, GradMethod::Adjoint, GradMethod::Afge];

/// Relative to the crate root (the tests' working directory): the images show no machine's own
/// path.
const PRESET: &str = "presets/grad-mlp-2-8-2.toml";

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

/// Switches to the workspace, sets three methods on the preset and computes.
fn compute_three(h: &mut Harness<'_, NodelabApp>, scaling: bool) {
    h.run_steps(2);
    h.get_by_label("Gradients").click();
    h.run_steps(2);
    assert_eq!(h.state().workspace(), Workspace::Gradients);
    {
        let s = &mut h.state_mut().gradients.setup;
        s.preset = PRESET.to_string();
        s.set_methods(&THREE);
        s.repeats = 1;
        s.scaling = scaling;
    }
    h.run_steps(2);
    h.get_by_label("▶ Compute gradients").click();
    h.run_steps(1);
    assert!(
        h.state().gradients.is_running() || h.state().gradients.state == GradState::Finished,
        "{:?}",
        h.state().gradients.state
    );
    frames_until(h, Duration::from_secs(120), "the gradient run", |a| {
        !a.gradients.is_running()
    });
    assert_eq!(h.state().gradients.state, GradState::Finished);
    h.run_steps(3);
}

#[test]
fn the_gradients_workspace_runs_three_methods_and_shows_three_rows() {
    if !common::has_adapter() {
        return;
    }
    let mut h = harness_at(LARGE);
    compute_three(&mut h, true);
    let r = h.state().gradients.result.clone().expect("a result");
    let rows: Vec<GradMethod> = r.comparison.methods.iter().map(|m| m.method).collect();
    assert_eq!(rows, THREE);
    // Each chosen method: its checkbox, its colour key and its table row; a method that was not
    // chosen has only its checkbox.
    for m in THREE {
        assert_eq!(h.query_all_by_label(m.name()).count(), 2, "{m}");
        h.get_by_label(&format!("■ {}", m.name()));
    }
    assert_eq!(h.query_all_by_label("checkpoint").count(), 1);
    // The reference line of `nodelab grad`'s table.
    h.get_by_label_contains("reference: forward sensitivities");
    // Backprop is the exact derivative of its own discrete forward map.
    assert!(r.comparison.methods[0].err_vs_discrete < 1e-10);
    // Memory scaling: every scaling method at 10, 100 and 1000 steps; backprop grows with N,
    // the adjoint does not.
    let stored = |m: GradMethod, n: usize| {
        r.scaling
            .iter()
            .find(|x| x.method == m && x.steps == n)
            .map(|x| x.stored_bytes)
            .unwrap()
    };
    assert!(stored(GradMethod::Backprop, 1000) > 50 * stored(GradMethod::Backprop, 10));
    assert_eq!(
        stored(GradMethod::Adjoint, 1000),
        stored(GradMethod::Adjoint, 10)
    );
    h.get_by_label("Memory scaling").click();
    h.run_steps(3);
    assert_eq!(h.state().gradients.view.tab, GradTab::Scaling);
    h.get_by_label_contains("memory scaling: bytes against steps");
    // Stored bytes are deterministic (and peak heap is not counted in tests): a stable image,
    // once the run's wall time (shown on the left) is fixed.
    if let Some(r) = &mut h.state_mut().gradients.result {
        r.seconds = 1.0;
    }
    h.state_mut().dismiss_toasts();
    h.run_steps(2);
    h.snapshot("gradients_scaling_1920x1080");
    h.get_by_label("Per parameter").click();
    h.run_steps(3);
    h.get_by_label_contains("relative l2 difference");
    h.snapshot("gradients_per_parameter_1920x1080");
}

#[test]
fn the_comparison_exports_png_svg_and_csv() {
    if !common::has_adapter() {
        return;
    }
    let mut h = harness_at(LARGE);
    compute_three(&mut h, false);
    let dir = tempfile::tempdir().unwrap();
    let stem = dir.path().join("cmp");
    h.state_mut().gradients.export_path = stem.display().to_string();
    h.run_steps(2);
    h.get_by_label("PNG").click();
    h.get_by_label("SVG").click();
    h.get_by_label("CSV").click();
    settle(&mut h);
    let png = image::open(stem.with_extension("png")).unwrap();
    assert!(png.width() > 100 && png.height() > 100);
    let svg = std::fs::read_to_string(stem.with_extension("svg")).unwrap();
    assert!(svg.contains("backprop") && svg.contains("afge"));
    let csv = std::fs::read_to_string(stem.with_extension("csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("method,loss,err_cont,err_disc,time_ms"));
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[2].starts_with("adjoint,"));
}

#[test]
fn bad_input_shows_an_error_and_never_blocks() {
    if !common::has_adapter() {
        return;
    }
    let mut h = harness_at(LARGE);
    h.run_steps(2);
    h.get_by_label("Gradients").click();
    h.state_mut().gradients.setup.preset = "no/such/file.toml".into();
    h.run_steps(2);
    h.get_by_label("▶ Compute gradients").click();
    frames_until(&mut h, Duration::from_secs(30), "the failure", |a| {
        matches!(a.gradients.state, GradState::Failed(_))
    });
    h.run_steps(2);
    // Inline under the button, and as a notification.
    assert_eq!(
        h.query_all_by_label_contains("cannot read the file")
            .count(),
        2
    );
}

#[test]
fn launch_settings_open_the_workspace_with_the_preset_and_start() {
    if !common::has_adapter() {
        return;
    }
    let opts = AppOptions {
        workspace: Some(Workspace::Gradients),
        preset: Some(presets().join("grad-mlp-2-8-2.toml")),
        start_training: true,
        ..options(&presets())
    };
    // The run starts while the harness is built, and a running job asks for frames until it
    // ends: let the build step as long as that takes.
    let mut h = Harness::builder()
        .with_size(LARGE)
        .with_max_steps(1_000_000)
        .wgpu()
        .build_eframe(move |cc| NodelabApp::new(cc, opts));
    h.run_steps(1);
    assert_eq!(h.state().workspace(), Workspace::Gradients);
    assert_eq!(
        h.state().gradients.setup.preset,
        presets().join("grad-mlp-2-8-2.toml").display().to_string()
    );
    // Started at launch: running (or already done).
    assert_ne!(h.state().gradients.state, GradState::Idle);
    h.state_mut().gradients.wait();
    assert_eq!(
        h.state().gradients.state,
        GradState::Finished,
        "{:?}",
        h.state().gradients.state
    );
}

#[test]
fn gradients_workspace_at_the_smallest_window() {
    if !common::has_adapter() {
        return;
    }
    let mut h = harness_at(SMALL);
    compute_three(&mut h, false);
    // Times and heap peaks vary from run to run: fix them so the image is reproducible (the
    // errors, evaluations, steps and bytes are deterministic).
    if let Some(r) = &mut h.state_mut().gradients.result {
        for (i, m) in r.comparison.methods.iter_mut().enumerate() {
            m.time_ms = 0.25 * (i + 1) as f64;
            m.peak_heap_bytes = 4096 * (i + 1);
        }
        r.seconds = 1.0;
        r.counting = true;
    }
    h.state_mut().dismiss_toasts();
    h.run_steps(3);
    h.get_by_label("▶ Compute gradients");
    h.snapshot("gradients_900x600");
}

/// Precision f32 (the measurement grid's radio): the methods run in f32, so backprop's error
/// against its own f64 discrete gradient is the f32 rounding (above 0, far below 1e-2); afge,
/// f64 only, is refused with its name instead of silently running in f64.
#[test]
fn f32_precision_runs_the_methods_in_f32_and_refuses_afge() {
    if !common::has_adapter() {
        return;
    }
    let mut h = harness_at(LARGE);
    h.run_steps(2);
    h.get_by_label("Gradients").click();
    h.run_steps(2);
    {
        let s = &mut h.state_mut().gradients.setup;
        s.preset = PRESET.to_string();
        s.set_methods(&[GradMethod::Backprop, GradMethod::Adjoint]);
        s.repeats = 1;
        s.scaling = false;
    }
    h.run_steps(2);
    h.get_by_label("f32").click();
    h.run_steps(2);
    assert_eq!(h.state().gradients.setup.precision, "f32");
    h.get_by_label("▶ Compute gradients").click();
    h.run_steps(1);
    frames_until(&mut h, Duration::from_secs(120), "the f32 run", |a| {
        !a.gradients.is_running()
    });
    assert_eq!(
        h.state().gradients.state,
        GradState::Finished,
        "{:?}",
        h.state().gradients.state
    );
    let r = h.state().gradients.result.clone().expect("a result");
    let bp = &r.comparison.methods[0];
    assert_eq!(bp.method, GradMethod::Backprop);
    assert!(
        bp.err_vs_discrete > 0.0 && bp.err_vs_discrete < 1e-2,
        "{}",
        bp.err_vs_discrete
    );
    h.state_mut().gradients.setup.toggle(GradMethod::Afge, true);
    h.run_steps(2);
    h.get_by_label("▶ Compute gradients").click();
    h.run_steps(1);
    frames_until(&mut h, Duration::from_secs(60), "the refusal", |a| {
        !a.gradients.is_running()
    });
    let GradState::Failed(why) = h.state().gradients.state.clone() else {
        panic!(
            "afge in f32 was not refused: {:?}",
            h.state().gradients.state
        )
    };
    assert!(why.contains("afge"), "{why}");
}

/// The panel cannot start the job itself: pressing ▶ Compute gradients only emits an action (no
/// thread, the room stays idle), and the room's one apply point turns that action into a run
/// (on the Training room's current setup, read through the room list).
#[test]
fn the_compute_button_emits_an_action_that_the_apply_point_turns_into_a_run() {
    use nodelab::app::gradients::{GradAction, GradientsWorkspace, setup};
    use nodelab::app::room::{Room, RoomCx, Shared};
    use nodelab::app::training::TrainingWorkspace;

    let mut ws = GradientsWorkspace::default();
    ws.setup.preset = PRESET.to_string();
    ws.setup.set_methods(&[GradMethod::Backprop]);
    ws.setup.repeats = 1;
    ws.setup.fd_check = 0;
    ws.setup.scaling = false;
    let mut h = Harness::new_ui_state(
        |ui, state: &mut (GradientsWorkspace, Vec<GradAction>)| {
            let (ws, actions) = state;
            setup::ui(ui, ws, &[], actions);
        },
        (ws, Vec::new()),
    );
    h.run();
    h.get_by_label("▶ Compute gradients").click();
    h.run();
    let (mut ws, actions) = std::mem::take(h.state_mut());
    assert!(matches!(actions[..], [GradAction::Start]), "{actions:?}");
    assert_eq!(ws.state, GradState::Idle, "the panel started nothing");
    let training = TrainingWorkspace::default();
    let mut shared = Shared::new(&AppOptions::default(), std::sync::Arc::new(|| {}), true);
    ws.actions = actions;
    ws.apply(&mut RoomCx::new(&mut shared, vec![&training]));
    assert!(
        ws.is_running(),
        "the apply point started the job: {:?}",
        ws.state
    );
    ws.wait();
    assert_eq!(ws.state, GradState::Finished, "{:?}", ws.state);
}
