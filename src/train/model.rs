//! The trained model: an MLP vector field and, for classification, the linear read-out of the
//! cross-entropy loss, with all their parameters in one flat vector for the optimiser
//! (the MLP's θ in the weights-file order, then the read-out weight row-major, then its bias —
//! the order of [`crate::grad::GradOutput::readout_grad`]).

use serde::{Deserialize, Serialize};

use super::rng::{SeedRng, Stream};
use crate::grad::Readout;
use crate::nn::{Activation, InputMap, Mlp};

/// Reads a saved model (safetensors or the weights JSON, [`crate::nn::model_file`]) to start a
/// run from: its network and a classifier's read-out.
pub fn load_initial(path: &std::path::Path) -> Result<Model, String> {
    let m = crate::nn::model_file::load_model(path)?;
    Ok(Model {
        mlp: m.mlp,
        readout: m.readout,
    })
}

/// How the weights start.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Init {
    /// Weights N(0, std²), biases 0 (the classic spiral demo: std = 0.1).
    Normal { std: f64 },
    /// Weights U(−b, b) with b = √(6/(n_in + n_out)) (Glorot), biases 0.
    Glorot,
}

/// The network's shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Hidden layer widths.
    pub hidden: Vec<usize>,
    pub activation: Activation,
    pub input_map: InputMap,
    pub time_input: bool,
    pub init: Init,
}

impl ModelSpec {
    pub fn validate(&self) -> Result<(), String> {
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return Err("the model needs at least one hidden layer, each of width ≥ 1".into());
        }
        if self.hidden.len() > 8 || self.hidden.iter().any(|&w| w > 4096) {
            return Err(format!(
                "hidden = {:?} is too large for a toy model (at most 8 layers of width 4096)",
                self.hidden
            ));
        }
        if let Init::Normal { std } = self.init
            && !(std.is_finite() && std > 0.0)
        {
            return Err(format!("init std must be positive (got {std})"));
        }
        Ok(())
    }

    /// A seeded MLP for a state of dimension `dim`.
    pub fn build(&self, dim: usize, seed: u64) -> Mlp {
        let mut rng = SeedRng::new(seed, Stream::Init);
        let mut sizes = vec![dim + usize::from(self.time_input)];
        sizes.extend(&self.hidden);
        sizes.push(dim);
        let mut params = Vec::new();
        for l in 0..sizes.len() - 1 {
            let (n_in, n_out) = (sizes[l], sizes[l + 1]);
            let bound = (6.0 / (n_in + n_out) as f64).sqrt();
            for _ in 0..n_in * n_out {
                params.push(match self.init {
                    Init::Normal { std } => std * rng.normal(),
                    Init::Glorot => rng.range(-bound, bound),
                });
            }
            params.extend(std::iter::repeat_n(0.0, n_out));
        }
        Mlp {
            activation: self.activation,
            time_input: self.time_input,
            input_map: self.input_map,
            sizes,
            params,
        }
    }
}

/// A linear read-out to `classes` logits from a `dim`-state, Glorot-uniform, bias 0.
pub fn readout(dim: usize, classes: usize, seed: u64) -> Readout {
    let mut rng = SeedRng::new(seed ^ 0x005e_ed0f_4ead, Stream::Init);
    let bound = (6.0 / (dim + classes) as f64).sqrt();
    Readout {
        weight: (0..classes)
            .map(|_| (0..dim).map(|_| rng.range(-bound, bound)).collect())
            .collect(),
        bias: vec![0.0; classes],
    }
}

/// What the optimiser trains.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub mlp: Mlp,
    pub readout: Option<Readout>,
}

impl Model {
    pub fn n_params(&self) -> usize {
        self.mlp.n_params() + self.readout.as_ref().map_or(0, Readout::n_params)
    }

    /// All parameters, flat.
    pub fn flat(&self) -> Vec<f64> {
        let mut v = self.mlp.params.clone();
        if let Some(r) = &self.readout {
            v.extend(r.weight.iter().flatten());
            v.extend(&r.bias);
        }
        v
    }

    /// Sets all parameters from a flat vector of [`Model::n_params`] entries.
    pub fn set_flat(&mut self, v: &[f64]) {
        let p = self.mlp.n_params();
        self.mlp.params.copy_from_slice(&v[..p]);
        if let Some(r) = &mut self.readout {
            let mut i = p;
            for row in &mut r.weight {
                for w in row.iter_mut() {
                    *w = v[i];
                    i += 1;
                }
            }
            for b in &mut r.bias {
                *b = v[i];
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_init_has_the_asked_spread_and_zero_biases() {
        let spec = ModelSpec {
            hidden: vec![50],
            activation: Activation::Tanh,
            input_map: InputMap::Cube,
            time_input: false,
            init: Init::Normal { std: 0.1 },
        };
        let mlp = spec.build(2, 0);
        assert_eq!(mlp.sizes, vec![2, 50, 2]);
        let w1 = &mlp.params[..100];
        let rms = (w1.iter().map(|w| w * w).sum::<f64>() / 100.0).sqrt();
        assert!((0.07..0.13).contains(&rms), "{rms}");
        assert!(mlp.params[100..150].iter().all(|&b| b == 0.0));
        assert_eq!(spec.build(2, 0), mlp);
        assert_ne!(spec.build(2, 1), mlp);
    }

    #[test]
    fn flat_round_trip_includes_the_readout() {
        let spec = ModelSpec {
            hidden: vec![4],
            activation: Activation::Tanh,
            input_map: InputMap::Identity,
            time_input: false,
            init: Init::Glorot,
        };
        let mut m = Model {
            mlp: spec.build(3, 2),
            readout: Some(readout(3, 2, 2)),
        };
        let n = m.n_params();
        assert_eq!(n, (3 * 4 + 4) + (4 * 3 + 3) + (2 * 3 + 2));
        let v: Vec<f64> = (0..n).map(|i| i as f64).collect();
        m.set_flat(&v);
        assert_eq!(m.flat(), v);
        let r = m.readout.as_ref().unwrap();
        assert_eq!(r.weight[1][0], (n - 5) as f64);
        assert_eq!(r.bias[1], (n - 1) as f64);
    }
}
