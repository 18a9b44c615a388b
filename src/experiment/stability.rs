//! `stability-regions` (reversible-solvers, "Stability of reversible ODE solvers"): for
//! `y' = αy` with step h, the set of α where a scheme's iterates go to 0.
//!
//! With `z = αh` one step is linear: `Y_{k+1} = M(z) Y_k`. The base methods (Euler, midpoint,
//! RK4) are stable where `|R(z)| < 1`, `R` their stability function (`M[0][0]`); the
//! two-component schemes (λ-reversible midpoint and RK4, ALF, reversible Heun) where the
//! spectral radius `ρ(M(z)) < 1`. `M(z)` is built by applying one step of each scheme, as
//! written in [`super::schemes`], to the unit vectors. "Stable" means `< 1 − 1e-9`, so that
//! rounding on a boundary `ρ = 1` does not count as stable.
//!
//! The seed's statements are checked on the grid:
//! - "ALF and reversible Heun are not A-stable for any α": for both, `det M(z) = −1` for
//!   every z (from the definitions: ALF `[[1+z, z/2], [2z, z−1]]` with V scaled by h, Heun
//!   `[[1+z, z²/2], [2, z−1]]`), so the eigenvalues' moduli multiply to 1 and `ρ ≥ 1`
//!   everywhere: we check that no grid point is stable and report `max | |det M| − 1 |`.
//! - "decreasing λ increases the region": the area of the region in Re α < 0 at each λ of a
//!   sweep, and whether it grows as λ falls (the λ-schemes have `det M = λ`, so at λ = 1 the
//!   region is empty for the same reason as above).

use serde::Serialize;
use serde_json::{Value, json};

use super::plot::{Plot, PlotKind, color};
use super::result::{Check, ExperimentResult, Table, Verdict};
use super::schemes::{Complex, Scheme, spectral_radius, step_matrix};
use super::{Control, ControlKind, ExperimentError, LAMBDA, RunContext, Settings};

pub(crate) const CONTROLS: &[Control] = &[
    LAMBDA,
    Control {
        key: "h",
        label: "step h",
        help: "the step size; the plotted plane is α = z/h",
        kind: ControlKind::Number {
            min: 1e-6,
            max: 1e6,
            quick: 1.0,
            full: 1.0,
        },
    },
    Control {
        key: "lambda_sweep",
        label: "λ sweep",
        help: "the λ values whose region areas are compared",
        kind: ControlKind::Numbers {
            quick: "1,0.9,0.8,0.6,0.4,0.2",
            full: "1,0.95,0.9,0.8,0.7,0.6,0.5,0.4,0.3,0.2,0.1",
        },
    },
    Control {
        key: "grid",
        label: "grid points per axis",
        help: "resolution of the grid over the window (at least 200)",
        kind: ControlKind::Integer {
            min: 200,
            max: 2001,
            quick: 201,
            full: 601,
        },
    },
    Control {
        key: "re_min",
        label: "Re αh from",
        help: "left edge of the window, in units of αh",
        kind: ControlKind::Number {
            min: -100.0,
            max: -0.1,
            quick: -3.5,
            full: -3.5,
        },
    },
    Control {
        key: "re_max",
        label: "Re αh to",
        help: "right edge of the window, in units of αh",
        kind: ControlKind::Number {
            min: 0.0,
            max: 100.0,
            quick: 1.5,
            full: 1.5,
        },
    },
    Control {
        key: "im_max",
        label: "|Im αh| up to",
        help: "half height of the window, in units of αh",
        kind: ControlKind::Number {
            min: 0.1,
            max: 100.0,
            quick: 3.5,
            full: 3.5,
        },
    },
];

/// The schemes of the figure, in the names.
pub const SCHEMES: [Scheme; 7] = [
    Scheme::Euler,
    Scheme::Midpoint,
    Scheme::Rk4,
    Scheme::ReversibleMidpoint,
    Scheme::ReversibleRk4,
    Scheme::Alf,
    Scheme::ReversibleHeun,
];

