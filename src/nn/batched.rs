//! Batched MLP evaluation: a batch of states as one `rows × d` array, every layer's forward,
//! JVP and VJP as one matrix product over the batch (`ndarray`'s `general_mat_mul`, backed by
//! `matrixmultiply`), generic over the float type ([`Real`]: f64 or f32).
//!
//! With `X_l` the `rows × n_l` inputs of layer l (`X_0 = [m(Y), t]`, rows = samples) and `W_l`
//! stored `[out][in]` as in [`Mlp`]:
//! - forward: `Z_l = X_l W_lᵀ + 1 b_lᵀ`, `X_{l+1} = σ(Z_l)` (no σ after the last layer);
//! - VJP, from `Δ_L = V`: `∂W_l += s Δ_lᵀ X_l`, `∂b_l += s 1ᵀ Δ_l`, `Δ_{l-1} = (Δ_l W_l) ∘ σ'(Z_{l-1})`,
//!   and `V ∂F/∂Y = (Δ_0 W_0-part) ∘ m'(Y)` (reverse-mode backpropagation, one sample per row);
//! - JVP: `Ż_l = Ẋ_l W_lᵀ + X_l Ẇ_lᵀ + 1 ḃ_lᵀ`, `Ẋ_{l+1} = σ'(Z_l) ∘ Ż_l`.
//!
//! These are the per-sample routines of [`Mlp`] ([`Mlp::forward_into`], [`Mlp::vjp_into`],
//! [`Mlp::jvp_into`]) with the sample loop moved inside the products; the tests check both
//! agree to rounding. The per-sample path stays for per-sample stepping and Jacobians.

use super::activation::Activation;
use super::fused::Shape as FusedShape;
use super::mlp::Mlp;
use super::real::Real;
use super::thin;

/// Where a forward pass keeps what its reverse pass needs.
enum Record<'r, T> {
    No,
    /// In the workspace.
    Work,
    /// In a caller's record (the layout of [`BatchedMlp::forward_recording`]).
    Into(&'r mut [T]),
}

/// Scratch of the batched routines for up to `rows` samples: every layer's input `X_l`, σ'(Z_l)
/// of the hidden layers, their tangents, two δ buffers, the states, and a private θ-gradient
/// (for a row block run on its own thread).
///
/// Allocated once per solve (or per thread, reused across solves) by [`BatchWork::ensure`];
/// the batched routines never allocate while a batch fits, like faer's `*_scratch` buffers.
#[derive(Clone, Debug, Default)]
pub struct BatchWork<T> {
    rows: usize,
    /// `acts[l]`: `rows × n_l`, the input of layer l.
    acts: Vec<Vec<T>>,
    /// `deriv[l]`: `rows × n_l`, σ'(Z_{l-1}) for hidden layers l ≥ 1 (`deriv[0]` unused).
    deriv: Vec<Vec<T>>,
    /// `tangent[l]`: `rows × n_l`, the tangent of `acts[l]`.
    tangent: Vec<Vec<T>>,
    delta: Vec<T>,
    delta_next: Vec<T>,
    /// The states Y (`rows × d`; the input map's derivative is taken there).
    input: Vec<T>,
    /// A private θ-gradient (length P) for row blocks run in parallel.
    pub gtheta: Vec<T>,
    /// A private output block (f, `rows × d`).
    pub f: Vec<T>,
    /// Transposed thin weights / accumulators of [`thin`].
    wt: Vec<T>,
    /// Hidden block and per-lane θ accumulators of the fused kernels ([`super::fused`]).
    fused: Vec<T>,
}

impl<T: Real> BatchWork<T> {
    /// Scratch for `rows` samples of `mlp`.
    pub fn new(mlp: &Mlp, rows: usize) -> Self {
        let mut w = Self::default();
        w.ensure(mlp, rows);
        w
    }

