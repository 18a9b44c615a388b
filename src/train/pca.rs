//! Principal component analysis: the `k` leading eigenvectors of the sample covariance
//! `C = (1/(n−1)) Σ (x_i − μ)(x_i − μ)ᵀ`, found with the cyclic Jacobi eigenvalue method
//! (Golub & Van Loan, *Matrix Computations*, 4th ed., §8.5: rotations that zero one
//! off-diagonal entry at a time until the off-diagonal norm is below 1e-12 of the total).
//!
//! [`Pca::encode`] gives the whitened coordinates `z_j = v_jᵀ(x − μ) / √λ_j`: unit variance on
//! the data it was fitted on, so a tanh network sees inputs of order one.

/// A fitted PCA.
#[derive(Clone, Debug, PartialEq)]
pub struct Pca {
    /// The mean μ of the fitted rows.
    pub mean: Vec<f64>,
    /// The leading unit eigenvectors `v_j` of C (orthonormal), by decreasing eigenvalue.
    pub components: Vec<Vec<f64>>,
    /// Their eigenvalues λ_j: the variance of the data along `v_j`.
    pub variances: Vec<f64>,
    /// The sum of all eigenvalues (the trace of C, the total variance).
    pub total_variance: f64,
}

impl Pca {
    /// Fits `k` components to `rows` (each of the same length p; k ≤ p, at least 2 rows).
    pub fn fit(rows: &[Vec<f64>], k: usize) -> Result<Self, String> {
        let n = rows.len();
        let p = rows.first().map_or(0, Vec::len);
        if n < 2 || p == 0 {
            return Err(format!("PCA needs at least 2 rows of data (got {n})"));
        }
        if rows.iter().any(|r| r.len() != p) {
            return Err("PCA: the rows differ in length".into());
        }
        if k == 0 || k > p {
            return Err(format!("PCA: {k} components asked of {p}-dimensional data"));
        }
        let mut mean = vec![0.0; p];
        for r in rows {
            for (m, x) in mean.iter_mut().zip(r) {
                *m += x / n as f64;
            }
        }
        let mut cov = vec![0.0; p * p];
        let mut d = vec![0.0; p];
        for r in rows {
            for (di, (x, m)) in d.iter_mut().zip(r.iter().zip(&mean)) {
                *di = x - m;
            }
            for i in 0..p {
                for j in i..p {
                    cov[i * p + j] += d[i] * d[j];
                }
            }
        }
        for i in 0..p {
            for j in i..p {
                let v = cov[i * p + j] / (n - 1) as f64;
                cov[i * p + j] = v;
                cov[j * p + i] = v;
            }
        }
        let (values, vectors) = symmetric_eigen(&cov, p);
        let mut order: Vec<usize> = (0..p).collect();
        order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
        let total_variance = values.iter().sum();
        Ok(Self {
            mean,
            components: order[..k]
                .iter()
                .map(|&j| (0..p).map(|i| vectors[i * p + j]).collect())
                .collect(),
            variances: order[..k].iter().map(|&j| values[j].max(0.0)).collect(),
            total_variance,
        })
    }

    /// `v_jᵀ(x − μ)` for each component: the coordinates in the principal axes.
    pub fn project(&self, x: &[f64]) -> Vec<f64> {
        self.components
            .iter()
            .map(|v| {
                v.iter()
                    .zip(x.iter().zip(&self.mean))
                    .map(|(a, (b, m))| a * (b - m))
                    .sum()
            })
            .collect()
    }

    /// The whitened coordinates `v_jᵀ(x − μ) / √λ_j` (a component of zero variance gives 0).
    pub fn encode(&self, x: &[f64]) -> Vec<f64> {
        self.project(x)
            .into_iter()
            .zip(&self.variances)
            .map(|(z, &l)| if l > 0.0 { z / l.sqrt() } else { 0.0 })
            .collect()
    }

    /// The share of the total variance the components keep.
    pub fn explained(&self) -> f64 {
        if self.total_variance > 0.0 {
            self.variances.iter().sum::<f64>() / self.total_variance
        } else {
            0.0
        }
    }
}

