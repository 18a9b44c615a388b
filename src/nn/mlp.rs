//! Multi-layer perceptron vector field, evaluated one sample at a time.
//!
//! `f(y) = W_L σ(… σ(W_1 x + b_1) …) + b_L`, with `x = m(y)` or, when `time_input` is set,
//! `x = [m(y), t]`, where the input map `m` ([`InputMap`]) is the identity or the componentwise
//! cube `m(y) = y∘y∘y` (the classic spiral demo's network sees y³).
//!
//! `weight` is stored `[out][in]`. The flat parameter vector θ lists, layer by layer, the weight
//! row-major and then the bias; every gradient nodelab reports uses this order (the weights
//! file, [`super::model_file`], stores the same).

use super::activation::Activation;
use super::affine::{affine_backward, affine_into};
use super::input_map::InputMap;

/// An MLP vector field with its parameters in one flat vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    pub activation: Activation,
    pub time_input: bool,
    /// The map applied to y before the first layer.
    pub input_map: InputMap,
    /// Layer widths `[n_in, n_1, …, n_out]`.
    pub sizes: Vec<usize>,
    /// θ: layer by layer, weight row-major (`[out][in]`) then bias.
    pub params: Vec<f64>,
}

impl Mlp {
    /// A randomly initialised MLP (uniform Glorot-style scale), seeded for reproducibility.
    pub fn random(
        dims: &[usize],
        activation: Activation,
        time_input: bool,
        scale: f64,
        seed: u64,
    ) -> Self {
        use rand::{RngExt, SeedableRng, rngs::StdRng};
        let mut rng = StdRng::seed_from_u64(seed);
        let mut sizes = dims.to_vec();
        if time_input {
            sizes[0] += 1;
        }
        let mut params = Vec::new();
        for l in 0..sizes.len() - 1 {
            let (n_in, n_out) = (sizes[l], sizes[l + 1]);
            let bound = scale * (6.0 / (n_in + n_out) as f64).sqrt();
            for _ in 0..n_in * n_out {
                params.push(rng.random_range(-bound..bound));
            }
            for _ in 0..n_out {
                params.push(rng.random_range(-0.1 * scale..0.1 * scale));
            }
        }
        Self {
            activation,
            time_input,
            input_map: InputMap::Identity,
            sizes,
            params,
        }
    }

    /// State dimension (= number of outputs).
    pub fn dim(&self) -> usize {
        *self.sizes.last().unwrap_or(&0)
    }

    pub fn n_layers(&self) -> usize {
        self.sizes.len().saturating_sub(1)
    }

    pub fn n_params(&self) -> usize {
        self.params.len()
    }

    /// Widest layer (scratch buffers are sized from it).
    pub fn max_width(&self) -> usize {
        self.sizes.iter().copied().max().unwrap_or(0)
    }

    /// Offset of layer `l`'s weight in θ (its bias follows at `+ n_in·n_out`).
    pub fn layer_offset(&self, l: usize) -> usize {
        (0..l)
            .map(|k| self.sizes[k] * self.sizes[k + 1] + self.sizes[k + 1])
            .sum()
    }

    /// Evaluates `f(t, y)` into `out`, using `scratch` (length ≥ 2·max_width) for activations.
    pub fn forward_into(&self, t: f64, y: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        let w = self.max_width();
        let (a, b) = scratch.split_at_mut(w);
        let n0 = self.sizes[0];
        for (x, &v) in a[..y.len()].iter_mut().zip(y) {
            *x = self.input_map.apply(v);
        }
        if self.time_input {
            a[n0 - 1] = t;
        }
        let (mut cur, mut next) = (a, b);
        let mut offset = 0;
        let last = self.n_layers() - 1;
        for l in 0..self.n_layers() {
            let (n_in, n_out) = (self.sizes[l], self.sizes[l + 1]);
            let weight = &self.params[offset..offset + n_in * n_out];
            let bias = &self.params[offset + n_in * n_out..offset + n_in * n_out + n_out];
            offset += n_in * n_out + n_out;
            affine_into(weight, bias, &cur[..n_in], &mut next[..n_out]);
            if l != last {
                self.activation.apply_slice(&mut next[..n_out]);
            }
            std::mem::swap(&mut cur, &mut next);
        }
        out.copy_from_slice(&cur[..self.dim()]);
    }

