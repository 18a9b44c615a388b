//! Fused kernels for the most common vector field of the lab: one hidden tanh layer between thin
//! input and output layers (`d → H → d`, d ≤ 4, optional time input and cube input map), as in
//! the toy problem of `nodelab bench grad` (2-64-2) and the spiral tasks.
//!
//! [`super::batched::BatchedMlp`] runs a layer at a time over the whole batch: every layer
//! writes a `rows × H` array that the next pass reads back, and the thin (2-wide) products are
//! mostly data movement. Here a block of `L` samples (the vector lanes of the active
//! instruction set, [`super::simd`]: AVX-512 8 f64 / 16 f32, AVX2 4 / 8, NEON 2 / 4, scalar 1)
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
//! Written once over [`Vector`] (one vector of the active set, [`super::simd::Lanes`]) and
//! compiled for each set; two hidden layers (the classification tasks' d-16-16-d) go to
//! [`two_layer`]; for other networks or fewer rows than lanes the layer-at-a-time path runs.

use std::sync::atomic::{AtomicBool, Ordering};

use super::activation::Activation;
use super::input_map::InputMap;
use super::mlp::Mlp;
use super::simd::{self, Isa, Kernel, Lanes};

pub mod two_layer;

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

/// The `kernels:` line of `bench grad` / `bench train`: which path evaluates `mlp` (or the
/// one-hidden-layer tanh networks, without one) and on which instruction set
/// ([`simd::description`]; the layer-at-a-time path's tanh runs on it too).
pub fn kernels_description(mlp: Option<&Mlp>) -> String {
    let isa = simd::description();
    if !enabled() {
        format!("layer at a time (--no-fused), tanh on {isa}")
    } else if mlp.is_some_and(|m| Shape::of(m).is_none()) {
        format!("layer at a time (not a one- or two-hidden-layer tanh network), tanh on {isa}")
    } else {
        match mlp.and_then(Shape::of) {
            Some(sh) if sh.h2 > 0 => format!("fused two-hidden-layer kernels on {isa}"),
            Some(_) => format!("fused one-hidden-layer kernels on {isa}"),
            None => format!("fused one- and two-hidden-layer kernels on {isa}"),
        }
    }
}

/// The networks the fused kernels take: `n0 → h → d` or `n0 → h → h2 → d`
/// ([`two_layer`], h ≤ [`two_layer::MAX_H1`]) with tanh, d ≤ 4, `n0 = d` or `d + 1` (time input).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub d: usize,
    pub n0: usize,
    pub h: usize,
    /// The second hidden layer's width; 0 for one hidden layer.
    pub h2: usize,
    pub cube: bool,
}

impl Shape {
    /// The shape of `mlp` when the fused kernels take it.
    pub fn of(mlp: &Mlp) -> Option<Shape> {
        if mlp.activation != Activation::Tanh {
            return None;
        }
        let (d, n0, h) = (mlp.dim(), mlp.sizes[0], mlp.sizes[1]);
        let h2 = match mlp.n_layers() {
            2 => 0,
            3 if (1..=two_layer::MAX_H1).contains(&h) && mlp.sizes[2] > 0 => mlp.sizes[2],
            _ => return None,
        };
        if !(1..=4).contains(&d) || n0 != d + usize::from(mlp.time_input) || h == 0 {
            return None;
        }
        Some(Shape {
            d,
            n0,
            h,
            h2,
            cube: mlp.input_map == InputMap::Cube,
        })
    }

    /// Parameters θ (the flat weights-file order: W0, b0, W1, b1).
    fn n_params(&self) -> usize {
        if self.h2 > 0 {
            return self.h * self.n0
                + self.h
                + self.h2 * self.h
                + self.h2
                + self.d * self.h2
                + self.d;
        }
        self.h * self.n0 + self.h + self.d * self.h + self.d
    }
}