/// Eigenvalues and eigenvectors of the symmetric `p × p` matrix `a` (row-major) by cyclic
/// Jacobi sweeps: returns `(λ, V)` with V row-major and its column j the unit eigenvector of
/// λ_j (unsorted).
pub fn symmetric_eigen(a: &[f64], p: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0; p * p];
    for i in 0..p {
        v[i * p + i] = 1.0;
    }
    let norm: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    for _sweep in 0..100 {
        let off: f64 = (0..p)
            .flat_map(|i| (0..p).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * p + j] * a[i * p + j])
            .sum::<f64>()
            .sqrt();
        if off <= 1e-12 * norm.max(f64::MIN_POSITIVE) {
            break;
        }
        for k in 0..p {
            for l in k + 1..p {
                let akl = a[k * p + l];
                if akl.abs() <= f64::MIN_POSITIVE {
                    continue;
                }
                // The rotation (c, s) that zeroes a_kl (Golub & Van Loan, Algorithm 8.5.1).
                let tau = (a[l * p + l] - a[k * p + k]) / (2.0 * akl);
                let t = tau.signum() / (tau.abs() + (1.0 + tau * tau).sqrt());
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = t * c;
                for i in 0..p {
                    let (aik, ail) = (a[i * p + k], a[i * p + l]);
                    a[i * p + k] = c * aik - s * ail;
                    a[i * p + l] = s * aik + c * ail;
                }
                for j in 0..p {
                    let (akj, alj) = (a[k * p + j], a[l * p + j]);
                    a[k * p + j] = c * akj - s * alj;
                    a[l * p + j] = s * akj + c * alj;
                }
                for i in 0..p {
                    let (vik, vil) = (v[i * p + k], v[i * p + l]);
                    v[i * p + k] = c * vik - s * vil;
                    v[i * p + l] = s * vik + c * vil;
                }
            }
        }
    }
    ((0..p).map(|i| a[i * p + i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::rng::{SeedRng, Stream};

    /// Points `μ + Σ_j s_j g_j u_j` on known orthonormal axes u_j with spreads s_j: the
    /// covariance's eigenvectors are the u_j and its eigenvalues ≈ s_j².
    fn planted(n: usize) -> (Vec<Vec<f64>>, [[f64; 3]; 3], [f64; 3]) {
        let r = 1.0 / 2f64.sqrt();
        let axes = [[r, r, 0.0], [-r, r, 0.0], [0.0, 0.0, 1.0]];
        let spread = [3.0, 1.0, 0.2];
        let mut rng = SeedRng::new(7, Stream::Data);
        let rows = (0..n)
            .map(|_| {
                let g: Vec<f64> = (0..3).map(|_| rng.normal()).collect();
                (0..3)
                    .map(|i| 5.0 + (0..3).map(|j| spread[j] * g[j] * axes[j][i]).sum::<f64>())
                    .collect()
            })
            .collect();
        (rows, axes, spread)
    }

    #[test]
    fn planted_axes_are_found_in_order() {
        let (rows, axes, spread) = planted(20_000);
        let pca = Pca::fit(&rows, 3).unwrap();
        for j in 0..3 {
            let cos: f64 = pca.components[j]
                .iter()
                .zip(&axes[j])
                .map(|(a, b)| a * b)
                .sum();
            assert!(cos.abs() > 0.999, "component {j}: |cos| = {}", cos.abs());
            let want = spread[j] * spread[j];
            assert!(
                (pca.variances[j] - want).abs() < 0.05 * want,
                "λ_{j} = {} vs {want}",
                pca.variances[j]
            );
        }
        assert!((pca.mean[0] - 5.0).abs() < 0.1);
    }

    #[test]
    fn eigenpairs_satisfy_the_definition_on_a_dense_matrix() {
        // A = B Bᵀ for a seeded B: symmetric positive semi-definite, no structure.
        let p = 12;
        let mut rng = SeedRng::new(3, Stream::Data);
        let b: Vec<f64> = (0..p * p).map(|_| rng.normal()).collect();
        let mut a = vec![0.0; p * p];
        for i in 0..p {
            for j in 0..p {
                a[i * p + j] = (0..p).map(|k| b[i * p + k] * b[j * p + k]).sum();
            }
        }
        let (values, v) = symmetric_eigen(&a, p);
        let trace: f64 = (0..p).map(|i| a[i * p + i]).sum();
        assert!((values.iter().sum::<f64>() - trace).abs() < 1e-9 * trace);
        for j in 0..p {
            // ‖A v_j − λ_j v_j‖ small, and V orthonormal.
            let res: f64 = (0..p)
                .map(|i| {
                    let av: f64 = (0..p).map(|k| a[i * p + k] * v[k * p + j]).sum();
                    (av - values[j] * v[i * p + j]).powi(2)
                })
                .sum::<f64>()
                .sqrt();
            assert!(res < 1e-9 * trace, "residual {res} for λ = {}", values[j]);
            for m in 0..p {
                let dot: f64 = (0..p).map(|i| v[i * p + j] * v[i * p + m]).sum();
                let want = if j == m { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-10, "v_{j}·v_{m} = {dot}");
            }
        }
    }

    #[test]
    fn whitened_coordinates_have_unit_variance_and_no_correlation() {
        let (rows, _, _) = planted(2_000);
        let pca = Pca::fit(&rows, 2).unwrap();
        let z: Vec<Vec<f64>> = rows.iter().map(|r| pca.encode(r)).collect();
        let n = z.len() as f64;
        for a in 0..2 {
            let mean = z.iter().map(|v| v[a]).sum::<f64>() / n;
            assert!(mean.abs() < 1e-9, "mean {mean}");
            for b in 0..2 {
                let c = z.iter().map(|v| v[a] * v[b]).sum::<f64>() / (n - 1.0);
                let want = if a == b { 1.0 } else { 0.0 };
                assert!((c - want).abs() < 1e-9, "cov[{a}][{b}] = {c}");
            }
        }
        assert!(Pca::fit(&rows[..1], 1).is_err());
        assert!(Pca::fit(&rows, 4).is_err());
    }
}
