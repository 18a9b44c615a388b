//! The papers' experiments, one call each: the claim, the measurement, a verdict written from
//! the measurement (issue 21).
//!
//! - [`REGISTRY`] lists every experiment ([`ExperimentSpec`]): paper, section, the claim in one
//!   sentence with the paper's own numbers, and its [`Control`]s with a `quick` and a `full`
//!   value each.
//! - [`Settings`] are the values one run uses (a preset plus overrides, checked against the
//!   controls); [`run`] executes an experiment with a [`RunContext`] (progress callback and
//!   cancel flag) and returns an [`ExperimentResult`] that carries its settings, tables, figures
//!   and [`Verdict`].
//! - [`cache`] stores results per (name, settings) as JSON, so that reopening one is instant.
//!
//! No GUI type and no CLI type here: the command line (`nodelab experiment`) and the app's
//! Experiments room are thin layers over [`run_cached`] and [`ExperimentResult::write_all`].

pub mod adjoint_freefall;
pub mod afge_classification;
pub mod cache;
pub mod cnf_moons_memory;
pub mod convergence;
pub mod irdm_density;
pub mod irdm_error_map;
pub mod memory_scaling;
pub mod plot;
pub mod result;
pub mod reversible_runtime;
pub mod schemes;
pub mod stability;
pub mod training;
pub mod trajectory_interp;
pub mod white_dwarf;
pub mod work_precision;
pub mod zero_cost;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

pub use cache::{Cache, run_cached};
pub use plot::{Plot, PlotKind, PlotSeries};
pub use result::{ExperimentResult, Table, Verdict, VerdictStatus};

/// Which preset a run starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Finishes in well under a minute in a release build.
    Quick,
    /// The paper's setting, or a larger sweep.
    Full,
}

/// What values a control takes, with its quick and full values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ControlKind {
    /// A number in `[min, max]`.
    Number {
        min: f64,
        max: f64,
        quick: f64,
        full: f64,
    },
    /// An integer in `[min, max]`.
    Integer {
        min: i64,
        max: i64,
        quick: i64,
        full: i64,
    },
    /// A comma-separated list of positive numbers.
    Numbers {
        quick: &'static str,
        full: &'static str,
    },
}

/// One setting an experiment exposes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Control {
    /// Key in [`Settings`] and on the command line (`--set KEY=VALUE`).
    pub key: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub kind: ControlKind,
}

/// One value of a setting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SettingValue {
    Number(f64),
    Text(String),
}

/// The values one run uses, by control key (sorted, so that equal settings hash equally).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub values: BTreeMap<String, SettingValue>,
}

impl Settings {
    /// A number setting (0 when absent: [`ExperimentSpec::settings`] fills every key).
    pub fn num(&self, key: &str) -> f64 {
        match self.values.get(key) {
            Some(SettingValue::Number(v)) => *v,
            _ => 0.0,
        }
    }

    /// An integer setting.
    pub fn int(&self, key: &str) -> usize {
        self.num(key).max(0.0) as usize
    }

    /// A list setting, parsed (the list was checked when it was set).
    pub fn list(&self, key: &str) -> Vec<f64> {
        match self.values.get(key) {
            Some(SettingValue::Text(t)) => parse_list(t).unwrap_or_default(),
            Some(SettingValue::Number(v)) => vec![*v],
            None => Vec::new(),
        }
    }

    /// Sets `key` from text, checked against `spec`'s control of that name.
    pub fn set(&mut self, spec: &ExperimentSpec, key: &str, text: &str) -> Result<(), String> {
        let control = spec.control(key).ok_or_else(|| {
            let known: Vec<&str> = spec.controls.iter().map(|c| c.key).collect();
            format!(
                "{} has no setting '{key}' (settings: {})",
                spec.name,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )
        })?;
        let text = text.trim();
        let value = match control.kind {
            ControlKind::Number { min, max, .. } => {
                let v: f64 = text
                    .parse()
                    .map_err(|_| format!("{key}: '{text}' is not a number"))?;
                if !(v.is_finite() && v >= min && v <= max) {
                    return Err(format!("{key} must be in [{min}, {max}] (got {text})"));
                }
                SettingValue::Number(v)
            }
            ControlKind::Integer { min, max, .. } => {
                let v: i64 = text
                    .parse()
                    .map_err(|_| format!("{key}: '{text}' is not an integer"))?;
                if !(min..=max).contains(&v) {
                    return Err(format!(
                        "{key} must be an integer in [{min}, {max}] (got {v})"
                    ));
                }
                SettingValue::Number(v as f64)
            }
            ControlKind::Numbers { .. } => {
                parse_list(text).map_err(|e| format!("{key}: {e}"))?;
                SettingValue::Text(text.to_string())
            }
        };
        self.values.insert(key.to_string(), value);
        Ok(())
    }
}