/// Below this a growth factor counts as < 1.
pub const STABLE_BELOW: f64 = 1.0 - 1e-9;

/// The grid in units of α: `re` and `im` axes.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    pub re: Vec<f64>,
    pub im: Vec<f64>,
    pub h: f64,
}

impl Grid {
    pub fn from_settings(s: &Settings) -> Self {
        let (n, h) = (s.int("grid").max(2), s.num("h"));
        let axis = |lo: f64, hi: f64| -> Vec<f64> {
            (0..n)
                .map(|i| (lo + (hi - lo) * i as f64 / (n - 1) as f64) / h)
                .collect()
        };
        Self {
            re: axis(s.num("re_min"), s.num("re_max")),
            im: axis(-s.num("im_max"), s.num("im_max")),
            h,
        }
    }

    fn cell_area(&self) -> f64 {
        let d = |v: &[f64]| (v[v.len() - 1] - v[0]) / (v.len() - 1) as f64;
        d(&self.re) * d(&self.im)
    }
}

/// The growth factor of `scheme` at `z = αh`: `|R(z)|` or `ρ(M(z))`.
pub fn growth(scheme: Scheme, lambda: f64, z: Complex) -> f64 {
    let m = step_matrix(scheme, lambda, z);
    match scheme {
        Scheme::Euler | Scheme::Midpoint | Scheme::Rk4 => m[0][0].abs(),
        _ => spectral_radius(m),
    }
}

/// One scheme's region on the grid, `stable[i_im][i_re]`, as `--json` prints it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Region {
    pub name: String,
    pub re: Vec<f64>,
    pub im: Vec<f64>,
    pub stable: Vec<Vec<bool>>,
}

impl Region {
    /// Area of the region in Re α < 0 (in units of α²).
    pub fn area_left(&self, grid: &Grid) -> f64 {
        let count: usize = self
            .stable
            .iter()
            .map(|row| {
                row.iter()
                    .zip(&self.re)
                    .filter(|(s, re)| **s && **re < 0.0)
                    .count()
            })
            .sum();
        count as f64 * grid.cell_area()
    }

    /// Area of the region in Re α > 0, where y' = αy grows but the iterates decay.
    pub fn area_right(&self, grid: &Grid) -> f64 {
        let count: usize = self
            .stable
            .iter()
            .map(|row| {
                row.iter()
                    .zip(&self.re)
                    .filter(|(s, re)| **s && **re > 0.0)
                    .count()
            })
            .sum();
        count as f64 * grid.cell_area()
    }

    /// Whether a stable point lies on the window's edge (the area is then a lower bound).
    pub fn touches_edge(&self) -> bool {
        let (ny, nx) = (self.stable.len(), self.re.len());
        self.stable.iter().enumerate().any(|(j, row)| {
            row.iter()
                .enumerate()
                .any(|(i, s)| *s && (i == 0 || j == 0 || i + 1 == nx || j + 1 == ny))
        })
    }

    pub fn count(&self) -> usize {
        self.stable.iter().flatten().filter(|s| **s).count()
    }
}

/// The region of `scheme` on `grid`.
pub fn region(scheme: Scheme, lambda: f64, grid: &Grid) -> Region {
    let stable = grid
        .im
        .iter()
        .map(|&im| {
            grid.re
                .iter()
                .map(|&re| {
                    growth(scheme, lambda, Complex::new(re * grid.h, im * grid.h)) < STABLE_BELOW
                })
                .collect()
        })
        .collect();
    Region {
        name: scheme.name().to_string(),
        re: grid.re.clone(),
        im: grid.im.clone(),
        stable,
    }
}

