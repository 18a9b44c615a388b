//! Bounding one dispatch's work (watchdogs: Windows' TDR resets a GPU whose dispatch runs past
//! ~2 s, macOS and some Linux drivers do the same). A chunked kernel numbers its whole step
//! sequence q = 0, 1, …, Q − 1 (rk4-forward, afge: the N steps; backprop, adjoint and the
//! reversible kernels: N forward steps, then the N backward steps; checkpoint: N forward
//! steps, then per checkpoint block from the last its replay and backward steps, 3N in all;
//! the adaptive kernels, zc-rk4 forward and afge adaptive: the ATTEMPTED steps, Q = max_steps
//! (afge adaptive: max_steps per segment, times the segments), a sample that finished early
//! returning at once from the later dispatches) and one dispatch runs steps [begin, begin + C);
//! the sample's live state (y, ā, the loss so far; θ̄ in its `grad_ps` rows; the step counter,
//! loop counters and status in its `stats` row) stays on the device between dispatches, and
//! all ⌈Q / C⌉ dispatches go in one submission with no readback between them
//! (shaders/common.wgsl, "Step chunks").
//!
//! The chunk length C comes from an estimate of the work:
//!   flops(one step of the batch) = B · e · 2 · Σ_l n_l n_{l+1} · channels,
//! with e the evaluations per step (a vector–Jacobian product counted as two evaluations), and
//! C = ⌊[`DISPATCH_BUDGET_S`] · [`SUSTAINED_FLOPS`] / flops(one step)⌋ (at least 1, and at
//! least ⌈Q / [`MAX_DISPATCHES`]⌉); a plan whose one dispatch is still estimated above
//! [`DISPATCH_REFUSE_S`] is refused.
//!
//! Every solve and gradient kernel runs in step chunks; the one-dispatch kernels left are the
//! reduction and the field probe (one evaluation per sample).

use super::GpuSolver;
use crate::gpu::buffers::Params;
use crate::gpu::context::GpuError;
use crate::gpu::layout::Shape;
use crate::gpu::shader::Kernel;

/// Assumed sustained f32 rate of a mid-range desktop GPU on these kernels: 500 GFLOP/s.
/// Where from: mid-range cards (GTX 1660 Super 5.0, RTX 3060 12.7, RX 6600 8.9 TFLOP/s f32
/// peak, vendor specifications) run these kernels one serial solve per invocation with θ read
/// from storage and the activations in registers, assumed to reach about a tenth of a
/// 5 TFLOP/s peak. An assumption, not a measurement: no hardware GPU has run these kernels.
pub const SUSTAINED_FLOPS: f64 = 5.0e11;

/// Target duration of one dispatch: 100 ms, a twentieth of Windows' 2 s TDR (issue 22).
pub const DISPATCH_BUDGET_S: f64 = 0.1;

/// An unchunked kernel whose one dispatch is estimated above this (half the TDR) is refused.
pub const DISPATCH_REFUSE_S: f64 = 1.0;

/// Most dispatches of one chunked kernel in a submission. An adaptive kernel's sequence is its
/// attempt budget (max_steps, 200 000 by default, per segment), so ⌈Q / C⌉ can be large; the
/// dispatches after every sample has finished are near empty (each invocation reads its
/// `stats` status and returns), but each still costs a launch and a barrier, ~5–20 µs on a
/// desktop GPU and more on a software adapter, and its encoding on the CPU: 65 536 of them
/// cost of the order of a second. Beyond this count the chunk grows to ⌈Q / 65 536⌉ steps
/// (and the plan is refused if that chunk is estimated above [`DISPATCH_REFUSE_S`]).
pub const MAX_DISPATCHES: u32 = 1 << 16;

/// Set in a finished adaptive sample's status (`stats[4 s + 3]`, `LIVE_FINISHED` of
/// shaders/zc_rk4.wgsl) so that the later dispatches of its submission skip it; cleared on the
/// host by [`clear_finished`].
pub const FINISHED_MARK: u32 = 1 << 31;

/// Clears [`FINISHED_MARK`] from the statuses read back.
pub fn clear_finished(stats: &mut [crate::gpu::buffers::SampleStats]) {
    for s in stats {
        s.status &= !FINISHED_MARK;
    }
}

/// Environment override of the chunk length (steps per dispatch; tests force tiny chunks).
pub const CHUNK_ENV: &str = "NODELAB_GPU_CHUNK_STEPS";