    /// Grows the buffers to hold `rows` samples of `mlp` (no-op when they already fit).
    pub fn ensure(&mut self, mlp: &Mlp, rows: usize) {
        let n_l = mlp.sizes.len();
        if self.acts.len() != n_l
            || self.rows < rows
            || self
                .acts
                .iter()
                .zip(&mlp.sizes)
                .any(|(a, &n)| a.len() < rows * n)
        {
            let rows = rows.max(self.rows);
            self.rows = rows;
            let grow = |v: &mut Vec<Vec<T>>| {
                v.resize(n_l, Vec::new());
                for (buf, &n) in v.iter_mut().zip(&mlp.sizes) {
                    if buf.len() < rows * n {
                        buf.resize(rows * n, T::zero());
                    }
                }
            };
            grow(&mut self.acts);
            grow(&mut self.deriv);
            grow(&mut self.tangent);
        }
        let w = mlp.max_width() * self.rows;
        if self.delta.len() < w {
            self.delta.resize(w, T::zero());
            self.delta_next.resize(w, T::zero());
        }
        let m = mlp.dim() * self.rows;
        if self.input.len() < m {
            self.input.resize(m, T::zero());
            self.f.resize(m, T::zero());
        }
        if self.gtheta.len() < mlp.n_params() {
            self.gtheta.resize(mlp.n_params(), T::zero());
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        let nested: usize = [&self.acts, &self.deriv, &self.tangent]
            .iter()
            .map(|v| v.iter().map(Vec::len).sum::<usize>())
            .sum();
        (nested
            + self.delta.len()
            + self.delta_next.len()
            + self.input.len()
            + self.gtheta.len()
            + self.f.len()
            + self.wt.len()
            + self.fused.len())
            * T::BYTES
    }
}

/// An MLP's structure ([`Mlp`]) with its parameters θ in the float type `T` (the flat
/// weights-file order), evaluated a batch at a time.
#[derive(Clone, Copy, Debug)]
pub struct BatchedMlp<'a, T> {
    pub mlp: &'a Mlp,
    pub params: &'a [T],
    /// Whether the fused one-hidden-layer kernels may run ([`super::fused`]; on unless turned
    /// off for the process or by [`BatchedMlp::layer_at_a_time`]).
    fused: bool,
}

impl Mlp {
    /// The batched f64 view of this network.
    pub fn batched(&self) -> BatchedMlp<'_, f64> {
        BatchedMlp {
            mlp: self,
            params: &self.params,
            fused: super::fused::enabled(),
        }
    }

    /// θ rounded to `T` (for [`BatchedMlp::new`] in f32).
    pub fn params_as<T: Real>(&self) -> Vec<T> {
        self.params.iter().map(|&v| T::of(v)).collect()
    }
}

impl<'a, T: Real> BatchedMlp<'a, T> {
    /// `params` must have the network's parameter count.
    pub fn new(mlp: &'a Mlp, params: &'a [T]) -> Self {
        assert_eq!(params.len(), mlp.n_params(), "parameter count");
        Self {
            mlp,
            params,
            fused: super::fused::enabled(),
        }
    }

    /// This network on the layer-at-a-time path only (the fused kernels off), to compare the
    /// two paths.
    pub fn layer_at_a_time(mut self) -> Self {
        self.fused = false;
        self
    }

    /// The fused kernels' shape when they take this network at `rows` rows on this CPU.
    pub fn fused_shape(&self, rows: usize) -> Option<FusedShape> {
        if !self.fused || rows < T::lanes() {
            return None;
        }
        FusedShape::of(self.mlp)
    }

    /// Layer l's weight (`n_out × n_in`), bias and offset in θ.
    fn layer(&self, l: usize) -> (&'a [T], &'a [T], usize) {
        let (n_in, n_out) = (self.mlp.sizes[l], self.mlp.sizes[l + 1]);
        let off = self.mlp.layer_offset(l);
        let params: &'a [T] = self.params;
        (
            &params[off..off + n_in * n_out],
            &params[off + n_in * n_out..off + n_in * n_out + n_out],
            off,
        )
    }

    /// `f(t, y_r)` for every row r of `ys` (`rows × d`, flat) into `out`; records the layer
    /// inputs and σ' in `work` when `record` (for [`Self::vjp_recorded`] / [`Self::jvp_recorded`]).
    pub fn forward(&self, t: T, ys: &[T], out: &mut [T], work: &mut BatchWork<T>, record: bool) {
        if !record && let Some(sh) = self.fused_shape(ys.len() / self.mlp.dim()) {
            T::forward(&sh, self.params, t, ys, out, None);
            return;
        }
        let target = if record { Record::Work } else { Record::No };
        self.forward_impl(t, ys, out, work, target);
    }

