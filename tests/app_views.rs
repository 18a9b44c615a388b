//! Issue 12 ("the step explorer as a user finds it"), items 2–9: results that follow the
//! session, gradient presets shown whole, one colour per run, legends outside the plots, a
//! path prompt without a file dialog backend, and the smaller things.

#[path = "common/app.rs"]
mod app_harness;

use app_harness::{LARGE, harness_at, harness_with, options, presets, settle};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use nodelab::app::explorer::command::Command;
use nodelab::app::explorer::state::{PlotKind, StepRef, Tab};
use nodelab::app::theme::run_color;
use nodelab::app::{AppOptions, NodelabApp};
use nodelab::export::{Dash, SeriesKind};

fn load(h: &mut Harness<'_, NodelabApp>, preset: &str) {
    h.state_mut().view_mut().playback.as_fast_as_possible = true;
    h.state_mut()
        .push_command(Command::LoadPreset(presets().join(preset)));
    settle(h);
    settle(h);
}

// ----- item 2: results carry their inputs -----

#[test]
fn an_edit_re_solves_by_itself_and_nothing_stale_is_shown_as_current() {
    let mut h = harness_at(LARGE);
    h.state_mut().push_command(Command::Run);
    settle(&mut h);
    assert_eq!(h.state().runs()[0].spec.params.get("mu"), Some(&1.0));
    // μ 1 → 5: after the (here zero) debounce the run is redone with μ = 5.
    h.state_mut()
        .session_mut()
        .builtin
        .params
        .insert("mu".into(), 5.0);
    settle(&mut h);
    settle(&mut h);
    let run = &h.state().runs()[0];
    assert_eq!(run.spec.params.get("mu"), Some(&5.0));
    assert!(run.is_finished());
    assert_eq!(h.state().view().stale, None);
    // A solver setting too.
    h.state_mut().session_mut().solvers[0].tol = 1e-6;
    settle(&mut h);
    settle(&mut h);
    assert_eq!(h.state().runs()[0].config.tol, 1e-6);
}

#[test]
fn with_re_solving_off_stale_results_are_greyed_and_labelled() {
    let mut h = harness_at(LARGE);
    h.state_mut().view_mut().auto_solve = false;
    h.state_mut().push_command(Command::Run);
    settle(&mut h);
    h.state_mut()
        .session_mut()
        .builtin
        .params
        .insert("mu".into(), 5.0);
    settle(&mut h);
    assert_eq!(h.state().runs()[0].spec.params.get("mu"), Some(&1.0));
    let reason = h.state().view().stale.clone().expect("the runs are stale");
    assert!(reason.contains("parameters"), "{reason}");
    h.get_by_label_contains("Stale results, greyed out");
    h.get_by_label_contains("automatic re-solving is off");
    // The check box is the off switch, and ▶ Run makes the results current again.
    h.get_by_label("re-solve after each edit");
    h.get_by_label("▶ Run").click();
    settle(&mut h);
    assert_eq!(h.state().view().stale, None);
    assert_eq!(h.state().runs()[0].spec.params.get("mu"), Some(&5.0));
}

#[test]
fn the_work_precision_sweep_follows_the_problem() {
    let opts = AppOptions {
        tab: Some(Tab::WorkPrecision),
        preset: Some(presets().join("paper-p1-bump.toml")),
        ..options(&presets())
    };
    let mut h = harness_with(LARGE, opts, None);
    for _ in 0..3 {
        settle(&mut h);
    }
    let wp = h.state().work_precision().result.as_ref().expect("a sweep");
    assert_eq!(
        wp.problem, "paper-bump",
        "the sweep is of the loaded preset"
    );
    // A problem switch while the sweep is shown re-runs it.
    h.state_mut().session_mut().builtin =
        nodelab::app::explorer::session::BuiltinDraft::defaults("freefall");
    for _ in 0..2 {
        settle(&mut h);
    }
    let wp = h.state().work_precision().result.as_ref().unwrap();
    assert_eq!(wp.problem, "freefall");
}

// ----- item 6: gradient presets shown whole -----

