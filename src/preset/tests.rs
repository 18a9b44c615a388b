//! Tests of the preset reader: locations of syntax and semantic errors, shapes, round trips.

use std::path::Path;

use super::*;
use crate::grad::{BatchSteps, LossKind};

#[test]
fn line_col_counts_characters() {
    let text = "a = 1\nbé = 2\n";
    assert_eq!(line_col(text, 0), (1, 1));
    assert_eq!(line_col(text, text.find("= 2").unwrap()), (2, 4));
}

#[test]
fn unknown_keys_are_located() {
    let text = "[problem]\nname = \"lorenz\"\nnmae = 3\n";
    let err = Preset::from_toml(text, "x.toml").unwrap_err();
    assert_eq!(err.location, Some((3, 1)), "{err}");
    assert!(err.to_string().starts_with("x.toml:3:1:"), "{err}");
}

#[test]
fn bad_method_is_located() {
    let text = "[problem]\nname = \"lorenz\"\n[solver]\nmethod = \"rk45\"\n";
    let err = Preset::from_toml(text, "x.toml").unwrap_err();
    assert_eq!(err.location.map(|l| l.0), Some(4), "{err}");
}

#[test]
fn semantic_errors_point_at_their_key() {
    let text = "[problem]\nname = \"van-der-pol\"\nparams = { nu = 2.0 }\n";
    let loaded = LoadedPreset::from_text(text, "p.toml", Path::new(".")).unwrap();
    let err = loaded.build_problem().unwrap_err();
    assert_eq!(err.location, Some((3, 12)), "{err}");
    let text = "[problem]\nname = \"van-der-pool\"\n";
    let loaded = LoadedPreset::from_text(text, "p.toml", Path::new(".")).unwrap();
    assert_eq!(loaded.build_problem().unwrap_err().location, Some((2, 1)));
}

#[test]
fn custom_formula_errors_point_at_the_equation() {
    let text = "[problem]\nkind = \"custom\"\nvariables = [\"x\", \"v\"]\nequations = [\n  \"v\",\n  \"-k*x + q\",\n]\nparams = { k = 2.0 }\ny0 = [1.0, 0.0]\nt_span = [0.0, 1.0]\n";
    let loaded = LoadedPreset::from_text(text, "p.toml", Path::new(".")).unwrap();
    let err = loaded.build_problem().unwrap_err();
    assert_eq!(err.location, Some((6, 3)), "{err}");
    assert!(err.message.contains("unknown name 'q'"), "{err}");
}

