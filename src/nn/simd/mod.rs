//! The SIMD instruction sets the vector kernels ([`super::fused`], [`super::tanh`]) run on, chosen
//! once per process, and the dispatch that compiles a kernel for each of them.
//!
//! The kernels are written once, generic over [`Lanes`] (a `pulp::Simd` token plus the one
//! operation pulp does not offer generically, `2^k` from an integer). [`dispatch`] runs a
//! [`Kernel`] with the token of the chosen set inside `pulp::Simd::vectorize`, so that the whole
//! kernel (everything it calls is `#[inline(always)]`) is compiled for that set:
//!
//! | set | f64 lanes | f32 lanes | CPUs |
//! |---|---|---|---|
//! | `avx512` (x86-64-v4: AVX-512 F, BW, CD, DQ, VL) | 8 | 16 | Skylake-SP and later Xeons, Zen 4 |
//! | `avx2` (x86-64-v3: AVX2 + FMA) | 4 | 8 | x86-64 since Haswell / Zen 1 |
//! | `neon` (aarch64) | 2 | 4 | Apple Silicon, Graviton, … |
//! | `scalar` (same code, one lane) | 1 | 1 | everywhere |
//!
//! `auto` (the default) takes the widest set this CPU has; `NODELAB_SIMD=avx512|avx2|neon|scalar`
//! (read by the command line at startup, [`select_from_env`]) or [`force`] (tests) picks one,
//! refused where the CPU lacks it.

pub mod tanh_lanes;

use std::sync::atomic::{AtomicU8, Ordering};

#[cfg(target_arch = "aarch64")]
use pulp::aarch64::Neon;
#[cfg(target_arch = "x86_64")]
use pulp::x86::{V3, V4};
use pulp::{Scalar, Simd};

/// An instruction set of the vector kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    Avx512,
    Avx2,
    Neon,
    Scalar,
}

impl Isa {
    /// Every set, widest first.
    pub const ALL: [Isa; 4] = [Isa::Avx512, Isa::Avx2, Isa::Neon, Isa::Scalar];

    /// The name `NODELAB_SIMD` takes.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2 => "avx2",
            Isa::Neon => "neon",
            Isa::Scalar => "scalar",
        }
    }

    /// How the `kernels:` line names it.
    pub fn label(self) -> &'static str {
        match self {
            Isa::Avx512 => "AVX-512",
            Isa::Avx2 => "AVX2+FMA",
            Isa::Neon => "NEON",
            Isa::Scalar => "scalar",
        }
    }

    /// Whether this CPU (and this build's target) has the set.
    pub fn available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => V4::try_new().is_some(),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => V3::try_new().is_some(),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => Neon::try_new().is_some(),
            Isa::Scalar => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The widest set this CPU has.
    pub fn best() -> Isa {
        Isa::ALL
            .into_iter()
            .find(|i| i.available())
            .unwrap_or(Isa::Scalar)
    }

    /// f64 values per vector.
    pub fn f64_lanes(self) -> usize {
        match self {
            Isa::Avx512 => 8,
            Isa::Avx2 => 4,
            Isa::Neon => 2,
            Isa::Scalar => 1,
        }
    }

    /// f32 values per vector.
    pub fn f32_lanes(self) -> usize {
        match self {
            Isa::Scalar => 1,
            other => 2 * other.f64_lanes(),
        }
    }

    fn code(self) -> u8 {
        match self {
            Isa::Avx512 => 1,
            Isa::Avx2 => 2,
            Isa::Neon => 3,
            Isa::Scalar => 4,
        }
    }
}

/// The forced set's [`Isa::code`], 0 for `auto`.
static FORCED: AtomicU8 = AtomicU8::new(0);

/// Runs the vector kernels on `isa` from now on (`None`: the widest this CPU has), for the whole
/// process. Refused, with the sets this CPU has, where the CPU lacks `isa`.
pub fn force(isa: Option<Isa>) -> Result<(), String> {
    if let Some(i) = isa {
        force_check(i)?;
    }
    FORCED.store(isa.map_or(0, Isa::code), Ordering::Relaxed);
    Ok(())
}

fn force_check(isa: Isa) -> Result<(), String> {
    if isa.available() {
        return Ok(());
    }
    Err(format!(
        "this CPU has no {} ({}); available here: {}",
        isa.label(),
        isa.name(),
        available_names()
    ))
}

