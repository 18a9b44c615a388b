//! Multi-layer perceptron vector field and its weights file.
//!
//! `f(y) = W_L σ(… σ(W_1 x + b_1) …) + b_L`, with `x = m(y)` or, when `time_input` is set,
//! `x = [m(y), t]`, where the input map `m` is the identity or the componentwise cube
//! `m(y) = y∘y∘y` (the classic spiral demo's network sees y³). The weights file is JSON:
//!
//! ```json
//! {"activation": "tanh", "time_input": false, "input_map": "identity",
//!  "layers": [{"weight": [[…], …], "bias": […]}, …]}
//! ```
//!
//! `input_map` is optional (default `identity`).
//!
//! `weight` is stored `[out][in]`. The flat parameter vector θ lists, layer by layer, the weight
//! row-major and then the bias; every gradient nodelab reports uses this order.

use serde::{Deserialize, Serialize};

/// Hidden-layer nonlinearity σ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Tanh,
    Softplus,
    Relu,
    Sigmoid,
    Identity,
}

impl Activation {
    pub const ALL: [Activation; 5] = [
        Activation::Tanh,
        Activation::Softplus,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Identity,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Activation::Tanh => "tanh",
            Activation::Softplus => "softplus",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Identity => "identity",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// σ(x).
    #[inline]
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Activation::Tanh => tanh_fast(x),
            // log(1 + e^x) without overflow: max(x, 0) + log1p(e^{-|x|}).
            Activation::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
            Activation::Relu => x.max(0.0),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Activation::Identity => x,
        }
    }

    /// σ applied in place to every element of `z` (vectorised for tanh).
    #[inline]
    pub fn apply_slice(self, z: &mut [f64]) {
        match self {
            Activation::Tanh => tanh_slice(z),
            _ => {
                for v in z.iter_mut() {
                    *v = self.apply(*v);
                }
            }
        }
    }

    /// σ'(x) expressed through `x` and `s = σ(x)` (whichever is cheaper).
    #[inline]
    pub fn derivative(self, x: f64, s: f64) -> f64 {
        match self {
            Activation::Tanh => 1.0 - s * s,
            Activation::Softplus => 1.0 / (1.0 + (-x).exp()),
            Activation::Relu => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Sigmoid => s * (1.0 - s),
            Activation::Identity => 1.0,
        }
    }

    /// σ''(x) expressed through `x` and `s = σ(x)`.
    #[inline]
    pub fn second_derivative(self, x: f64, s: f64) -> f64 {
        match self {
            Activation::Tanh => -2.0 * s * (1.0 - s * s),
            Activation::Softplus => {
                let g = 1.0 / (1.0 + (-x).exp());
                g * (1.0 - g)
            }
            Activation::Relu | Activation::Identity => 0.0,
            Activation::Sigmoid => s * (1.0 - s) * (1.0 - 2.0 * s),
        }
    }
}

/// tanh with an error of a few ulp (checked ≤ 6 ulp against `f64::tanh` in the tests), written
/// without branches so that loops over slices vectorise (the hidden layers' tanh dominates the
/// cost of an MLP evaluation).
///
/// `tanh(a) = E/(E + 2)` with `E = e^{2a} − 1` for `a = |x|` capped at 20 (where tanh is 1 to
/// double precision), then the sign of x. `E` avoids the cancellation of `e^{2a} − 1` at small
/// a: with `2a = k ln2 + r`, `|r| ≤ ln2/2`, `E = 2^k (e^r − 1) + (2^k − 1)`, and `e^r − 1 =
/// r(1 + r/2! + … + r¹²/13!)` (Taylor remainder below 5e-18 relative). NaN propagates.
#[inline(always)]
pub fn tanh_fast(x: f64) -> f64 {
    const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5·2^52: adding it rounds to an integer.
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000); // fdlibm ln2_hi
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76); // fdlibm ln2_lo
    let a = x.abs().min(20.0);
    let y = 2.0 * a;
    let shifted = y * std::f64::consts::LOG2_E + MAGIC;
    let kf = shifted - MAGIC;
    let kbits = shifted.to_bits().wrapping_sub(MAGIC.to_bits());
    let r = (y - kf * LN2_HI) - kf * LN2_LO;
    let mut q = 1.0 / 6_227_020_800.0; // 1/13!
    for c in [
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
    ] {
        q = q * r + c;
    }
    let scale = f64::from_bits(kbits.wrapping_add(1023) << 52);
    let em1 = scale * (r * q) + (scale - 1.0);
    let t = (em1 / (em1 + 2.0)).copysign(x);
    if x.is_nan() { x } else { t }
}

