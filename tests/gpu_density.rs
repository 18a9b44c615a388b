//! Density (CNF) tasks on the GPU (f32): the generated trace form of the field
//! (`nodelab::gpu::codegen`) against the CPU f32 reference `nodelab::nn::trace::CnfNet` — the
//! field, its trace and the VJP with σ'' — and 20 iterations of `density-moons` on the GPU
//! against the CPU f32 curve from the same weights and batches; afge refused up front. Skip
//! policy of tests/common (CI=true: no adapter fails).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use nodelab::gpu::GpuSolver;
use nodelab::grad::{GradMethod, Precision};
use nodelab::nn::trace::{CnfNet, TraceWork};
use nodelab::nn::{Activation, Mlp};
use nodelab::train::{Device, TaskName, TrainConfig, TrainControl, Trainer};
use rand::{RngExt, SeedableRng, rngs::StdRng};

/// `|a − b| ≤ tol · (1 + |b|)`.
fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

/// On small random MLPs (two hidden layers, so σ'' enters between them; time input; tanh and
/// softplus) the kernel's `[f, tr ∂f/∂z]`, `vᵀ ∂F/∂Y` and `Σ_s vᵀ ∂F/∂θ` equal `CnfNet` in f32
/// on the same inputs to f32 rounding.
#[test]
fn trace_kernel_matches_the_cpu_reference() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let mut rng = StdRng::seed_from_u64(20);
    for (act, seed) in [(Activation::Tanh, 5), (Activation::Softplus, 6)] {
        let mlp = Mlp::random(&[2, 6, 5, 2], act, true, 1.0, seed);
        let n = 7;
        let y: Vec<f64> = (0..3 * n).map(|_| rng.random_range(-1.5..1.5)).collect();
        let v: Vec<f64> = (0..3 * n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let t = 0.37;
        let mut gpu = GpuSolver::for_field(ctx.clone(), &mlp, true).unwrap();
        gpu.set_batch(&y, &v).unwrap();
        let probe = gpu.probe_field(t).unwrap();
        // The CPU reference on the f32-rounded inputs.
        let p32: Vec<f32> = mlp.params.iter().map(|&x| x as f32).collect();
        let y32: Vec<f32> = y.iter().map(|&x| x as f32).collect();
        let v32: Vec<f32> = v.iter().map(|&x| x as f32).collect();
        let (mut f, mut vy) = (vec![0f32; 3 * n], vec![0f32; 3 * n]);
        let mut g = vec![0f32; mlp.n_params()];
        CnfNet::new(&mlp, &p32).vjp(
            t as f32,
            &y32,
            &v32,
            &mut f,
            &mut vy,
            &mut g,
            &mut TraceWork::default(),
        );
        for s in 0..n {
            for i in 0..3 {
                let (a, b) = (probe.field[3 * s + i], f[3 * s + i]);
                assert!(
                    close(f64::from(a), f64::from(b), 1e-5),
                    "{act:?} sample {s} F{i}: GPU {a}, CPU {b}"
                );
            }
            for i in 0..2 {
                let (a, b) = (probe.vjp_state[s][i], vy[3 * s + i]);
                assert!(
                    close(f64::from(a), f64::from(b), 1e-5),
                    "{act:?} sample {s} vy{i}: GPU {a}, CPU {b}"
                );
            }
        }
        let scale = g.iter().fold(0f64, |m, &x| m.max(f64::from(x).abs()));
        for (j, (&a, &b)) in probe.vjp_theta.iter().zip(&g).enumerate() {
            assert!(
                (a - f64::from(b)).abs() <= 1e-5 * (1.0 + scale),
                "{act:?} θ{j}: GPU {a}, CPU {b}"
            );
        }
        // The trace is not trivially zero (the check could not fail otherwise).
        assert!(f.chunks(3).any(|c| c[2].abs() > 1e-3), "{act:?}");
    }
}

fn moons(methods: Vec<GradMethod>, device: Device) -> TrainConfig {
    let mut c = TrainConfig::defaults(TaskName::DensityMoons);
    c.methods = methods;
    c.iters = 20;
    c.device = device;
    c.precision = Precision::F32;
    c.eval_every = 10;
    // One hidden layer of 8 (time input, RK4 h = 0.1 on [0, 1] as the preset): lavapipe's
    // shader compiler takes minutes on the preset's 32-32 network.
    c.model.hidden = vec![8];
    c.data.points = 1000;
    c.batch = 64;
    c
}

/// 20 iterations of density-moons on the GPU follow the CPU f32 curve from the same initial
/// weights and batches within 1e-3 relative (backprop and adjoint, the preset's methods, and
/// checkpoint), the NLL falls, and the evaluations (weights read back) agree.
#[test]
fn density_on_the_gpu_follows_the_cpu_f32_curve() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let methods = vec![
        GradMethod::Backprop,
        GradMethod::Adjoint,
        GradMethod::Checkpoint,
    ];
    let mut cpu = Trainer::new(moons(methods.clone(), Device::Cpu)).unwrap();
    let _ = cpu.run(&TrainControl::new(), |_| {});
    let mut gpu = Trainer::new_on(moons(methods, Device::Gpu), Some(ctx.clone())).unwrap();
    let report = gpu.run(&TrainControl::new(), |_| {});
    assert_eq!(report.device, "gpu");
    for (c, g) in cpu.runs().iter().zip(gpu.runs()) {
        assert_eq!(c.records.len(), 20, "CPU {}: {:?}", c.method, c.status);
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
        assert!(g.records[19].loss < g.records[0].loss, "{}", g.method);
        assert!(!g.evals.is_empty(), "{}", g.method);
        for (ec, eg) in c.evals.iter().zip(&g.evals) {
            assert_eq!(ec.iter, eg.iter);
            assert!(
                (ec.loss - eg.loss).abs() <= 1e-3 * ec.loss.abs(),
                "{} eval at {}: CPU {} GPU {}",
                g.method,
                ec.iter,
                ec.loss,
                eg.loss
            );
        }
    }
}

/// A density task with afge (no kernel for the trace field) is refused before anything runs,
/// naming the method and the reason; the preset's methods pass the check.
#[test]
fn density_afge_is_refused_up_front() {
    let cfg = moons(vec![GradMethod::Backprop, GradMethod::Afge], Device::Gpu);
    let err = Trainer::new(cfg).unwrap_err();
    assert!(err.contains("afge: no GPU kernel for the density"), "{err}");
    let cfg = moons(vec![GradMethod::InterpAdjoint], Device::Gpu);
    let err = Trainer::new(cfg).unwrap_err();
    assert!(err.contains("interp-adjoint: CPU only"), "{err}");
}
