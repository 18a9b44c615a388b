//! Seeded randomness that is the same on every platform and every release: ChaCha8 (a named,
//! specified stream cipher, `rand::rngs::ChaCha8Rng`) with one stream per purpose, and the
//! draws built here from its raw 64-bit words, so that no change in a crate's sampling
//! algorithms can change a dataset, an initialisation or a batch sequence.

use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};

/// What a stream is used for: data, initial weights and batches never share numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Data = 1,
    Init = 2,
    Batches = 3,
}

/// A seeded generator.
#[derive(Debug)]
pub struct SeedRng(ChaCha8Rng);

impl SeedRng {
    pub fn new(seed: u64, stream: Stream) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream as u64);
        Self(rng)
    }

    /// The position in the stream, in 32-bit words (a saved run continues from here).
    pub fn word_pos(&self) -> u128 {
        self.0.get_word_pos()
    }

    /// Moves to a position [`SeedRng::word_pos`] returned (the stream is kept).
    pub fn set_word_pos(&mut self, pos: u128) {
        self.0.set_word_pos(pos);
    }

    /// Uniform on [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform on [a, b).
    pub fn range(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.uniform()
    }

    /// Standard normal by the Box–Muller transform (one of the pair is used).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Uniform integer in `0..n` (n ≥ 1), without modulo bias (rejection of the top zone).
    pub fn below(&mut self, n: usize) -> usize {
        let n = n.max(1) as u64;
        let zone = u64::MAX - (u64::MAX - n + 1) % n;
        loop {
            let v = self.0.next_u64();
            if v <= zone {
                return (v % n) as usize;
            }
        }
    }

    /// `k` distinct indices of `0..n` in random order (partial Fisher–Yates); all of them,
    /// shuffled, when `k ≥ n`.
    pub fn choose(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut pool: Vec<usize> = (0..n).collect();
        let k = k.min(n);
        for i in 0..k {
            let j = i + self.below(n - i);
            pool.swap(i, j);
        }
        pool.truncate(k);
        pool
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_numbers_other_stream_other_numbers() {
        let a: Vec<f64> = {
            let mut r = SeedRng::new(7, Stream::Data);
            (0..5).map(|_| r.uniform()).collect()
        };
        let b: Vec<f64> = {
            let mut r = SeedRng::new(7, Stream::Data);
            (0..5).map(|_| r.uniform()).collect()
        };
        let c: Vec<f64> = {
            let mut r = SeedRng::new(7, Stream::Batches);
            (0..5).map(|_| r.uniform()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().all(|v| (0.0..1.0).contains(v)));
    }

    #[test]
    fn a_saved_position_continues_the_same_stream() {
        let mut a = SeedRng::new(5, Stream::Batches);
        let _ = a.choose(100, 7);
        let _ = a.uniform();
        let pos = a.word_pos();
        let next: Vec<usize> = a.choose(100, 20);
        let mut b = SeedRng::new(5, Stream::Batches);
        b.set_word_pos(pos);
        assert_eq!(b.choose(100, 20), next);
        let mut c = SeedRng::new(5, Stream::Data);
        c.set_word_pos(pos);
        assert_ne!(c.choose(100, 20), next, "the stream is part of the state");
    }

    #[test]
    fn choose_draws_distinct_indices() {
        let mut r = SeedRng::new(1, Stream::Batches);
        let k = r.choose(990, 20);
        assert_eq!(k.len(), 20);
        let mut s = k.clone();
        s.sort_unstable();
        s.dedup();
        assert_eq!(s.len(), 20);
        assert!(k.iter().all(|&i| i < 990));
        assert_eq!(r.choose(3, 10).len(), 3);
    }

    #[test]
    fn normal_has_unit_moments() {
        let mut r = SeedRng::new(3, Stream::Init);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        // Standard errors: 1/√n ≈ 0.0022 for the mean, √(2/n) ≈ 0.0032 for the variance.
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.015, "{var}");
    }
}
