//! The debug overlay keeps each of its lines on one line (it wrapped "8 fps" onto a line of its
//! own when the frame readout was wider than egui's default popup width).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use nodelab::app::{AppOptions, NodelabApp};

#[test]
fn the_debug_overlay_lines_never_wrap() {
    if !common::has_adapter() {
        return;
    }
    let opts = AppOptions {
        presets_dir: common::root().join("presets"),
        restore: false,
        run_at_start: false,
        show_adapter: false,
        debug_overlay: true,
        ..AppOptions::default()
    };
    let mut h = Harness::builder()
        .with_size([900.0, 600.0])
        .with_max_steps(10)
        .wgpu()
        .build_eframe(move |cc| NodelabApp::new(cc, opts));
    h.run_steps(5);
    // The label itself is the smallest node naming the text (its container names both lines).
    let line = |needle: &str| {
        h.query_all_by_label_contains(needle)
            .map(|n| n.rect())
            .min_by(|a, b| a.height().total_cmp(&b.height()))
            .unwrap_or_else(|| panic!("no label with {needle}"))
    };
    let frame = line("frame cpu");
    let steps = line("attempted steps in memory");
    // One line of monospace text is about 14 points high; a wrapped label is twice that.
    assert!(
        frame.height() < 22.0,
        "the frame readout wrapped: {frame:?}"
    );
    assert!(steps.height() < 22.0, "{steps:?}");
    assert!(
        frame.width() > steps.width() * 0.8,
        "{frame:?} vs {steps:?}"
    );
}