/// Flops of one evaluation of the field of `shape`: 2 · Σ n_l n_{l+1} multiply-adds (times the
/// trace form's 1 + d channels) plus ~10 per activation.
pub fn eval_flops(shape: &Shape) -> f64 {
    let macs: usize = shape.sizes.windows(2).map(|w| w[0] * w[1]).sum();
    let units: usize = shape.sizes[1..].iter().sum();
    (2.0 * macs as f64 + 10.0 * units as f64) * shape.channels() as f64
}

/// Evaluations per step of `kernel`'s step sequence, the heaviest step counted (a
/// vector–Jacobian product as two), for a tableau of s stages: rk4-forward 4; the backward
/// step of backprop and checkpoint (s recomputed stages + s VJPs) and of adjoint (s
/// evaluations + s VJPs) 3s; zc-rk4 an attempt's 4 evaluations and the first-step estimate's
/// extra one, 5; afge 4 (adaptive 5) plus its sensitivity work ([`afge_sens_flops`], added in
/// [`step_seconds`]); the reversible kernels their backward step's (below).
pub fn evals_per_step(kernel: Kernel) -> f64 {
    match kernel {
        Kernel::Rk4Forward => 4.0,
        Kernel::Backprop(rk) => 3.0 * rk.stages() as f64,
        // Forward RK4 step and error estimate (5 evaluations, FSAL) per attempted step.
        Kernel::ZcRk4Forward | Kernel::AfgeAdaptive => 5.0,
        // The backward step: s recomputed stages + s VJPs (checkpoint), s evaluations + s VJPs
        // of the augmented system (adjoint).
        Kernel::Checkpoint(rk) | Kernel::Adjoint(rk) => 3.0 * rk.stages() as f64,
        Kernel::Afge => 4.0,
        // The backward step: the reconstruction evaluation and its VJP (V_0's evaluation and
        // VJP once more in the last chunk).
        Kernel::Alf => 1.0 + 2.0,
        // The backward step: two VJPs and the reconstruction evaluation (a chunk that resumes
        // the backward pass recomputes one evaluation).
        Kernel::ReversibleHeun => 2.0 + 1.0 + 2.0,
        // The backward step: two increments' VJPs (s stages + s VJPs each) and two increments.
        Kernel::ReversibleLambda(rk) => 8.0 * rk.stages() as f64,
        Kernel::Reduce | Kernel::FieldProbe => 0.0,
    }
}

/// Steps of the whole sequence a chunked kernel runs for `n_steps` fixed steps (None: the
/// kernel is not chunked).
pub fn sequence_len(kernel: Kernel, n_steps: u32) -> Option<u32> {
    match kernel {
        Kernel::Rk4Forward => Some(n_steps),
        Kernel::Backprop(_) => Some(2 * n_steps),
        Kernel::Checkpoint(_) => Some(3 * n_steps),
        Kernel::Adjoint(_) => Some(2 * n_steps),
        Kernel::ReversibleLambda(_) => Some(2 * n_steps),
        Kernel::ReversibleHeun => Some(2 * n_steps),
        Kernel::Alf => Some(2 * n_steps),
        // Fixed steps; the adaptive kernels' attempt budget (afge: max_steps × segments).
        Kernel::Afge | Kernel::ZcRk4Forward | Kernel::AfgeAdaptive => Some(n_steps),
        _ => None,
    }
}

/// Live rows a chunked kernel keeps in `traj` per sample between dispatches (y; backprop and
/// adjoint also ā and the loss; checkpoint also the replay state; the reversible kernels their
/// pair of states, its adjoints and the loss, reversible-heun also f(ŷ); zc-rk4 also the
/// controller: k1, the previous step's polynomial (3D), t, h, the previous t and h, two flags;
/// afge y, the loss and S = ∂y/∂θ (D·P), adaptive also the controller, the segment, its first
/// attempt (two rows) and stage 1's activation store).
pub fn live_rows(kernel: Kernel, shape: &Shape) -> u32 {
    let dim = shape.dim;
    let sens = (dim * shape.n_params()) as u32;
    match kernel {
        Kernel::Rk4Forward => dim as u32,
        Kernel::Backprop(_) => 2 * dim as u32 + 1,
        Kernel::Checkpoint(_) => 3 * dim as u32 + 1,
        Kernel::Adjoint(_) => 2 * dim as u32 + 1,
        Kernel::ReversibleLambda(_) => 4 * dim as u32 + 1,
        Kernel::ReversibleHeun => 5 * dim as u32 + 1,
        Kernel::Alf => 4 * dim as u32 + 1,
        Kernel::ZcRk4Forward => 5 * dim as u32 + 6,
        Kernel::Afge => dim as u32 + 1 + sens,
        Kernel::AfgeAdaptive => {
            5 * dim as u32 + 10 + 2 * (shape.channels() * shape.act_total()) as u32 + sens
        }
        _ => 0,
    }
}

