//! The gradient methods that have a GPU kernel: the GPU mirror of `nodelab::grad::GradMethod`.

use super::shader::Kernel;
use crate::grad::GradMethod;

/// Gradient methods with a GPU kernel (CLI names as in `nodelab grad`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GpuGradMethod {
    Backprop,
    /// `backprop`'s derivative from K checkpoints, each chunk recomputed on the way back.
    Checkpoint,
    Adjoint,
    Afge,
    /// The asynchronous leapfrog integrator's exact gradient, states reconstructed backwards.
    Alf,
    ReversibleHeun,
    /// McCallum & Foster's λ-coupled reversible RK4, states reconstructed backwards.
    ReversibleRk4,
}

impl GpuGradMethod {
    pub const ALL: [GpuGradMethod; 7] = [
        GpuGradMethod::Backprop,
        GpuGradMethod::Checkpoint,
        GpuGradMethod::Adjoint,
        GpuGradMethod::Afge,
        GpuGradMethod::Alf,
        GpuGradMethod::ReversibleHeun,
        GpuGradMethod::ReversibleRk4,
    ];

    pub fn name(self) -> &'static str {
        match self {
            GpuGradMethod::Backprop => "backprop",
            GpuGradMethod::Checkpoint => "checkpoint",
            GpuGradMethod::Adjoint => "adjoint",
            GpuGradMethod::Afge => "afge",
            GpuGradMethod::Alf => "alf",
            GpuGradMethod::ReversibleHeun => "reversible-heun",
            GpuGradMethod::ReversibleRk4 => "reversible-rk4",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    pub(crate) fn kernel(self) -> Kernel {
        match self {
            GpuGradMethod::Backprop => Kernel::Backprop,
            GpuGradMethod::Checkpoint => Kernel::Checkpoint,
            GpuGradMethod::Adjoint => Kernel::Adjoint,
            GpuGradMethod::Afge => Kernel::Afge,
            GpuGradMethod::Alf => Kernel::Alf,
            GpuGradMethod::ReversibleHeun => Kernel::ReversibleHeun,
            GpuGradMethod::ReversibleRk4 => Kernel::ReversibleRk4,
        }
    }

    /// f-evaluations per step, forward and backward (one sample).
    pub fn nfe_per_step(self) -> (u64, u64) {
        match self {
            // Backward: 4 recomputed stages + 4 vector–Jacobian products.
            GpuGradMethod::Backprop => (4, 8),
            // Backward: the chunk's replayed forward step (4), then backprop's 8.
            GpuGradMethod::Checkpoint => (4, 12),
            // Backward: 4 stages of the augmented system, each an evaluation and a VJP.
            GpuGradMethod::Adjoint => (4, 8),
            // The sensitivity columns ride on the forward stages (counted as JVPs, not here).
            GpuGradMethod::Afge => (4, 0),
            // Forward: 1 (plus V_0); backward: the reconstruction evaluation and one VJP.
            GpuGradMethod::Alf => (1, 2),
            // Backward: 1 reconstruction evaluation + 2 VJPs (each with its evaluation).
            GpuGradMethod::ReversibleHeun => (1, 3),
            // Forward: two RK4 increments; backward: two increments and their VJPs (4 + 4 each).
            GpuGradMethod::ReversibleRk4 => (8, 24),
        }
    }
}

impl GpuGradMethod {
    /// Whether the method runs on the reversible grid (equal steps per segment, ⌈span/h⌉ in
    /// all, nodelab::grad::reversible) rather than RK4's fixed schedule.
    pub fn reversible(self) -> bool {
        matches!(
            self,
            GpuGradMethod::Alf | GpuGradMethod::ReversibleHeun | GpuGradMethod::ReversibleRk4
        )
    }

    /// The CPU method computing the same gradient (the f64 reference of each kernel).
    pub fn cpu(self) -> GradMethod {
        match self {
            GpuGradMethod::Backprop => GradMethod::Backprop,
            GpuGradMethod::Checkpoint => GradMethod::Checkpoint,
            GpuGradMethod::Adjoint => GradMethod::Adjoint,
            GpuGradMethod::Afge => GradMethod::Afge,
            GpuGradMethod::Alf => GradMethod::Alf,
            GpuGradMethod::ReversibleHeun => GradMethod::ReversibleHeun,
            GpuGradMethod::ReversibleRk4 => GradMethod::ReversibleRk4,
        }
    }

    /// The kernel of a CPU method (`None`: that method runs on the CPU only).
    pub fn of_cpu(method: GradMethod) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.cpu() == method)
    }
}