#[test]
fn a_batch_preset_draws_every_sample_and_its_loss_targets() {
    let mut h = harness_at(LARGE);
    load(&mut h, "grad-batch.toml");
    let run = &h.state().runs()[0];
    assert_eq!(run.batch.len(), 7, "the other seven samples are solved");
    assert!(run.batch.iter().all(|s| s.len() == 2 && s[0].len() > 2));
    assert_eq!(run.targets.len(), 8);
    h.get_by_label_contains("the first is stepped here, the other 7 are drawn thin");
    h.get_by_label_contains("8 loss targets");
    let fig = h.state().figure(PlotKind::Solution).unwrap();
    let batch = fig
        .series
        .iter()
        .filter(|s| matches!(s.kind, SeriesKind::Line { width: 1, .. }) && s.color == run_color(0))
        .count();
    assert_eq!(
        batch, 14,
        "7 samples × 2 components, thin, in the run's colour"
    );
    let targets = fig
        .series
        .iter()
        .find(|s| s.name == "loss targets")
        .expect("targets drawn");
    assert_eq!(targets.points.len(), 16);
    assert!(targets.points.iter().all(|p| p[0] == 2.0), "mse: at t_end");
    let phase = h.state().figure(PlotKind::Phase).unwrap();
    assert!(phase.series.iter().any(|s| s.name == "loss targets"));

    // Saving the session keeps the [loss] table and the batch.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("saved.toml");
    h.state_mut()
        .push_command(Command::SavePreset(path.clone()));
    settle(&mut h);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("[loss]") && text.contains("mse"), "{text}");
    let (loaded, _) = nodelab::app::explorer::session::check_preset(&path).unwrap();
    assert_eq!(
        loaded.preset.loss.as_ref().map(|l| l.kind.as_str()),
        Some("mse")
    );
    assert_eq!(
        loaded.preset.problem.y0.map(|y| y.as_batch().len()),
        Some(8)
    );
}

#[test]
fn trajectory_targets_are_drawn_at_their_times() {
    let mut h = harness_at(LARGE);
    load(&mut h, "grad-trajectory.toml");
    let run = &h.state().runs()[0];
    assert_eq!(run.batch.len(), 1);
    let mut times: Vec<f64> = run.targets.iter().map(|t| t.t).collect();
    times.dedup();
    assert_eq!(times, vec![0.5, 1.0, 1.5]);
    assert_eq!(run.targets.len(), 6);
}

// ----- item 5: one colour per run -----

#[test]
fn each_run_keeps_one_colour_in_every_plot_and_components_differ_by_style() {
    let mut h = harness_at(LARGE);
    load(&mut h, "custom-damped-pendulum.toml");
    let app = h.state();
    assert_eq!(app.runs().len(), 3);
    let sol = app.figure(PlotKind::Solution).unwrap();
    for (k, run) in app.runs().iter().enumerate() {
        let method = run.config.method.to_string();
        for (c, name) in ["theta", "omega"].iter().enumerate() {
            let s = sol
                .series
                .iter()
                .find(|s| s.name == format!("{name} · {method}"))
                .unwrap_or_else(|| panic!("{name} of run {k}"));
            assert_eq!(s.color, run_color(k), "{} of run {k}", s.name);
            assert_eq!(
                s.kind,
                SeriesKind::Line {
                    width: 2,
                    style: Dash::of_component(c)
                }
            );
        }
        let h_plot = app.figure(PlotKind::StepSize).unwrap();
        let line = h_plot
            .series
            .iter()
            .find(|s| s.name == format!("h {}", run.label()))
            .unwrap();
        assert_eq!(line.color, run_color(k));
    }
    // The coefficients are drawn in their run's colour, a0/a1/a2 by style.
    let coef = app.figure(PlotKind::Coefficients).unwrap();
    let a: Vec<_> = coef
        .series
        .iter()
        .filter(|s| s.name.starts_with('a'))
        .collect();
    assert_eq!(a.len(), 3);
    let focus =
        nodelab::app::explorer::plots::coefficients::coeff_run(app.runs(), app.view()).unwrap();
    assert!(a.iter().all(|s| s.color == run_color(focus)));
}

