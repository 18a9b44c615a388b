//! The training set uploaded once and the batch gathered on the device by index
//! (`nodelab::gpu::dataset`): the gathered batch gives the same gradient as the same batch
//! uploaded whole (bit for bit: the same f32 numbers reach the kernels) and the CPU f64
//! gradient of that batch (f32 tolerance); per iteration the host writes only the B indices
//! (plus the optimiser's step parameters in training). Skip policy of tests/common.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use nodelab::gpu::dataset::{DeviceSet, HostSet, SetKind};
use nodelab::gpu::{FixedSchedule, GpuGradMethod, GpuObjective, GpuSolver};
use nodelab::grad::{self, BatchSteps, GradMethod, GradOptions, GradProblem, Loss, Readout};
use nodelab::nn::{Activation, Mlp};
use nodelab::solver::{Method, SolverConfig};
use nodelab::train::gpu::{GpuTrainer, host_set};
use nodelab::train::rng::{SeedRng, Stream};
use nodelab::train::task::TaskData;
use nodelab::train::{Model, TaskName, TrainConfig, model};

fn rk4(h: f64) -> SolverConfig {
    SolverConfig {
        method: Method::Rk4,
        h0: Some(h),
        ..SolverConfig::default()
    }
}

fn row(set: &HostSet, i: usize) -> Vec<f64> {
    set.rows[i * set.dim..(i + 1) * set.dim].to_vec()
}

/// The CPU problem of the batch `indices` of `set`, built independently of the gather: each
/// item's start row and, for windows, its next K rows observed at `times`; for classes its
/// label with `readout`.
fn cpu_problem(
    mlp: &Mlp,
    set: &HostSet,
    indices: &[u32],
    times: &[f64],
    readout: Option<&Readout>,
) -> GradProblem {
    let y0: Vec<Vec<f64>> = indices.iter().map(|&i| row(set, i as usize)).collect();
    let loss = match set.kind {
        SetKind::Classes => Loss::cross_entropy(
            readout.unwrap().clone(),
            indices
                .iter()
                .map(|&i| set.labels[i as usize] as usize)
                .collect(),
        ),
        SetKind::Windows { n_obs } => Loss::trajectory(
            times.to_vec(),
            (0..n_obs)
                .map(|k| {
                    indices
                        .iter()
                        .map(|&i| row(set, i as usize + k + 1))
                        .collect()
                })
                .collect(),
        ),
        SetKind::Points => Loss::nll(),
    };
    GradProblem {
        mlp: mlp.clone(),
        y0,
        t0: 0.0,
        t1: *times.last().unwrap(),
        solver: rk4(0.1),
        batch_steps: BatchSteps::Shared,
        loss,
    }
}

/// Gathers two batches of `set` in turn and checks each against the whole upload and the CPU;
/// the second gather writes exactly 4·B bytes.
fn check_gather(set: &HostSet, mlp: &Mlp, times: &[f64], readout: Option<&Readout>) {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let device_set = DeviceSet::upload(ctx.clone(), set).unwrap();
    let batches: [Vec<u32>; 2] = [vec![5, 0, 17, 12, 3], vec![1, 16, 2, 9, 9]];
    let b = batches[0].len();
    let sched = FixedSchedule::new(0.0, *times.last().unwrap(), Some(0.1)).unwrap();
    let method = GpuGradMethod::Backprop;
    // The gathering solver starts from an unrelated batch.
    let first = cpu_problem(mlp, set, &[4, 4, 4, 4, 4], times, readout);
    let first_obj = GpuObjective::from_loss(&first.loss).unwrap();
    let y0: Vec<f64> = first.y0.iter().flatten().copied().collect();
    let mut gathering = GpuSolver::new(ctx.clone(), mlp).unwrap();
    gathering.set_objective(&y0, &first_obj).unwrap();
    gathering.attach_set(device_set.clone()).unwrap();
    let mut whole = GpuSolver::new(ctx.clone(), mlp).unwrap();
    for (n, indices) in batches.iter().enumerate() {
        let p = cpu_problem(mlp, set, indices, times, readout);
        let objective = GpuObjective::from_loss(&p.loss).unwrap();
        let before = gathering.uploaded_bytes();
        gathering.select_batch(indices).unwrap();
        let got = gathering.gradient(method, &sched, objective.loss).unwrap();
        let written = gathering.uploaded_bytes() - before;
        let y0: Vec<f64> = p.y0.iter().flatten().copied().collect();
        whole.set_objective(&y0, &objective).unwrap();
        let want = whole.gradient(method, &sched, objective.loss).unwrap();
        assert_eq!(got.grad, want.grad, "batch {n}: gathered vs uploaded");
        assert_eq!(got.loss, want.loss, "batch {n}");
        assert_eq!(got.readout_grad, want.readout_grad, "batch {n}");
        let cpu = grad::compute(&p, GradMethod::Backprop, &GradOptions::default()).unwrap();
        let e = common::rel_l2(&got.grad, &cpu.grad);
        let el = ((got.loss - cpu.loss) / cpu.loss).abs();
        eprintln!(
            "{:?} batch {n}: grad rel err {e:.2e}, loss {el:.2e}, {written} bytes written",
            set.kind
        );
        assert!(e <= 1e-4, "batch {n}: gradient relative error {e}");
        assert!(el <= 1e-5, "batch {n}: loss relative error {el}");
        if let (Some(g), Some(c)) = (&got.readout_grad, &cpu.readout_grad) {
            assert!(common::rel_l2(g, c) <= 1e-4, "batch {n}: read-out gradient");
        }
        if n > 0 {
            // Same kernel parameters and segment table: only the indices travel.
            assert_eq!(written, 4 * b as u64, "batch {n}");
        }
    }
    // An index outside the set is refused before anything runs.
    let pool = set.pool() as u32;
    let err = gathering.select_batch(&[0, 1, pool, 2, 3]).unwrap_err();
    assert!(err.to_string().contains("outside"), "{err}");
}