/// The float types with fused kernels (f64 and f32), and their vector on each instruction set.
pub trait Fused:
    Copy + Default + std::ops::Mul<Output = Self> + std::ops::AddAssign + 'static
{
    /// One vector of `Self` on the set of the token `S`.
    type VectorOf<S: Lanes>: Vector<T = Self>;
    /// The vector of the token `s`.
    fn vector<S: Lanes>(s: S) -> Self::VectorOf<S>;
    /// Samples per block (vector lanes) on `isa`.
    fn lanes_on(isa: Isa) -> usize;

    /// Samples per block on the active instruction set.
    fn lanes() -> usize {
        Self::lanes_on(simd::active())
    }

    /// `f(t, y_r)` for every row of `ys` into `out` (nothing stored in between: each hidden
    /// vector goes from its tanh straight into the output sums); with `rec`, the hidden values
    /// `s` of every block are also kept there (`⌈rows/L⌉ · L · h` values) for [`Fused::vjp`].
    fn forward(
        sh: &Shape,
        theta: &[Self],
        t: Self,
        ys: &[Self],
        out: &mut [Self],
        rec: Option<&mut [Self]>,
    ) {
        assert_eq!(theta.len(), sh.n_params(), "parameter count");
        if sh.h2 > 0 {
            let k = two_layer::Forward {
                sh,
                theta,
                t,
                ys,
                out,
                rec,
            };
            return simd::dispatch(k);
        }
        simd::dispatch(Forward {
            sh,
            theta,
            t,
            ys,
            out,
            rec,
        });
    }

    /// `vᵀ∂f/∂y` per row into `vy` and `scale · Σ_r v_rᵀ∂f/∂θ` added to `gtheta`; the hidden
    /// values come from `rec` (a [`Fused::forward`] record at the same rows, on the same
    /// instruction set) or, without one, are recomputed, and then `f` goes to `f_out` when
    /// given. An empty `gtheta` asks for no θ-gradient (the one-hidden-layer kernel then skips
    /// the θ accumulators: the adjoint's dopri5 stage 2, whose θ-part no later stage reads).
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
    ) {
        assert_eq!(theta.len(), sh.n_params(), "parameter count");
        if sh.h2 > 0 {
            let mut discard = Vec::new();
            let gtheta = if gtheta.is_empty() {
                discard.resize(sh.n_params(), Self::default());
                &mut discard[..]
            } else {
                gtheta
            };
            let k = two_layer::Vjp {
                sh,
                theta,
                t,
                ys,
                rec,
                vs,
                scale,
                f_out,
                vy,
                gtheta,
                scratch,
            };
            return simd::dispatch(k);
        }
        simd::dispatch(Vjp {
            sh,
            theta,
            t,
            ys,
            rec,
            vs,
            scale,
            f_out,
            vy,
            gtheta,
            scratch,
        });
    }
}

impl Fused for f64 {
    type VectorOf<S: Lanes> = F64s<S>;
    #[inline(always)]
    fn vector<S: Lanes>(s: S) -> F64s<S> {
        F64s(s)
    }
    fn lanes_on(isa: Isa) -> usize {
        isa.f64_lanes()
    }
}

impl Fused for f32 {
    type VectorOf<S: Lanes> = F32s<S>;
    #[inline(always)]
    fn vector<S: Lanes>(s: S) -> F32s<S> {
        F32s(s)
    }
    fn lanes_on(isa: Isa) -> usize {
        isa.f32_lanes()
    }
}

