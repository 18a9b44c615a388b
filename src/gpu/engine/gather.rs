//! The batch gathered by index from a training set on the device ([`DeviceSet`]): attaching
//! the set, writing the B indices of an iteration, and the gather encoded before the next
//! submission.

use std::sync::Arc;

use super::{GpuSolver, STORAGE};
use crate::gpu::context::GpuError;
use crate::gpu::dataset::{DeviceSet, GatherParams, SetKind};
use crate::gpu::objective::GpuLoss;

/// One solver's gather from a [`DeviceSet`]: its parameters, its B indices, its bind group
/// over the solver's `data` (rebuilt when `data` is reallocated).
pub(super) struct Gather {
    pub(super) set: Arc<DeviceSet>,
    pub(super) params: wgpu::Buffer,
    pub(super) indices: wgpu::Buffer,
    pub(super) batch: usize,
    pub(super) group: Option<wgpu::BindGroup>,
    pub(super) last: Option<GatherParams>,
    /// Indices were written and not gathered yet: the next submission gathers first.
    pub(super) pending: bool,
}

impl GpuSolver {
    /// From now on the batch can be gathered from `set` by index ([`GpuSolver::select_batch`]).
    /// The batch size and loss are those of the last [`GpuSolver::set_objective`]: classes
    /// need cross-entropy, windows of K observations a loss with K observations.
    pub fn attach_set(&mut self, set: Arc<DeviceSet>) -> Result<(), GpuError> {
        let Some(b) = &self.buffers else {
            return Err(GpuError::Unsupported(
                "attach_set: upload a first batch (set_objective) before".into(),
            ));
        };
        let fits = match set.kind {
            SetKind::Classes => self.objective.loss == GpuLoss::CrossEntropy,
            SetKind::Points => self.objective.loss == GpuLoss::Nll,
            SetKind::Windows { n_obs } => {
                !matches!(self.objective.loss, GpuLoss::CrossEntropy | GpuLoss::Nll)
                    && self.objective.n_obs() == n_obs
            }
        };
        if !fits || set.dim != self.shape.dim {
            return Err(GpuError::Unsupported(format!(
                "a training set of {:?} with D = {} does not fit the {} loss with {} \
                 observation(s) and D = {}",
                set.kind,
                set.dim,
                self.objective.loss.name(),
                self.objective.n_obs(),
                self.shape.dim
            )));
        }
        let batch = b.batch;
        let (params, indices) = self.ctx.checked(|| {
            (
                self.buffer(
                    "gather params",
                    std::mem::size_of::<GatherParams>() as u64,
                    wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                ),
                self.buffer("batch indices", 4 * batch as u64, STORAGE),
            )
        })?;
        self.gather = Some(Gather {
            set,
            params,
            indices,
            batch,
            group: None,
            last: None,
            pending: false,
        });
        Ok(())
    }

    /// Selects the batch by index into the attached training set: writes the B indices (the
    /// only per-iteration upload of the batch, 4·B bytes); the next gradient or training step
    /// gathers the initial states and the labels or targets on the device first.
    pub fn select_batch(&mut self, indices: &[u32]) -> Result<(), GpuError> {
        let batch = self.batch();
        let target_off = self.target_off;
        let Some(g) = &self.gather else {
            return Err(GpuError::Unsupported("no training set is attached".into()));
        };
        if indices.len() != g.batch || g.batch != batch {
            return Err(GpuError::Unsupported(format!(
                "{} indices for a batch of {batch}",
                indices.len()
            )));
        }
        g.set.check_indices(indices)?;
        let params = g.set.params(batch, target_off);
        self.write(&g.indices, 0, bytemuck::cast_slice(indices));
        if g.last != Some(params) {
            self.write(&g.params, 0, bytemuck::bytes_of(&params));
        }
        if let Some(g) = &mut self.gather {
            g.last = Some(params);
            g.pending = true;
        }
        Ok(())
    }

    /// The pending gather's pipeline owner, bind group and batch (None: nothing to gather),
    /// marked done.
    pub(super) fn take_gather(
        &mut self,
    ) -> Result<Option<(Arc<DeviceSet>, wgpu::BindGroup, u32)>, GpuError> {
        let Some(data) = self.buffers.as_ref().map(|b| b.data.clone()) else {
            return Ok(None);
        };
        let Some(g) = &mut self.gather else {
            return Ok(None);
        };
        if !g.pending {
            return Ok(None);
        }
        if g.group.is_none() {
            let group = self
                .ctx
                .checked(|| g.set.bind_group(&g.params, &g.indices, &data))?;
            g.group = Some(group);
        }
        g.pending = false;
        Ok(g.group
            .clone()
            .map(|group| (g.set.clone(), group, g.batch as u32)))
    }
}
