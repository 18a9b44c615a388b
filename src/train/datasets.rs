//! Two-class point sets in the plane, in the style of the TensorFlow Playground's datasets
//! (circle, xor, gaussians, spiral) plus the two moons, scaled to about [−1, 1]² so that a tanh
//! network sees inputs of order one. Labels are 0 and 1; `noise` ∈ [0, 0.5] as in the
//! Playground (0: clean classes).
//!
//! - `circles`: class 1 uniformly in radius on the disc r < ½, class 0 on the ring
//!   0.7 ≤ r ≤ 1; noise shifts each point by U(−1, 1)·noise per coordinate and the label is
//!   taken at the shifted point (so noise mixes the classes near the gap).
//! - `xor`: x, y ~ U(−1, 1) pushed 0.06 away from the axes; label 1 when x·y ≥ 0 (after the
//!   noise shift U(−1, 1)·noise).
//! - `gaussians`: two isotropic clusters at ±(0.4, 0.4) whose standard deviation grows
//!   linearly with the noise, from 0.14 at noise 0 to 0.4 at noise 0.5.
//! - `two-spirals`: two interleaved Archimedean spirals r = i/n, θ = 1.75·2π·i/n (+π for class 0),
//!   noise U(−1, 1)·noise/5 per coordinate.
//! - `moons`: the upper half circle (cos s, sin s) and the lower one (1 − cos s, ½ − sin s),
//!   s ~ U(0, π), centred and halved, with Gaussian noise of standard deviation noise/2.

use super::rng::{SeedRng, Stream};

/// A labelled point set, split into train and test.
#[derive(Clone, Debug, PartialEq)]
pub struct PointSet {
    pub train: Vec<[f64; 2]>,
    pub train_labels: Vec<usize>,
    pub test: Vec<[f64; 2]>,
    pub test_labels: Vec<usize>,
}

/// Which point set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dataset {
    Circles,
    Moons,
    TwoSpirals,
    Xor,
    Gaussians,
}

impl Dataset {
    /// `n` points with `noise`, shuffled and split so that `test_fraction` of them are held out.
    pub fn generate(self, n: usize, noise: f64, test_fraction: f64, seed: u64) -> PointSet {
        let mut rng = SeedRng::new(seed, Stream::Data);
        let half = n / 2;
        let mut points: Vec<([f64; 2], usize)> = Vec::with_capacity(n);
        for i in 0..n {
            let class = usize::from(i < half);
            points.push(self.point(i, n, class, noise, &mut rng));
        }
        let order = rng.choose(n, n);
        let n_test = ((n as f64) * test_fraction.clamp(0.0, 1.0)).round() as usize;
        let mut set = PointSet {
            train: Vec::new(),
            train_labels: Vec::new(),
            test: Vec::new(),
            test_labels: Vec::new(),
        };
        for (rank, &i) in order.iter().enumerate() {
            let (p, l) = points[i];
            if rank < n_test {
                set.test.push(p);
                set.test_labels.push(l);
            } else {
                set.train.push(p);
                set.train_labels.push(l);
            }
        }
        set
    }

    fn point(
        self,
        i: usize,
        n: usize,
        class: usize,
        noise: f64,
        rng: &mut SeedRng,
    ) -> ([f64; 2], usize) {
        use std::f64::consts::{PI, TAU};
        match self {
            Dataset::Circles => {
                let r = if class == 1 {
                    rng.range(0.0, 0.5)
                } else {
                    rng.range(0.7, 1.0)
                };
                let a = rng.range(0.0, TAU);
                let x = r * a.sin() + rng.range(-1.0, 1.0) * noise;
                let y = r * a.cos() + rng.range(-1.0, 1.0) * noise;
                let label = usize::from((x * x + y * y).sqrt() < 0.5);
                ([x, y], label)
            }
            Dataset::Xor => {
                let pad = 0.06;
                let mut x = rng.range(-1.0, 1.0);
                let mut y = rng.range(-1.0, 1.0);
                x += if x > 0.0 { pad } else { -pad };
                y += if y > 0.0 { pad } else { -pad };
                x += rng.range(-1.0, 1.0) * noise;
                y += rng.range(-1.0, 1.0) * noise;
                ([x, y], usize::from(x * y >= 0.0))
            }
            Dataset::Gaussians => {
                let sd = 0.14 + (0.4 - 0.14) * (noise / 0.5).clamp(0.0, 1.0);
                let c = if class == 1 { 0.4 } else { -0.4 };
                ([c + sd * rng.normal(), c + sd * rng.normal()], class)
            }
            Dataset::TwoSpirals => {
                let half = (n / 2).max(1);
                let j = if class == 1 { i } else { i - n / 2 };
                let s = j as f64 / half as f64;
                let theta = 1.75 * TAU * s + if class == 1 { 0.0 } else { PI };
                let x = s * theta.sin() + rng.range(-1.0, 1.0) * noise / 5.0;
                let y = s * theta.cos() + rng.range(-1.0, 1.0) * noise / 5.0;
                ([x, y], class)
            }
            Dataset::Moons => {
                let s = rng.range(0.0, PI);
                let (x, y) = if class == 1 {
                    (s.cos(), s.sin())
                } else {
                    (1.0 - s.cos(), 0.5 - s.sin())
                };
                let x = 0.5 * (x - 0.5) + 0.5 * noise * rng.normal();
                let y = 0.5 * (y - 0.25) + 0.5 * noise * rng.normal();
                ([x, y], class)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_are_balanced_split_and_reproducible() {
        for ds in [
            Dataset::Circles,
            Dataset::Moons,
            Dataset::TwoSpirals,
            Dataset::Xor,
            Dataset::Gaussians,
        ] {
            let a = ds.generate(500, 0.05, 0.5, 4);
            let b = ds.generate(500, 0.05, 0.5, 4);
            assert_eq!(a, b, "{ds:?}");
            assert_eq!(a.train.len() + a.test.len(), 500);
            assert_eq!(a.test.len(), 250);
            let ones = a
                .train_labels
                .iter()
                .chain(&a.test_labels)
                .filter(|&&l| l == 1)
                .count();
            assert!((200..=300).contains(&ones), "{ds:?}: {ones} of class 1");
            let extent = a
                .train
                .iter()
                .chain(&a.test)
                .fold(0.0f64, |m, p| m.max(p[0].abs()).max(p[1].abs()));
            assert!(extent < 2.0 && extent > 0.3, "{ds:?}: extent {extent}");
        }
    }

    #[test]
    fn clean_circles_put_class_one_inside() {
        let s = Dataset::Circles.generate(400, 0.0, 0.0, 1);
        for (p, &l) in s.train.iter().zip(&s.train_labels) {
            let r = (p[0] * p[0] + p[1] * p[1]).sqrt();
            assert_eq!(l == 1, r < 0.5, "r = {r}, label {l}");
            assert!(!(0.5..0.7 - 1e-12).contains(&r));
        }
    }

    #[test]
    fn clean_xor_labels_follow_the_quadrant() {
        let s = Dataset::Xor.generate(300, 0.0, 0.3, 2);
        for (p, &l) in s.test.iter().zip(&s.test_labels) {
            assert_eq!(l == 1, p[0] * p[1] >= 0.0);
            assert!(p[0].abs() >= 0.06 && p[1].abs() >= 0.06);
        }
    }
}