/// One vector of `L` lanes of `T`: the operations the fused kernels are written in.
pub trait Vector: Copy {
    type T: Copy + Default + std::ops::Mul<Output = Self::T> + std::ops::AddAssign;
    type V: Copy;
    const L: usize;
    /// Vector registers of the set (the VJP sweeps two blocks at once where there are 32).
    const REGISTERS: usize;
    const THREE: Self::T;
    fn zero(self) -> Self::V;
    fn splat(self, x: Self::T) -> Self::V;
    /// # Safety
    /// `p` points at `L` readable values.
    unsafe fn load(self, p: *const Self::T) -> Self::V;
    /// # Safety
    /// `p` points at `L` writable values.
    unsafe fn store(self, p: *mut Self::T, v: Self::V);
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a b + c`.
    fn fma(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `c − a b`.
    fn fnma(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    fn tanh(self, x: Self::V) -> Self::V;
    /// The sum of the lanes.
    fn hsum(self, x: Self::V) -> Self::T;
}

/// The f64 vector of the token `S`.
#[derive(Clone, Copy, Debug)]
pub struct F64s<S>(S);
/// The f32 vector of the token `S`.
#[derive(Clone, Copy, Debug)]
pub struct F32s<S>(S);

macro_rules! vector {
    ($name:ident, $t:ty, $lanes:ident, $v:ident, $splat:ident, $add:ident, $mul:ident,
     $fma:ident, $fnma:ident, $tanh:ident, $hsum:ident) => {
        impl<S: Lanes> Vector for $name<S> {
            type T = $t;
            type V = S::$v;
            const L: usize = S::$lanes;
            const REGISTERS: usize = S::REGISTER_COUNT;
            const THREE: $t = 3.0;
            #[inline(always)]
            fn zero(self) -> S::$v {
                self.0.$splat(0.0)
            }
            #[inline(always)]
            fn splat(self, x: $t) -> S::$v {
                self.0.$splat(x)
            }
            #[inline(always)]
            unsafe fn load(self, p: *const $t) -> S::$v {
                // SAFETY: the caller passes L readable values at p.
                unsafe { p.cast::<S::$v>().read_unaligned() }
            }
            #[inline(always)]
            unsafe fn store(self, p: *mut $t, v: S::$v) {
                // SAFETY: the caller passes L writable values at p.
                unsafe { p.cast::<S::$v>().write_unaligned(v) }
            }
            #[inline(always)]
            fn add(self, a: S::$v, b: S::$v) -> S::$v {
                self.0.$add(a, b)
            }
            #[inline(always)]
            fn mul(self, a: S::$v, b: S::$v) -> S::$v {
                self.0.$mul(a, b)
            }
            #[inline(always)]
            fn fma(self, a: S::$v, b: S::$v, c: S::$v) -> S::$v {
                self.0.$fma(a, b, c)
            }
            #[inline(always)]
            fn fnma(self, a: S::$v, b: S::$v, c: S::$v) -> S::$v {
                self.0.$fnma(a, b, c)
            }
            #[inline(always)]
            fn tanh(self, x: S::$v) -> S::$v {
                self.0.$tanh(x)
            }
            #[inline(always)]
            fn hsum(self, x: S::$v) -> $t {
                self.0.$hsum(x)
            }
        }
    };
}

vector!(
    F64s,
    f64,
    F64_LANES,
    f64s,
    splat_f64s,
    add_f64s,
    mul_f64s,
    mul_add_e_f64s,
    negate_mul_add_e_f64s,
    tanh_f64s,
    reduce_sum_f64s
);
vector!(
    F32s,
    f32,
    F32_LANES,
    f32s,
    splat_f32s,
    add_f32s,
    mul_f32s,
    mul_add_e_f32s,
    negate_mul_add_e_f32s,
    tanh_f32s,
    reduce_sum_f32s
);

/// [`Fused::forward`] as a [`Kernel`].
struct Forward<'a, T> {
    sh: &'a Shape,
    theta: &'a [T],
    t: T,
    ys: &'a [T],
    out: &'a mut [T],
    rec: Option<&'a mut [T]>,
}

impl<T: Fused> Kernel for Forward<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run<S: Lanes>(self, s: S) {
        let Self {
            sh,
            theta,
            t,
            ys,
            out,
            rec,
        } = self;
        kernels::forward(T::vector(s), sh, theta, t, ys, out, rec);
    }
}

/// [`Fused::vjp`] as a [`Kernel`].
struct Vjp<'a, T> {
    sh: &'a Shape,
    theta: &'a [T],
    t: T,
    ys: &'a [T],
    rec: Option<&'a [T]>,
    vs: &'a [T],
    scale: T,
    f_out: Option<&'a mut [T]>,
    vy: &'a mut [T],
    gtheta: &'a mut [T],
    scratch: &'a mut Vec<T>,
}

impl<T: Fused> Kernel for Vjp<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run<S: Lanes>(self, s: S) {
        let Self {
            sh,
            theta,
            t,
            ys,
            rec,
            vs,
            scale,
            f_out,
            vy,
            gtheta,
            scratch,
        } = self;
        scratch_for(sh, <T::VectorOf<S> as Vector>::L, scratch);
        kernels::vjp(
            T::vector(s),
            sh,
            theta,
            t,
            ys,
            rec,
            vs,
            scale,
            f_out,
            vy,
            gtheta,
            scratch,
        );
    }
}

/// Grows `scratch` to two `h · L` hidden blocks plus the `P · L` θ accumulators.
fn scratch_for<T: Copy + Default>(sh: &Shape, lanes: usize, scratch: &mut Vec<T>) {
    let need = (2 * sh.h + sh.n_params()) * lanes;
    if scratch.len() < need {
        scratch.resize(need, T::default());
    }
}

/// The kernels, written once over [`Vector`]: everything is `#[inline(always)]`, so that the
/// whole kernel is compiled inside [`simd::dispatch`] for the set of its token.
mod kernels {
    use super::{Shape, Vector};

