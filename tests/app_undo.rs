//! Undo and redo of the explorer's edits, driven like a user: change a setting in the panel,
//! Ctrl+Z restores it, Ctrl+Shift+Z redoes it; the Edit menu does the same.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/app.rs"]
mod app_harness;
mod common;

use app_harness::{LARGE, harness_at, presets, settle};
use egui::{Key, Modifiers};
use egui_kittest::kittest::Queryable;
use nodelab::app::command::Command;
use nodelab::preset::ProblemKind;

#[test]
fn ctrl_z_restores_a_setting_and_ctrl_shift_z_redoes_it() {
    if !common::has_adapter() {
        return;
    }
    let mut h = harness_at(LARGE);
    h.run_steps(3);
    let before = h.state().session().clone();
    assert_eq!(before.kind, ProblemKind::Builtin);
    // A panel edit: the problem kind.
    h.get_by_label("Formulas").click();
    h.run_steps(3);
    assert_eq!(h.state().session().kind, ProblemKind::Custom);
    assert_eq!(h.state().undo_depth(), (1, 0));
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run_steps(3);
    assert_eq!(*h.state().session(), before, "Ctrl+Z restores the setting");
    assert_eq!(h.state().undo_depth(), (0, 1));
    h.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    h.run_steps(3);
    assert_eq!(
        h.state().session().kind,
        ProblemKind::Custom,
        "Ctrl+Shift+Z redoes it"
    );
    // The Edit menu's entries do the same.
    h.get_by_label("Edit").click();
    h.run_steps(2);
    h.get_by_label_contains("Undo").click();
    h.run_steps(3);
    assert_eq!(h.state().session().kind, ProblemKind::Builtin);
    h.get_by_label("Edit").click();
    h.run_steps(2);
    h.get_by_label_contains("Redo").click();
    h.run_steps(3);
    assert_eq!(h.state().session().kind, ProblemKind::Custom);
}

/// Loading a preset is one undo step of its own, even right after a panel edit (which would
/// merge with another panel edit): Ctrl+Z returns to the edited session, a second Ctrl+Z to the
/// session before the edit.
#[test]
fn a_loaded_preset_is_undone_in_one_step_of_its_own() {
    if !common::has_adapter() {
        return;
    }
    let mut h = harness_at(LARGE);
    h.run_steps(3);
    let before = h.state().session().clone();
    h.get_by_label("Formulas").click();
    h.run_steps(3);
    let edited = h.state().session().clone();
    assert_eq!(edited.kind, ProblemKind::Custom);
    h.state_mut().push_command(Command::LoadPreset(
        presets().join("custom-damped-pendulum.toml"),
    ));
    settle(&mut h);
    let loaded = h.state().session().clone();
    assert_ne!(loaded, edited, "the preset changed the session");
    assert_eq!(h.state().undo_depth(), (2, 0));
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run_steps(3);
    assert_eq!(
        *h.state().session(),
        edited,
        "Ctrl+Z undoes the preset only"
    );
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run_steps(3);
    assert_eq!(
        *h.state().session(),
        before,
        "a second Ctrl+Z undoes the panel edit"
    );
    h.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    h.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    h.run_steps(3);
    assert_eq!(
        *h.state().session(),
        loaded,
        "redo twice brings the preset back"
    );
}
