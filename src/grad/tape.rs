//! The backprop tape recorded during the forward dopri5 solve, activations included: per
//! accepted step, for each of its six stages, the stage input `Y_i` and what the MLP's reverse
//! pass needs at `Y_i` (every hidden layer's output and σ', [`BatchedMlp::forward_recording`]).
//! The reverse sweep then runs every stage VJP from the record ([`BatchedMlp::vjp_from_record`])
//! without recomputing a forward evaluation: the forward solve's evaluations are the only
//! forward evaluations of the gradient (what JAX's reverse mode through diffrax keeps too).
//!
//! Dopri5 evaluates, per attempt, stages 2–6 and then f at the new point (FSAL: the next
//! step's stage 1); the first evaluation of a segment is stage 1 of its first step. So an
//! accepted step's stages are the stage-1 entry and the five evaluations before the last.
//! Every evaluation writes its entry straight into the tape (no copies); entries of rejected
//! attempts are dropped when the next step is accepted.
//! Memory: `(m + rows · record_len) · bytes(T)` per stage, so large batches (above
//! [`MAX_ENTRY_BYTES`] per stage) keep only the stage inputs ([`super::forward::schedule_recorded`]).
//! Generic over the float type `T` of the group (f64 or f32: an f32 tape takes half the bytes).

use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use super::GradError;
use super::field::{GradFloat, StackedMlp};
use super::forward::{Schedule, Segments, SolveStats};
use super::tableau::Tableau;
use crate::nn::{BatchWork, BatchedMlp, Mlp, Real};
use crate::solver::{Method, Rhs, SolverConfig};

/// Largest record of one stage evaluation kept with activations (1 MiB: batch ≈ 1000 through a
/// 2-64-2 network, 6 MiB per dopri5 step); above it the tape keeps stage inputs only, and the
/// reverse sweep recomputes each stage's forward pass.
pub const MAX_ENTRY_BYTES: usize = 1 << 20;

/// Values kept per evaluation of n stacked samples: the state, then the activation record.
pub fn entry_len(mlp: &Mlp, n: usize) -> usize {
    n * (mlp.dim() + BatchedMlp::<f64>::record_len(mlp))
}

/// Whether [`record`] applies in `T`: dopri5, and a stage record below [`MAX_ENTRY_BYTES`].
pub fn applies<T: Real>(mlp: &Mlp, n: usize, config: &SolverConfig) -> bool {
    config.method == Method::Dopri5 && entry_len(mlp, n) * T::BYTES <= MAX_ENTRY_BYTES
}

/// Row blocks of the records: `blocks` blocks of `per` rows (the last may be shorter), each
/// block's record contiguous (block-major), so that the blocks run on their own threads.
#[derive(Clone, Copy, Debug)]
struct Blocks {
    n: usize,
    per: usize,
    count: usize,
}

impl Blocks {
    fn new(n: usize) -> Self {
        let count = BatchedMlp::<f64>::blocks(n, super::row_threads::row_threads());
        Self {
            n,
            per: n.div_ceil(count),
            count,
        }
    }
}

/// Per-thread scratch of the recording and the sweep.
struct Works<T> {
    blocks: Vec<BatchWork<T>>,
}

impl<T: Real> Works<T> {
    fn new(mlp: &Mlp, b: Blocks) -> Self {
        Self {
            blocks: (0..b.count).map(|_| BatchWork::new(mlp, b.per)).collect(),
        }
    }
}

/// What the recording system keeps: the tape itself, every evaluation written straight into
/// it. Entries are `entry_len` values; `used` entries are live (the vector only grows, so
/// entries are written once, never zero-filled again).
struct Log<T> {
    tape: Vec<T>,
    used: usize,
    /// Entries of the accepted steps (6 per step).
    committed: usize,
    /// Index of the entry holding the current step's stage 1.
    step_start: usize,
    works: Works<T>,
    broken: bool,
}

impl<T: Real> Log<T> {
    /// A fresh entry at the end of the tape (`e` values).
    fn push(&mut self, e: usize) -> &mut [T] {
        let end = (self.used + 1) * e;
        if self.tape.len() < end {
            let grow = end.max(self.tape.len() * 3 / 2);
            self.tape.resize(grow, T::zero());
        }
        self.used += 1;
        &mut self.tape[end - e..end]
    }

    /// A segment starts: its first evaluation is stage 1 of its first step.
    fn start_segment(&mut self) {
        self.used = self.committed;
        self.step_start = self.committed;
    }

