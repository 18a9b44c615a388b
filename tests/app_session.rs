//! Session workflows of the app: neural weights, saving a preset, overlaid solvers, and the
//! state eframe persists between launches.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use egui_kittest::Harness;
use nodelab::app::explorer::command::Command;
use nodelab::app::explorer::model::RunStatus;
use nodelab::app::explorer::session::{BuiltinDraft, Session, check_preset};
use nodelab::app::explorer::state::PlotKind;
use nodelab::app::{AppOptions, NodelabApp};
use nodelab::preset::ProblemKind;
use nodelab::solver::{Method, SolverConfig};

fn presets() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("presets")
}

fn app() -> Harness<'static, NodelabApp> {
    let opts = AppOptions {
        presets_dir: presets(),
        restore: false,
        run_at_start: false,
        show_adapter: false,
        auto_solve_delay: std::time::Duration::ZERO,
        file_dialogs: false,
        ..AppOptions::default()
    };
    Harness::builder()
        .with_size([1280.0, 800.0])
        .with_max_steps(40)
        .build_eframe(move |cc| NodelabApp::new(cc, opts))
}

fn settle(h: &mut Harness<'_, NodelabApp>) {
    h.run_steps(2);
    h.state_mut().settle();
    h.run_steps(2);
}

/// f(y) = W y + b with diagonal W: y_i(t) = (y0_i + b_i/w_i) e^{w_i t} − b_i/w_i.
const AFFINE: &str =
    r#"{"activation":"tanh","layers":[{"weight":[[-0.5,0.0],[0.0,0.3]],"bias":[0.2,-0.1]}]}"#;

#[test]
fn a_weights_file_becomes_the_vector_field() {
    if !common::has_adapter() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("affine.json");
    std::fs::write(&weights, AFFINE).unwrap();
    let mut h = app();
    h.state_mut().session_mut().solvers[0].tol = 1e-8;
    h.state_mut().push_command(Command::LoadWeights(weights));
    settle(&mut h);
    let app = h.state();
    assert_eq!(app.session().kind, ProblemKind::Neural);
    assert_eq!(app.session().neural.y0, vec![0.0, 0.0]);
    let run = &app.runs()[0];
    assert_eq!(run.status, RunStatus::Done);
    let y = &run.records.iter().rev().find(|r| r.accepted).unwrap().y;
    let (w, b, t) = ([-0.5f64, 0.3], [0.2f64, -0.1], 1.0f64);
    for i in 0..2 {
        let exact = (b[i] / w[i]) * (w[i] * t).exp() - b[i] / w[i];
        assert!(
            (y[i] - exact).abs() < 1e-6,
            "component {i}: {} vs {exact}",
            y[i]
        );
    }
    // A bad weights file is an error toast and changes nothing.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"layers\": 3}").unwrap();
    let before = h.state().session().clone();
    h.state_mut().push_command(Command::LoadWeights(bad));
    settle(&mut h);
    assert_eq!(h.state().session(), &before);
    assert!(
        h.state()
            .toasts()
            .items
            .iter()
            .any(|t| t.error && t.text.contains("bad.json"))
    );
}

#[test]
fn a_saved_preset_loads_back_to_the_same_session() {
    if !common::has_adapter() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.toml");
    let mut h = app();
    {
        let s = h.state_mut().session_mut();
        s.builtin = BuiltinDraft::defaults("lorenz");
        s.builtin.params.insert("rho".into(), 20.0);
        s.solvers = vec![
            SolverConfig {
                method: Method::ZcRk4,
                tol: 1e-5,
                ..SolverConfig::default()
            },
            SolverConfig {
                method: Method::Dopri5,
                tol: 1e-7,
                ..SolverConfig::default()
            },
        ];
    }
    h.state_mut()
        .push_command(Command::SavePreset(path.clone()));
    settle(&mut h);
    let (loaded, problem) = check_preset(&path).unwrap();
    assert_eq!(loaded.preset.compare.len(), 1);
    let mut back = Session::default();
    back.apply_preset(&loaded, &problem);
    assert_eq!(back.builtin, h.state().session().builtin);
    assert_eq!(back.solvers, h.state().session().solvers);
    assert!(
        h.state()
            .toasts()
            .items
            .iter()
            .any(|t| t.text.starts_with("preset saved to"))
    );
}

