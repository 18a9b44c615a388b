//! The fused kernels of two hidden tanh layers (`d → H1 → H2 → d`, d ≤ 4, H1 ≤ [`MAX_H1`],
//! optional time input and cube input map): the classification tasks' 2+augment → 16 → 16 →
//! 2+augment field.
//!
//! As in the one-layer kernels ([`super`]), a block of `L` samples (one per vector lane) goes
//! through the whole network at once, and only the block's hidden vectors (`H1 + H2` vectors,
//! in L1) are kept between the layers. With `x = [m(y), t]`:
//! - forward: `s1 = tanh(b0 + W0 x)`, then the `H2 × H1` middle layer register-blocked, `R`
//!   outputs at a time (`R` accumulators, each `s1_k` loaded once and multiplied by `R`
//!   broadcast weights), `s2_j = tanh(b1_j + Σ_k W1_jk s1_k)`, and at once
//!   `f_i = b2_i + Σ_j W2_ij s2_j`;
//! - VJP from `v`: `δ2_j = (Σ_i v_i W2_ij)(1 − s2_j²)`, then `R` inputs of the middle layer at
//!   a time, `δ1_k = (Σ_j δ2_j W1_jk)(1 − s1_k²)`, and `(vᵀ∂f/∂y)_m = Σ_k δ1_k W0_km · m'(y_m)`;
//! - the θ-gradients are outer products summed over the samples, `∂W2 += v s2ᵀ`,
//!   `∂W1 += δ2 s1ᵀ`, `∂W0 += δ1 xᵀ` and `∂b = Σ δ`: the VJP keeps `x, v, s1, s2, δ1, δ2` of
//!   [`CHUNK`] blocks and then adds each product to per-lane accumulators (`P · L` values) in
//!   register tiles (`RA × RB` accumulators held over the chunk's blocks), so an accumulator is
//!   loaded and stored once per chunk, not once per block; the lanes are summed once at the end.
//!
//! Same formulas as the layer-at-a-time path ([`super::super::batched`]) in another summation
//! order; the tests below check they agree to 1e-14 (f64) and 2e-6 (f32) on every instruction
//! set of this CPU. The record of a forward pass holds `s1` then `s2` per block
//! (`⌈rows/L⌉ · L · (H1 + H2)` values, at most the `rows · 2(H1 + H2)` of the general record when
//! rows ≥ L).

use super::kernels::{gather, inputs, scatter};
use super::{Fused, Shape, Vector};
use crate::nn::simd::{Kernel, Lanes};

/// Calls `$f::<_, D, N0>` with the (d, n0) of `$sh` as constants.
macro_rules! by_shape {
    ($sh:expr, $f:ident, $($arg:expr),*) => {
        match ($sh.d, $sh.n0) {
            (1, 1) => $f::<_, 1, 1>($($arg),*),
            (1, 2) => $f::<_, 1, 2>($($arg),*),
            (2, 2) => $f::<_, 2, 2>($($arg),*),
            (2, 3) => $f::<_, 2, 3>($($arg),*),
            (3, 3) => $f::<_, 3, 3>($($arg),*),
            (3, 4) => $f::<_, 3, 4>($($arg),*),
            (4, 4) => $f::<_, 4, 4>($($arg),*),
            (4, 5) => $f::<_, 4, 5>($($arg),*),
            other => panic!("fused kernels: shape {other:?} not taken (Shape::of)"),
        }
    };
}

/// The widest first hidden layer the kernels take (its block of values lives on the stack in
/// the forward pass); wider networks run layer at a time.
pub const MAX_H1: usize = 64;

/// Blocks whose values the VJP keeps before adding their θ outer products.
const CHUNK: usize = 8;

/// Values of [`Fused::vjp`]'s scratch for `sh` at `lanes` lanes: the per-lane θ accumulators
/// and a chunk of blocks.
pub(super) fn scratch_len(sh: &Shape, lanes: usize) -> usize {
    (sh.n_params() + CHUNK * block_len(sh)) * lanes
}