/// [`tanh_fast`] over a slice, with an AVX-512 or AVX2 build of the loop chosen at run time.
pub fn tanh_slice(z: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above).
            unsafe { tanh_slice_avx512(z) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            unsafe { tanh_slice_avx2(z) };
            return;
        }
    }
    for v in z.iter_mut() {
        *v = tanh_fast(*v);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tanh_slice_avx2(z: &mut [f64]) {
    for v in z.iter_mut() {
        *v = tanh_fast(*v);
    }
}

/// tanh eight lanes at a time ([`tanh_pd8`]), in as few FMA-pipe instructions as AVX-512
/// allows (the loop is bound by the vector unit's throughput, not by latency).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tanh_slice_avx512(z: &mut [f64]) {
    use std::arch::x86_64::*;
    let chunks = z.len() / 8;
    for i in 0..chunks {
        // SAFETY: 8·i + 8 ≤ len, so the eight lanes at p are inside `z`.
        let p = unsafe { z.as_mut_ptr().add(8 * i) };
        // SAFETY: as above (unaligned load and store of eight f64 inside `z`); AVX-512F is
        // enabled on this function.
        unsafe { _mm512_storeu_pd(p, tanh_pd8(_mm512_loadu_pd(p))) };
    }
    for v in z[8 * chunks..].iter_mut() {
        *v = tanh_fast(*v);
    }
}