/// The filled region as horizontal runs, one segment per run of stable points in a row.
fn runs(r: &Region) -> Vec<[f64; 2]> {
    let half = if r.re.len() > 1 {
        0.5 * (r.re[1] - r.re[0])
    } else {
        0.0
    };
    let mut out = Vec::new();
    for (j, row) in r.stable.iter().enumerate() {
        let mut start: Option<usize> = None;
        for i in 0..=row.len() {
            let s = i < row.len() && row[i];
            match (s, start) {
                (true, None) => start = Some(i),
                (false, Some(a)) => {
                    out.push([r.re[a] - half, r.im[j]]);
                    out.push([r.re[i - 1] + half, r.im[j]]);
                    start = None;
                }
                _ => {}
            }
        }
    }
    out
}

/// Boundary points: stable points with an unstable 4-neighbour (or on the window's edge).
fn boundary(r: &Region) -> Vec<[f64; 2]> {
    let (ny, nx) = (r.stable.len(), r.re.len());
    let at = |i: isize, j: isize| {
        i >= 0
            && j >= 0
            && (i as usize) < nx
            && (j as usize) < ny
            && r.stable[j as usize][i as usize]
    };
    let mut out = Vec::new();
    for j in 0..ny as isize {
        for i in 0..nx as isize {
            if at(i, j) && !(at(i - 1, j) && at(i + 1, j) && at(i, j - 1) && at(i, j + 1)) {
                out.push([r.re[i as usize], r.im[j as usize]]);
            }
        }
    }
    out
}

/// Table 1: the regions at the chosen λ and h; with the largest `| |det M| − 1 |` of ALF and
/// reversible Heun per scheme.
fn areas_table(regions: &[Region], grid: &Grid, lambda: f64) -> (Table, Vec<f64>) {
    // Table 1: the regions at the chosen λ and h.
    let mut areas = Table::new(
        "stability-areas",
        &[
            "scheme",
            "lambda",
            "h",
            "area_re_lt_0",
            "area_re_gt_0",
            "stable_points",
            "touches_window_edge",
            "min_growth_factor_re_lt_0",
        ],
    );
    let mut det_dev = Vec::new();
    for (scheme, r) in SCHEMES.iter().zip(regions) {
        // The smallest growth factor over Re α < 0 on the grid.
        let mut min_growth = f64::INFINITY;
        let mut dev = 0.0f64;
        for &im in &grid.im {
            for &re in grid.re.iter().filter(|re| **re < 0.0) {
                let z = Complex::new(re * grid.h, im * grid.h);
                min_growth = min_growth.min(growth(*scheme, lambda, z));
                if matches!(scheme, Scheme::Alf | Scheme::ReversibleHeun) {
                    let m = step_matrix(*scheme, lambda, z);
                    let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
                    dev = dev.max((det.abs() - 1.0).abs());
                }
            }
        }
        det_dev.push(dev);
        areas.rows.push(vec![
            json!(scheme.name()),
            if scheme.is_lambda_reversible() {
                json!(lambda)
            } else {
                Value::Null
            },
            json!(grid.h),
            json!(r.area_left(grid)),
            json!(r.area_right(grid)),
            json!(r.count()),
            json!(r.touches_edge()),
            json!(min_growth),
        ]);
    }

    (areas, det_dev)
}

/// A light tint of `c` (60 % of the way to white), for fills under full-colour boundaries.
fn tint(c: [u8; 3]) -> [u8; 3] {
    c.map(|v| (f64::from(v) + 0.6 * (255.0 - f64::from(v))).round() as u8)
}

