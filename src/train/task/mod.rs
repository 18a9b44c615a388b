//! The training tasks: their data, generated in code from the seed, the gradient problem of one
//! iteration's batch, and the evaluation of a model.
//!
//! Trajectory tasks (fit a neural ODE to a solution of a known ODE):
//! - `spiral-fit`, the classic neural-ODE demo: truth `y' = (y∘y∘y)·A` (row vector times
//!   A = [[−0.1, 2], [−2, −0.1]]), y0 = (2, 0), 1000 times evenly on [0, 25]; each iteration
//!   fits windows of 10 consecutive samples from their first value, loss `trajectory-l1` (the
//!   mean |pred − data| over window, batch and components); evaluation: the whole trajectory
//!   from y0, same loss.
//! - `freefall-fit` (adjoint-sensitivity paper, §Data Generation): x' = v, v' = g − μv (g = 9.8,
//!   μ = 0.5) from (0, 0), 100 observations on [0, 5], loss: the sum of squared position errors
//!   (`trajectory-sse` on component 0).
//! - `white-dwarf-ident` (reversible-solvers slides, §Preliminary experiments): Chandrasekhar's
//!   white dwarf equation (C = 0.01, x(0) = 1, v(0) = 0, the regular start at t = 0 of the
//!   `white-dwarf` problem), 100 observations of x on (0, 5], loss `trajectory-mse` on x.
//!
//! Classification tasks (`circles`, `moons`, `two-spirals`, `xor`, `gaussians`, see
//! [`super::datasets`]): the ODE block maps the point, augmented with `augment` zeros, from
//! t = 0 to t = 1; a linear read-out gives two logits; loss cross-entropy.
//!
//! `digits` ([`digits`]): the 8×8 digits through a fixed PCA encoder to `features`
//! dimensions, the same ODE block and a read-out to ten logits.
//!
//! Density tasks (`density-<toy>`, the toys of [`super::density_data`]): a continuous
//! normalising flow maps the data point x from t = 0 to t = 1 with the network's field and its
//! divergence ([`crate::density`]); loss: the mean NLL in nats ([`Loss::nll`]); evaluation:
//! the NLL of the held-out points.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::datasets::{Dataset, PointSet};
use super::density_data::{DensitySet, Toy};
use super::digits_data;
pub mod digits;

use self::digits::DigitsData;
use super::model::Model;
use super::rng::SeedRng;
use crate::grad::field::StackedMlp;
use crate::grad::forward::Segments;
use crate::grad::{BatchSteps, GradProblem, Loss, LossKind};
use crate::nn::Mlp;
use crate::problem::builtin::{self, BuiltinOverrides};
use crate::solver::{Method, SolverConfig};

/// A built-in training task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskName {
    SpiralFit,
    FreefallFit,
    WhiteDwarfIdent,
    Circles,
    Moons,
    TwoSpirals,
    Xor,
    Gaussians,
    Digits,
    #[serde(rename = "density-8gaussians")]
    Density8Gaussians,
    #[serde(rename = "density-2spirals")]
    Density2Spirals,
    DensityPinwheel,
    DensityMoons,
    DensityCircles,
    DensityCheckerboard,
}

