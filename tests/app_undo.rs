//! Undo and redo of the rooms' setup edits, driven like a user: change a setting in the panel,
//! Ctrl+Z restores it, Ctrl+Shift+Z redoes it; the Edit menu does the same. In every room.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/app.rs"]
mod app_harness;
mod common;

use app_harness::{LARGE, harness_at, harness_with, options, presets, settle};
use egui::{Key, Modifiers};
use egui_kittest::kittest::Queryable;
use nodelab::app::explorer::command::Command;
use nodelab::app::{AppOptions, Workspace};
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

/// The app opened in `room`.
fn harness_in(room: Workspace) -> egui_kittest::Harness<'static, nodelab::app::NodelabApp> {
    let opts = AppOptions {
        workspace: Some(room),
        ..options(&presets())
    };
    harness_with(LARGE, opts, None)
}

/// Presses Ctrl+Z (`redo`: Ctrl+Shift+Z) and lets the app apply it.
fn undo_key(h: &mut egui_kittest::Harness<'_, nodelab::app::NodelabApp>, redo: bool) {
    let mods = if redo {
        Modifiers::COMMAND | Modifiers::SHIFT
    } else {
        Modifiers::COMMAND
    };
    h.key_press_modifiers(mods, Key::Z);
    h.run_steps(3);
}

#[test]
fn ctrl_z_undoes_a_training_setup_edit() {
    if !common::has_adapter() {
        return;
    }
    let mut h = harness_in(Workspace::Training);
    h.run_steps(3);
    let before = h.state().training.config.clone();
    assert_eq!(h.state().undo_depth(), (0, 0));
    h.get_by_label("t input").click();
    h.run_steps(3);
    let edited = h.state().training.config.clone();
    assert_eq!(edited.model.time_input, !before.model.time_input);
    assert_eq!(h.state().undo_depth(), (1, 0));
    undo_key(&mut h, false);
    assert_eq!(
        h.state().training.config,
        before,
        "Ctrl+Z restores the setup"
    );
    assert_eq!(h.state().undo_depth(), (0, 1));
    undo_key(&mut h, true);
    assert_eq!(h.state().training.config, edited, "Ctrl+Shift+Z redoes it");
    // The Edit menu acts on the room on screen too.
    h.get_by_label("Edit").click();
    h.run_steps(2);
    h.get_by_label_contains("Undo").click();
    h.run_steps(3);
    assert_eq!(h.state().training.config, before);
    // The explorer's session was never touched.
    assert_eq!(*h.state().session(), Default::default());
}

#[test]
fn ctrl_z_undoes_a_gradients_setup_edit() {
    if !common::has_adapter() {
        return;
    }
    let mut h = harness_in(Workspace::Gradients);
    h.run_steps(3);
    let before = h.state().gradients.setup.clone();
    h.get_by_label("memory scaling (10, 100, 1000 steps)")
        .click();
    h.run_steps(3);
    let edited = h.state().gradients.setup.clone();
    assert_eq!(edited.scaling, !before.scaling);
    assert_eq!(h.state().undo_depth(), (1, 0));
    undo_key(&mut h, false);
    assert_eq!(
        h.state().gradients.setup,
        before,
        "Ctrl+Z restores the setup"
    );
    undo_key(&mut h, true);
    assert_eq!(h.state().gradients.setup, edited, "Ctrl+Shift+Z redoes it");
}