#[test]
fn work_precision_methods_take_the_colour_of_the_run_that_uses_them() {
    let mut h = harness_at(LARGE);
    load(&mut h, "custom-damped-pendulum.toml");
    h.state_mut().view_mut().tab = Tab::WorkPrecision;
    h.state_mut().push_command(Command::RunWorkPrecision);
    settle(&mut h);
    let app = h.state();
    let fig = app.figure(PlotKind::WorkPrecision).unwrap();
    for (k, run) in app.runs().iter().enumerate() {
        let line = fig
            .series
            .iter()
            .find(|s| s.name == run.config.method.name())
            .unwrap();
        assert_eq!(line.color, run_color(k), "{}", line.name);
    }
    // The runs' own settings (tol 1e-6 is on the sweep) are marked.
    assert!(fig.series.iter().any(|s| s.name.starts_with("run 1 (")));
}

// ----- item 4: legends outside the plot area -----

#[test]
fn legends_sit_outside_the_plots() {
    let mut h = harness_at(LARGE);
    load(&mut h, "custom-damped-pendulum.toml");
    h.run_steps(3);
    let rects = h.state().view().plot_rects.clone();
    assert!(rects.iter().any(|(id, _)| *id == "solution"), "{rects:?}");
    let run_label = h.state().runs()[0].label();
    for label in [
        run_label.as_str(),
        "theta",
        "omega",
        "rejected attempt",
        "accept: err/tol = 1 (0 drawn at 1e-16)",
        "a0 (theta)",
    ] {
        let nodes: Vec<_> = h.get_all_by_label(label).collect();
        assert!(!nodes.is_empty(), "no legend entry {label:?}");
        for node in nodes {
            for (id, r) in &rects {
                assert!(
                    !node.rect().intersects(*r),
                    "{label:?} at {:?} covers the {id} plot {r:?}",
                    node.rect()
                );
            }
        }
    }
}

// ----- item 8: no file dialog backend -----

#[test]
fn without_a_dialog_backend_the_app_asks_for_a_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness_at(LARGE);
    h.state_mut().push_command(Command::SavePresetDialog);
    h.run_steps(4);
    let prompt = h.state().path_prompt().expect("a path prompt, not silence");
    assert!(prompt.text.ends_with("session.toml"), "{}", prompt.text);
    h.get_by_label_contains("No file dialog is available");
    let path = dir.path().join("typed.toml");
    h.get_by_label("file path").click();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_steps(1);
    h.get_by_label("file path")
        .type_text(&path.display().to_string());
    h.run_steps(2);
    assert_eq!(
        h.state().path_prompt().map(|p| p.text.clone()),
        Some(path.display().to_string())
    );
    h.get_by_label("OK").click();
    settle(&mut h);
    assert!(h.state().path_prompt().is_none());
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("[problem]")
    );
    assert!(
        h.state()
            .toasts()
            .items
            .iter()
            .any(|t| t.text.contains("preset saved")),
        "{:?}",
        h.state().toasts().items
    );
}

// ----- item 9: smaller things -----

#[test]
fn the_table_and_the_inspector_show_t_alike() {
    let mut h = harness_at(LARGE);
    load(&mut h, "paper-van-der-pol.toml");
    h.state_mut()
        .push_command(Command::Select(Some(StepRef { run: 0, record: 3 })));
    settle(&mut h);
    let t = h.state().runs()[0].records[3].t;
    let text = nodelab::app::explorer::inspector::num(t);
    let n = h.get_all_by_label(&text).count();
    assert!(
        n >= 2,
        "t = {text} shown {n} time(s): table and inspector differ"
    );
}

#[test]
fn variable_names_and_the_preset_description_are_shown() {
    let mut h = harness_at(LARGE);
    load(&mut h, "grad-batch.toml");
    // The network's components are y1, y2 in the plots and in the y0 fields.
    let names = &h.state().runs()[0].problem.as_ref().unwrap().components;
    assert_eq!(names, &["y1", "y2"]);
    h.get_by_label("y1(t0)");
    h.get_by_label("y2(t0)");
    h.get_by_label_contains("A batch of 8 initial states through the 2-8-2 tanh MLP");
}

#[test]
fn three_d_arrows_say_what_they_hold_fixed() {
    let mut h = harness_at(LARGE);
    load(&mut h, "paper-lorenz.toml");
    h.state_mut().view_mut().tab = Tab::Phase;
    settle(&mut h);
    h.get_by_label_contains("held at its mean");
}

// ----- item 10: direct manipulation in the phase portrait -----

fn handle(h: &Harness<'_, NodelabApp>) -> egui::Pos2 {
    h.state()
        .view()
        .plot_rects
        .iter()
        .find(|(id, _)| *id == "y0-handle")
        .expect("the initial state is drawn as a handle")
        .1
        .center()
}

