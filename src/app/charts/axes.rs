//! Axis marks and labels shared by every room's plots: at least three labelled ticks on any
//! axis, log axes labelled by decades (mantissas when zoomed in), labels a line of text apart.

use egui_plot::GridMark;

/// Scientific notation with up to three significant digits, trailing zeros dropped (`2.5e-3`).
pub fn short_sci(v: f64) -> String {
    let s = format!("{v:.2e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let m = m.trim_end_matches('0').trim_end_matches('.');
            format!("{m}e{e}")
        }
        None => s,
    }
}

/// Axis labels for a log10-valued axis: `10^k` at integer marks.
pub fn log_formatter(mark: GridMark, _range: &std::ops::RangeInclusive<f64>) -> String {
    let k = mark.value;
    if (k - k.round()).abs() < 1e-9 {
        format!("1e{}", k.round() as i64)
    } else {
        // Between decades: the value itself, plain in [1e-3, 1e4) (`3.5`, not `3.5e0`).
        sci_formatter(
            GridMark {
                value: 10f64.powf(k),
                step_size: mark.step_size,
            },
            _range,
        )
    }
}

/// A linear x axis whose labels follow [`nice_x_spacer`]'s marks exactly (egui_plot's default
/// label spacing of 60–80 points shows only one of them on a narrow plot).
pub fn x_axis_hints(label: &str) -> egui_plot::AxisHints<'static> {
    egui_plot::AxisHints::new_x()
        .label(label.to_string())
        .formatter(sci_formatter)
        .label_spacing(AXIS_LABEL_MIN..=AXIS_LABEL_MIN + 1.0)
}

/// Smallest distance in points between two labelled ticks of a y axis (a line of text, with
/// air). The axes are given a smaller minimum label spacing ([`AXIS_LABEL_MIN`]) so that egui
/// labels exactly the marks these spacers mark as labelled, and none of the faint ones.
pub const LABEL_SPACING: f64 = 20.0;
/// egui_plot labels a mark when `step_size` spans more than this many points.
pub const AXIS_LABEL_MIN: f32 = 10.0;
/// `step_size`, in points, of the marks that are grid lines only.
const FAINT: f64 = 9.0;

/// Points per value of an axis, from egui_plot's grid input (`base_step_size` is the value span
/// of its minimum grid spacing, 8 points).
fn points_per_value(input: &egui_plot::GridInput) -> f64 {
    8.0 / input.base_step_size.max(f64::MIN_POSITIVE)
}

/// The smallest of 1, 2, 2.5, 5 × 10^k that is at least `min`.
fn nice_at_least(min: f64) -> f64 {
    let p = 10f64.powf(min.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s >= min * (1.0 - 1e-9))
        .unwrap_or(10.0 * p)
}

/// The largest of 1, 2, 2.5, 5 × 10^k that is at most `max`.
fn nice_at_most(max: f64) -> f64 {
    let p = 10f64.powf(max.log10().floor());
    [10.0, 5.0, 2.5, 2.0, 1.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s <= max * (1.0 + 1e-9))
        .unwrap_or(p)
}

/// Multiples of `step` within `[lo, hi]`.
fn multiples(step: f64, lo: f64, hi: f64) -> Vec<f64> {
    let (a, b) = ((lo / step).ceil() as i64, (hi / step).floor() as i64);
    if b < a || b - a > 5000 {
        return Vec::new();
    }
    (a..=b).map(|k| k as f64 * step).collect()
}

/// Linear axis marks: labelled ticks every 1, 2, 2.5 or 5 × 10^k at least `min_points` apart,
/// and at least three of them however short the axis (the step then shrinks to a third of the
/// range), with faint minor lines in between.
fn linear_marks(input: &egui_plot::GridInput, min_points: f64) -> Vec<GridMark> {
    let (lo, hi) = input.bounds;
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return Vec::new();
    }
    let ppv = points_per_value(input);
    // At most about eight labels on a long axis.
    let min_points = min_points.max((hi - lo) * ppv / 8.0);
    let mut major = nice_at_least(min_points / ppv);
    if multiples(major, lo, hi).len() < 3 {
        major = nice_at_most((hi - lo) / 3.0);
    }
    // egui_plot also skips a label whose text is taller (y) or wider (x) than the step: a
    // labelled mark claims at least `min_points`.
    let labelled = major.max(1.01 * min_points / ppv);
    let minor = major / 5.0;
    let mut marks: Vec<GridMark> = multiples(major, lo, hi)
        .into_iter()
        .map(|v| GridMark {
            // Exact zero rather than -0 or 1e-17.
            value: if v.abs() < major * 1e-9 { 0.0 } else { v },
            step_size: labelled,
        })
        .collect();
    if minor * ppv >= 8.0 && minor * ppv <= FAINT {
        for v in multiples(minor, lo, hi) {
            if ((v / major).round() * major - v).abs() > minor * 1e-6 {
                marks.push(GridMark {
                    value: v,
                    step_size: minor,
                });
            }
        }
    }
    marks
}

