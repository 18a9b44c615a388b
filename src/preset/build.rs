//! Building what a preset describes: the [`Problem`] of its `[problem]` table (built-in,
//! custom formulas or a neural field) and, for a neural preset with a `[loss]` table, the
//! [`GradProblem`] of `nodelab grad`. Errors carry the path of the offending key.

use std::path::Path;

use super::load::LoadedPreset;
use super::locate::{Key, PresetError};
use super::schema::{ProblemKind, ProblemSpec, StateSpec, TargetSpec};
use crate::grad::{GradProblem, Loss, LossKind, Readout};
use crate::problem::builtin::{self, BuiltinOverrides};
use crate::problem::formula::{FormulaSpec, FormulaSystem};
use crate::problem::{Problem, neural};

impl LoadedPreset {
    /// Builds the problem the preset describes (one initial state: the first of a batch).
    pub fn build_problem(&self) -> Result<Problem, PresetError> {
        self.validate()?;
        build_problem(&self.preset.problem, &self.base_dir).map_err(|(path, msg)| {
            let keys: Vec<Key<'_>> = path
                .iter()
                .map(|p| match p {
                    PathPart::Name(n) => Key::Name(n),
                    PathPart::Index(i) => Key::Index(*i),
                })
                .collect();
            self.error_at(&keys, msg)
        })
    }

    /// Builds the gradient problem of a neural preset with a `[loss]` table (`nodelab grad`).
    pub fn build_grad_problem(&self) -> Result<GradProblem, PresetError> {
        use Key::Name;
        self.validate()?;
        let spec = &self.preset.problem;
        if spec.kind != ProblemKind::Neural {
            return Err(self.error_at(
                &[Name("problem")],
                "gradients need a neural problem (kind = \"neural\", weights = \"…json\")",
            ));
        }
        let weights = spec.weights.as_deref().ok_or_else(|| {
            self.error_at(
                &[Name("problem")],
                "a neural problem needs weights = \"file.json\"",
            )
        })?;
        let mlp = neural::load_weights(&self.base_dir.join(weights))
            .map_err(|e| self.error_at(&[Name("problem"), Name("weights")], e.to_string()))?;
        let d = mlp.dim();
        let (y0, batched) = match &spec.y0 {
            None => (vec![vec![0.0; d]], false),
            Some(StateSpec::One(v)) => (vec![v.clone()], false),
            Some(StateSpec::Batch(b)) => (b.clone(), true),
        };
        if let Some(i) = y0.iter().position(|s| s.len() != d) {
            return Err(self.error_at(
                &[Name("problem"), Name("y0")],
                format!(
                    "initial state {i} has {} components; the network's state has {d}",
                    y0[i].len()
                ),
            ));
        }
        let [t0, t1] = spec.t_span.unwrap_or([0.0, 1.0]);
        let loss_spec = self.preset.loss.as_ref().ok_or_else(|| {
            self.error_at(
                &[],
                "missing [loss] table (kind = \"half-sse\", target = …)",
            )
        })?;
        let kind = LossKind::parse(&loss_spec.kind).ok_or_else(|| {
            self.error_at(
                &[Name("loss"), Name("kind")],
                format!(
                    "unknown loss '{}' (known: {})",
                    loss_spec.kind,
                    LossKind::ALL.map(|k| k.name()).join(", ")
                ),
            )
        })?;
        let shape_err = |what: &str| {
            self.error_at(
                &[Name("loss"), Name("target")],
                format!("target must be {what}"),
            )
        };
        let mut y0 = y0;
        let loss = match kind {
            LossKind::Nll => {
                // A density preset's y0 are the data points x; the flow integrates [x, ℓ = 0].
                for s in &mut y0 {
                    s.push(0.0);
                }
                Loss::nll()
            }
            LossKind::HalfSse | LossKind::Mse => {
                let targets = match (&loss_spec.target, batched) {
                    (Some(TargetSpec::One(v)), false) => vec![v.clone()],
                    (Some(TargetSpec::Batch(b)), true) => b.clone(),
                    _ => {
                        return Err(shape_err(
                            "present and of the same shape as y0 (one state or a batch)",
                        ));
                    }
                };
                Loss::terminal(kind, targets).on_components(loss_spec.components.clone())
            }
            LossKind::TrajectoryMse | LossKind::TrajectoryL1 | LossKind::TrajectorySse => {
                let targets = match (&loss_spec.target, batched) {
                    (Some(TargetSpec::Batch(b)), false) => {
                        b.iter().map(|v| vec![v.clone()]).collect()
                    }
                    (Some(TargetSpec::One(v)), false) if loss_spec.times.len() == 1 => {
                        vec![vec![v.clone()]]
                    }
                    (Some(TargetSpec::Trajectory(t)), true) => t.clone(),
                    _ => {
                        return Err(shape_err(
                            "one state-shaped target (like y0) per observation time",
                        ));
                    }
                };
                Loss::trajectory_of(kind, loss_spec.times.clone(), targets)
                    .on_components(loss_spec.components.clone())
            }
            LossKind::CrossEntropy => {
                let r = loss_spec.readout.as_ref().ok_or_else(|| {
                    self.error_at(
                        &[Name("loss")],
                        "cross-entropy needs readout = { weight = [[…]], bias = […] }",
                    )
                })?;
                Loss::cross_entropy(
                    Readout {
                        weight: r.weight.clone(),
                        bias: r.bias.clone(),
                    },
                    loss_spec.labels.clone(),
                )
            }
        };
        let problem = GradProblem {
            mlp,
            y0,
            t0,
            t1,
            solver: self.preset.solver.clone(),
            batch_steps: self.preset.batch_steps,
            loss,
        };
        problem
            .validate()
            .map_err(|e| self.error_at(&[Name("loss")], e.to_string()))?;
        Ok(problem)
    }
}

