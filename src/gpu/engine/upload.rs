//! Host → device writes: θ, a batch of initial states with its loss data, the kernel
//! parameters and the segment table (identical ones are not written again), each counted in
//! [`GpuSolver::uploaded_bytes`].

use std::sync::atomic::Ordering;

use super::GpuSolver;
use crate::gpu::buffers::Params;
use crate::gpu::context::GpuError;
use crate::gpu::objective::{GpuLoss, GpuObjective, data_floats};

impl GpuSolver {
    /// Overwrites θ in place (same buffer, no reallocation).
    pub fn set_weights(&self, theta: &[f64]) -> Result<(), GpuError> {
        if theta.len() != self.n_params {
            return Err(GpuError::Unsupported(format!(
                "{} parameters given, the model has {}",
                theta.len(),
                self.n_params
            )));
        }
        let t: Vec<f32> = theta.iter().map(|&v| v as f32).collect();
        self.write(&self.theta, 0, bytemuck::cast_slice(&t));
        Ok(())
    }

    /// Uploads a batch of initial states and targets (sample-major, `batch × D` each; targets
    /// may be empty for a forward solve) for the terminal losses `half-sse` and `mse`. Buffers
    /// are reallocated only when the batch size changes.
    pub fn set_batch(&mut self, y0: &[f64], target: &[f64]) -> Result<(), GpuError> {
        if !target.is_empty() && target.len() != y0.len() {
            return Err(GpuError::Unsupported(format!(
                "{} target numbers for {} state numbers",
                target.len(),
                y0.len()
            )));
        }
        self.set_objective(
            y0,
            &GpuObjective::terminal(GpuLoss::HalfSse, target.to_vec()),
        )
    }

    /// Uploads a batch of initial states (sample-major) with the data of any loss (observation
    /// targets, or labels and read-out). Buffers are reallocated only when the batch size or the
    /// number of read-out parameters changes (or the loss data outgrows them).
    pub fn set_objective(&mut self, y0: &[f64], objective: &GpuObjective) -> Result<(), GpuError> {
        let d = self.shape.dim;
        if y0.is_empty() || !y0.len().is_multiple_of(d) {
            return Err(GpuError::Unsupported(format!(
                "the batch of initial states has {} numbers, not a positive multiple of D = {d}",
                y0.len()
            )));
        }
        let batch = y0.len() / d;
        objective.check(batch, d)?;
        if objective.loss == GpuLoss::Nll && !self.shape.trace {
            return Err(GpuError::Unsupported(
                "the nll loss needs the density field's kernels (a solver built with \
                 GpuSolver::for_field)"
                    .into(),
            ));
        }
        let extra = objective.n_readout();
        let floats = data_floats(objective, batch, d);
        let reuse = self
            .buffers
            .as_ref()
            .is_some_and(|b| b.batch == batch && b.extra == extra && b.data_floats >= floats);
        if !reuse {
            self.check_batch(batch, extra, floats)?;
            self.buffers = Some(self.allocate(batch, extra, floats, 4, 4)?);
            // A new `data`: the gather binds the old one, the segment table is not there yet.
            if let Some(g) = &mut self.gather {
                g.group = None;
            }
        }
        self.last_table.clear();
        let mut data: Vec<f32> = y0.iter().map(|&v| v as f32).collect();
        self.target_off = data.len() as u32;
        match objective.loss {
            GpuLoss::CrossEntropy => {
                data.extend(objective.labels.iter().map(|&l| l as f32));
                self.readout_off = data.len() as u32;
                data.extend(objective.readout_weight.iter().map(|&v| v as f32));
                data.extend(objective.readout_bias.iter().map(|&v| v as f32));
            }
            // The density field's [z, ℓ] at t1 is all the NLL needs.
            GpuLoss::Nll => self.readout_off = data.len() as u32,
            // Targets (zeros for a forward solve) and mask, nodelab::gpu::observation.
            _ => {
                let t = &objective.targets;
                let at = |k: usize, s: usize, i: usize| t.get((k * batch + s) * d + i);
                let layout = objective.layout(batch, d);
                layout.pack(&mut data, |k, s, i| at(k, s, i).copied().unwrap_or(0.0));
                self.readout_off = data.len() as u32;
            }
        }
        self.seg_off = data.len() as u32;
        self.objective = objective.clone();
        if let Some(b) = &self.buffers {
            self.write(&b.data, 0, bytemuck::cast_slice(&data));
        }
        Ok(())
    }

    /// Overwrites the uploaded batch's initial states and targets or labels in place, keeping
    /// the read-out that lives in `data` (the optimiser updates it there). The batch size and
    /// the loss must be those of the last [`GpuSolver::set_objective`].
    pub fn write_batch(&mut self, y0: &[f64], objective: &GpuObjective) -> Result<(), GpuError> {
        let d = self.shape.dim;
        let Some(b) = &self.buffers else {
            return Err(GpuError::Unsupported("no batch was uploaded".into()));
        };
        if y0.len() != b.batch * d || objective.loss != self.objective.loss {
            return Err(GpuError::Unsupported(format!(
                "write_batch: {} state numbers with {} for a batch of {} × {d} with {}",
                y0.len(),
                objective.loss.name(),
                b.batch,
                self.objective.loss.name()
            )));
        }
        objective.check(b.batch, d)?;
        let states: Vec<f32> = y0.iter().map(|&v| v as f32).collect();
        let loss_data: Vec<f32> = match objective.loss {
            GpuLoss::CrossEntropy => objective.labels.iter().map(|&l| l as f32).collect(),
            GpuLoss::Nll => Vec::new(),
            _ => objective.targets.iter().map(|&v| v as f32).collect(),
        };
        self.write(&b.data, 0, bytemuck::cast_slice(&states));
        if !loss_data.is_empty() {
            self.write(
                &b.data,
                4 * u64::from(self.target_off),
                bytemuck::cast_slice(&loss_data),
            );
        }
        self.objective.labels.clone_from(&objective.labels);
        self.objective.targets.clone_from(&objective.targets);
        if let Some(g) = &mut self.gather {
            g.pending = false;
        }
        Ok(())
    }

    /// Writes `bytes` to `buf` at `offset`, counted in [`GpuSolver::uploaded_bytes`].
    pub(super) fn write(&self, buf: &wgpu::Buffer, offset: u64, bytes: &[u8]) {
        self.uploaded
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.ctx.queue.write_buffer(buf, offset, bytes);
    }

    /// Writes the kernel parameters unless they are those already on the device.
    pub(super) fn write_params(&mut self, params: Params) {
        if self.last_params != Some(params) {
            self.write(&self.params, 0, bytemuck::bytes_of(&params));
            self.last_params = Some(params);
        }
    }

    /// Writes the segment table into `data` unless it is the one already there.
    pub(super) fn write_table(&mut self, table: Vec<f32>) {
        if table == self.last_table {
            return;
        }
        if let Some(b) = &self.buffers {
            self.write(
                &b.data,
                4 * u64::from(self.seg_off),
                bytemuck::cast_slice(&table),
            );
            self.last_table = table;
        }
    }
}
