//! The 2-D toy densities of FFJORD (Grathwohl et al. 2019, `lib/toy_data.py`), generated from
//! the seed with the same scalings so that NLLs compare with the papers'. `N(0, 1)` draws are
//! Box–Muller ([`SeedRng::normal`]), `U(a, b)` uniform.
//!
//! - `8gaussians`: centre `c_k = 4 (cos kπ/4, sin kπ/4)`, k uniform in 0..8, point
//!   `(c_k + 0.5 ξ) / 1.414` with ξ ~ N(0, I): an equal mixture of 8 Gaussians of standard
//!   deviation 0.5/1.414 on the circle of radius 4/1.414 ([`gaussians8_log_density`]).
//! - `2spirals`: `s = √u · 540 · 2π/360` with u ~ U(0, 1); `p = (−cos s · s + 0.5 u₁, sin s · s
//!   + 0.5 u₂)` with u₁, u₂ ~ U(0, 1), negated for half of the points (the second arm); then
//!   `p/3 + 0.1 ξ`.
//! - `pinwheel`: 5 arms; arm a ∈ 0..5 at angle `2π a/5`; `f = (1 + 0.3 ξ₁, 0.1 ξ₂)`, angle
//!   `θ = 2π a/5 + 0.25 e^{f₁}`, point `2 (f₁ cos θ + f₂ sin θ, −f₁ sin θ + f₂ cos θ)`
//!   (FFJORD's `einsum("ti,tij->tj", f, [[cos, −sin], [sin, cos]])`).
//! - `moons`: scikit-learn's `make_moons` with noise 0.1, scaled by 2 and shifted by
//!   (−1, −0.2): the upper moon `(cos s, sin s)`, the lower `(1 − cos s, 0.5 − sin s)`, half
//!   of the points each, plus 0.1 ξ; here s ~ U(0, π) (scikit-learn spaces s evenly).
//! - `circles`: scikit-learn's `make_circles` with factor 0.5 and noise 0.08, scaled by 3:
//!   `(cos s, sin s)` on the outer circle, `0.5 (cos s, sin s)` on the inner, half each, plus
//!   0.08 ξ, times 3; s ~ U(0, 2π) (scikit-learn spaces s evenly).
//! - `checkerboard`: `x₁ ~ U(−2, 2)`, `x₂ = u − 2b + (⌊x₁⌋ mod 2)` with u ~ U(0, 1), b uniform in
//!   {0, 1}; the point is `2 (x₁, x₂)`: uniform on the 8 black squares of side 2 in [−4, 4]².

use super::rng::{SeedRng, Stream};

/// Which toy density.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Toy {
    Gaussians8,
    TwoSpirals,
    Pinwheel,
    Moons,
    Circles,
    Checkerboard,
}

impl Toy {
    pub const ALL: [Toy; 6] = [
        Toy::Gaussians8,
        Toy::TwoSpirals,
        Toy::Pinwheel,
        Toy::Moons,
        Toy::Circles,
        Toy::Checkerboard,
    ];