/// An owned path into the preset, attached to a problem-building error.
#[derive(Clone, Debug, PartialEq)]
pub enum PathPart {
    Name(String),
    Index(usize),
}

fn at(parts: &[&str]) -> Vec<PathPart> {
    parts
        .iter()
        .map(|p| PathPart::Name(p.to_string()))
        .collect()
}

/// Builds the problem of a `[problem]` table. Errors carry the path of the offending key.
pub fn build_problem(
    spec: &ProblemSpec,
    base_dir: &Path,
) -> Result<Problem, (Vec<PathPart>, String)> {
    let y0 = match &spec.y0 {
        None => None,
        Some(StateSpec::One(v)) => Some(v.clone()),
        // A batch (a gradient preset): a single solve integrates its first state.
        Some(StateSpec::Batch(b)) => match b.first() {
            Some(first) => Some(first.clone()),
            None => {
                return Err((
                    at(&["problem", "y0"]),
                    "y0 is an empty batch of states".into(),
                ));
            }
        },
    };
    let (t0, t_end) = match spec.t_span {
        Some([a, b]) => {
            if a.partial_cmp(&b) != Some(std::cmp::Ordering::Less) {
                return Err((
                    at(&["problem", "t_span"]),
                    format!("t_span = [{a}, {b}]: t_end must be greater than t0"),
                ));
            }
            (Some(a), Some(b))
        }
        None => (None, None),
    };
    // Errors about the state or the span found while building: point at that key, not at the
    // [problem] header.
    let key_of = |message: &str| {
        if message.contains("y0") {
            at(&["problem", "y0"])
        } else if message.contains("t_end") || message.contains("time span") {
            at(&["problem", "t_span"])
        } else {
            at(&["problem"])
        }
    };
    let check_for = |kind: &str, present: bool, key: &str| {
        if present {
            Err((
                at(&["problem", key]),
                format!("'{key}' does not apply to a {kind} problem"),
            ))
        } else {
            Ok(())
        }
    };
    match spec.kind {
        ProblemKind::Builtin => {
            check_for("built-in", !spec.variables.is_empty(), "variables")?;
            check_for("built-in", !spec.equations.is_empty(), "equations")?;
            check_for("built-in", spec.weights.is_some(), "weights")?;
            let name = spec.name.as_deref().ok_or_else(|| {
                (
                    at(&["problem"]),
                    "missing 'name' (a built-in problem; run `nodelab presets`)".to_string(),
                )
            })?;
            let overrides = BuiltinOverrides {
                params: spec.params.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                y0,
                t0,
                t_end,
            };
            builtin::build(name, &overrides).map_err(|e| {
                let path = match &e {
                    crate::problem::ProblemError::UnknownParam { param, .. } => {
                        at(&["problem", "params", param])
                    }
                    crate::problem::ProblemError::UnknownProblem(_) => at(&["problem", "name"]),
                    other => key_of(&other.to_string()),
                };
                (path, e.to_string())
            })
        }
        ProblemKind::Custom => {
            check_for("custom", spec.name.is_some(), "name")?;
            check_for("custom", spec.weights.is_some(), "weights")?;
            let formula = FormulaSpec {
                variables: spec.variables.clone(),
                expressions: spec.equations.clone(),
                params: spec.params.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            };
            let system = FormulaSystem::new(formula).map_err(|e| {
                let path = match e.component {
                    Some(c) => vec![
                        PathPart::Name("problem".into()),
                        PathPart::Name("equations".into()),
                        PathPart::Index(c),
                    ],
                    None => at(&["problem"]),
                };
                (path, e.to_string())
            })?;
            let y0 =
                y0.ok_or_else(|| (at(&["problem"]), "a custom problem needs y0".to_string()))?;
            let (t0, t_end) = match (t0, t_end) {
                (Some(a), Some(b)) => (a, b),
                _ => {
                    return Err((
                        at(&["problem"]),
                        "a custom problem needs t_span = [t0, t_end]".into(),
                    ));
                }
            };
            crate::problem::formula::build_problem(system, y0, t0, t_end)
                .map_err(|e| (key_of(&e.to_string()), e.to_string()))
        }
        ProblemKind::Neural => {
            check_for("neural", spec.name.is_some(), "name")?;
            check_for("neural", !spec.equations.is_empty(), "equations")?;
            let weights = spec.weights.as_deref().ok_or_else(|| {
                (
                    at(&["problem"]),
                    "a neural problem needs weights = \"file.json\"".to_string(),
                )
            })?;
            let mlp = neural::load_weights(&base_dir.join(weights))
                .map_err(|e| (at(&["problem", "weights"]), e.to_string()))?;
            let y0 = y0.unwrap_or_else(|| vec![0.0; mlp.dim()]);
            let (t0, t_end) = (t0.unwrap_or(0.0), t_end.unwrap_or(1.0));
            neural::build(mlp, y0, t0, t_end).map_err(|e| (key_of(&e.to_string()), e.to_string()))
        }
    }
}