/// Flops of afge's sensitivity work in one accepted step (afge.wgsl): each of the 4 stages'
/// Jacobians J = ∂f/∂y and G_l = ∂f/∂z_l by D reverse passes (an evaluation's cost each), then
/// P columns of S advanced through the 4 stages, 2D(D + 1) for K = J u + G x and ~3D for the
/// stage combination each.
pub fn afge_sens_flops(shape: &Shape) -> f64 {
    let d = shape.dim as f64;
    4.0 * d * eval_flops(shape) + 4.0 * shape.n_params() as f64 * (2.0 * d * (d + 1.0) + 3.0 * d)
}

/// Estimated seconds of one step of `kernel` for `batch` samples on the assumed mid-range GPU
/// (an adaptive kernel's attempt counted as accepted).
pub fn step_seconds(shape: &Shape, kernel: Kernel, batch: usize) -> f64 {
    let mut flops = evals_per_step(kernel) * eval_flops(shape);
    if matches!(kernel, Kernel::Afge | Kernel::AfgeAdaptive) {
        flops += afge_sens_flops(shape);
    }
    batch as f64 * flops / SUSTAINED_FLOPS
}

/// The chunk length the estimate picks: the most steps whose dispatch stays within
/// [`DISPATCH_BUDGET_S`] (at least one).
pub fn estimated_chunk(shape: &Shape, kernel: Kernel, batch: usize) -> u32 {
    let per = step_seconds(shape, kernel, batch);
    if per <= 0.0 {
        return u32::MAX;
    }
    (DISPATCH_BUDGET_S / per)
        .floor()
        .clamp(1.0, f64::from(u32::MAX)) as u32
}

/// The override of [`CHUNK_ENV`], if set to a positive whole number.
pub fn env_chunk() -> Option<u32> {
    std::env::var(CHUNK_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|&c| c > 0)
}

/// Kernels in submission order, each with its workgroup count (a chunked kernel once per
/// chunk).
pub(super) type Dispatches = Vec<(Kernel, u32)>;

/// How one chunked kernel is dispatched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkPlan {
    /// Steps per dispatch (`Params::chunk_steps`; 0: the whole sequence in one dispatch).
    pub steps: u32,
    /// Dispatches in the submission.
    pub dispatches: u32,
}

impl ChunkPlan {
    pub const WHOLE: ChunkPlan = ChunkPlan {
        steps: 0,
        dispatches: 1,
    };

    /// `chunk` steps per dispatch over a sequence of `len` steps; `None` (or a chunk ≥ len
    /// when not forced) keeps the whole sequence in one dispatch.
    pub fn new(len: u32, chunk: Option<u32>) -> Self {
        match chunk {
            Some(c) if c > 0 && c < len => ChunkPlan {
                steps: c,
                dispatches: len.div_ceil(c),
            },
            _ => Self::WHOLE,
        }
    }
}

impl GpuSolver {
    /// Steps per dispatch of `kernel` over a sequence of `len` for `batch` samples: the
    /// override [`GpuSolver::chunk_steps`], else [`estimated_chunk`] raised so that there are
    /// at most [`MAX_DISPATCHES`] dispatches.
    fn chunk_for(&self, kernel: Kernel, len: u32, batch: usize) -> u32 {
        self.chunk_steps.unwrap_or_else(|| {
            estimated_chunk(&self.shape, kernel, batch).max(len.div_ceil(MAX_DISPATCHES))
        })
    }

    /// Bytes of the live state `kernel` keeps in `traj` between dispatches for `batch`
    /// samples over `steps` steps, as [`GpuSolver::plan_dispatches`] would plan it (0: the
    /// kernel runs whole in one dispatch).
    pub fn live_bytes(&self, kernel: Kernel, steps: u32, batch: usize) -> u64 {
        let Some(len) = sequence_len(kernel, steps) else {
            return 0;
        };
        if ChunkPlan::new(len, Some(self.chunk_for(kernel, len, batch))).steps == 0 {
            return 0;
        }
        4 * u64::from(live_rows(kernel, &self.shape)) * batch as u64
    }

