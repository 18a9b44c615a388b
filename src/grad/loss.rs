//! Losses on the states at observation times, separable over samples, with their gradients.
//!
//! With `y_b` the state of sample b (B samples, d components), targets `ŷ_b`:
//! - `half-sse`: `L = ½ Σ_b Σ_i (y_b,i(T) − ŷ_b,i)²`;
//! - `mse`: `L = (1/(B d)) Σ_b Σ_i (y_b,i(T) − ŷ_b,i)²`;
//! - `trajectory-mse`: `L = (1/(K B d)) Σ_k Σ_b Σ_i (y_b,i(τ_k) − ŷ_k,b,i)²` at the
//!   observation times τ_1 < … < τ_K;
//! - `trajectory-l1`: `L = (1/((K+1) B |C|)) Σ_k Σ_b Σ_{i∈C} |y_b,i(τ_k) − ŷ_k,b,i|`, the mean
//!   absolute error over a window of K+1 samples whose first is the start y(t0) itself (error 0,
//!   counted in the mean as the classic spiral demo does); `∂L/∂y = sign(y − ŷ)/((K+1) B |C|)`
//!   (0 where y = ŷ);
//! - `trajectory-sse`: `L = Σ_k Σ_b Σ_{i∈C} (y_b,i(τ_k) − ŷ_k,b,i)²` (the free-fall paper's "sum
//!   of squared errors");
//!
//! The regression losses may observe only the components `C` (`components`, default all: e.g.
//! the position of a (position, velocity) state); targets keep all d components and the
//! unobserved ones are ignored.
//!
//! - `cross-entropy`: logits `z_b = W y_b(T) + c` (linear read-out), `L = (1/B) Σ_b
//!   (logsumexp(z_b) − z_b,label_b)`; `∂L/∂y_b = Wᵀ (softmax(z_b) − e_label)/B`,
//!   `∂L/∂W = Σ_b (softmax(z_b) − e_label) y_bᵀ / B`, `∂L/∂c = Σ_b (softmax(z_b) − e_label)/B`.
//! - `nll`: the mean negative log-likelihood in nats of a continuous normalising flow, on the
//!   augmented states `y_b = [z_b, ℓ_b]` at t1 (`z_b` of dimension d, `ℓ_b` the integrated
//!   divergence from `ℓ(t0) = 0`): `log p(x_b) = log N(z_b; 0, I) + ℓ_b`, so
//!   `L = (1/B) Σ_b (½|z_b|² + (d/2) ln 2π − ℓ_b)`, `∂L/∂z_b = z_b/B`, `∂L/∂ℓ_b = −1/B`
//!   (FFJORD, Grathwohl et al. 2019, eq. 4; irdm-interpolated-adjoint.md §4).

use serde::Serialize;

use super::GradError;

/// Which loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum LossKind {
    #[serde(rename = "half-sse")]
    HalfSse,
    #[serde(rename = "mse")]
    Mse,
    #[serde(rename = "trajectory-mse")]
    TrajectoryMse,
    #[serde(rename = "cross-entropy")]
    CrossEntropy,
    #[serde(rename = "trajectory-l1")]
    TrajectoryL1,
    #[serde(rename = "trajectory-sse")]
    TrajectorySse,
    #[serde(rename = "nll")]
    Nll,
}

