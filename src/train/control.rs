//! Pausing, resuming, stopping and single-stepping a training run from another thread (the
//! app's buttons, a CLI's Ctrl+C): a small state behind a mutex and a condition variable that
//! the engine consults before each iteration.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Running,
    Paused,
    Stopping,
}

#[derive(Debug)]
struct State {
    mode: Mode,
    /// Iterations allowed while paused (the Step button).
    steps: usize,
}

/// A handle on a run's control state; clones share it.
#[derive(Clone, Debug)]
pub struct TrainControl(Arc<(Mutex<State>, Condvar)>);

impl Default for TrainControl {
    fn default() -> Self {
        Self::new()
    }
}

impl TrainControl {
    /// A running control.
    pub fn new() -> Self {
        Self(Arc::new((
            Mutex::new(State {
                mode: Mode::Running,
                steps: 0,
            }),
            Condvar::new(),
        )))
    }

    /// A control that starts paused (step-by-step mode).
    pub fn paused() -> Self {
        let c = Self::new();
        c.pause();
        c
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the two fields inconsistent.
        self.0.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, f: impl FnOnce(&mut State)) {
        let mut s = self.lock();
        f(&mut s);
        drop(s);
        self.0.1.notify_all();
    }

    pub fn pause(&self) {
        self.set(|s| {
            if s.mode == Mode::Running {
                s.mode = Mode::Paused;
            }
        });
    }

    pub fn resume(&self) {
        self.set(|s| {
            if s.mode == Mode::Paused {
                s.mode = Mode::Running;
            }
        });
    }

    /// Ends the run after the current iteration (also when paused).
    pub fn stop(&self) {
        self.set(|s| s.mode = Mode::Stopping);
    }

    /// While paused: run one more iteration.
    pub fn step(&self) {
        self.set(|s| {
            if s.mode == Mode::Paused {
                s.steps += 1;
            }
        });
    }

    pub fn is_paused(&self) -> bool {
        self.lock().mode == Mode::Paused
    }

    pub fn is_stopping(&self) -> bool {
        self.lock().mode == Mode::Stopping
    }

    /// Blocks while paused without a step to take; `false` when the run must stop.
    pub fn wait_turn(&self) -> bool {
        let mut s = self.lock();
        loop {
            match s.mode {
                Mode::Stopping => return false,
                Mode::Running => return true,
                Mode::Paused if s.steps > 0 => {
                    s.steps -= 1;
                    return true;
                }
                Mode::Paused => {
                    s = self.0.1.wait(s).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn paused_runs_only_the_steps_asked_for() {
        let c = TrainControl::paused();
        c.step();
        c.step();
        assert!(c.wait_turn());
        assert!(c.wait_turn());
        let c2 = c.clone();
        let waiter = std::thread::spawn(move || c2.wait_turn());
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !waiter.is_finished(),
            "a paused run without steps must wait"
        );
        c.stop();
        assert!(!waiter.join().unwrap_or(true));
    }

    #[test]
    fn resume_releases_a_waiting_run() {
        let c = TrainControl::paused();
        let c2 = c.clone();
        let waiter = std::thread::spawn(move || c2.wait_turn());
        std::thread::sleep(Duration::from_millis(20));
        c.resume();
        assert!(waiter.join().unwrap_or(false));
        assert!(!c.is_paused());
    }
}