/// Parses a comma-separated list of positive finite numbers.
pub fn parse_list(text: &str) -> Result<Vec<f64>, String> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let v: f64 = item
            .parse()
            .map_err(|_| format!("'{item}' is not a number"))?;
        if !(v.is_finite() && v > 0.0) {
            return Err(format!("'{item}' must be a positive finite number"));
        }
        out.push(v);
    }
    if out.is_empty() {
        return Err("expected a comma-separated list of positive numbers".into());
    }
    Ok(out)
}

/// Whether an experiment can be run yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Availability {
    Implemented,
    /// Not implemented yet: what it needs first.
    NotYet {
        needs: &'static str,
    },
}

/// One experiment of the registry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExperimentSpec {
    /// Command-line name (`nodelab experiment NAME`).
    pub name: &'static str,
    /// The paper's file in `shared/papers/` (without `.md`).
    pub paper: &'static str,
    pub section: &'static str,
    /// The claim in one sentence, with the paper's own numbers.
    pub claim: &'static str,
    pub controls: &'static [Control],
    pub availability: Availability,
    /// How long the full setting takes in a release build (measured on a shared 2-core machine).
    pub full_runtime: &'static str,
    /// Bumped whenever the implementation changes what a run produces: part of the cache key.
    pub revision: u32,
}

impl ExperimentSpec {
    pub fn control(&self, key: &str) -> Option<&'static Control> {
        self.controls.iter().find(|c| c.key == key)
    }

    /// The settings of `preset`: every control at its quick or full value.
    pub fn settings(&self, preset: Preset) -> Settings {
        let mut s = Settings::default();
        for c in self.controls {
            let value = match (c.kind, preset) {
                (ControlKind::Number { quick, .. }, Preset::Quick) => SettingValue::Number(quick),
                (ControlKind::Number { full, .. }, Preset::Full) => SettingValue::Number(full),
                (ControlKind::Integer { quick, .. }, Preset::Quick) => {
                    SettingValue::Number(quick as f64)
                }
                (ControlKind::Integer { full, .. }, Preset::Full) => {
                    SettingValue::Number(full as f64)
                }
                (ControlKind::Numbers { quick, .. }, Preset::Quick) => {
                    SettingValue::Text(quick.to_string())
                }
                (ControlKind::Numbers { full, .. }, Preset::Full) => {
                    SettingValue::Text(full.to_string())
                }
            };
            s.values.insert(c.key.to_string(), value);
        }
        s
    }
}

/// Progress of a run, for a front end to show.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// What is being done now.
    pub stage: String,
    pub done: u64,
    pub total: u64,
}

/// What a run is given besides its settings: where to report progress and a flag that
/// cancels it (checked between units of work).
#[derive(Clone)]
pub struct RunContext {
    pub progress: Arc<dyn Fn(&Progress) + Send + Sync>,
    pub cancel: Arc<AtomicBool>,
}

