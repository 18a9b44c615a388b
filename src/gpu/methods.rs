//! The gradient methods that have a GPU kernel: the GPU mirror of `nodelab::grad::GradMethod`,
//! the fixed-step tableau each runs with, and why the others ([`cpu_only`]) stay on the CPU.

use super::shader::Kernel;
use super::stages::FixedRk;
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
    /// The same λ-coupling around the midpoint step.
    ReversibleMidpoint,
}

impl GpuGradMethod {
    pub const ALL: [GpuGradMethod; 8] = [
        GpuGradMethod::Backprop,
        GpuGradMethod::Checkpoint,
        GpuGradMethod::Adjoint,
        GpuGradMethod::Afge,
        GpuGradMethod::Alf,
        GpuGradMethod::ReversibleHeun,
        GpuGradMethod::ReversibleRk4,
        GpuGradMethod::ReversibleMidpoint,
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
            GpuGradMethod::ReversibleMidpoint => "reversible-midpoint",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The kernel of this method in a run whose fixed-step solver is `rk`, or why there is
    /// none. backprop, checkpoint and adjoint take the run's tableau (the adjoint backsolves
    /// with the forward solver, as nodelab::grad::adjoint does); the λ-reversible methods
    /// their own (RK4, midpoint) and alf, reversible-heun their own schemes, whatever the
    /// solver (as on the CPU); afge's kernel carries the sensitivities through RK4 only.
    pub(crate) fn kernel(self, rk: FixedRk) -> Result<Kernel, String> {
        Ok(match self {
            GpuGradMethod::Backprop => Kernel::Backprop(rk),
            GpuGradMethod::Checkpoint => Kernel::Checkpoint(rk),
            GpuGradMethod::Adjoint => Kernel::Adjoint(rk),
            GpuGradMethod::Afge if rk == FixedRk::Rk4 => Kernel::Afge,
            GpuGradMethod::Afge => {
                return Err(format!(
                    "afge: the GPU kernel carries the sensitivities through RK4's stages only; \
                     the run's solver is {} (set method = \"rk4\", or train afge on the CPU)",
                    rk.name()
                ));
            }
            GpuGradMethod::Alf => Kernel::Alf,
            GpuGradMethod::ReversibleHeun => Kernel::ReversibleHeun,
            GpuGradMethod::ReversibleRk4 => Kernel::ReversibleLambda(FixedRk::Rk4),
            GpuGradMethod::ReversibleMidpoint => Kernel::ReversibleLambda(FixedRk::Midpoint),
        })
    }

    /// f-evaluations per step, forward and backward (one sample), in a run whose fixed-step
    /// solver is `rk` (s stages).
    pub fn nfe_per_step(self, rk: FixedRk) -> (u64, u64) {
        let s = rk.stages();
        match self {
            // Backward: s recomputed stages + s vector–Jacobian products.
            GpuGradMethod::Backprop => (s, 2 * s),
            // Backward: the chunk's replayed forward step (s), then backprop's 2s.
            GpuGradMethod::Checkpoint => (s, 3 * s),
            // Backward: s stages of the augmented system, each an evaluation and a VJP.
            GpuGradMethod::Adjoint => (s, 2 * s),
            // The sensitivity columns ride on the forward stages (counted as JVPs, not here).
            GpuGradMethod::Afge => (4, 0),
            // Forward: 1 (plus V_0); backward: the reconstruction evaluation and one VJP.
            GpuGradMethod::Alf => (1, 2),
            // Backward: 1 reconstruction evaluation + 2 VJPs (each with its evaluation).
            GpuGradMethod::ReversibleHeun => (1, 3),
            // Forward: two increments of s_Φ stages; backward: two increments and their VJPs
            // (s_Φ + s_Φ each).
            GpuGradMethod::ReversibleRk4 => (8, 24),
            GpuGradMethod::ReversibleMidpoint => (4, 12),
        }
    }
}

impl GpuGradMethod {
    /// Whether the method runs on the reversible grid (equal steps per segment, ⌈span/h⌉ in
    /// all, nodelab::grad::reversible) rather than RK4's fixed schedule.
    pub fn reversible(self) -> bool {
        matches!(
            self,
            GpuGradMethod::Alf
                | GpuGradMethod::ReversibleHeun
                | GpuGradMethod::ReversibleRk4
                | GpuGradMethod::ReversibleMidpoint
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
            GpuGradMethod::ReversibleMidpoint => GradMethod::ReversibleMidpoint,
        }
    }

    /// The kernel of a CPU method (`None`: that method runs on the CPU only).
    pub fn of_cpu(method: GradMethod) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.cpu() == method)
    }
}

/// Why a CPU method has no GPU kernel (None: it has one, [`GpuGradMethod::of_cpu`]). Every
/// method is decided here: a new one does not compile until it is.
pub fn cpu_only(method: GradMethod) -> Option<&'static str> {
    match method {
        GradMethod::InterpAdjoint => Some(
            "its backward pass reads the forward state from a Chebyshev interpolant filled from \
             an adaptive solve's dense output (IRDM); the device kernels take fixed steps and keep \
             no dense output (the continuous adjoint `adjoint` runs on the device)",
        ),
        GradMethod::Fd => Some(
            "central finite differences take 2P + 1 solves per gradient (P parameters) in f64: a \
             reference with no f32 path",
        ),
        GradMethod::Backprop
        | GradMethod::Checkpoint
        | GradMethod::Adjoint
        | GradMethod::Afge
        | GradMethod::Alf
        | GradMethod::ReversibleHeun
        | GradMethod::ReversibleRk4
        | GradMethod::ReversibleMidpoint => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every CPU method has a kernel or a reason, never both; the names agree.
    #[test]
    fn every_method_has_a_kernel_or_a_reason() {
        for m in GradMethod::ALL {
            match GpuGradMethod::of_cpu(m) {
                Some(g) => {
                    assert_eq!(g.name(), m.name());
                    assert!(cpu_only(m).is_none(), "{m}");
                }
                None => assert!(cpu_only(m).is_some(), "{m}"),
            }
        }
        for g in GpuGradMethod::ALL {
            assert_eq!(GpuGradMethod::parse(g.name()), Some(g));
        }
    }

    /// The tableau-generic kernels take the run's tableau; afge refuses any but RK4; the
    /// λ-reversible kernels keep their own.
    #[test]
    fn kernels_take_the_runs_tableau() {
        for rk in FixedRk::ALL {
            assert_eq!(GpuGradMethod::Backprop.kernel(rk), Ok(Kernel::Backprop(rk)));
            assert_eq!(GpuGradMethod::Adjoint.kernel(rk), Ok(Kernel::Adjoint(rk)));
            assert_eq!(
                GpuGradMethod::ReversibleMidpoint.kernel(rk),
                Ok(Kernel::ReversibleLambda(FixedRk::Midpoint))
            );
            assert_eq!(GpuGradMethod::Afge.kernel(rk).is_ok(), rk == FixedRk::Rk4);
            assert_eq!(
                GpuGradMethod::Backprop.nfe_per_step(rk),
                (rk.stages(), 2 * rk.stages())
            );
        }
    }
}
