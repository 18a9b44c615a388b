//! The saved state of the step explorer: what the user configured (problem, solvers). It is a
//! [`Preset`] in editable form, saved between launches (eframe persistence) and to/from preset
//! files. The drafts of the three problem sources are kept side by side, so switching source or
//! loading a preset never throws away an unsaved custom problem.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::grad::batch::BatchSteps;
use crate::preset::{
    LoadedPreset, LossSpec, Preset, PresetError, ProblemKind, ProblemSpec, StateSpec,
};
use crate::problem::{Problem, builtin};
use crate::solver::{Method, SolverConfig};

/// A built-in problem with its parameter values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BuiltinDraft {
    pub name: String,
    pub params: BTreeMap<String, f64>,
    pub y0: Vec<f64>,
    pub t_span: [f64; 2],
}

impl BuiltinDraft {
    /// The defaults of built-in `name` (van der Pol when unknown).
    pub fn defaults(name: &str) -> Self {
        let info = builtin::info(name)
            .or_else(|| builtin::info("van-der-pol"))
            .unwrap_or(&builtin::BUILTINS[0]);
        let y0 = builtin::build(info.name, &builtin::BuiltinOverrides::default())
            .map(|p| p.y0)
            .unwrap_or_default();
        Self {
            name: info.name.to_string(),
            params: info.params.iter().map(|p| (p.0.to_string(), p.1)).collect(),
            y0,
            t_span: [info.t_span.0, info.t_span.1],
        }
    }
}

impl Default for BuiltinDraft {
    fn default() -> Self {
        Self::defaults("van-der-pol")
    }
}

/// A custom problem typed as formulas.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomDraft {
    pub variables: Vec<String>,
    pub equations: Vec<String>,
    pub params: Vec<(String, f64)>,
    pub y0: Vec<f64>,
    pub t_span: [f64; 2],
}

impl Default for CustomDraft {
    /// The blow-up example `y' = y²`, `y(0) = 1`, whose solution `1/(1 − t)` ends at t = 1.
    fn default() -> Self {
        Self {
            variables: vec!["y".into()],
            equations: vec!["y^2".into()],
            params: Vec::new(),
            y0: vec![1.0],
            t_span: [0.0, 2.0],
        }
    }
}

/// A neural vector field from a weights file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NeuralDraft {
    /// Absolute path of the weights file.
    pub weights: Option<PathBuf>,
    /// Initial state (zeros of the network's dimension when empty).
    pub y0: Vec<f64>,
    pub t_span: [f64; 2],
}

/// What a gradient preset adds to a problem, which the explorer shows but does not edit: the
/// batch of initial states, the `[loss]` table and the batch stepping. Kept with the source it
/// was loaded for, so that a saved session writes it back (a loaded table is never dropped).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GradientDraft {
    /// The problem source the batch and loss belong to.
    pub kind: ProblemKind,
    /// Every initial state of the batch, as loaded (the first one is the draft's `y0`, which
    /// the user may edit).
    pub batch: Vec<Vec<f64>>,
    pub loss: Option<LossSpec>,
    pub batch_steps: BatchSteps,
}

/// The whole saved session of the step explorer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Session {
    pub description: String,
    pub kind: ProblemKind,
    pub builtin: BuiltinDraft,
    pub custom: CustomDraft,
    pub neural: NeuralDraft,
    /// The solvers run and overlaid; the first is the preset's `[solver]`, the rest `[[compare]]`.
    pub solvers: Vec<SolverConfig>,
    /// The batch and loss of a gradient preset (none for a solve preset).
    pub gradient: Option<GradientDraft>,
}

impl Default for Session {
    fn default() -> Self {
        Self {
            description: String::new(),
            kind: ProblemKind::Builtin,
            builtin: BuiltinDraft::default(),
            custom: CustomDraft::default(),
            neural: NeuralDraft {
                t_span: [0.0, 1.0],
                ..NeuralDraft::default()
            },
            solvers: vec![SolverConfig {
                method: Method::ZcRk4,
                tol: 1e-4,
                ..SolverConfig::default()
            }],
            gradient: None,
        }
    }
}

fn spec_y0(y0: &[f64]) -> Option<StateSpec> {
    (!y0.is_empty()).then(|| StateSpec::One(y0.to_vec()))
}

impl Session {
    /// The initial state of the current source.
    pub fn y0(&self) -> &[f64] {
        match self.kind {
            ProblemKind::Builtin => &self.builtin.y0,
            ProblemKind::Custom => &self.custom.y0,
            ProblemKind::Neural => &self.neural.y0,
        }
    }

    /// The initial state of the current source, editable.
    pub fn y0_mut(&mut self) -> &mut Vec<f64> {
        match self.kind {
            ProblemKind::Builtin => &mut self.builtin.y0,
            ProblemKind::Custom => &mut self.custom.y0,
            ProblemKind::Neural => &mut self.neural.y0,
        }
    }

