//! The fast tanh of the vector fields: scalar formulas in f64 and f32 ([`tanh_fast`],
//! [`tanh_fast_f32`]) and their slice versions, vectorised for the instruction set chosen at
//! run time ([`super::simd`]).

use super::simd::tanh_lanes::{TANH_F32_CLAMP, TANH_F32_P, TANH_F32_Q, TAYLOR_F64};
pub use super::simd::tanh_lanes::{tanh_f32s, tanh_f64s};
use super::simd::{self, Kernel, Lanes};

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
    for c in TAYLOR_F64 {
        q = q * r + c;
    }
    let scale = f64::from_bits(kbits.wrapping_add(1023) << 52);
    let em1 = scale * (r * q) + (scale - 1.0);
    let t = (em1 / (em1 + 2.0)).copysign(x);
    if x.is_nan() { x } else { t }
}

/// [`tanh_fast`] over a slice, a vector at a time on the active instruction set
/// ([`super::simd`]: [`tanh_f64s`], or the AVX-512 table of [`tanh_pd8`]), the tail scalar.
pub fn tanh_slice(z: &mut [f64]) {
    simd::dispatch(TanhSliceF64(z));
}

struct TanhSliceF64<'a>(&'a mut [f64]);

impl Kernel for TanhSliceF64<'_> {
    type Output = ();
    #[inline(always)]
    fn run<S: Lanes>(self, s: S) {
        let (head, tail) = S::as_mut_simd_f64s(self.0);
        for v in head {
            *v = s.tanh_f64s(*v);
        }
        for v in tail {
            *v = tanh_fast(*v);
        }
    }
}

/// [`tanh_fast`] in single precision, within 3 × 2⁻²³ relative of the f64 tanh (checked in the
/// tests): the rational function `x P(x²)/Q(x²)` of x clamped to ±8 (degrees 13 over 6, fitted
/// for minimal relative error: [`TANH_F32_P`], [`TANH_F32_Q`]), one division and no
/// exponential. NaN propagates (`clamp` keeps it).
#[inline(always)]
pub fn tanh_fast_f32(x: f32) -> f32 {
    let x = x.clamp(-TANH_F32_CLAMP, TANH_F32_CLAMP);
    let u = x * x;
    let p = TANH_F32_P[..6]
        .iter()
        .rev()
        .fold(TANH_F32_P[6], |acc, &k| acc * u + k);
    let q = TANH_F32_Q[..3]
        .iter()
        .rev()
        .fold(TANH_F32_Q[3], |acc, &k| acc * u + k);
    x * p / q
}

/// [`tanh_fast_f32`] over a slice, a vector at a time on the active instruction set
/// ([`tanh_f32s`], or the AVX-512 table of [`tanh_ps16`]), the tail scalar.
pub fn tanh_slice_f32(z: &mut [f32]) {
    simd::dispatch(TanhSliceF32(z));
}

struct TanhSliceF32<'a>(&'a mut [f32]);

impl Kernel for TanhSliceF32<'_> {
    type Output = ();
    #[inline(always)]
    fn run<S: Lanes>(self, s: S) {
        let (head, tail) = S::as_mut_simd_f32s(self.0);
        for v in head {
            *v = s.tanh_f32s(*v);
        }
        for v in tail {
            *v = tanh_fast_f32(*v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::simd::Isa;

    /// The instruction sets this CPU has (each slice test runs on all of them).
    fn isas() -> impl Iterator<Item = Isa> {
        Isa::ALL.into_iter().filter(|i| i.available())
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
        for isa in isas() {
            simd::on_this_thread(isa, || {
                let mut v = xs.clone();
                tanh_slice(&mut v);
                for (x, t) in xs.iter().zip(&v) {
                    assert!(
                        (t - x.tanh()).abs() <= 6.0 * f64::EPSILON * x.tanh().abs().max(1e-300),
                        "{isa:?}: tanh({x}) = {t}"
                    );
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
                        assert!(t.is_nan(), "{isa:?}: tanh({x}) = {t}");
                    } else {
                        let e = x.tanh();
                        assert!(
                            (t - e).abs() <= 6.0 * f64::EPSILON * e.abs(),
                            "{isa:?}: tanh({x}) = {t}"
                        );
                        assert_eq!(
                            t.is_sign_negative(),
                            e.is_sign_negative(),
                            "{isa:?}: sign of tanh({x})"
                        );
                    }
                }
            })
            .unwrap();
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
        for isa in isas() {
            simd::on_this_thread(isa, || {
                let mut v = xs.clone();
                tanh_slice_f32(&mut v);
                let worst = xs
                    .iter()
                    .zip(&v)
                    .map(|(&x, &t)| ulps(t, x))
                    .fold(0.0, f64::max);
                assert!(worst <= 3.0, "{isa:?} slice: {worst} ulp");
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
                        assert!(t.is_nan(), "{isa:?}: tanh({x}) = {t}");
                    } else {
                        assert!(ulps(*t, *x) <= 4.0, "{isa:?}: tanh({x}) = {t}");
                        assert_eq!(
                            t.is_sign_negative(),
                            x.is_sign_negative(),
                            "{isa:?}: sign of tanh({x})"
                        );
                    }
                }
            })
            .unwrap();
        }
    }

    /// The f32 tanh on every 29th f32 from 2⁻¹² to 9 (both signs; 4.4 million values, every
    /// mantissa pattern modulo 29, so the whole fitted range and the clamp at 8), scalar and on
    /// every instruction set: within 3 × 2⁻²³ relative of the f64 tanh, and never above 1.
    #[test]
    fn f32_tanh_holds_on_a_dense_sweep() {
        let lo = (2f32).powi(-12).to_bits();
        let hi = 9f32.to_bits();
        let xs: Vec<f32> = (lo..=hi)
            .step_by(29)
            .flat_map(|b| [f32::from_bits(b), -f32::from_bits(b)])
            .collect();
        let rel = |t: f32, x: f32| {
            let e = f64::from(x).tanh();
            (f64::from(t) - e).abs() / e.abs()
        };
        let check = |what: &str, ts: &[f32]| {
            let mut worst = (0.0f64, 0.0f32);
            for (&x, &t) in xs.iter().zip(ts) {
                assert!(t.abs() <= 1.0, "{what}: tanh({x}) = {t}");
                let r = rel(t, x);
                if r > worst.0 {
                    worst = (r, x);
                }
            }
            let units = worst.0 / f64::from(f32::EPSILON);
            eprintln!("{what}: worst {units:.2} × 2^-23 at x = {}", worst.1);
            assert!(units <= 3.0, "{what}: {units} × 2^-23 at x = {}", worst.1);
        };
        let scalar: Vec<f32> = xs.iter().map(|&x| tanh_fast_f32(x)).collect();
        check("scalar", &scalar);
        for isa in isas() {
            simd::on_this_thread(isa, || {
                let mut v = xs.clone();
                tanh_slice_f32(&mut v);
                check(&format!("{isa:?} slice"), &v);
            })
            .unwrap();
        }
    }
}
