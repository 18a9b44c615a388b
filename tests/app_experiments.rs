//! The Experiments workspace, driven like a user: switch to it, run an experiment's quick
//! setting and see its verdict; cancel a long run; a stale result is marked; a snapshot at the
//! smallest window.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/app.rs"]
mod app_harness;
mod common;

use std::time::{Duration, Instant};

use app_harness::{SMALL, harness_at};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use nodelab::app::experiments::Outcome;
use nodelab::app::experiments::view::status_mark;
use nodelab::app::{NodelabApp, Workspace};
use nodelab::experiment::{Cache, VerdictStatus};

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

/// The app on the Experiments workspace, caching into `cache`.
fn open(size: [f32; 2], cache: &std::path::Path) -> Harness<'static, NodelabApp> {
    let mut h = harness_at(size);
    h.run_steps(2);
    h.get_by_label("Experiments").click();
    h.run_steps(2);
    assert_eq!(h.state().workspace(), Workspace::Experiments);
    h.state_mut().experiments.cache = Some(Cache::new(cache));
    h
}

/// Selects `name` in the list and runs its quick setting to the end.
fn run_quick(h: &mut Harness<'_, NodelabApp>, name: &str) {
    h.get_by_label(name).click();
    h.run_steps(2);
    assert_eq!(h.state().experiments.setup.selected, name);
    h.get_by_label("Quick").click();
    h.run_steps(2);
    h.get_by_label("▶ Run").click();
    h.run_steps(1);
    frames_until(h, Duration::from_secs(300), name, |a| {
        !a.experiments.is_running()
    });
    h.run_steps(3);
}

#[test]
fn a_quick_run_from_the_room_shows_its_verdict_and_reopens_from_the_cache() {
    if !common::has_adapter() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let mut h = open(SMALL, cache.path());
    run_quick(&mut h, "reversible-convergence");
    let shown = h
        .state()
        .experiments
        .results
        .get("reversible-convergence")
        .expect("a result")
        .clone();
    assert!(!shown.cached, "the first run computes");
    let verdict = shown.result.verdict.clone().expect("a verdict");
    assert_eq!(verdict.status, VerdictStatus::Holds, "{}", verdict.summary);
    h.get_by_label(&format!(
        " {} {} ",
        status_mark(verdict.status),
        verdict.status.label()
    ));
    h.get_by_label(&verdict.summary);
    // The checks and the figure selector are on screen.
    h.get_by_label_contains("Checks (");
    assert!(h.query_all_by_label(&shown.result.figures[0].name).count() >= 1);
    // A fresh room (another launch) finds the result in the cache without running it.
    let mut h2 = open(SMALL, cache.path());
    h2.get_by_label("reversible-convergence").click();
    app_harness::settle(&mut h2);
    let again = h2
        .state()
        .experiments
        .results
        .get("reversible-convergence")
        .expect("the cached result")
        .clone();
    assert!(again.cached);
    assert_eq!(again.result.verdict, shown.result.verdict);
}

#[test]
fn cancel_stops_a_long_run_and_says_so() {
    if !common::has_adapter() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let mut h = open(SMALL, cache.path());
    h.get_by_label("stability-regions").click();
    h.run_steps(2);
    // The full setting (601 × 601 grid, 11 values of λ) runs for seconds even in release.
    h.get_by_label("Full").click();
    h.run_steps(2);
    h.get_by_label("▶ Run").click();
    h.run_steps(2);
    assert!(h.state().experiments.is_running());
    h.get_by_label("■ Cancel").click();
    h.run_steps(1);
    frames_until(&mut h, Duration::from_secs(60), "the cancel", |a| {
        !a.experiments.is_running()
    });
    h.run_steps(2);
    assert_eq!(
        h.state().experiments.outcomes.get("stability-regions"),
        Some(&Outcome::Cancelled)
    );
    assert!(
        !h.state()
            .experiments
            .results
            .contains_key("stability-regions")
    );
    h.get_by_label("cancelled");
}

#[test]
fn a_bad_setting_is_refused_and_a_changed_one_marks_the_result_stale() {
    if !common::has_adapter() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let mut h = open(SMALL, cache.path());
    run_quick(&mut h, "reversible-convergence");
    let before = h
        .state()
        .experiments
        .setup
        .settings_of(nodelab::experiment::find("reversible-convergence").unwrap());
    let key = before.values.keys().next().unwrap().clone();
    let spec = nodelab::experiment::find("reversible-convergence").unwrap();
    let control = spec.control(&key).unwrap();
    // Text that no control takes: refused with a message, the settings unchanged.
    let role = egui::accesskit::Role::TextInput;
    h.get_by_role_and_label(role, control.label).click();
    h.run_steps(1);
    h.get_by_role_and_label(role, control.label).type_text("x");
    h.run_steps(3);
    assert_eq!(h.state().experiments.setup.settings_of(spec), before);
    assert!(
        h.state()
            .experiments
            .view
            .errors
            .contains_key(&format!("reversible-convergence/{key}"))
    );
    // The full preset changes the settings: the quick result is now stale.
    h.get_by_label("Full").click();
    h.run_steps(3);
    if spec.settings(nodelab::experiment::Preset::Full)
        != spec.settings(nodelab::experiment::Preset::Quick)
    {
        h.get_by_label_contains("stale");
    }
}

#[test]
fn snapshot_of_a_result_at_the_smallest_window() {
    if !common::has_adapter() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let mut h = open(SMALL, cache.path());
    run_quick(&mut h, "reversible-convergence");
    h.state_mut().dismiss_toasts();
    h.run_steps(3);
    h.snapshot("experiments_900x600");
}
