//! The GPU form of a loss and the packing of its data into the `data` buffer:
//! `[y0 (batch × D) | targets and mask, or labels | read-out | segment table]` (the regression
//! losses' part in [`super::observation`]'s layout).

use super::context::GpuError;
use super::observation::ObservationLayout;
use crate::grad::{Loss, LossKind};

/// Losses with a GPU kernel (issue 3's conventions, `nodelab::grad::loss`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpuLoss {
    /// L = ½ Σ_samples Σ_i (y_i(T) − target_i)².
    HalfSse,
    /// L = mean over samples and components of (y_i(T) − target_i)².
    Mse,
    /// L = mean over observations, samples and components of (y_i(τ_k) − target_k,i)².
    TrajectoryMse,
    /// L = mean over samples of logsumexp(z) − z_label, z = W y(T) + c (linear read-out).
    CrossEntropy,
    /// L = mean over samples of ½|z|² + (d/2) ln 2π − ℓ on the density field's y(T) = [z, ℓ]
    /// (a continuous normalising flow's NLL; needs a density shape, [`super::Shape::trace`]).
    Nll,
    /// L = Σ_k Σ_s Σ_{i∈C} |y_i(τ_k) − target_k,i| / ((K + 1) · batch · |C|): the mean over a
    /// window of K + 1 samples whose first (the start) has error 0; ∂L/∂y = sign(r)·scale, 0 at
    /// r = 0.
    TrajectoryL1,
    /// L = Σ_k Σ_s Σ_{i∈C} (y_i(τ_k) − target_k,i)² (sum of squared errors).
    TrajectorySse,
}

impl GpuLoss {
    pub fn code(self) -> u32 {
        match self {
            GpuLoss::HalfSse => 0,
            GpuLoss::Mse => 1,
            GpuLoss::TrajectoryMse => 2,
            GpuLoss::CrossEntropy => 3,
            GpuLoss::Nll => 4,
            GpuLoss::TrajectoryL1 => 5,
            GpuLoss::TrajectorySse => 6,
        }
    }

    /// The name of `nodelab grad`'s `[loss] kind`.
    pub fn name(self) -> &'static str {
        self.kind().name()
    }

    pub fn kind(self) -> LossKind {
        match self {
            GpuLoss::HalfSse => LossKind::HalfSse,
            GpuLoss::Mse => LossKind::Mse,
            GpuLoss::TrajectoryMse => LossKind::TrajectoryMse,
            GpuLoss::CrossEntropy => LossKind::CrossEntropy,
            GpuLoss::Nll => LossKind::Nll,
            GpuLoss::TrajectoryL1 => LossKind::TrajectoryL1,
            GpuLoss::TrajectorySse => LossKind::TrajectorySse,
        }
    }

    /// The kernel loss of a CPU loss kind (`None`: no kernel implements it).
    pub fn of_kind(kind: LossKind) -> Option<Self> {
        match kind {
            LossKind::HalfSse => Some(GpuLoss::HalfSse),
            LossKind::Mse => Some(GpuLoss::Mse),
            LossKind::TrajectoryMse => Some(GpuLoss::TrajectoryMse),
            LossKind::CrossEntropy => Some(GpuLoss::CrossEntropy),
            LossKind::Nll => Some(GpuLoss::Nll),
            LossKind::TrajectoryL1 => Some(GpuLoss::TrajectoryL1),
            LossKind::TrajectorySse => Some(GpuLoss::TrajectorySse),
        }
    }

    /// A loss observed at the times τ_1 < … < τ_K (the solve split at them).
    pub fn is_trajectory(self) -> bool {
        self.kind().is_trajectory()
    }

    /// A loss on targets (and the observed-component mask) of [`super::observation`]'s layout.
    pub fn is_regression(self) -> bool {
        !matches!(self, GpuLoss::CrossEntropy | GpuLoss::Nll)
    }

    /// A loss on y(T) alone with one target per sample.
    pub fn is_terminal_regression(self) -> bool {
        matches!(self, GpuLoss::HalfSse | GpuLoss::Mse)
    }
}

/// Largest whole number the kernels read from the f32 `data` buffer (labels, step counts).
pub const F32_EXACT: u32 = 1 << 24;

/// A batch's loss data, flat (the GPU form of `nodelab::grad::Loss`).
#[derive(Clone, Debug, PartialEq)]
pub struct GpuObjective {
    pub loss: GpuLoss,
    /// Observation times τ_1 < … < τ_K of the trajectory losses (empty otherwise: the end t1).
    pub times: Vec<f64>,
    /// Targets, observation-major `(k · batch + s) · D + i` (one observation for the terminal
    /// losses; empty for cross-entropy or a forward solve).
    pub targets: Vec<f64>,
    /// Class of each sample (cross-entropy).
    pub labels: Vec<u32>,
    /// Read-out weight W, `[class][component]` row-major (C × D), and bias c (C).
    pub readout_weight: Vec<f64>,
    pub readout_bias: Vec<f64>,
    /// Observed components of the regression losses (empty: all).
    pub components: Vec<usize>,
}

