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

use crate::grad::{BatchSteps, GradProblem, Loss, LossKind, Readout};
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
#[derive(Clone, Debug, PartialEq, Serialize)]
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
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "two_numbers"
    )]
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

/// `t_span` as written: exactly two numbers (`[0, 1, 2]` is refused, not cut to `[0, 1]`).
fn two_numbers<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<[f64; 2]>, D::Error> {
    use serde::de::Error;
    let v: Vec<f64> = Vec::deserialize(d)?;
    match v[..] {
        [a, b] => Ok(Some([a, b])),
        _ => Err(D::Error::custom(format!(
            "t_span must be two numbers [t0, t_end] (got {} numbers)",
            v.len()
        ))),
    }
}

/// A whole preset file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "PresetFile", into = "PresetFile")]
pub struct Preset {
    pub description: Option<String>,
    pub problem: ProblemSpec,
    pub solver: SolverConfig,
    /// Further solvers run on the same problem and overlaid (the app's comparison).
    pub compare: Vec<SolverConfig>,
    /// `[solver] batch_steps`: how `nodelab grad` steps a batch of initial states.
    pub batch_steps: BatchSteps,
    /// The `[loss]` table of a gradient preset.
    pub loss: Option<LossSpec>,
}

/// The preset as written: `batch_steps` sits in the `[solver]` table next to the solver
/// settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PresetFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    problem: ProblemSpec,
    #[serde(default)]
    solver: SolverSection,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    compare: Vec<SolverConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    loss: Option<LossSpec>,
}

/// The `[solver]` table: [`SolverConfig`]'s keys plus `batch_steps`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SolverSection {
    method: crate::solver::Method,
    tol: f64,
    rtol: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    h0: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    h_min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    h_max: Option<f64>,
    max_steps: usize,
    batch_steps: BatchSteps,
}

impl Default for SolverSection {
    fn default() -> Self {
        Self::from_parts(SolverConfig::default(), BatchSteps::default())
    }
}

impl SolverSection {
    fn from_parts(c: SolverConfig, batch_steps: BatchSteps) -> Self {
        let SolverConfig {
            method,
            tol,
            rtol,
            h0,
            h_min,
            h_max,
            max_steps,
        } = c;
        Self {
            method,
            tol,
            rtol,
            h0,
            h_min,
            h_max,
            max_steps,
            batch_steps,
        }
    }
}

impl From<PresetFile> for Preset {
    fn from(f: PresetFile) -> Self {
        let s = f.solver;
        Self {
            description: f.description,
            problem: f.problem,
            solver: SolverConfig {
                method: s.method,
                tol: s.tol,
                rtol: s.rtol,
                h0: s.h0,
                h_min: s.h_min,
                h_max: s.h_max,
                max_steps: s.max_steps,
            },
            compare: f.compare,
            batch_steps: s.batch_steps,
            loss: f.loss,
        }
    }
}

impl From<Preset> for PresetFile {
    fn from(p: Preset) -> Self {
        Self {
            description: p.description,
            problem: p.problem,
            solver: SolverSection::from_parts(p.solver, p.batch_steps),
            compare: p.compare,
            loss: p.loss,
        }
    }
}

/// Targets of a loss: one state, a batch, or a batch per observation time.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum TargetSpec {
    One(Vec<f64>),
    Batch(Vec<Vec<f64>>),
    Trajectory(Vec<Vec<Vec<f64>>>),
}

/// A number or a (nested) list of numbers, as read before its shape is checked. Reading
/// through this instead of an untagged enum gives messages a user can act on ("expected a
/// list of numbers like [1.0, 0.0]") instead of serde's "did not match any variant".
#[derive(Clone, Debug)]
enum Nested {
    Num(f64),
    List(Vec<Nested>),
}