    /// An accepted step of `s` stages: its stages are the stage-1 entry and the `s − 1` entries
    /// before the last (the last is f at the new point, the next step's stage 1). Entries of
    /// rejected attempts and of the initial step-size guess in between are dropped.
    fn accept(&mut self, e: usize, s: usize) {
        let after = self.used.saturating_sub(self.step_start + 1);
        if self.used <= self.step_start || after < s {
            self.broken = true;
            return;
        }
        if after > s {
            let from = (self.used - s) * e;
            self.tape
                .copy_within(from..self.used * e, (self.step_start + 1) * e);
            self.used = self.step_start + 1 + s;
        }
        self.committed = self.step_start + s;
        self.step_start = self.committed;
    }
}

/// The group's field, recording every evaluation.
struct Recorder<T> {
    field: StackedMlp<T>,
    blocks: Blocks,
    log: Mutex<Log<T>>,
}

impl<T: GradFloat> Rhs<T> for Recorder<T> {
    fn dim(&self) -> usize {
        self.field.n * self.field.mlp.dim()
    }

    fn rhs(&self, t: f64, y: &[T], dydt: &mut [T]) {
        let Ok(mut guard) = self.log.lock() else {
            dydt.fill(T::nan());
            return;
        };
        let log = &mut *guard;
        let (mlp, n) = (&*self.field.mlp, self.field.n);
        let e = entry_len(mlp, n);
        let d = mlp.dim();
        let rl = BatchedMlp::<f64>::record_len(mlp);
        let mut works = std::mem::replace(&mut log.works, Works { blocks: Vec::new() });
        let entry = log.push(e);
        let (ys, rec) = entry.split_at_mut(n * d);
        ys.copy_from_slice(y);
        let net = self.field.net();
        let t = T::of(t);
        let b = self.blocks;
        if b.count == 1 {
            net.forward_recording(t, y, dydt, rec, &mut works.blocks[0]);
        } else {
            y.par_chunks(b.per * d)
                .zip(dydt.par_chunks_mut(b.per * d))
                .zip(rec.par_chunks_mut(b.per * rl))
                .zip(works.blocks.par_iter_mut())
                .for_each(|(((y, f), r), w)| net.forward_recording(t, y, f, r, w));
        }
        log.works = works;
    }
}

/// Largest buffer kept for reuse: the last tape's buffer is reused by the next gradient on
/// this thread ([`GradFloat::spare_tape`]; a tape is megabytes: growing and zero-filling a
/// fresh one every gradient cost a fifth of the time).
const SPARE_MAX_BYTES: usize = 256 << 20;

/// A forward solve with its activation tape.
pub struct ActTape<T: GradFloat = f64> {
    pub schedule: Schedule,
    pub stats: SolveStats,
    /// The state at every observation (`K · m`).
    pub obs_states: Vec<T>,
    field: StackedMlp<T>,
    tape: Vec<T>,
    /// Values of `tape` in use (`steps · s · entry`).
    len: usize,
    entry: usize,
    blocks: Blocks,
    works: Works<T>,
}

impl<T: GradFloat> Drop for ActTape<T> {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.tape);
        if buf.capacity() * T::BYTES <= SPARE_MAX_BYTES {
            T::spare_tape().with(|s| {
                if let Ok(mut spare) = s.try_borrow_mut()
                    && spare.capacity() < buf.capacity()
                {
                    *spare = buf;
                }
            });
        }
    }
}

impl<T: GradFloat> ActTape<T> {
    /// Bytes of the tape and the observation states.
    pub fn stored_bytes(&self) -> usize {
        (self.len + self.obs_states.len()) * T::BYTES + self.schedule.stored_bytes()
    }