/// Grid marks of a linear y axis (see [`linear_marks`]).
pub fn nice_spacer(input: egui_plot::GridInput) -> Vec<GridMark> {
    linear_marks(&input, LABEL_SPACING)
}

/// Grid marks of a linear x axis, whose labels are wider than tall.
pub fn nice_x_spacer(input: egui_plot::GridInput) -> Vec<GridMark> {
    linear_marks(&input, 64.0)
}

/// Grid marks for a log10-valued axis. Decades are labelled, every D-th one on a long axis
/// (D the smallest of 1, 2, 3, 5, 10, 20, 50, 100 that leaves room for the labels); when that
/// labels fewer than three, the mantissas 2 and 5, then 2 … 9, and, zoomed in to less than a
/// decade, round values of the range itself are labelled too, always at least a label's height
/// apart. Unlabelled decades and mantissas are faint lines, as on log paper.
pub fn decade_spacer(input: egui_plot::GridInput) -> Vec<GridMark> {
    log_marks(&input, LABEL_SPACING)
}

/// [`decade_spacer`] for an x axis (labels wider than tall).
pub fn decade_x_spacer(input: egui_plot::GridInput) -> Vec<GridMark> {
    log_marks(&input, 48.0)
}

fn log_marks(input: &egui_plot::GridInput, min_points: f64) -> Vec<GridMark> {
    let (lo, hi) = input.bounds;
    if !(lo.is_finite() && hi.is_finite()) || hi - lo > 300.0 || hi <= lo {
        return Vec::new();
    }
    let ppv = points_per_value(input);
    let min_points = min_points.max((hi - lo) * ppv / 8.0);
    let gap = min_points / ppv;
    let labelled = 1.01 * min_points / ppv;
    let faint = FAINT / ppv;
    let d = [1i64, 2, 3, 5, 10, 20, 50, 100]
        .into_iter()
        .find(|d| *d as f64 >= gap)
        .unwrap_or(100);
    let decades: Vec<i64> = ((lo.ceil() as i64)..=(hi.floor() as i64)).collect();
    let mut labels: Vec<f64> = decades
        .iter()
        .filter(|k| *k % d == 0)
        .map(|k| *k as f64)
        .collect();
    if labels.len() < 3 {
        // Greedy over finer and finer candidates, keeping what is already labelled.
        let mantissas: [&[f64]; 2] = [
            &[1.0, 2.0, 5.0],
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
        ];
        let within = |v: f64| v >= lo && v <= hi;
        let mut sets: Vec<Vec<f64>> = mantissas
            .iter()
            .map(|ms| {
                ((lo.floor() as i64)..=(hi.floor() as i64))
                    .flat_map(|k| ms.iter().map(move |m| k as f64 + m.log10()))
                    .filter(|v| within(*v))
                    .collect()
            })
            .collect();
        let (a, b) = (10f64.powf(lo), 10f64.powf(hi));
        for n in [4.0, 8.0, 16.0] {
            let step = nice_at_most((b - a) / n);
            sets.push(
                multiples(step, a, b)
                    .into_iter()
                    .filter(|v| *v > 0.0)
                    .map(f64::log10)
                    .filter(|v| within(*v))
                    .collect(),
            );
        }
        for set in sets {
            let mut all: Vec<f64> = labels.iter().copied().chain(set).collect();
            all.sort_by(f64::total_cmp);
            all.dedup_by(|x, y| (*x - *y).abs() < 1e-9);
            let mut picked: Vec<f64> = Vec::new();
            for v in all {
                if picked.last().is_none_or(|p| v - p >= gap) {
                    picked.push(v);
                }
            }
            if picked.len() > labels.len() {
                labels = picked;
            }
            if labels.len() >= 3 {
                break;
            }
        }
    }
    let mut marks: Vec<GridMark> = labels
        .iter()
        .map(|v| GridMark {
            value: *v,
            step_size: labelled,
        })
        .collect();
    let is_label = |v: f64| labels.iter().any(|l| (l - v).abs() < 1e-9);
    for k in decades {
        if !is_label(k as f64) {
            marks.push(GridMark {
                value: k as f64,
                step_size: faint,
            });
        }
    }
    if ppv >= 40.0 && hi - lo < 30.0 {
        for k in (lo.floor() as i64)..=(hi.floor() as i64) {
            for m in 2..=9 {
                let v = k as f64 + f64::from(m).log10();
                if v >= lo && v <= hi && !is_label(v) {
                    marks.push(GridMark {
                        value: v,
                        step_size: faint.min(0.9 * labelled),
                    });
                }
            }
        }
    }
    marks
}