impl TaskName {
    pub const ALL: [TaskName; 15] = [
        TaskName::SpiralFit,
        TaskName::FreefallFit,
        TaskName::WhiteDwarfIdent,
        TaskName::Circles,
        TaskName::Moons,
        TaskName::TwoSpirals,
        TaskName::Xor,
        TaskName::Gaussians,
        TaskName::Digits,
        TaskName::Density8Gaussians,
        TaskName::Density2Spirals,
        TaskName::DensityPinwheel,
        TaskName::DensityMoons,
        TaskName::DensityCircles,
        TaskName::DensityCheckerboard,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TaskName::SpiralFit => "spiral-fit",
            TaskName::FreefallFit => "freefall-fit",
            TaskName::WhiteDwarfIdent => "white-dwarf-ident",
            TaskName::Circles => "circles",
            TaskName::Moons => "moons",
            TaskName::TwoSpirals => "two-spirals",
            TaskName::Xor => "xor",
            TaskName::Gaussians => "gaussians",
            TaskName::Digits => "digits",
            TaskName::Density8Gaussians => "density-8gaussians",
            TaskName::Density2Spirals => "density-2spirals",
            TaskName::DensityPinwheel => "density-pinwheel",
            TaskName::DensityMoons => "density-moons",
            TaskName::DensityCircles => "density-circles",
            TaskName::DensityCheckerboard => "density-checkerboard",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn description(self) -> &'static str {
        match self {
            TaskName::SpiralFit => "fit the cubic spiral y' = (y∘y∘y)·A from windows of 10 samples",
            TaskName::FreefallFit => "fit free fall with drag from 100 positions on [0, 5]",
            TaskName::WhiteDwarfIdent => {
                "identify the white dwarf equation from x(t_i), 1000 fixed steps"
            }
            TaskName::Circles => "classify a disc inside a ring (needs augment ≥ 1)",
            TaskName::Moons => "classify two interleaved half circles",
            TaskName::TwoSpirals => "classify two interleaved spirals",
            TaskName::Xor => "classify the quadrants of xor",
            TaskName::Gaussians => "classify two Gaussian clusters",
            TaskName::Digits => {
                "classify 8×8 handwritten digits (PCA encoder to d dims, 10 classes)"
            }
            TaskName::Density8Gaussians => "density of 8 Gaussians on a circle (FFJORD toy)",
            TaskName::Density2Spirals => "density of two spirals (FFJORD toy)",
            TaskName::DensityPinwheel => "density of a 5-arm pinwheel (FFJORD toy)",
            TaskName::DensityMoons => "density of two moons (FFJORD toy)",
            TaskName::DensityCircles => "density of two circles (FFJORD toy)",
            TaskName::DensityCheckerboard => "density of a checkerboard (FFJORD toy)",
        }
    }

    /// The toy density of a density task.
    pub fn toy(self) -> Option<Toy> {
        match self {
            TaskName::Density8Gaussians => Some(Toy::Gaussians8),
            TaskName::Density2Spirals => Some(Toy::TwoSpirals),
            TaskName::DensityPinwheel => Some(Toy::Pinwheel),
            TaskName::DensityMoons => Some(Toy::Moons),
            TaskName::DensityCircles => Some(Toy::Circles),
            TaskName::DensityCheckerboard => Some(Toy::Checkerboard),
            _ => None,
        }
    }

    pub fn is_density(self) -> bool {
        self.toy().is_some()
    }

    pub fn dataset(self) -> Option<Dataset> {
        match self {
            TaskName::Circles => Some(Dataset::Circles),
            TaskName::Moons => Some(Dataset::Moons),
            TaskName::TwoSpirals => Some(Dataset::TwoSpirals),
            TaskName::Xor => Some(Dataset::Xor),
            TaskName::Gaussians => Some(Dataset::Gaussians),
            _ => None,
        }
    }

    /// Whether the task classifies (the two-class point sets and `digits`).
    pub fn is_classification(self) -> bool {
        self.dataset().is_some() || self == TaskName::Digits
    }

    /// Classes of a classification task's read-out.
    pub fn classes(self) -> Option<usize> {
        match self {
            TaskName::Digits => Some(digits_data::CLASSES),
            t if t.dataset().is_some() => Some(2),
            _ => None,
        }
    }
}

/// The data settings of a task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskSettings {
    /// Classification: points in all (train + test).
    pub points: usize,
    /// Classification: Playground-style noise in [0, 0.5].
    pub noise: f64,
    /// Classification: share of the points held out for testing.
    pub test_fraction: f64,
    /// Classification: zero dimensions appended to the 2-D point (or the digits' encoding).
    pub augment: usize,
    /// `digits`: the encoder's dimension d (PCA components).
    #[serde(default = "default_features")]
    pub features: usize,
}

fn default_features() -> usize {
    digits::DEFAULT_FEATURES
}

impl TaskSettings {
    /// The share held out for testing must be in [0, 0.9) (every task with a test split).
    pub fn check_test_fraction(&self) -> Result<(), String> {
        if self.test_fraction.is_finite() && (0.0..0.9).contains(&self.test_fraction) {
            return Ok(());
        }
        Err(format!(
            "test_fraction = {} must be in [0, 0.9)",
            self.test_fraction
        ))
    }

