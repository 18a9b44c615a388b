//! Undo and redo over a room's saved setup (the explorer's session, the Training and Gradients
//! setups): each applied edit keeps the value it replaced. Edits that follow one another within
//! [`MERGE_WINDOW`] (typing a number, dragging a value) merge into one undo step. The revision
//! counts every change: it is the one place a room learns that its setup changed.

use std::time::{Duration, Instant};

/// Edits closer together than this are one undo step.
pub const MERGE_WINDOW: Duration = Duration::from_millis(800);
/// Undo steps kept.
pub const DEPTH: usize = 200;

/// The undo and redo stacks of one room's setup `T`.
#[derive(Debug)]
pub struct EditHistory<T> {
    undo: Vec<T>,
    redo: Vec<T>,
    last_edit: Option<Instant>,
    /// Bumped by every edit, undo and redo.
    pub revision: u64,
}

impl<T> Default for EditHistory<T> {
    fn default() -> Self {
        Self {
            undo: Vec::new(),
            redo: Vec::new(),
            last_edit: None,
            revision: 0,
        }
    }
}

impl<T: PartialEq> EditHistory<T> {
    /// Replaces `setup` by `next`, remembering the old one for undo (nothing happens when they
    /// are equal).
    pub fn apply(&mut self, setup: &mut T, next: T, now: Instant) {
        self.apply_with(setup, next, Some(now));
    }

    /// Replaces `setup` by `next` as an undo step of its own (a preset or weights loaded, a
    /// trained model opened, an initial state dragged): it never merges with a panel edit.
    pub fn apply_discrete(&mut self, setup: &mut T, next: T) {
        self.apply_with(setup, next, None);
        self.last_edit = None;
    }

    /// `now` is `None` for a discrete step.
    fn apply_with(&mut self, setup: &mut T, next: T, now: Option<Instant>) {
        if *setup == next {
            return;
        }
        let merge = match (now, self.last_edit) {
            (Some(now), Some(t)) => {
                now.saturating_duration_since(t) < MERGE_WINDOW && !self.undo.is_empty()
            }
            _ => false,
        };
        if !merge {
            self.undo.push(std::mem::replace(setup, next));
            if self.undo.len() > DEPTH {
                self.undo.remove(0);
            }
        } else {
            *setup = next;
        }
        self.redo.clear();
        self.last_edit = now;
        self.revision += 1;
    }

    /// Back to the setup before the last edit; `false` when there is none.
    pub fn undo(&mut self, setup: &mut T) -> bool {
        let Some(prev) = self.undo.pop() else {
            return false;
        };
        self.redo.push(std::mem::replace(setup, prev));
        self.last_edit = None;
        self.revision += 1;
        true
    }

    /// The last undone edit again; `false` when there is none.
    pub fn redo(&mut self, setup: &mut T) -> bool {
        let Some(next) = self.redo.pop() else {
            return false;
        };
        self.undo.push(std::mem::replace(setup, next));
        self.last_edit = None;
        self.revision += 1;
        true
    }

    /// Steps that can be undone and redone.
    pub fn depth(&self) -> (usize, usize) {
        (self.undo.len(), self.redo.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A setup of two numbers (the history never looks inside).
    #[derive(Clone, Debug, PartialEq)]
    struct Setup {
        tol: f64,
        rtol: f64,
    }

    #[test]
    fn undo_restores_and_redo_reapplies_and_quick_edits_merge() {
        let mut h = EditHistory::default();
        let mut s = Setup {
            tol: 1e-6,
            rtol: 1e-3,
        };
        let original = s.clone();
        let t = Instant::now();
        let mut a = s.clone();
        a.tol = 1e-3;
        h.apply(&mut s, a.clone(), t);
        // A second change right after (typing): the same undo step.
        let mut b = a.clone();
        b.tol = 1e-4;
        h.apply(&mut s, b.clone(), t + Duration::from_millis(100));
        assert_eq!(h.depth(), (1, 0));
        // A later change: its own step.
        let mut c = b.clone();
        c.rtol = 1e-2;
        h.apply(&mut s, c.clone(), t + Duration::from_secs(5));
        assert_eq!(h.depth(), (2, 0));
        assert!(h.undo(&mut s));
        assert_eq!(s, b);
        assert!(h.undo(&mut s));
        assert_eq!(s, original);
        assert!(!h.undo(&mut s));
        assert!(h.redo(&mut s));
        assert_eq!(s, b);
        // A new edit drops what could be redone.
        let mut d = b.clone();
        d.tol = 0.5;
        h.apply(&mut s, d, t + Duration::from_secs(9));
        assert!(!h.redo(&mut s));
        // Three edits, two undos, a redo, an edit.
        assert_eq!(h.revision, 7);
    }
}