    /// Convenience wrapper around [`Mlp::forward_into`] that allocates.
    pub fn forward(&self, t: f64, y: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.dim()];
        let mut scratch = vec![0.0; 2 * self.max_width()];
        self.forward_into(t, y, &mut out, &mut scratch);
        out
    }
}

/// Scratch for the derivative evaluations of one [`Mlp`]: the input and the activations of
/// every layer, the activation derivatives σ'(z) of the hidden layers, and two back-propagation
/// buffers. Create it once ([`Mlp::work`]) and reuse it: the derivative routines never allocate.
#[derive(Clone, Debug, Default)]
pub struct MlpWork {
    /// `x_0 = [y, t?]`, then `x_l = σ(z_l)` for each hidden layer (layer-major).
    acts: Vec<f64>,
    /// σ'(z_l) for each hidden layer, aligned with `acts` after `x_0`.
    deriv: Vec<f64>,
    /// Tangents of `acts` (forward mode).
    tangent: Vec<f64>,
    delta: Vec<f64>,
    delta_next: Vec<f64>,
    /// The state y itself (the input map's derivative is taken there).
    input: Vec<f64>,
}

impl MlpWork {
    /// Resizes the buffers for `mlp` (no-op when they already fit).
    pub fn ensure(&mut self, mlp: &Mlp) {
        let total: usize = mlp.sizes[..mlp.sizes.len() - 1].iter().sum();
        let w = mlp.max_width();
        if self.acts.len() < total {
            self.acts.resize(total, 0.0);
            self.deriv.resize(total, 0.0);
            self.tangent.resize(total, 0.0);
        }
        if self.delta.len() < w {
            self.delta.resize(w, 0.0);
            self.delta_next.resize(w, 0.0);
        }
        if self.input.len() < mlp.dim() {
            self.input.resize(mlp.dim(), 0.0);
        }
    }
}

impl Mlp {
    /// Scratch sized for this network.
    pub fn work(&self) -> MlpWork {
        let mut w = MlpWork::default();
        w.ensure(self);
        w
    }

    /// Start of layer `l`'s input in [`MlpWork::acts`].
    #[inline]
    fn act_offset(&self, l: usize) -> usize {
        self.sizes[..l].iter().sum()
    }

    /// Forward pass that records every layer's input and σ'(z) in `work` (for [`Mlp::vjp_recorded`]
    /// and [`Mlp::jvp_into`]), writing `f(t, y)` into `out`.
    pub fn forward_record_into(&self, t: f64, y: &[f64], out: &mut [f64], work: &mut MlpWork) {
        work.ensure(self);
        let n0 = self.sizes[0];
        let d = self.dim();
        work.input[..d].copy_from_slice(&y[..d]);
        for (x, &v) in work.acts[..d].iter_mut().zip(&y[..d]) {
            *x = self.input_map.apply(v);
        }
        if self.time_input {
            work.acts[n0 - 1] = t;
        }
        let last = self.n_layers() - 1;
        let mut offset = 0;
        let mut a_in = 0;
        for l in 0..self.n_layers() {
            let (n_in, n_out) = (self.sizes[l], self.sizes[l + 1]);
            let weight = &self.params[offset..offset + n_in * n_out];
            let bias = &self.params[offset + n_in * n_out..offset + n_in * n_out + n_out];
            offset += n_in * n_out + n_out;
            let a_out = a_in + n_in;
            let (head, tail) = work.acts.split_at_mut(a_out);
            let x = &head[a_in..a_out];
            if l == last {
                affine_into(weight, bias, x, &mut out[..n_out]);
            } else {
                let zs = &mut work.deriv[a_out..a_out + n_out];
                affine_into(weight, bias, x, zs);
                let s = &mut tail[..n_out];
                s.copy_from_slice(zs);
                self.activation.apply_slice(s);
                for (zd, &sv) in zs.iter_mut().zip(s.iter()) {
                    *zd = self.activation.derivative(*zd, sv);
                }
            }
            a_in = a_out;
        }
    }