    /// The dispatches of `kernel` over `steps` steps (fixed steps, or an adaptive solve's
    /// attempt budget) for the uploaded batch. A chunked kernel gets its plan (the override
    /// [`GpuSolver::chunk_steps`], else [`estimated_chunk`], at most [`MAX_DISPATCHES`]
    /// dispatches; refused when one is estimated above [`DISPATCH_REFUSE_S`]) with
    /// `chunk_steps` and `live_off`
    /// set in `params`, its live state placed in `traj` after the method's own `traj_bytes`;
    /// an unchunked kernel is refused when its one dispatch is estimated above
    /// [`DISPATCH_REFUSE_S`]. Returns the dispatches and the `traj` bytes needed.
    pub(super) fn plan_dispatches(
        &self,
        kernel: Kernel,
        steps: u32,
        traj_bytes: u64,
        params: &mut Params,
    ) -> Result<(Dispatches, u64), GpuError> {
        let batch = self.batch();
        let groups = self.groups();
        let per_step = step_seconds(&self.shape, kernel, batch);
        let Some(len) = sequence_len(kernel, steps) else {
            let whole = per_step * f64::from(steps);
            if whole > DISPATCH_REFUSE_S {
                return Err(GpuError::Unsupported(format!(
                    "one dispatch of {} over {steps} steps at batch {batch} is estimated at \
                     {:.1} s on a mid-range GPU, above the {DISPATCH_REFUSE_S} s bound that keeps \
                     clear of driver watchdogs (this kernel runs the whole solve in one \
                     dispatch): use a smaller batch, fewer steps, or the backprop method (run \
                     in step chunks)",
                    kernel.entry_point(),
                    whole
                )));
            }
            return Ok((vec![(kernel, groups)], traj_bytes));
        };
        let plan = ChunkPlan::new(len, Some(self.chunk_for(kernel, len, batch)));
        let run = if plan.steps == 0 { len } else { plan.steps };
        let longest = per_step * f64::from(run);
        if longest > DISPATCH_REFUSE_S {
            return Err(GpuError::Unsupported(format!(
                "one dispatch of {} ({run} steps) at batch {batch} is estimated at {longest:.1} s \
                 on a mid-range GPU, above the {DISPATCH_REFUSE_S} s bound that keeps clear of \
                 driver watchdogs: use a smaller batch, a smaller network or (adaptive solves, \
                 at most {MAX_DISPATCHES} dispatches) a smaller max_steps",
                kernel.entry_point(),
            )));
        }
        if plan.steps == 0 {
            return Ok((vec![(kernel, groups)], traj_bytes));
        }
        let live_off = traj_bytes.div_ceil(4);
        let live_off_u32 = u32::try_from(live_off).map_err(|_| {
            GpuError::Unsupported(format!(
                "the trajectory buffer's {live_off} numbers are too many"
            ))
        })?;
        params.chunk_steps = plan.steps;
        params.live_off = live_off_u32;
        let live = 4 * u64::from(live_rows(kernel, &self.shape)) * batch as u64;
        Ok((
            vec![(kernel, groups); plan.dispatches as usize],
            4 * live_off + live,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_covers_the_sequence() {
        assert_eq!(
            ChunkPlan::new(10, Some(3)),
            ChunkPlan {
                steps: 3,
                dispatches: 4
            }
        );
        assert_eq!(
            ChunkPlan::new(10, Some(1)),
            ChunkPlan {
                steps: 1,
                dispatches: 10
            }
        );
        assert_eq!(ChunkPlan::new(10, Some(10)), ChunkPlan::WHOLE);
        assert_eq!(ChunkPlan::new(10, None), ChunkPlan::WHOLE);
    }

    /// The mark the adaptive kernels set on a finished sample is the one the host clears.
    #[test]
    fn finished_mark_is_the_shaders() {
        let src = include_str!("../../../shaders/zc_rk4.wgsl");
        let line = format!("const LIVE_FINISHED: u32 = 0x{FINISHED_MARK:08X}u;");
        assert!(src.contains(&line), "{line}");
        let mut stats = [crate::gpu::buffers::SampleStats {
            accepted: 1,
            rejected: 2,
            nfev: 3,
            status: FINISHED_MARK | 3,
        }];
        clear_finished(&mut stats);
        assert_eq!(stats[0].status, 3);
    }
}