/// One vector of [`tanh_slice_avx512`]: tanh of eight f64 lanes (also the fused kernels' tanh,
/// [`super::fused`]). `E = e^{2a} − 1` by a table of `2^{j/8}` (the usual exp reduction,
/// e.g. Tang's, with 8 entries so that one `vpermpd` holds them):
/// - `a = min(20, |x|)` (operand order keeps NaN lanes NaN), `2a = n ln2/8 + r`, |r| ≤ ln2/16,
///   `n = 8k + j`, with ln2/8 split in two parts so that `n · hi` is exact;
/// - `2^{j/8} = T_j + t_j` (hi + lo, both rounded from 60-digit values), `S = 2^k T_j` and
///   `s = 2^k t_j` by `vscalefpd` (it scales by `2^⌊n/8⌋`);
/// - `e^r − 1 = r(1 + r/2! + … + r⁷/8!)`, Taylor remainder below `r⁸/9!` < 4e-17 relative;
/// - `E = S (e^r − 1) + ((S − 1) + s)`: exact `S − 1` near 0, so small |x| keep full relative
///   accuracy;
/// - `tanh = E/(E + 2)` by `vdivpd` (the divider runs beside the FMA pipes; the reciprocal
///   estimate and two Newton steps it replaces cost five FMA slots), sign of x put back by one
///   ternary-logic instruction, `t | (x & sign)`.
///
/// Within 6 ulp of libm's tanh (the tests; measured 2.3).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) fn tanh_pd8(x: std::arch::x86_64::__m512d) -> std::arch::x86_64::__m512d {
    use std::arch::x86_64::*;
    const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5·2^52: adding it rounds to an integer.
    const LN2_8_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000) / 8.0;
    const LN2_8_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76) / 8.0;
    /// `2^{j/8}`, rounded, and the rounding error (hi + lo).
    const T_HI: [u64; 8] = [
        0x3ff0_0000_0000_0000,
        0x3ff1_72b8_3c7d_517b,
        0x3ff3_06fe_0a31_b715,
        0x3ff4_bfda_d536_2a27,
        0x3ff6_a09e_667f_3bcd,
        0x3ff8_ace5_422a_a0db,
        0x3ffa_e89f_995a_d3ad,
        0x3ffd_5818_dcfb_a487,
    ];
    const T_LO: [u64; 8] = [
        0x0,
        0xbc81_9041_b9d7_8a76,
        0x3c86_f46a_d231_82e4,
        0x3c7d_4397_afec_42e2,
        0xbc9b_dd34_13b2_6456,
        0x3c96_e9f1_5686_4b27,
        0x3c97_a1cd_345d_cc81,
        0x3c82_ed02_d75b_3707,
    ];
    /// `1/(i+1)!` for i = 7 … 0: `q(r) = 1 + r/2! + … + r⁷/8!`.
    const Q: [f64; 8] = [
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
    ];
    // Truth table of `a | (b & c)` for vpternlogq (bit index 4a + 2b + c).
    const A_OR_B_AND_C: i32 = 0xF8;
    let bits = |t: [u64; 8]| {
        _mm512_castsi512_pd(_mm512_set_epi64(
            t[7] as i64,
            t[6] as i64,
            t[5] as i64,
            t[4] as i64,
            t[3] as i64,
            t[2] as i64,
            t[1] as i64,
            t[0] as i64,
        ))
    };
    let magic = _mm512_set1_pd(MAGIC);
    let one = _mm512_set1_pd(1.0);
    let a = _mm512_min_pd(_mm512_set1_pd(20.0), _mm512_abs_pd(x));
    let y = _mm512_add_pd(a, a);
    let shifted = _mm512_fmadd_pd(y, _mm512_set1_pd(8.0 * std::f64::consts::LOG2_E), magic);
    let n = _mm512_sub_pd(shifted, magic);
    let r = _mm512_fnmadd_pd(n, _mm512_set1_pd(LN2_8_HI), y);
    let r = _mm512_fnmadd_pd(n, _mm512_set1_pd(LN2_8_LO), r);
    // vpermpd reads the low three bits of each index lane: j = n mod 8.
    let j = _mm512_castpd_si512(shifted);
    let k = _mm512_mul_pd(n, _mm512_set1_pd(0.125));
    let s_hi = _mm512_scalef_pd(_mm512_permutexvar_pd(j, bits(T_HI)), k);
    let s_lo = _mm512_scalef_pd(_mm512_permutexvar_pd(j, bits(T_LO)), k);
    let mut q = _mm512_set1_pd(Q[0]);
    for c in &Q[1..] {
        q = _mm512_fmadd_pd(q, r, _mm512_set1_pd(*c));
    }
    let em1 = _mm512_fmadd_pd(
        s_hi,
        _mm512_mul_pd(r, q),
        _mm512_add_pd(_mm512_sub_pd(s_hi, one), s_lo),
    );
    let t = _mm512_div_pd(em1, _mm512_add_pd(em1, _mm512_set1_pd(2.0)));
    let t = _mm512_ternarylogic_epi64::<A_OR_B_AND_C>(
        _mm512_castpd_si512(t),
        _mm512_castpd_si512(x),
        _mm512_set1_epi64(i64::MIN),
    );
    _mm512_castsi512_pd(t)
}

/// [`tanh_fast`] in single precision, accurate to a few f32 ulp (checked against the f64 tanh
/// in the tests): `a = |x|` capped at 9.5 (where tanh is 1 in f32), `2a = k ln2 + r` with
/// fdlibm's f32 split of ln2, `e^r − 1 = r(1 + r/2! + … + r⁶/7!)` (Taylor remainder below
/// 2e-8 relative for |r| ≤ ln2/2), `E = 2^k (e^r − 1) + (2^k − 1)`, `tanh = E/(E + 2)` with the
/// sign of x. NaN propagates.
#[inline(always)]
pub fn tanh_fast_f32(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5·2^23: adding it rounds to an integer.
    const LN2_HI: f32 = f32::from_bits(0x3f31_7200); // fdlibm expf ln2HI
    const LN2_LO: f32 = f32::from_bits(0x35bf_be8e); // fdlibm expf ln2LO
    let a = x.abs().min(9.5);
    let y = 2.0 * a;
    let shifted = y * std::f32::consts::LOG2_E + MAGIC;
    let kf = shifted - MAGIC;
    let kbits = shifted.to_bits().wrapping_sub(MAGIC.to_bits());
    let r = (y - kf * LN2_HI) - kf * LN2_LO;
    let mut q = 1.0 / 5_040.0;
    for c in [1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0] {
        q = q * r + c;
    }
    let scale = f32::from_bits(kbits.wrapping_add(127) << 23);
    let em1 = scale * (r * q) + (scale - 1.0);
    let t = (em1 / (em1 + 2.0)).copysign(x);
    if x.is_nan() { x } else { t }
}