    /// The forward pass; hidden outputs and σ' go to `work` or to an external record.
    fn forward_impl(
        &self,
        t: T,
        ys: &[T],
        out: &mut [T],
        work: &mut BatchWork<T>,
        record: Record<'_, T>,
    ) {
        let mlp = self.mlp;
        let d = mlp.dim();
        let rows = ys.len() / d;
        work.ensure(mlp, rows);
        if matches!(record, Record::Work) {
            work.input[..rows * d].copy_from_slice(&ys[..rows * d]);
        }
        self.input_layer(t, ys, &mut work.acts[0], rows);
        let last = mlp.n_layers() - 1;
        let BatchWork {
            acts, deriv, wt, ..
        } = work;
        let (keep, mut ext) = match record {
            Record::No => (false, None),
            Record::Work => (true, None),
            Record::Into(r) => (true, Some(r)),
        };
        // Offset of layer l's input in the external record (l ≥ 1).
        let mut off_in = 0;
        for l in 0..mlp.n_layers() {
            let (n_in, n_out) = (mlp.sizes[l], mlp.sizes[l + 1]);
            let (w, bias, _) = self.layer(l);
            let off_out = if l == 0 { 0 } else { off_in + 2 * rows * n_in };
            // x: the input of layer l; target (and der): its output (and σ').
            let (x, target, der): (&[T], &mut [T], Option<&mut [T]>) = match ext.as_deref_mut() {
                Some(r) => {
                    let (head, tail) = r.split_at_mut(off_out);
                    let x: &[T] = if l == 0 {
                        &acts[0][..rows * n_in]
                    } else {
                        &head[off_in..off_in + rows * n_in]
                    };
                    if l == last {
                        (x, &mut out[..rows * n_out], None)
                    } else {
                        let (tg, rest) = tail.split_at_mut(rows * n_out);
                        (x, tg, Some(&mut rest[..rows * n_out]))
                    }
                }
                None => {
                    let (head, tail) = acts.split_at_mut(l + 1);
                    let x = &head[l][..rows * n_in];
                    if l == last {
                        (x, &mut out[..rows * n_out], None)
                    } else {
                        let der = if keep {
                            Some(&mut deriv[l + 1][..rows * n_out])
                        } else {
                            None
                        };
                        (x, &mut tail[0][..rows * n_out], der)
                    }
                }
            };
            thin::bias_x_wt(x, w, bias, target, rows, n_in, n_out, wt);
            if l != last {
                match der {
                    // σ' of tanh and sigmoid is a function of σ alone: no copy of Z needed.
                    Some(der)
                        if matches!(mlp.activation, Activation::Tanh | Activation::Sigmoid) =>
                    {
                        mlp.activation.apply_slice(target);
                        mlp.activation.derivative_slice(der, target);
                    }
                    Some(der) => {
                        der.copy_from_slice(target);
                        mlp.activation.apply_slice(target);
                        mlp.activation.derivative_slice(der, target);
                    }
                    None => mlp.activation.apply_slice(target),
                }
            }
            if l > 0 {
                off_in = off_out;
            }
        }
    }

    /// Reverse pass after [`Self::forward`] with `record` on the same rows: `vy_r = v_rᵀ ∂f/∂y(y_r)`
    /// for every row (overwritten) and `scale · Σ_r v_rᵀ ∂f/∂θ(y_r)` added to `gtheta`.
    pub fn vjp_recorded(
        &self,
        vs: &[T],
        scale: T,
        vy: &mut [T],
        gtheta: &mut [T],
        work: &mut BatchWork<T>,
    ) {
        let rows = vs.len() / self.mlp.dim();
        let BatchWork {
            acts,
            deriv,
            delta,
            delta_next,
            input,
            wt,
            ..
        } = work;
        let (acts, deriv): (&Vec<Vec<T>>, &Vec<Vec<T>>) = (acts, deriv);
        let layer_in = move |l: usize| (&acts[l][..], &deriv[l][..]);
        self.reverse(
            rows, layer_in, input, vs, scale, vy, gtheta, delta, delta_next, wt,
        );
    }

    /// Values per row that [`Self::forward_recording`] keeps: every hidden layer's output
    /// `X_l` and `σ'(Z_{l-1})`, l = 1 … L−1.
    pub fn record_len(mlp: &Mlp) -> usize {
        2 * mlp.sizes[1..mlp.sizes.len() - 1].iter().sum::<usize>()
    }

    /// [`Self::forward`] that also copies what the reverse pass needs into `rec`
    /// (`rows · record_len` values: per hidden layer l, `X_l` then `σ'(Z_{l-1})`, each
    /// `rows × n_l`), so that [`Self::vjp_from_record`] needs no forward recomputation.
    pub fn forward_recording(
        &self,
        t: T,
        ys: &[T],
        out: &mut [T],
        rec: &mut [T],
        work: &mut BatchWork<T>,
    ) {
        if let Some(sh) = self.fused_shape(ys.len() / self.mlp.dim()) {
            T::forward(&sh, self.params, t, ys, out, Some(rec));
            return;
        }
        self.forward_impl(t, ys, out, work, Record::Into(rec));
    }