/// The labels egui_plot draws on a y axis `points` long showing `bounds`: the marks whose
/// `step_size` spans more than [`AXIS_LABEL_MIN`] points and the text's height, with a
/// non-empty label (tests).
pub fn labelled_ticks(
    spacer: fn(egui_plot::GridInput) -> Vec<GridMark>,
    formatter: fn(GridMark, &std::ops::RangeInclusive<f64>) -> String,
    bounds: (f64, f64),
    points: f64,
) -> Vec<String> {
    let ppv = points / (bounds.1 - bounds.0);
    let input = egui_plot::GridInput {
        bounds,
        base_step_size: 8.0 / ppv,
    };
    let range = bounds.0..=bounds.1;
    let mut marks = spacer(input);
    marks.sort_by(|a, b| a.value.total_cmp(&b.value));
    // egui_plot labels a mark whose step spans more than the axis' minimum label spacing and
    // at least the height of its text (about 16 points).
    marks
        .into_iter()
        .filter(|m| m.step_size * ppv > f64::from(AXIS_LABEL_MIN) && m.step_size * ppv >= 16.0)
        .map(|m| formatter(m, &range))
        .filter(|t| !t.is_empty())
        .collect()
}

/// Axis labels for a linear axis: scientific notation for very large or small values, so that
/// the label width (and with it the left edge of each linked time plot) stays put.
pub fn sci_formatter(mark: GridMark, _range: &std::ops::RangeInclusive<f64>) -> String {
    let v = mark.value;
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e4 || v.abs() < 1e-3 {
        short_sci(v)
    } else {
        // Up to four significant digits, trailing zeros dropped (the marks are round values).
        let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
        let s = format!("{v:.digits$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_axis_shows_at_least_three_labelled_ticks() {
        // Linear axes: short and tall, small and large ranges, off-centre.
        for points in [70.0, 90.0, 120.0, 200.0, 400.0] {
            for (lo, hi) in [
                (-2.1, 2.3),
                (0.0, 1.0),
                (0.93, 1.07),
                (-0.004, 0.0012),
                (2.0e4, 9.5e4),
                (-3.3, -2.9),
                (0.0, 15.0),
            ] {
                let labels = labelled_ticks(nice_spacer, sci_formatter, (lo, hi), points);
                assert!(labels.len() >= 3, "{points} pt, [{lo}, {hi}]: {labels:?}");
                let unique: std::collections::BTreeSet<&String> = labels.iter().collect();
                assert_eq!(unique.len(), labels.len(), "distinct labels: {labels:?}");
            }
        }
        // Log axes (values are log10): many decades, a few, one, and zoomed into one.
        for points in [70.0, 90.0, 120.0, 300.0] {
            for (lo, hi) in [
                (-12.0, 0.5),
                (-6.2, -1.1),
                (-3.0, -1.5),
                (-2.4, -1.6),
                (-1.95, -1.85),
                (0.2, 0.9),
                (-16.0, 1.0),
            ] {
                let labels = labelled_ticks(decade_spacer, log_formatter, (lo, hi), points);
                assert!(labels.len() >= 3, "{points} pt, [{lo}, {hi}]: {labels:?}");
                let unique: std::collections::BTreeSet<&String> = labels.iter().collect();
                assert_eq!(unique.len(), labels.len(), "distinct labels: {labels:?}");
            }
        }
        // Whole decades are labelled as such.
        let labels = labelled_ticks(decade_spacer, log_formatter, (-6.2, -1.1), 200.0);
        assert!(labels.contains(&"1e-3".to_string()), "{labels:?}");
    }

    #[test]
    fn labelled_ticks_keep_a_line_of_text_apart() {
        for (spacer, bounds) in [
            (
                nice_spacer as fn(egui_plot::GridInput) -> Vec<GridMark>,
                (-2.1, 2.3),
            ),
            (decade_spacer, (-9.0, 0.0)),
            (decade_spacer, (-2.4, -1.6)),
        ] {
            let points = 90.0;
            let ppv = points / (bounds.1 - bounds.0);
            let mut marks: Vec<GridMark> = spacer(egui_plot::GridInput {
                bounds,
                base_step_size: 8.0 / ppv,
            })
            .into_iter()
            .filter(|m| m.step_size * ppv > f64::from(AXIS_LABEL_MIN))
            .collect();
            marks.sort_by(|a, b| a.value.total_cmp(&b.value));
            for w in marks.windows(2) {
                let gap = (w[1].value - w[0].value) * ppv;
                assert!(gap >= 0.8 * LABEL_SPACING, "{bounds:?}: {gap} points apart");
            }
        }
    }
}
