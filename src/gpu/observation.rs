//! The observation layout of the regression losses, described once: where a batch's initial
//! states, targets and observed-component mask live in the kernels' `data` buffer, and where
//! the gather finds a window's observations in the training set. The host packing
//! ([`ObservationLayout::pack`]) evaluates the description; the WGSL index functions of the
//! `@observations` blocks of shaders/common.wgsl and shaders/gather.wgsl are written from it
//! ([`wgsl_block`]; a test ties the shipped blocks to the generated ones).
//!
//! `data = [y0 (B × D, sample-major) | targets (K × B × D, observation-major) |
//! mask (D: 1 observed, 0 not) | …]`; window item `start` starts from row `start` of the
//! training set and is observed at rows `start + 1 + k`, k < K (nodelab::train::task's
//! batches of windows: sample j of the window at `t_j`).

use std::fmt::Write;

/// An index of the regions below.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axis {
    /// Observation k < K.
    Obs,
    /// Sample s < B.
    Sample,
    /// Component i < D.
    Component,
}

/// One region of `data`: its axes, outermost first (row-major over them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// The WGSL index function's name.
    pub name: &'static str,
    pub axes: &'static [Axis],
}

/// The initial states, at offset 0.
pub const Y0: Region = Region {
    name: "y0_at",
    axes: &[Axis::Sample, Axis::Component],
};
/// The targets, at `target_off`.
pub const TARGETS: Region = Region {
    name: "target_at",
    axes: &[Axis::Obs, Axis::Sample, Axis::Component],
};
/// The observed-component mask, right after the targets.
pub const MASK: Region = Region {
    name: "mask_at",
    axes: &[Axis::Component],
};
/// Observation k of the window starting at row `start` is row `start + WINDOW_FIRST + k`.
pub const WINDOW_FIRST: usize = 1;

/// The symbols a shader knows the extents and the targets' offset by.
#[derive(Clone, Copy, Debug)]
pub struct Symbols {
    pub n_obs: &'static str,
    pub batch: &'static str,
    pub dim: &'static str,
    pub target_off: &'static str,
}

/// The gradient kernels (shaders/common.wgsl: `params`, the shape constant `D`).
pub const KERNEL_SYMBOLS: Symbols = Symbols {
    n_obs: "params.n_obs",
    batch: "params.batch",
    dim: "D",
    target_off: "params.target_off",
};
/// The gather (shaders/gather.wgsl: `gp`).
pub const GATHER_SYMBOLS: Symbols = Symbols {
    n_obs: "gp.n_obs",
    batch: "gp.batch",
    dim: "gp.dim",
    target_off: "gp.target_off",
};

fn axis_arg(a: Axis) -> &'static str {
    match a {
        Axis::Obs => "k",
        Axis::Sample => "s",
        Axis::Component => "i",
    }
}

fn axis_extent(a: Axis, sym: &Symbols) -> &'static str {
    match a {
        Axis::Obs => sym.n_obs,
        Axis::Sample => sym.batch,
        Axis::Component => sym.dim,
    }
}

/// `((a0 · E1 + a1) · E2 + a2)` in WGSL.
fn wgsl_index(axes: &[Axis], sym: &Symbols) -> String {
    let mut e = axis_arg(axes[0]).to_string();
    for &a in &axes[1..] {
        e = format!("({e}) * {} + {}", axis_extent(a, sym), axis_arg(a));
    }
    e.replace("(k) ", "k ").replace("(s) ", "s ")
}

/// Product of the extents in WGSL.
fn wgsl_size(axes: &[Axis], sym: &Symbols) -> String {
    axes.iter()
        .map(|&a| axis_extent(a, sym))
        .collect::<Vec<_>>()
        .join(" * ")
}

