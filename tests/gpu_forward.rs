//! GPU forward solves against the CPU f64 solvers, sample by sample: fixed-step RK4 and the
//! per-sample adaptive zero-cost RK4 (state, accepted/rejected counts).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use nodelab::gpu::{AdaptiveSettings, FixedSchedule, GpuSolver};
use nodelab::nn::{Activation, Mlp};
use nodelab::problem::neural;
use nodelab::solver::{self, Method, SolverConfig};

fn cpu_solve(mlp: &Mlp, y0: &[f64], t1: f64, config: &SolverConfig) -> solver::Solution {
    let problem = neural::build(mlp.clone(), y0.to_vec(), 0.0, t1).unwrap();
    let solution = solver::solve(&problem, config).unwrap();
    assert!(solution.error.is_none(), "{:?}", solution.error);
    solution
}

#[test]
fn fixed_step_rk4_matches_the_cpu_per_sample() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let cases = [
        (
            Mlp::random(&[2, 16, 2], Activation::Tanh, false, 1.0, 11),
            1usize,
        ),
        (
            Mlp::random(&[2, 16, 2], Activation::Tanh, false, 1.0, 11),
            255,
        ),
        (
            Mlp::random(&[3, 8, 8, 3], Activation::Softplus, true, 1.0, 12),
            257,
        ),
    ];
    for (mlp, batch) in cases {
        let d = mlp.dim();
        let mut gpu = GpuSolver::new(ctx.clone(), &mlp).unwrap();
        gpu.poison = true;
        let y0 = common::random_states(batch, d, 1.0, batch as u64);
        gpu.set_batch(&y0, &[]).unwrap();
        let sched = FixedSchedule::new(0.0, 1.0, Some(0.02)).unwrap();
        // Run twice: the second run reuses the buffers and must give the same answer.
        let first = gpu.forward_rk4(&sched).unwrap();
        let out = gpu.forward_rk4(&sched).unwrap();
        assert_eq!(first.y, out.y);
        let config = SolverConfig {
            method: Method::Rk4,
            h0: Some(0.02),
            ..SolverConfig::default()
        };
        let mut worst = 0.0f64;
        for s in 0..batch {
            let cpu = cpu_solve(&mlp, &y0[s * d..(s + 1) * d], 1.0, &config);
            let g: Vec<f64> = out.y[s * d..(s + 1) * d]
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            let e = common::rel_err(&g, cpu.y_final(), 1.0);
            assert!(e <= 1e-5, "sample {s}: relative error {e}");
            worst = worst.max(e);
            assert_eq!(out.stats[s].status, 0);
            assert_eq!(out.stats[s].accepted as usize, cpu.accepted());
            assert_eq!(u64::from(out.stats[s].nfev), cpu.nfev);
        }
        eprintln!(
            "rk4 {:?} batch {batch}: worst relative error {worst:.2e}",
            mlp.sizes
        );
    }
}

#[test]
fn adaptive_zc_rk4_adapts_each_sample_like_the_cpu() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    for (mlp, batch, seed) in [
        (
            Mlp::random(&[2, 16, 2], Activation::Tanh, false, 1.5, 21),
            257usize,
            1u64,
        ),
        (
            Mlp::random(&[2, 8, 2], Activation::Softplus, true, 1.5, 22),
            1,
            2,
        ),
    ] {
        let d = mlp.dim();
        let mut gpu = GpuSolver::new(ctx.clone(), &mlp).unwrap();
        gpu.poison = true;
        // Widely spread initial states, so that samples need different step sequences.
        let y0 = common::random_states(batch, d, 3.0, seed);
        gpu.set_batch(&y0, &[]).unwrap();
        let config = SolverConfig {
            method: Method::ZcRk4,
            tol: 1e-5,
            ..SolverConfig::default()
        };
        let t1 = 2.0;
        let out = gpu
            .forward_zc_rk4(&AdaptiveSettings::from_config(&config, 0.0, t1))
            .unwrap();
        let mut same_steps = 0;
        let mut counts = std::collections::BTreeSet::new();
        let mut worst = 0.0f64;
        for s in 0..batch {
            let cpu = cpu_solve(&mlp, &y0[s * d..(s + 1) * d], t1, &config);
            let st = out.stats[s];
            assert_eq!(st.status, 0, "sample {s}: {}", st.status_text());
            let g: Vec<f64> = out.y[s * d..(s + 1) * d]
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            // Both solves are within ~tol of the exact solution; in practice they agree far
            // more closely, because the step sequences are (nearly) the same.
            let e = common::rel_err(&g, cpu.y_final(), 1.0);
            assert!(e <= 1e-5, "sample {s}: relative error {e}");
            worst = worst.max(e);
            let diff = (st.accepted as i64 - cpu.accepted() as i64).abs();
            assert!(
                diff <= 1,
                "sample {s}: {} vs {} accepted",
                st.accepted,
                cpu.accepted()
            );
            // f32 rounding may flip a borderline accept/reject decision (typically in the
            // first, automatically sized step), so exact agreement is asked of most samples.
            if st.accepted as usize == cpu.accepted() && st.rejected as usize == cpu.rejected() {
                same_steps += 1;
                assert_eq!(u64::from(st.nfev), cpu.nfev, "sample {s}");
            } else {
                eprintln!(
                    "sample {s}: GPU {}+{} vs CPU {}+{} accepted+rejected",
                    st.accepted,
                    st.rejected,
                    cpu.accepted(),
                    cpu.rejected()
                );
            }
            counts.insert(st.accepted);
        }
        eprintln!(
            "zc-rk4 batch {batch}: worst relative error {worst:.2e}, {same_steps}/{batch} with \
             the CPU's exact step counts, accepted counts {counts:?}"
        );
        assert!(same_steps * 10 >= batch * 8, "{same_steps}/{batch}");
        if batch > 1 {
            // Per-sample adaptation: the samples did not all take the same steps.
            assert!(counts.len() > 1, "{counts:?}");
        }
    }
}