/// [`tanh_fast_f32`] over a slice: sixteen lanes at a time with AVX-512 (as
/// `tanh_slice_avx512`, one Newton step after the 14-bit reciprocal: 28 bits > f32's 24), else
/// the scalar formula compiled for AVX2 + FMA, chosen at run time.
pub fn tanh_slice_f32(z: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above).
            unsafe { tanh_slice_f32_avx512(z) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            unsafe { tanh_slice_f32_avx2(z) };
            return;
        }
    }
    for v in z.iter_mut() {
        *v = tanh_fast_f32(*v);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tanh_slice_f32_avx2(z: &mut [f32]) {
    for v in z.iter_mut() {
        *v = tanh_fast_f32(*v);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tanh_slice_f32_avx512(z: &mut [f32]) {
    use std::arch::x86_64::*;
    let chunks = z.len() / 16;
    for i in 0..chunks {
        // SAFETY: 16·i + 16 ≤ len, so the sixteen lanes at p are inside `z`.
        let p = unsafe { z.as_mut_ptr().add(16 * i) };
        // SAFETY: as above (unaligned load and store of sixteen f32 inside `z`); AVX-512F is
        // enabled on this function.
        unsafe { _mm512_storeu_ps(p, tanh_ps16(_mm512_loadu_ps(p))) };
    }
    for v in z[16 * chunks..].iter_mut() {
        *v = tanh_fast_f32(*v);
    }
}

/// One vector of [`tanh_slice_f32_avx512`]: tanh of sixteen f32 lanes, [`tanh_pd8`]'s scheme
/// with a 16-entry table (one `vpermps`): `2a = n ln2/16 + r`, |r| ≤ ln2/32,
/// `e^r − 1 = r(1 + r/2 + r²/6 + r³/24)` (remainder below `r⁴/120` < 2e-9 relative), `2^{j/16}` as f32
/// hi + lo, `a` capped at 9.5 (tanh rounds to 1 in f32 there), and `vdivps`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) fn tanh_ps16(x: std::arch::x86_64::__m512) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    const MAGIC: f32 = 12_582_912.0; // 1.5·2^23: adding it rounds to an integer.
    const LN2_16_HI: f32 = f32::from_bits(0x3f31_7200) / 16.0; // fdlibm expf ln2HI
    const LN2_16_LO: f32 = f32::from_bits(0x35bf_be8e) / 16.0; // fdlibm expf ln2LO
    /// `2^{j/16}`, rounded to f32, and the rounding error (hi + lo).
    const T_HI: [u32; 16] = [
        0x3f80_0000,
        0x3f85_aac3,
        0x3f8b_95c2,
        0x3f91_c3d3,
        0x3f98_37f0,
        0x3f9e_f532,
        0x3fa5_fed7,
        0x3fad_583f,
        0x3fb5_04f3,
        0x3fbd_08a4,
        0x3fc5_672a,
        0x3fce_248c,
        0x3fd7_44fd,
        0x3fe0_ccdf,
        0x3fea_c0c7,
        0x3ff5_257d,
    ];
    const T_LO: [u32; 16] = [
        0x0000_0000,
        0x334f_9891,
        0xb260_aba1,
        0x3367_5624,
        0x3323_1b71,
        0x3341_2342,
        0xb32c_9d5e,
        0xb22d_eaf6,
        0x32cf_e77a,
        0xb341_4fe8,
        0x320a_a837,
        0x3228_fc24,
        0xb2d4_a58a,
        0xb21e_ab59,
        0xb241_16de,
        0x3229_2436,
    ];
    // Truth table of `a | (b & c)` for vpternlogd (bit index 4a + 2b + c).
    const A_OR_B_AND_C: i32 = 0xF8;
    // SAFETY: each table is 16 u32 = one unaligned 512-bit load.
    let (t_hi, t_lo) = unsafe {
        (
            _mm512_loadu_ps(T_HI.as_ptr().cast()),
            _mm512_loadu_ps(T_LO.as_ptr().cast()),
        )
    };
    let magic = _mm512_set1_ps(MAGIC);
    let one = _mm512_set1_ps(1.0);
    // Operands in this order: a NaN lane stays NaN (see `tanh_pd8`).
    let a = _mm512_min_ps(_mm512_set1_ps(9.5), _mm512_abs_ps(x));
    let y = _mm512_add_ps(a, a);
    let shifted = _mm512_fmadd_ps(y, _mm512_set1_ps(16.0 * std::f32::consts::LOG2_E), magic);
    let n = _mm512_sub_ps(shifted, magic);
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_16_HI), y);
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_16_LO), r);
    // vpermps reads the low four bits of each index lane: j = n mod 16.
    let j = _mm512_castps_si512(shifted);
    let k = _mm512_mul_ps(n, _mm512_set1_ps(0.0625));
    let s_hi = _mm512_scalef_ps(_mm512_permutexvar_ps(j, t_hi), k);
    let s_lo = _mm512_scalef_ps(_mm512_permutexvar_ps(j, t_lo), k);
    let q = _mm512_fmadd_ps(r, _mm512_set1_ps(1.0 / 24.0), _mm512_set1_ps(1.0 / 6.0));
    let q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0.5));
    let q = _mm512_fmadd_ps(q, r, one);
    let em1 = _mm512_fmadd_ps(
        s_hi,
        _mm512_mul_ps(r, q),
        _mm512_add_ps(_mm512_sub_ps(s_hi, one), s_lo),
    );
    let t = _mm512_div_ps(em1, _mm512_add_ps(em1, _mm512_set1_ps(2.0)));
    let t = _mm512_ternarylogic_epi32::<A_OR_B_AND_C>(
        _mm512_castps_si512(t),
        _mm512_castps_si512(x),
        _mm512_set1_epi32(i32::MIN),
    );
    _mm512_castsi512_ps(t)
}