    /// The reverse pass of [`Self::vjp_recorded`] at the states `ys` (time t) from the record
    /// `rec` of [`Self::forward_recording`] at those states, without recomputing the forward.
    #[allow(clippy::too_many_arguments)]
    pub fn vjp_from_record(
        &self,
        t: T,
        ys: &[T],
        rec: &[T],
        vs: &[T],
        scale: T,
        vy: &mut [T],
        gtheta: &mut [T],
        work: &mut BatchWork<T>,
    ) {
        let mlp = self.mlp;
        let d = mlp.dim();
        let rows = ys.len() / d;
        if let Some(sh) = self.fused_shape(rows) {
            let fw = &mut work.fused;
            T::vjp(
                &sh,
                self.params,
                t,
                ys,
                Some(rec),
                vs,
                scale,
                None,
                vy,
                gtheta,
                fw,
            );
            return;
        }
        work.ensure(mlp, rows);
        self.input_layer(t, ys, &mut work.acts[0], rows);
        let BatchWork {
            acts,
            delta,
            delta_next,
            wt,
            ..
        } = work;
        let x0: &[T] = &acts[0][..];
        let layer_in = move |l: usize| {
            if l == 0 {
                return (x0, x0);
            }
            let off: usize = mlp.sizes[1..l].iter().map(|n| 2 * rows * n).sum();
            let n = rows * mlp.sizes[l];
            (&rec[off..off + n], &rec[off + n..off + 2 * n])
        };
        self.reverse(
            rows, layer_in, ys, vs, scale, vy, gtheta, delta, delta_next, wt,
        );
    }

    /// `X_0 = [m(Y), t]` (`rows × n_0`) into `x0`.
    fn input_layer(&self, t: T, ys: &[T], x0: &mut [T], rows: usize) {
        let mlp = self.mlp;
        let (d, n0) = (mlp.dim(), mlp.sizes[0]);
        for (xr, yr) in x0.chunks_exact_mut(n0).zip(ys.chunks_exact(d)).take(rows) {
            for (x, &y) in xr.iter_mut().zip(yr) {
                *x = match mlp.input_map {
                    super::InputMap::Identity => y,
                    super::InputMap::Cube => y * y * y,
                };
            }
            if mlp.time_input {
                xr[n0 - 1] = t;
            }
        }
    }

