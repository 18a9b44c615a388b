//! Headless interaction tests of the step explorer (egui_kittest, wgpu on the software
//! adapter). The workers are driven to completion with `NodelabApp::settle` rather than waiting
//! on wall-clock playback, so the tests are deterministic.

mod common;

use std::path::{Path, PathBuf};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use nodelab::app::explorer::command::Command;
use nodelab::app::explorer::model::RunStatus;
use nodelab::app::explorer::session::BuiltinDraft;
use nodelab::app::explorer::state::Tab;
use nodelab::app::{AppOptions, NodelabApp};
use nodelab::preset::ProblemKind;
use nodelab::solver::{Method, SolveError};

fn options(presets_dir: &Path) -> AppOptions {
    AppOptions {
        presets_dir: presets_dir.to_path_buf(),
        restore: false,
        run_at_start: false,
        show_adapter: false,
        auto_solve_delay: std::time::Duration::ZERO,
        file_dialogs: false,
        ..AppOptions::default()
    }
}

fn harness(presets_dir: &Path) -> Harness<'static, NodelabApp> {
    let opts = options(presets_dir);
    Harness::builder()
        .with_size([1280.0, 800.0])
        .with_max_steps(40)
        .wgpu()
        .build_eframe(move |cc| NodelabApp::new(cc, opts))
}

/// Applies pending commands, waits for every worker and job, and lets the UI settle.
fn settle(h: &mut Harness<'_, NodelabApp>) {
    h.run_steps(2);
    h.state_mut().settle();
    h.run_steps(3);
}

fn presets() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("presets")
}

#[test]
fn van_der_pol_with_the_paper_solver_step_by_step() {
    if !common::has_adapter() {
        return;
    }
    let mut h = harness(&presets());
    h.state_mut().session_mut().builtin = BuiltinDraft::defaults("lorenz");
    h.run_steps(2);
    settle(&mut h);
    // Choose van der Pol from the grouped problem list.
    assert_eq!(h.get_by_label("problem").value().as_deref(), Some("lorenz"));
    h.get_by_label("problem").click();
    h.run_steps(2);
    h.get_by_label("van-der-pol").click();
    h.run_steps(2);
    assert_eq!(h.state().session().builtin.name, "van-der-pol");
    h.get_by_label_contains("v' = μ(1 − x²)·v − x");
    // Choose the paper's solver.
    h.get_by_label("method 1").click();
    h.run_steps(2);
    h.get_by_label("zc-rk4-paper").click();
    h.run_steps(2);
    assert_eq!(h.state().session().solvers[0].method, Method::ZcRk4Paper);
    {
        let s = &mut h.state_mut().session_mut().solvers[0];
        s.tol = 1e-2;
        s.h0 = Some(0.1);
    }
    h.get_by_label("⏸ Pause").click();
    h.run_steps(2);
    h.get_by_label("▶ Run").click();
    settle(&mut h);
    let run = &h.state().runs()[0];
    assert_eq!(run.status, RunStatus::Done);
    assert!(run.records.len() > 20, "{} records", run.records.len());
    assert_eq!(
        h.state().view().playback.shown,
        0,
        "paused: nothing revealed yet"
    );
    // Step through five attempts.
    for _ in 0..5 {
        h.get_by_label("⏭ Step").click();
        h.run_steps(1);
    }
    h.run_steps(2);
    assert_eq!(h.state().view().playback.shown, 5);
    h.get_by_label_contains("attempt 5 / ");
    // Select attempt #2 in the step table (its row's first cell).
    let cell = h
        .get_all_by_label("2")
        .filter(|n| n.rect().top() > 560.0)
        .min_by(|a, b| a.rect().left().total_cmp(&b.rect().left()))
        .expect("the step table shows attempt 2");
    cell.click();
    h.run_steps(3);
    let sel = h.state().view().selected.expect("a step is selected");
    assert_eq!((sel.run, sel.record), (0, 2));
    h.get_by_label("attempt #2");
    // The inspector shows the step's coefficients a0, a1, a2 for each component.
    let r = h.state().runs()[0].records[2].clone();
    let a = r
        .dense
        .coefficients()
        .expect("zc-rk4-paper has coefficients")
        .to_vec();
    assert_eq!(a.len(), 6);
    for v in &a {
        h.get_by_label(&nodelab::app::explorer::inspector::num(*v));
    }
    // The table shows h in the inspector's format too (one number format across the app).
    assert!(
        h.get_all_by_label(&nodelab::app::explorer::inspector::num(r.h))
            .count()
            >= 2
    );
}

#[test]
fn loading_a_preset_from_the_menu_runs_it_and_shows_its_warning() {
    if !common::has_adapter() {
        return;
    }
    let mut h = harness(&presets());
    settle(&mut h);
    h.get_by_label("Presets").click();
    h.run_steps(2);
    h.get_by_label("paper-p1-bump").click();
    settle(&mut h);
    let app = h.state();
    assert_eq!(app.session().builtin.name, "paper-bump");
    assert_eq!(app.session().solvers[0].method, Method::ZcRk4Paper);
    assert!(app.preset_error().is_none());
    let run = &app.runs()[0];
    assert!(run.is_finished());
    assert!(
        run.warnings.iter().any(|w| w.contains("identically zero")),
        "{:?}",
        run.warnings
    );
    // The warning is shown in the statistics panel, not buried.
    h.get_by_label_contains("identically zero");
}

