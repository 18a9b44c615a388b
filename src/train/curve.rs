//! How a training curve is read: the x axis it is drawn against ([`XAxis`]: iteration, the
//! method's cumulative wall time, or its cumulative f-evaluations) and the exponential moving
//! average that smooths it ([`Ema`], TensorBoard's "smoothing" with its start-up debiasing).
//! Plain numbers in, plain numbers out: the app draws them, tests check them by hand.

use serde::{Deserialize, Serialize};

use super::record::IterRecord;

/// What a loss curve is drawn against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum XAxis {
    /// The iteration number (1-based; evaluations before the first update sit at 0).
    #[default]
    Iteration,
    /// The method's cumulative training wall time, s (evaluations excluded): `IterRecord::wall_s`.
    WallTime,
    /// The method's cumulative f-evaluations, forward and backward:
    /// `Σ_{k ≤ i} (nfe_forward_k + nfe_backward_k)`.
    Evaluations,
}

impl XAxis {
    pub const ALL: [XAxis; 3] = [XAxis::Iteration, XAxis::WallTime, XAxis::Evaluations];

    /// The axis label.
    pub fn label(self) -> &'static str {
        match self {
            XAxis::Iteration => "iteration",
            XAxis::WallTime => "wall time (s)",
            XAxis::Evaluations => "f-evaluations",
        }
    }
}

/// The x values of a method's records on each axis, built as records arrive (the running sum
/// of f-evaluations is kept between calls).
///
/// A kept run's history is thinned past a few thousand iterations (every k-th record): a
/// record then stands for the iterations since the previous one, and adds its f-evaluations
/// that many times, `Σ (nfe_forward_i + nfe_backward_i)·(iter_i − iter_{i−1})`. For
/// consecutive records this is the exact sum; over gaps it is exact when the count per
/// iteration is constant (fixed steps) and an estimate otherwise.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CurveX {
    nfe: u64,
    last_iter: usize,
}

impl CurveX {
    /// The x of the next record on every axis, in the order of [`XAxis::ALL`].
    pub fn push(&mut self, r: &IterRecord) -> [f64; 3] {
        let span = r.iter.saturating_sub(self.last_iter).max(1) as u64;
        self.last_iter = r.iter;
        self.nfe = self
            .nfe
            .saturating_add((r.nfe_forward + r.nfe_backward).saturating_mul(span));
        [r.iter as f64, r.wall_s, self.nfe as f64]
    }
}

/// The x of the model after iteration `iter`, for an evaluation: 0 before the first update,
/// the x of the point of that iteration when one is kept (`iters` sorted: the iteration of
/// each kept point, `x(i)` the x of point `i` on the axis drawn), else the straight line
/// between the kept points either side — `x_a + (x_b − x_a)·(iter − a)/(b − a)` — as a thinned
/// history keeps only every k-th iteration. `None` past the last kept point.
pub fn x_at_iter(iters: &[usize], x: impl Fn(usize) -> f64, iter: usize) -> Option<f64> {
    if iter == 0 {
        return Some(0.0);
    }
    match iters.binary_search(&iter) {
        Ok(i) => Some(x(i)),
        Err(i) if i < iters.len() => {
            let (b, xb) = (iters[i], x(i));
            let (a, xa) = if i == 0 {
                (0, 0.0)
            } else {
                (iters[i - 1], x(i - 1))
            };
            Some(xa + (xb - xa) * (iter - a) as f64 / (b - a) as f64)
        }
        Err(_) => None,
    }
}

/// Exponential moving average with debiasing, as TensorBoard smooths scalars
/// (`tensorboard/webapp/widgets/line_chart_v2/lib/data_transformer.ts`, `classicSmoothing`):
/// `m_k = w·m_{k−1} + (1−w)·v_k` from `m_0 = 0`, shown divided by `1 − w^k` (the sum of the
/// weights so far), so the first smoothed value is the first raw value rather than a fraction of
/// it. Non-finite values pass through unsmoothed and leave the average unchanged.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ema {
    weight: f64,
    last: f64,
    /// `1 − w^k` after `k` finite values.
    debias: f64,
}

/// Smoothing weights above this are clamped (0.99 keeps about the last hundred values).
pub const MAX_SMOOTHING: f64 = 0.99;

impl Ema {
    /// An average with weight `w` on the past (clamped to `0 … MAX_SMOOTHING`; 0: no smoothing).
    pub fn new(weight: f64) -> Self {
        let weight = if weight.is_finite() {
            weight.clamp(0.0, MAX_SMOOTHING)
        } else {
            0.0
        };
        Self {
            weight,
            last: 0.0,
            debias: 0.0,
        }
    }

    /// Adds `v`; returns the debiased average so far (or `v` itself when it is not finite).
    pub fn push(&mut self, v: f64) -> f64 {
        if !v.is_finite() {
            return v;
        }
        self.last = self.weight * self.last + (1.0 - self.weight) * v;
        self.debias = self.weight * self.debias + (1.0 - self.weight);
        self.last / self.debias
    }
}

