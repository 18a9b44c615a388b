//! Host mirrors of the WGSL structs, and the buffers of one (batch size, model shape).

use bytemuck::{Pod, Zeroable};

/// Mirrors `struct Params` of shaders/common.wgsl (uniform, 96 bytes, 16-byte multiple).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct Params {
    pub batch: u32,
    pub n_steps: u32,
    pub max_steps: u32,
    pub loss_kind: u32,
    pub t0: f32,
    pub t1: f32,
    pub h: f32,
    pub h_last: f32,
    pub tol: f32,
    pub rtol: f32,
    pub h0: f32,
    pub h_min: f32,
    pub h_max: f32,
    pub target_off: u32,
    pub n_obs: u32,
    pub n_classes: u32,
    pub readout_off: u32,
    pub seg_off: u32,
    pub obs_off: u32,
    pub n_extra: u32,
    /// Steps of the kernel's step sequence one dispatch runs (0: all of them; engine::chunks).
    pub chunk_steps: u32,
    /// Offset of the per-sample live state kept between chunks, in `traj`.
    pub live_off: u32,
    pub chunk_pad0: u32,
    pub chunk_pad1: u32,
}

const _: () = assert!(std::mem::size_of::<Params>() == 96);
const _: () = assert!(std::mem::size_of::<Params>().is_multiple_of(16));
const _: () = assert!(std::mem::offset_of!(Params, t0) == 16);
const _: () = assert!(std::mem::offset_of!(Params, tol) == 32);
const _: () = assert!(std::mem::offset_of!(Params, h_max) == 48);

/// Per-sample statistics, mirrors `stats[4 s .. 4 s + 4]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct SampleStats {
    pub accepted: u32,
    pub rejected: u32,
    pub nfev: u32,
    /// One of [`super::codes::status`] (0: success).
    pub status: u32,
}

const _: () = assert!(std::mem::size_of::<SampleStats>() == 16);

impl SampleStats {
    pub fn status_text(&self) -> &'static str {
        super::codes::status::text(self.status)
    }
}

/// Buffer sizes (bytes) of one batch, from which both the allocation and the per-method
/// report are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    pub params: u64,
    pub theta: u64,
    pub data: u64,
    pub out: u64,
    pub stats: u64,
    pub grad_ps: u64,
    pub grad_out: u64,
    /// Readback staging: out + stats + grad_out.
    pub staging: u64,
}

impl Sizes {
    /// `extra`: read-out parameters (cross-entropy) reduced after θ; `data_floats`: the numbers
    /// of the `data` buffer (y0, loss data, segment table).
    pub fn new(batch: usize, dim: usize, n_params: usize, extra: usize, data_floats: u64) -> Self {
        let f = 4u64;
        let (b, d, p) = (batch as u64, dim as u64, (n_params + extra) as u64);
        let out = f * (b * d + 2 * b);
        let stats = 16 * b;
        let grad_out = f * (p + 1);
        Self {
            params: std::mem::size_of::<Params>() as u64,
            theta: f * n_params as u64,
            data: f * data_floats,
            out,
            stats,
            grad_ps: f * p * b,
            grad_out,
            staging: out + stats + grad_out,
        }
    }

    /// What every method binds and reads back.
    pub fn common(&self) -> u64 {
        self.params + self.theta + self.data + self.out + self.stats + self.staging
    }

    /// Plus the per-sample gradients and their reduction.
    pub fn gradient(&self) -> u64 {
        self.common() + self.grad_ps + self.grad_out
    }
}

#[cfg(test)]
mod tests {
    use super::Params;
    use std::mem::offset_of;

    /// The Rust mirror has the WGSL struct's layout: same size, same field offsets (from naga's
    /// own layout of shaders/common.wgsl).
    #[test]
    fn params_layout_matches_the_wgsl_struct() {
        let src = include_str!("../../shaders/common.wgsl");
        let module = naga::front::wgsl::parse_str(src).unwrap();
        let (_, ty) = module
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some("Params"))
            .expect("struct Params in common.wgsl");
        let naga::TypeInner::Struct { members, span } = &ty.inner else {
            panic!("Params is not a struct");
        };
        assert_eq!(*span as usize, std::mem::size_of::<Params>());
        let rust = [
            ("batch", offset_of!(Params, batch)),
            ("n_steps", offset_of!(Params, n_steps)),
            ("max_steps", offset_of!(Params, max_steps)),
            ("loss_kind", offset_of!(Params, loss_kind)),
            ("t0", offset_of!(Params, t0)),
            ("t1", offset_of!(Params, t1)),
            ("h", offset_of!(Params, h)),
            ("h_last", offset_of!(Params, h_last)),
            ("tol", offset_of!(Params, tol)),
            ("rtol", offset_of!(Params, rtol)),
            ("h0", offset_of!(Params, h0)),
            ("h_min", offset_of!(Params, h_min)),
            ("h_max", offset_of!(Params, h_max)),
            ("target_off", offset_of!(Params, target_off)),
            ("n_obs", offset_of!(Params, n_obs)),
            ("n_classes", offset_of!(Params, n_classes)),
            ("readout_off", offset_of!(Params, readout_off)),
            ("seg_off", offset_of!(Params, seg_off)),
            ("obs_off", offset_of!(Params, obs_off)),
            ("n_extra", offset_of!(Params, n_extra)),
            ("chunk_steps", offset_of!(Params, chunk_steps)),
            ("live_off", offset_of!(Params, live_off)),
            ("chunk_pad0", offset_of!(Params, chunk_pad0)),
            ("chunk_pad1", offset_of!(Params, chunk_pad1)),
        ];
        assert_eq!(members.len(), rust.len());
        for (m, (name, offset)) in members.iter().zip(rust) {
            assert_eq!(m.name.as_deref(), Some(name));
            assert_eq!(m.offset as usize, offset, "{name}");
        }
    }
}