/// The overview (every scheme filled, with its boundary), one filled figure per scheme, and
/// area against λ.
fn figures(regions: &[Region], grid: &Grid, lambda: f64, curve: &[(f64, f64, f64)]) -> Vec<Plot> {
    let axes = ("Re α", "Im α");
    let mut overview = Plot::new(
        "stability-regions",
        &format!(
            "Stability regions of y' = αy (h = {}, λ = {lambda})",
            grid.h
        ),
        axes.0,
        axes.1,
    );
    // Filled regions, largest first so that the smaller ones lie on top, each in a light tint
    // of its colour (no legend entry); then every boundary in full colour over the fills.
    let mut order: Vec<usize> = (0..regions.len()).collect();
    order.sort_by_key(|&k| std::cmp::Reverse(regions[k].count()));
    for &k in &order {
        let fill = runs(&regions[k]);
        if !fill.is_empty() {
            overview.push("", tint(color(k)), PlotKind::Segments { width: 3 }, fill);
        }
    }
    for (k, r) in regions.iter().enumerate() {
        let pts = boundary(r);
        let name = if pts.is_empty() {
            format!("{} (empty)", r.name)
        } else {
            r.name.clone()
        };
        overview.push(&name, color(k), PlotKind::Circles { size: 1 }, pts);
    }
    // Keep the window visible even when every region is small.
    let window = vec![
        [grid.re[0], grid.im[0]],
        [grid.re[grid.re.len() - 1], grid.im[grid.im.len() - 1]],
    ];
    overview.push(
        "",
        [255, 255, 255],
        PlotKind::Circles { size: 0 },
        window.clone(),
    );
    let mut figures = vec![overview];
    for (k, r) in regions.iter().enumerate() {
        let mut p = Plot::new(
            &format!("stability-{}", r.name),
            &format!("{}: stable region (h = {}, λ = {lambda})", r.name, grid.h),
            axes.0,
            axes.1,
        );
        let fill = runs(r);
        let name = if fill.is_empty() {
            format!("{} (empty)", r.name)
        } else {
            r.name.clone()
        };
        p.push(&name, color(k), PlotKind::Segments { width: 3 }, fill);
        p.push(
            "",
            [255, 255, 255],
            PlotKind::Circles { size: 0 },
            window.clone(),
        );
        figures.push(p);
    }
    let mut area_plot = Plot::new(
        "stability-area-vs-lambda",
        "Area of the stability region in Re α < 0 against λ",
        "λ",
        "area (units of α²)",
    );
    area_plot.push(
        "reversible-midpoint",
        color(3),
        PlotKind::Line {
            width: 2,
            dashed: false,
        },
        curve.iter().map(|c| [c.0, c.1]).collect(),
    );
    area_plot.push(
        "reversible-rk4",
        color(4),
        PlotKind::Line {
            width: 2,
            dashed: false,
        },
        curve.iter().map(|c| [c.0, c.2]).collect(),
    );
    figures.push(area_plot);
    figures
}