    pub fn validate(&self, task: TaskName) -> Result<(), String> {
        if task == TaskName::Digits {
            return digits::validate(self);
        }
        if task.is_density() {
            if !(10..=1_000_000).contains(&self.points) {
                return Err(format!(
                    "points = {} must be in 10 ..= 1000000",
                    self.points
                ));
            }
            self.check_test_fraction()?;
            if self.augment != 0 {
                return Err(format!(
                    "augment = {}: a density task's state is the data point (augment = 0)",
                    self.augment
                ));
            }
        }
        if task.is_classification() {
            if !(10..=1_000_000).contains(&self.points) {
                return Err(format!(
                    "points = {} must be in 10 ..= 1000000",
                    self.points
                ));
            }
            if !(self.noise.is_finite() && (0.0..=0.5).contains(&self.noise)) {
                return Err(format!("noise = {} must be in [0, 0.5]", self.noise));
            }
            self.check_test_fraction()?;
            if self.augment > 64 {
                return Err(format!("augment = {} is above 64", self.augment));
            }
        }
        Ok(())
    }
}

/// A task's generated data.
#[derive(Clone, Debug, PartialEq)]
pub enum TaskData {
    Trajectory(TrajectoryData),
    Classes(ClassData),
    Digits(DigitsData),
    Density(DensityData),
}

/// Points of a toy density and the flow's end time.
#[derive(Clone, Debug, PartialEq)]
pub struct DensityData {
    pub toy: Toy,
    pub set: DensitySet,
    /// The flow runs over `[0, t1]`.
    pub t1: f64,
}

impl DensityData {
    /// The mean NLL (nats) of `points` under `model`'s flow solved with `solver`.
    pub fn nll(
        &self,
        model: &Model,
        points: &[[f64; 2]],
        solver: &SolverConfig,
    ) -> Result<f64, String> {
        let pts: Vec<Vec<f64>> = points.iter().map(|p| p.to_vec()).collect();
        let (logp, _) = crate::density::log_density(&model.mlp, &pts, self.t1, solver)
            .map_err(|e| e.to_string())?;
        Ok(-logp.iter().sum::<f64>() / logp.len().max(1) as f64)
    }
}

/// Samples of a true trajectory.
#[derive(Clone, Debug, PartialEq)]
pub struct TrajectoryData {
    /// `t_0 < t_1 < …`.
    pub times: Vec<f64>,
    /// The true state at each time.
    pub states: Vec<Vec<f64>>,
    pub loss: LossKind,
    /// Observed components (empty: all).
    pub components: Vec<usize>,
    /// `Some(w)`: an iteration fits a batch of windows of `w` consecutive samples, each from
    /// its first value; `None`: the whole trajectory from the first state.
    pub window: Option<usize>,
}

/// Labelled points and the augmentation.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassData {
    pub set: PointSet,
    pub augment: usize,
}

/// How a model does on the task's evaluation data.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub loss: f64,
    /// Test accuracy (classification).
    pub accuracy: Option<f64>,
    pub train_accuracy: Option<f64>,
    /// The predicted trajectory at the data times (trajectory tasks).
    pub trajectory: Vec<Vec<f64>>,
}

/// Integrates the truth of a trajectory task on `times` tightly (dopri5, rtol = atol = 1e-12).
fn truth(name: &str, times: &[f64]) -> Result<Vec<Vec<f64>>, String> {
    let problem = builtin::build(
        name,
        &BuiltinOverrides {
            t0: Some(times[0]),
            t_end: times.last().copied(),
            ..BuiltinOverrides::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let tight = SolverConfig {
        method: Method::Dopri5,
        tol: 1e-12,
        rtol: 1e-12,
        max_steps: 1_000_000,
        ..SolverConfig::default()
    };
    let mut y = problem.y0.clone();
    let mut states = vec![y.clone()];
    let mut segments = Segments::default();
    for w in times.windows(2) {
        segments
            .run(
                Arc::new(crate::solver::OdeRhs(problem.system.clone())),
                w[0],
                w[1],
                &mut y,
                &tight,
                |_, _| {},
            )
            .map_err(|e| e.to_string())?;
        states.push(y.clone());
    }
    Ok(states)
}

fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| a + (b - a) * i as f64 / (n - 1) as f64)
        .collect()
}

