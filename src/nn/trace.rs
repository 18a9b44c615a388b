//! The augmented field of a continuous normalising flow (CNF): an MLP field `f(t, z)` together
//! with its divergence `tr ∂f/∂z`, for n stacked samples, and the vector-Jacobian product of
//! both with respect to the state and θ.
//!
//! FFJORD (Grathwohl et al. 2019; irdm-interpolated-adjoint.md §4): the state of one sample is
//! `[z, ℓ]` (d + 1 values) and `d/dt [z, ℓ] = [f(t, z), tr ∂f/∂z (t, z)]`. The trace is exact:
//! forward-mode tangents `u^j = ∂x_l/∂z_j` (one per state component j < d) ride along with the
//! activations `x_l` as d extra *channels*. The d + 1 channels of a layer's input are stacked as
//! the rows of one `(d+1)·n × width` matrix (channel-major: rows `c·n … (c+1)·n` are channel c;
//! channel 0 = `x_l`, channel 1 + j = `u^j_l`), so every layer is one matrix product for all
//! channels ([`super::thin`]):
//! - input: `x_0 = [m(z), t]`, `u^j_0 = m'(z_j) e_j` (time column 0);
//! - hidden layer: `a = W x + b`, `ȧ^j = W u^j`, `x' = σ(a)`, `u'^j = σ'(a) ∘ ȧ^j`;
//! - last layer: `f = W x + b`, `ḟ^j = W u^j = ∂f/∂z_j`, and `tr ∂f/∂z = Σ_j ḟ^j_j`.
//!
//! The VJP with `v = [v_z, v_ℓ]` runs reverse mode through that graph: at the output
//! `f̄ = v_z`, `ḟ̄^j = v_ℓ e_j`; per layer `W̄ += Ḡᵀ S` over all channels, `b̄ += Σ_rows f̄`,
//! `S̄ = Ḡ W`; through a hidden σ: `ā = σ'(a) ∘ x̄ + Σ_j σ''(a) ∘ ȧ^j ∘ ū^j` and
//! `ǡ^j = σ'(a) ∘ ū^j`; at the input `z̄_i = m'(z_i) x̄_{0,i} + m''(z_i) ū^i_{0,i}`, and the
//! field does not depend on ℓ (`ℓ̄ = 0`). The second derivative σ'' is
//! [`Activation::second_derivative`] (tanh'' = −2σσ').

use super::mlp::Mlp;
use super::real::Real;
use super::thin;

/// Scratch of [`CnfNet`] for a batch: every layer's stacked channels, the hidden layers'
/// pre-activations and σ', σ'' (kept for the reverse pass), and the reverse buffers.
/// Allocated on first use and reused: evaluations do not allocate once the buffers fit.
#[derive(Clone, Debug, Default)]
pub struct TraceWork<T> {
    /// `s[l]`: `(d+1)·n × n_l`, the stacked channels of layer l's input.
    s: Vec<Vec<T>>,
    /// `pre[l]`: `(d+1)·n × n_{l+1}`, layer l's output before σ (every channel).
    pre: Vec<Vec<T>>,
    /// `d1[l]`, `d2[l]`: `n × n_{l+1}`, σ'(a) and σ''(a) of hidden layer l.
    d1: Vec<Vec<T>>,
    d2: Vec<Vec<T>>,
    gbar: Vec<T>,
    sbar: Vec<T>,
    wt: Vec<T>,
    gt: Vec<T>,
}