impl LossKind {
    pub const ALL: [LossKind; 7] = [
        LossKind::HalfSse,
        LossKind::Mse,
        LossKind::TrajectoryMse,
        LossKind::CrossEntropy,
        LossKind::TrajectoryL1,
        LossKind::TrajectorySse,
        LossKind::Nll,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LossKind::HalfSse => "half-sse",
            LossKind::Mse => "mse",
            LossKind::TrajectoryMse => "trajectory-mse",
            LossKind::CrossEntropy => "cross-entropy",
            LossKind::TrajectoryL1 => "trajectory-l1",
            LossKind::TrajectorySse => "trajectory-sse",
            LossKind::Nll => "nll",
        }
    }

    /// Losses observed at the times `τ_1 < … < τ_K` (the others at t1).
    pub fn is_trajectory(self) -> bool {
        matches!(
            self,
            LossKind::TrajectoryMse | LossKind::TrajectoryL1 | LossKind::TrajectorySse
        )
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Linear read-out `z = W y + c` before the cross-entropy; `weight` is `[class][component]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Readout {
    pub weight: Vec<Vec<f64>>,
    pub bias: Vec<f64>,
}

impl Readout {
    pub fn n_classes(&self) -> usize {
        self.bias.len()
    }

    /// Number of read-out parameters (weight row-major, then bias).
    pub fn n_params(&self) -> usize {
        self.weight.iter().map(Vec::len).sum::<usize>() + self.bias.len()
    }
}

/// A loss with its data.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Loss {
    pub kind: LossKind,
    /// Observation times of `trajectory-mse` (ascending, in (t0, t1]); ignored otherwise.
    pub times: Vec<f64>,
    /// `targets[k][b]`: target of sample b at observation k (one observation, k = 0, for the
    /// terminal losses; unused by cross-entropy).
    pub targets: Vec<Vec<Vec<f64>>>,
    /// Class of each sample (cross-entropy).
    pub labels: Vec<usize>,
    pub readout: Option<Readout>,
    /// Observed components of the regression losses (empty: all).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<usize>,
}

impl Loss {
    /// A terminal regression loss (`half-sse` or `mse`) with one target per sample.
    pub fn terminal(kind: LossKind, targets: Vec<Vec<f64>>) -> Self {
        Self {
            kind,
            times: Vec::new(),
            targets: vec![targets],
            labels: Vec::new(),
            readout: None,
            components: Vec::new(),
        }
    }

    /// `trajectory-mse` with `targets[k][b]` at `times[k]`.
    pub fn trajectory(times: Vec<f64>, targets: Vec<Vec<Vec<f64>>>) -> Self {
        Self::trajectory_of(LossKind::TrajectoryMse, times, targets)
    }

    /// A trajectory loss of `kind` with `targets[k][b]` at `times[k]`, on every component.
    pub fn trajectory_of(kind: LossKind, times: Vec<f64>, targets: Vec<Vec<Vec<f64>>>) -> Self {
        Self {
            kind,
            times,
            targets,
            labels: Vec::new(),
            readout: None,
            components: Vec::new(),
        }
    }

    /// Observes only `components` (the regression losses).
    pub fn on_components(mut self, components: Vec<usize>) -> Self {
        self.components = components;
        self
    }

    /// Cross-entropy after a linear read-out.
    pub fn cross_entropy(readout: Readout, labels: Vec<usize>) -> Self {
        Self {
            kind: LossKind::CrossEntropy,
            times: Vec::new(),
            targets: Vec::new(),
            labels,
            readout: Some(readout),
            components: Vec::new(),
        }
    }

    /// The negative log-likelihood of a continuous normalising flow (module doc), on the
    /// augmented states `[z, ℓ]` at t1.
    pub fn nll() -> Self {
        Self {
            kind: LossKind::Nll,
            times: Vec::new(),
            targets: Vec::new(),
            labels: Vec::new(),
            readout: None,
            components: Vec::new(),
        }
    }

    /// Observation times (the end t1 for terminal losses).
    pub fn times(&self, t1: f64) -> Vec<f64> {
        if self.kind.is_trajectory() {
            self.times.clone()
        } else {
            vec![t1]
        }
    }

    /// Checks the data against a batch of `n` samples of dimension `d` on `[t0, t1]`.
    pub fn validate(&self, n: usize, d: usize, t0: f64, t1: f64) -> Result<(), GradError> {
        let bad = |m: String| Err(GradError::Invalid(m));
        match self.kind {
            LossKind::Nll => {
                if d < 2 {
                    return bad(format!(
                        "nll needs the augmented state [z, ℓ] (at least 2 values; got {d})"
                    ));
                }
                Ok(())
            }
            LossKind::CrossEntropy => {
                let Some(r) = &self.readout else {
                    return bad("cross-entropy needs a read-out (weight, bias)".into());
                };
                if r.bias.is_empty() || r.weight.len() != r.bias.len() {
                    return bad(format!(
                        "read-out: weight has {} rows but bias has {} entries (one per class)",
                        r.weight.len(),
                        r.bias.len()
                    ));
                }
                if let Some(i) = r.weight.iter().position(|row| row.len() != d) {
                    return bad(format!(
                        "read-out weight row {i} has {} entries; the state has {d}",
                        r.weight[i].len()
                    ));
                }
                if self.labels.len() != n {
                    return bad(format!("{} labels for {n} samples", self.labels.len()));
                }
                if let Some(&l) = self.labels.iter().find(|&&l| l >= r.n_classes()) {
                    return bad(format!(
                        "label {l} is not a class (the read-out has {} classes)",
                        r.n_classes()
                    ));
                }
                Ok(())
            }
            kind => {
                if let Some(&c) = self.components.iter().find(|&&c| c >= d) {
                    return bad(format!(
                        "observed component {c} does not exist (the state has {d})"
                    ));
                }
                let k_obs = if kind.is_trajectory() {
                    if self.times.is_empty() {
                        return bad(format!("{} needs observation times", kind.name()));
                    }
                    let mut prev = t0;
                    for &t in &self.times {
                        if !(t > prev && t <= t1) {
                            return bad(format!(
                                "observation times must increase strictly inside (t0, t1] \
                                 (got {t} after {prev})"
                            ));
                        }
                        prev = t;
                    }
                    self.times.len()
                } else {
                    1
                };
                if self.targets.len() != k_obs {
                    return bad(format!(
                        "{} target sets for {k_obs} observation time(s)",
                        self.targets.len()
                    ));
                }
                for set in &self.targets {
                    if set.len() != n {
                        return bad(format!("{} targets for {n} samples", set.len()));
                    }
                    if let Some(t) = set.iter().find(|t| t.len() != d) {
                        return bad(format!(
                            "a target has {} components; the state has {d}",
                            t.len()
                        ));
                    }
                }
                Ok(())
            }
        }
    }

    /// Contribution of sample `b` (of `n`) at observation `k`: returns its part of L, writes
    /// `∂L/∂y_b` into `g` and adds the read-out gradient to `readout_grad` (cross-entropy).
    pub fn sample_term(
        &self,
        k: usize,
        b: usize,
        n: usize,
        y: &[f64],
        g: &mut [f64],
        readout_grad: Option<&mut [f64]>,
    ) -> f64 {
        let d = y.len();
        match self.kind {
            LossKind::Nll => {
                let (z, l) = y.split_at(d - 1);
                let inv_n = 1.0 / n as f64;
                let half_sq: f64 = 0.5 * z.iter().map(|v| v * v).sum::<f64>();
                let norm = 0.5 * (d - 1) as f64 * (2.0 * std::f64::consts::PI).ln();
                for (o, &v) in g.iter_mut().zip(z) {
                    *o = v * inv_n;
                }
                g[d - 1] = -inv_n;
                (half_sq + norm - l[0]) * inv_n
            }
            LossKind::HalfSse
            | LossKind::Mse
            | LossKind::TrajectoryMse
            | LossKind::TrajectoryL1
            | LossKind::TrajectorySse => {
                let target = &self.targets[k][b];
                let observed = if self.components.is_empty() {
                    d
                } else {
                    self.components.len()
                };
                let k_obs = self.targets.len();
                let scale = match self.kind {
                    LossKind::HalfSse => 0.5,
                    LossKind::Mse => 1.0 / (n * observed) as f64,
                    LossKind::TrajectoryL1 => 1.0 / ((k_obs + 1) * n * observed) as f64,
                    LossKind::TrajectorySse => 1.0,
                    _ => 1.0 / (k_obs * n * observed) as f64,
                };
                g.fill(0.0);
                let mut value = 0.0;
                let mut term = |i: usize| {
                    let r = y[i] - target[i];
                    if self.kind == LossKind::TrajectoryL1 {
                        value += scale * r.abs();
                        g[i] = if r > 0.0 {
                            scale
                        } else if r < 0.0 {
                            -scale
                        } else {
                            0.0
                        };
                    } else {
                        value += scale * r * r;
                        g[i] = 2.0 * scale * r;
                    }
                };
                if self.components.is_empty() {
                    (0..d).for_each(&mut term);
                } else {
                    self.components.iter().for_each(|&i| term(i));
                }
                value
            }
            LossKind::CrossEntropy => {
                let Some(r) = &self.readout else {
                    g.fill(0.0);
                    return 0.0;
                };
                let c = r.n_classes();
                let label = self.labels[b];
                let mut zmax = f64::NEG_INFINITY;
                let mut z = [0.0f64; 64];
                let mut z_heap;
                let z: &mut [f64] = if c <= z.len() {
                    &mut z[..c]
                } else {
                    z_heap = vec![0.0; c];
                    &mut z_heap
                };
                for j in 0..c {
                    z[j] = r.bias[j] + r.weight[j].iter().zip(y).map(|(w, v)| w * v).sum::<f64>();
                    zmax = zmax.max(z[j]);
                }
                let sum: f64 = z.iter().map(|v| (v - zmax).exp()).sum();
                let lse = zmax + sum.ln();
                let inv_n = 1.0 / n as f64;
                let value = (lse - z[label]) * inv_n;
                g.fill(0.0);
                let mut rg = readout_grad;
                for j in 0..c {
                    let p = (z[j] - lse).exp();
                    let delta = (p - if j == label { 1.0 } else { 0.0 }) * inv_n;
                    for i in 0..d {
                        g[i] += r.weight[j][i] * delta;
                    }
                    if let Some(rg) = rg.as_deref_mut() {
                        for i in 0..d {
                            rg[j * d + i] += delta * y[i];
                        }
                        rg[c * d + j] += delta;
                    }
                }
                value
            }
        }
    }

    /// Sum of [`Loss::sample_term`] over a group: `ys` and `g` hold the group's samples
    /// (`samples[j]` is the batch index of the j-th) back to back.
    pub fn group_term(
        &self,
        k: usize,
        samples: &[usize],
        n: usize,
        ys: &[f64],
        g: &mut [f64],
        mut readout_grad: Option<&mut [f64]>,
    ) -> f64 {
        let d = ys.len() / samples.len().max(1);
        let mut value = 0.0;
        for (j, &b) in samples.iter().enumerate() {
            let r = j * d..(j + 1) * d;
            value += self.sample_term(
                k,
                b,
                n,
                &ys[r.clone()],
                &mut g[r],
                readout_grad.as_deref_mut(),
            );
        }
        value
    }

    /// Length of the read-out gradient (0 without a read-out).
    pub fn readout_len(&self) -> usize {
        self.readout.as_ref().map_or(0, Readout::n_params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_gradient(loss: &Loss, ys: &[f64], n: usize) {
        let d = ys.len() / n;
        let samples: Vec<usize> = (0..n).collect();
        let k_obs = loss.targets.len().max(1);
        for k in 0..k_obs {
            let mut g = vec![0.0; ys.len()];
            let mut rg = vec![0.0; loss.readout_len()];
            let value = loss.group_term(k, &samples, n, ys, &mut g, Some(&mut rg));
            assert!(value.is_finite());
            let mut dummy = vec![0.0; ys.len()];
            for i in 0..ys.len() {
                let eps = 1e-6;
                let (mut a, mut b) = (ys.to_vec(), ys.to_vec());
                a[i] += eps;
                b[i] -= eps;
                let fd = (loss.group_term(k, &samples, n, &a, &mut dummy, None)
                    - loss.group_term(k, &samples, n, &b, &mut dummy, None))
                    / (2.0 * eps);
                assert!((fd - g[i]).abs() < 1e-8, "component {i}: {fd} vs {}", g[i]);
            }
            if let Some(r) = &loss.readout {
                let c = r.n_classes();
                for j in 0..c {
                    for i in 0..=d {
                        let eps = 1e-6;
                        let mut plus = loss.clone();
                        let mut minus = loss.clone();
                        let (pr, mr) = (
                            plus.readout.as_mut().unwrap(),
                            minus.readout.as_mut().unwrap(),
                        );
                        let idx = if i < d {
                            pr.weight[j][i] += eps;
                            mr.weight[j][i] -= eps;
                            j * d + i
                        } else {
                            pr.bias[j] += eps;
                            mr.bias[j] -= eps;
                            c * d + j
                        };
                        let fd = (plus.group_term(k, &samples, n, ys, &mut dummy, None)
                            - minus.group_term(k, &samples, n, ys, &mut dummy, None))
                            / (2.0 * eps);
                        assert!((fd - rg[idx]).abs() < 1e-8);
                    }
                }
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let ys = [0.3, -1.2, 0.8, 0.1, -0.4, 2.0];
        let targets = vec![vec![0.0, 1.0], vec![0.5, 0.5], vec![-1.0, 0.0]];
        check_gradient(&Loss::terminal(LossKind::HalfSse, targets.clone()), &ys, 3);
        check_gradient(&Loss::terminal(LossKind::Mse, targets.clone()), &ys, 3);
        check_gradient(
            &Loss::trajectory(vec![0.5, 1.0], vec![targets.clone(), targets]),
            &ys,
            3,
        );
        let readout = Readout {
            weight: vec![vec![1.0, -0.5], vec![0.2, 0.7], vec![-0.3, 0.1]],
            bias: vec![0.1, 0.0, -0.2],
        };
        check_gradient(&Loss::cross_entropy(readout, vec![0, 2, 1]), &ys, 3);
        check_gradient(&Loss::nll(), &ys, 2);
    }

    /// At z = 0, ℓ = 0 the NLL is the standard normal's −log density at its mode, ln(2π) in 2-D.
    #[test]
    fn nll_at_the_origin_is_log_two_pi() {
        let mut g = [0.0; 3];
        let v = Loss::nll().sample_term(0, 0, 1, &[0.0, 0.0, 0.0], &mut g, None);
        assert!((v - (2.0 * std::f64::consts::PI).ln()).abs() < 1e-15);
        let v = Loss::nll().sample_term(0, 0, 1, &[0.0, 0.0, 0.75], &mut g, None);
        assert!((v - (2.0 * std::f64::consts::PI).ln() + 0.75).abs() < 1e-15);
    }

    #[test]
    fn conventions_match_the_contract() {
        let targets = vec![vec![0.0, 1.0], vec![1.0, 1.0]];
        let ys = [1.0, 1.0, 1.0, 3.0];
        let mut g = [0.0; 4];
        let half = Loss::terminal(LossKind::HalfSse, targets.clone());
        assert_eq!(
            half.group_term(0, &[0, 1], 2, &ys, &mut g, None),
            0.5 * (1.0 + 4.0)
        );
        let mse = Loss::terminal(LossKind::Mse, targets);
        assert_eq!(
            mse.group_term(0, &[0, 1], 2, &ys, &mut g, None),
            (1.0 + 4.0) / 4.0
        );
    }

    #[test]
    fn bad_shapes_are_explained() {
        let loss = Loss::terminal(LossKind::Mse, vec![vec![0.0]]);
        let err = loss.validate(1, 2, 0.0, 1.0).unwrap_err();
        assert!(err.to_string().contains("components"), "{err}");
        let loss = Loss::trajectory(vec![0.5, 0.4], vec![vec![vec![0.0]], vec![vec![0.0]]]);
        assert!(loss.validate(1, 1, 0.0, 1.0).is_err());
    }
}