impl TaskData {
    /// Generates the task's data from `seed`.
    pub fn generate(task: TaskName, settings: &TaskSettings, seed: u64) -> Result<Self, String> {
        settings.validate(task)?;
        if task == TaskName::Digits {
            return DigitsData::generate(settings, seed).map(TaskData::Digits);
        }
        if let Some(toy) = task.toy() {
            let n_test = ((settings.points as f64) * settings.test_fraction).round() as usize;
            return Ok(TaskData::Density(DensityData {
                toy,
                set: toy.generate(settings.points, n_test, seed),
                t1: 1.0,
            }));
        }
        if let Some(ds) = task.dataset() {
            return Ok(TaskData::Classes(ClassData {
                set: ds.generate(
                    settings.points,
                    settings.noise,
                    settings.test_fraction,
                    seed,
                ),
                augment: settings.augment,
            }));
        }
        let (problem, times, loss, components, window) = match task {
            TaskName::SpiralFit => (
                "spiral-cubic",
                linspace(0.0, 25.0, 1000),
                LossKind::TrajectoryL1,
                vec![],
                Some(10),
            ),
            TaskName::FreefallFit => (
                "freefall",
                linspace(0.0, 5.0, 100),
                LossKind::TrajectorySse,
                vec![0],
                None,
            ),
            _ => (
                "white-dwarf",
                linspace(0.0, 5.0, 101),
                LossKind::TrajectoryMse,
                vec![0],
                None,
            ),
        };
        let states = truth(problem, &times)?;
        Ok(TaskData::Trajectory(TrajectoryData {
            times,
            states,
            loss,
            components,
            window,
        }))
    }

    /// State dimension of the ODE block.
    pub fn dim(&self) -> usize {
        match self {
            TaskData::Trajectory(t) => t.states[0].len(),
            TaskData::Classes(c) => 2 + c.augment,
            TaskData::Digits(d) => d.dim(),
            TaskData::Density(_) => 2,
        }
    }

    /// How many items a batch is drawn from (windows, training points, or 1 trajectory).
    pub fn pool(&self) -> usize {
        match self {
            TaskData::Trajectory(t) => match t.window {
                Some(w) => t.times.len() + 1 - w,
                None => 1,
            },
            TaskData::Classes(c) => c.set.train.len(),
            TaskData::Digits(d) => d.train.len(),
            TaskData::Density(d) => d.set.train.len(),
        }
    }

    /// Draws one iteration's batch: `batch` distinct items (all of them when fewer).
    pub fn draw_batch(&self, rng: &mut SeedRng, batch: usize) -> Vec<usize> {
        let pool = self.pool();
        if pool == 1 {
            return vec![0];
        }
        rng.choose(pool, batch)
    }