    /// Adds an initial state to the current source's batch (a batch of one becomes two: the
    /// draft's own `y0` first). States of another dimension are refused.
    pub fn add_initial_state(&mut self, state: Vec<f64>) -> bool {
        let y0 = self.y0_mut().clone();
        if state.len() != y0.len() || state.iter().any(|v| !v.is_finite()) {
            return false;
        }
        let kind = self.kind;
        let g = match &mut self.gradient {
            Some(g) if g.kind == kind => g,
            _ => self.gradient.insert(GradientDraft {
                kind,
                ..GradientDraft::default()
            }),
        };
        if g.batch.is_empty() {
            g.batch.push(y0);
        }
        g.batch.push(state);
        true
    }

    /// The gradient part of the current source, if it has one.
    pub fn gradient(&self) -> Option<&GradientDraft> {
        self.gradient.as_ref().filter(|g| g.kind == self.kind)
    }

    /// The `[loss]` table of the current source.
    pub fn loss(&self) -> Option<&LossSpec> {
        self.gradient()?.loss.as_ref()
    }

    /// The initial state(s) of the current source: the draft's `y0`, followed by the rest of
    /// a loaded batch when its states have the same dimension.
    fn state_spec(&self, y0: &[f64]) -> Option<StateSpec> {
        match self.gradient() {
            Some(g) if g.batch.len() > 1 && g.batch.iter().all(|s| s.len() == y0.len()) => {
                let mut batch = g.batch.clone();
                batch[0] = y0.to_vec();
                Some(StateSpec::Batch(batch))
            }
            _ => spec_y0(y0),
        }
    }

    /// The name a solve of the current source reports (`van-der-pol`, `custom`, `neural`).
    pub fn problem_name(&self) -> &str {
        match self.kind {
            ProblemKind::Builtin => &self.builtin.name,
            ProblemKind::Custom => "custom",
            ProblemKind::Neural => "neural",
        }
    }

    /// The `[problem]` table of the current source. Neural weights are an absolute path.
    pub fn problem_spec(&self) -> ProblemSpec {
        match self.kind {
            ProblemKind::Builtin => ProblemSpec {
                kind: ProblemKind::Builtin,
                name: Some(self.builtin.name.clone()),
                params: self.builtin.params.clone(),
                y0: self.state_spec(&self.builtin.y0),
                t_span: Some(self.builtin.t_span),
                ..ProblemSpec::default()
            },
            ProblemKind::Custom => ProblemSpec {
                kind: ProblemKind::Custom,
                params: self.custom.params.iter().cloned().collect(),
                y0: self.state_spec(&self.custom.y0),
                t_span: Some(self.custom.t_span),
                variables: self.custom.variables.clone(),
                equations: self.custom.equations.clone(),
                ..ProblemSpec::default()
            },
            ProblemKind::Neural => ProblemSpec {
                kind: ProblemKind::Neural,
                y0: self.state_spec(&self.neural.y0),
                t_span: Some(self.neural.t_span),
                weights: self
                    .neural
                    .weights
                    .as_ref()
                    .map(|p| p.display().to_string()),
                ..ProblemSpec::default()
            },
        }
    }

    /// The session as a preset (what "Save preset" writes).
    pub fn to_preset(&self) -> Preset {
        let mut solvers = self.solvers.iter().cloned();
        Preset {
            description: (!self.description.is_empty()).then(|| self.description.clone()),
            problem: self.problem_spec(),
            solver: solvers.next().unwrap_or_default(),
            compare: solvers.collect(),
            // The explorer does not edit a gradient preset's loss and batch stepping, but never
            // drops them either.
            batch_steps: self.gradient().map(|g| g.batch_steps).unwrap_or_default(),
            loss: self.loss().cloned(),
        }
    }

    /// Applies a checked preset (see [`check_preset`]); the drafts of the other sources are kept.
    pub fn apply_preset(&mut self, loaded: &LoadedPreset, problem: &Problem) {
        let p = &loaded.preset;
        let mut next = self.clone();
        next.description = p.description.clone().unwrap_or_default();
        next.kind = p.problem.kind;
        match p.problem.kind {
            ProblemKind::Builtin => {
                let mut draft = BuiltinDraft::defaults(&problem.name);
                for param in &problem.params {
                    draft.params.insert(param.name.clone(), param.value);
                }
                draft.y0 = problem.y0.clone();
                draft.t_span = [problem.t0, problem.t_end];
                next.builtin = draft;
            }
            ProblemKind::Custom => {
                next.custom = CustomDraft {
                    variables: p.problem.variables.clone(),
                    equations: p.problem.equations.clone(),
                    params: p
                        .problem
                        .params
                        .iter()
                        .map(|(k, v)| (k.clone(), *v))
                        .collect(),
                    y0: problem.y0.clone(),
                    t_span: [problem.t0, problem.t_end],
                };
            }
            ProblemKind::Neural => {
                next.neural = NeuralDraft {
                    weights: p
                        .problem
                        .weights
                        .as_ref()
                        .map(|w| absolute(&loaded.base_dir.join(w))),
                    y0: problem.y0.clone(),
                    t_span: [problem.t0, problem.t_end],
                };
            }
        }
        let batch = p
            .problem
            .y0
            .as_ref()
            .map(StateSpec::as_batch)
            .unwrap_or_default();
        next.gradient = (batch.len() > 1
            || p.loss.is_some()
            || p.batch_steps != BatchSteps::default())
        .then(|| GradientDraft {
            kind: p.problem.kind,
            batch,
            loss: p.loss.clone(),
            batch_steps: p.batch_steps,
        });
        next.solvers = std::iter::once(p.solver.clone())
            .chain(p.compare.iter().cloned())
            .collect();
        *self = next;
    }
}