impl<T: Real> TraceWork<T> {
    fn ensure(&mut self, mlp: &Mlp, n: usize) {
        let c = mlp.dim() + 1;
        let layers = mlp.n_layers();
        let grow = |v: &mut Vec<Vec<T>>, count: usize, len: &dyn Fn(usize) -> usize| {
            if v.len() < count {
                v.resize_with(count, Vec::new);
            }
            for (l, b) in v.iter_mut().enumerate().take(count) {
                if b.len() < len(l) {
                    b.resize(len(l), T::zero());
                }
            }
        };
        grow(&mut self.s, layers, &|l| c * n * mlp.sizes[l]);
        grow(&mut self.pre, layers, &|l| c * n * mlp.sizes[l + 1]);
        grow(&mut self.d1, layers, &|l| n * mlp.sizes[l + 1]);
        grow(&mut self.d2, layers, &|l| n * mlp.sizes[l + 1]);
        let w = c * n * mlp.max_width();
        if self.gbar.len() < w {
            self.gbar.resize(w, T::zero());
            self.sbar.resize(w, T::zero());
        }
    }
}

/// The CNF's augmented field of an [`Mlp`] with θ in `T`, on n stacked samples whose states
/// are `[z_b (d values), ℓ_b]` back to back.
#[derive(Clone, Copy, Debug)]
pub struct CnfNet<'a, T> {
    pub mlp: &'a Mlp,
    /// θ in `T` (the network's parameters, rounded).
    pub params: &'a [T],
}

impl<'a, T: Real> CnfNet<'a, T> {
    pub fn new(mlp: &'a Mlp, params: &'a [T]) -> Self {
        Self { mlp, params }
    }

    /// Values per sample: d + 1.
    pub fn channels(&self) -> usize {
        self.mlp.dim() + 1
    }

    /// `out_b = [f(t, z_b), tr ∂f/∂z (t, z_b)]` for every sample of `y` (`n·(d+1)` values),
    /// keeping in `work` what [`CnfNet::vjp`] needs.
    pub fn forward(&self, t: T, y: &[T], out: &mut [T], work: &mut TraceWork<T>) {
        let mlp = self.mlp;
        let (d, c) = (mlp.dim(), self.channels());
        let n = y.len() / c;
        let rows = c * n;
        let layers = mlp.n_layers();
        work.ensure(mlp, n);
        let map = mlp.input_map;
        let n0 = mlp.sizes[0];
        // Input channels.
        {
            let s0 = &mut work.s[0][..rows * n0];
            s0.fill(T::zero());
            for b in 0..n {
                let z = &y[b * c..b * c + d];
                for i in 0..d {
                    let zi = z[i].to_f64();
                    s0[b * n0 + i] = T::of(map.apply(zi));
                    s0[((1 + i) * n + b) * n0 + i] = T::of(map.derivative(zi));
                }
                if mlp.time_input {
                    s0[b * n0 + n0 - 1] = t;
                }
            }
        }
        let mut offset = 0;
        for l in 0..layers {
            let (n_in, n_out) = (mlp.sizes[l], mlp.sizes[l + 1]);
            let weight = &self.params[offset..offset + n_in * n_out];
            let bias = &self.params[offset + n_in * n_out..offset + n_in * n_out + n_out];
            offset += n_in * n_out + n_out;
            let TraceWork {
                s, pre, d1, d2, wt, ..
            } = &mut *work;
            let p = &mut pre[l][..rows * n_out];
            p.fill(T::zero());
            thin::add_x_wt(&s[l][..rows * n_in], weight, p, rows, n_in, n_out, wt);
            for row in p[..n * n_out].chunks_exact_mut(n_out) {
                for (o, &bv) in row.iter_mut().zip(bias) {
                    *o += bv;
                }
            }
            if l + 1 == layers {
                break;
            }
            let act = mlp.activation;
            let next = &mut s[l + 1][..rows * n_out];
            let (a0, ad) = p.split_at(n * n_out);
            let (x0, ux) = next.split_at_mut(n * n_out);
            x0.copy_from_slice(a0);
            act.apply_slice(x0);
            let (g1, g2) = (&mut d1[l][..n * n_out], &mut d2[l][..n * n_out]);
            for k in 0..n * n_out {
                g1[k] = act.derivative(a0[k], x0[k]);
                g2[k] = act.second_derivative(a0[k], x0[k]);
            }
            for (uc, ac) in ux
                .chunks_exact_mut(n * n_out)
                .zip(ad.chunks_exact(n * n_out))
            {
                for k in 0..n * n_out {
                    uc[k] = g1[k] * ac[k];
                }
            }
        }
        let p = &work.pre[layers - 1];
        for b in 0..n {
            let o = &mut out[b * c..(b + 1) * c];
            o[..d].copy_from_slice(&p[b * d..(b + 1) * d]);
            let mut tr = T::zero();
            for j in 0..d {
                tr += p[((1 + j) * n + b) * d + j];
            }
            o[d] = tr;
        }
    }