    /// The gradient problem of a batch for `model` with `solver`.
    pub fn batch_problem(
        &self,
        items: &[usize],
        model: &Model,
        solver: &SolverConfig,
    ) -> GradProblem {
        match self {
            TaskData::Trajectory(t) => {
                let w = t.window.unwrap_or(t.times.len());
                let t0 = t.times[0];
                let y0: Vec<Vec<f64>> = items.iter().map(|&s| t.states[s].clone()).collect();
                // Autonomous windows start at t0: window k's sample j sits at t_j.
                let times: Vec<f64> = t.times[1..w].to_vec();
                let targets: Vec<Vec<Vec<f64>>> = (1..w)
                    .map(|j| items.iter().map(|&s| t.states[s + j].clone()).collect())
                    .collect();
                GradProblem {
                    mlp: model.mlp.clone(),
                    y0,
                    t0,
                    t1: t.times[w - 1],
                    solver: solver.clone(),
                    batch_steps: BatchSteps::Shared,
                    loss: Loss::trajectory_of(t.loss, times, targets)
                        .on_components(t.components.clone()),
                }
            }
            TaskData::Classes(c) => {
                let y0 = items.iter().map(|&i| c.lift(c.set.train[i])).collect();
                let labels = items.iter().map(|&i| c.set.train_labels[i]).collect();
                GradProblem {
                    mlp: model.mlp.clone(),
                    y0,
                    t0: 0.0,
                    t1: 1.0,
                    solver: solver.clone(),
                    batch_steps: BatchSteps::Shared,
                    loss: Loss::cross_entropy(
                        model
                            .readout
                            .clone()
                            .unwrap_or_else(|| super::model::readout(self.dim(), 2, 0)),
                        labels,
                    ),
                }
            }
            TaskData::Digits(d) => d.batch_problem(items, model, solver),
            TaskData::Density(d) => GradProblem {
                mlp: model.mlp.clone(),
                y0: items
                    .iter()
                    .map(|&i| vec![d.set.train[i][0], d.set.train[i][1], 0.0])
                    .collect(),
                t0: 0.0,
                t1: d.t1,
                solver: solver.clone(),
                batch_steps: BatchSteps::Shared,
                loss: Loss::nll(),
            },
        }
    }

    /// Evaluates `model`: trajectory tasks on the whole trajectory from its first state,
    /// classification on the held-out points (loss and accuracy) and the training points
    /// (accuracy).
    pub fn evaluate(&self, model: &Model, solver: &SolverConfig) -> Result<Evaluation, String> {
        match self {
            TaskData::Digits(d) => d.evaluate(model, solver),
            TaskData::Density(d) => {
                let held = if d.set.test.is_empty() {
                    &d.set.train
                } else {
                    &d.set.test
                };
                Ok(Evaluation {
                    loss: d.nll(model, held, solver)?,
                    accuracy: None,
                    train_accuracy: None,
                    trajectory: Vec::new(),
                })
            }
            TaskData::Trajectory(t) => {
                let pred = solve_at(&model.mlp, &[t.states[0].clone()], &t.times, solver)?;
                let trajectory: Vec<Vec<f64>> = pred.into_iter().map(|mut s| s.remove(0)).collect();
                let n = t.times.len();
                let targets: Vec<Vec<Vec<f64>>> =
                    t.states[1..].iter().map(|s| vec![s.clone()]).collect();
                let loss = Loss::trajectory_of(t.loss, t.times[1..].to_vec(), targets)
                    .on_components(t.components.clone());
                let d = t.states[0].len();
                let mut g = vec![0.0; d];
                let value: f64 = (1..n)
                    .map(|k| loss.sample_term(k - 1, 0, 1, &trajectory[k], &mut g, None))
                    .sum();
                Ok(Evaluation {
                    loss: value,
                    accuracy: None,
                    train_accuracy: None,
                    trajectory,
                })
            }
            TaskData::Classes(c) => {
                let readout = model
                    .readout
                    .as_ref()
                    .ok_or("a classification model needs a read-out")?;
                let score = |points: &[[f64; 2]], labels: &[usize]| -> Result<(f64, f64), String> {
                    if points.is_empty() {
                        return Ok((f64::NAN, f64::NAN));
                    }
                    let y0: Vec<Vec<f64>> = points.iter().map(|&p| c.lift(p)).collect();
                    let end = solve_at(&model.mlp, &y0, &[0.0, 1.0], solver)?;
                    let loss = Loss::cross_entropy(readout.clone(), labels.to_vec());
                    let mut g = vec![0.0; self.dim()];
                    let mut total = 0.0;
                    let mut right = 0usize;
                    for (b, y) in end[1].iter().enumerate() {
                        total += loss.sample_term(0, b, points.len(), y, &mut g, None);
                        let z: Vec<f64> = readout
                            .weight
                            .iter()
                            .zip(&readout.bias)
                            .map(|(w, bias)| {
                                bias + w.iter().zip(y).map(|(a, b)| a * b).sum::<f64>()
                            })
                            .collect();
                        let pred = usize::from(z[1] > z[0]);
                        right += usize::from(pred == labels[b]);
                    }
                    Ok((total, right as f64 / points.len() as f64))
                };
                let (test_loss, test_acc) = score(&c.set.test, &c.set.test_labels)?;
                let (train_loss, train_acc) = score(&c.set.train, &c.set.train_labels)?;
                Ok(Evaluation {
                    loss: if c.set.test.is_empty() {
                        train_loss
                    } else {
                        test_loss
                    },
                    accuracy: Some(if c.set.test.is_empty() {
                        train_acc
                    } else {
                        test_acc
                    }),
                    train_accuracy: Some(train_acc),
                    trajectory: Vec::new(),
                })
            }
        }
    }
}

