//! How the Training room draws loss curves: the settings (smoothing, x axis, small multiples,
//! log y; saved with the session and undoable) and each curve's prepared points, kept up to
//! date as records arrive so that a frame only decimates them. The arithmetic is
//! [`crate::train::curve`]'s.

use egui_plot::PlotPoint;
use serde::{Deserialize, Serialize};

use crate::train::curve::{CurveX, Ema, XAxis, x_at_iter};
use crate::train::history::KEEP;
use crate::train::record::IterRecord;

/// How the loss curves are drawn (saved with the session; edits are undoable).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CurveSettings {
    /// Weight of the past in the exponential moving average, 0 … 0.99 (0: raw curve only).
    pub smoothing: f64,
    pub x_axis: XAxis,
    /// One small plot per method on shared axes instead of one plot with every method.
    pub small_multiples: bool,
    pub log_y: bool,
}

impl Default for CurveSettings {
    fn default() -> Self {
        Self {
            smoothing: 0.6,
            x_axis: XAxis::Iteration,
            small_multiples: false,
            log_y: true,
        }
    }
}

fn axis_index(axis: XAxis) -> usize {
    match axis {
        XAxis::Iteration => 0,
        XAxis::WallTime => 1,
        XAxis::Evaluations => 2,
    }
}

/// One method's loss curve prepared for drawing: the raw points against each x axis and the
/// smoothed points for the current settings, thinned as a method's history is
/// ([`crate::train::history`]: every point whose iteration is a multiple of a stride that
/// doubles past [`KEEP`] points, and the newest), so that a run of any length holds a few
/// thousand points per method. The moving average runs over every record pushed; after a
/// change of settings it is rebuilt from the points kept.
#[derive(Clone, Debug)]
pub struct CurveData {
    /// The iteration of each kept point.
    iters: Vec<usize>,
    raw: [Vec<PlotPoint>; 3],
    xs: CurveX,
    smoothed: Vec<PlotPoint>,
    ema: Option<Ema>,
    /// The axis and smoothing weight `smoothed` was built for.
    key: Option<(XAxis, u64)>,
    stride: usize,
    keep: usize,
}

impl Default for CurveData {
    fn default() -> Self {
        Self::with_keep(KEEP)
    }
}

impl CurveData {
    /// An empty curve that keeps at most `keep` points (≥ 2; [`KEEP`] by default).
    pub fn with_keep(keep: usize) -> Self {
        Self {
            iters: Vec::new(),
            raw: Default::default(),
            xs: CurveX::default(),
            smoothed: Vec::new(),
            ema: None,
            key: None,
            stride: 1,
            keep: keep.max(2),
        }
    }

    /// A curve of `records` smoothed as `settings` say.
    pub fn of(records: &[IterRecord], settings: &CurveSettings) -> Self {
        let mut c = Self::default();
        for r in records {
            c.push(r);
        }
        c.refresh(settings);
        c
    }

    /// Points kept.
    pub fn len(&self) -> usize {
        self.iters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.iters.is_empty()
    }

    /// Adds the next record (iterations increasing), thinning the kept points as
    /// [`crate::train::history::push_thinned`] does.
    pub fn push(&mut self, r: &IterRecord) {
        let x = self.xs.push(r);
        let smoothed = match (self.key, self.ema.as_mut()) {
            (Some((axis, _)), Some(ema)) => {
                Some(PlotPoint::new(x[axis_index(axis)], ema.push(r.loss)))
            }
            _ => None,
        };
        // The newest point is kept off the stride's grid only until a newer one comes.
        if self
            .iters
            .last()
            .is_some_and(|l| !l.is_multiple_of(self.stride))
        {
            self.iters.pop();
            self.raw.iter_mut().for_each(|v| {
                v.pop();
            });
            self.smoothed.pop();
        }
        self.iters.push(r.iter);
        for (k, pts) in self.raw.iter_mut().enumerate() {
            pts.push(PlotPoint::new(x[k], r.loss));
        }
        if let Some(p) = smoothed {
            self.smoothed.push(p);
        }
        while self.iters.len() > self.keep {
            self.stride = self.stride.saturating_mul(2);
            let n = self.iters.len();
            let kept: Vec<bool> = self
                .iters
                .iter()
                .enumerate()
                .map(|(i, it)| it.is_multiple_of(self.stride) || i + 1 == n)
                .collect();
            retain_marked(&mut self.iters, &kept);
            for v in &mut self.raw {
                retain_marked(v, &kept);
            }
            if self.smoothed.len() == n {
                retain_marked(&mut self.smoothed, &kept);
            }
        }
    }