impl<'de> Deserialize<'de> for Nested {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Nested;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a list of numbers")
            }
            fn visit_f64<E>(self, v: f64) -> Result<Nested, E> {
                Ok(Nested::Num(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Nested, E> {
                Ok(Nested::Num(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Nested, E> {
                Ok(Nested::Num(v as f64))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Nested, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Nested>()? {
                    items.push(item);
                }
                Ok(Nested::List(items))
            }
        }
        d.deserialize_any(V)
    }
}

impl Nested {
    /// Depth of a regular nesting (a number: 0, `[1, 2]`: 1, `[[1], [2]]`: 2); `None` when the
    /// levels are mixed (`[1, [2]]`) or a list is empty below the top.
    fn depth(&self) -> Option<usize> {
        match self {
            Nested::Num(_) => Some(0),
            Nested::List(items) => {
                let mut depths = items.iter().map(Nested::depth);
                match depths.next() {
                    None => Some(1),
                    Some(first) => {
                        let first = first?;
                        depths.all(|d| d == Some(first)).then_some(first + 1)
                    }
                }
            }
        }
    }

    fn numbers(&self) -> Vec<f64> {
        match self {
            Nested::Num(v) => vec![*v],
            Nested::List(items) => items.iter().flat_map(Nested::numbers).collect(),
        }
    }

    fn lists(&self) -> Vec<&Nested> {
        match self {
            Nested::Num(_) => vec![self],
            Nested::List(items) => items.iter().collect(),
        }
    }
}

fn shape_error<E: serde::de::Error>(what: &str) -> E {
    E::custom(format!(
        "expected {what}, with every number written as a number (1.0, not \"1.0\")"
    ))
}

impl<'de> Deserialize<'de> for StateSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let what = "a list of numbers like [1.0, 0.0], or a list of such lists (a batch)";
        let n = Nested::deserialize(d).map_err(|_| shape_error(what))?;
        match n.depth() {
            Some(1) => Ok(StateSpec::One(n.numbers())),
            Some(2) => Ok(StateSpec::Batch(
                n.lists().iter().map(|l| l.numbers()).collect(),
            )),
            _ => Err(shape_error(what)),
        }
    }
}

impl<'de> Deserialize<'de> for TargetSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let what = "a list of numbers like [1.0, 0.0], a list of such lists (a batch), or a \
                    list of batches (one per observation time)";
        let n = Nested::deserialize(d).map_err(|_| shape_error(what))?;
        let batch = |n: &Nested| n.lists().iter().map(|l| l.numbers()).collect::<Vec<_>>();
        match n.depth() {
            Some(1) => Ok(TargetSpec::One(n.numbers())),
            Some(2) => Ok(TargetSpec::Batch(batch(&n))),
            Some(3) => Ok(TargetSpec::Trajectory(
                n.lists().iter().map(|b| batch(b)).collect(),
            )),
            _ => Err(shape_error(what)),
        }
    }
}

/// Linear read-out of the cross-entropy loss.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadoutSpec {
    /// `[class][component]`.
    pub weight: Vec<Vec<f64>>,
    pub bias: Vec<f64>,
}

/// The `[loss]` table:
///
/// ```toml
/// [loss]
/// kind = "half-sse"        # half-sse, mse, trajectory-mse, cross-entropy
/// target = [0.3, 0.7]      # same shape as y0 (trajectory-mse: one such per time)
/// times = [0.5, 1.0]       # trajectory-mse: observation times
/// labels = [0, 1]          # cross-entropy: one class per sample
/// readout = { weight = [[1.0, 0.0], [0.0, 1.0]], bias = [0.0, 0.0] }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossSpec {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub times: Vec<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readout: Option<ReadoutSpec>,
    /// Observed components of a regression loss (default: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<usize>,
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

/// The dotted key (`problem.params.mu`, `problem.y0[1]`) of the innermost value that contains
/// byte `at`, if the document parses.
fn key_at(text: &str, at: usize) -> Option<String> {
    use toml::de::{DeTable, DeValue};
    fn walk(value: &toml::Spanned<DeValue<'_>>, key: String, at: usize) -> Option<String> {
        // A table's span may be its header only: look inside whatever it says.
        if let DeValue::Table(t) = value.get_ref() {
            return table(t, &key, at);
        }
        if !value.span().contains(&at) {
            return None;
        }
        let inner = match value.get_ref() {
            DeValue::Array(a) => a
                .iter()
                .enumerate()
                .find_map(|(i, v)| walk(v, format!("{key}[{i}]"), at)),
            _ => None,
        };
        Some(inner.unwrap_or(key))
    }
    fn table(t: &DeTable<'_>, prefix: &str, at: usize) -> Option<String> {
        t.iter().find_map(|(k, v)| {
            let key = if prefix.is_empty() {
                k.get_ref().to_string()
            } else {
                format!("{prefix}.{}", k.get_ref())
            };
            walk(v, key, at)
        })
    }
    let root = DeTable::parse(text).ok()?;
    table(root.get_ref(), "", at)
}

