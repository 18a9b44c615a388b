//! Issue 12, item 1: the layout holds at any window size. The side panels have bounded widths
//! that follow the window, a width restored from a previous launch is clamped, a fresh start
//! forgets it, and long formulas never feed back into the setup panel's width.

#[path = "common/app.rs"]
mod app_harness;

use app_harness::{LARGE, SMALL, harness_at, harness_with, options, presets, settle};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use nodelab::app::NodelabApp;
use nodelab::app::explorer::command::Command;
use nodelab::preset::ProblemKind;

fn left_share(h: &Harness<'_, NodelabApp>) -> f32 {
    let l = h.state().view().layout;
    l.left.width() / l.window.x
}

fn central_share(h: &Harness<'_, NodelabApp>) -> f32 {
    let l = h.state().view().layout;
    l.central.width() / l.window.x
}

/// Formulas → "+ variable" three times: four variables with long right-hand sides.
fn four_variables(h: &mut Harness<'_, NodelabApp>) {
    h.state_mut().session_mut().kind = ProblemKind::Custom;
    h.run_steps(2);
    for _ in 0..3 {
        h.get_by_label("+ variable").click();
        h.run_steps(2);
    }
    let custom = &mut h.state_mut().session_mut().custom;
    assert_eq!(custom.variables.len(), 4);
    for eq in &mut custom.equations {
        *eq = "-0.25*y0 + sin(t)*y1 - 3*y2*y3 + exp(-t)*cos(2*t) + y1^2".into();
    }
}

#[test]
fn four_formula_variables_keep_the_setup_panel_under_forty_percent_for_200_frames() {
    for size in [SMALL, LARGE] {
        let mut h = harness_at(size);
        four_variables(&mut h);
        let mut widths = Vec::new();
        for _ in 0..200 {
            h.step();
            widths.push(h.state().view().layout.left.width());
            let share = left_share(&h);
            assert!(share < 0.4, "{size:?}: the setup panel takes {share:.2}");
        }
        // It does not creep either.
        let (first, last) = (widths[5], widths[199]);
        assert!(
            (last - first).abs() < 1.0,
            "{size:?}: the panel grew from {first} to {last}"
        );
        assert!(central_share(&h) >= 0.4, "{size:?}");
        // Every variable's remove button is inside the panel.
        let panel = h.state().view().layout.left;
        let buttons: Vec<_> = h.get_all_by_label("✖").collect();
        assert!(buttons.len() >= 4, "{} remove buttons", buttons.len());
        for b in buttons {
            assert!(
                b.rect().right() <= panel.right() + 0.5,
                "{size:?}: a remove button at {:?} is cut off by the panel ending at {}",
                b.rect(),
                panel.right()
            );
        }
    }
}

#[test]
fn a_restored_oversized_layout_is_clamped_and_fresh_means_fresh() {
    // A previous launch in a large window whose user dragged the setup panel far to the right.
    let mut big = harness_at(LARGE);
    big.run_steps(3);
    let edge = big.state().view().layout.left.right();
    let y = 300.0;
    big.drag_at(egui::pos2(edge + 1.0, y));
    big.run_steps(1);
    big.hover_at(egui::pos2(1600.0, y));
    big.run_steps(1);
    big.drop_at(egui::pos2(1600.0, y));
    big.run_steps(3);
    let dragged = big.state().view().layout.left.width();
    assert!(
        dragged / LARGE[0] < 0.4,
        "dragging cannot make the setup panel take {dragged} of {}",
        LARGE[0]
    );
    let saved = big.ctx.memory(|m| m.clone());

    // Restored into the smallest window: clamped, the plots keep their room.
    let opts = nodelab::app::AppOptions {
        restore: true,
        ..options(&presets())
    };
    let mut small = harness_with(SMALL, opts, Some(saved.clone()));
    small.run_steps(3);
    assert!(
        left_share(&small) < 0.4,
        "{:?}",
        small.state().view().layout
    );
    assert!(
        central_share(&small) >= 0.4,
        "{:?}",
        small.state().view().layout
    );

    // A fresh start (NODELAB_FRESH=1) ignores the saved layout altogether.
    let mut fresh = harness_with(LARGE, options(&presets()), Some(saved));
    fresh.run_steps(3);
    let default = nodelab::app::layout::left(LARGE[0]).default;
    let w = fresh.state().view().layout.left.width();
    assert!((w - default).abs() < 2.0, "fresh: {w}, default {default}");
}

fn explorer_at(size: [f32; 2], name: &str) {
    let mut h = harness_at(size);
    h.state_mut().view_mut().playback.as_fast_as_possible = true;
    h.state_mut().push_command(Command::LoadPreset(
        presets().join("custom-damped-pendulum.toml"),
    ));
    settle(&mut h);
    h.state_mut().push_command(Command::Select(Some(
        nodelab::app::explorer::state::StepRef { run: 0, record: 12 },
    )));
    settle(&mut h);
    h.run_steps(5);
    let l = h.state().view().layout;
    assert!(l.central.width() / l.window.x >= 0.4, "{size:?}: {l:?}");
    assert!(l.left.right() <= l.central.left() + 1.0, "{l:?}");
    assert!(l.central.right() <= l.right.left() + 1.0, "{l:?}");
    // No panel reaches past the window or grows beyond its range.
    assert!(l.right.right() <= size[0] + 0.5, "{l:?}");
    let r = nodelab::app::layout::right(size[0]).range;
    assert!(l.right.width() <= r.max + 0.5, "{l:?}");
    h.state_mut().dismiss_toasts();
    h.run_steps(2);
    h.snapshot(name);
}

#[test]
fn the_explorer_at_the_smallest_window() {
    explorer_at(SMALL, "layout_900x600");
}

#[test]
fn the_explorer_at_a_large_window() {
    explorer_at(LARGE, "layout_1920x1080");
}
