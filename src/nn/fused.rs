//! Fused kernels for the most common vector field of the lab: one hidden tanh layer between thin
//! input and output layers (`d → H → d`, d ≤ 4, optional time input and cube input map), as in
//! the toy problem of `nodelab bench grad` (2-64-2) and the spiral tasks.
//!
//! [`super::batched::BatchedMlp`] runs a layer at a time over the whole batch: every layer
//! writes a `rows × H` array that the next pass reads back, and the thin (2-wide) products are
//! mostly data movement. Here a block of `L` samples (the vector lanes: 8 in f64, 16 in f32)
//! goes through the whole network at once, one sample per lane, so nothing but the block's
//! hidden values (`H` vectors, in L1) is written between the layers:
//! - forward: `z_j = b0_j + Σ_k W0_jk x_k`, `s_j = tanh z_j` (vectorised over the block's
//!   `H` vectors), `f_i = b1_i + Σ_j W1_ij s_j`, with `x = [m(y), t]`;
//! - VJP from `v`: `g_j = Σ_i v_i W1_ij`, `δ_j = g_j (1 − s_j²)`, `∂W1_ij += v_i s_j`,
//!   `∂b1_i += v_i`, `∂W0_jk += δ_j x_k`, `∂b0_j += δ_j`, `(vᵀ∂f/∂y)_k = Σ_j δ_j W0_jk · m'(y_k)`,
//!   in one sweep over j. The θ-terms are summed per lane (`P · L` accumulators, in L1) and
//!   across lanes once at the end, so the sweep has no horizontal sums.
//!
//! Same formulas as the layer-at-a-time path, in another summation order: the tests check they
//! agree to 1e-14 (f64). The record of a fused forward pass (for the tape of backprop) holds
//! `s` only, block by block (`⌈rows/L⌉ · L · H` values, at most the `rows · 2H` of the general
//! record when rows ≥ L); σ' = 1 − s² is recomputed in the VJP.
//!
//! AVX-512 only (chosen at run time); elsewhere, and for other networks or fewer rows than
//! lanes, the layer-at-a-time path runs.

use std::sync::atomic::{AtomicBool, Ordering};

use super::mlp::{Activation, InputMap, Mlp};

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns the fused kernels on or off for the whole process (`nodelab bench grad --no-fused`
/// compares both paths in one run). On by default.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether the fused kernels may run (see [`set_enabled`]).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The networks the fused kernels take: `n0 → h → d` with tanh, d ≤ 4, `n0 = d` or `d + 1`
/// (time input).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub d: usize,
    pub n0: usize,
    pub h: usize,
    pub cube: bool,
}

impl Shape {
    /// The shape of `mlp` when the fused kernels take it.
    pub fn of(mlp: &Mlp) -> Option<Shape> {
        if mlp.n_layers() != 2 || mlp.activation != Activation::Tanh {
            return None;
        }
        let (d, n0, h) = (mlp.dim(), mlp.sizes[0], mlp.sizes[1]);
        if !(1..=4).contains(&d) || n0 != d + usize::from(mlp.time_input) || h == 0 {
            return None;
        }
        Some(Shape {
            d,
            n0,
            h,
            cube: mlp.input_map == InputMap::Cube,
        })
    }

    /// Parameters θ (the flat weights-file order: W0, b0, W1, b1).
    fn n_params(&self) -> usize {
        self.h * self.n0 + self.h + self.d * self.h + self.d
    }
}

/// The float types with fused kernels (f64 and f32).
pub trait Fused: Copy + Default + 'static {
    /// Samples per block (vector lanes) when this CPU runs the fused kernels, else `None`.
    fn lanes() -> Option<usize>;

    /// `f(t, y_r)` for every row of `ys` into `out` (nothing stored in between: each hidden
    /// vector goes from its tanh straight into the output sums); with `rec`, the hidden values
    /// `s` of every block are also kept there (`⌈rows/L⌉ · L · h` values) for [`Fused::vjp`].
    /// Call only when [`Fused::lanes`] is `Some`.
    #[allow(clippy::too_many_arguments)]
    fn forward(
        sh: &Shape,
        theta: &[Self],
        t: Self,
        ys: &[Self],
        out: &mut [Self],
        rec: Option<&mut [Self]>,
    );

    /// `vᵀ∂f/∂y` per row into `vy` and `scale · Σ_r v_rᵀ∂f/∂θ` added to `gtheta`; the hidden
    /// values come from `rec` (a [`Fused::forward`] record at the same rows) or, without one,
    /// are recomputed, and then `f` goes to `f_out` when given.
    /// Call only when [`Fused::lanes`] is `Some`.
    #[allow(clippy::too_many_arguments)]
    fn vjp(
        sh: &Shape,
        theta: &[Self],
        t: Self,
        ys: &[Self],
        rec: Option<&[Self]>,
        vs: &[Self],
        scale: Self,
        f_out: Option<&mut [Self]>,
        vy: &mut [Self],
        gtheta: &mut [Self],
        scratch: &mut Vec<Self>,
    );
}