impl GpuObjective {
    /// `half-sse` or `mse` with `batch × D` targets.
    pub fn terminal(loss: GpuLoss, targets: Vec<f64>) -> Self {
        Self {
            loss,
            times: Vec::new(),
            targets,
            labels: Vec::new(),
            readout_weight: Vec::new(),
            readout_bias: Vec::new(),
            components: Vec::new(),
        }
    }

    /// The GPU form of a CPU loss; an error for a loss no kernel implements.
    pub fn from_loss(loss: &Loss) -> Result<Self, String> {
        let Some(kind) = GpuLoss::of_kind(loss.kind) else {
            return Err(format!(
                "the GPU kernels do not implement the {} loss; it runs on the CPU only",
                loss.kind.name()
            ));
        };
        let flat = |sets: &[Vec<Vec<f64>>]| -> Vec<f64> {
            sets.iter().flatten().flatten().copied().collect()
        };
        let (weight, bias) = loss.readout.as_ref().map_or((Vec::new(), Vec::new()), |r| {
            (r.weight.iter().flatten().copied().collect(), r.bias.clone())
        });
        Ok(Self {
            loss: kind,
            times: if loss.kind.is_trajectory() {
                loss.times.clone()
            } else {
                Vec::new()
            },
            targets: if matches!(loss.kind, LossKind::CrossEntropy | LossKind::Nll) {
                Vec::new()
            } else {
                flat(&loss.targets)
            },
            labels: loss.labels.iter().map(|&l| l as u32).collect(),
            readout_weight: weight,
            readout_bias: bias,
            components: if kind.is_regression() {
                loss.components.clone()
            } else {
                Vec::new()
            },
        })
    }

    /// Observations K (1 for the terminal losses).
    pub fn n_obs(&self) -> usize {
        if self.loss.is_trajectory() {
            self.times.len()
        } else {
            1
        }
    }

    /// Classes C of the read-out (0 without one).
    pub fn n_classes(&self) -> usize {
        if self.loss == GpuLoss::CrossEntropy {
            self.readout_bias.len()
        } else {
            0
        }
    }

    /// Read-out parameters C·(D + 1) (0 without a read-out).
    pub fn n_readout(&self) -> usize {
        if self.loss == GpuLoss::CrossEntropy {
            self.readout_weight.len() + self.readout_bias.len()
        } else {
            0
        }
    }

    /// Numbers of the loss data in `data` for `batch` samples of dimension `d`.
    pub fn loss_floats(&self, batch: usize, d: usize) -> usize {
        match self.loss {
            GpuLoss::CrossEntropy => batch + self.n_readout(),
            GpuLoss::Nll => 0,
            _ => self.layout(batch, d).loss_floats(),
        }
    }

    /// The layout of the targets and the mask of a regression loss in `data`.
    pub fn layout(&self, batch: usize, d: usize) -> ObservationLayout {
        ObservationLayout {
            n_obs: self.n_obs(),
            batch,
            dim: d,
            components: self.components.clone(),
        }
    }

    pub fn check(&self, batch: usize, d: usize) -> Result<(), GpuError> {
        let bad = |m: String| Err(GpuError::Unsupported(m));
        match self.loss {
            GpuLoss::CrossEntropy => {
                let c = self.readout_bias.len();
                if c == 0 || self.readout_weight.len() != c * d {
                    return bad(format!(
                        "cross-entropy read-out: {} weights and {c} biases for a state of {d}                          components (C × D and C needed, C ≥ 1)",
                        self.readout_weight.len()
                    ));
                }
                if c > F32_EXACT as usize {
                    return bad(format!("{c} classes are too many (at most {F32_EXACT})"));
                }
                if self.labels.len() != batch {
                    return bad(format!("{} labels for {batch} samples", self.labels.len()));
                }
                if let Some(l) = self.labels.iter().find(|&&l| l as usize >= c) {
                    return bad(format!("label {l} is not one of the {c} classes"));
                }
            }
            GpuLoss::Nll => {
                if d < 2 {
                    return bad(format!(
                        "nll needs the augmented state [z, ℓ] (at least 2 values; got {d})"
                    ));
                }
            }
            kind => {
                if let Some(c) = self.components.iter().find(|&&c| c >= d) {
                    return bad(format!(
                        "observed component {c} does not exist (the state has {d})"
                    ));
                }
                if kind.is_trajectory() {
                    if self.times.is_empty() {
                        return bad(format!("{} needs observation times", kind.name()));
                    }
                    if self
                        .times
                        .windows(2)
                        .any(|w| w[1].partial_cmp(&w[0]) != Some(std::cmp::Ordering::Greater))
                    {
                        return bad("observation times must increase strictly".into());
                    }
                }
                let want = self.n_obs() * batch * d;
                if !self.targets.is_empty() && self.targets.len() != want {
                    return bad(format!(
                        "{} target numbers; {} needs {want} ({} observation(s) × {batch}                          samples × {d})",
                        self.targets.len(),
                        kind.name(),
                        self.n_obs()
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Numbers of the `data` buffer: y0, the loss data, the segment table.
pub fn data_floats(obj: &GpuObjective, batch: usize, d: usize) -> u64 {
    (batch * d + obj.loss_floats(batch, d) + 5 * obj.n_obs()) as u64
}
