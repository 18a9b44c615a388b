//! The lane tanh each instruction set runs ([`super::Lanes::tanh_f64s`],
//! [`super::Lanes::tanh_f32s`]): the generic formula over pulp's vectors, and AVX-512's
//! table-driven versions. The scalar and slice versions are in [`crate::nn::tanh`].

use super::Lanes;

/// tanh on every lane of a vector (the AVX2, NEON and scalar sets; within 6 ulp of libm's tanh in
/// the tests, measured 3.0, as [`tanh_fast`]): `a = min(20, |x|)`, `a = k·ln2/2 + r` with
/// `|r| ≤ ln2/4` (k by the 1.5·2^52 rounding trick, `2^k` from its bits), so that
/// `e^{2a} = 2^k e^{2r}`, and `e^{2r}` by its Padé [6/6] approximant
/// `(Pe + r Po)/(Pe − r Po)` ([`PADE_EVEN`], [`PADE_ODD`]; `r Po/Pe` is the Padé approximant of
/// tanh r). Then, with `B = Pe − r Po`,
/// `tanh a = (2^k e^{2r} − 1)/(2^k e^{2r} + 1) = N/(N + B)`, `N = 2^k r Po + (2^{k−1} − ½) B`
/// (numerator and denominator times B/2; for k = 0, `N = r Po` exactly, so small |x| keep
/// their relative accuracy), the sign of x put back by a bit or; a NaN lane stays NaN
/// ([`Lanes::capped_abs_f64s`] keeps it, and every step after propagates it).
///
/// The approximant's relative error is `(6!)²/(12!·13!)·(2r)^13 ≤ 2e-19` on the interval
/// (Baker & Graves-Morris, *Padé Approximants*, §1.2, the remainder of e^z's diagonal
/// approximants), so the result is set by rounding. One division (as before) but 11 multiplies
/// and FMAs in a chain about 45 cycles deep, where the exp-minus-one polynomial of degree 10
/// (Estrin) with a two-part ln2 took 18 in a chain about 70 deep: on Zen 3, where these kernels
/// are bound by the tanh, 1.45× the tanh throughput (a loop shaped like the fused forward
/// pass). The reduction by one FMA with ln2/2 rounded (no hi/lo split) costs under 0.3 ulp: the
/// error `k·2.3e-17` of `2r` moves tanh by at most `0.45·2.9·2.3e-17` (`max a·sech²a`).
#[inline(always)]
pub fn tanh_f64s<S: Lanes>(s: S, x: S::f64s) -> S::f64s {
    const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5·2^52: adding it rounds to an integer.
    const HALF_LN2: f64 = std::f64::consts::LN_2 / 2.0;
    let magic = s.splat_f64s(MAGIC);
    let a = s.capped_abs_f64s(x, 20.0);
    let shifted = s.mul_add_e_f64s(a, s.splat_f64s(2.0 * std::f64::consts::LOG2_E), magic);
    let kf = s.sub_f64s(shifted, magic);
    let k = s.sub_u64s(
        s.transmute_u64s_f64s(shifted),
        s.splat_u64s(MAGIC.to_bits()),
    );
    let scale = s.exp2_biased_f64s(s.add_u64s(k, s.splat_u64s(1023)));
    // 2^(k−1): one less in the exponent field (k ≥ 0, so it stays normal).
    let half_scale =
        s.transmute_f64s_u64s(s.sub_u64s(s.transmute_u64s_f64s(scale), s.splat_u64s(1 << 52)));
    let r = s.negate_mul_add_e_f64s(kf, s.splat_f64s(HALF_LN2), a);
    let r2 = s.mul_f64s(r, r);
    let c = |v: f64| s.splat_f64s(v);
    let pe = s.mul_add_e_f64s(
        s.mul_add_e_f64s(
            s.mul_add_e_f64s(c(PADE_EVEN[3]), r2, c(PADE_EVEN[2])),
            r2,
            c(PADE_EVEN[1]),
        ),
        r2,
        c(PADE_EVEN[0]),
    );
    let po = s.mul_add_e_f64s(
        s.mul_add_e_f64s(c(PADE_ODD[2]), r2, c(PADE_ODD[1])),
        r2,
        c(PADE_ODD[0]),
    );
    let rpo = s.mul_f64s(r, po);
    let b = s.sub_f64s(pe, rpo);
    let n = s.mul_add_e_f64s(scale, rpo, s.mul_f64s(s.sub_f64s(half_scale, c(0.5)), b));
    let t = s.div_f64s(n, s.add_f64s(n, b));
    // A NaN lane's a is NaN (capped_abs_f64s), so every step after keeps it NaN.
    s.or_f64s(t, s.and_f64s(x, c(-0.0)))
}

/// The even part of the Padé [6/6] approximant of `e^{2r}`, `Pe(r²) = 1 + 5/11 r² + 2/99 r⁴ +
/// 1/10395 r⁶`, lowest first: e^z's diagonal approximant `Σ_j (12 − j)! 6! / (12! j! (6 − j)!) z^j`
/// at z = 2r, even powers (checked against that formula in the tests).
pub(crate) const PADE_EVEN: [f64; 4] = [1.0, 5.0 / 11.0, 2.0 / 99.0, 1.0 / 10_395.0];
/// The odd part over r, `Po(r²) = 1 + 4/33 r² + 1/495 r⁴` (so the odd part is `r Po`).
pub(crate) const PADE_ODD: [f64; 3] = [1.0, 4.0 / 33.0, 1.0 / 495.0];

