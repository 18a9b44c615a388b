//! Presets: TOML files that name a problem, its parameters, initial value, time span and the
//! solver settings. The same format is read by `nodelab solve`, `nodelab grad` and the app.
//!
//! ```toml
//! description = "Van der Pol as in the paper's Figure 3"
//! [problem]
//! name = "van-der-pol"          # a built-in (kind = "builtin" is the default)
//! params = { mu = 1.0 }
//! y0 = [2.0, 0.0]
//! t_span = [0.0, 20.0]
//! [solver]
//! method = "zc-rk4-paper"
//! tol = 1e-2
//! h0 = 0.1
//! ```
//!
//! A custom problem uses `kind = "custom"`, `variables = ["x", "v"]`,
//! `equations = ["v", "mu*(1 - x^2)*v - x"]` and `params`; a neural one uses `kind = "neural"`
//! and `weights = "mlp.json"` (relative to the preset file). Unknown keys are errors, and every
//! error names the file, line and column.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::problem::builtin::{self, BuiltinOverrides};
use crate::problem::formula::{FormulaSpec, FormulaSystem};
use crate::problem::{Problem, neural};
use crate::solver::SolverConfig;

/// Where a problem comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProblemKind {
    #[default]
    Builtin,
    Custom,
    Neural,
}

/// One initial state, or a batch of them (the gradient tools accept batches).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StateSpec {
    One(Vec<f64>),
    Batch(Vec<Vec<f64>>),
}

impl StateSpec {
    /// The states as a batch (one state is a batch of one).
    pub fn as_batch(&self) -> Vec<Vec<f64>> {
        match self {
            StateSpec::One(v) => vec![v.clone()],
            StateSpec::Batch(b) => b.clone(),
        }
    }
}

/// The `[problem]` table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemSpec {
    #[serde(default)]
    pub kind: ProblemKind,
    /// Built-in problem name (kind = "builtin").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Parameter values: a built-in's overrides, or a custom problem's parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y0: Option<StateSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t_span: Option<[f64; 2]>,
    /// State variable names (kind = "custom").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<String>,
    /// One right-hand side per variable (kind = "custom").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub equations: Vec<String>,
    /// Weights file, relative to the preset (kind = "neural").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<String>,
}

/// A whole preset file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub problem: ProblemSpec,
    #[serde(default)]
    pub solver: SolverConfig,
    /// Further solvers run on the same problem and overlaid (the app's comparison).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compare: Vec<SolverConfig>,
}

/// A preset error with its location.
#[derive(Clone, Debug, PartialEq)]
pub struct PresetError {
    /// File name, or `<preset>` for text that came from no file.
    pub source: String,
    /// 1-based line and column (in characters) of the offending text.
    pub location: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for PresetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some((line, col)) => write!(f, "{}:{line}:{col}: {}", self.source, self.message),
            None => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

impl std::error::Error for PresetError {}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, byte: usize) -> (usize, usize) {
    let byte = byte.min(text.len());
    let before = &text[..byte];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, text[line_start..byte].chars().count() + 1)
}

/// A step in a path through the TOML document, for locating semantic errors.
#[derive(Clone, Copy, Debug)]
pub enum Key<'a> {
    Name(&'a str),
    Index(usize),
}

/// Byte span of the key at the end of `path` (or of the array element, or of the deepest part
/// of the path that exists).
pub fn locate(text: &str, path: &[Key<'_>]) -> Option<Range<usize>> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(text).ok()?;
    let mut span = root.span();
    let mut current: Option<&DeValue<'_>> = None;
    let mut table: Option<&DeTable<'_>> = Some(root.get_ref());
    for (depth, key) in path.iter().enumerate() {
        let last = depth + 1 == path.len();
        let next = match (key, table, current) {
            (Key::Name(name), Some(t), _) => t.get_key_value(*name).map(|(k, v)| {
                // Point at the key itself for the last step (`nmae = …`, `params = { nu = … }`).
                if last {
                    span = k.span();
                }
                v
            }),
            (Key::Index(i), _, Some(DeValue::Array(a))) => a.get(*i),
            _ => None,
        };
        let Some(value) = next else { break };
        if !(last && matches!(key, Key::Name(_))) {
            span = value.span();
        }
        current = Some(value.get_ref());
        table = match value.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => None,
        };
    }
    Some(span)
}

impl Preset {
    /// Parses preset text; `source` names it in errors.
    pub fn from_toml(text: &str, source: &str) -> Result<Self, PresetError> {
        toml::from_str::<Preset>(text).map_err(|e| PresetError {
            source: source.to_string(),
            location: e.span().map(|s| line_col(text, s.start)),
            message: e.message().trim().to_string(),
        })
    }

    /// Reads and parses a preset file.
    pub fn load(path: &Path) -> Result<LoadedPreset, PresetError> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PresetError {
            source: source.clone(),
            location: None,
            message: format!("cannot read the file: {e}"),
        })?;
        let preset = Self::from_toml(&text, &source)?;
        Ok(LoadedPreset {
            preset,
            text,
            source,
            base_dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        })
    }

    /// Serializes to TOML.
    pub fn to_toml(&self) -> Result<String, String> {
        toml::to_string_pretty(self).map_err(|e| e.to_string())
    }
}

/// A parsed preset with its text, so that later errors can be located too.
#[derive(Clone, Debug)]
pub struct LoadedPreset {
    pub preset: Preset,
    pub text: String,
    pub source: String,
    /// Directory relative paths (weights) are resolved against.
    pub base_dir: PathBuf,
}

impl LoadedPreset {
    /// Wraps text that came from no file (tests, the app's editor).
    pub fn from_text(text: &str, source: &str, base_dir: &Path) -> Result<Self, PresetError> {
        Ok(Self {
            preset: Preset::from_toml(text, source)?,
            text: text.to_string(),
            source: source.to_string(),
            base_dir: base_dir.to_path_buf(),
        })
    }

    /// An error located at `path` in the preset text.
    pub fn error_at(&self, path: &[Key<'_>], message: impl Into<String>) -> PresetError {
        PresetError {
            source: self.source.clone(),
            location: locate(&self.text, path).map(|s| line_col(&self.text, s.start)),
            message: message.into(),
        }
    }

    /// Builds the problem the preset describes (one initial state).
    pub fn build_problem(&self) -> Result<Problem, PresetError> {
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
        Some(StateSpec::Batch(_)) => {
            return Err((
                at(&["problem", "y0"]),
                "y0 is a batch of states; solving needs one initial state".into(),
            ));
        }
    };
    let (t0, t_end) = match spec.t_span {
        Some([a, b]) => (Some(a), Some(b)),
        None => (None, None),
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
                    _ => at(&["problem"]),
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
                .map_err(|e| (at(&["problem"]), e.to_string()))
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
            neural::build(mlp, y0, t0, t_end).map_err(|e| (at(&["problem"]), e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
