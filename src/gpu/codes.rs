//! The numbers the kernels and the host agree on, defined once here and written into the
//! generated WGSL ([`wgsl_block`], the `@codes` block of shaders/common.wgsl): the per-sample
//! status codes, the loss codes, the activation codes and the step controller's constants.
//! The shipped block of common.wgsl is this block verbatim (a test ties both sides).

use std::fmt::Write;

use super::objective::GpuLoss;
use crate::nn::Activation;
use crate::solver::common::guarded;

/// Per-sample status codes written to `stats[4 s + 3]`.
pub mod status {
    pub const OK: u32 = 0;
    /// A state, loss or gradient value became non-finite.
    pub const NONFINITE: u32 = 1;
    pub const UNDERFLOW: u32 = 2;
    pub const MAX_STEPS: u32 = 3;
    /// A loop stopped before its end without the kernel breaking out of it: software drivers
    /// cap the loop iterations of one invocation (lavapipe: 65 535), so results would be wrong.
    pub const INCOMPLETE: u32 = 4;

    /// `(WGSL name, code)`.
    pub const ALL: [(&str, u32); 5] = [
        ("STATUS_OK", OK),
        ("STATUS_NONFINITE", NONFINITE),
        ("STATUS_UNDERFLOW", UNDERFLOW),
        ("STATUS_MAX_STEPS", MAX_STEPS),
        ("STATUS_INCOMPLETE", INCOMPLETE),
    ];

    /// What a status means.
    pub fn text(code: u32) -> &'static str {
        match code {
            OK => "ok",
            NONFINITE => "non-finite value (the solution blew up)",
            UNDERFLOW => "step size underflow",
            MAX_STEPS => "max_steps reached",
            INCOMPLETE => "loops cut short by the driver",
            _ => "unknown status",
        }
    }
}

/// The loss kinds with a kernel, `(WGSL name, loss)`.
pub const LOSSES: [(&str, GpuLoss); 7] = [
    ("LOSS_HALF_SSE", GpuLoss::HalfSse),
    ("LOSS_MSE", GpuLoss::Mse),
    ("LOSS_TRAJECTORY_MSE", GpuLoss::TrajectoryMse),
    ("LOSS_CROSS_ENTROPY", GpuLoss::CrossEntropy),
    ("LOSS_NLL", GpuLoss::Nll),
    ("LOSS_TRAJECTORY_L1", GpuLoss::TrajectoryL1),
    ("LOSS_TRAJECTORY_SSE", GpuLoss::TrajectorySse),
];

/// The activations, `(WGSL name, activation)`.
pub const ACTIVATIONS: [(&str, Activation); 5] = [
    ("ACT_TANH", Activation::Tanh),
    ("ACT_SOFTPLUS", Activation::Softplus),
    ("ACT_RELU", Activation::Relu),
    ("ACT_SIGMOID", Activation::Sigmoid),
    ("ACT_IDENTITY", Activation::Identity),
];

/// The code of an activation (`ACTIVATION` of the shape block).
pub fn activation(a: Activation) -> u32 {
    match a {
        Activation::Tanh => 0,
        Activation::Softplus => 1,
        Activation::Relu => 2,
        Activation::Sigmoid => 3,
        Activation::Identity => 4,
    }
}

/// Step controller of the adaptive kernels: the CPU's guarded controller
/// ([`crate::solver::common::guarded`], defined there once), in f32:
/// `h ← h·clamp(SAFETY·r^(−1/4), FAC_MIN, FAC_MAX)`.
pub const STEP_SAFETY: f32 = guarded::SAFETY as f32;
pub const STEP_FAC_MIN: f32 = guarded::FAC_MIN as f32;
pub const STEP_FAC_MAX: f32 = guarded::FAC_MAX as f32;
/// A last-step remainder below this fraction of h is absorbed into the step (f32; the f64
/// solver uses 1e-10).
pub const STEP_ABSORB: f32 = 1e-5;

fn float(v: f32) -> String {
    let s = format!("{v:?}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
}

/// The WGSL declarations of every code and constant above.
pub fn wgsl_block() -> String {
    let mut o = String::new();
    for (name, code) in status::ALL {
        let _ = writeln!(o, "const {name}: u32 = {code}u;");
    }
    for (name, loss) in LOSSES {
        let _ = writeln!(o, "const {name}: u32 = {}u;", loss.code());
    }
    for (name, a) in ACTIVATIONS {
        let _ = writeln!(o, "const {name}: u32 = {}u;", activation(a));
    }
    for (name, v) in [
        ("STEP_SAFETY", STEP_SAFETY),
        ("STEP_FAC_MIN", STEP_FAC_MIN),
        ("STEP_FAC_MAX", STEP_FAC_MAX),
        ("STEP_ABSORB", STEP_ABSORB),
    ] {
        let _ = writeln!(o, "const {name}: f32 = {};", float(v));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped common.wgsl carries exactly the block generated here, so a shader read on
    /// its own and the host agree on every code.
    #[test]
    fn shipped_block_is_the_generated_one() {
        let common = include_str!("../../shaders/common.wgsl");
        let block = wgsl_block();
        assert!(
            common.contains(&format!("// @codes-begin\n{block}// @codes-end\n")),
            "{block}"
        );
    }

    /// Codes are distinct within each family, and the loss codes are GpuLoss::code.
    #[test]
    fn codes_are_distinct() {
        let mut s: Vec<u32> = status::ALL.iter().map(|x| x.1).collect();
        s.dedup();
        assert_eq!(s.len(), 5);
        let mut l: Vec<u32> = LOSSES.iter().map(|x| x.1.code()).collect();
        l.sort_unstable();
        l.dedup();
        assert_eq!(l.len(), LOSSES.len());
        let mut a: Vec<u32> = ACTIVATIONS.iter().map(|x| activation(x.1)).collect();
        a.sort_unstable();
        a.dedup();
        assert_eq!(a.len(), 5);
        assert_eq!(status::text(status::UNDERFLOW), "step size underflow");
    }
}