    /// Reverse pass after [`Mlp::forward_record_into`] at the same point: writes `vᵀ ∂f/∂y`
    /// into `vy` and adds `scale · vᵀ ∂f/∂θ` to `gtheta` (flat θ order).
    pub fn vjp_recorded(
        &self,
        v: &[f64],
        scale: f64,
        vy: &mut [f64],
        gtheta: &mut [f64],
        work: &mut MlpWork,
    ) {
        let d = self.dim();
        let n_layers = self.n_layers();
        let MlpWork {
            acts,
            deriv,
            delta,
            delta_next,
            input,
            ..
        } = work;
        delta[..d].copy_from_slice(&v[..d]);
        for l in (0..n_layers).rev() {
            let (n_in, n_out) = (self.sizes[l], self.sizes[l + 1]);
            let offset = self.layer_offset(l);
            let a_in = self.act_offset(l);
            let x = &acts[a_in..a_in + n_in];
            let weight = &self.params[offset..offset + n_in * n_out];
            let (gw, gb) = gtheta[offset..offset + n_in * n_out + n_out].split_at_mut(n_in * n_out);
            // δ_in = Wᵀ δ, then through σ' of the layer that produced x (for l > 0).
            affine_backward(weight, x, &delta[..n_out], scale, gw, gb, delta_next);
            let dn = &mut delta_next[..n_in];
            if l > 0 {
                let dv = &deriv[a_in..a_in + n_in];
                for (o, s) in dn.iter_mut().zip(dv) {
                    *o *= s;
                }
            }
            std::mem::swap(delta, delta_next);
        }
        for ((o, &dl), &yv) in vy[..d].iter_mut().zip(&delta[..d]).zip(&input[..d]) {
            *o = dl * self.input_map.derivative(yv);
        }
    }

    /// Vector-Jacobian product at `(t, y)`: `f(t, y)` into `f_out`, `vᵀ ∂f/∂y` into `vy`, and
    /// `scale · vᵀ ∂f/∂θ` added to `gtheta`. Allocation-free.
    #[allow(clippy::too_many_arguments)]
    pub fn vjp_into(
        &self,
        t: f64,
        y: &[f64],
        v: &[f64],
        scale: f64,
        f_out: &mut [f64],
        vy: &mut [f64],
        gtheta: &mut [f64],
        work: &mut MlpWork,
    ) {
        self.forward_record_into(t, y, f_out, work);
        self.vjp_recorded(v, scale, vy, gtheta, work);
    }

    /// Jacobian-vector product at `(t, y)`: `out = ∂f/∂y · u + ∂f/∂θ · w` (`w = None`: the
    /// θ-term is dropped), with `f(t, y)` into `f_out`. Allocation-free.
    #[allow(clippy::too_many_arguments)]
    pub fn jvp_into(
        &self,
        t: f64,
        y: &[f64],
        u: &[f64],
        w: Option<&[f64]>,
        f_out: &mut [f64],
        out: &mut [f64],
        work: &mut MlpWork,
    ) {
        self.forward_record_into(t, y, f_out, work);
        let d = self.dim();
        let n0 = self.sizes[0];
        let MlpWork {
            acts,
            deriv,
            tangent,
            input,
            ..
        } = work;
        for ((o, &uv), &yv) in tangent[..d].iter_mut().zip(&u[..d]).zip(&input[..d]) {
            *o = uv * self.input_map.derivative(yv);
        }
        if self.time_input {
            tangent[n0 - 1] = 0.0;
        }
        let last = self.n_layers() - 1;
        let mut a_in = 0;
        for l in 0..self.n_layers() {
            let (n_in, n_out) = (self.sizes[l], self.sizes[l + 1]);
            let offset = self.layer_offset(l);
            let weight = &self.params[offset..offset + n_in * n_out];
            let a_out = a_in + n_in;
            let (head, tail) = tangent.split_at_mut(a_out);
            let dx = &head[a_in..a_out];
            let x = &acts[a_in..a_out];
            for r in 0..n_out {
                let row = &weight[r * n_in..(r + 1) * n_in];
                let mut dz = 0.0;
                for (wi, xi) in row.iter().zip(dx) {
                    dz += wi * xi;
                }
                if let Some(w) = w {
                    let wrow = &w[offset + r * n_in..offset + (r + 1) * n_in];
                    for (wi, xi) in wrow.iter().zip(x) {
                        dz += wi * xi;
                    }
                    dz += w[offset + n_in * n_out + r];
                }
                if l == last {
                    out[r] = dz;
                } else {
                    tail[r] = deriv[a_out + r] * dz;
                }
            }
            a_in = a_out;
        }
    }