    /// The reverse sweep from `Δ_L = V`, given each layer's input `X_l` and, for l ≥ 1,
    /// `σ'(Z_{l-1})` (`layer_in(l)`), and the states Y (`input`).
    #[allow(clippy::too_many_arguments)]
    fn reverse<'r>(
        &self,
        rows: usize,
        layer_in: impl Fn(usize) -> (&'r [T], &'r [T]),
        input: &[T],
        vs: &[T],
        scale: T,
        vy: &mut [T],
        gtheta: &mut [T],
        delta: &mut Vec<T>,
        delta_next: &mut Vec<T>,
        wt: &mut Vec<T>,
    ) where
        T: 'r,
    {
        let mlp = self.mlp;
        let d = mlp.dim();
        delta[..rows * d].copy_from_slice(&vs[..rows * d]);
        for l in (0..mlp.n_layers()).rev() {
            let (n_in, n_out) = (mlp.sizes[l], mlp.sizes[l + 1]);
            let (w, _, off) = self.layer(l);
            let (x, _) = layer_in(l);
            let (gw, gb) = gtheta[off..off + n_in * n_out + n_out].split_at_mut(n_in * n_out);
            thin::add_dt_x(scale, delta, x, gw, rows, n_out, n_in, wt);
            for drow in delta[..rows * n_out].chunks_exact(n_out) {
                for (b, &dv) in gb.iter_mut().zip(drow) {
                    *b += scale * dv;
                }
            }
            thin::delta_w(delta, w, delta_next, rows, n_out, n_in, wt);
            if l > 0 {
                let (_, der) = layer_in(l);
                for (o, &s) in delta_next[..rows * n_in]
                    .iter_mut()
                    .zip(&der[..rows * n_in])
                {
                    *o *= s;
                }
            }
            std::mem::swap(delta, delta_next);
        }
        let n0 = mlp.sizes[0];
        let three = T::of(3.0);
        for ((vr, dr), yr) in vy[..rows * d]
            .chunks_exact_mut(d)
            .zip(delta.chunks_exact(n0))
            .zip(input.chunks_exact(d))
        {
            for ((o, &dv), &y) in vr.iter_mut().zip(dr).zip(yr) {
                *o = match mlp.input_map {
                    super::InputMap::Identity => dv,
                    super::InputMap::Cube => dv * (three * y * y),
                };
            }
        }
    }

    /// Forward-mode pass after [`Self::forward`] with `record` on the same rows:
    /// `out_r = ∂f/∂y(y_r) u_r + ∂f/∂θ(y_r) w` (`w = None`: the θ-term is dropped).
    pub fn jvp_recorded(
        &self,
        us: &[T],
        w_theta: Option<&[T]>,
        out: &mut [T],
        work: &mut BatchWork<T>,
    ) {
        let mlp = self.mlp;
        let d = mlp.dim();
        let rows = us.len() / d;
        let n0 = mlp.sizes[0];
        let BatchWork {
            acts,
            deriv,
            tangent,
            input,
            wt: scratch,
            ..
        } = work;
        let three = T::of(3.0);
        for ((tr, ur), yr) in tangent[0]
            .chunks_exact_mut(n0)
            .zip(us.chunks_exact(d))
            .zip(input.chunks_exact(d))
            .take(rows)
        {
            for ((o, &u), &y) in tr.iter_mut().zip(ur).zip(yr) {
                *o = match mlp.input_map {
                    super::InputMap::Identity => u,
                    super::InputMap::Cube => u * (three * y * y),
                };
            }
            if mlp.time_input {
                tr[n0 - 1] = T::zero();
            }
        }
        let last = mlp.n_layers() - 1;
        for l in 0..mlp.n_layers() {
            let (n_in, n_out) = (mlp.sizes[l], mlp.sizes[l + 1]);
            let (w, _, off) = self.layer(l);
            let (head, tail) = tangent.split_at_mut(l + 1);
            let dx = &head[l][..rows * n_in];
            let target: &mut [T] = if l == last {
                &mut out[..rows * n_out]
            } else {
                &mut tail[0][..rows * n_out]
            };
            match w_theta {
                Some(wt) => {
                    let bt = &wt[off + n_in * n_out..off + n_in * n_out + n_out];
                    let wv = &wt[off..off + n_in * n_out];
                    thin::bias_x_wt(&acts[l], wv, bt, target, rows, n_in, n_out, scratch);
                    thin::add_x_wt(dx, w, target, rows, n_in, n_out, scratch);
                }
                None => {
                    target.fill(T::zero());
                    thin::add_x_wt(dx, w, target, rows, n_in, n_out, scratch);
                }
            }
            if l != last {
                for (o, &s) in target.iter_mut().zip(&deriv[l + 1][..rows * n_out]) {
                    *o *= s;
                }
            }
        }
    }

    /// Forward and VJP in one call: `f` into `f_out`, `vᵀ∂f/∂y` into `vy`, `scale·vᵀ∂f/∂θ`
    /// added to `gtheta` (all rows); an empty `gtheta` asks for no θ-gradient (the fused
    /// one-hidden-layer kernel then skips its work). Leaves no record for
    /// [`Self::jvp_recorded`] (the fused kernels keep nothing in `work`): call
    /// [`Self::forward`] with `record` for that.
    #[allow(clippy::too_many_arguments)]
    pub fn vjp(
        &self,
        t: T,
        ys: &[T],
        vs: &[T],
        scale: T,
        f_out: &mut [T],
        vy: &mut [T],
        gtheta: &mut [T],
        work: &mut BatchWork<T>,
    ) {
        if let Some(sh) = self.fused_shape(ys.len() / self.mlp.dim()) {
            let fw = &mut work.fused;
            T::vjp(
                &sh,
                self.params,
                t,
                ys,
                None,
                vs,
                scale,
                Some(f_out),
                vy,
                gtheta,
                fw,
            );
            return;
        }
        self.forward(t, ys, f_out, work, true);
        if gtheta.is_empty() {
            let mut discard = vec![T::zero(); self.mlp.n_params()];
            self.vjp_recorded(vs, scale, vy, &mut discard, work);
            return;
        }
        self.vjp_recorded(vs, scale, vy, gtheta, work);
    }

    /// Rows per block when a batch is split over `threads` threads (blocks of at least
    /// [`MIN_ROWS_PER_THREAD`] rows; 1 block when the batch is small).
    pub fn blocks(rows: usize, threads: usize) -> usize {
        threads.min(rows / MIN_ROWS_PER_THREAD).max(1)
    }

    /// [`Self::forward`] with the rows split into `works.len()` blocks run on rayon's current
    /// pool (no recording).
    pub fn forward_par(&self, t: T, ys: &[T], out: &mut [T], works: &mut [BatchWork<T>]) {
        use rayon::prelude::*;
        let d = self.mlp.dim();
        let per = (ys.len() / d).div_ceil(works.len()) * d;
        ys.par_chunks(per)
            .zip(out.par_chunks_mut(per))
            .zip(works.par_iter_mut())
            .for_each(|((y, o), w)| self.forward(t, y, o, w, false));
    }

    /// [`Self::vjp`] with the rows split into `works.len()` blocks run on rayon's current pool;
    /// each block accumulates θ in its own buffer, summed into `gtheta` in block order (so the
    /// result does not depend on scheduling). An empty `gtheta`: no θ-gradient.
    #[allow(clippy::too_many_arguments)]
    pub fn vjp_par(
        &self,
        t: T,
        ys: &[T],
        vs: &[T],
        scale: T,
        f_out: &mut [T],
        vy: &mut [T],
        gtheta: &mut [T],
        works: &mut [BatchWork<T>],
    ) {
        use rayon::prelude::*;
        let d = self.mlp.dim();
        let p = self.mlp.n_params();
        let per = (ys.len() / d).div_ceil(works.len()) * d;
        if gtheta.is_empty() {
            ys.par_chunks(per)
                .zip(vs.par_chunks(per))
                .zip(f_out.par_chunks_mut(per))
                .zip(vy.par_chunks_mut(per))
                .zip(works.par_iter_mut())
                .for_each(|((((y, v), f), o), w)| self.vjp(t, y, v, scale, f, o, &mut [], w));
            return;
        }
        ys.par_chunks(per)
            .zip(vs.par_chunks(per))
            .zip(f_out.par_chunks_mut(per))
            .zip(vy.par_chunks_mut(per))
            .zip(works.par_iter_mut())
            .for_each(|((((y, v), f), o), w)| {
                w.ensure(self.mlp, y.len() / d);
                let mut g = std::mem::take(&mut w.gtheta);
                g[..p].fill(T::zero());
                self.vjp(t, y, v, scale, f, o, &mut g[..p], w);
                w.gtheta = g;
            });
        let blocks = ys.len().div_ceil(per);
        for w in &works[..blocks] {
            for (a, &b) in gtheta.iter_mut().zip(&w.gtheta[..p]) {
                *a += b;
            }
        }
    }
}