#[test]
fn grad_presets_parse_loss_and_batch_steps() {
    let dir = std::env::temp_dir().join(format!("nodelab-preset-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mlp = crate::nn::Mlp::random(&[2, 3, 2], crate::nn::Activation::Tanh, false, 1.0, 1);
    std::fs::write(
        dir.join("m.json"),
        serde_json::to_string(&mlp.to_file()).unwrap(),
    )
    .unwrap();
    let text = "[problem]\nkind = \"neural\"\nweights = \"m.json\"\ny0 = [[1.0, 0.0], [0.0, 1.0]]\nt_span = [0.0, 0.5]\n[solver]\nmethod = \"dopri5\"\ntol = 1e-6\nbatch_steps = \"per-sample\"\n[loss]\nkind = \"mse\"\ntarget = [[0.5, 0.5], [0.1, 0.2]]\n";
    let loaded = LoadedPreset::from_text(text, "g.toml", &dir).unwrap();
    assert_eq!(loaded.preset.batch_steps, BatchSteps::PerSample);
    let p = loaded.build_grad_problem().unwrap();
    assert_eq!(p.y0.len(), 2);
    assert_eq!(p.loss.kind, LossKind::Mse);
    assert_eq!(p.t1, 0.5);
    let again = Preset::from_toml(&loaded.preset.to_toml().unwrap(), "g").unwrap();
    assert_eq!(again, loaded.preset);
    // A target of the wrong shape is located at [loss] target.
    let bad = text.replace("target = [[0.5, 0.5], [0.1, 0.2]]", "target = [0.5, 0.5]");
    let loaded = LoadedPreset::from_text(&bad, "g.toml", &dir).unwrap();
    let err = loaded.build_grad_problem().unwrap_err();
    assert_eq!(err.location.map(|l| l.0), Some(12), "{err}");
    let bad = text.replace("batch_steps = \"per-sample\"", "batch_steps = \"each\"");
    assert!(Preset::from_toml(&bad, "g.toml").is_err());
    let bad = text.replace("kind = \"mse\"", "kind = \"l1\"");
    let loaded = LoadedPreset::from_text(&bad, "g.toml", &dir).unwrap();
    assert!(
        loaded
            .build_grad_problem()
            .unwrap_err()
            .message
            .contains("unknown loss")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn t_span_must_be_exactly_two_numbers() {
    for bad in ["[0.0, 1.0, 2.0]", "[1.0]", "[]"] {
        let text = format!("[problem]\nname = \"lorenz\"\nt_span = {bad}\n");
        let err = Preset::from_toml(&text, "x.toml").unwrap_err();
        assert_eq!(err.location.map(|l| l.0), Some(3), "{bad}: {err}");
        assert!(err.message.contains("two numbers"), "{bad}: {err}");
    }
    let ok = Preset::from_toml("[problem]\nname = \"lorenz\"\nt_span = [0, 2]\n", "x").unwrap();
    assert_eq!(ok.problem.t_span, Some([0.0, 2.0]));
}

#[test]
fn every_non_finite_number_is_refused_where_it_is() {
    let text = "[problem]\nname = \"lorenz\"\ny0 = [1.0, 2.0, -inf]\n";
    let err = Preset::from_toml(text, "x.toml").unwrap_err();
    assert_eq!(err.location, Some((3, 17)), "{err}");
    assert!(err.message.contains("problem.y0[2] is -inf"), "{err}");
    let text = "[problem]\nname = \"lorenz\"\n[loss]\nkind = \"mse\"\ntarget = [nan, 0.7]\n";
    let err = Preset::from_toml(text, "x.toml").unwrap_err();
    assert_eq!(err.location, Some((5, 11)), "{err}");
    assert!(err.message.contains("loss.target[0]"), "{err}");
}

#[test]
fn solver_and_compare_settings_are_located_at_their_key() {
    let text = "[problem]\nname = \"lorenz\"\n[solver]\nmethod = \"dopri5\"\nh0 = 0.0\n";
    let loaded = LoadedPreset::from_text(text, "s.toml", Path::new(".")).unwrap();
    let err = loaded.build_problem().unwrap_err();
    assert_eq!(err.location, Some((5, 1)), "{err}");
    let text =
        "[problem]\nname = \"lorenz\"\n[[compare]]\nmethod = \"rk4\"\n[[compare]]\ntol = -1.0\n";
    let loaded = LoadedPreset::from_text(text, "s.toml", Path::new(".")).unwrap();
    let err = loaded.validate().unwrap_err();
    assert_eq!(err.location, Some((6, 1)), "{err}");
    assert!(
        err.message.contains("tol must be a positive number"),
        "{err}"
    );
}

#[test]
fn a_state_that_is_not_a_list_of_numbers_says_so() {
    let text = "[problem]\nname = \"lorenz\"\ny0 = \"two\"\n";
    let err = Preset::from_toml(text, "x.toml").unwrap_err();
    assert_eq!(err.location.map(|l| l.0), Some(3), "{err}");
    assert!(err.message.contains("a list of numbers"), "{err}");
    assert!(!err.message.contains("untagged"), "{err}");
    let batch = "[problem]\nname = \"lorenz\"\ny0 = [[1, 2, 3], [4.0, 5.0, 6.0]]\n";
    let p = Preset::from_toml(batch, "x").unwrap();
    assert_eq!(
        p.problem.y0,
        Some(StateSpec::Batch(vec![
            vec![1.0, 2.0, 3.0],
            vec![4.0, 5.0, 6.0]
        ]))
    );
}

#[test]
fn round_trips_through_toml() {
    let text = "description = \"d\"\n[problem]\nname = \"lorenz\"\nparams = { rho = 20.0 }\nt_span = [0.0, 2.0]\n[solver]\nmethod = \"dopri5\"\ntol = 1e-8\n";
    let preset = Preset::from_toml(text, "p").unwrap();
    let again = Preset::from_toml(&preset.to_toml().unwrap(), "p").unwrap();
    assert_eq!(preset, again);
    let loaded = LoadedPreset::from_text(text, "p", Path::new(".")).unwrap();
    let problem = loaded.build_problem().unwrap();
    assert_eq!(problem.t_end, 2.0);
    assert_eq!(problem.params[1].value, 20.0);
}