#[test]
fn compared_solvers_are_overlaid_each_in_its_colour() {
    if !common::has_adapter() {
        return;
    }
    let mut h = app();
    h.state_mut().push_command(Command::LoadPreset(
        presets().join("custom-damped-pendulum.toml"),
    ));
    settle(&mut h);
    let app = h.state();
    let runs = app.runs();
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|r| r.status == RunStatus::Done));
    let methods: Vec<Method> = runs.iter().map(|r| r.config.method).collect();
    assert_eq!(
        methods,
        [Method::ZcRk4, Method::Dopri5, Method::Rk4Doubling]
    );
    assert!(runs[0].color != runs[1].color && runs[1].color != runs[2].color);
    // The step-size figure has a named line per run, in the run's colour.
    let fig = app.figure(PlotKind::StepSize).unwrap();
    for r in runs {
        assert!(
            fig.series
                .iter()
                .any(|s| s.color == r.color && s.name.contains(r.config.method.name())),
            "{}",
            r.config.method
        );
    }
}

#[derive(Default)]
struct MemoryStorage(HashMap<String, String>);

impl eframe::Storage for MemoryStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.into(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

#[test]
fn the_session_is_persisted_including_an_unsaved_custom_problem() {
    if !common::has_adapter() {
        return;
    }
    let mut h = app();
    {
        let s = h.state_mut().session_mut();
        s.kind = ProblemKind::Custom;
        s.custom.equations = vec!["-y + sin(t)".into()];
    }
    let mut storage = MemoryStorage::default();
    eframe::App::save(h.state_mut(), &mut storage);
    let saved = storage
        .0
        .values()
        .find(|v| v.contains("sin(t)"))
        .expect("the session is saved");
    let back: Session = serde_json::from_str(saved).unwrap();
    assert_eq!(&back, h.state().session());
}

#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

#[test]
fn files_dropped_on_the_window_are_loaded() {
    if !common::has_adapter() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("affine.json");
    std::fs::write(&weights, AFFINE).unwrap();
    let mut h = app();
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(
            presets().join("paper-lorenz.toml"),
        )));
    settle(&mut h);
    assert_eq!(h.state().session().builtin.name, "lorenz");
    assert!(h.state().runs()[0].is_finished());
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(weights)));
    settle(&mut h);
    assert_eq!(h.state().session().kind, ProblemKind::Neural);
    assert_eq!(h.state().runs()[0].status, RunStatus::Done);
}

#[test]
fn hovering_and_clicking_a_time_plot_picks_the_step_under_the_pointer() {
    if !common::has_adapter() {
        return;
    }
    use egui_kittest::kittest::Queryable;
    let mut h = app();
    h.state_mut().view_mut().playback.as_fast_as_possible = true;
    h.state_mut().push_command(Command::LoadPreset(
        presets().join("paper-van-der-pol.toml"),
    ));
    settle(&mut h);
    // The solution plot sits right below the view tabs, across the central panel.
    let tab = h.get_by_label("Time plots").rect();
    let pos = egui::pos2(tab.left() + 250.0, tab.bottom() + 70.0);
    h.hover_at(pos);
    h.run_steps(3);
    let hovered = h.state().view().hovered.expect("a step is hovered");
    h.drag_at(pos);
    h.run_steps(1);
    h.drop_at(pos);
    h.run_steps(3);
    let selected = h.state().view().selected.expect("the click selects it");
    assert_eq!(selected, hovered);
    let r = &h.state().runs()[0].records[selected.record];
    assert!(r.accepted);
    // The inspector names it.
    h.get_by_label(&format!("attempt #{}", selected.record));
}