/// What a model predicts, for display: the trajectory from the data's start, or for a classifier
/// the class-1 probability on a grid over the input plane and the points' flow through the ODE
/// block.
#[derive(Clone, Debug, PartialEq)]
pub enum Prediction {
    Trajectory {
        times: Vec<f64>,
        states: Vec<Vec<f64>>,
    },
    Classes {
        /// Grid bounds `[x_min, x_max, y_min, y_max]` and size n (n × n cells, row-major in y).
        bounds: [f64; 4],
        n: usize,
        /// P(class 1) per grid point (augmented dimensions start at 0).
        p1: Vec<f32>,
        /// `flow[k][i]`: the first two components of test point i at time k/(slices − 1).
        flow: Vec<Vec<[f64; 2]>>,
        /// Labels of the flowing points.
        labels: Vec<usize>,
    },
    /// A classifier of more than two input dimensions (`digits`): the held-out images'
    /// confusion matrix and their places in the first two encoder coordinates.
    Digits {
        /// `confusion[true class][predicted class]`.
        confusion: Vec<Vec<u32>>,
        accuracy: f64,
        /// The first two encoder coordinates of each image (the ODE block's input).
        points: Vec<[f64; 2]>,
        labels: Vec<usize>,
        predicted: Vec<usize>,
    },
    Density {
        /// Grid bounds `[x_min, x_max, y_min, y_max]` and size n (n × n points, row-major in y).
        bounds: [f64; 4],
        n: usize,
        /// log p at each grid point (nats).
        log_density: Vec<f32>,
        /// Samples of the flow (N(0, I) solved back from t1 to 0).
        samples: Vec<[f64; 2]>,
        /// `flow[k][i]`: test point i at time t1·k/(slices − 1).
        flow: Vec<Vec<[f64; 2]>>,
    },
}

/// Grid bounds holding `points`, padded by 10 % of the larger side.
fn bounds_of<'a>(points: impl Iterator<Item = &'a [f64; 2]>) -> [f64; 4] {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in points {
        x0 = x0.min(p[0]);
        x1 = x1.max(p[0]);
        y0 = y0.min(p[1]);
        y1 = y1.max(p[1]);
    }
    let pad = 0.1 * (x1 - x0).max(y1 - y0).max(1e-3);
    [x0 - pad, x1 + pad, y0 - pad, y1 + pad]
}

/// The `n × n` grid over `bounds` (row-major in y).
fn grid_points(bounds: [f64; 4], n: usize) -> Vec<[f64; 2]> {
    (0..n * n)
        .map(|k| {
            let (i, j) = (k % n, k / n);
            [
                bounds[0] + (bounds[1] - bounds[0]) * i as f64 / (n - 1) as f64,
                bounds[2] + (bounds[3] - bounds[2]) * j as f64 / (n - 1) as f64,
            ]
        })
        .collect()
}