/// Vectors kept per block of a chunk: `x, v, s1, s2, δ1, δ2`.
fn block_len(sh: &Shape) -> usize {
    sh.n0 + sh.d + 2 * (sh.h + sh.h2)
}

/// [`Fused::forward`] of a two-hidden-layer shape as a [`Kernel`].
pub(super) struct Forward<'a, T> {
    pub sh: &'a Shape,
    pub theta: &'a [T],
    pub t: T,
    pub ys: &'a [T],
    pub out: &'a mut [T],
    pub rec: Option<&'a mut [T]>,
}

impl<T: Fused> Kernel for Forward<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run<S: Lanes>(self, s: S) {
        let vc = T::vector(s);
        let Self {
            sh,
            theta,
            t,
            ys,
            out,
            rec,
        } = self;
        by_shape!(sh, forward_k, vc, sh, theta, t, ys, out, rec);
    }
}

/// [`Fused::vjp`] of a two-hidden-layer shape as a [`Kernel`].
pub(super) struct Vjp<'a, T> {
    pub sh: &'a Shape,
    pub theta: &'a [T],
    pub t: T,
    pub ys: &'a [T],
    pub rec: Option<&'a [T]>,
    pub vs: &'a [T],
    pub scale: T,
    pub f_out: Option<&'a mut [T]>,
    pub vy: &'a mut [T],
    pub gtheta: &'a mut [T],
    pub scratch: &'a mut Vec<T>,
}

impl<T: Fused> Kernel for Vjp<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run<S: Lanes>(self, s: S) {
        let vc = T::vector(s);
        let need = scratch_len(self.sh, <T::VectorOf<S> as Vector>::L);
        if self.scratch.len() < need {
            self.scratch.resize(need, T::default());
        }
        let sh = self.sh;
        by_shape!(sh, vjp_k, vc, self);
    }
}

/// θ split into its layers (the weights-file order W0, b0, W1, b1, W2, b2).
struct Layers<'a, T> {
    w0: &'a [T],
    b0: &'a [T],
    w1: &'a [T],
    b1: &'a [T],
    w2: &'a [T],
    b2: &'a [T],
}

impl<'a, T> Layers<'a, T> {
    fn of(sh: &Shape, theta: &'a [T]) -> Self {
        let (h1, h2, n0, d) = (sh.h, sh.h2, sh.n0, sh.d);
        assert!(
            h1 <= MAX_H1,
            "two-layer kernels: first hidden layer wider than {MAX_H1}"
        );
        assert_eq!(theta.len(), sh.n_params(), "parameter count");
        let (w0, rest) = theta.split_at(h1 * n0);
        let (b0, rest) = rest.split_at(h1);
        let (w1, rest) = rest.split_at(h2 * h1);
        let (b1, rest) = rest.split_at(h2);
        let (w2, b2) = rest.split_at(d * h2);
        Self {
            w0,
            b0,
            w1,
            b1,
            w2,
            b2,
        }
    }
}

/// One block through the network: `s1` into `s1p` (`h1` vectors), `s2` into `s2p` when given
/// (`h2` vectors), `f` returned.
///
/// # Safety
/// `s1p` points at `h1 · L` writable values, `s2p` at `h2 · L`; `ly` is [`Layers::of`] `sh`.
#[inline(always)]
unsafe fn forward_block<V: Vector, const D: usize, const N0: usize>(
    vc: V,
    sh: &Shape,
    ly: &Layers<'_, V::T>,
    x: &[V::V; N0],
    s1p: *mut V::T,
    s2p: Option<*mut V::T>,
) -> [V::V; D] {
    let (l, h1, h2) = (V::L, sh.h, sh.h2);
    // SAFETY (whole body): the layer slices have the lengths of `sh` (Layers::of), the
    // hidden blocks those of the caller's contract.
    unsafe {
        for k in 0..h1 {
            let mut z = vc.splat(*ly.b0.get_unchecked(k));
            for (m, &xm) in x.iter().enumerate() {
                z = vc.fma(xm, vc.splat(*ly.w0.get_unchecked(k * N0 + m)), z);
            }
            vc.store(s1p.add(k * l), vc.tanh(z));
        }
        let mut f = [vc.zero(); D];
        for (i, fi) in f.iter_mut().enumerate() {
            *fi = vc.splat(*ly.b2.get_unchecked(i));
        }
        let mut j = 0;
        if V::REGISTERS >= 32 {
            while j + 8 <= h2 {
                middle_tile::<V, D, 8>(vc, sh, ly, s1p, s2p, j, &mut f);
                j += 8;
            }
        }
        while j + 4 <= h2 {
            middle_tile::<V, D, 4>(vc, sh, ly, s1p, s2p, j, &mut f);
            j += 4;
        }
        while j < h2 {
            middle_tile::<V, D, 1>(vc, sh, ly, s1p, s2p, j, &mut f);
            j += 1;
        }
        f
    }
}

