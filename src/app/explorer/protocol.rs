//! The messages between the solve workers and the UI, and the data they carry: what a worker
//! sends ([`SolveMsg`]) and what the UI asks of it ([`SolveRequest`]). Both [`super::worker`]
//! (the sender) and [`super::model`] (the receiver's data) depend on this module and not on
//! each other.

use egui_plot::PlotPoint;

use crate::solver::{Dense, SolveError, StepRecord};

/// What the UI needs to know about the problem a run integrates.
#[derive(Clone, Debug, PartialEq)]
pub struct ProblemInfo {
    pub name: String,
    pub components: Vec<String>,
    pub formula: Vec<String>,
    pub t0: f64,
    pub t_end: f64,
    pub y0: Vec<f64>,
    pub has_exact: bool,
}

impl ProblemInfo {
    pub fn dim(&self) -> usize {
        self.y0.len()
    }
}

/// Worker → UI.
#[derive(Debug)]
pub enum SolveMsg {
    /// The problem is built and the solve starts.
    Started(ProblemInfo),
    /// Per component, the exact solution over the span.
    Exact(Vec<Vec<PlotPoint>>),
    /// Attempted steps and each one's max-norm error against the exact solution.
    Steps(Vec<StepRecord>, Vec<Option<f64>>),
    Finished {
        nfev: u64,
        warnings: Vec<String>,
        error: Option<SolveError>,
    },
    /// The problem or the settings are unusable.
    Invalid(String),
    Probe(ProbeResult),
    Field(FieldGrid),
    /// The other initial states of a batch (a gradient preset), solved with the same settings:
    /// per sample, per component, (t, y) at the accepted step boundaries.
    Batch(Vec<Vec<Vec<PlotPoint>>>),
}

/// UI → worker.
#[derive(Clone, Debug)]
pub enum SolveRequest {
    /// Sample p(τ) and the true f along one step.
    Probe {
        record: usize,
        t: f64,
        h: f64,
        y_start: Vec<f64>,
        y_end: Vec<f64>,
        dense: Dense,
    },
    /// The vector field over a region of the (x, y) = (components `axes`) plane, the other
    /// components held at `fixed`.
    Field {
        axes: (usize, usize),
        bounds: [f64; 4],
        fixed: Vec<f64>,
    },
}

/// p(τ) of paper eq. (15) against f along the dense solution q(τ), for every component:
/// `f_true[c][k] = f_c(t + τ_k h, q(τ_k))`.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeResult {
    pub record: usize,
    pub t: f64,
    pub h: f64,
    pub tau: Vec<f64>,
    pub p: Vec<Vec<f64>>,
    pub f_true: Vec<Vec<f64>>,
    /// The dense output q(τ) at `tau`, per component.
    pub q: Vec<Vec<f64>>,
    /// A tight reference solution from the step's start state at `tau` (classical RK4 with
    /// [`REFERENCE_SUBSTEPS`] substeps per sample interval), per component.
    pub reference: Vec<Vec<f64>>,
}

/// Arrows of the vector field, in plot coordinates, scaled to the grid cell.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldGrid {
    pub axes: (usize, usize),
    pub bounds: [f64; 4],
    pub origins: Vec<PlotPoint>,
    pub tips: Vec<PlotPoint>,
}
