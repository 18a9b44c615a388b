//! How the Training room draws loss curves: the settings (smoothing, x axis, small multiples,
//! log y; saved with the session and undoable) and each curve's prepared points, kept up to
//! date as records arrive so that a frame only decimates them. The arithmetic is
//! [`crate::train::curve`]'s.

use egui_plot::PlotPoint;
use serde::{Deserialize, Serialize};

use crate::train::curve::{CurveX, Ema, XAxis, x_at_iter};
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
/// smoothed points for the current settings.
#[derive(Clone, Debug, Default)]
pub struct CurveData {
    raw: [Vec<PlotPoint>; 3],
    xs: CurveX,
    smoothed: Vec<PlotPoint>,
    ema: Option<Ema>,
    /// The axis and smoothing weight `smoothed` was built for.
    key: Option<(XAxis, u64)>,
}

impl CurveData {
    /// A curve of `records` smoothed as `settings` say.
    pub fn of(records: &[IterRecord], settings: &CurveSettings) -> Self {
        let mut c = Self::default();
        for r in records {
            c.push(r);
        }
        c.refresh(settings);
        c
    }

    /// Adds the next record.
    pub fn push(&mut self, r: &IterRecord) {
        let x = self.xs.push(r);
        for (k, pts) in self.raw.iter_mut().enumerate() {
            pts.push(PlotPoint::new(x[k], r.loss));
        }
        if let (Some((axis, _)), Some(ema)) = (self.key, self.ema.as_mut()) {
            self.smoothed
                .push(PlotPoint::new(x[axis_index(axis)], ema.push(r.loss)));
        }
    }

    /// Rebuilds the smoothed points when the axis or the weight changed (a pass over the
    /// records, once per change).
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

    /// Where an evaluation after iteration `iter` sits on `axis` (`records`: the records this
    /// curve was built from).
    pub fn x_of_iter(&self, records: &[IterRecord], axis: XAxis, iter: usize) -> Option<f64> {
        let nfe = &self.raw[2];
        x_at_iter(
            records,
            |i| nfe.get(i).map_or(f64::NAN, |p| p.x),
            axis,
            iter,
        )
    }
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
        assert_eq!(live.x_of_iter(&records, XAxis::Evaluations, 5), Some(50.0));
        // A new weight rebuilds it.
        live.refresh(&CurveSettings {
            smoothing: 0.0,
            ..s.clone()
        });
        assert_eq!(live.smoothed()[3].y, records[3].loss);
    }
}
