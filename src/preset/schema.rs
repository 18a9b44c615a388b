//! The preset tables as written, as serde types: `[problem]`, `[solver]` (with `batch_steps`),
//! `[[compare]]` and `[loss]`. Reading through `Nested` gives shape errors a user can act on.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::grad::BatchSteps;
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
