//! Training on the GPU (f32) against the CPU f64 engine: the optimiser kernel against
//! `train::optim::step`, 20 iterations of `circles` against the CPU curve from the same
//! weights and batches, methods without a kernel refused up front, the CLI's JSON naming the
//! adapter, and the saved model in f32. Skip policy of tests/common (CI=true: no adapter fails).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use nodelab::gpu::optim::{GpuOptimizer, StepOutcome};
use nodelab::grad::GradMethod;
use nodelab::optim::{self, OptimizerConfig, OptimizerKind, OptimizerState};
use nodelab::train::{Device, TaskName, TrainConfig, TrainControl, Trainer};
use rand::{RngExt, SeedableRng, rngs::StdRng};

/// Three steps of each optimiser (weight decay on) with random θ, read-out and gradients: the
/// kernel's θ, read-out and moments equal the CPU update of the same f32 inputs to f32
/// rounding.
#[test]
fn optimizer_kernel_equals_the_cpu_update() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let (n_theta, n_extra) = (37, 6);
    let n = n_theta + n_extra;
    let mut rng = StdRng::seed_from_u64(7);
    for kind in OptimizerKind::ALL {
        let mut c = OptimizerConfig::new(kind, 0.01);
        c.weight_decay = 0.05;
        let mut gpu = GpuOptimizer::new(ctx.clone(), c, n_theta, n_extra).unwrap();
        let mut cpu_state = OptimizerState::new(n);
        let mut params: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        for step in 0..3 {
            let grads: Vec<f32> = (0..n).map(|_| rng.random_range(-2.0f32..2.0)).collect();
            let mut with_loss = grads.clone();
            with_loss.push(0.5);
            let (summary, theta, extra) = gpu
                .step_host(&params[..n_theta], &params[n_theta..], &with_loss)
                .unwrap();
            assert_eq!(summary.outcome, StepOutcome::Applied, "{kind:?}");
            assert_eq!(summary.loss, 0.5);
            let mut cpu: Vec<f64> = params.iter().map(|&v| f64::from(v)).collect();
            let g: Vec<f64> = grads.iter().map(|&v| f64::from(v)).collect();
            optim::step(&c, &mut cpu_state, &mut cpu, &g);
            let got: Vec<f32> = theta.iter().chain(&extra).copied().collect();
            for (j, (&a, &b)) in got.iter().zip(&cpu).enumerate() {
                assert!(
                    (f64::from(a) - b).abs() <= 1e-6 + 1e-6 * b.abs(),
                    "{kind:?} step {step} parameter {j}: GPU {a}, CPU {b}"
                );
            }
            let (m, v) = gpu.moments().unwrap();
            for j in 0..n {
                let (cm, cv) = (cpu_state.m[j], cpu_state.v[j]);
                assert!(
                    (f64::from(m[j]) - cm).abs() <= 1e-6 + 1e-5 * cm.abs(),
                    "{kind:?} m{j}"
                );
                assert!(
                    (f64::from(v[j]) - cv).abs() <= 1e-7 + 1e-5 * cv.abs(),
                    "{kind:?} v{j}"
                );
            }
            params = got;
        }
    }
}

/// A non-finite loss, gradient or update is refused whole: θ and the read-out stay as they
/// were, with the reason.
#[test]
fn optimizer_kernel_refuses_non_finite_steps() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let c = OptimizerConfig::new(OptimizerKind::Sgd, 0.1);
    let gpu_ctx = ctx.clone();
    let mut gpu = GpuOptimizer::new(ctx, c, 3, 1).unwrap();
    let theta = [0.5f32, -0.25, 1.0];
    let extra = [2.0f32];
    let (s, t, e) = gpu
        .step_host(&theta, &extra, &[1.0, f32::NAN, 1.0, 1.0, 0.3])
        .unwrap();
    assert_eq!(s.outcome, StepOutcome::GradNonFinite { param: 1 });
    assert_eq!((t, e), (theta.to_vec(), extra.to_vec()));
    let (s, t, _) = gpu
        .step_host(&theta, &extra, &[1.0, 1.0, 1.0, 1.0, f32::INFINITY])
        .unwrap();
    assert_eq!(s.outcome, StepOutcome::LossNonFinite);
    assert_eq!(t, theta.to_vec());
    // lr·g overflows f32: the update, not the gradient, is non-finite.
    let mut gpu = GpuOptimizer::new(
        gpu_ctx,
        OptimizerConfig::new(OptimizerKind::Sgd, 100.0),
        3,
        1,
    )
    .unwrap();
    let (s, t, _) = gpu
        .step_host(&theta, &extra, &[1.0, 1.0, 3.0e38, 1.0, 0.1])
        .unwrap();
    assert!(
        matches!(s.outcome, StepOutcome::UpdateNonFinite { .. }),
        "{s:?}"
    );
    assert_eq!(t, theta.to_vec());
}

fn circles(methods: Vec<GradMethod>, device: Device, iters: usize) -> TrainConfig {
    let mut c = TrainConfig::defaults(TaskName::Circles);
    c.methods = methods;
    c.iters = iters;
    c.device = device;
    c.eval_every = 10;
    // One hidden layer of 8: lavapipe's shader compiler (LLVM) takes minutes on the
    // straight-line kernels of the default 16-16 network.
    c.model.hidden = vec![8];
    c
}