impl DensityData {
    /// The density view's data: log p on a `grid` × `grid` grid (at most 100²), 500 samples
    /// (seeded from `seed`) and up to 200 test points flowing over 11 slices of `[0, t1]`.
    fn predict(
        &self,
        model: &Model,
        solver: &SolverConfig,
        grid: usize,
        seed: u64,
    ) -> Result<Prediction, String> {
        let e = |e: crate::grad::GradError| e.to_string();
        let bounds = bounds_of(self.set.train.iter().chain(&self.set.test));
        let n = grid.clamp(2, 100);
        let pts: Vec<Vec<f64>> = grid_points(bounds, n).iter().map(|p| p.to_vec()).collect();
        let (logp, _) =
            crate::density::log_density(&model.mlp, &pts, self.t1, solver).map_err(e)?;
        let mut rng = SeedRng::new(seed, super::rng::Stream::Batches);
        let base: Vec<Vec<f64>> = (0..500).map(|_| vec![rng.normal(), rng.normal()]).collect();
        let samples = crate::density::sample(&model.mlp, &base, self.t1, solver)
            .map_err(e)?
            .into_iter()
            .map(|s| [s[0], s[1]])
            .collect();
        let shown: Vec<Vec<f64>> = self
            .set
            .test
            .iter()
            .chain(&self.set.train)
            .take(200)
            .map(|p| p.to_vec())
            .collect();
        let slices: Vec<f64> = (0..11).map(|k| self.t1 * k as f64 / 10.0).collect();
        let flow = crate::density::paths(&model.mlp, &shown, 0.0, &slices, self.t1, solver)
            .map_err(e)?
            .into_iter()
            .map(|s| s.chunks_exact(2).map(|p| [p[0], p[1]]).collect())
            .collect();
        Ok(Prediction::Density {
            bounds,
            n,
            log_density: logp.iter().map(|&v| v as f32).collect(),
            samples,
            flow,
        })
    }
}

impl TaskData {
    /// The prediction of `model` (a `grid` × `grid` heat map for classifiers).
    pub fn predict(
        &self,
        model: &Model,
        solver: &SolverConfig,
        grid: usize,
    ) -> Result<Prediction, String> {
        match self {
            TaskData::Density(d) => d.predict(model, solver, grid, 0),
            TaskData::Digits(d) => d.predict(model, solver),
            TaskData::Trajectory(t) => {
                let e = self.evaluate(model, solver)?;
                Ok(Prediction::Trajectory {
                    times: t.times.clone(),
                    states: e.trajectory,
                })
            }
            TaskData::Classes(c) => {
                let readout = model
                    .readout
                    .as_ref()
                    .ok_or("a classifier needs a read-out")?;
                let all = c.set.train.iter().chain(&c.set.test);
                let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
                for p in all {
                    x0 = x0.min(p[0]);
                    x1 = x1.max(p[0]);
                    y0 = y0.min(p[1]);
                    y1 = y1.max(p[1]);
                }
                let pad = 0.1 * (x1 - x0).max(y1 - y0).max(1e-3);
                let bounds = [x0 - pad, x1 + pad, y0 - pad, y1 + pad];
                let n = grid.clamp(2, 200);
                let starts: Vec<Vec<f64>> = (0..n * n)
                    .map(|k| {
                        let (i, j) = (k % n, k / n);
                        let x = bounds[0] + (bounds[1] - bounds[0]) * i as f64 / (n - 1) as f64;
                        let y = bounds[2] + (bounds[3] - bounds[2]) * j as f64 / (n - 1) as f64;
                        c.lift([x, y])
                    })
                    .collect();
                let end = solve_at(&model.mlp, &starts, &[0.0, 1.0], solver)?;
                let p1 = end[1]
                    .iter()
                    .map(|y| {
                        let z: Vec<f64> = readout
                            .weight
                            .iter()
                            .zip(&readout.bias)
                            .map(|(w, b)| b + w.iter().zip(y).map(|(a, v)| a * v).sum::<f64>())
                            .collect();
                        (1.0 / (1.0 + (z[0] - z[1]).exp())) as f32
                    })
                    .collect();
                let shown: Vec<usize> = (0..c.set.test.len().min(200)).collect();
                let pts: Vec<Vec<f64>> = shown.iter().map(|&i| c.lift(c.set.test[i])).collect();
                let slices: Vec<f64> = (0..11).map(|k| k as f64 / 10.0).collect();
                let flow = solve_at(&model.mlp, &pts, &slices, solver)?
                    .into_iter()
                    .map(|slice| slice.into_iter().map(|y| [y[0], y[1]]).collect())
                    .collect();
                Ok(Prediction::Classes {
                    bounds,
                    n,
                    p1,
                    flow,
                    labels: shown.iter().map(|&i| c.set.test_labels[i]).collect(),
                })
            }
        }
    }
}

