//! Results carry their inputs: each run keeps the problem and solver settings that produced it,
//! the edit history counts edits of the session in a revision, and results that no longer match the
//! session are re-solved after a short pause in the editing (debounced), or, with automatic
//! re-solving off, greyed and labelled as stale.

use std::time::{Duration, Instant};

use super::model::RunData;
use super::session::Session;

/// How long the session must stay unchanged before an automatic re-solve.
pub const DEFAULT_DELAY: Duration = Duration::from_millis(350);

/// The debounce of automatic re-solves, keyed by the session's revision (the edit history's:
/// the one count of the session's changes).
#[derive(Clone, Debug)]
pub struct AutoSolve {
    /// The session revision seen last.
    pub revision: u64,
    /// The revision the last solve (▶ Run) was started at.
    pub run_requested: u64,
    /// The revision the last work–precision sweep was started at.
    pub sweep_requested: u64,
    pub delay: Duration,
    edited_at: Option<Instant>,
}

impl AutoSolve {
    pub fn new(delay: Duration) -> Self {
        Self {
            revision: 0,
            run_requested: 0,
            sweep_requested: 0,
            delay,
            edited_at: None,
        }
    }

    /// Takes the session's current `revision`; a new one starts the debounce. Returns whether
    /// the session changed.
    pub fn observe(&mut self, revision: u64, now: Instant) -> bool {
        if revision == self.revision {
            return false;
        }
        self.revision = revision;
        self.edited_at = Some(now);
        true
    }

    /// The time left until the last edit is `delay` old (`None`: settled).
    pub fn wait_left(&self, now: Instant) -> Option<Duration> {
        let at = self.edited_at?;
        let done = now.saturating_duration_since(at);
        (done < self.delay).then(|| self.delay - done)
    }
}

/// Why the runs no longer show what the session describes (`None`: they do).
pub fn stale_reason(runs: &[RunData], session: &Session) -> Option<String> {
    if runs.is_empty() {
        return None;
    }
    let spec = session.problem_spec();
    if let Some(run) = runs.iter().find(|r| r.spec != spec) {
        let solved = run
            .spec
            .name
            .clone()
            .unwrap_or_else(|| format!("{:?}", run.spec.kind).to_lowercase());
        let name = session.problem_name();
        return Some(
            if run.spec.kind != spec.kind || run.spec.name != spec.name {
                format!("these results are for {solved}, not {name}")
            } else {
                "the problem's parameters, initial state or time span changed since this solve"
                    .to_string()
            },
        );
    }
    if runs.len() != session.solvers.len() {
        return Some("solvers were added or removed since this solve".into());
    }
    runs.iter()
        .zip(&session.solvers)
        .position(|(r, c)| r.config != *c)
        .map(|i| format!("solver {}'s settings changed since this solve", i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::explorer::session::BuiltinDraft;
    use crate::export::Rgb;

    fn runs_of(session: &Session) -> Vec<RunData> {
        session
            .solvers
            .iter()
            .map(|c| {
                let mut r = RunData::new(c.clone(), Rgb(0, 0, 0));
                r.spec = session.problem_spec();
                r
            })
            .collect()
    }

    #[test]
    fn every_input_of_a_run_makes_it_stale() {
        let session = Session::default();
        let runs = runs_of(&session);
        assert_eq!(stale_reason(&runs, &session), None);
        let mut s = session.clone();
        s.builtin.params.insert("mu".into(), 5.0);
        assert!(stale_reason(&runs, &s).is_some_and(|r| r.contains("parameters")));
        let mut s = session.clone();
        s.builtin.y0[0] += 0.5;
        assert!(stale_reason(&runs, &s).is_some());
        let mut s = session.clone();
        s.builtin.t_span[1] = 3.0;
        assert!(stale_reason(&runs, &s).is_some());
        let mut s = session.clone();
        s.solvers[0].tol = 1e-7;
        assert!(stale_reason(&runs, &s).is_some_and(|r| r.contains("solver 1")));
        let mut s = session.clone();
        s.builtin = BuiltinDraft::defaults("lorenz");
        assert!(stale_reason(&runs, &s).is_some_and(|r| r.contains("van-der-pol")));
        // The description is not an input.
        let mut s = session.clone();
        s.description = "notes".into();
        assert_eq!(stale_reason(&runs, &s), None);
    }

    #[test]
    fn edits_bump_the_revision_and_the_debounce_waits_for_quiet() {
        let mut a = AutoSolve::new(Duration::from_millis(300));
        let t0 = Instant::now();
        let mut history = crate::app::undo::EditHistory::default();
        let mut s = Session::default();
        assert!(!a.observe(history.revision, t0));
        assert_eq!((a.revision, a.wait_left(t0)), (0, None));
        let mut next = s.clone();
        next.solvers[0].tol = 1e-6;
        history.apply(&mut s, next, t0);
        assert!(a.observe(history.revision, t0));
        assert_eq!(a.revision, 1);
        assert!(a.wait_left(t0 + Duration::from_millis(100)).is_some());
        // An edit that changes nothing is no edit.
        let same = s.clone();
        history.apply(&mut s, same, t0);
        assert!(!a.observe(history.revision, t0 + Duration::from_millis(100)));
        assert_eq!(a.wait_left(t0 + Duration::from_millis(300)), None);
    }
}