/// The whole series smoothed with [`Ema`] of weight `w`.
pub fn smooth(values: &[f64], w: f64) -> Vec<f64> {
    let mut ema = Ema::new(w);
    values.iter().map(|&v| ema.push(v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(iter: usize, wall_s: f64, fwd: u64, bwd: u64) -> IterRecord {
        IterRecord {
            iter,
            loss: 1.0,
            grad_ms: 0.0,
            ms: 0.0,
            wall_s,
            nfe_forward: fwd,
            nfe_backward: bwd,
            steps_accepted: 0,
            steps_rejected: 0,
            stored_bytes: 0,
            peak_heap_bytes: 0,
        }
    }

    #[test]
    fn ema_with_debias_matches_hand_computed_values() {
        // w = 0.5 on 4, 0, 8:
        //   m1 = 0.5·0 + 0.5·4 = 2,   d1 = 0.5,  m1/d1 = 4
        //   m2 = 0.5·2 + 0.5·0 = 1,   d2 = 0.75, m2/d2 = 4/3
        //   m3 = 0.5·1 + 0.5·8 = 4.5, d3 = 0.875, m3/d3 = 36/7
        let s = smooth(&[4.0, 0.0, 8.0], 0.5);
        let want = [4.0, 4.0 / 3.0, 36.0 / 7.0];
        for (a, b) in s.iter().zip(want) {
            assert!((a - b).abs() < 1e-14, "{s:?} vs {want:?}");
        }
        // Without the debiasing the first value would be 2 (half the first raw value): the
        // debiased curve starts on the data.
        assert_eq!(smooth(&[3.0], 0.9), vec![3.0]);
        // A constant series stays constant at every weight.
        for w in [0.0, 0.3, 0.6, 0.99] {
            assert!(
                smooth(&[2.5; 50], w)
                    .iter()
                    .all(|v| (v - 2.5).abs() < 1e-12)
            );
        }
    }

    #[test]
    fn weight_zero_is_the_raw_curve_and_large_weights_are_clamped() {
        let v = [1.0, 5.0, -2.0, 7.5];
        assert_eq!(smooth(&v, 0.0), v.to_vec());
        assert_eq!(Ema::new(5.0), Ema::new(MAX_SMOOTHING));
        assert_eq!(Ema::new(f64::NAN), Ema::new(0.0));
        assert_eq!(Ema::new(-1.0), Ema::new(0.0));
    }

    #[test]
    fn non_finite_values_pass_through_and_leave_the_average_alone() {
        // w = 0.5 on 2, NaN, 4: the NaN is shown as is; then m = 0.5·1 + 0.5·4 = 2.5 with
        // d = 0.75 → 10/3 (the same as smoothing 2, 4).
        let s = smooth(&[2.0, f64::NAN, 4.0], 0.5);
        assert_eq!(s[0], 2.0);
        assert!(s[1].is_nan());
        assert!((s[2] - 10.0 / 3.0).abs() < 1e-14);
        assert_eq!(s[2], smooth(&[2.0, 4.0], 0.5)[1]);
    }

    #[test]
    fn cumulative_x_sums_forward_and_backward_evaluations() {
        let records = [rec(1, 0.5, 10, 20), rec(2, 1.25, 12, 0), rec(3, 2.0, 6, 6)];
        let mut x = CurveX::default();
        let got: Vec<[f64; 3]> = records.iter().map(|r| x.push(r)).collect();
        assert_eq!(
            got,
            vec![[1.0, 0.5, 30.0], [2.0, 1.25, 42.0], [3.0, 2.0, 54.0]]
        );
        let iters = [1, 2, 3];
        let column = |k: usize| got.iter().map(|x| x[k]).collect::<Vec<f64>>();
        let at = |axis: XAxis, iter| {
            let xs = column(axis as usize);
            x_at_iter(&iters, |i| xs[i], iter)
        };
        // An evaluation after iteration 2 sits where iteration 2's record does.
        assert_eq!(at(XAxis::Iteration, 2), Some(2.0));
        assert_eq!(at(XAxis::WallTime, 2), Some(1.25));
        assert_eq!(at(XAxis::Evaluations, 2), Some(42.0));
        // Before the first update: the origin on every axis.
        for axis in XAxis::ALL {
            assert_eq!(at(axis, 0), Some(0.0));
        }
        // Past the last record there is no x.
        assert_eq!(at(XAxis::WallTime, 7), None);
        // Between kept points (a thinned history: 8 and 16 kept), on the line between them;
        // before the first, on the line from the origin.
        let xs = [8.0, 40.0];
        assert_eq!(x_at_iter(&[8, 16], |i| xs[i], 12), Some(24.0));
        assert_eq!(x_at_iter(&[8, 16], |i| xs[i], 2), Some(2.0));
    }

    #[test]
    fn a_thinned_history_counts_each_record_for_the_iterations_it_stands_for() {
        // Records kept at iterations 1, 2, 4, 8 (every other one dropped after 2): 5 + 5 per
        // iteration throughout gives 10·iter, as the full history would.
        let records = [
            rec(1, 0.1, 5, 5),
            rec(2, 0.2, 5, 5),
            rec(4, 0.4, 5, 5),
            rec(8, 0.8, 5, 5),
        ];
        let mut x = CurveX::default();
        let nfe: Vec<f64> = records.iter().map(|r| x.push(r)[2]).collect();
        assert_eq!(nfe, vec![10.0, 20.0, 40.0, 80.0]);
    }
}