    /// The full Jacobians at `(t, y)` by `d` reverse passes: `jy` (`d×d`, row-major: row i is
    /// `∂f_i/∂y`) and `jtheta` (`d×P`, row i is `∂f_i/∂θ`, overwritten), with `f(t, y)` into
    /// `f_out`. Allocation-free.
    pub fn jacobian_into(
        &self,
        t: f64,
        y: &[f64],
        f_out: &mut [f64],
        jy: &mut [f64],
        jtheta: &mut [f64],
        work: &mut MlpWork,
    ) {
        let d = self.dim();
        let p = self.n_params();
        self.forward_record_into(t, y, f_out, work);
        jtheta[..d * p].fill(0.0);
        let mut e = [0.0f64; 16];
        for i in 0..d {
            let row_y = &mut jy[i * d..(i + 1) * d];
            let row_t = &mut jtheta[i * p..(i + 1) * p];
            if d <= e.len() {
                e[..d].fill(0.0);
                e[i] = 1.0;
                self.vjp_recorded(&e[..d], 1.0, row_y, row_t, work);
            } else {
                // Wide states: a unit vector in the tangent buffer's tail would alias; use the
                // delta buffer directly.
                let mut unit = vec![0.0; d];
                unit[i] = 1.0;
                self.vjp_recorded(&unit, 1.0, row_y, row_t, work);
            }
        }
    }