/// Reads a preset file and builds its problem (file I/O: call it off the UI thread). A preset
/// that parses but describes an impossible problem is rejected here with its located error, so
/// a failed load changes nothing.
pub fn check_preset(path: &Path) -> Result<(LoadedPreset, Problem), PresetError> {
    let loaded = Preset::load(path)?;
    check_loaded(loaded)
}

/// [`check_preset`] for preset text that is already in memory.
pub fn check_loaded(loaded: LoadedPreset) -> Result<(LoadedPreset, Problem), PresetError> {
    // `build_problem` runs the one validation the CLI uses too (solver and compare settings).
    let problem = loaded.build_problem()?;
    Ok((loaded, problem))
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_round_trips_through_its_preset() {
        let mut s = Session {
            builtin: BuiltinDraft::defaults("lorenz"),
            ..Session::default()
        };
        s.builtin.params.insert("rho".into(), 20.0);
        s.solvers.push(SolverConfig {
            method: Method::Dopri5,
            ..SolverConfig::default()
        });
        let text = s.to_preset().to_toml().unwrap();
        let loaded = LoadedPreset::from_text(&text, "s.toml", Path::new(".")).unwrap();
        let (loaded, problem) = check_loaded(loaded).unwrap();
        let mut back = Session::default();
        back.apply_preset(&loaded, &problem);
        assert_eq!(back.builtin, s.builtin);
        assert_eq!(back.solvers, s.solvers);
    }

    #[test]
    fn a_bad_preset_is_located_and_a_good_one_keeps_the_custom_draft() {
        let mut s = Session {
            kind: ProblemKind::Custom,
            ..Session::default()
        };
        s.custom.equations = vec!["-y + t".into()];
        let before = s.clone();
        let text = "[problem]\nname = \"van-der-pol\"\nparams = { nu = 1.0 }\n";
        let loaded = LoadedPreset::from_text(text, "bad.toml", Path::new(".")).unwrap();
        let err = check_loaded(loaded).unwrap_err();
        assert_eq!(err.location, Some((3, 12)));
        // A good built-in preset switches source but keeps the custom draft too.
        let good = "[problem]\nname = \"freefall\"\n";
        let loaded = LoadedPreset::from_text(good, "ok.toml", Path::new(".")).unwrap();
        let (loaded, problem) = check_loaded(loaded).unwrap();
        s.apply_preset(&loaded, &problem);
        assert_eq!(s.kind, ProblemKind::Builtin);
        assert_eq!(s.custom, before.custom);
    }

    #[test]
    fn a_gradient_preset_keeps_its_batch_and_loss_through_a_saved_session() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("presets");
        for name in ["grad-batch.toml", "grad-trajectory.toml"] {
            let (loaded, problem) = check_preset(&dir.join(name)).unwrap();
            let mut s = Session::default();
            s.apply_preset(&loaded, &problem);
            assert!(s.loss().is_some(), "{name}");
            let saved = s.to_preset();
            assert_eq!(
                saved.loss, loaded.preset.loss,
                "{name}: the [loss] table is kept"
            );
            assert_eq!(saved.batch_steps, loaded.preset.batch_steps, "{name}");
            assert_eq!(
                saved.problem.y0, loaded.preset.problem.y0,
                "{name}: every sample"
            );
            let text = saved.to_toml().unwrap();
            assert!(text.contains("[loss]"), "{name}: {text}");
            // Loading the saved session gives the same session back.
            let again = LoadedPreset::from_text(&text, "saved.toml", &dir).unwrap();
            let (again, problem) = check_loaded(again).unwrap();
            let mut back = Session::default();
            back.apply_preset(&again, &problem);
            assert_eq!(back.gradient, s.gradient, "{name}");
        }
        // Switching to another source leaves the gradient part out of what is solved and saved.
        let (loaded, problem) = check_preset(&dir.join("grad-batch.toml")).unwrap();
        let mut s = Session::default();
        s.apply_preset(&loaded, &problem);
        s.kind = ProblemKind::Builtin;
        assert_eq!(s.to_preset().loss, None);
        assert!(matches!(s.problem_spec().y0, Some(StateSpec::One(_))));
    }
}
