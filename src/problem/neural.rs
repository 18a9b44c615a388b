//! Neural vector field `f(t, y) = MLP(y)` (or `MLP([y, t])`) loaded from a weights file.

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;

use super::{OdeSystem, Problem, ProblemError};
use crate::nn::Mlp;

/// An MLP used as the right-hand side of an ODE.
#[derive(Clone, Debug)]
pub struct NeuralSystem {
    pub mlp: Arc<Mlp>,
}

thread_local! {
    /// Activation scratch for `rhs`, which only has `&self`.
    static SCRATCH: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

impl OdeSystem for NeuralSystem {
    fn dim(&self) -> usize {
        self.mlp.dim()
    }

    fn rhs(&self, t: f64, y: &[f64], dydt: &mut [f64]) {
        SCRATCH.with(|cell| {
            let mut scratch = cell.borrow_mut();
            let need = 2 * self.mlp.max_width();
            if scratch.len() < need {
                scratch.resize(need, 0.0);
            }
            self.mlp.forward_into(t, y, dydt, &mut scratch);
        });
    }
}

/// Loads a model file (the weights JSON, or safetensors by its extension) into an MLP, with
/// the file name in every error.
pub fn load_weights(path: &Path) -> Result<Mlp, ProblemError> {
    crate::nn::model_file::load(path).map_err(ProblemError::Weights)
}

/// Builds the problem `y' = MLP(y)` on `[t0, t_end]` from `y0`.
pub fn build(mlp: Mlp, y0: Vec<f64>, t0: f64, t_end: f64) -> Result<Problem, ProblemError> {
    let dim = mlp.dim();
    if y0.len() != dim {
        return Err(ProblemError::Invalid(format!(
            "the network's state has {dim} components but y0 has {}",
            y0.len()
        )));
    }
    let sizes = mlp
        .sizes
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join("-");
    let description = format!(
        "neural vector field: MLP {sizes}, {}{}, {} parameters",
        mlp.activation.name(),
        if mlp.time_input { ", time input" } else { "" },
        mlp.n_params()
    );
    let input = if mlp.time_input { "[y, t]" } else { "y" };
    let problem = Problem {
        name: "neural".into(),
        description,
        formula: vec![format!(
            "y' = W_L σ(… σ(W_1 {input} + b_1) …) + b_L,  σ = {}",
            mlp.activation.name()
        )],
        components: (0..dim).map(|i| format!("y{}", i + 1)).collect(),
        params: Vec::new(),
        t0,
        t_end,
        y0,
        system: Arc::new(NeuralSystem { mlp: Arc::new(mlp) }),
        exact: None,
    };
    problem.validate()?;
    Ok(problem)
}