    /// The reverse sweep: adds θ̄ to `gtheta`, injecting the observations' `∂L/∂Y`
    /// (`obs_grads`, `K · m`). Returns the stage VJPs spent.
    pub fn sweep(&mut self, obs_grads: &[T], gtheta: &mut [T]) -> u64 {
        let tab = &self.schedule.tableau;
        let s = tab.stages();
        let mlp = &*self.field.mlp;
        let d = mlp.dim();
        let m = self.blocks.n * d;
        let rl = BatchedMlp::<f64>::record_len(mlp);
        let p = mlp.n_params();
        let net = self.field.net();
        let b = self.blocks;
        let mut ybar = vec![T::zero(); m];
        let mut kbar = vec![T::zero(); s * m];
        let mut vy = vec![T::zero(); m];
        let mut nfe = 0;
        for (i, &(t, h)) in self.schedule.steps.iter().enumerate().rev() {
            super::forward::inject(&self.schedule, i + 1, obs_grads, &mut ybar);
            let step = &self.tape[i * s * self.entry..(i + 1) * s * self.entry];
            let works = &mut self.works.blocks;
            nfe += super::tableau::step_vjp_with(
                tab,
                h,
                &mut ybar,
                &mut kbar,
                &mut vy,
                |k, kb, vy| {
                    let entry = &step[k * self.entry..(k + 1) * self.entry];
                    let (ys, rec) = entry.split_at(m);
                    let tk = T::of(t + tab.c[k] * h);
                    let one = T::one();
                    if b.count == 1 {
                        net.vjp_from_record(tk, ys, rec, kb, one, vy, gtheta, &mut works[0]);
                    } else {
                        ys.par_chunks(b.per * d)
                            .zip(rec.par_chunks(b.per * rl))
                            .zip(kb.par_chunks(b.per * d))
                            .zip(vy.par_chunks_mut(b.per * d))
                            .zip(works.par_iter_mut())
                            .for_each(|((((y, r), v), o), w)| {
                                let mut g = std::mem::take(&mut w.gtheta);
                                g[..p].fill(T::zero());
                                net.vjp_from_record(tk, y, r, v, one, o, &mut g[..p], w);
                                w.gtheta = g;
                            });
                        for w in works.iter().take(b.n.div_ceil(b.per)) {
                            for (a, &v) in gtheta.iter_mut().zip(&w.gtheta[..p]) {
                                *a += v;
                            }
                        }
                    }
                },
            );
        }
        nfe
    }
}

/// Solves the group (`field`: n samples, starting at `y0`) forward with dopri5 over `ends`,
/// recording the activation tape (call only when [`applies`]).
pub fn record<T: GradFloat>(
    field: &StackedMlp<T>,
    ends: &[f64],
    y0: &[T],
    config: &SolverConfig,
) -> Result<ActTape<T>, GradError> {
    let (tableau, _) = Tableau::for_method(config.method);
    let s = tableau.stages();
    let m = y0.len();
    let (mlp, n) = (&*field.mlp, field.n);
    let e = entry_len(mlp, n);
    let blocks = Blocks::new(n);
    let recorder = Arc::new(Recorder {
        field: field.clone(),
        blocks,
        log: Mutex::new(Log {
            tape: T::spare_tape()
                .with(|s| s.try_borrow_mut().map(|mut v| std::mem::take(&mut *v)))
                .unwrap_or_default(),
            used: 0,
            committed: 0,
            step_start: 0,
            works: Works::new(mlp, blocks),
            broken: false,
        }),
    });
    let mut steps = Vec::new();
    let mut obs_end = Vec::with_capacity(ends.len().saturating_sub(1));
    let mut obs_states = Vec::with_capacity(ends.len().saturating_sub(1) * m);
    let mut stats = SolveStats::default();
    let mut y = y0.to_vec();
    let poisoned = || GradError::Solve("backprop: the tape recorder failed".into());
    let mut segments = Segments::default();
    for seg in ends.windows(2) {
        // A continued solve's first stage is the last step's FSAL entry, already logged.
        if !segments.prepare(recorder.clone(), seg[0], seg[1], &y, config)? {
            recorder.log.lock().map_err(|_| poisoned())?.start_segment();
        }
        let rec = recorder.clone();
        let st = segments.finish(&mut y, config, |_, r| {
            steps.push((r.t, r.h));
            match rec.log.lock() {
                Ok(mut log) => log.accept(e, s),
                Err(_) => steps.clear(),
            }
        })?;
        stats.add(&st);
        obs_end.push(steps.len());
        obs_states.extend_from_slice(&y);
    }
    // The stepper holds the recorder: let it go before taking the log out.
    drop(segments);
    let log = Arc::try_unwrap(recorder)
        .map_err(|_| poisoned())?
        .log
        .into_inner()
        .map_err(|_| poisoned())?;
    if log.broken || log.committed != steps.len() * s {
        return Err(GradError::Solve(
            "backprop: the forward solve's stage record is incomplete".into(),
        ));
    }
    Ok(ActTape {
        schedule: Schedule {
            tableau,
            steps,
            obs_end,
        },
        stats,
        obs_states,
        field: field.clone(),
        tape: log.tape,
        len: log.committed * e,
        entry: e,
        blocks,
        works: log.works,
    })
}
