//! Panel sizes that hold at any window size: each side panel gets a width range derived from
//! the window's width, so that the central plots always keep most of the window. A width
//! restored from a previous launch (egui keeps panel sizes in its persisted memory) is clamped
//! to these ranges on the first frame, and dragging a panel edge cannot pass them.

use egui::Rangef;

/// The smallest window the app supports (the viewport's minimum size).
pub const MIN_WINDOW: [f32; 2] = [900.0, 600.0];
/// Share of the window width the setup panel may take at most.
pub const LEFT_MAX_FRACTION: f32 = 0.3;
/// Share of the window width the inspector may take at most.
pub const RIGHT_MAX_FRACTION: f32 = 0.28;
const LEFT_MIN: f32 = 220.0;
const LEFT_MAX: f32 = 420.0;
const LEFT_DEFAULT: f32 = 330.0;
const RIGHT_MIN: f32 = 200.0;
const RIGHT_MAX: f32 = 400.0;
const RIGHT_DEFAULT: f32 = 360.0;

/// Width range and default width of a side panel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PanelWidth {
    pub range: Rangef,
    pub default: f32,
}

fn width(window: f32, fraction: f32, min: f32, max: f32, default: f32) -> PanelWidth {
    let hi = (window * fraction).clamp(min.min(window * fraction), max);
    let lo = min.min(hi);
    PanelWidth {
        range: Rangef::new(lo, hi),
        default: default.clamp(lo, hi),
    }
}

/// The setup panel (left) in a window `window` points wide.
pub fn left(window: f32) -> PanelWidth {
    width(window, LEFT_MAX_FRACTION, LEFT_MIN, LEFT_MAX, LEFT_DEFAULT)
}

/// The inspector (right) in a window `window` points wide.
pub fn right(window: f32) -> PanelWidth {
    width(
        window,
        RIGHT_MAX_FRACTION,
        RIGHT_MIN,
        RIGHT_MAX,
        RIGHT_DEFAULT,
    )
}

/// Height range of the step table: at most a third of the window, so that the time plots keep
/// their room.
pub fn table(window_height: f32) -> Rangef {
    let hi = (window_height / 3.0).max(120.0);
    Rangef::new(120.0_f32.min(hi), hi)
}

/// Where the panels were drawn in the last frame (tests and the debug overlay read it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layout {
    pub window: egui::Vec2,
    pub left: egui::Rect,
    pub right: egui::Rect,
    pub central: egui::Rect,
}

impl Default for Layout {
    fn default() -> Self {
        Self {
            window: egui::Vec2::ZERO,
            left: egui::Rect::NOTHING,
            right: egui::Rect::NOTHING,
            central: egui::Rect::NOTHING,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plots_keep_at_least_forty_percent_of_any_supported_window() {
        for w in [MIN_WINDOW[0], 1024.0, 1280.0, 1920.0, 3840.0] {
            let (l, r) = (left(w), right(w));
            let central = w - l.range.max - r.range.max;
            assert!(central >= 0.4 * w, "{w}: {central} left for the plots");
            assert!(l.range.min <= l.default && l.default <= l.range.max);
            assert!(r.range.min <= r.default && r.default <= r.range.max);
        }
        // A narrow window still gets usable panels.
        assert!(left(MIN_WINDOW[0]).range.max >= 240.0);
        assert!(right(MIN_WINDOW[0]).range.max >= 240.0);
    }
}
