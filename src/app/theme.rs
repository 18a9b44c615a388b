//! Colours and spacing, shared by the screen and the exported figures.

use egui::Color32;

use crate::export::Rgb;

/// Run colours (Okabe–Ito, readable for colour-blind users on dark and light backgrounds).
pub const RUN_COLORS: [Rgb; 7] = [
    Rgb(0, 114, 178),
    Rgb(230, 159, 0),
    Rgb(0, 158, 115),
    Rgb(204, 121, 167),
    Rgb(86, 180, 233),
    Rgb(213, 94, 0),
    Rgb(240, 228, 66),
];
/// Rejected attempts.
pub const REJECTED: Rgb = Rgb(220, 50, 47);
/// The exact solution.
pub const EXACT: Rgb = Rgb(128, 128, 128);
/// Loss targets of a gradient preset.
pub const TARGET: Rgb = Rgb(120, 70, 170);
/// Selected-step highlight.
pub const HIGHLIGHT: Rgb = Rgb(230, 40, 230);

pub fn run_color(i: usize) -> Rgb {
    RUN_COLORS[i % RUN_COLORS.len()]
}

pub fn c32(c: Rgb) -> Color32 {
    Color32::from_rgb(c.0, c.1, c.2)
}

/// egui's default fonts, with Hack (monospace) as a fallback of the proportional family for
/// the mathematical symbols Ubuntu lacks (‖·‖, subscripts) that solver messages use.
pub fn install_fonts(ctx: &egui::Context) {
    let mut fonts = egui::FontDefinitions::default();
    if let Some(list) = fonts.families.get_mut(&egui::FontFamily::Proportional) {
        let at = list
            .iter()
            .position(|f| f == "Ubuntu-Light")
            .map_or(0, |i| i + 1);
        list.insert(at, "Hack".to_owned());
    }
    ctx.set_fonts(fonts);
}

/// Applies the dark or light theme with the app's spacing.
pub fn apply(ctx: &egui::Context, dark: bool) {
    ctx.set_theme(if dark {
        egui::Theme::Dark
    } else {
        egui::Theme::Light
    });
    ctx.all_styles_mut(|style| {
        style.spacing.item_spacing = egui::vec2(8.0, 5.0);
        style.spacing.button_padding = egui::vec2(6.0, 3.0);
        style.spacing.interact_size.y = 20.0;
    });
}