/// Middle-layer outputs `j0 … j0 + R − 1`: `s2_j = tanh(b1_j + Σ_k W1_jk s1_k)` (stored when
/// `s2p`), added into `f` through `W2`.
///
/// # Safety
/// As [`forward_block`], and `j0 + R ≤ h2`.
#[inline(always)]
unsafe fn middle_tile<V: Vector, const D: usize, const R: usize>(
    vc: V,
    sh: &Shape,
    ly: &Layers<'_, V::T>,
    s1p: *const V::T,
    s2p: Option<*mut V::T>,
    j0: usize,
    f: &mut [V::V; D],
) {
    let (l, h1, h2) = (V::L, sh.h, sh.h2);
    // SAFETY (whole body): j0 + R ≤ h2, k < h1, i < D: inside W1 (h2·h1), b1, W2 (D·h2) and
    // the hidden blocks.
    unsafe {
        let mut z = [vc.zero(); R];
        for (r, zr) in z.iter_mut().enumerate() {
            *zr = vc.splat(*ly.b1.get_unchecked(j0 + r));
        }
        for k in 0..h1 {
            let s = vc.load(s1p.add(k * l));
            for (r, zr) in z.iter_mut().enumerate() {
                *zr = vc.fma(s, vc.splat(*ly.w1.get_unchecked((j0 + r) * h1 + k)), *zr);
            }
        }
        for (r, &zr) in z.iter().enumerate() {
            let s2 = vc.tanh(zr);
            if let Some(p) = s2p {
                vc.store(p.add((j0 + r) * l), s2);
            }
            for (i, fi) in f.iter_mut().enumerate() {
                *fi = vc.fma(s2, vc.splat(*ly.w2.get_unchecked(i * h2 + j0 + r)), *fi);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward_k<V: Vector, const D: usize, const N0: usize>(
    vc: V,
    sh: &Shape,
    theta: &[V::T],
    t: V::T,
    ys: &[V::T],
    out: &mut [V::T],
    mut rec: Option<&mut [V::T]>,
) {
    let (l, h1, h2) = (V::L, sh.h, sh.h2);
    let rows = ys.len() / D;
    assert!(out.len() >= rows * D);
    let ly = Layers::of(sh, theta);
    let per = (h1 + h2) * l;
    if let Some(r) = rec.as_deref() {
        assert!(r.len() >= rows.div_ceil(l) * per, "fused record too short");
    }
    // s1 of a block without a record (MAX_H1 vectors of at most 16 lanes).
    let mut s1_buf = [V::T::default(); MAX_H1 * 16];
    for (blk, r0) in (0..rows).step_by(l).enumerate() {
        let c = l.min(rows - r0);
        let (x, _) = inputs::<V, D, N0>(vc, ys, r0, c, t, sh.cube);
        let (s1p, s2p) = match rec.as_deref_mut() {
            Some(r) => {
                let b = r[blk * per..(blk + 1) * per].as_mut_ptr();
                // SAFETY: the block's record holds h1·l then h2·l values.
                (b, Some(unsafe { b.add(h1 * l) }))
            }
            None => (s1_buf.as_mut_ptr(), None),
        };
        // SAFETY: s1p has h1·l ≤ MAX_H1·16 values (Layers::of asserts h1 ≤ MAX_H1), s2p
        // h2·l (the record block).
        let f = unsafe { forward_block::<V, D, N0>(vc, sh, &ly, &x, s1p, s2p) };
        for (i, &fi) in f.iter().enumerate() {
            scatter::<V>(vc, fi, out, r0, c, D, i);
        }
    }
}

#[inline(always)]
fn vjp_k<V: Vector, const D: usize, const N0: usize>(vc: V, a: Vjp<'_, V::T>)
where
    V::T: Fused,
{
    let Vjp {
        sh,
        theta,
        t,
        ys,
        rec,
        vs,
        scale,
        mut f_out,
        vy,
        gtheta,
        scratch,
    } = a;
    let (l, h1, h2) = (V::L, sh.h, sh.h2);
    let rows = ys.len() / D;
    let p = theta.len();
    let ly = Layers::of(sh, theta);
    assert!(vs.len() >= rows * D && vy.len() >= rows * D && gtheta.len() >= p);
    if let Some(f) = f_out.as_deref() {
        assert!(f.len() >= rows * D);
    }
    let per = (h1 + h2) * l;
    if let Some(r) = rec {
        assert!(r.len() >= rows.div_ceil(l) * per, "fused record too short");
    }
    let want_f = f_out.is_some() && rec.is_none();
    let bl = block_len(sh) * l;
    let (acc, chunk) = scratch.split_at_mut(p * l);
    let chunk = &mut chunk[..CHUNK * bl];
    acc.fill(V::T::default());
    let accp = acc.as_mut_ptr();
    // Offsets in θ (and in the accumulators, times l).
    let o_b0 = h1 * N0;
    let o_w1 = o_b0 + h1;
    let o_b1 = o_w1 + h2 * h1;
    let o_w2 = o_b1 + h2;
    let o_b2 = o_w2 + D * h2;
    // Offsets in a chunk block.
    let (c_x, c_v, c_s1, c_s2) = (0, N0 * l, (N0 + D) * l, (N0 + D + h1) * l);
    let (c_d1, c_d2) = (c_s2 + h2 * l, c_s2 + (h2 + h1) * l);
    let blocks = rows.div_ceil(l);
    let cp = chunk.as_mut_ptr();
    let mut g0 = 0;
    while g0 < blocks {
        let nb = CHUNK.min(blocks - g0);
        let mut s1s = [cp.cast_const(); CHUNK];
        let mut s2s = [cp.cast_const(); CHUNK];
        let mut xs = [cp.cast_const(); CHUNK];
        let mut v_s = [cp.cast_const(); CHUNK];
        let mut d1s = [cp.cast_const(); CHUNK];
        let mut d2s = [cp.cast_const(); CHUNK];
        for b in 0..nb {
            let blk = g0 + b;
            let r0 = blk * l;
            let c = l.min(rows - r0);
            // SAFETY (whole block body): b < CHUNK, so the block's region (bl values) is inside
            // the chunk; record blocks were checked above; the layer slices have the lengths
            // of `sh`.
            unsafe {
                let region = cp.add(b * bl);
                let (x, y) = inputs::<V, D, N0>(vc, ys, r0, c, t, sh.cube);
                for (m, &xm) in x.iter().enumerate() {
                    vc.store(region.add(c_x + m * l), xm);
                }
                let mut v = [vc.zero(); D];
                for (i, vi) in v.iter_mut().enumerate() {
                    *vi = gather::<V>(vc, vs, r0, c, D, i);
                    vc.store(region.add(c_v + i * l), *vi);
                }
                let (s1p, s2p) = match rec {
                    Some(r) => {
                        let s1p = r.as_ptr().add(blk * per);
                        (s1p, s1p.add(h1 * l))
                    }
                    None => {
                        let (s1p, s2p) = (region.add(c_s1), region.add(c_s2));
                        let f = forward_block::<V, D, N0>(vc, sh, &ly, &x, s1p, Some(s2p));
                        if want_f && let Some(fo) = f_out.as_deref_mut() {
                            for (i, &fi) in f.iter().enumerate() {
                                scatter::<V>(vc, fi, fo, r0, c, D, i);
                            }
                        }
                        (s1p.cast_const(), s2p.cast_const())
                    }
                };
                let (d1p, d2p) = (region.add(c_d1), region.add(c_d2));
                // δ2_j = (Σ_i v_i W2_ij)(1 − s2_j²)
                for j in 0..h2 {
                    let mut g = vc.zero();
                    for (i, &vi) in v.iter().enumerate() {
                        g = vc.fma(vi, vc.splat(*ly.w2.get_unchecked(i * h2 + j)), g);
                    }
                    let s = vc.load(s2p.add(j * l));
                    vc.store(d2p.add(j * l), vc.fnma(vc.mul(g, s), s, g));
                }
                // δ1_k = (Σ_j δ2_j W1_jk)(1 − s1_k²), and vᵀ∂f/∂m(y) = Σ_k δ1_k W0_k·
                let mut vya = [vc.zero(); D];
                let mut k = 0;
                if V::REGISTERS >= 32 {
                    while k + 8 <= h1 {
                        back_tile::<V, D, N0, 8>(vc, sh, &ly, s1p, d2p, d1p, k, &mut vya);
                        k += 8;
                    }
                }
                while k + 4 <= h1 {
                    back_tile::<V, D, N0, 4>(vc, sh, &ly, s1p, d2p, d1p, k, &mut vya);
                    k += 4;
                }
                while k < h1 {
                    back_tile::<V, D, N0, 1>(vc, sh, &ly, s1p, d2p, d1p, k, &mut vya);
                    k += 1;
                }
                for (m, &a) in vya.iter().enumerate() {
                    let a = if sh.cube {
                        let ym = y[m];
                        vc.mul(a, vc.mul(vc.splat(V::THREE), vc.mul(ym, ym)))
                    } else {
                        a
                    };
                    scatter::<V>(vc, a, vy, r0, c, D, m);
                }
                s1s[b] = s1p;
                s2s[b] = s2p;
                xs[b] = region.add(c_x);
                v_s[b] = region.add(c_v);
                d1s[b] = d1p;
                d2s[b] = d2p;
            }
        }
        // SAFETY: every product's accumulators lie inside the P·l accumulators (the offsets
        // of θ's layers), its vectors inside the chunk's blocks or the record.
        unsafe {
            outer(
                vc,
                accp.add(o_w2 * l),
                accp.add(o_b2 * l),
                &v_s,
                D,
                &s2s,
                h2,
                nb,
            );
            outer(
                vc,
                accp.add(o_w1 * l),
                accp.add(o_b1 * l),
                &d2s,
                h2,
                &s1s,
                h1,
                nb,
            );
            outer(vc, accp, accp.add(o_b0 * l), &d1s, h1, &xs, N0, nb);
        }
        g0 += nb;
    }
    for (pi, g) in gtheta[..p].iter_mut().enumerate() {
        // SAFETY: pi·l + l ≤ p·l = acc.len().
        *g += scale * unsafe { vc.hsum(vc.load(acc.as_ptr().add(pi * l))) };
    }
}

/// Middle-layer inputs `k0 … k0 + R − 1` of the reverse pass: `g_k = Σ_j δ2_j W1_jk`,
/// `δ1_k = g_k (1 − s1_k²)` stored at `d1p`, and `Σ_k δ1_k W0_km` added to `vya`.
///
/// # Safety
/// `s1p`, `d1p` hold `h1` vectors, `d2p` `h2`; `k0 + R ≤ h1`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn back_tile<V: Vector, const D: usize, const N0: usize, const R: usize>(
    vc: V,
    sh: &Shape,
    ly: &Layers<'_, V::T>,
    s1p: *const V::T,
    d2p: *const V::T,
    d1p: *mut V::T,
    k0: usize,
    vya: &mut [V::V; D],
) {
    let (l, h1, h2) = (V::L, sh.h, sh.h2);
    // SAFETY (whole body): j < h2, k0 + r < h1, m < D ≤ N0: inside W1, W0 and the blocks.
    unsafe {
        let mut g = [vc.zero(); R];
        for j in 0..h2 {
            let d = vc.load(d2p.add(j * l));
            for (r, gr) in g.iter_mut().enumerate() {
                *gr = vc.fma(d, vc.splat(*ly.w1.get_unchecked(j * h1 + k0 + r)), *gr);
            }
        }
        for (r, &gr) in g.iter().enumerate() {
            let k = k0 + r;
            let s = vc.load(s1p.add(k * l));
            let delta = vc.fnma(vc.mul(gr, s), s, gr);
            vc.store(d1p.add(k * l), delta);
            for (m, a) in vya.iter_mut().enumerate() {
                *a = vc.fma(delta, vc.splat(*ly.w0.get_unchecked(k * N0 + m)), *a);
            }
        }
    }
}

/// Over the first `nb` blocks: `G_ab += Σ A_a B_b` (per lane; G row-major `na × nbn` at `gw`)
/// and `g_a += Σ A_a` (at `gb`), where block i's `A` vectors start at `a[i]`, its `B` at `b[i]`.
///
/// # Safety
/// `gw` holds `na · nbn` vectors, `gb` `na`; every `a[i]` `na` vectors, every `b[i]` `nbn`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn outer<V: Vector>(
    vc: V,
    gw: *mut V::T,
    gb: *mut V::T,
    a: &[*const V::T; CHUNK],
    na: usize,
    b: &[*const V::T; CHUNK],
    nbn: usize,
    nb: usize,
) {
    let l = V::L;
    // SAFETY (whole body): the tiles stay inside na × nbn; the caller's contract.
    unsafe {
        for ia in 0..na {
            let q = gb.add(ia * l);
            let mut sum = vc.load(q);
            for ap in &a[..nb] {
                sum = vc.add(sum, vc.load(ap.add(ia * l)));
            }
            vc.store(q, sum);
        }
        let mut ia = 0;
        while ia + 4 <= na {
            if V::REGISTERS >= 32 {
                outer_row::<V, 4, 4>(vc, gw, a, b, nbn, nb, ia);
            } else {
                outer_row::<V, 4, 2>(vc, gw, a, b, nbn, nb, ia);
            }
            ia += 4;
        }
        while ia < na {
            outer_row::<V, 1, 2>(vc, gw, a, b, nbn, nb, ia);
            ia += 1;
        }
    }
}

/// Rows `ia … ia + RA − 1` of [`outer`]'s `G`, `RB` columns at a time (then one at a time).
///
/// # Safety
/// As [`outer`], and `ia + RA ≤ na`.
#[inline(always)]
unsafe fn outer_row<V: Vector, const RA: usize, const RB: usize>(
    vc: V,
    gw: *mut V::T,
    a: &[*const V::T; CHUNK],
    b: &[*const V::T; CHUNK],
    nbn: usize,
    nb: usize,
    ia: usize,
) {
    let mut ib = 0;
    // SAFETY: the caller's contract.
    unsafe {
        while ib + RB <= nbn {
            outer_tile::<V, RA, RB>(vc, gw, a, b, nbn, nb, ia, ib);
            ib += RB;
        }
        while ib < nbn {
            outer_tile::<V, RA, 1>(vc, gw, a, b, nbn, nb, ia, ib);
            ib += 1;
        }
    }
}

/// The `RA × RB` tile of [`outer`]'s `G` at (ia, ib), held in registers over the blocks.
///
/// # Safety
/// As [`outer`], and the tile inside `na × nbn`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn outer_tile<V: Vector, const RA: usize, const RB: usize>(
    vc: V,
    gw: *mut V::T,
    a: &[*const V::T; CHUNK],
    b: &[*const V::T; CHUNK],
    nbn: usize,
    nb: usize,
    ia: usize,
    ib: usize,
) {
    let l = V::L;
    // SAFETY: the caller's contract.
    unsafe {
        let mut g = [[vc.zero(); RB]; RA];
        for (ra, row) in g.iter_mut().enumerate() {
            for (rb, x) in row.iter_mut().enumerate() {
                *x = vc.load(gw.add(((ia + ra) * nbn + ib + rb) * l));
            }
        }
        for i in 0..nb {
            let mut bv = [vc.zero(); RB];
            for (rb, x) in bv.iter_mut().enumerate() {
                *x = vc.load(b[i].add((ib + rb) * l));
            }
            for (ra, row) in g.iter_mut().enumerate() {
                let av = vc.load(a[i].add((ia + ra) * l));
                for (x, &bb) in row.iter_mut().zip(&bv) {
                    *x = vc.fma(av, bb, *x);
                }
            }
        }
        for (ra, row) in g.iter().enumerate() {
            for (rb, &x) in row.iter().enumerate() {
                vc.store(gw.add(((ia + ra) * nbn + ib + rb) * l), x);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::simd::{self, Isa};
    use crate::nn::{Activation, BatchWork, BatchedMlp, InputMap, Mlp, Real};

    /// (state dim, first and second hidden widths, time input, cube input map).
    const SHAPES: [(usize, usize, usize, bool, bool); 5] = [
        (3, 16, 16, false, false),
        (2, 16, 16, true, false),
        (1, 5, 3, true, false),
        (4, 7, 9, false, true),
        (2, 13, 6, true, true),
    ];
    /// Fewer rows than lanes (layer at a time), partial blocks, more than one chunk.
    const ROWS: [usize; 6] = [3, 8, 13, 37, 75, 256];

    fn net(d: usize, h1: usize, h2: usize, time: bool, cube: bool, seed: u64) -> Mlp {
        let mut mlp = Mlp::random(&[d, h1, h2, d], Activation::Tanh, time, 1.5, seed);
        if cube {
            mlp.input_map = InputMap::Cube;
        }
        mlp
    }

    fn values(n: usize, seed: u64, s: f64) -> Vec<f64> {
        (0..n)
            .map(|i| {
                let x = ((i as f64 + 1.0) * 0.618_033_988_75 + seed as f64 * 0.414_213_562).fract();
                s * (2.0 * x - 1.0)
            })
            .collect()
    }

    /// Largest |a − b| relative to the largest |b|.
    fn rel_diff<T: Real>(a: &[T], b: &[T]) -> f64 {
        assert_eq!(a.len(), b.len());
        let scale = b
            .iter()
            .map(|v| Real::to_f64(*v).abs())
            .fold(0.0, f64::max)
            .max(1e-300);
        a.iter()
            .zip(b)
            .map(|(x, y)| (Real::to_f64(*x) - Real::to_f64(*y)).abs())
            .fold(0.0, f64::max)
            / scale
    }

    /// Forward, one-call VJP and recorded VJP on both paths; the worst relative difference.
    fn compare<T: Real>() -> f64 {
        let mut worst = 0.0f64;
        for (si, &(d, h1, h2, time, cube)) in SHAPES.iter().enumerate() {
            let mlp = net(d, h1, h2, time, cube, 3 + si as u64);
            let sh = Shape::of(&mlp).expect("a two-hidden-layer tanh network");
            assert_eq!((sh.h, sh.h2), (h1, h2));
            assert_eq!(sh.n_params(), mlp.n_params());
            let params = mlp.params_as::<T>();
            let fused = BatchedMlp::new(&mlp, &params);
            let plain = fused.layer_at_a_time();
            for &rows in &ROWS {
                assert_eq!(fused.fused_shape(rows).is_some(), rows >= T::lanes());
                let of = |v: Vec<f64>| v.into_iter().map(T::of).collect::<Vec<T>>();
                let ys = of(values(rows * d, 1 + rows as u64, 1.3));
                let vs = of(values(rows * d, 2 + rows as u64, 0.8));
                let (t, scale) = (T::of(0.37), T::of(0.5));
                let (m, p) = (rows * d, mlp.n_params());
                let mut works = [BatchWork::<T>::new(&mlp, rows), BatchWork::new(&mlp, rows)];
                let mut f = [vec![T::zero(); m], vec![T::zero(); m]];
                for (k, n) in [fused, plain].iter().enumerate() {
                    n.forward(t, &ys, &mut f[k], &mut works[k], false);
                }
                worst = worst.max(rel_diff(&f[0], &f[1]));
                let mut vy = [vec![T::zero(); m], vec![T::zero(); m]];
                let mut g = [vec![T::of(0.25); p], vec![T::of(0.25); p]];
                for (k, n) in [fused, plain].iter().enumerate() {
                    f[k].fill(T::zero());
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
                let rl = BatchedMlp::<T>::record_len(&mlp);
                let mut rec = [vec![T::zero(); rows * rl], vec![T::zero(); rows * rl]];
                let mut g2 = [vec![T::zero(); p], vec![T::zero(); p]];
                for (k, n) in [fused, plain].iter().enumerate() {
                    f[k].fill(T::zero());
                    n.forward_recording(t, &ys, &mut f[k], &mut rec[k], &mut works[k]);
                    vy[k].fill(T::zero());
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
            }
        }
        worst
    }

    fn isas() -> Vec<Isa> {
        let isas: Vec<Isa> = Isa::ALL.into_iter().filter(|i| i.available()).collect();
        eprintln!("instruction sets tested: {isas:?}");
        assert!(isas.contains(&Isa::Scalar));
        isas
    }

    #[test]
    fn two_layer_kernels_equal_the_layer_at_a_time_path_f64() {
        for isa in isas() {
            let worst = simd::on_this_thread(isa, compare::<f64>).unwrap();
            assert!(worst <= 1e-14, "f64 on {isa:?}: {worst:e}");
        }
    }

    #[test]
    fn two_layer_kernels_equal_the_layer_at_a_time_path_f32() {
        for isa in isas() {
            let worst = simd::on_this_thread(isa, compare::<f32>).unwrap();
            assert!(worst <= 2e-6, "f32 on {isa:?}: {worst:e}");
        }
    }

    /// The kernels and the reference differ in summation order only: a wrong index in either
    /// shows up as an O(1) difference, which this test can see (a perturbed W1 entry).
    #[test]
    fn a_changed_middle_weight_is_seen() {
        let mlp = net(3, 16, 16, false, false, 9);
        let mut other = mlp.clone();
        other.params[mlp.layer_offset(1) + 5 * 16 + 11] += 0.5;
        let rows = 32;
        let ys = values(rows * 3, 4, 1.0);
        let (mut f, mut g) = (vec![0.0; rows * 3], vec![0.0; rows * 3]);
        let mut work = BatchWork::new(&mlp, rows);
        mlp.batched().forward(0.0, &ys, &mut f, &mut work, false);
        other
            .batched()
            .layer_at_a_time()
            .forward(0.0, &ys, &mut g, &mut work, false);
        assert!(rel_diff(&f, &g) > 1e-3);
    }

    /// A NaN state spoils its own row only, on every set.
    #[test]
    fn a_nan_row_stays_in_its_row() {
        let mlp = net(3, 16, 16, false, false, 3);
        let rows = 20;
        let mut ys = values(rows * 3, 5, 1.0);
        ys[3 * 9 + 1] = f64::NAN;
        let mut work = BatchWork::new(&mlp, rows);
        for isa in isas() {
            let mut f = vec![0.0; rows * 3];
            simd::on_this_thread(isa, || {
                mlp.batched().forward(0.0, &ys, &mut f, &mut work, false)
            })
            .unwrap();
            for (r, row) in f.chunks(3).enumerate() {
                assert_eq!(row.iter().any(|v| v.is_nan()), r == 9, "{isa:?} row {r}");
            }
        }
    }
}