/// The sets this CPU has, comma separated (`auto` first).
pub fn available_names() -> String {
    std::iter::once("auto")
        .chain(
            Isa::ALL
                .into_iter()
                .filter(|i| i.available())
                .map(Isa::name),
        )
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses a `NODELAB_SIMD` value: `auto` (or empty) is `None`.
pub fn parse(name: &str) -> Result<Option<Isa>, String> {
    let name = name.trim().to_ascii_lowercase();
    if name.is_empty() || name == "auto" {
        return Ok(None);
    }
    Isa::ALL
        .into_iter()
        .find(|i| i.name() == name)
        .map(Some)
        .ok_or_else(|| {
            format!("'{name}' is not an instruction set (auto, avx512, avx2, neon, scalar)")
        })
}

/// Applies `NODELAB_SIMD` when set (the command line calls this at startup).
pub fn select_from_env() -> Result<(), String> {
    let Ok(value) = std::env::var("NODELAB_SIMD") else {
        return Ok(());
    };
    parse(&value)
        .and_then(force)
        .map_err(|e| format!("NODELAB_SIMD={value}: {e}"))
}

thread_local! {
    /// [`on_this_thread`]'s set while it runs, 0 otherwise.
    static THREAD: std::cell::Cell<u8> = const { std::cell::Cell::new(0) };
}

/// Runs `f` with the vector kernels on `isa` on this thread only (tests of one path beside
/// others running in parallel); refused where the CPU lacks `isa`.
pub fn on_this_thread<R>(isa: Isa, f: impl FnOnce() -> R) -> Result<R, String> {
    force_check(isa)?;
    let before = THREAD.with(|t| t.replace(isa.code()));
    let r = f();
    THREAD.with(|t| t.set(before));
    Ok(r)
}

fn of_code(c: u8) -> Isa {
    Isa::ALL
        .into_iter()
        .find(|i| i.code() == c)
        .unwrap_or(Isa::Scalar)
}

/// The set the vector kernels run on now.
pub fn active() -> Isa {
    static BEST: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
    match (THREAD.with(|t| t.get()), FORCED.load(Ordering::Relaxed)) {
        (0, 0) => *BEST.get_or_init(Isa::best),
        (0, c) | (c, _) => of_code(c),
    }
}

/// Whether the set was chosen by hand (`NODELAB_SIMD` or [`force`]) rather than `auto`.
pub fn forced() -> bool {
    FORCED.load(Ordering::Relaxed) != 0 || THREAD.with(|t| t.get()) != 0
}

/// What the vector kernels run on, for the `kernels:` line of `bench grad` / `bench train`:
/// e.g. `AVX2+FMA (4 f64 / 8 f32 lanes, NODELAB_SIMD=auto)`.
pub fn description() -> String {
    let isa = active();
    format!(
        "{} ({} f64 / {} f32 lanes, NODELAB_SIMD={})",
        isa.label(),
        isa.f64_lanes(),
        isa.f32_lanes(),
        if forced() { isa.name() } else { "auto" }
    )
}

/// A `pulp` SIMD token the vector kernels are written over: pulp's operations, plus `2^k`.
pub trait Lanes: Simd {
    /// `2^k` per lane, from `k + 1023` (an integer in `1..2047`) in each 64-bit lane: the bits
    /// `(k + 1023) << 52`.
    fn exp2_biased_f64s(self, biased: Self::u64s) -> Self::f64s;

    /// `min(cap, |x|)` per lane, NaN where x is NaN (the lane tanh's argument, so that a NaN
    /// lane stays NaN through it). Generic: a compare and a select put NaN back (a `min` may
    /// return either operand for NaN); AVX2 takes `vminpd`'s rule instead (the second operand
    /// when either is NaN), two instructions fewer per tanh.
    #[inline(always)]
    fn capped_abs_f64s(self, x: Self::f64s, cap: f64) -> Self::f64s {
        let a = self.min_f64s(self.splat_f64s(cap), self.abs_f64s(x));
        self.select_f64s(self.equal_f64s(x, x), a, x)
    }

    /// [`Self::capped_abs_f64s`] for f32 lanes.
    #[inline(always)]
    fn capped_abs_f32s(self, x: Self::f32s, cap: f32) -> Self::f32s {
        let a = self.min_f32s(self.splat_f32s(cap), self.abs_f32s(x));
        self.select_f32s(self.equal_f32s(x, x), a, x)
    }

    /// `x` clamped to `[−c, c]` per lane, NaN where x is NaN (the f32 tanh's argument). Generic:
    /// a compare and a select put NaN back; AVX2 orders `vmaxps`/`vminps`'s operands so that a
    /// NaN passes through (each returns its second operand when either is NaN).
    #[inline(always)]
    fn clamp_f32s(self, x: Self::f32s, c: f32) -> Self::f32s {
        let a = self.min_f32s(self.splat_f32s(c), self.max_f32s(self.splat_f32s(-c), x));
        self.select_f32s(self.equal_f32s(x, x), a, x)
    }

    /// tanh per lane ([`tanh_lanes::tanh_f64s`]; AVX-512 has its own table-driven one).
    #[inline(always)]
    fn tanh_f64s(self, x: Self::f64s) -> Self::f64s {
        tanh_lanes::tanh_f64s(self, x)
    }

    /// tanh per lane ([`tanh_lanes::tanh_f32s`]; AVX-512 has its own table-driven one).
    #[inline(always)]
    fn tanh_f32s(self, x: Self::f32s) -> Self::f32s {
        tanh_lanes::tanh_f32s(self, x)
    }
}

impl Lanes for Scalar {
    #[inline(always)]
    fn exp2_biased_f64s(self, biased: u64) -> f64 {
        f64::from_bits(biased << 52)
    }
}

#[cfg(target_arch = "x86_64")]
impl Lanes for V3 {
    #[inline(always)]
    fn exp2_biased_f64s(self, biased: Self::u64s) -> Self::f64s {
        pulp::cast(self.shl_const_u64x4::<52>(biased))
    }

    #[inline(always)]
    fn capped_abs_f64s(self, x: Self::f64s, cap: f64) -> Self::f64s {
        use std::arch::x86_64::_mm256_min_pd;
        let a = self.abs_f64s(x);
        // SAFETY: a V3 token exists only where the CPU has AVX2 (AVX included). `vminpd`
        // returns its second operand (here |x|) when either is NaN.
        pulp::cast(unsafe { _mm256_min_pd(pulp::cast(self.splat_f64s(cap)), pulp::cast(a)) })
    }

    #[inline(always)]
    fn capped_abs_f32s(self, x: Self::f32s, cap: f32) -> Self::f32s {
        use std::arch::x86_64::_mm256_min_ps;
        let a = self.abs_f32s(x);
        // SAFETY: as above (`vminps`: the second operand when either is NaN).
        pulp::cast(unsafe { _mm256_min_ps(pulp::cast(self.splat_f32s(cap)), pulp::cast(a)) })
    }

    #[inline(always)]
    fn clamp_f32s(self, x: Self::f32s, c: f32) -> Self::f32s {
        use std::arch::x86_64::{_mm256_max_ps, _mm256_min_ps};
        // SAFETY: as above; x (then the clamped x) is the second operand, so NaN passes.
        pulp::cast(unsafe {
            _mm256_min_ps(
                pulp::cast(self.splat_f32s(c)),
                _mm256_max_ps(pulp::cast(self.splat_f32s(-c)), pulp::cast(x)),
            )
        })
    }
}

#[cfg(target_arch = "x86_64")]
impl Lanes for V4 {
    #[inline(always)]
    fn exp2_biased_f64s(self, biased: Self::u64s) -> Self::f64s {
        pulp::cast(self.shl_const_u64x8::<52>(biased))
    }

    #[inline(always)]
    fn tanh_f64s(self, x: Self::f64s) -> Self::f64s {
        // SAFETY: a V4 token exists only where the CPU has AVX-512F.
        pulp::cast(unsafe { tanh_lanes::tanh_pd8(pulp::cast(x)) })
    }

    #[inline(always)]
    fn tanh_f32s(self, x: Self::f32s) -> Self::f32s {
        // SAFETY: as above.
        pulp::cast(unsafe { tanh_lanes::tanh_ps16(pulp::cast(x)) })
    }
}

#[cfg(target_arch = "aarch64")]
impl Lanes for Neon {
    #[inline(always)]
    fn exp2_biased_f64s(self, biased: Self::u64s) -> Self::f64s {
        pulp::cast(self.shl_const_u64x2::<52>(biased))
    }
}

/// A computation written over any [`Lanes`] token; [`dispatch`] runs it on the active set.
pub trait Kernel {
    type Output;
    /// The body; everything it calls should be `#[inline(always)]` so that it is compiled for
    /// the token's instruction set.
    fn run<S: Lanes>(self, simd: S) -> Self::Output;
}

/// Carries a kernel and its token into `pulp::Simd::vectorize` (which enables the set's target
/// features around `with_simd`).
struct Run<K, S>(K, S);

impl<K: Kernel, S: Lanes> pulp::WithSimd for Run<K, S> {
    type Output = K::Output;
    #[inline(always)]
    fn with_simd<S2: Simd>(self, _: S2) -> K::Output {
        self.0.run(self.1)
    }
}

/// Runs `kernel` on the active instruction set ([`active`]).
pub fn dispatch<K: Kernel>(kernel: K) -> K::Output {
    dispatch_on(active(), kernel)
}

/// Runs `kernel` on `isa`, or on the scalar path where this CPU lacks it.
pub fn dispatch_on<K: Kernel>(isa: Isa, kernel: K) -> K::Output {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            if let Some(s) = V4::try_new() {
                return Simd::vectorize(s, Run(kernel, s));
            }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            if let Some(s) = V3::try_new() {
                return Simd::vectorize(s, Run(kernel, s));
            }
        }
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => {
            if let Some(s) = Neon::try_new() {
                return Simd::vectorize(s, Run(kernel, s));
            }
        }
        _ => {}
    }
    let s = Scalar::new();
    Simd::vectorize(s, Run(kernel, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_unavailable_sets_are_refused() {
        assert_eq!(parse("auto"), Ok(None));
        assert_eq!(parse(" AVX2 "), Ok(Some(Isa::Avx2)));
        assert!(
            parse("sse9")
                .unwrap_err()
                .contains("not an instruction set")
        );
        assert!(Isa::Scalar.available());
        for isa in Isa::ALL {
            let r = on_this_thread(isa, active);
            assert_eq!(r.clone().ok(), isa.available().then_some(isa), "{isa:?}");
            if let Err(e) = r {
                assert!(e.contains("available here: auto"), "{e}");
            }
        }
        #[cfg(target_arch = "x86_64")]
        assert!(force(Some(Isa::Neon)).is_err());
        assert_eq!(active(), Isa::best());
    }
}