    /// Lane k of the result is `src[(r0 + k)·stride + i]` for k < c, 0 beyond.
    #[inline(always)]
    pub(super) fn gather<V: Vector>(
        vc: V,
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
        unsafe { vc.load(tmp.as_ptr()) }
    }

    /// `dst[(r0 + k)·stride + i] = lane k of v` for k < c.
    #[inline(always)]
    pub(super) fn scatter<V: Vector>(
        vc: V,
        v: V::V,
        dst: &mut [V::T],
        r0: usize,
        c: usize,
        stride: usize,
        i: usize,
    ) {
        let mut tmp = [V::T::default(); 16];
        // SAFETY: tmp holds 16 ≥ L values.
        unsafe { vc.store(tmp.as_mut_ptr(), v) };
        for (k, &x) in tmp.iter().enumerate().take(c) {
            dst[(r0 + k) * stride + i] = x;
        }
    }

    /// The block's inputs `x = [m(y), t]` (`N0` vectors) and raw states y (`D` vectors).
    #[inline(always)]
    pub(super) fn inputs<V: Vector, const D: usize, const N0: usize>(
        vc: V,
        ys: &[V::T],
        r0: usize,
        c: usize,
        t: V::T,
        cube: bool,
    ) -> ([V::V; N0], [V::V; D]) {
        let mut x = [vc.zero(); N0];
        let mut y = [vc.zero(); D];
        for i in 0..D {
            y[i] = gather::<V>(vc, ys, r0, c, D, i);
            x[i] = if cube {
                vc.mul(vc.mul(y[i], y[i]), y[i])
            } else {
                y[i]
            };
        }
        if N0 > D {
            x[D] = vc.splat(t);
        }
        (x, y)
    }