    /// Rebuilds the smoothed points when the axis or the weight changed (a pass over the
    /// kept points, once per change).
    pub fn refresh(&mut self, settings: &CurveSettings) {
        let key = (settings.x_axis, settings.smoothing.to_bits());
        if self.key == Some(key) {
            return;
        }
        let mut ema = Ema::new(settings.smoothing);
        self.smoothed = self.raw[axis_index(settings.x_axis)]
            .iter()
            .map(|p| PlotPoint::new(p.x, ema.push(p.y)))
            .collect();
        self.ema = Some(ema);
        self.key = Some(key);
    }

    /// The raw loss against `axis`.
    pub fn raw(&self, axis: XAxis) -> &[PlotPoint] {
        &self.raw[axis_index(axis)]
    }

    /// The smoothed loss on the axis of the last [`CurveData::refresh`].
    pub fn smoothed(&self) -> &[PlotPoint] {
        &self.smoothed
    }

    /// Where an evaluation after iteration `iter` sits on `axis` (between kept points when its
    /// own was thinned away, [`x_at_iter`]).
    pub fn x_of_iter(&self, axis: XAxis, iter: usize) -> Option<f64> {
        let pts = &self.raw[axis_index(axis)];
        x_at_iter(&self.iters, |i| pts[i].x, iter)
    }
}

/// Keeps the items of `v` marked in `kept` (one mark per item).
fn retain_marked<T>(v: &mut Vec<T>, kept: &[bool]) {
    let mut marks = kept.iter();
    v.retain(|_| marks.next().copied().unwrap_or(true));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::curve::smooth;

    fn rec(iter: usize, loss: f64) -> IterRecord {
        IterRecord {
            iter,
            loss,
            grad_ms: 1.0,
            ms: 2.0,
            wall_s: iter as f64 * 0.002,
            nfe_forward: 7,
            nfe_backward: 3,
            steps_accepted: 0,
            steps_rejected: 0,
            stored_bytes: 0,
            peak_heap_bytes: 0,
        }
    }

    #[test]
    fn records_pushed_after_a_refresh_extend_the_same_smoothed_curve() {
        let records: Vec<IterRecord> = (1..=40)
            .map(|i| rec(i, 1.0 / i as f64 + (i % 3) as f64))
            .collect();
        let s = CurveSettings {
            x_axis: XAxis::Evaluations,
            ..CurveSettings::default()
        };
        let mut live = CurveData::of(&records[..10], &s);
        for r in &records[10..] {
            live.push(r);
        }
        let whole = CurveData::of(&records, &s);
        let ys: Vec<f64> = records.iter().map(|r| r.loss).collect();
        let want = smooth(&ys, 0.6);
        assert_eq!(live.smoothed().len(), 40);
        for ((a, b), w) in live.smoothed().iter().zip(whole.smoothed()).zip(&want) {
            assert_eq!((a.x, a.y), (b.x, b.y));
            assert_eq!(a.y, *w);
        }
        // 10 f-evaluations per iteration: x is 10·i on this axis.
        assert_eq!(live.smoothed()[39].x, 400.0);
        assert_eq!(live.x_of_iter(XAxis::Evaluations, 5), Some(50.0));
        // A new weight rebuilds it.
        live.refresh(&CurveSettings {
            smoothing: 0.0,
            ..s.clone()
        });
        assert_eq!(live.smoothed()[3].y, records[3].loss);
    }
}
