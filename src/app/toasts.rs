//! Short notifications in the bottom-right corner ("exported to …").

use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub struct Toast {
    pub text: String,
    pub error: bool,
    /// Seconds left on screen.
    pub ttl: f32,
}

#[derive(Clone, Debug, Default)]
pub struct Toasts {
    pub items: Vec<Toast>,
}

impl Toasts {
    pub fn info(&mut self, text: impl Into<String>) {
        self.items.push(Toast {
            text: text.into(),
            error: false,
            ttl: 5.0,
        });
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.items.push(Toast {
            text: text.into(),
            error: true,
            ttl: 10.0,
        });
    }

    pub fn ui(&mut self, ctx: &egui::Context, dt: f32) {
        self.items.retain(|t| t.ttl > 0.0);
        if self.items.is_empty() {
            return;
        }
        egui::Area::new(egui::Id::unique("toasts"))
            .anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-12.0, -34.0))
            .order(egui::Order::Foreground)
            .show(ctx, |ui| {
                for t in &mut self.items {
                    t.ttl -= dt;
                    egui::Frame::popup(ui.style()).show(ui, |ui| {
                        ui.set_max_width(420.0);
                        let text = egui::RichText::new(&t.text);
                        if t.error {
                            ui.colored_label(ui.visuals().error_fg_color, text);
                        } else {
                            ui.label(text);
                        }
                    });
                }
            });
        ctx.request_repaint_after(Duration::from_millis(250));
    }
}