/// The first `nan` or `inf` in a TOML document: its span and its dotted key (`loss.target[0]`).
pub(crate) fn first_non_finite(text: &str) -> Option<(Range<usize>, String)> {
    use toml::de::{DeTable, DeValue};
    fn walk(value: &toml::Spanned<DeValue<'_>>, key: &str) -> Option<(Range<usize>, String)> {
        match value.get_ref() {
            DeValue::Float(f) => {
                let finite = f.as_str().parse::<f64>().is_ok_and(f64::is_finite);
                (!finite).then(|| (value.span(), key.to_string()))
            }
            DeValue::Array(a) => a
                .iter()
                .enumerate()
                .find_map(|(i, v)| walk(v, &format!("{key}[{i}]"))),
            DeValue::Table(t) => table(t, key),
            _ => None,
        }
    }
    fn table(t: &DeTable<'_>, prefix: &str) -> Option<(Range<usize>, String)> {
        t.iter().find_map(|(k, v)| {
            let key = if prefix.is_empty() {
                k.get_ref().to_string()
            } else {
                format!("{prefix}.{}", k.get_ref())
            };
            walk(v, &key)
        })
    }
    let root = DeTable::parse(text).ok()?;
    table(root.get_ref(), "")
}

impl Preset {
    /// Parses preset text; `source` names it in errors.
    pub fn from_toml(text: &str, source: &str) -> Result<Self, PresetError> {
        if crate::train::preset::is_train_preset(text) {
            return Err(PresetError {
                source: source.to_string(),
                location: None,
                message: "this is a training preset ([train] table); run it with `nodelab \
                          train` (it describes no single ODE to solve)"
                    .into(),
            });
        }
        let preset = toml::from_str::<Preset>(text).map_err(|e| {
            let message = e.message().trim().to_string();
            // serde's messages ("invalid type: string, expected f64") do not say which key:
            // name the one whose value holds the error.
            let message = match e.span().and_then(|s| key_at(text, s.start)) {
                Some(key) if !message.contains(key.rsplit(['.', '[']).next().unwrap_or(&key)) => {
                    format!("{key}: {message}")
                }
                _ => message,
            };
            PresetError {
                source: source.to_string(),
                location: e.span().map(|s| line_col(text, s.start)),
                message,
            }
        })?;
        // Every number must be finite: a `nan` target or an `inf` tolerance would otherwise
        // flow into a result that looks valid.
        if let Some((span, key)) = first_non_finite(text) {
            return Err(PresetError {
                source: source.to_string(),
                location: Some(line_col(text, span.start)),
                message: format!("{key} is {}: every number must be finite", &text[span]),
            });
        }
        Ok(preset)
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
            // Text that came from no file (a name on the command line) has no position.
            location: locate(&self.text, path)
                .filter(|_| !self.text.trim().is_empty())
                .map(|s| line_col(&self.text, s.start)),
            message: message.into(),
        }
    }

    /// The checks every user of a preset makes (the CLI and the app alike), beyond what
    /// parsing caught: each solver setting of `[solver]` and `[[compare]]`, located at its key.
    pub fn validate(&self) -> Result<(), PresetError> {
        let configs = std::iter::once(&self.preset.solver).chain(&self.preset.compare);
        for (i, config) in configs.enumerate() {
            if let Err((key, message)) = config.check() {
                let path = if i == 0 {
                    vec![Key::Name("solver"), Key::Name(key)]
                } else {
                    vec![Key::Name("compare"), Key::Index(i - 1), Key::Name(key)]
                };
                return Err(self.error_at(&path, message));
            }
        }
        Ok(())
    }

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
}

impl LoadedPreset {
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
        let loss = match kind {
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
        let text = "[problem]\nname = \"lorenz\"\n[[compare]]\nmethod = \"rk4\"\n[[compare]]\ntol = -1.0\n";
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
}