impl RunContext {
    /// A context that reports nowhere and is never cancelled.
    pub fn silent() -> Self {
        Self {
            progress: Arc::new(|_| {}),
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn report(&self, stage: &str, done: u64, total: u64) {
        (self.progress)(&Progress {
            stage: stage.to_string(),
            done,
            total,
        });
    }

    /// `Err(Cancelled)` once the cancel flag is set.
    pub fn check(&self) -> Result<(), ExperimentError> {
        if self.cancel.load(Ordering::Relaxed) {
            Err(ExperimentError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Why a run produced no result.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ExperimentError {
    #[error("unknown experiment '{0}' (see `nodelab experiment --list`)")]
    Unknown(String),
    #[error("{name}: not implemented yet: needs {needs}")]
    NotImplemented {
        name: &'static str,
        needs: &'static str,
    },
    #[error("{0}")]
    BadSetting(String),
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Failed(String),
}

/// The λ of the λ-reversible schemes (reversible-solvers: the seed's figure uses 0.8).
pub(crate) const LAMBDA: Control = Control {
    key: "lambda",
    label: "λ (coupling)",
    help: "coupling of the λ-reversible schemes, in (0, 1]",
    kind: ControlKind::Number {
        min: 1e-3,
        max: 1.0,
        quick: 0.8,
        full: 0.8,
    },
};

/// Every experiment of issue 21, in the order of presentation.
pub static REGISTRY: &[ExperimentSpec] = &[
    ExperimentSpec {
        name: "zero-cost-steps",
        paper: "afge-zero-cost-rk4",
        section: "§Application, Figures 1–4",
        claim: "The zero-cost step adaptation of RK4 adapts the step to P1, P2, van der Pol and \
                Lorenz (h0 = 0.1, ε = 1e-2) with 4 f-evaluations per step instead of the 11 of \
                step doubling.",
        controls: zero_cost::CONTROLS,
        availability: Availability::Implemented,
        full_runtime: "under a second",
        revision: 1,
    },
    ExperimentSpec {
        name: "work-precision",
        paper: "afge-zero-cost-rk4",
        section: "§3 (efficiency against step doubling)",
        claim: "The zero-cost step control is computationally more efficient than step doubling, \
                which needs 11 f-evaluations per step.",
        controls: work_precision::CONTROLS,
        availability: Availability::Implemented,
        full_runtime: "about 1 s",
        revision: 1,
    },
    ExperimentSpec {
        name: "afge-classification",
        paper: "afge-zero-cost-rk4",
        section: "§5 (MNIST)",
        claim: "AFGE reaches the accuracy of the standard neural ODE with shorter training time \
                per epoch: 99.41 % vs 99.32 % test accuracy, 67.38 s vs 76.65 s per epoch.",
        controls: afge_classification::CONTROLS,
        availability: Availability::Implemented,
        full_runtime: "about 4 min (220 s measured, afge 20 s per epoch; quick: 17 s)",
        revision: 1,
    },
    ExperimentSpec {
        name: "irdm-error-map",
        paper: "irdm-interpolated-adjoint",
        section: "Figure 2, §3",
        claim: "The interpolated adjoint's gradient error falls with the number of Chebyshev \
                nodes down to the solver tolerance's floor; barycentric Chebyshev interpolation \
                of the trajectory beats piecewise-linear at equal nodes.",
        controls: irdm_error_map::CONTROLS,
        availability: Availability::Implemented,
        full_runtime: "a few seconds",
        revision: 2,
    },
    ExperimentSpec {
        name: "irdm-density",
        paper: "irdm-interpolated-adjoint",
        section: "§4.1",
        claim: "The interpolated adjoint trains 2-D densities to the adjoint's test NLL in less \
                wall time and fewer NFE (DOPRI5 at 1e-5; moons: 5618–7192 s for N = 4…128 \
                against 7494 s per 10 000 iterations).",
        controls: irdm_density::CONTROLS,
        availability: Availability::Implemented,
        full_runtime: "estimated 5–10 min (2 data sets × 2 methods × 1000 iterations)",
        revision: 1,
    },
    ExperimentSpec {
        name: "stability-regions",
        paper: "reversible-solvers",
        section: "Stability of reversible ODE solvers",
        claim: "ALF and reversible Heun are not A-stable for any α; the λ-reversible midpoint \
                and RK4 have stability regions (h = 1, λ = 0.8), and decreasing λ increases the \
                region.",
        controls: stability::CONTROLS,
        availability: Availability::Implemented,
        full_runtime: "about 20 s (601 × 601 grid, 11 values of λ; quick: 1.5 s)",
        revision: 2,
    },
    ExperimentSpec {
        name: "white-dwarf-checkpoints",
        paper: "reversible-solvers",
        section: "Preliminary experiments (white-dwarf table)",
        claim: "Training the white-dwarf neural ODE (1000 steps) takes 1.90 s with the reversible \
                solver against 282 s with checkpointing at 2 checkpoints … 4.87 s at 44, at an \
                equal loss of 0.122e-3.",
        controls: white_dwarf::CONTROLS,
        availability: Availability::Implemented,
        full_runtime: "about 2–3 min (estimated from the quick run: 10 iterations × 7 rows in 1.6 s)",
        revision: 1,
    },
    ExperimentSpec {
        name: "reversible-runtime",
        paper: "reversible-solvers",
        section: "Preliminary experiments (runtime figure)",
        claim: "The reversible midpoint's forward + backward runtime grows linearly in the \
                number of steps n, below checkpointing at c checkpoints.",
        controls: reversible_runtime::CONTROLS,
        availability: Availability::Implemented,
        full_runtime: "a few minutes (estimated; quick: 7 s)",
        revision: 1,
    },
    ExperimentSpec {
        name: "reversible-convergence",
        paper: "reversible-solvers",
        section: "Preliminary experiments (convergence figure), main theorem",
        claim: "A reversible solver built from an order-α method converges with the same order \
                α (‖Y_k − x(t_k)‖ ≤ C h^α).",
        controls: convergence::CONTROLS,
        availability: Availability::Implemented,
        full_runtime: "under a second",
        revision: 1,
    },
    ExperimentSpec {
        name: "cnf-moons-memory",
        paper: "reversible-solvers",
        section: "Preliminary experiments (CNF table)",
        claim: "On two moons the reversible CNF matches backprop's NLL (0.888 vs 0.891 midpoint, \
                0.890 vs 0.890 RK4, 0.890 vs 0.891 Dopri5) with 0.56–0.70 GB instead of \
                3.9–12.8 GB.",
        controls: cnf_moons_memory::CONTROLS,
        availability: Availability::Implemented,
        full_runtime: "estimated 5–10 min (6 runs × 1000 iterations)",
        revision: 1,
    },
    ExperimentSpec {
        name: "adjoint-freefall",
        paper: "adjoint-sensitivity",
        section: "Data Generation and results",
        claim: "The adjoint method fits the free-fall model as backprop does, with memory \
                independent of the number of steps.",
        controls: adjoint_freefall::CONTROLS,
        availability: Availability::Implemented,
        full_runtime: "a few seconds (estimated; quick: 0.4 s)",
        revision: 1,
    },
    ExperimentSpec {
        name: "memory-scaling",
        paper: "reversible-solvers",
        section: "memory of the gradient methods (all papers)",
        claim: "Backprop stores O(n) states, checkpointing O(n/c + c), the adjoint and \
                reversible methods O(1).",
        controls: memory_scaling::CONTROLS,
        availability: Availability::Implemented,
        full_runtime: "a few minutes (estimated; quick: 2.2 s)",
        revision: 1,
    },
];

/// The registry entry called `name`.
pub fn find(name: &str) -> Option<&'static ExperimentSpec> {
    REGISTRY.iter().find(|e| e.name == name)
}

/// Runs `spec` with `settings` (no cache: see [`run_cached`]).
pub fn run(
    spec: &'static ExperimentSpec,
    settings: &Settings,
    ctx: &RunContext,
) -> Result<ExperimentResult, ExperimentError> {
    if let Availability::NotYet { needs } = spec.availability {
        return Err(ExperimentError::NotImplemented {
            name: spec.name,
            needs,
        });
    }
    let started = std::time::Instant::now();
    let mut result = match spec.name {
        "stability-regions" => stability::run(settings, ctx)?,
        "zero-cost-steps" => zero_cost::run(settings, ctx)?,
        "work-precision" => work_precision::run(settings, ctx)?,
        "reversible-convergence" => convergence::run(settings, ctx)?,
        "irdm-error-map" => irdm_error_map::run(settings, ctx)?,
        "white-dwarf-checkpoints" => white_dwarf::run(settings, ctx)?,
        "reversible-runtime" => reversible_runtime::run(settings, ctx)?,
        "adjoint-freefall" => adjoint_freefall::run(settings, ctx)?,
        "afge-classification" => afge_classification::run(settings, ctx)?,
        "memory-scaling" => memory_scaling::run(settings, ctx)?,
        "irdm-density" => irdm_density::run(settings, ctx)?,
        "cnf-moons-memory" => cnf_moons_memory::run(settings, ctx)?,
        _ => {
            return Err(ExperimentError::NotImplemented {
                name: spec.name,
                needs: "an implementation",
            });
        }
    };
    result.experiment = spec.name.to_string();
    result.paper = spec.paper.to_string();
    result.section = spec.section.to_string();
    result.claim = spec.claim.to_string();
    result.revision = spec.revision;
    result.settings = settings.clone();
    result.elapsed_s = started.elapsed().as_secs_f64();
    Ok(result)
}
