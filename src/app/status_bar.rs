//! Bottom line: the wgpu adapter eframe renders with, worker activity, frame time; the frame
//! times themselves and the debug overlay that shows them.

use std::collections::VecDeque;

/// The status line: `times` are shown with the debug overlay on.
pub fn ui(ui: &mut egui::Ui, adapter: Option<&str>, busy: usize, times: Option<&FrameTimes>) {
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
        if let Some(times) = times {
            ui.separator();
            ui.label(egui::RichText::new(frame_text(times)).small().monospace());
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
pub fn overlay(ctx: &egui::Context, times: &FrameTimes, points: usize) {
    egui::Area::new(egui::Id::unique("debug-overlay"))
        .anchor(egui::Align2::LEFT_BOTTOM, egui::vec2(10.0, -30.0))
        .order(egui::Order::Foreground)
        .interactable(false)
        .show(ctx, |ui| {
            egui::Frame::popup(ui.style()).show(ui, |ui| {
                // One line each, never wrapped ("8 fps" on a line of its own).
                ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Extend);
                ui.monospace(frame_text(times));
                ui.monospace(format!("{points} attempted steps in memory"));
            });
        });
}

/// Recent frame times, for the debug overlay.
#[derive(Clone, Debug, Default)]
pub struct FrameTimes {
    pub cpu_ms: VecDeque<f32>,
    pub interval_ms: VecDeque<f32>,
}

impl FrameTimes {
    const KEEP: usize = 120;

    pub fn push(&mut self, cpu_ms: f32, interval_ms: f32) {
        for (q, v) in [
            (&mut self.cpu_ms, cpu_ms),
            (&mut self.interval_ms, interval_ms),
        ] {
            if q.len() == Self::KEEP {
                q.pop_front();
            }
            q.push_back(v);
        }
    }

    pub fn mean(q: &VecDeque<f32>) -> f32 {
        if q.is_empty() {
            0.0
        } else {
            q.iter().sum::<f32>() / q.len() as f32
        }
    }

    pub fn max(q: &VecDeque<f32>) -> f32 {
        q.iter().copied().fold(0.0, f32::max)
    }
}