#[test]
fn a_broken_preset_shows_its_location_and_changes_nothing() {
    if !common::has_adapter() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.toml"),
        "[problem]\nname = \"van-der-pol\"\nparams = { nu = 1.0 }\n",
    )
    .unwrap();
    let mut h = harness(dir.path());
    {
        let s = h.state_mut().session_mut();
        s.kind = ProblemKind::Custom;
        s.custom.equations = vec!["-y + sin(t)".into()];
    }
    settle(&mut h);
    let before = h.state().session().clone();
    h.get_by_label("Presets").click();
    h.run_steps(2);
    h.get_by_label("broken").click();
    settle(&mut h);
    let err = h
        .state()
        .preset_error()
        .expect("the error is shown")
        .to_string();
    assert!(err.contains("broken.toml:3:12:"), "{err}");
    assert!(err.contains("nu"), "{err}");
    assert_eq!(
        h.state().session(),
        &before,
        "a failed load changes nothing"
    );
    h.get_by_label("Preset not loaded");
    h.get_by_label_contains("broken.toml:3:12");
    h.get_by_label("OK").click();
    h.run_steps(3);
    assert!(h.state().preset_error().is_none());
}

#[test]
fn a_blow_up_ends_with_its_error_and_the_app_stays_interactive() {
    if !common::has_adapter() {
        return;
    }
    let mut h = harness(&presets());
    {
        let s = h.state_mut().session_mut();
        s.kind = ProblemKind::Custom; // the default custom draft is y' = y², y(0) = 1 on [0, 2]
    }
    h.state_mut().push_command(Command::Run);
    settle(&mut h);
    let run = &h.state().runs()[0];
    match &run.status {
        RunStatus::Failed(
            SolveError::StepUnderflow { t, .. } | SolveError::NonFinite { t, .. },
        ) => {
            assert!((*t - 1.0).abs() < 1e-2, "stopped at t = {t}");
        }
        other => panic!("expected a failed solve, got {other:?}"),
    }
    h.get_by_label_contains("the solve stopped");
    // Still interactive: switch tabs and back.
    h.get_by_label("Phase portrait").click();
    h.run_steps(2);
    assert_eq!(h.state().view().tab, Tab::Phase);
}

#[test]
fn custom_formula_errors_show_inline() {
    if !common::has_adapter() {
        return;
    }
    let mut h = harness(&presets());
    h.state_mut().session_mut().kind = ProblemKind::Custom;
    h.state_mut().session_mut().custom.equations = vec!["y^2 + q".into()];
    settle(&mut h);
    h.get_by_label_contains("⚠ column");
}

#[test]
fn snapshots_of_the_main_views() {
    if !common::has_adapter() {
        return;
    }
    let mut h = harness(&presets());
    h.state_mut().view_mut().playback.as_fast_as_possible = true;
    h.state_mut().push_command(Command::LoadPreset(
        presets().join("paper-van-der-pol.toml"),
    ));
    settle(&mut h);
    h.state_mut().push_command(Command::Select(Some(
        nodelab::app::explorer::state::StepRef { run: 0, record: 30 },
    )));
    settle(&mut h);
    h.state_mut().dismiss_toasts();
    h.run_steps(2);
    h.snapshot("explorer_time_plots");

    h.state_mut().view_mut().tab = Tab::Phase;
    settle(&mut h);
    // The vector field is computed by the run's worker on request.
    h.state_mut()
        .wait_for_worker_reply(0, std::time::Duration::from_secs(10));
    settle(&mut h);
    h.state_mut().dismiss_toasts();
    h.run_steps(2);
    h.snapshot("explorer_phase");

    h.state_mut().session_mut().builtin = BuiltinDraft::defaults("freefall");
    h.state_mut().view_mut().tab = Tab::WorkPrecision;
    h.state_mut().push_command(Command::RunWorkPrecision);
    settle(&mut h);
    assert!(h.state().work_precision().result.is_some());
    h.state_mut().dismiss_toasts();
    h.run_steps(2);
    h.snapshot("explorer_work_precision");

    h.state_mut().push_command(Command::SetDark(false));
    h.state_mut().view_mut().tab = Tab::TimePlots;
    settle(&mut h);
    h.state_mut().dismiss_toasts();
    h.run_steps(2);
    h.snapshot("explorer_light");
}

#[test]
fn gpu_compute_runs_on_the_renderers_own_device() {
    if !common::has_adapter() {
        return;
    }
    use nodelab::gpu::{FixedSchedule, GpuSolver};
    use nodelab::nn::{Activation, Mlp};
    let h = harness(&presets());
    let ctx = h
        .state()
        .gpu()
        .expect("the wgpu renderer hands its device to the compute context")
        .clone();
    assert!(!ctx.adapter.name.is_empty());
    // A forward solve on eframe's device, against the CPU f64 solver.
    let mlp = Mlp::random(&[2, 8, 2], Activation::Tanh, false, 1.0, 5);
    let mut gpu = GpuSolver::new(ctx, &mlp).unwrap();
    gpu.poison = true;
    let y0 = [0.3, -0.7, 1.1, 0.2, -0.4, 0.9];
    gpu.set_batch(&y0, &[]).unwrap();
    let out = gpu
        .forward_rk4(&FixedSchedule::new(0.0, 1.0, Some(0.05)).unwrap())
        .unwrap();
    let config = nodelab::solver::SolverConfig {
        method: Method::Rk4,
        h0: Some(0.05),
        ..Default::default()
    };
    for s in 0..3 {
        let problem =
            nodelab::problem::neural::build(mlp.clone(), y0[2 * s..2 * s + 2].to_vec(), 0.0, 1.0)
                .unwrap();
        let cpu = nodelab::solver::solve(&problem, &config).unwrap();
        for i in 0..2 {
            let (g, c) = (f64::from(out.y[2 * s + i]), cpu.y_final()[i]);
            assert!(
                (g - c).abs() <= 1e-5 * (1.0 + c.abs()),
                "sample {s}[{i}]: {g} vs {c}"
            );
        }
    }
}