impl ClassData {
    /// The point with `augment` zeros appended.
    pub fn lift(&self, p: [f64; 2]) -> Vec<f64> {
        let mut y = vec![0.0; 2 + self.augment];
        y[..2].copy_from_slice(&p);
        y
    }
}

/// Solves the MLP field for a batch (shared steps) and returns, for each time of `times`
/// (the first being the start), every sample's state: `out[k][b]`.
pub fn solve_at(
    mlp: &Mlp,
    y0: &[Vec<f64>],
    times: &[f64],
    solver: &SolverConfig,
) -> Result<Vec<Vec<Vec<f64>>>, String> {
    let n = y0.len();
    let d = mlp.dim();
    let field = Arc::new(StackedMlp::<f64>::new(Arc::new(mlp.clone()), n));
    let mut y: Vec<f64> = y0.iter().flatten().copied().collect();
    let unstack = |y: &[f64]| y.chunks_exact(d).map(<[f64]>::to_vec).collect::<Vec<_>>();
    let mut out = vec![unstack(&y)];
    let mut segments = Segments::default();
    for w in times.windows(2) {
        segments
            .run(field.clone(), w[0], w[1], &mut y, solver, |_, _| {})
            .map_err(|e| e.to_string())?;
        out.push(unstack(&y));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> TaskSettings {
        TaskSettings {
            points: 200,
            noise: 0.0,
            test_fraction: 0.5,
            augment: 1,
            features: 8,
        }
    }

    #[test]
    fn spiral_truth_follows_the_cubic_ode() {
        let TaskData::Trajectory(t) =
            TaskData::generate(TaskName::SpiralFit, &settings(), 0).unwrap()
        else {
            panic!("spiral-fit is a trajectory task");
        };
        assert_eq!(t.times.len(), 1000);
        assert_eq!(t.states[0], vec![2.0, 0.0]);
        // Central difference of the data against (y∘y∘y)·A at a middle sample.
        let (i, dt) = (500, t.times[1] - t.times[0]);
        let y = &t.states[i];
        let (a, b) = (y[0].powi(3), y[1].powi(3));
        let f = [-0.1 * a - 2.0 * b, 2.0 * a - 0.1 * b];
        for c in 0..2 {
            let fd = (t.states[i + 1][c] - t.states[i - 1][c]) / (2.0 * dt);
            assert!(
                (fd - f[c]).abs() < 1e-3 * (1.0 + f[c].abs()),
                "{fd} vs {}",
                f[c]
            );
        }
    }

    #[test]
    fn freefall_truth_is_the_closed_form() {
        let TaskData::Trajectory(t) =
            TaskData::generate(TaskName::FreefallFit, &settings(), 0).unwrap()
        else {
            panic!("freefall-fit is a trajectory task");
        };
        assert_eq!(t.times.len(), 100);
        for (tt, s) in t.times.iter().zip(&t.states) {
            let (g, mu) = (9.8, 0.5);
            let x = g / mu * tt - g / (mu * mu) * (1.0 - (-mu * tt).exp());
            assert!((s[0] - x).abs() < 1e-9, "t = {tt}: {} vs {x}", s[0]);
        }
    }

    #[test]
    fn spiral_batches_are_windows_from_their_first_value() {
        let data = TaskData::generate(TaskName::SpiralFit, &settings(), 0).unwrap();
        assert_eq!(data.pool(), 991);
        let spec = super::super::model::ModelSpec {
            hidden: vec![4],
            activation: crate::nn::Activation::Tanh,
            input_map: crate::nn::InputMap::Cube,
            time_input: false,
            init: super::super::model::Init::Glorot,
        };
        let model = Model {
            mlp: spec.build(2, 0),
            readout: None,
        };
        let p = data.batch_problem(&[0, 990], &model, &SolverConfig::default());
        p.validate().unwrap();
        let TaskData::Trajectory(t) = &data else {
            unreachable!()
        };
        assert_eq!(p.y0[1], t.states[990]);
        assert_eq!(p.loss.targets.len(), 9);
        assert_eq!(p.loss.targets[8][1], t.states[999]);
        assert_eq!(p.t1, t.times[9]);
    }
}