/// 20 iterations of circles on the GPU follow the CPU f64 curve from the same initial weights
/// and the same batches within 1e-3 relative, for every method with a kernel; the GPU run's
/// report names the adapter, and its evaluations (weights read back) match the CPU's.
#[test]
fn circles_on_the_gpu_follows_the_cpu_curve() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let methods = vec![GradMethod::Backprop, GradMethod::Adjoint, GradMethod::Afge];
    let mut cpu = Trainer::new(circles(methods.clone(), Device::Cpu, 20)).unwrap();
    let _ = cpu.run(&TrainControl::new(), |_| {});
    let mut gpu = Trainer::new_on(circles(methods, Device::Gpu, 20), Some(ctx.clone())).unwrap();
    let gpu_report = gpu.run(&TrainControl::new(), |_| {});
    assert_eq!(gpu_report.device, "gpu");
    assert_eq!(gpu_report.precision, "f32");
    assert_eq!(
        gpu_report.adapter.as_deref(),
        Some(ctx.adapter.summary().as_str())
    );
    for (c, g) in cpu.runs().iter().zip(gpu.runs()) {
        assert_eq!(g.records.len(), 20, "{}: {:?}", g.method, g.status);
        for (rc, rg) in c.records.iter().zip(&g.records) {
            let rel = (rc.loss - rg.loss).abs() / rc.loss.abs();
            assert!(
                rel < 1e-3,
                "{} iteration {}: CPU {} GPU {} (rel {rel:e})",
                g.method,
                rc.iter,
                rc.loss,
                rg.loss
            );
        }
        // The loss fell: the GPU run trains.
        assert!(g.records[19].loss < g.records[0].loss, "{}", g.method);
        for (ec, eg) in c.evals.iter().zip(&g.evals) {
            assert_eq!(ec.iter, eg.iter);
            assert!(
                (ec.loss - eg.loss).abs() <= 1e-3 * ec.loss.abs(),
                "{} eval",
                g.method
            );
        }
    }
}

/// A GPU run started from a saved model (`--init`, `weights`) follows the CPU f32 run from the
/// same file: the weights and the read-out reach the device. The saved model (5 iterations
/// of training) starts far from the seeded one, so a device that kept its seeded weights
/// would show it in the first loss.
#[test]
fn gpu_run_from_saved_weights_follows_the_cpu_f32_run() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let methods = vec![GradMethod::Backprop];
    let mut pre = Trainer::new(circles(methods.clone(), Device::Cpu, 5)).unwrap();
    let _ = pre.run(&TrainControl::new(), |_| {});
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("start.safetensors");
    let m = &pre.runs()[0].model;
    nodelab::nn::model_file::save(&file, &m.mlp, m.readout.as_ref(), &[]).unwrap();
    let f32_cpu = |weights: Option<&std::path::Path>| {
        let mut c = circles(methods.clone(), Device::Cpu, 8);
        c.precision = nodelab::train::Precision::F32;
        c.weights = weights.map(std::path::Path::to_path_buf);
        let mut t = Trainer::new(c).unwrap();
        let _ = t.run(&TrainControl::new(), |_| {});
        t
    };
    let seeded = f32_cpu(None);
    let cpu = f32_cpu(Some(&file));
    let mut c = circles(methods, Device::Gpu, 8);
    c.weights = Some(file.clone());
    let mut gpu = Trainer::new_on(c, Some(ctx)).unwrap();
    let _ = gpu.run(&TrainControl::new(), |_| {});
    let (c, g) = (&cpu.runs()[0], &gpu.runs()[0]);
    assert_eq!(g.records.len(), 8, "{:?}", g.status);
    let first = (seeded.runs()[0].records[0].loss, c.records[0].loss);
    assert!(
        (first.0 - first.1).abs() > 1e-2 * first.1.abs(),
        "the saved model starts where the seeded one does: {first:?}"
    );
    for (rc, rg) in c.records.iter().zip(&g.records) {
        let rel = (rc.loss - rg.loss).abs() / rc.loss.abs();
        assert!(
            rel < 1e-4,
            "iteration {}: CPU f32 {} GPU {} (rel {rel:e})",
            rc.iter,
            rc.loss,
            rg.loss
        );
    }
    for (a, b) in c.model.mlp.params.iter().zip(&g.model.mlp.params) {
        assert!((a - b).abs() <= 1e-4 * (1.0 + a.abs()), "CPU {a} GPU {b}");
    }
}

/// Methods without a kernel are refused before anything runs, naming the method.
#[test]
fn cpu_only_methods_are_refused_up_front() {
    let cfg = circles(
        vec![GradMethod::Backprop, GradMethod::InterpAdjoint],
        Device::Gpu,
        5,
    );
    let err = Trainer::new(cfg).unwrap_err();
    assert!(err.contains("interp-adjoint: CPU only"), "{err}");
    // spiral-fit's default solver (dopri5) has no training kernel.
    let mut s = TrainConfig::defaults(TaskName::SpiralFit);
    s.device = Device::Gpu;
    let err = Trainer::new(s).unwrap_err();
    assert!(err.contains("--device gpu"), "{err}");
}

/// `nodelab train --device gpu --json` names the adapter; the saved safetensors model is F32.
#[test]
fn cli_gpu_json_names_the_adapter_and_saves_f32() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    let out = common::command(&[
        "train",
        "circles",
        "--device",
        "gpu",
        "--methods",
        "backprop",
        "--iters",
        "3",
        "--hidden",
        "8",
        "--json",
        "--save-model",
        model.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["device"], "gpu");
    assert_eq!(v["adapter"].as_str(), Some(ctx.adapter.summary().as_str()));
    let bytes = std::fs::read(&model).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for (name, view) in st.tensors() {
        assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
    }
    let loaded = nodelab::nn::model_file::load(&model).unwrap();
    assert_eq!(loaded.sizes, vec![3, 8, 3]);
    // Refused methods are a usage error (exit 2) naming the method.
    let out = common::command(&[
        "train",
        "circles",
        "--device",
        "gpu",
        "--methods",
        "interp-adjoint",
        "--iters",
        "1",
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("interp-adjoint: CPU only"));
}
