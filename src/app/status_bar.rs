//! Bottom line: the wgpu adapter eframe renders with, worker activity, frame time.

use super::state::{FrameTimes, ViewState};

pub fn ui(ui: &mut egui::Ui, adapter: Option<&str>, busy: usize, view: &ViewState) {
    ui.horizontal(|ui| {
        ui.label(egui::RichText::new("GPU").small().strong());
        ui.label(egui::RichText::new(adapter.unwrap_or("renderer without a wgpu adapter")).small());
        ui.separator();
        if busy > 0 {
            ui.spinner();
            ui.label(egui::RichText::new(format!("{busy} worker(s) busy")).small());
        } else {
            ui.label(egui::RichText::new("idle").small().weak());
        }
        if view.debug_overlay {
            ui.separator();
            ui.label(
                egui::RichText::new(frame_text(&view.frame_times))
                    .small()
                    .monospace(),
            );
        }
    });
}

/// `cpu 1.2 ms (max 3.4) · 60 fps`.
pub fn frame_text(t: &FrameTimes) -> String {
    let interval = FrameTimes::mean(&t.interval_ms);
    let fps = if interval > 0.0 {
        1000.0 / interval
    } else {
        0.0
    };
    format!(
        "frame cpu {:.2} ms (max {:.2}) · {:.0} fps",
        FrameTimes::mean(&t.cpu_ms),
        FrameTimes::max(&t.cpu_ms),
        fps
    )
}

/// The debug overlay in the top-right corner.
pub fn overlay(ctx: &egui::Context, view: &ViewState, points: usize) {
    egui::Area::new(egui::Id::unique("debug-overlay"))
        .anchor(egui::Align2::LEFT_BOTTOM, egui::vec2(10.0, -30.0))
        .order(egui::Order::Foreground)
        .interactable(false)
        .show(ctx, |ui| {
            egui::Frame::popup(ui.style()).show(ui, |ui| {
                // One line each, never wrapped ("8 fps" on a line of its own).
                ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Extend);
                ui.monospace(frame_text(&view.frame_times));
                ui.monospace(format!("{points} attempted steps in memory"));
            });
        });
}
