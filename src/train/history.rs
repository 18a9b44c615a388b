//! A method's history in memory at a bounded size, however long the run: the curve is kept
//! whole on disk (a run directory's `curve.csv`, `--csv`) and thinned here.
//!
//! Thinning keeps every item whose iteration is a multiple of a stride, plus the newest item;
//! when more than [`KEEP`] items are held the stride doubles (a power of two, so the items kept
//! after a doubling were kept before it). What is kept therefore depends only on the items
//! pushed, not on when the run was stopped and resumed. The sums a summary needs (f-evaluations,
//! mean time, peak memory, the best and the last evaluation) are accumulated over every item in
//! [`super::record::Totals`].

use serde::{Deserialize, Serialize};

/// Items of each kind (iterations, evaluations, gradient checks) kept in memory per method.
pub const KEEP: usize = 2048;

/// The strides of a method's thinned lists (1: nothing thinned yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Strides {
    pub records: usize,
    pub evals: usize,
    pub checks: usize,
}

impl Default for Strides {
    fn default() -> Self {
        Self {
            records: 1,
            evals: 1,
            checks: 1,
        }
    }
}

/// Appends `item` (iteration `key(item)`, increasing) to `list` thinned at `stride`, keeping at
/// most `keep` items (`keep ≥ 2`).
pub fn push_thinned<T>(
    list: &mut Vec<T>,
    stride: &mut usize,
    item: T,
    key: impl Fn(&T) -> usize,
    keep: usize,
) {
    let on_grid = |s: usize, t: &T| key(t).is_multiple_of(s);
    // The newest item is kept off the grid only until a newer one comes.
    if list.last().is_some_and(|l| !on_grid(*stride, l)) {
        list.pop();
    }
    list.push(item);
    while list.len() > keep.max(2) {
        *stride = stride.saturating_mul(2);
        let s = *stride;
        let n = list.len();
        let mut i = 0;
        list.retain(|t| {
            i += 1;
            on_grid(s, t) || i == n
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::{EvalRecord, Totals};
    use super::*;

    #[test]
    fn a_thinned_list_stays_bounded_and_keeps_the_grid_and_the_newest() {
        let mut list = Vec::new();
        let mut stride = 1;
        for i in 1..=100_000usize {
            push_thinned(&mut list, &mut stride, i, |&k| k, 64);
            assert!(list.len() <= 64);
            assert_eq!(list.last(), Some(&i));
        }
        // 100 000 / 64 ≈ 1563 → the stride is the next power of two, 2048.
        assert_eq!(stride, 2048);
        assert!(list[..list.len() - 1].iter().all(|k| k % 2048 == 0));
        assert_eq!(list.len(), 100_000 / 2048 + 1);
    }

    #[test]
    fn thinning_depends_only_on_the_items_pushed() {
        // Pushing 1..=N in one go equals pushing 1..=M, then re-pushing nothing but continuing
        // with the saved list and stride (a resumed run).
        let (mut a, mut sa) = (Vec::new(), 1);
        for i in 1..=5000usize {
            push_thinned(&mut a, &mut sa, i, |&k| k, 100);
        }
        let (mut b, mut sb) = (Vec::new(), 1);
        for i in 1..=2345usize {
            push_thinned(&mut b, &mut sb, i, |&k| k, 100);
        }
        let (mut c, mut sc) = (b.clone(), sb);
        for i in 2346..=5000usize {
            push_thinned(&mut c, &mut sc, i, |&k| k, 100);
        }
        assert_eq!((a, sa), (c, sc));
    }

    #[test]
    fn totals_keep_the_best_and_the_last_evaluation() {
        let e = |iter, loss| EvalRecord {
            iter,
            loss,
            accuracy: None,
            train_accuracy: None,
        };
        let t = Totals::of(&[], &[e(0, 3.0), e(10, 1.0), e(20, f64::NAN), e(30, 2.0)]);
        assert_eq!(t.best_eval.map(|b| b.iter), Some(10));
        assert_eq!(t.last_eval.map(|b| b.iter), Some(30));
        let acc = |iter, loss, a| EvalRecord {
            accuracy: Some(a),
            ..e(iter, loss)
        };
        let t = Totals::of(
            &[],
            &[acc(0, 3.0, 0.5), acc(10, 1.0, 0.33), acc(20, 2.0, 0.51)],
        );
        assert_eq!(t.best_eval.map(|b| b.iter), Some(10));
        assert_eq!(t.best_accuracy.map(|b| b.iter), Some(20));
    }
}