#[test]
fn dragging_the_initial_state_re_solves_and_shift_click_adds_a_trajectory() {
    let mut h = harness_at(LARGE);
    load(&mut h, "paper-van-der-pol.toml");
    h.state_mut().view_mut().tab = Tab::Phase;
    settle(&mut h);
    // The vector field arrives from the worker and widens the plot's bounds: wait for it, so
    // that the handle stays where it was drawn.
    h.state_mut()
        .wait_for_worker_reply(0, std::time::Duration::from_secs(2));
    settle(&mut h);
    h.run_steps(3);
    let y0 = h.state().session().builtin.y0.clone();
    let start = handle(&h);
    h.drag_at(start);
    h.run_steps(1);
    for k in 1..=5 {
        h.hover_at(start + egui::vec2(12.0 * k as f32, -8.0 * k as f32));
        h.run_steps(1);
    }
    h.drop_at(start + egui::vec2(60.0, -40.0));
    h.run_steps(1);
    settle(&mut h);
    settle(&mut h);
    let moved = h.state().session().builtin.y0.clone();
    assert!(moved[0] > y0[0] && moved[1] > y0[1], "{y0:?} → {moved:?}");
    let run = &h.state().runs()[0];
    assert_eq!(
        run.problem.as_ref().unwrap().y0,
        moved,
        "re-solved from the new state"
    );
    assert!(run.is_finished());

    // Shift-click elsewhere: one more trajectory, solved and drawn thin.
    let at = start + egui::vec2(-80.0, 50.0);
    h.hover_at(at);
    h.run_steps(1);
    h.event(egui::Event::ModifiersChanged(egui::Modifiers::SHIFT));
    h.event(egui::Event::PointerButton {
        pos: at,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: egui::Modifiers::SHIFT,
    });
    h.run_steps(1);
    h.event(egui::Event::PointerButton {
        pos: at,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: egui::Modifiers::SHIFT,
    });
    h.run_steps(1);
    h.event(egui::Event::ModifiersChanged(egui::Modifiers::NONE));
    h.run_steps(1);
    settle(&mut h);
    settle(&mut h);
    assert_eq!(h.state().runs()[0].batch.len(), 1, "one added trajectory");
}

// ----- item 7: the lens on the selected step -----

#[test]
fn the_selected_step_has_a_lens_with_its_reference_and_estimate_parts() {
    let mut h = harness_at(LARGE);
    load(&mut h, "paper-van-der-pol.toml");
    h.state_mut()
        .push_command(Command::Select(Some(StepRef { run: 0, record: 30 })));
    settle(&mut h);
    h.state_mut()
        .wait_for_worker_reply(0, std::time::Duration::from_secs(10));
    settle(&mut h);
    let run = &h.state().runs()[0];
    let probe = run.probe.as_ref().expect("the worker answered");
    assert_eq!(probe.record, 30);
    assert_eq!(probe.reference.len(), 2);
    assert_eq!(probe.reference[0].len(), probe.tau.len());
    // The reference starts where the step starts.
    let start = run.start_state(30).unwrap();
    assert_eq!(probe.reference[0][0], start[0]);
    h.get_by_label_contains("Lens on attempt #30");
    h.get_by_label("true local error");
    h.get_by_label("paper h‖p(1) − f(1)‖");
}

#[test]
fn a_scalar_problem_has_a_slope_field_in_the_phase_tab() {
    let mut h = harness_at(LARGE);
    load(&mut h, "paper-p1-bump.toml");
    h.state_mut().view_mut().tab = Tab::Phase;
    settle(&mut h);
    h.state_mut()
        .wait_for_worker_reply(0, std::time::Duration::from_secs(10));
    settle(&mut h);
    let fig = h.state().figure(PlotKind::Phase).unwrap();
    assert_eq!(fig.x_label, "t");
    let field = fig
        .series
        .iter()
        .find(|s| s.name == "f (direction field)")
        .expect("the slope field");
    assert!(field.points.len() > 100);
    let traj = fig
        .series
        .iter()
        .find(|s| s.name == h.state().runs()[0].label())
        .unwrap();
    assert!(traj.points.len() > 2);
    // The trajectory runs along t.
    assert!(traj.points.windows(2).all(|w| w[1][0] >= w[0][0]));
}