    /// Batched forward: `ys` and `out` hold `n` states of dimension `d` back to back.
    pub fn forward_batch_into(&self, t: f64, ys: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        let d = self.dim();
        for (y, o) in ys.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
            self.forward_into(t, y, o, scratch);
        }
    }

    /// Batched VJP: for every sample b, `vy_b = v_bᵀ ∂f/∂y(y_b)`, and `scale · Σ_b v_bᵀ ∂f/∂θ(y_b)`
    /// added to `gtheta`; `f_out` receives `f(t, y_b)`.
    #[allow(clippy::too_many_arguments)]
    pub fn vjp_batch_into(
        &self,
        t: f64,
        ys: &[f64],
        vs: &[f64],
        scale: f64,
        f_out: &mut [f64],
        vy: &mut [f64],
        gtheta: &mut [f64],
        work: &mut MlpWork,
    ) {
        let d = self.dim();
        for b in 0..ys.len() / d {
            let r = b * d..(b + 1) * d;
            self.vjp_into(
                t,
                &ys[r.clone()],
                &vs[r.clone()],
                scale,
                &mut f_out[r.clone()],
                &mut vy[r],
                gtheta,
                work,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::model_file::tests::TINY;

    #[test]
    fn forward_matches_a_hand_computation() {
        let mlp = Mlp::from_json(TINY).unwrap();
        assert_eq!(mlp.sizes, vec![2, 3, 2]);
        assert_eq!(mlp.n_params(), 6 + 3 + 6 + 2);
        let y = [0.4, -0.2];
        let h = [
            (0.4 - 0.4 + 0.1f64).tanh(),
            (0.2 + 0.2 + 0.2f64).tanh(),
            (-0.06 - 0.3f64).tanh(),
        ];
        let expected = [
            h[0] - h[1] + 2.0 * h[2] + 0.01,
            0.5 * (h[0] + h[1] + h[2]) - 0.02,
        ];
        let out = mlp.forward(0.0, &y);
        for i in 0..2 {
            assert!((out[i] - expected[i]).abs() < 1e-15);
        }
    }

    fn fd_check_mlp(mlp: &Mlp, t: f64, y: &[f64]) {
        let d = mlp.dim();
        let p = mlp.n_params();
        let mut work = mlp.work();
        let mut f = vec![0.0; d];
        let mut jy = vec![0.0; d * d];
        let mut jt = vec![0.0; d * p];
        mlp.jacobian_into(t, y, &mut f, &mut jy, &mut jt, &mut work);
        assert_eq!(f, mlp.forward(t, y));
        let eps = 1e-6;
        for j in 0..d {
            let (mut yp, mut ym) = (y.to_vec(), y.to_vec());
            yp[j] += eps;
            ym[j] -= eps;
            let (fp, fm) = (mlp.forward(t, &yp), mlp.forward(t, &ym));
            for i in 0..d {
                let fd = (fp[i] - fm[i]) / (2.0 * eps);
                assert!(
                    (fd - jy[i * d + j]).abs() < 1e-7,
                    "dy {i} {j}: {fd} {}",
                    jy[i * d + j]
                );
            }
        }
        for k in 0..p {
            let (mut a, mut b) = (mlp.clone(), mlp.clone());
            a.params[k] += eps;
            b.params[k] -= eps;
            let (fp, fm) = (a.forward(t, y), b.forward(t, y));
            for i in 0..d {
                let fd = (fp[i] - fm[i]) / (2.0 * eps);
                assert!((fd - jt[i * p + k]).abs() < 1e-7, "dθ {i} {k}");
            }
        }
        // vjp and jvp agree with the Jacobians: vᵀ(J u) = (vᵀJ) u, in y and in θ.
        let v: Vec<f64> = (0..d).map(|i| 0.3 - 0.7 * i as f64).collect();
        let u: Vec<f64> = (0..d).map(|i| 1.1 + 0.2 * i as f64).collect();
        let w: Vec<f64> = (0..p).map(|k| ((k * 7) % 5) as f64 - 2.0).collect();
        let (mut vy, mut gt) = (vec![0.0; d], vec![0.0; p]);
        mlp.vjp_into(t, y, &v, 2.0, &mut f, &mut vy, &mut gt, &mut work);
        let mut jv = vec![0.0; d];
        mlp.jvp_into(t, y, &u, Some(&w), &mut f, &mut jv, &mut work);
        let lhs: f64 = v.iter().zip(&jv).map(|(a, b)| a * b).sum();
        let rhs: f64 = vy.iter().zip(&u).map(|(a, b)| a * b).sum::<f64>()
            + gt.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() / 2.0;
        assert!((lhs - rhs).abs() < 1e-12 * (1.0 + lhs.abs()), "{lhs} {rhs}");
        for i in 0..d {
            let row: f64 = (0..d).map(|j| jy[i * d + j] * u[j]).sum::<f64>()
                + (0..p).map(|k| jt[i * p + k] * w[k]).sum::<f64>();
            assert!((row - jv[i]).abs() < 1e-12 * (1.0 + row.abs()));
        }
    }

    #[test]
    fn derivatives_match_finite_differences() {
        for (k, act) in [Activation::Tanh, Activation::Softplus, Activation::Sigmoid]
            .into_iter()
            .enumerate()
        {
            for time_input in [false, true] {
                let mlp = Mlp::random(&[3, 7, 5, 3], act, time_input, 1.0, 11 + k as u64);
                fd_check_mlp(&mlp, 0.4, &[0.3, -0.8, 1.2]);
            }
        }
        let mlp = Mlp::random(&[2, 8, 2], Activation::Tanh, false, 1.0, 5);
        fd_check_mlp(&mlp, 0.0, &[1.0, -0.5]);
    }

    #[test]
    fn batched_vjp_sums_the_samples() {
        let mlp = Mlp::random(&[2, 6, 2], Activation::Tanh, false, 1.0, 9);
        let mut work = mlp.work();
        let ys = [0.1, 0.2, -0.5, 0.9, 1.5, -1.0];
        let vs = [1.0, 0.0, 0.5, -0.5, 0.2, 0.3];
        let p = mlp.n_params();
        let (mut f, mut vy, mut g) = (vec![0.0; 6], vec![0.0; 6], vec![0.0; p]);
        mlp.vjp_batch_into(0.0, &ys, &vs, 1.0, &mut f, &mut vy, &mut g, &mut work);
        let mut g2 = vec![0.0; p];
        let (mut f1, mut vy1) = (vec![0.0; 2], vec![0.0; 2]);
        for b in 0..3 {
            let r = 2 * b..2 * b + 2;
            mlp.vjp_into(
                0.0,
                &ys[r.clone()],
                &vs[r.clone()],
                1.0,
                &mut f1,
                &mut vy1,
                &mut g2,
                &mut work,
            );
            assert_eq!(&vy[r.clone()], &vy1[..]);
            assert_eq!(&f[r], &f1[..]);
        }
        for k in 0..p {
            assert!((g[k] - g2[k]).abs() < 1e-15);
        }
    }
}