pub fn run(s: &Settings, ctx: &RunContext) -> Result<ExperimentResult, ExperimentError> {
    let lambda = s.num("lambda");
    let sweep = s.list("lambda_sweep");
    if let Some(bad) = sweep.iter().find(|l| **l > 1.0) {
        return Err(ExperimentError::BadSetting(format!(
            "lambda_sweep: λ must be in (0, 1] (got {bad})"
        )));
    }
    let grid = Grid::from_settings(s);
    let total = (SCHEMES.len() + 2 * sweep.len()) as u64;
    let mut regions = Vec::new();
    for (k, scheme) in SCHEMES.iter().enumerate() {
        ctx.check()?;
        ctx.report(&format!("region of {}", scheme.name()), k as u64, total);
        regions.push(region(*scheme, lambda, &grid));
    }

    let (areas, det_dev) = areas_table(&regions, &grid, lambda);

    // Table 2: area against λ for the λ-reversible schemes.
    let mut by_lambda = Table::new(
        "stability-area-vs-lambda",
        &[
            "lambda",
            "reversible-midpoint",
            "reversible-rk4",
            "touches_window_edge",
        ],
    );
    let mut sorted = sweep.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    sorted.dedup();
    let mut done = SCHEMES.len() as u64;
    let mut curve: Vec<(f64, f64, f64)> = Vec::new();
    for &l in &sorted {
        ctx.check()?;
        ctx.report(&format!("area at λ = {l}"), done, total);
        let mid = region(Scheme::ReversibleMidpoint, l, &grid);
        let rk4 = region(Scheme::ReversibleRk4, l, &grid);
        done += 2;
        let (am, ar) = (mid.area_left(&grid), rk4.area_left(&grid));
        curve.push((l, am, ar));
        by_lambda.rows.push(vec![
            json!(l),
            json!(am),
            json!(ar),
            json!(mid.touches_edge() || rk4.touches_edge()),
        ]);
    }
    ctx.report("figures", total, total);

    // Checks.
    let area_of = |name: &str| {
        SCHEMES
            .iter()
            .position(|s| s.name() == name)
            .map_or(0.0, |i| regions[i].area_left(&grid))
    };
    let count_of = |name: &str| {
        SCHEMES
            .iter()
            .position(|s| s.name() == name)
            .map_or(0, |i| regions[i].count())
    };
    let (alf_n, heun_n) = (count_of("alf"), count_of("reversible-heun"));
    let dev = det_dev.iter().cloned().fold(0.0, f64::max);
    let mut checks = vec![Check {
        statement: "ALF and reversible Heun are not A-stable for any α".into(),
        holds: alf_n == 0 && heun_n == 0,
        measured: format!(
            "stable grid points: alf {alf_n}, reversible-heun {heun_n} of {}; |det M(z)| = 1 \
             for both (largest deviation on the grid {dev:.1e}), so ρ(M) ≥ 1 everywhere: the \
             region is empty, not only without interior",
            grid.re.len() * grid.im.len()
        ),
    }];
    // Monotone growth as λ falls (a 1 % slack for grid effects).
    let grows = |pick: fn(&(f64, f64, f64)) -> f64| {
        curve.windows(2).all(|w| pick(&w[1]) >= 0.99 * pick(&w[0]))
            && curve.len() >= 2
            && pick(&curve[curve.len() - 1]) > pick(&curve[0])
    };
    let describe = |pick: fn(&(f64, f64, f64)) -> f64| {
        curve
            .iter()
            .map(|c| format!("λ={}: {:.3}", c.0, pick(c)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    checks.push(Check {
        statement: "decreasing λ increases the region (reversible midpoint)".into(),
        holds: grows(|c| c.1),
        measured: format!("area in Re α < 0: {}", describe(|c| c.1)),
    });
    checks.push(Check {
        statement: "decreasing λ increases the region (reversible RK4)".into(),
        holds: grows(|c| c.2),
        measured: format!("area in Re α < 0: {}", describe(|c| c.2)),
    });
    let (rm, rr) = (area_of("reversible-midpoint"), area_of("reversible-rk4"));
    checks.push(Check {
        statement: format!(
            "the λ-reversible midpoint and RK4 have a stability region (h = {}, λ = {lambda})",
            grid.h
        ),
        holds: rm > 0.0 && rr > 0.0,
        measured: format!(
            "areas in Re α < 0: reversible-midpoint {rm:.3}, reversible-rk4 {rr:.3} (base \
             midpoint {:.3}, rk4 {:.3})",
            area_of("midpoint"),
            area_of("rk4")
        ),
    });
    let summary = format!(
        "Paper: ALF and reversible Heun are never A-stable, and smaller λ gives a larger region \
         (h = 1, λ = 0.8). Ours: alf and reversible-heun have {alf_n} and {heun_n} stable grid \
         points (|det M| = 1); at h = {}, λ = {lambda} the reversible midpoint's area is {rm:.3} \
         (midpoint {:.3}) and reversible RK4's {rr:.3} (rk4 {:.3}); across λ = {}: {}.",
        grid.h,
        area_of("midpoint"),
        area_of("rk4"),
        sorted
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        describe(|c| c.2)
    );
    let verdict = Verdict::from_checks(summary, checks);

    let figures = figures(&regions, &grid, lambda, &curve);

    let mut data = serde_json::Map::new();
    data.insert(
        "schemes".into(),
        serde_json::to_value(&regions).map_err(|e| ExperimentError::Failed(e.to_string()))?,
    );
    Ok(ExperimentResult {
        verdict: Some(verdict),
        tables: vec![areas, by_lambda],
        figures,
        data,
        ..ExperimentResult::default()
    })
}