/// `Σ a_i b_i` with four partial sums (so that it vectorises).
#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..4 {
            acc[j] += x[j] * y[j];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// `out[r] = bias[r] + Σ_c W[r][c] x[c]`, W row-major `[out][in]`. Narrow inputs (the first
/// layer of a low-dimensional vector field) get an unrolled loop over the rows that vectorises.
#[inline]
fn affine_into(weight: &[f64], bias: &[f64], x: &[f64], out: &mut [f64]) {
    #[inline(always)]
    fn narrow<const N: usize>(weight: &[f64], bias: &[f64], x: &[f64], out: &mut [f64]) {
        let xv: [f64; N] = std::array::from_fn(|c| x[c]);
        for ((o, w), b) in out.iter_mut().zip(weight.chunks_exact(N)).zip(bias) {
            let mut z = *b;
            for c in 0..N {
                z += w[c] * xv[c];
            }
            *o = z;
        }
    }
    match x.len() {
        1 => narrow::<1>(weight, bias, x, out),
        2 => narrow::<2>(weight, bias, x, out),
        3 => narrow::<3>(weight, bias, x, out),
        4 => narrow::<4>(weight, bias, x, out),
        n => {
            for (r, o) in out.iter_mut().enumerate() {
                *o = bias[r] + dot(&weight[r * n..(r + 1) * n], x);
            }
        }
    }
}

/// Reverse pass through `z = W x + b`: `gW += scale·δ xᵀ`, `gb += scale·δ`, `δ_in = Wᵀ δ`.
#[inline]
fn affine_backward(
    weight: &[f64],
    x: &[f64],
    delta: &[f64],
    scale: f64,
    gw: &mut [f64],
    gb: &mut [f64],
    delta_in: &mut [f64],
) {
    #[inline(always)]
    fn narrow<const N: usize>(
        weight: &[f64],
        x: &[f64],
        delta: &[f64],
        scale: f64,
        gw: &mut [f64],
        gb: &mut [f64],
        delta_in: &mut [f64],
    ) {
        let xv: [f64; N] = std::array::from_fn(|c| x[c]);
        let mut acc = [0.0f64; N];
        for (((w, g), b), &dr) in weight
            .chunks_exact(N)
            .zip(gw.chunks_exact_mut(N))
            .zip(gb.iter_mut())
            .zip(delta)
        {
            let ds = scale * dr;
            *b += ds;
            for c in 0..N {
                g[c] += ds * xv[c];
                acc[c] += w[c] * dr;
            }
        }
        delta_in[..N].copy_from_slice(&acc);
    }
    let n_in = x.len();
    match n_in {
        1 => narrow::<1>(weight, x, delta, scale, gw, gb, delta_in),
        2 => narrow::<2>(weight, x, delta, scale, gw, gb, delta_in),
        3 => narrow::<3>(weight, x, delta, scale, gw, gb, delta_in),
        4 => narrow::<4>(weight, x, delta, scale, gw, gb, delta_in),
        _ => {
            for (r, &dr0) in delta.iter().enumerate() {
                let dr = scale * dr0;
                gb[r] += dr;
                for (g, xi) in gw[r * n_in..(r + 1) * n_in].iter_mut().zip(x) {
                    *g += dr * xi;
                }
            }
            let dn = &mut delta_in[..n_in];
            dn.fill(0.0);
            for (r, &dr) in delta.iter().enumerate() {
                for (o, wi) in dn.iter_mut().zip(&weight[r * n_in..(r + 1) * n_in]) {
                    *o += wi * dr;
                }
            }
        }
    }
}