/// Grows `scratch` to two `h · L` hidden blocks plus the `P · L` θ accumulators.
fn scratch_for<T: Copy + Default>(sh: &Shape, lanes: usize, scratch: &mut Vec<T>) {
    let need = (2 * sh.h + sh.n_params()) * lanes;
    if scratch.len() < need {
        scratch.resize(need, T::default());
    }
}

macro_rules! impl_fused {
    ($t:ty, $vec:ident, $lanes:expr) => {
        impl Fused for $t {
            fn lanes() -> Option<usize> {
                #[cfg(target_arch = "x86_64")]
                {
                    if std::arch::is_x86_feature_detected!("avx512f") {
                        return Some($lanes);
                    }
                }
                None
            }

            fn forward(
                sh: &Shape,
                theta: &[Self],
                t: Self,
                ys: &[Self],
                out: &mut [Self],
                rec: Option<&mut [Self]>,
            ) {
                assert!(Self::lanes().is_some(), "fused kernels need AVX-512F");
                assert_eq!(theta.len(), sh.n_params(), "parameter count");
                #[cfg(target_arch = "x86_64")]
                // SAFETY: AVX-512F is available (asserted above); slice lengths are checked
                // inside.
                unsafe {
                    avx512::forward::<avx512::$vec>(sh, theta, t, ys, out, rec)
                }
            }

            fn vjp(
                sh: &Shape,
                theta: &[Self],
                t: Self,
                ys: &[Self],
                rec: Option<&[Self]>,
                vs: &[Self],
                scale: Self,
                f_out: Option<&mut [Self]>,
                vy: &mut [Self],
                gtheta: &mut [Self],
                scratch: &mut Vec<Self>,
            ) {
                assert!(Self::lanes().is_some(), "fused kernels need AVX-512F");
                assert_eq!(theta.len(), sh.n_params(), "parameter count");
                scratch_for(sh, $lanes, scratch);
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as in `forward`.
                unsafe {
                    avx512::vjp::<avx512::$vec>(
                        sh, theta, t, ys, rec, vs, scale, f_out, vy, gtheta, scratch,
                    )
                }
            }
        }
    };
}