/// The WGSL index functions of every region for a shader with `sym` (the `@observations`
/// block): `y0_at(s, i)`, `target_at(k, s, i)`, `mask_at(i)` and `window_row(start, k)`.
pub fn wgsl_block(sym: &Symbols) -> String {
    let mut o = String::new();
    let args = |r: &Region| {
        r.axes
            .iter()
            .map(|&a| format!("{}: u32", axis_arg(a)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        o,
        "fn {}({}) -> u32 {{\n    return {};\n}}",
        Y0.name,
        args(&Y0),
        wgsl_index(Y0.axes, sym)
    );
    let _ = writeln!(
        o,
        "fn {}({}) -> u32 {{\n    return {} + {};\n}}",
        TARGETS.name,
        args(&TARGETS),
        sym.target_off,
        wgsl_index(TARGETS.axes, sym)
    );
    let _ = writeln!(
        o,
        "fn {}({}) -> u32 {{\n    return {} + {} + {};\n}}",
        MASK.name,
        args(&MASK),
        sym.target_off,
        wgsl_size(TARGETS.axes, sym),
        wgsl_index(MASK.axes, sym)
    );
    let _ = writeln!(
        o,
        "fn window_row(start: u32, k: u32) -> u32 {{\n    return start + {WINDOW_FIRST}u + k;\n}}"
    );
    o
}

/// The extents of one batch's regions and the observed components.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservationLayout {
    pub n_obs: usize,
    pub batch: usize,
    pub dim: usize,
    /// Observed components (empty: all).
    pub components: Vec<usize>,
}

impl ObservationLayout {
    fn extent(&self, a: Axis) -> usize {
        match a {
            Axis::Obs => self.n_obs,
            Axis::Sample => self.batch,
            Axis::Component => self.dim,
        }
    }

    /// Index of `(k, s, i)` (the region's axes pick theirs) relative to the region's start.
    pub fn index(&self, r: &Region, k: usize, s: usize, i: usize) -> usize {
        r.axes.iter().fold(0, |acc, &a| {
            acc * self.extent(a)
                + match a {
                    Axis::Obs => k,
                    Axis::Sample => s,
                    Axis::Component => i,
                }
        })
    }

    pub fn size(&self, r: &Region) -> usize {
        r.axes.iter().map(|&a| self.extent(a)).product()
    }

    /// Numbers of the loss data after y0: the targets and the mask.
    pub fn loss_floats(&self) -> usize {
        self.size(&TARGETS) + self.size(&MASK)
    }

    /// 1 for an observed component, 0 otherwise.
    pub fn mask(&self) -> Vec<f32> {
        (0..self.dim)
            .map(|i| {
                if self.components.is_empty() || self.components.contains(&i) {
                    1.0
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// Appends the loss data to `data` (whose end is `target_off`): `target(k, s, i)` at its
    /// place in the targets region, then the mask.
    pub fn pack(&self, data: &mut Vec<f32>, target: impl Fn(usize, usize, usize) -> f64) {
        let start = data.len();
        data.resize(start + self.size(&TARGETS), 0.0);
        for k in 0..self.n_obs {
            for s in 0..self.batch {
                for i in 0..self.dim {
                    data[start + self.index(&TARGETS, k, s, i)] = target(k, s, i) as f32;
                }
            }
        }
        let mask_start = data.len();
        data.resize(mask_start + self.size(&MASK), 0.0);
        for (i, m) in self.mask().into_iter().enumerate() {
            data[mask_start + self.index(&MASK, 0, 0, i)] = m;
        }
    }

    /// The training-set row of window item `start`'s observation k.
    pub fn window_row(start: usize, k: usize) -> usize {
        start + WINDOW_FIRST + k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(source: &str, sym: &Symbols) {
        let block = wgsl_block(sym);
        assert!(
            source.contains(&format!(
                "// @observations-begin\n{block}// @observations-end\n"
            )),
            "{block}"
        );
    }

    /// The shipped shaders carry exactly the index functions generated from the description.
    #[test]
    fn shipped_blocks_are_the_generated_ones() {
        shipped(include_str!("../../shaders/common.wgsl"), &KERNEL_SYMBOLS);
        shipped(include_str!("../../shaders/gather.wgsl"), &GATHER_SYMBOLS);
    }

    /// The packing puts target (k, s, i) observation-major, the mask after it; the WGSL
    /// expression is the same formula.
    #[test]
    fn packing_follows_the_description() {
        let l = ObservationLayout {
            n_obs: 3,
            batch: 4,
            dim: 2,
            components: vec![1],
        };
        let mut data = vec![9.0; 5];
        l.pack(&mut data, |k, s, i| (100 * k + 10 * s + i) as f64);
        assert_eq!(data.len(), 5 + 3 * 4 * 2 + 2);
        assert_eq!(data[5 + (2 * 4 + 3) * 2 + 1], 231.0);
        assert_eq!(&data[data.len() - 2..], &[0.0, 1.0]);
        assert_eq!(
            wgsl_index(TARGETS.axes, &KERNEL_SYMBOLS),
            "(k * params.batch + s) * D + i"
        );
        assert_eq!(ObservationLayout::window_row(7, 0), 8);
    }
}