    /// `s_j = tanh(b0_j + Σ_k W0_jk x_k)` into `sig` (`h` vectors of L lanes).
    #[inline(always)]
    fn hidden<V: Vector, const N0: usize>(
        vc: V,
        h: usize,
        x: &[V::V; N0],
        w0: &[V::T],
        b0: &[V::T],
        sig: &mut [V::T],
    ) {
        let l = V::L;
        assert!(sig.len() >= h * l && w0.len() >= h * N0 && b0.len() >= h);
        // SAFETY (whole body): the asserts above bound every access.
        unsafe {
            let sp = sig.as_mut_ptr();
            for j in 0..h {
                let mut z = vc.splat(*b0.get_unchecked(j));
                for (k, &xk) in x.iter().enumerate() {
                    z = vc.fma(xk, vc.splat(*w0.get_unchecked(j * N0 + k)), z);
                }
                vc.store(sp.add(j * l), vc.tanh(z));
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

    #[inline(always)]
    pub fn forward<V: Vector>(
        vc: V,
        sh: &Shape,
        theta: &[V::T],
        t: V::T,
        ys: &[V::T],
        out: &mut [V::T],
        rec: Option<&mut [V::T]>,
    ) {
        by_shape!(sh, forward_k, vc, sh.h, sh.cube, theta, t, ys, out, rec)
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn forward_k<V: Vector, const D: usize, const N0: usize>(
        vc: V,
        h: usize,
        cube: bool,
        theta: &[V::T],
        t: V::T,
        ys: &[V::T],
        out: &mut [V::T],
        rec: Option<&mut [V::T]>,
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
        let blocks = rows.div_ceil(l);
        let nb = if V::REGISTERS >= 32 { 1 } else { FORWARD_NB };
        let mut fw = ForwardBlocks::<V> {
            h,
            cube,
            t,
            rows,
            w0,
            b0,
            w1,
            b1,
            ys,
            out,
            rec,
        };
        let mut g0 = 0;
        if nb == FORWARD_NB {
            while g0 + FORWARD_NB <= blocks {
                forward_blocks::<V, D, N0, FORWARD_NB>(vc, &mut fw, g0);
                g0 += FORWARD_NB;
            }
        }
        while g0 < blocks {
            forward_blocks::<V, D, N0, 1>(vc, &mut fw, g0);
            g0 += 1;
        }
    }

    /// Blocks per pass of the forward kernel where the set has 16 vector registers (AVX2): the
    /// two blocks' tanh chains (long: a division at the end) interleave, and each weight is
    /// broadcast once for both; measured 1.13× the single-block pass on Zen 3 in a loop shaped
    /// like it (AVX-512's single-block pass is kept as it was measured).
    const FORWARD_NB: usize = 2;

    /// What every pass of [`forward_k`] reads and writes.
    struct ForwardBlocks<'a, V: Vector> {
        h: usize,
        cube: bool,
        t: V::T,
        rows: usize,
        w0: &'a [V::T],
        b0: &'a [V::T],
        w1: &'a [V::T],
        b1: &'a [V::T],
        ys: &'a [V::T],
        out: &'a mut [V::T],
        rec: Option<&'a mut [V::T]>,
    }

    /// Blocks `g0 … g0 + NB − 1` (all inside the batch) through the whole network.
    #[inline(always)]
    fn forward_blocks<V: Vector, const D: usize, const N0: usize, const NB: usize>(
        vc: V,
        fw: &mut ForwardBlocks<'_, V>,
        g0: usize,
    ) {
        let (l, h) = (V::L, fw.h);
        let (w0, b0, w1) = (fw.w0, fw.b0, fw.w1);
        // SAFETY (whole body): a record block has h·l values (`forward_k` checked the record's
        // length for every block), w0, b0 and w1 have h·N0, h and D·h (split there).
        unsafe {
            let mut x = [[vc.zero(); N0]; NB];
            let mut acc = [[vc.zero(); D]; NB];
            let mut sp: [Option<*mut V::T>; NB] = [None; NB];
            for b in 0..NB {
                let blk = g0 + b;
                let r0 = blk * l;
                let c = l.min(fw.rows - r0);
                (x[b], _) = inputs::<V, D, N0>(vc, fw.ys, r0, c, fw.t, fw.cube);
                // The hidden values go to the record when there is one, else nowhere.
                sp[b] = fw
                    .rec
                    .as_deref_mut()
                    .map(|r| r[blk * h * l..(blk + 1) * h * l].as_mut_ptr());
                for (i, a) in acc[b].iter_mut().enumerate() {
                    *a = vc.splat(fw.b1[i]);
                }
            }
            for j in 0..h {
                let bj = vc.splat(*b0.get_unchecked(j));
                let mut wj = [vc.zero(); N0];
                for (k, w) in wj.iter_mut().enumerate() {
                    *w = vc.splat(*w0.get_unchecked(j * N0 + k));
                }
                let mut vj = [vc.zero(); D];
                for (i, w) in vj.iter_mut().enumerate() {
                    *w = vc.splat(*w1.get_unchecked(i * h + j));
                }
                for b in 0..NB {
                    let mut z = bj;
                    for (k, &xk) in x[b].iter().enumerate() {
                        z = vc.fma(xk, wj[k], z);
                    }
                    let s = vc.tanh(z);
                    if let Some(p) = sp[b] {
                        vc.store(p.add(j * l), s);
                    }
                    for (i, a) in acc[b].iter_mut().enumerate() {
                        *a = vc.fma(s, vj[i], *a);
                    }
                }
            }
            for b in 0..NB {
                let r0 = (g0 + b) * l;
                let c = l.min(fw.rows - r0);
                for (i, &a) in acc[b].iter().enumerate() {
                    scatter::<V>(vc, a, fw.out, r0, c, D, i);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn vjp<V: Vector>(
        vc: V,
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
        by_shape!(
            sh, vjp_k, vc, sh.h, sh.cube, theta, t, ys, rec, vs, scale, f_out, vy, gtheta, scratch
        )
    }

    /// Blocks per sweep of the VJP where the set has 32 vector registers (AVX-512, NEON): the
    /// θ accumulators of unit j are loaded and stored once for `NB` blocks (stores were the
    /// bottleneck with one), and two blocks' values still fit the registers. With 16 (AVX2)
    /// one block per sweep. An odd last block goes alone.
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
    #[inline(always)]
    fn vjp_k<V: Vector, const D: usize, const N0: usize>(
        vc: V,
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
        // An empty `gtheta` asks for no θ-gradient: the sweeps skip the θ accumulators.
        let want_theta = !gtheta.is_empty();
        assert!(vs.len() >= rows * D && vy.len() >= rows * D);
        assert!(!want_theta || gtheta.len() >= p);
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
        let nb = if V::REGISTERS >= 32 { NB } else { 1 };
        let (buf, acc) = scratch.split_at_mut(NB * h * l);
        let acc = &mut acc[..p * l];
        if want_theta {
            acc.fill(V::T::default());
        }
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
        // The sweeps stay inside the slices checked above.
        let mut g0 = 0;
        if nb == NB {
            while g0 + NB <= blocks {
                if want_theta {
                    sweep::<V, D, N0, NB, true>(vc, &mut sw, g0);
                } else {
                    sweep::<V, D, N0, NB, false>(vc, &mut sw, g0);
                }
                g0 += NB;
            }
        }
        while g0 < blocks {
            if want_theta {
                sweep::<V, D, N0, 1, true>(vc, &mut sw, g0);
            } else {
                sweep::<V, D, N0, 1, false>(vc, &mut sw, g0);
            }
            g0 += 1;
        }
        if !want_theta {
            return;
        }
        for (pi, g) in gtheta[..p].iter_mut().enumerate() {
            // SAFETY: pi·l + l ≤ p·l = acc.len().
            *g += scale * unsafe { vc.hsum(vc.load(acc.as_ptr().add(pi * l))) };
        }
    }

    /// Blocks `g0 … g0 + NB − 1` (all inside the batch): their hidden values (from the
    /// record, or computed into the scratch), then one sweep over the hidden units; the θ
    /// accumulators are updated when `TH`.
    #[inline(always)]
    fn sweep<V: Vector, const D: usize, const N0: usize, const NB: usize, const TH: bool>(
        vc: V,
        sw: &mut Sweep<'_, V>,
        g0: usize,
    ) {
        let (l, h) = (V::L, sw.h);
        let (o_b0, o_w1, o_b1) = (h * N0, h * N0 + h, h * N0 + h + D * h);
        let want_f = sw.f_out.is_some() && sw.rec.is_none();
        // SAFETY (whole body): every pointer offset stays inside the
        // accumulators (P·l values), the hidden blocks (h·l each) or w0/w1 (h·N0, D·h), as
        // `vjp_k` checked.
        unsafe {
            let ap = sw.acc;
            let (w0, w1) = (sw.w0, sw.w1);
            let mut x = [[vc.zero(); N0]; NB];
            let mut y = [[vc.zero(); D]; NB];
            let mut v = [[vc.zero(); D]; NB];
            let mut f = [[vc.zero(); D]; NB];
            let mut vya = [[vc.zero(); D]; NB];
            let mut sp = [sw.buf.as_ptr(); NB];
            for b in 0..NB {
                let blk = g0 + b;
                let r0 = blk * l;
                let c = l.min(sw.rows - r0);
                (x[b], y[b]) = inputs::<V, D, N0>(vc, sw.ys, r0, c, sw.t, sw.cube);
                sp[b] = match sw.rec {
                    Some(r) => r.as_ptr().add(blk * h * l),
                    None => {
                        let hb = &mut sw.buf[b * h * l..(b + 1) * h * l];
                        hidden::<V, N0>(vc, h, &x[b], w0, sw.b0, hb);
                        hb.as_ptr()
                    }
                };
                for i in 0..D {
                    v[b][i] = gather::<V>(vc, sw.vs, r0, c, D, i);
                    f[b][i] = vc.splat(sw.b1[i]);
                }
            }
            if TH {
                for i in 0..D {
                    let q = ap.add((o_b1 + i) * l);
                    let mut sum = vc.load(q);
                    for vb in &v {
                        sum = vc.add(sum, vb[i]);
                    }
                    vc.store(q, sum);
                }
            }
            for j in 0..h {
                let mut gw1 = [vc.zero(); D];
                let mut gb0 = vc.zero();
                let mut gw0 = [vc.zero(); N0];
                if TH {
                    for (i, a) in gw1.iter_mut().enumerate() {
                        *a = vc.load(ap.add((o_w1 + i * h + j) * l));
                    }
                    gb0 = vc.load(ap.add((o_b0 + j) * l));
                    for (k, a) in gw0.iter_mut().enumerate() {
                        *a = vc.load(ap.add((j * N0 + k) * l));
                    }
                }
                for b in 0..NB {
                    let s = vc.load(sp[b].add(j * l));
                    let mut g = vc.zero();
                    for i in 0..D {
                        let w = vc.splat(*w1.get_unchecked(i * h + j));
                        g = vc.fma(v[b][i], w, g);
                        if want_f {
                            f[b][i] = vc.fma(s, w, f[b][i]);
                        }
                        if TH {
                            gw1[i] = vc.fma(v[b][i], s, gw1[i]);
                        }
                    }
                    let delta = vc.fnma(vc.mul(g, s), s, g);
                    if TH {
                        gb0 = vc.add(gb0, delta);
                        for k in 0..N0 {
                            gw0[k] = vc.fma(delta, x[b][k], gw0[k]);
                        }
                    }
                    for (k, a) in vya[b].iter_mut().enumerate() {
                        *a = vc.fma(delta, vc.splat(*w0.get_unchecked(j * N0 + k)), *a);
                    }
                }
                if TH {
                    for (i, &a) in gw1.iter().enumerate() {
                        vc.store(ap.add((o_w1 + i * h + j) * l), a);
                    }
                    vc.store(ap.add((o_b0 + j) * l), gb0);
                    for (k, &a) in gw0.iter().enumerate() {
                        vc.store(ap.add((j * N0 + k) * l), a);
                    }
                }
            }
            for b in 0..NB {
                let r0 = (g0 + b) * l;
                let c = l.min(sw.rows - r0);
                for k in 0..D {
                    let a = if sw.cube {
                        let yk = y[b][k];
                        vc.mul(vya[b][k], vc.mul(vc.splat(V::THREE), vc.mul(yk, yk)))
                    } else {
                        vya[b][k]
                    };
                    scatter::<V>(vc, a, sw.vy, r0, c, D, k);
                }
                if want_f && let Some(fo) = sw.f_out.as_deref_mut() {
                    for (i, &fi) in f[b].iter().enumerate() {
                        scatter::<V>(vc, fi, fo, r0, c, D, i);
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
                    rows >= lanes,
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

    /// The instruction sets this CPU has: every test runs the kernels on each of them.
    fn isas() -> Vec<Isa> {
        let isas: Vec<Isa> = Isa::ALL.into_iter().filter(|i| i.available()).collect();
        eprintln!("instruction sets tested: {isas:?}");
        isas
    }

    #[test]
    fn fused_kernels_equal_the_layer_at_a_time_path_f64() {
        for isa in isas() {
            let worst = simd::on_this_thread(isa, compare::<f64>).unwrap();
            assert!(worst <= 1e-14, "f64 on {isa:?}: {worst:e}");
        }
    }

    #[test]
    fn fused_kernels_equal_the_layer_at_a_time_path_f32() {
        for isa in isas() {
            let worst = simd::on_this_thread(isa, compare::<f32>).unwrap();
            assert!(worst <= 2e-6, "f32 on {isa:?}: {worst:e}");
        }
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
        for isa in isas() {
            for n in [net, net.layer_at_a_time()] {
                let mut f = vec![0.0; rows * 2];
                simd::on_this_thread(isa, || n.forward(0.0, &ys, &mut f, &mut work, false))
                    .unwrap();
                for (r, row) in f.chunks(2).enumerate() {
                    assert_eq!(
                        row.iter().any(|v| v.is_nan()),
                        r == 9,
                        "{isa:?}, row {r}: {row:?}"
                    );
                }
            }
        }
    }

    /// Networks outside the fused kernels' reach are refused by [`Shape::of`].
    #[test]
    fn shapes_outside_the_kernels_are_refused() {
        let three_hidden = Mlp::random(&[2, 8, 8, 8, 2], Activation::Tanh, false, 1.0, 1);
        let wide_first = Mlp::random(&[2, 65, 8, 2], Activation::Tanh, false, 1.0, 1);
        let relu = Mlp::random(&[2, 8, 2], Activation::Relu, false, 1.0, 1);
        let wide = Mlp::random(&[5, 8, 5], Activation::Tanh, false, 1.0, 1);
        for m in [&three_hidden, &wide_first, &relu, &wide] {
            assert!(Shape::of(m).is_none(), "{:?}", m.sizes);
        }
        let toy = Mlp::random(&[2, 64, 2], Activation::Tanh, true, 1.0, 1);
        let sh = Shape::of(&toy).expect("2-64-2 tanh with time input");
        assert_eq!((sh.d, sh.n0, sh.h, sh.cube), (2, 3, 64, false));
        assert_eq!(sh.n_params(), toy.n_params());
        let circles = Mlp::random(&[3, 16, 16, 3], Activation::Tanh, false, 1.0, 1);
        let sh = Shape::of(&circles).expect("3-16-16-3 tanh");
        assert_eq!((sh.d, sh.n0, sh.h, sh.h2), (3, 3, 16, 16));
        assert_eq!(sh.n_params(), circles.n_params());
    }
}
