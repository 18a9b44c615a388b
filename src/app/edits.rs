//! Undo and redo over the session's edits: each applied [`super::command::Command::Edit`]
//! keeps the session it replaced. Edits that follow one another within [`MERGE_WINDOW`] (typing
//! a number, dragging a value) merge into one undo step. The revision counts every change.

use std::time::{Duration, Instant};

use super::session::Session;

/// Edits closer together than this are one undo step.
pub const MERGE_WINDOW: Duration = Duration::from_millis(800);
/// Undo steps kept.
pub const DEPTH: usize = 200;

#[derive(Debug, Default)]
pub struct EditHistory {
    undo: Vec<Session>,
    redo: Vec<Session>,
    last_edit: Option<Instant>,
    /// Bumped by every edit, undo and redo.
    pub revision: u64,
}

impl EditHistory {
    /// Replaces `session` by `next`, remembering the old one for undo.
    pub fn apply(&mut self, session: &mut Session, next: Session, now: Instant) {
        self.apply_with(session, next, Some(now));
    }

    /// Replaces `session` by `next` as an undo step of its own (a preset or weights loaded, a
    /// trained model opened, an initial state dragged): it never merges with a panel edit.
    pub fn apply_discrete(&mut self, session: &mut Session, next: Session) {
        self.apply_with(session, next, None);
        self.last_edit = None;
    }

    /// `now` is `None` for a discrete step.
    fn apply_with(&mut self, session: &mut Session, next: Session, now: Option<Instant>) {
        if *session == next {
            return;
        }
        let merge = match (now, self.last_edit) {
            (Some(now), Some(t)) => {
                now.saturating_duration_since(t) < MERGE_WINDOW && !self.undo.is_empty()
            }
            _ => false,
        };
        if !merge {
            self.undo.push(std::mem::replace(session, next));
            if self.undo.len() > DEPTH {
                self.undo.remove(0);
            }
        } else {
            *session = next;
        }
        self.redo.clear();
        self.last_edit = now;
        self.revision += 1;
    }

    /// Back to the session before the last edit; `false` when there is none.
    pub fn undo(&mut self, session: &mut Session) -> bool {
        let Some(prev) = self.undo.pop() else {
            return false;
        };
        self.redo.push(std::mem::replace(session, prev));
        self.last_edit = None;
        self.revision += 1;
        true
    }

    /// The last undone edit again; `false` when there is none.
    pub fn redo(&mut self, session: &mut Session) -> bool {
        let Some(next) = self.redo.pop() else {
            return false;
        };
        self.undo.push(std::mem::replace(session, next));
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

    #[test]
    fn undo_restores_and_redo_reapplies_and_quick_edits_merge() {
        let mut h = EditHistory::default();
        let mut s = Session::default();
        let original = s.clone();
        let t = Instant::now();
        let mut a = s.clone();
        a.solvers[0].tol = 1e-3;
        h.apply(&mut s, a.clone(), t);
        // A second change right after (typing): the same undo step.
        let mut b = a.clone();
        b.solvers[0].tol = 1e-4;
        h.apply(&mut s, b.clone(), t + Duration::from_millis(100));
        assert_eq!(h.depth(), (1, 0));
        // A later change: its own step.
        let mut c = b.clone();
        c.solvers[0].rtol = 1e-2;
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
        d.solvers[0].tol = 0.5;
        h.apply(&mut s, d, t + Duration::from_secs(9));
        assert!(!h.redo(&mut s));
        // Three edits, two undos, a redo, an edit.
        assert_eq!(h.revision, 7);
    }
}
