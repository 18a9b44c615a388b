//! The float type of a batched computation ([`Real`]: f64, the reference, or f32), with the
//! scalar and slice tanh each type uses.

use num_traits::Float;

use super::tanh::{tanh_fast, tanh_fast_f32, tanh_slice, tanh_slice_f32};

/// The float type of a computation: f64 (the reference) or f32.
pub trait Real:
    ndarray::LinalgScalar
    + Float
    + Send
    + Sync
    + Default
    + std::fmt::Debug
    + std::fmt::Display
    + std::iter::Sum
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
    + super::fused::Fused
    + 'static
{
    /// `"f64"` or `"f32"`.
    const NAME: &'static str;
    /// Bytes of one value.
    const BYTES: usize;
    /// Rounds an f64 to this type.
    fn of(x: f64) -> Self;
    fn to_f64(self) -> f64;
    /// `tanh` in place over a slice ([`tanh_slice`], [`tanh_slice_f32`]: vectorised).
    fn tanh_in_place(z: &mut [Self]);
    /// The fast scalar tanh ([`tanh_fast`], [`tanh_fast_f32`]).
    fn tanh_scalar(x: Self) -> Self;
}

impl Real for f64 {
    const NAME: &'static str = "f64";
    const BYTES: usize = 8;
    #[inline]
    fn of(x: f64) -> Self {
        x
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
    fn tanh_in_place(z: &mut [Self]) {
        tanh_slice(z);
    }
    #[inline(always)]
    fn tanh_scalar(x: Self) -> Self {
        tanh_fast(x)
    }
}

impl Real for f32 {
    const NAME: &'static str = "f32";
    const BYTES: usize = 4;
    #[inline]
    fn of(x: f64) -> Self {
        x as f32
    }
    #[inline]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    /// [`tanh_slice_f32`] (libm's `tanhf` per element made f32 slower than f64).
    fn tanh_in_place(z: &mut [Self]) {
        tanh_slice_f32(z);
    }
    #[inline(always)]
    fn tanh_scalar(x: Self) -> Self {
        tanh_fast_f32(x)
    }
}