/// `1/(i+1)!` for i = 11 … 0 (after `1/13!`): the Taylor coefficients of `(e^r − 1)/r`, for the
/// scalar [`tanh_fast`]'s Horner loop.
pub(crate) const TAYLOR_F64: [f64; 12] = [
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
];

/// tanh of eight f64 lanes on AVX-512 (the [`Lanes::tanh_f64s`] of that set: the slices and
/// the fused kernels). `E = e^{2a} − 1` by a table of `2^{j/8}` (the usual exp reduction,
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

/// [`tanh_fast_f32`] on every lane of a vector (the AVX2, NEON and scalar sets): the same
/// rational function, `x P(x²)/Q(x²)` of `x` clamped to ±[`TANH_F32_CLAMP`], with the
/// polynomials by Horner's rule in fused multiply-adds and one division. A NaN lane stays NaN
/// ([`Lanes::clamp_f32s`] keeps it).
///
/// 14 vector operations per lane group (2 clamp, 2 multiplies, 9 FMAs, 1 division), where the
/// exp-based formula it replaced (`2a = k ln2 + r`, a degree-7 polynomial for `e^r − 1`,
/// `2^k` by integer operations, `E/(E + 2)`, the sign put back) took 23: the f32 forward pass
/// of the fused kernels is bound by this tanh.
#[inline(always)]
pub fn tanh_f32s<S: Lanes>(s: S, x: S::f32s) -> S::f32s {
    let x = s.clamp_f32s(x, TANH_F32_CLAMP);
    let u = s.mul_f32s(x, x);
    let c = |v: f32| s.splat_f32s(v);
    let mut p = c(TANH_F32_P[6]);
    for &k in TANH_F32_P[..6].iter().rev() {
        p = s.mul_add_e_f32s(p, u, c(k));
    }
    let mut q = c(TANH_F32_Q[3]);
    for &k in TANH_F32_Q[..3].iter().rev() {
        q = s.mul_add_e_f32s(q, u, c(k));
    }
    s.div_f32s(s.mul_f32s(x, p), q)
}

/// Where the f32 tanh's argument is clamped: tanh(8) = 1 − 2.3e-7 is within 2 × 2⁻²³ of every
/// tanh(|x| > 8) (they round to 1 − 6e-8 or 1), and fitting on [0, 8] rather than to 9.01 (where
/// tanh rounds to 1) lowers the fit's error from 1.4e-7 to 3.7e-8. (AVX-512 keeps its
/// table-driven [`tanh_ps16`]: this rational function is not measured there.)
pub(crate) const TANH_F32_CLAMP: f32 = 8.0;

/// The numerator of the f32 tanh's rational function `tanh x ≈ x P(u)/Q(u)`, `u = x²`, lowest
/// power first: the minimax fit of relative error over `|x| ≤ 8` with `P(0) = Q(0) = 1` (so
/// that small x give x exactly), by linear programming with the denominator's weight updated
/// until it settles (Loeb's method; `tools/fit_tanh_f32.py` reproduces it). Fit error 3.7e-8
/// relative; the coefficients rounded to f32 and f32 arithmetic bring the result within
/// 3 × 2⁻²³ relative of tanh (the tests check every lane on a grid of 80 001 points and every
/// f32 in [2⁻¹⁰, 9]). All coefficients of Q are positive, so Q ≥ 1: no pole.
pub(crate) const TANH_F32_P: [f32; 7] = [
    1.0,
    0.130_850_08,
    0.003_105_245,
    1.117_483_5e-5,
    -2.036_275_9e-8,
    5.379_888_2e-11,
    -8.857_387_6e-14,
];
/// The denominator of [`TANH_F32_P`]'s rational function.
pub(crate) const TANH_F32_Q: [f32; 4] = [1.0, 0.464_183_42, 0.024_499_787, 0.000_254_840_12];

/// tanh of sixteen f32 lanes on AVX-512 ([`Lanes::tanh_f32s`] of that set), [`tanh_pd8`]'s scheme
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The Padé coefficients of the vector tanh are e^z's diagonal [6/6] approximant at z = 2r
    /// (the formula, in exact integers), and `(Pe + r Po)/(Pe − r Po)` is `e^{2r}` to rounding
    /// over the whole reduced interval `|r| ≤ ln2/4`.
    #[test]
    fn pade_approximant_is_exp_of_twice_r() {
        let fact = |n: u64| (1..=n).product::<u64>() as f64;
        for j in 0..=6u64 {
            let want =
                fact(12 - j) * fact(6) / (fact(12) * fact(j) * fact(6 - j)) * 2f64.powi(j as i32);
            let got = if j % 2 == 0 {
                PADE_EVEN[j as usize / 2]
            } else {
                PADE_ODD[j as usize / 2]
            };
            assert!(
                (got - want).abs() <= f64::EPSILON * want,
                "z^{j}: {got} vs {want}"
            );
        }
        let quarter_ln2 = std::f64::consts::LN_2 / 4.0;
        let mut worst = 0.0f64;
        for i in -4000..=4000 {
            let r = quarter_ln2 * f64::from(i) / 4000.0;
            let r2 = r * r;
            let pe = PADE_EVEN.iter().rev().fold(0.0, |acc, &c| acc * r2 + c);
            let rpo = r * PADE_ODD.iter().rev().fold(0.0, |acc, &c| acc * r2 + c);
            let e = (2.0 * r).exp();
            worst = worst.max(((pe + rpo) / (pe - rpo) - e).abs() / e);
        }
        assert!(worst <= 4.0 * f64::EPSILON, "relative error {worst:e}");
    }
}
