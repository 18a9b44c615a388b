//! The generated Runge–Kutta stage code (`nodelab::gpu::stages`, from
//! `nodelab::grad::tableau::Tableau::rk4()`) against the CPU's step with the same tableau:
//! one fixed step of the GPU forward kernel equals `tableau::step` in f64 to f32 tolerance, for
//! several step sizes and with time input. Skip policy of tests/common.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use nodelab::gpu::{FixedSchedule, GpuSolver};
use nodelab::grad::field::{FieldWork, StackedMlp};
use nodelab::grad::tableau::{self, Tableau};
use nodelab::nn::{Activation, Mlp};

#[test]
fn one_gpu_step_equals_the_cpu_tableau_step() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let tab = Tableau::rk4();
    for (mlp, t0) in [
        (
            Mlp::random(&[2, 8, 2], Activation::Tanh, false, 0.8, 21),
            0.0,
        ),
        (
            Mlp::random(&[3, 8, 3], Activation::Softplus, true, 0.8, 22),
            0.3,
        ),
    ] {
        let d = mlp.dim();
        let batch = 7;
        let y0 = common::random_states(batch, d, 1.5, 23);
        let mut gpu = GpuSolver::new(ctx.clone(), &mlp).unwrap();
        gpu.set_batch(&y0, &[]).unwrap();
        let field = StackedMlp::<f64>::new(Arc::new(mlp.clone()), batch);
        let mut work = FieldWork::new(&mlp);
        for h in [0.05, 0.3, 1.0] {
            let sched = FixedSchedule::new(t0, t0 + h, Some(h)).unwrap();
            assert_eq!(sched.n_steps, 1);
            let got = gpu.forward_rk4(&sched).unwrap();
            let m = batch * d;
            let s = tab.stages();
            let (mut want, mut stages, mut k) = (vec![0.0; m], vec![0.0; s * m], vec![0.0; s * m]);
            tableau::step(
                &tab,
                &field,
                t0,
                h,
                &y0,
                &mut want,
                &mut stages,
                &mut k,
                &mut work,
            );
            let got: Vec<f64> = got.y.iter().map(|&v| f64::from(v)).collect();
            // The step differs from the start: the comparison sees the stages.
            assert!(common::rel_l2(&y0, &want) > 1e-3 * h);
            let e = common::rel_l2(&got, &want);
            eprintln!("{:?} h = {h}: rel err {e:.2e}", mlp.sizes);
            assert!(e <= 2e-6, "{:?} h = {h}: relative error {e}", mlp.sizes);
        }
    }
}