    /// FFJORD's name.
    pub fn name(self) -> &'static str {
        match self {
            Toy::Gaussians8 => "8gaussians",
            Toy::TwoSpirals => "2spirals",
            Toy::Pinwheel => "pinwheel",
            Toy::Moons => "moons",
            Toy::Circles => "circles",
            Toy::Checkerboard => "checkerboard",
        }
    }

    /// One point (module doc).
    pub fn point(self, rng: &mut SeedRng) -> [f64; 2] {
        use std::f64::consts::{PI, TAU};
        match self {
            Toy::Gaussians8 => {
                let k = rng.below(8) as f64;
                let (s, c) = (k * PI / 4.0).sin_cos();
                let (a, b) = (rng.normal(), rng.normal());
                [(4.0 * c + 0.5 * a) / 1.414, (4.0 * s + 0.5 * b) / 1.414]
            }
            Toy::TwoSpirals => {
                let s = rng.uniform().sqrt() * 540.0 * TAU / 360.0;
                let mut p = [
                    -s.cos() * s + 0.5 * rng.uniform(),
                    s.sin() * s + 0.5 * rng.uniform(),
                ];
                if rng.below(2) == 1 {
                    p = [-p[0], -p[1]];
                }
                [
                    p[0] / 3.0 + 0.1 * rng.normal(),
                    p[1] / 3.0 + 0.1 * rng.normal(),
                ]
            }
            Toy::Pinwheel => {
                let arm = rng.below(5) as f64;
                let f1 = 1.0 + 0.3 * rng.normal();
                let f2 = 0.1 * rng.normal();
                let theta = TAU * arm / 5.0 + 0.25 * f1.exp();
                let (s, c) = theta.sin_cos();
                [2.0 * (f1 * c + f2 * s), 2.0 * (-f1 * s + f2 * c)]
            }
            Toy::Moons => {
                let s = rng.range(0.0, PI);
                let p = if rng.below(2) == 0 {
                    [s.cos(), s.sin()]
                } else {
                    [1.0 - s.cos(), 0.5 - s.sin()]
                };
                [
                    2.0 * (p[0] + 0.1 * rng.normal()) - 1.0,
                    2.0 * (p[1] + 0.1 * rng.normal()) - 0.2,
                ]
            }
            Toy::Circles => {
                let s = rng.range(0.0, TAU);
                let r = if rng.below(2) == 0 { 1.0 } else { 0.5 };
                [
                    3.0 * (r * s.cos() + 0.08 * rng.normal()),
                    3.0 * (r * s.sin() + 0.08 * rng.normal()),
                ]
            }
            Toy::Checkerboard => {
                let x1 = rng.range(-2.0, 2.0);
                let x2 = rng.uniform() - 2.0 * rng.below(2) as f64 + x1.floor().rem_euclid(2.0);
                [2.0 * x1, 2.0 * x2]
            }
        }
    }

    /// `n` points from `seed` (the data stream), the first `n_test` of them held out.
    pub fn generate(self, n: usize, n_test: usize, seed: u64) -> DensitySet {
        let mut rng = SeedRng::new(seed, Stream::Data);
        let mut points: Vec<[f64; 2]> = (0..n).map(|_| self.point(&mut rng)).collect();
        let train = points.split_off(n_test.min(n));
        DensitySet {
            train,
            test: points,
        }
    }
}

/// Points of a toy density, split into train and test.
#[derive(Clone, Debug, PartialEq)]
pub struct DensitySet {
    pub train: Vec<[f64; 2]>,
    pub test: Vec<[f64; 2]>,
}

/// `log p(x)` of the `8gaussians` mixture: `log (1/8) Σ_k N(x; c_k/1.414, (0.5/1.414)² I)`.
pub fn gaussians8_log_density(x: [f64; 2]) -> f64 {
    use std::f64::consts::PI;
    let s = 0.5 / 1.414;
    let terms: Vec<f64> = (0..8)
        .map(|k| {
            let (sn, cs) = (k as f64 * PI / 4.0).sin_cos();
            let (dx, dy) = (x[0] - 4.0 * cs / 1.414, x[1] - 4.0 * sn / 1.414);
            -(dx * dx + dy * dy) / (2.0 * s * s) - (2.0 * PI * s * s).ln()
        })
        .collect();
    let m = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m + terms.iter().map(|t| (t - m).exp()).sum::<f64>().ln() - 8f64.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussians8_matches_its_density() {
        // The mean of the points' norms is ≈ 4/1.414 and the log-density integrates to 1.
        let set = Toy::Gaussians8.generate(4000, 0, 3);
        let r: f64 = set.train.iter().map(|p| p[0].hypot(p[1])).sum::<f64>() / 4000.0;
        assert!((r - 4.0 / 1.414).abs() < 0.05, "{r}");
        let (n, lo, hi) = (400, -5.0, 5.0);
        let h = (hi - lo) / n as f64;
        let mut mass = 0.0;
        for i in 0..n {
            for j in 0..n {
                let x = [lo + (i as f64 + 0.5) * h, lo + (j as f64 + 0.5) * h];
                mass += gaussians8_log_density(x).exp() * h * h;
            }
        }
        assert!((mass - 1.0).abs() < 1e-6, "{mass}");
    }

    #[test]
    fn checkerboard_is_on_black_squares() {
        for p in Toy::Checkerboard.generate(500, 0, 1).train {
            assert!(p[0].abs() <= 4.0 && p[1].abs() <= 4.0);
            let parity = ((p[0] / 2.0).floor() + (p[1] / 2.0).floor()).rem_euclid(2.0);
            assert_eq!(parity, 0.0, "{p:?}");
        }
    }

    #[test]
    fn every_toy_is_reproducible_and_finite() {
        for toy in Toy::ALL {
            let a = toy.generate(100, 20, 7);
            assert_eq!(a, toy.generate(100, 20, 7));
            assert_eq!((a.train.len(), a.test.len()), (80, 20));
            assert!(
                a.train
                    .iter()
                    .flatten()
                    .all(|v| v.is_finite() && v.abs() < 10.0)
            );
        }
    }
}
