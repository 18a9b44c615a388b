//! A neural vector field loaded from a weights file, solved against a closed form.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use nodelab::preset::Preset;
use nodelab::solver::{self, Method, SolverConfig};

/// A single affine layer f(y) = W y + b with diagonal W: y_i(t) = (y0_i + b_i/w_i) e^{w_i t} − b_i/w_i.
const AFFINE: &str =
    r#"{"activation":"tanh","layers":[{"weight":[[-0.5,0.0],[0.0,0.3]],"bias":[0.2,-0.1]}]}"#;

#[test]
fn affine_network_follows_its_closed_form() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("affine.json"), AFFINE).unwrap();
    let preset = dir.path().join("p.toml");
    std::fs::write(
        &preset,
        "[problem]\nkind = \"neural\"\nweights = \"affine.json\"\ny0 = [1.0, -2.0]\nt_span = [0.0, 2.0]\n[solver]\nmethod = \"zc-rk4\"\ntol = 1e-9\n",
    )
    .unwrap();
    let loaded = Preset::load(&preset).unwrap();
    let problem = loaded.build_problem().unwrap();
    assert_eq!(problem.dim(), 2);
    let solution = solver::solve(&problem, &loaded.preset.solver).unwrap();
    assert!(solution.error.is_none());
    let (w, b, y0) = ([-0.5, 0.3], [0.2, -0.1], [1.0, -2.0]);
    for i in 0..2 {
        let exact = (y0[i] + b[i] / w[i]) * (w[i] * 2.0f64).exp() - b[i] / w[i];
        assert!((solution.y_final()[i] - exact).abs() < 1e-8, "{i}");
    }
}

#[test]
fn hidden_layers_and_time_input_are_integrated() {
    // y' = MLP([y, t]) with a tanh hidden layer; compare the adaptive solve with a fine RK4 one.
    let mlp = nodelab::nn::Mlp::random(&[2, 8, 2], nodelab::nn::Activation::Tanh, true, 1.0, 3);
    let problem = nodelab::problem::neural::build(mlp, vec![0.5, -0.5], 0.0, 3.0).unwrap();
    let adaptive = solver::solve(
        &problem,
        &SolverConfig {
            method: Method::ZcRk4,
            tol: 1e-8,
            ..SolverConfig::default()
        },
    )
    .unwrap();
    let fine = solver::solve(
        &problem,
        &SolverConfig {
            method: Method::Rk4,
            h0: Some(1e-3),
            ..SolverConfig::default()
        },
    )
    .unwrap();
    for (a, b) in adaptive.y_final().iter().zip(fine.y_final()) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
}

#[test]
fn broken_weights_are_reported_at_the_weights_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.json"),
        r#"{"activation":"tanh","layers":[]}"#,
    )
    .unwrap();
    let preset = dir.path().join("p.toml");
    std::fs::write(
        &preset,
        "[problem]\nkind = \"neural\"\nweights = \"bad.json\"\n",
    )
    .unwrap();
    let err = Preset::load(&preset).unwrap().build_problem().unwrap_err();
    assert_eq!(err.location, Some((3, 1)), "{err}");
    assert!(err.message.contains("no layers"), "{err}");
    std::fs::write(
        &preset,
        "[problem]\nkind = \"neural\"\nweights = \"missing.json\"\n",
    )
    .unwrap();
    let err = Preset::load(&preset).unwrap().build_problem().unwrap_err();
    assert!(err.message.contains("cannot read"), "{err}");
}