/// Smallest row block worth a thread of its own.
pub const MIN_ROWS_PER_THREAD: usize = 64;

/// Multiply-add flops of one forward evaluation of `mlp` on one sample (2 per multiply-add of
/// every layer's product, plus the bias adds); the activations are not counted.
pub fn forward_flops(mlp: &Mlp) -> u64 {
    (0..mlp.n_layers())
        .map(|l| {
            let (i, o) = (mlp.sizes[l] as u64, mlp.sizes[l + 1] as u64);
            2 * i * o + o
        })
        .sum()
}

/// Flops of one VJP (forward recorded + reverse) on one sample: the forward, then per layer
/// `Δᵀ X` (2·in·out), `Δ W` (2·in·out) and the bias sums (out).
pub fn vjp_flops(mlp: &Mlp) -> u64 {
    forward_flops(mlp)
        + (0..mlp.n_layers())
            .map(|l| {
                let (i, o) = (mlp.sizes[l] as u64, mlp.sizes[l + 1] as u64);
                4 * i * o + o
            })
            .sum::<u64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_forward_equals_per_sample_forward() {
        for (act, time_input) in [(Activation::Tanh, false), (Activation::Softplus, true)] {
            let mlp = Mlp::random(&[3, 17, 9, 3], act, time_input, 1.0, 3);
            let rows = 37;
            let ys: Vec<f64> = (0..rows * 3)
                .map(|i| ((i * 7) % 11) as f64 * 0.2 - 1.0)
                .collect();
            let mut out = vec![0.0; rows * 3];
            let mut work = BatchWork::new(&mlp, rows);
            mlp.batched().forward(0.3, &ys, &mut out, &mut work, false);
            for r in 0..rows {
                let o = mlp.forward(0.3, &ys[3 * r..3 * r + 3]);
                for c in 0..3 {
                    assert!((o[c] - out[3 * r + c]).abs() < 1e-14, "{act:?} row {r}");
                }
            }
        }
    }
}