    /// The forward pass into `f_out`, then `vy = vᵀ ∂F/∂Y` (overwritten; the ℓ entries are 0)
    /// and `gtheta += vᵀ ∂F/∂θ`.
    #[allow(clippy::too_many_arguments)]
    pub fn vjp(
        &self,
        t: T,
        y: &[T],
        v: &[T],
        f_out: &mut [T],
        vy: &mut [T],
        gtheta: &mut [T],
        work: &mut TraceWork<T>,
    ) {
        self.forward(t, y, f_out, work);
        let mlp = self.mlp;
        let (d, c) = (mlp.dim(), self.channels());
        let n = y.len() / c;
        let rows = c * n;
        let layers = mlp.n_layers();
        let TraceWork {
            s,
            pre,
            d1,
            d2,
            gbar,
            sbar,
            wt,
            gt,
        } = work;
        // Output bars: f̄ = v_z (channel 0), ḟ̄^j = v_ℓ e_j (channel 1 + j).
        {
            let g = &mut gbar[..rows * d];
            g.fill(T::zero());
            for b in 0..n {
                g[b * d..(b + 1) * d].copy_from_slice(&v[b * c..b * c + d]);
                for j in 0..d {
                    g[((1 + j) * n + b) * d + j] = v[b * c + d];
                }
            }
        }
        for l in (0..layers).rev() {
            let (n_in, n_out) = (mlp.sizes[l], mlp.sizes[l + 1]);
            let offset = mlp.layer_offset(l);
            let weight = &self.params[offset..offset + n_in * n_out];
            let g = &gbar[..rows * n_out];
            let (gw, gb) = gtheta[offset..offset + n_in * n_out + n_out].split_at_mut(n_in * n_out);
            thin::add_dt_x(T::one(), g, &s[l][..rows * n_in], gw, rows, n_out, n_in, gt);
            for row in g[..n * n_out].chunks_exact(n_out) {
                for (o, &gv) in gb.iter_mut().zip(row) {
                    *o += gv;
                }
            }
            thin::delta_w(g, weight, &mut sbar[..rows * n_in], rows, n_out, n_in, wt);
            if l == 0 {
                break;
            }
            // Through the σ of hidden layer l − 1 (whose output is this layer's input).
            let m = n * n_in;
            let (g1, g2) = (&d1[l - 1][..m], &d2[l - 1][..m]);
            let a = &pre[l - 1][..rows * n_in];
            let sb = &sbar[..rows * n_in];
            let gnext = &mut gbar[..rows * n_in];
            let (g0, gu) = gnext.split_at_mut(m);
            for k in 0..m {
                g0[k] = g1[k] * sb[k];
            }
            for j in 0..d {
                let r = (1 + j) * m..(2 + j) * m;
                let (adot, ubar) = (&a[r.clone()], &sb[r]);
                let gj = &mut gu[j * m..(j + 1) * m];
                for k in 0..m {
                    g0[k] += g2[k] * adot[k] * ubar[k];
                    gj[k] = g1[k] * ubar[k];
                }
            }
        }
        let map = mlp.input_map;
        let n0 = mlp.sizes[0];
        for b in 0..n {
            for i in 0..d {
                let zi = y[b * c + i].to_f64();
                let xbar = sbar[b * n0 + i];
                let ubar = sbar[((1 + i) * n + b) * n0 + i];
                vy[b * c + i] =
                    T::of(map.derivative(zi)) * xbar + T::of(map.second_derivative(zi)) * ubar;
            }
            vy[b * c + d] = T::zero();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{Activation, InputMap};

    fn net(act: Activation, cube: bool) -> Mlp {
        let mut m = Mlp::random(&[2, 7, 5, 2], act, true, 1.0, 11);
        if cube {
            m.input_map = InputMap::Cube;
        }
        m
    }

    fn aug(m: &Mlp, t: f64, y: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; y.len()];
        CnfNet::new(m, &m.params).forward(t, y, &mut out, &mut TraceWork::default());
        out
    }

    #[test]
    fn field_and_trace_match_the_per_sample_mlp_and_its_jacobian() {
        for act in Activation::ALL {
            let m = net(act, false);
            let y = [0.3, -0.7, 0.0, 1.1, 0.4, 2.0];
            let out = aug(&m, 0.35, &y);
            for b in 0..2 {
                let z = &y[b * 3..b * 3 + 2];
                let f = m.forward(0.35, z);
                let h = 1e-6;
                let mut tr = 0.0;
                for j in 0..2 {
                    let (mut zp, mut zm) = (z.to_vec(), z.to_vec());
                    zp[j] += h;
                    zm[j] -= h;
                    tr += (m.forward(0.35, &zp)[j] - m.forward(0.35, &zm)[j]) / (2.0 * h);
                }
                assert!((out[b * 3] - f[0]).abs() < 1e-13, "{act:?}");
                assert!((out[b * 3 + 1] - f[1]).abs() < 1e-13, "{act:?}");
                assert!(
                    (out[b * 3 + 2] - tr).abs() < 1e-7,
                    "{act:?}: {} vs {tr}",
                    out[b * 3 + 2]
                );
            }
        }
    }

    /// `vᵀ ∂F/∂Y` and `vᵀ ∂F/∂θ` against central differences of the augmented field.
    #[test]
    fn vjp_matches_finite_differences() {
        for (act, cube) in [
            (Activation::Tanh, false),
            (Activation::Softplus, true),
            (Activation::Sigmoid, false),
        ] {
            let m = net(act, cube);
            let y = [0.3, -0.7, 0.5, 1.1, 0.4, -2.0];
            let v = [0.9, -0.3, 1.7, -0.4, 0.8, -1.2];
            let t = 0.6;
            let mut f = vec![0.0; 6];
            let mut vy = vec![0.0; 6];
            let mut gth = vec![0.0; m.n_params()];
            CnfNet::new(&m, &m.params).vjp(
                t,
                &y,
                &v,
                &mut f,
                &mut vy,
                &mut gth,
                &mut TraceWork::default(),
            );
            let dot = |o: &[f64]| o.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>();
            let h = 1e-6;
            for i in 0..6 {
                let (mut yp, mut ym) = (y.to_vec(), y.to_vec());
                yp[i] += h;
                ym[i] -= h;
                let fd = (dot(&aug(&m, t, &yp)) - dot(&aug(&m, t, &ym))) / (2.0 * h);
                assert!((fd - vy[i]).abs() < 1e-6, "{act:?} y{i}: {fd} vs {}", vy[i]);
            }
            for k in 0..m.n_params() {
                let (mut mp, mut mm) = (m.clone(), m.clone());
                mp.params[k] += h;
                mm.params[k] -= h;
                let fd = (dot(&aug(&mp, t, &y)) - dot(&aug(&mm, t, &y))) / (2.0 * h);
                assert!(
                    (fd - gth[k]).abs() < 1e-6,
                    "{act:?} θ{k}: {fd} vs {}",
                    gth[k]
                );
            }
        }
    }
}