/// The map applied to the state before the first layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputMap {
    /// `m(y) = y`.
    #[default]
    Identity,
    /// `m(y) = y∘y∘y`, `m'(y) = 3 y∘y`.
    Cube,
}

impl InputMap {
    pub const ALL: [InputMap; 2] = [InputMap::Identity, InputMap::Cube];

    pub fn name(self) -> &'static str {
        match self {
            InputMap::Identity => "identity",
            InputMap::Cube => "cube",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn is_identity(&self) -> bool {
        *self == InputMap::Identity
    }

    /// `m(y)` componentwise.
    #[inline]
    pub fn apply(self, y: f64) -> f64 {
        match self {
            InputMap::Identity => y,
            InputMap::Cube => y * y * y,
        }
    }

    /// `m'(y)` componentwise.
    #[inline]
    pub fn derivative(self, y: f64) -> f64 {
        match self {
            InputMap::Identity => 1.0,
            InputMap::Cube => 3.0 * y * y,
        }
    }
}

/// One layer as stored in the weights file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerFile {
    /// `[out][in]`.
    pub weight: Vec<Vec<f64>>,
    pub bias: Vec<f64>,
}

/// The weights file as serialized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsFile {
    pub activation: String,
    #[serde(default)]
    pub time_input: bool,
    /// The map applied to y before the first layer (default identity).
    #[serde(default, skip_serializing_if = "InputMap::is_identity")]
    pub input_map: InputMap,
    pub layers: Vec<LayerFile>,
}

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
    /// Builds an MLP from the parsed weights file, checking every shape.
    pub fn from_file(file: &WeightsFile) -> Result<Self, String> {
        let activation = Activation::parse(&file.activation).ok_or_else(|| {
            format!(
                "unknown activation '{}' (known: {})",
                file.activation,
                Activation::ALL.map(|a| a.name()).join(", ")
            )
        })?;
        if file.layers.is_empty() {
            return Err("the network has no layers".into());
        }
        let mut sizes = Vec::with_capacity(file.layers.len() + 1);
        let mut params: Vec<f64> = Vec::new();
        for (l, layer) in file.layers.iter().enumerate() {
            let n_out = layer.weight.len();
            if n_out == 0 {
                return Err(format!("layer {l}: weight has no rows"));
            }
            let n_in = layer.weight[0].len();
            if n_in == 0 {
                return Err(format!("layer {l}: weight rows are empty"));
            }
            if let Some(r) = layer.weight.iter().position(|row| row.len() != n_in) {
                return Err(format!(
                    "layer {l}: weight row {r} has {} entries, row 0 has {n_in}",
                    layer.weight[r].len()
                ));
            }
            if layer.bias.len() != n_out {
                return Err(format!(
                    "layer {l}: bias has {} entries but weight has {n_out} rows",
                    layer.bias.len()
                ));
            }
            if let Some(&prev) = sizes.last() {
                if prev != n_in {
                    return Err(format!(
                        "layer {l} takes {n_in} inputs but layer {} gives {prev} outputs",
                        l - 1
                    ));
                }
            } else {
                sizes.push(n_in);
            }
            sizes.push(n_out);
            params.extend(layer.weight.iter().flatten());
            params.extend(&layer.bias);
        }
        if let Some(i) = params.iter().position(|v| !v.is_finite()) {
            return Err(format!("parameter {i} is not finite"));
        }
        let mlp = Self {
            activation,
            time_input: file.time_input,
            input_map: file.input_map,
            sizes,
            params,
        };
        let state_in = mlp.sizes[0] - usize::from(mlp.time_input);
        if state_in != mlp.dim() {
            return Err(format!(
                "the network maps {} inputs{} to {} outputs; a vector field needs as many state \
                 inputs as outputs",
                mlp.sizes[0],
                if mlp.time_input {
                    " (state + time)"
                } else {
                    ""
                },
                mlp.dim()
            ));
        }
        Ok(mlp)
    }

    /// Parses and checks a weights JSON document.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let file: WeightsFile = serde_json::from_str(text)
            .map_err(|e| format!("weights file, line {} column {}: {e}", e.line(), e.column()))?;
        Self::from_file(&file)
    }

    /// Serializes back to the weights file format.
    pub fn to_file(&self) -> WeightsFile {
        let mut layers = Vec::with_capacity(self.n_layers());
        let mut offset = 0;
        for l in 0..self.n_layers() {
            let (n_in, n_out) = (self.sizes[l], self.sizes[l + 1]);
            let weight = (0..n_out)
                .map(|r| self.params[offset + r * n_in..offset + (r + 1) * n_in].to_vec())
                .collect();
            offset += n_in * n_out;
            let bias = self.params[offset..offset + n_out].to_vec();
            offset += n_out;
            layers.push(LayerFile { weight, bias });
        }
        WeightsFile {
            activation: self.activation.name().to_string(),
            time_input: self.time_input,
            input_map: self.input_map,
            layers,
        }
    }

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

    const TINY: &str = r#"{"activation":"tanh","time_input":false,"layers":[
        {"weight":[[1.0,2.0],[0.5,-1.0],[0.0,0.3]],"bias":[0.1,0.2,-0.3]},
        {"weight":[[1.0,-1.0,2.0],[0.5,0.5,0.5]],"bias":[0.01,-0.02]}]}"#;

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

    #[test]
    fn flat_order_is_weight_row_major_then_bias() {
        let mlp = Mlp::from_json(TINY).unwrap();
        assert_eq!(
            &mlp.params[..9],
            &[1.0, 2.0, 0.5, -1.0, 0.0, 0.3, 0.1, 0.2, -0.3]
        );
        assert_eq!(mlp.layer_offset(1), 9);
        assert_eq!(Mlp::from_file(&mlp.to_file()).unwrap(), mlp);
    }

    #[test]
    fn time_input_appends_t() {
        let mut file: WeightsFile = serde_json::from_str(TINY).unwrap();
        file.time_input = true;
        // 2 inputs with time → state dimension 1, but the output has 2: rejected.
        assert!(Mlp::from_file(&file).unwrap_err().contains("state inputs"));
        let mlp = Mlp::random(&[2, 5, 2], Activation::Softplus, true, 1.0, 7);
        assert_eq!(mlp.sizes, vec![3, 5, 2]);
        let a = mlp.forward(0.0, &[0.1, 0.2]);
        let b = mlp.forward(1.0, &[0.1, 0.2]);
        assert_ne!(a, b);
    }

    #[test]
    fn bad_files_are_explained() {
        assert!(Mlp::from_json("{").unwrap_err().contains("line 1"));
        let bad = TINY.replace("[0.1,0.2,-0.3]", "[0.1,0.2]");
        assert!(Mlp::from_json(&bad).unwrap_err().contains("bias"));
        let bad = TINY.replace("tanh", "swish");
        assert!(
            Mlp::from_json(&bad)
                .unwrap_err()
                .contains("unknown activation")
        );
    }

    #[test]
    fn activation_derivatives_match_finite_differences() {
        for act in Activation::ALL {
            for &x in &[-2.3, -0.4, 0.7, 1.9] {
                let h = 1e-6;
                let d = (act.apply(x + h) - act.apply(x - h)) / (2.0 * h);
                assert!(
                    (d - act.derivative(x, act.apply(x))).abs() < 1e-8,
                    "{act:?}"
                );
                let dd = (act.derivative(x + h, act.apply(x + h))
                    - act.derivative(x - h, act.apply(x - h)))
                    / (2.0 * h);
                assert!(
                    (dd - act.second_derivative(x, act.apply(x))).abs() < 1e-6,
                    "{act:?}"
                );
            }
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
    fn fast_tanh_is_accurate_to_a_few_ulp() {
        let mut worst = 0.0f64;
        let mut xs: Vec<f64> = (-40_000..=40_000).map(|i| i as f64 * 5e-4).collect();
        xs.extend([
            1e-300, -1e-30, 1e-9, 0.12499999, 0.125, 19.0, 25.0, 1e10, -1e300,
        ]);
        for &x in &xs {
            let (a, b) = (tanh_fast(x), x.tanh());
            let ulp = (b.abs().max(f64::MIN_POSITIVE) * f64::EPSILON).max(f64::MIN_POSITIVE);
            worst = worst.max((a - b).abs() / ulp);
        }
        assert!(worst <= 6.0, "{worst} ulp");
        assert!(tanh_fast(f64::NAN).is_nan());
        assert_eq!(tanh_fast(f64::INFINITY), 1.0);
        assert_eq!(tanh_fast(f64::NEG_INFINITY), -1.0);
        assert_eq!(tanh_fast(0.0), 0.0);
        let mut v = xs.clone();
        tanh_slice(&mut v);
        for (x, t) in xs.iter().zip(&v) {
            assert!((t - x.tanh()).abs() <= 6.0 * f64::EPSILON * x.tanh().abs().max(1e-300));
        }
        // The vector path on special values (two full lanes of eight).
        let specials = [
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            1e-300,
            -20.5,
            25.0,
            -1e-9,
            0.3,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            -0.7,
            5.0,
        ];
        let mut v = specials;
        tanh_slice(&mut v);
        for (x, t) in specials.iter().zip(&v) {
            if x.is_nan() {
                assert!(t.is_nan(), "tanh({x}) = {t}");
            } else {
                let e = x.tanh();
                assert!(
                    (t - e).abs() <= 6.0 * f64::EPSILON * e.abs(),
                    "tanh({x}) = {t}"
                );
                assert_eq!(
                    t.is_sign_negative(),
                    e.is_sign_negative(),
                    "sign of tanh({x})"
                );
            }
        }
    }

    /// The f32 tanh, scalar and over slices (the vector path on every lane), within a few f32
    /// ulp of the f64 tanh rounded to f32, with NaN, ±∞ and ±0 kept.
    #[test]
    fn fast_f32_tanh_is_accurate_to_a_few_f32_ulp() {
        let mut xs: Vec<f32> = (-40_000..=40_000).map(|i| i as f32 * 3e-4).collect();
        xs.extend([
            1e-38,
            -1e-20,
            1e-7,
            0.125,
            9.0,
            9.5,
            10.0,
            30.0,
            1e30,
            -3e38,
            f32::MIN_POSITIVE,
        ]);
        let ulps = |t: f32, x: f32| {
            let e = (f64::from(x)).tanh() as f32;
            let ulp = (e.abs().max(f32::MIN_POSITIVE) * f32::EPSILON).max(f32::MIN_POSITIVE);
            f64::from((t - e).abs() / ulp)
        };
        let worst = xs
            .iter()
            .map(|&x| ulps(tanh_fast_f32(x), x))
            .fold(0.0, f64::max);
        assert!(worst <= 3.0, "scalar: {worst} ulp");
        let mut v = xs.clone();
        tanh_slice_f32(&mut v);
        let worst = xs
            .iter()
            .zip(&v)
            .map(|(&x, &t)| ulps(t, x))
            .fold(0.0, f64::max);
        assert!(worst <= 3.0, "slice: {worst} ulp");
        let specials = [
            f32::NAN,
            -f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.0,
            -0.0,
            1e-30,
            -20.5,
            25.0,
            -1e-9,
            0.3,
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE,
            -0.7,
            5.0,
        ];
        let mut v = specials;
        tanh_slice_f32(&mut v);
        for (x, t) in specials.iter().zip(&v) {
            if x.is_nan() {
                assert!(t.is_nan(), "tanh({x}) = {t}");
            } else {
                assert!(ulps(*t, *x) <= 4.0, "tanh({x}) = {t}");
                assert_eq!(
                    t.is_sign_negative(),
                    x.is_sign_negative(),
                    "sign of tanh({x})"
                );
            }
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