#[test]
fn gathered_trajectory_windows_match_the_upload_and_the_cpu() {
    let mlp = Mlp::random(&[2, 8, 2], Activation::Tanh, false, 0.5, 3);
    let rows = common::random_states(24, 2, 1.2, 5);
    let set = HostSet {
        kind: SetKind::Windows { n_obs: 3 },
        dim: 2,
        rows,
        labels: Vec::new(),
    };
    // Off the step grid, so the solve is split at the observations.
    check_gather(&set, &mlp, &[0.25, 0.45, 0.8], None);
}

#[test]
fn gathered_labelled_points_match_the_upload_and_the_cpu() {
    let mlp = Mlp::random(&[3, 8, 3], Activation::Tanh, false, 0.5, 4);
    let rows = common::random_states(20, 3, 1.5, 6);
    let labels = (0..20).map(|i| (i * 7 % 3 == 0) as u32).collect();
    let set = HostSet {
        kind: SetKind::Classes,
        dim: 3,
        rows,
        labels,
    };
    let readout = Readout {
        weight: vec![vec![0.8, -0.4, 0.3], vec![-0.6, 0.9, 0.2]],
        bias: vec![0.1, -0.2],
    };
    check_gather(&set, &mlp, &[1.0], Some(&readout));
}

/// A training run on circles: per iteration the host writes the B batch indices and the
/// optimiser's 80-byte step parameters (the first iteration also the kernel parameters, the
/// segment table and the gather's parameters once); the first iteration's loss is the CPU
/// f64 loss of the same seeded batch at the same initial weights.
#[test]
fn training_iterations_upload_only_the_batch_indices() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let mut config = TrainConfig::defaults(TaskName::Circles);
    config.model.hidden = vec![8];
    config.methods = vec![GradMethod::Backprop];
    let data = TaskData::generate(config.task, &config.data, config.seed).unwrap();
    let dim = data.dim();
    let initial = Model {
        mlp: config.model.build(dim, config.seed),
        readout: Some(model::readout(dim, 2, config.seed)),
    };
    assert_eq!(host_set(&data).pool(), data.pool());
    let mut rng = SeedRng::new(config.seed, Stream::Batches);
    let b = config.batch;
    let first = data.draw_batch(&mut rng, b);
    let mut gpu = GpuTrainer::new(ctx, &config, &data, &initial, &first).unwrap();
    let step = gpu.step(0, &first).unwrap();
    assert!(
        step.upload_bytes <= 4 * b as u64 + 256,
        "first iteration wrote {} bytes for B = {b}",
        step.upload_bytes
    );
    let p = data.batch_problem(&first, &initial, &config.solver);
    let cpu = grad::compute(&p, GradMethod::Backprop, &GradOptions::default()).unwrap();
    let rel = (f64::from(step.summary.loss) - cpu.loss).abs() / cpu.loss;
    assert!(
        rel <= 1e-5,
        "GPU {} CPU {} (rel {rel:e})",
        step.summary.loss,
        cpu.loss
    );
    for _ in 0..3 {
        let items = data.draw_batch(&mut rng, b);
        let step = gpu.step(0, &items).unwrap();
        assert_eq!(step.upload_bytes, 4 * b as u64 + 80);
    }
    // The set itself went up once: the lifted training points and their labels.
    assert_eq!(gpu.set_bytes(), 4 * (data.pool() * (dim + 1)) as u64);
}
