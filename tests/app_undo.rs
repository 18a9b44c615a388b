//! Undo and redo of the explorer's edits, driven like a user: change a setting in the panel,
//! Ctrl+Z restores it, Ctrl+Shift+Z redoes it; the Edit menu does the same.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/app.rs"]
mod app_harness;
mod common;

use app_harness::{LARGE, harness_at};
use egui::{Key, Modifiers};
use egui_kittest::kittest::Queryable;
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
