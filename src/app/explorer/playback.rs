//! Playback: how many attempted steps of each run are revealed. View state, never saved.
//!
//! The workers compute as fast as they can; playback only decides what is shown, by counting
//! attempts, so single-stepping and tests are deterministic (no wall clock involved).

/// Slowest and fastest finite speeds, in attempted steps per second.
pub const MIN_SPEED: f64 = 1.0;
pub const MAX_FINITE_SPEED: f64 = 5000.0;

#[derive(Clone, Debug, PartialEq)]
pub struct Playback {
    pub playing: bool,
    /// Attempted steps per second.
    pub speed: f64,
    /// Reveal everything as soon as it arrives.
    pub as_fast_as_possible: bool,
    /// Attempts revealed (per run: the first `shown` of its records).
    pub shown: usize,
    /// Fractional steps carried between frames.
    carry: f64,
}

impl Default for Playback {
    fn default() -> Self {
        Self {
            playing: true,
            speed: 100.0,
            as_fast_as_possible: false,
            shown: 0,
            carry: 0.0,
        }
    }
}

impl Playback {
    /// Back to the first step (a new run or "restart").
    pub fn restart(&mut self) {
        self.shown = 0;
        self.carry = 0.0;
    }

    /// Reveals one more attempt and pauses.
    pub fn single_step(&mut self, available: usize) {
        self.playing = false;
        self.shown = (self.shown + 1).min(available);
    }

    /// Reveals one fewer attempt and pauses.
    pub fn step_back(&mut self) {
        self.playing = false;
        self.shown = self.shown.saturating_sub(1);
    }

    /// Advances by `dt` seconds given `available` attempts in the longest run; returns whether
    /// more frames are needed to keep playing.
    pub fn advance(&mut self, dt: f64, available: usize) -> bool {
        if !self.playing {
            self.shown = self.shown.min(available);
            return false;
        }
        if self.as_fast_as_possible {
            self.shown = available;
            return false;
        }
        self.carry += dt.clamp(0.0, 0.25) * self.speed.clamp(MIN_SPEED, MAX_FINITE_SPEED);
        let whole = self.carry.floor();
        self.carry -= whole;
        self.shown = (self.shown + whole as usize).min(available);
        self.shown < available
    }

    /// Whether playback still has attempts to reveal.
    pub fn is_behind(&self, available: usize) -> bool {
        self.shown < available
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_step_per_second_reveals_one_step_per_second() {
        let mut p = Playback {
            as_fast_as_possible: false,
            speed: 1.0,
            ..Playback::default()
        };
        for _ in 0..9 {
            assert!(p.advance(0.1, 100));
        }
        assert_eq!(p.shown, 0);
        p.advance(0.1 + 1e-9, 100);
        assert_eq!(p.shown, 1);
    }

    #[test]
    fn single_step_pauses_and_stops_at_the_end() {
        let mut p = Playback::default();
        p.single_step(2);
        p.single_step(2);
        p.single_step(2);
        assert!(!p.playing);
        assert_eq!(p.shown, 2);
        p.step_back();
        assert_eq!(p.shown, 1);
        assert!(!p.advance(1.0, 2));
        assert_eq!(p.shown, 1);
    }

    #[test]
    fn as_fast_as_possible_shows_everything() {
        let mut p = Playback {
            as_fast_as_possible: true,
            ..Playback::default()
        };
        assert!(!p.advance(0.016, 12345));
        assert_eq!(p.shown, 12345);
    }
}