impl_fused!(f64, Pd8, 8);
impl_fused!(f32, Ps16, 16);

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::Shape;
    use crate::nn::mlp::{tanh_pd8, tanh_ps16};

    /// One AVX-512 vector of `L` lanes of `T`.
    pub trait Vector {
        type T: Copy + Default + std::ops::Mul<Output = Self::T> + std::ops::AddAssign;
        type V: Copy;
        const L: usize;
        const THREE: Self::T;
        unsafe fn zero() -> Self::V;
        unsafe fn splat(x: Self::T) -> Self::V;
        unsafe fn load(p: *const Self::T) -> Self::V;
        unsafe fn store(p: *mut Self::T, v: Self::V);
        unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
        unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
        /// `a b + c`.
        unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
        /// `c − a b`.
        unsafe fn fnma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
        unsafe fn tanh(x: Self::V) -> Self::V;
        /// The sum of the lanes (a tree of adds: independent sums overlap).
        unsafe fn hsum(x: Self::V) -> Self::T;
    }

    /// Eight f64 lanes.
    pub struct Pd8;
    /// Sixteen f32 lanes.
    pub struct Ps16;

    macro_rules! vector {
        ($name:ident, $t:ty, $v:ty, $l:expr, $suf:ident, $tanh:ident) => {
            impl Vector for $name {
                type T = $t;
                type V = $v;
                const L: usize = $l;
                const THREE: $t = 3.0;
                #[target_feature(enable = "avx512f")]
                #[inline]
                unsafe fn zero() -> $v {
                    paste_op!($suf, setzero)()
                }
                #[target_feature(enable = "avx512f")]
                #[inline]
                unsafe fn splat(x: $t) -> $v {
                    paste_op!($suf, set1)(x)
                }
                #[target_feature(enable = "avx512f")]
                #[inline]
                unsafe fn load(p: *const $t) -> $v {
                    // SAFETY: the caller passes L readable values at p.
                    unsafe { paste_op!($suf, loadu)(p) }
                }
                #[target_feature(enable = "avx512f")]
                #[inline]
                unsafe fn store(p: *mut $t, v: $v) {
                    // SAFETY: the caller passes L writable values at p.
                    unsafe { paste_op!($suf, storeu)(p, v) }
                }
                #[target_feature(enable = "avx512f")]
                #[inline]
                unsafe fn add(a: $v, b: $v) -> $v {
                    paste_op!($suf, add)(a, b)
                }
                #[target_feature(enable = "avx512f")]
                #[inline]
                unsafe fn mul(a: $v, b: $v) -> $v {
                    paste_op!($suf, mul)(a, b)
                }
                #[target_feature(enable = "avx512f")]
                #[inline]
                unsafe fn fma(a: $v, b: $v, c: $v) -> $v {
                    paste_op!($suf, fmadd)(a, b, c)
                }
                #[target_feature(enable = "avx512f")]
                #[inline]
                unsafe fn fnma(a: $v, b: $v, c: $v) -> $v {
                    paste_op!($suf, fnmadd)(a, b, c)
                }
                #[target_feature(enable = "avx512f")]
                #[inline]
                unsafe fn tanh(x: $v) -> $v {
                    $tanh(x)
                }
                #[target_feature(enable = "avx512f")]
                #[inline]
                unsafe fn hsum(x: $v) -> $t {
                    paste_op!($suf, reduce_add)(x)
                }
            }
        };
    }

    /// `_mm512_<op>_<pd|ps>`.
    macro_rules! paste_op {
        (pd, setzero) => {
            _mm512_setzero_pd
        };
        (ps, setzero) => {
            _mm512_setzero_ps
        };
        (pd, set1) => {
            _mm512_set1_pd
        };
        (ps, set1) => {
            _mm512_set1_ps
        };
        (pd, loadu) => {
            _mm512_loadu_pd
        };
        (ps, loadu) => {
            _mm512_loadu_ps
        };
        (pd, storeu) => {
            _mm512_storeu_pd
        };
        (ps, storeu) => {
            _mm512_storeu_ps
        };
        (pd, add) => {
            _mm512_add_pd
        };
        (ps, add) => {
            _mm512_add_ps
        };
        (pd, mul) => {
            _mm512_mul_pd
        };
        (ps, mul) => {
            _mm512_mul_ps
        };
        (pd, fmadd) => {
            _mm512_fmadd_pd
        };
        (ps, fmadd) => {
            _mm512_fmadd_ps
        };
        (pd, fnmadd) => {
            _mm512_fnmadd_pd
        };
        (ps, fnmadd) => {
            _mm512_fnmadd_ps
        };
        (pd, reduce_add) => {
            _mm512_reduce_add_pd
        };
        (ps, reduce_add) => {
            _mm512_reduce_add_ps
        };
    }

    vector!(Pd8, f64, __m512d, 8, pd, tanh_pd8);
    vector!(Ps16, f32, __m512, 16, ps, tanh_ps16);

    /// Lane k of the result is `src[(r0 + k)·stride + i]` for k < c, 0 beyond.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn gather<V: Vector>(
        src: &[V::T],
        r0: usize,
        c: usize,
        stride: usize,
        i: usize,
    ) -> V::V {
        let mut tmp = [V::T::default(); 16];
        for (k, v) in tmp.iter_mut().enumerate().take(c) {
            *v = src[(r0 + k) * stride + i];
        }
        // SAFETY: tmp holds 16 ≥ L values.
        unsafe { V::load(tmp.as_ptr()) }
    }

    /// `dst[(r0 + k)·stride + i] = lane k of v` for k < c.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn scatter<V: Vector>(
        v: V::V,
        dst: &mut [V::T],
        r0: usize,
        c: usize,
        stride: usize,
        i: usize,
    ) {
        let mut tmp = [V::T::default(); 16];
        // SAFETY: tmp holds 16 ≥ L values.
        unsafe { V::store(tmp.as_mut_ptr(), v) };
        for (k, &x) in tmp.iter().enumerate().take(c) {
            dst[(r0 + k) * stride + i] = x;
        }
    }

    /// The block's inputs `x = [m(y), t]` (`N0` vectors) and raw states y (`D` vectors).
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn inputs<V: Vector, const D: usize, const N0: usize>(
        ys: &[V::T],
        r0: usize,
        c: usize,
        t: V::T,
        cube: bool,
    ) -> ([V::V; N0], [V::V; D]) {
        // SAFETY (whole body): AVX-512F is enabled on this function.
        unsafe {
            let mut x = [V::zero(); N0];
            let mut y = [V::zero(); D];
            for i in 0..D {
                y[i] = gather::<V>(ys, r0, c, D, i);
                x[i] = if cube {
                    V::mul(V::mul(y[i], y[i]), y[i])
                } else {
                    y[i]
                };
            }
            if N0 > D {
                x[D] = V::splat(t);
            }
            (x, y)
        }
    }

    /// `s_j = tanh(b0_j + Σ_k W0_jk x_k)` into `sig` (`h` vectors of L lanes).
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn hidden<V: Vector, const N0: usize>(
        h: usize,
        x: &[V::V; N0],
        w0: &[V::T],
        b0: &[V::T],
        sig: &mut [V::T],
    ) {
        let l = V::L;
        assert!(sig.len() >= h * l && w0.len() >= h * N0 && b0.len() >= h);
        // SAFETY (whole body): the asserts above bound every access; AVX-512F is enabled.
        unsafe {
            let sp = sig.as_mut_ptr();
            for j in 0..h {
                let mut z = V::splat(*b0.get_unchecked(j));
                for (k, &xk) in x.iter().enumerate() {
                    z = V::fma(xk, V::splat(*w0.get_unchecked(j * N0 + k)), z);
                }
                V::store(sp.add(j * l), V::tanh(z));
            }
        }
    }

    /// Dispatches `$body` on the (d, n0) of `$sh` with const D and N0.
    macro_rules! by_shape {
        ($sh:expr, $f:ident, $($arg:expr),*) => {
            match ($sh.d, $sh.n0) {
                (1, 1) => $f::<V, 1, 1>($($arg),*),
                (1, 2) => $f::<V, 1, 2>($($arg),*),
                (2, 2) => $f::<V, 2, 2>($($arg),*),
                (2, 3) => $f::<V, 2, 3>($($arg),*),
                (3, 3) => $f::<V, 3, 3>($($arg),*),
                (3, 4) => $f::<V, 3, 4>($($arg),*),
                (4, 4) => $f::<V, 4, 4>($($arg),*),
                (4, 5) => $f::<V, 4, 5>($($arg),*),
                other => panic!("fused kernels: shape {other:?} not taken (Shape::of)"),
            }
        };
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn forward<V: Vector>(
        sh: &Shape,
        theta: &[V::T],
        t: V::T,
        ys: &[V::T],
        out: &mut [V::T],
        rec: Option<&mut [V::T]>,
    ) {
        // SAFETY: AVX-512F is enabled on this function.
        unsafe { by_shape!(sh, forward_k, sh.h, sh.cube, theta, t, ys, out, rec) }
    }

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    unsafe fn forward_k<V: Vector, const D: usize, const N0: usize>(
        h: usize,
        cube: bool,
        theta: &[V::T],
        t: V::T,
        ys: &[V::T],
        out: &mut [V::T],
        mut rec: Option<&mut [V::T]>,
    ) {
        let l = V::L;
        let rows = ys.len() / D;
        assert!(out.len() >= rows * D);
        let (w0, rest) = theta.split_at(h * N0);
        let (b0, rest) = rest.split_at(h);
        let (w1, b1) = rest.split_at(D * h);
        assert!(w1.len() == D * h && b1.len() == D);
        if let Some(r) = rec.as_deref() {
            assert!(
                r.len() >= rows.div_ceil(l) * l * h,
                "fused record too short"
            );
        }
        // SAFETY (whole body): AVX-512F is enabled; a record block has h·l values (asserted
        // above), w0, b0 and w1 have h·N0, h and D·h (split above).
        unsafe {
            for (blk, r0) in (0..rows).step_by(l).enumerate() {
                let c = l.min(rows - r0);
                let (x, _) = inputs::<V, D, N0>(ys, r0, c, t, cube);
                // The hidden values go to the record when there is one, else nowhere.
                let sp = rec
                    .as_deref_mut()
                    .map(|r| r[blk * h * l..(blk + 1) * h * l].as_mut_ptr());
                let mut acc = [V::zero(); D];
                for (i, a) in acc.iter_mut().enumerate() {
                    *a = V::splat(b1[i]);
                }
                for j in 0..h {
                    let mut z = V::splat(*b0.get_unchecked(j));
                    for (k, &xk) in x.iter().enumerate() {
                        z = V::fma(xk, V::splat(*w0.get_unchecked(j * N0 + k)), z);
                    }
                    let s = V::tanh(z);
                    if let Some(p) = sp {
                        V::store(p.add(j * l), s);
                    }
                    for (i, a) in acc.iter_mut().enumerate() {
                        *a = V::fma(s, V::splat(*w1.get_unchecked(i * h + j)), *a);
                    }
                }
                for (i, &a) in acc.iter().enumerate() {
                    scatter::<V>(a, out, r0, c, D, i);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub unsafe fn vjp<V: Vector>(
        sh: &Shape,
        theta: &[V::T],
        t: V::T,
        ys: &[V::T],
        rec: Option<&[V::T]>,
        vs: &[V::T],
        scale: V::T,
        f_out: Option<&mut [V::T]>,
        vy: &mut [V::T],
        gtheta: &mut [V::T],
        scratch: &mut [V::T],
    ) {
        // SAFETY: AVX-512F is enabled on this function.
        unsafe {
            by_shape!(
                sh, vjp_k, sh.h, sh.cube, theta, t, ys, rec, vs, scale, f_out, vy, gtheta, scratch
            )
        }
    }

    /// Blocks per sweep of the VJP: the θ accumulators of unit j are loaded and stored once
    /// for `NB` blocks (stores were the bottleneck with one), and two blocks' values still fit
    /// the 32 vector registers. An odd last block goes alone.
    const NB: usize = 2;

    /// What every sweep of [`vjp_k`] reads and writes.
    struct Sweep<'a, V: Vector> {
        h: usize,
        cube: bool,
        t: V::T,
        rows: usize,
        w0: &'a [V::T],
        b0: &'a [V::T],
        w1: &'a [V::T],
        b1: &'a [V::T],
        ys: &'a [V::T],
        vs: &'a [V::T],
        rec: Option<&'a [V::T]>,
        f_out: Option<&'a mut [V::T]>,
        vy: &'a mut [V::T],
        /// Two hidden blocks (h·L each) when there is no record.
        buf: &'a mut [V::T],
        /// The per-lane θ accumulators (P·L values, θ's order).
        acc: *mut V::T,
    }

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    unsafe fn vjp_k<V: Vector, const D: usize, const N0: usize>(
        h: usize,
        cube: bool,
        theta: &[V::T],
        t: V::T,
        ys: &[V::T],
        rec: Option<&[V::T]>,
        vs: &[V::T],
        scale: V::T,
        f_out: Option<&mut [V::T]>,
        vy: &mut [V::T],
        gtheta: &mut [V::T],
        scratch: &mut [V::T],
    ) {
        let l = V::L;
        let rows = ys.len() / D;
        let p = theta.len();
        assert!(vs.len() >= rows * D && vy.len() >= rows * D && gtheta.len() >= p);
        if let Some(f) = f_out.as_deref() {
            assert!(f.len() >= rows * D);
        }
        if let Some(r) = rec {
            assert!(
                r.len() >= rows.div_ceil(l) * l * h,
                "fused record too short"
            );
        }
        let (w0, rest) = theta.split_at(h * N0);
        let (b0, rest) = rest.split_at(h);
        let (w1, b1) = rest.split_at(D * h);
        assert!(w1.len() == D * h && b1.len() == D);
        let (buf, acc) = scratch.split_at_mut(NB * h * l);
        let acc = &mut acc[..p * l];
        acc.fill(V::T::default());
        let blocks = rows.div_ceil(l);
        let mut sw = Sweep::<V> {
            h,
            cube,
            t,
            rows,
            w0,
            b0,
            w1,
            b1,
            ys,
            vs,
            rec,
            f_out,
            vy,
            buf,
            acc: acc.as_mut_ptr(),
        };
        // SAFETY: AVX-512F is enabled; the sweeps stay inside the slices checked above.
        unsafe {
            for g0 in (0..blocks - blocks % NB).step_by(NB) {
                sweep::<V, D, N0, NB>(&mut sw, g0);
            }
            if blocks % NB != 0 {
                sweep::<V, D, N0, 1>(&mut sw, blocks - 1);
            }
        }
        for (pi, g) in gtheta[..p].iter_mut().enumerate() {
            // SAFETY: pi·l + l ≤ p·l = acc.len(); AVX-512F is enabled.
            *g += scale * unsafe { V::hsum(V::load(acc.as_ptr().add(pi * l))) };
        }
    }

    /// Blocks `g0 … g0 + NB − 1` (all inside the batch): their hidden values (from the
    /// record, or computed into the scratch), then one sweep over the hidden units.
    #[target_feature(enable = "avx512f")]
    unsafe fn sweep<V: Vector, const D: usize, const N0: usize, const NB: usize>(
        sw: &mut Sweep<'_, V>,
        g0: usize,
    ) {
        let (l, h) = (V::L, sw.h);
        let (o_b0, o_w1, o_b1) = (h * N0, h * N0 + h, h * N0 + h + D * h);
        let want_f = sw.f_out.is_some() && sw.rec.is_none();
        // SAFETY (whole body): AVX-512F is enabled; every pointer offset stays inside the
        // accumulators (P·l values), the hidden blocks (h·l each) or w0/w1 (h·N0, D·h), as
        // `vjp_k` checked.
        unsafe {
            let ap = sw.acc;
            let (w0, w1) = (sw.w0, sw.w1);
            let mut x = [[V::zero(); N0]; NB];
            let mut y = [[V::zero(); D]; NB];
            let mut v = [[V::zero(); D]; NB];
            let mut f = [[V::zero(); D]; NB];
            let mut vya = [[V::zero(); D]; NB];
            let mut sp = [sw.buf.as_ptr(); NB];
            for b in 0..NB {
                let blk = g0 + b;
                let r0 = blk * l;
                let c = l.min(sw.rows - r0);
                (x[b], y[b]) = inputs::<V, D, N0>(sw.ys, r0, c, sw.t, sw.cube);
                sp[b] = match sw.rec {
                    Some(r) => r.as_ptr().add(blk * h * l),
                    None => {
                        let hb = &mut sw.buf[b * h * l..(b + 1) * h * l];
                        hidden::<V, N0>(h, &x[b], w0, sw.b0, hb);
                        hb.as_ptr()
                    }
                };
                for i in 0..D {
                    v[b][i] = gather::<V>(sw.vs, r0, c, D, i);
                    f[b][i] = V::splat(sw.b1[i]);
                }
            }
            for i in 0..D {
                let q = ap.add((o_b1 + i) * l);
                let mut sum = V::load(q);
                for vb in &v {
                    sum = V::add(sum, vb[i]);
                }
                V::store(q, sum);
            }
            for j in 0..h {
                let mut gw1 = [V::zero(); D];
                for (i, a) in gw1.iter_mut().enumerate() {
                    *a = V::load(ap.add((o_w1 + i * h + j) * l));
                }
                let mut gb0 = V::load(ap.add((o_b0 + j) * l));
                let mut gw0 = [V::zero(); N0];
                for (k, a) in gw0.iter_mut().enumerate() {
                    *a = V::load(ap.add((j * N0 + k) * l));
                }
                for b in 0..NB {
                    let s = V::load(sp[b].add(j * l));
                    let mut g = V::zero();
                    for i in 0..D {
                        let w = V::splat(*w1.get_unchecked(i * h + j));
                        g = V::fma(v[b][i], w, g);
                        if want_f {
                            f[b][i] = V::fma(s, w, f[b][i]);
                        }
                        gw1[i] = V::fma(v[b][i], s, gw1[i]);
                    }
                    let delta = V::fnma(V::mul(g, s), s, g);
                    gb0 = V::add(gb0, delta);
                    for k in 0..N0 {
                        gw0[k] = V::fma(delta, x[b][k], gw0[k]);
                    }
                    for (k, a) in vya[b].iter_mut().enumerate() {
                        *a = V::fma(delta, V::splat(*w0.get_unchecked(j * N0 + k)), *a);
                    }
                }
                for (i, &a) in gw1.iter().enumerate() {
                    V::store(ap.add((o_w1 + i * h + j) * l), a);
                }
                V::store(ap.add((o_b0 + j) * l), gb0);
                for (k, &a) in gw0.iter().enumerate() {
                    V::store(ap.add((j * N0 + k) * l), a);
                }
            }
            for b in 0..NB {
                let r0 = (g0 + b) * l;
                let c = l.min(sw.rows - r0);
                for k in 0..D {
                    let a = if sw.cube {
                        let yk = y[b][k];
                        V::mul(vya[b][k], V::mul(V::splat(V::THREE), V::mul(yk, yk)))
                    } else {
                        vya[b][k]
                    };
                    scatter::<V>(a, sw.vy, r0, c, D, k);
                }
                if want_f && let Some(fo) = sw.f_out.as_deref_mut() {
                    for (i, &fi) in f[b].iter().enumerate() {
                        scatter::<V>(fi, fo, r0, c, D, i);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{BatchWork, BatchedMlp, Real};

    /// Networks the fused kernels take: (state dim, hidden width, time input, cube input map).
    const SHAPES: [(usize, usize, bool, bool); 5] = [
        (2, 64, false, false),
        (1, 5, true, false),
        (3, 16, false, true),
        (4, 7, true, true),
        (2, 33, true, false),
    ];
    /// Row counts: fewer than the lanes (layer-at-a-time path), partial and odd block counts.
    const ROWS: [usize; 6] = [3, 8, 13, 24, 37, 256];

    fn net(d: usize, h: usize, time: bool, cube: bool, seed: u64) -> Mlp {
        let mut mlp = Mlp::random(&[d, h, d], Activation::Tanh, time, 1.5, seed);
        if cube {
            mlp.input_map = InputMap::Cube;
        }
        mlp
    }

    /// Deterministic values in [−s, s].
    fn values(n: usize, seed: u64, s: f64) -> Vec<f64> {
        (0..n)
            .map(|i| {
                let x = ((i as f64 + 1.0) * 0.618_033_988_75 + seed as f64 * 0.414_213_562).fract();
                s * (2.0 * x - 1.0)
            })
            .collect()
    }

    /// Largest |a − b| relative to the largest |b| (1 when b is all zero).
    fn rel_diff<T: Real>(a: &[T], b: &[T]) -> f64 {
        assert_eq!(a.len(), b.len());
        let scale = b
            .iter()
            .map(|v| Real::to_f64(*v).abs())
            .fold(0.0, f64::max)
            .max(1e-300);
        let diff = a
            .iter()
            .zip(b)
            .map(|(x, y)| (Real::to_f64(*x) - Real::to_f64(*y)).abs())
            .fold(0.0, f64::max);
        diff / scale
    }

    /// Forward, VJP (with and without a record) on both paths for every shape and row count;
    /// returns the worst relative difference. Checks that the fused path ran where it should.
    fn compare<T: Real>() -> f64 {
        let mut worst = 0.0f64;
        for (si, &(d, h, time, cube)) in SHAPES.iter().enumerate() {
            let mlp = net(d, h, time, cube, 7 + si as u64);
            let params = mlp.params_as::<T>();
            let fused = BatchedMlp::new(&mlp, &params);
            let plain = fused.layer_at_a_time();
            assert!(plain.fused_shape(1024).is_none());
            for &rows in &ROWS {
                let lanes = T::lanes();
                assert_eq!(
                    fused.fused_shape(rows).is_some(),
                    lanes.is_some_and(|l| rows >= l),
                    "fused path taken for {d}-{h}-{d}, {rows} rows"
                );
                let of = |v: Vec<f64>| v.into_iter().map(T::of).collect::<Vec<T>>();
                let ys = of(values(rows * d, 1 + rows as u64, 1.3));
                let vs = of(values(rows * d, 2 + rows as u64, 0.8));
                let t = T::of(0.37);
                let scale = T::of(0.5);
                let m = rows * d;
                let p = mlp.n_params();
                let mut works = [BatchWork::<T>::new(&mlp, rows), BatchWork::new(&mlp, rows)];
                // forward, no record
                let mut f = [vec![T::zero(); m], vec![T::zero(); m]];
                for (k, n) in [fused, plain].iter().enumerate() {
                    n.forward(t, &ys, &mut f[k], &mut works[k], false);
                }
                worst = worst.max(rel_diff(&f[0], &f[1]));
                // forward + VJP in one call
                let mut vy = [vec![T::zero(); m], vec![T::zero(); m]];
                let mut g = [vec![T::of(0.25); p], vec![T::of(0.25); p]];
                for (k, n) in [fused, plain].iter().enumerate() {
                    n.vjp(
                        t,
                        &ys,
                        &vs,
                        scale,
                        &mut f[k],
                        &mut vy[k],
                        &mut g[k],
                        &mut works[k],
                    );
                }
                worst = worst
                    .max(rel_diff(&f[0], &f[1]))
                    .max(rel_diff(&vy[0], &vy[1]))
                    .max(rel_diff(&g[0], &g[1]));
                // record, then VJP from it
                let rl = BatchedMlp::<T>::record_len(&mlp);
                let mut rec = [vec![T::zero(); rows * rl], vec![T::zero(); rows * rl]];
                let mut g2 = [vec![T::zero(); p], vec![T::zero(); p]];
                for (k, n) in [fused, plain].iter().enumerate() {
                    n.forward_recording(t, &ys, &mut f[k], &mut rec[k], &mut works[k]);
                    n.vjp_from_record(
                        t,
                        &ys,
                        &rec[k],
                        &vs,
                        scale,
                        &mut vy[k],
                        &mut g2[k],
                        &mut works[k],
                    );
                }
                worst = worst
                    .max(rel_diff(&f[0], &f[1]))
                    .max(rel_diff(&vy[0], &vy[1]))
                    .max(rel_diff(&g2[0], &g2[1]));
                // The one-call VJP and the recorded one agree with each other too.
                worst = worst.max(rel_diff(
                    &g2[0].iter().map(|&x| x + T::of(0.25)).collect::<Vec<_>>(),
                    &g[0],
                ));
            }
        }
        worst
    }

    #[test]
    fn fused_kernels_equal_the_layer_at_a_time_path_f64() {
        if f64::lanes().is_none() {
            eprintln!("no AVX-512F on this CPU: only the layer-at-a-time path runs");
        }
        let worst = compare::<f64>();
        assert!(worst <= 1e-14, "f64: {worst:e}");
    }

    #[test]
    fn fused_kernels_equal_the_layer_at_a_time_path_f32() {
        let worst = compare::<f32>();
        assert!(worst <= 2e-6, "f32: {worst:e}");
    }

    /// A NaN state spoils its own row only (the other lanes of its block stay finite), on the
    /// fused path as on the layer-at-a-time one.
    #[test]
    fn a_nan_row_stays_in_its_row() {
        let mlp = net(2, 64, false, false, 3);
        let net = mlp.batched();
        let rows = 20;
        let mut ys = values(rows * 2, 5, 1.0);
        ys[2 * 9 + 1] = f64::NAN;
        let mut work = BatchWork::new(&mlp, rows);
        for n in [net, net.layer_at_a_time()] {
            let mut f = vec![0.0; rows * 2];
            n.forward(0.0, &ys, &mut f, &mut work, false);
            for (r, row) in f.chunks(2).enumerate() {
                assert_eq!(row.iter().any(|v| v.is_nan()), r == 9, "row {r}: {row:?}");
            }
        }
    }

    /// Networks outside the fused kernels' reach are refused by [`Shape::of`].
    #[test]
    fn shapes_outside_the_kernels_are_refused() {
        let two_hidden = Mlp::random(&[2, 8, 8, 2], Activation::Tanh, false, 1.0, 1);
        let relu = Mlp::random(&[2, 8, 2], Activation::Relu, false, 1.0, 1);
        let wide = Mlp::random(&[5, 8, 5], Activation::Tanh, false, 1.0, 1);
        for m in [&two_hidden, &relu, &wide] {
            assert!(Shape::of(m).is_none(), "{:?}", m.sizes);
        }
        let toy = Mlp::random(&[2, 64, 2], Activation::Tanh, true, 1.0, 1);
        let sh = Shape::of(&toy).expect("2-64-2 tanh with time input");
        assert_eq!((sh.d, sh.n0, sh.h, sh.cube), (2, 3, 64, false));
        assert_eq!(sh.n_params(), toy.n_params());
    }
}
