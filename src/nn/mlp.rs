//! Multi-layer perceptron vector field and its weights file.
//!
//! `f(y) = W_L σ(… σ(W_1 x + b_1) …) + b_L`, with `x = y` or, when `time_input` is set,
//! `x = [y, t]`. The weights file is JSON:
//!
//! ```json
//! {"activation": "tanh", "time_input": false,
//!  "layers": [{"weight": [[…], …], "bias": […]}, …]}
//! ```
//!
//! `weight` is stored `[out][in]`. The flat parameter vector θ lists, layer by layer, the weight
//! row-major and then the bias; every gradient nodelab reports uses this order.

use serde::{Deserialize, Serialize};

/// Hidden-layer nonlinearity σ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Tanh,
    Softplus,
    Relu,
    Sigmoid,
    Identity,
}

impl Activation {
    pub const ALL: [Activation; 5] = [
        Activation::Tanh,
        Activation::Softplus,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Identity,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Activation::Tanh => "tanh",
            Activation::Softplus => "softplus",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Identity => "identity",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// σ(x).
    #[inline]
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Activation::Tanh => x.tanh(),
            // log(1 + e^x) without overflow: max(x, 0) + log1p(e^{-|x|}).
            Activation::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
            Activation::Relu => x.max(0.0),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Activation::Identity => x,
        }
    }

    /// σ'(x) expressed through `x` and `s = σ(x)` (whichever is cheaper).
    #[inline]
    pub fn derivative(self, x: f64, s: f64) -> f64 {
        match self {
            Activation::Tanh => 1.0 - s * s,
            Activation::Softplus => 1.0 / (1.0 + (-x).exp()),
            Activation::Relu => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Sigmoid => s * (1.0 - s),
            Activation::Identity => 1.0,
        }
    }

    /// σ''(x) expressed through `x` and `s = σ(x)`.
    #[inline]
    pub fn second_derivative(self, x: f64, s: f64) -> f64 {
        match self {
            Activation::Tanh => -2.0 * s * (1.0 - s * s),
            Activation::Softplus => {
                let g = 1.0 / (1.0 + (-x).exp());
                g * (1.0 - g)
            }
            Activation::Relu | Activation::Identity => 0.0,
            Activation::Sigmoid => s * (1.0 - s) * (1.0 - 2.0 * s),
        }
    }
}

/// One layer as stored in the weights file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerFile {
    /// `[out][in]`.
    pub weight: Vec<Vec<f64>>,
    pub bias: Vec<f64>,
}

/// The weights file as serialized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsFile {
    pub activation: String,
    #[serde(default)]
    pub time_input: bool,
    pub layers: Vec<LayerFile>,
}

/// An MLP vector field with its parameters in one flat vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    pub activation: Activation,
    pub time_input: bool,
    /// Layer widths `[n_in, n_1, …, n_out]`.
    pub sizes: Vec<usize>,
    /// θ: layer by layer, weight row-major (`[out][in]`) then bias.
    pub params: Vec<f64>,
}

impl Mlp {
    /// Builds an MLP from the parsed weights file, checking every shape.
    pub fn from_file(file: &WeightsFile) -> Result<Self, String> {
        let activation = Activation::parse(&file.activation).ok_or_else(|| {
            format!(
                "unknown activation '{}' (known: {})",
                file.activation,
                Activation::ALL.map(|a| a.name()).join(", ")
            )
        })?;
        if file.layers.is_empty() {
            return Err("the network has no layers".into());
        }
        let mut sizes = Vec::with_capacity(file.layers.len() + 1);
        let mut params: Vec<f64> = Vec::new();
        for (l, layer) in file.layers.iter().enumerate() {
            let n_out = layer.weight.len();
            if n_out == 0 {
                return Err(format!("layer {l}: weight has no rows"));
            }
            let n_in = layer.weight[0].len();
            if n_in == 0 {
                return Err(format!("layer {l}: weight rows are empty"));
            }
            if let Some(r) = layer.weight.iter().position(|row| row.len() != n_in) {
                return Err(format!(
                    "layer {l}: weight row {r} has {} entries, row 0 has {n_in}",
                    layer.weight[r].len()
                ));
            }
            if layer.bias.len() != n_out {
                return Err(format!(
                    "layer {l}: bias has {} entries but weight has {n_out} rows",
                    layer.bias.len()
                ));
            }
            if let Some(&prev) = sizes.last() {
                if prev != n_in {
                    return Err(format!(
                        "layer {l} takes {n_in} inputs but layer {} gives {prev} outputs",
                        l - 1
                    ));
                }
            } else {
                sizes.push(n_in);
            }
            sizes.push(n_out);
            params.extend(layer.weight.iter().flatten());
            params.extend(&layer.bias);
        }
        if let Some(i) = params.iter().position(|v| !v.is_finite()) {
            return Err(format!("parameter {i} is not finite"));
        }
        let mlp = Self {
            activation,
            time_input: file.time_input,
            sizes,
            params,
        };
        let state_in = mlp.sizes[0] - usize::from(mlp.time_input);
        if state_in != mlp.dim() {
            return Err(format!(
                "the network maps {} inputs{} to {} outputs; a vector field needs as many state \
                 inputs as outputs",
                mlp.sizes[0],
                if mlp.time_input {
                    " (state + time)"
                } else {
                    ""
                },
                mlp.dim()
            ));
        }
        Ok(mlp)
    }

    /// Parses and checks a weights JSON document.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let file: WeightsFile = serde_json::from_str(text)
            .map_err(|e| format!("weights file, line {} column {}: {e}", e.line(), e.column()))?;
        Self::from_file(&file)
    }

    /// Serializes back to the weights file format.
    pub fn to_file(&self) -> WeightsFile {
        let mut layers = Vec::with_capacity(self.n_layers());
        let mut offset = 0;
        for l in 0..self.n_layers() {
            let (n_in, n_out) = (self.sizes[l], self.sizes[l + 1]);
            let weight = (0..n_out)
                .map(|r| self.params[offset + r * n_in..offset + (r + 1) * n_in].to_vec())
                .collect();
            offset += n_in * n_out;
            let bias = self.params[offset..offset + n_out].to_vec();
            offset += n_out;
            layers.push(LayerFile { weight, bias });
        }
        WeightsFile {
            activation: self.activation.name().to_string(),
            time_input: self.time_input,
            layers,
        }
    }

    /// A randomly initialised MLP (uniform Glorot-style scale), seeded for reproducibility.
    pub fn random(
        dims: &[usize],
        activation: Activation,
        time_input: bool,
        scale: f64,
        seed: u64,
    ) -> Self {
        use rand::{RngExt, SeedableRng, rngs::StdRng};
        let mut rng = StdRng::seed_from_u64(seed);
        let mut sizes = dims.to_vec();
        if time_input {
            sizes[0] += 1;
        }
        let mut params = Vec::new();
        for l in 0..sizes.len() - 1 {
            let (n_in, n_out) = (sizes[l], sizes[l + 1]);
            let bound = scale * (6.0 / (n_in + n_out) as f64).sqrt();
            for _ in 0..n_in * n_out {
                params.push(rng.random_range(-bound..bound));
            }
            for _ in 0..n_out {
                params.push(rng.random_range(-0.1 * scale..0.1 * scale));
            }
        }
        Self {
            activation,
            time_input,
            sizes,
            params,
        }
    }

    /// State dimension (= number of outputs).
    pub fn dim(&self) -> usize {
        *self.sizes.last().unwrap_or(&0)
    }

    pub fn n_layers(&self) -> usize {
        self.sizes.len().saturating_sub(1)
    }

    pub fn n_params(&self) -> usize {
        self.params.len()
    }

    /// Widest layer (scratch buffers are sized from it).
    pub fn max_width(&self) -> usize {
        self.sizes.iter().copied().max().unwrap_or(0)
    }

    /// Offset of layer `l`'s weight in θ (its bias follows at `+ n_in·n_out`).
    pub fn layer_offset(&self, l: usize) -> usize {
        (0..l)
            .map(|k| self.sizes[k] * self.sizes[k + 1] + self.sizes[k + 1])
            .sum()
    }

    /// Evaluates `f(t, y)` into `out`, using `scratch` (length ≥ 2·max_width) for activations.
    pub fn forward_into(&self, t: f64, y: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        let w = self.max_width();
        let (a, b) = scratch.split_at_mut(w);
        let n0 = self.sizes[0];
        a[..y.len()].copy_from_slice(y);
        if self.time_input {
            a[n0 - 1] = t;
        }
        let (mut cur, mut next) = (a, b);
        let mut offset = 0;
        let last = self.n_layers() - 1;
        for l in 0..self.n_layers() {
            let (n_in, n_out) = (self.sizes[l], self.sizes[l + 1]);
            let weight = &self.params[offset..offset + n_in * n_out];
            let bias = &self.params[offset + n_in * n_out..offset + n_in * n_out + n_out];
            offset += n_in * n_out + n_out;
            for r in 0..n_out {
                let row = &weight[r * n_in..(r + 1) * n_in];
                let mut z = bias[r];
                for (wi, xi) in row.iter().zip(&cur[..n_in]) {
                    z += wi * xi;
                }
                next[r] = if l == last {
                    z
                } else {
                    self.activation.apply(z)
                };
            }
            std::mem::swap(&mut cur, &mut next);
        }
        out.copy_from_slice(&cur[..self.dim()]);
    }

    /// Convenience wrapper around [`Mlp::forward_into`] that allocates.
    pub fn forward(&self, t: f64, y: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.dim()];
        let mut scratch = vec![0.0; 2 * self.max_width()];
        self.forward_into(t, y, &mut out, &mut scratch);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = r#"{"activation":"tanh","time_input":false,"layers":[
        {"weight":[[1.0,2.0],[0.5,-1.0],[0.0,0.3]],"bias":[0.1,0.2,-0.3]},
        {"weight":[[1.0,-1.0,2.0],[0.5,0.5,0.5]],"bias":[0.01,-0.02]}]}"#;

    #[test]
    fn forward_matches_a_hand_computation() {
        let mlp = Mlp::from_json(TINY).unwrap();
        assert_eq!(mlp.sizes, vec![2, 3, 2]);
        assert_eq!(mlp.n_params(), 6 + 3 + 6 + 2);
        let y = [0.4, -0.2];
        let h = [
            (0.4 - 0.4 + 0.1f64).tanh(),
            (0.2 + 0.2 + 0.2f64).tanh(),
            (-0.06 - 0.3f64).tanh(),
        ];
        let expected = [
            h[0] - h[1] + 2.0 * h[2] + 0.01,
            0.5 * (h[0] + h[1] + h[2]) - 0.02,
        ];
        let out = mlp.forward(0.0, &y);
        for i in 0..2 {
            assert!((out[i] - expected[i]).abs() < 1e-15);
        }
    }

    #[test]
    fn flat_order_is_weight_row_major_then_bias() {
        let mlp = Mlp::from_json(TINY).unwrap();
        assert_eq!(
            &mlp.params[..9],
            &[1.0, 2.0, 0.5, -1.0, 0.0, 0.3, 0.1, 0.2, -0.3]
        );
        assert_eq!(mlp.layer_offset(1), 9);
        assert_eq!(Mlp::from_file(&mlp.to_file()).unwrap(), mlp);
    }

    #[test]
    fn time_input_appends_t() {
        let mut file: WeightsFile = serde_json::from_str(TINY).unwrap();
        file.time_input = true;
        // 2 inputs with time → state dimension 1, but the output has 2: rejected.
        assert!(Mlp::from_file(&file).unwrap_err().contains("state inputs"));
        let mlp = Mlp::random(&[2, 5, 2], Activation::Softplus, true, 1.0, 7);
        assert_eq!(mlp.sizes, vec![3, 5, 2]);
        let a = mlp.forward(0.0, &[0.1, 0.2]);
        let b = mlp.forward(1.0, &[0.1, 0.2]);
        assert_ne!(a, b);
    }

    #[test]
    fn bad_files_are_explained() {
        assert!(Mlp::from_json("{").unwrap_err().contains("line 1"));
        let bad = TINY.replace("[0.1,0.2,-0.3]", "[0.1,0.2]");
        assert!(Mlp::from_json(&bad).unwrap_err().contains("bias"));
        let bad = TINY.replace("tanh", "swish");
        assert!(
            Mlp::from_json(&bad)
                .unwrap_err()
                .contains("unknown activation")
        );
    }

    #[test]
    fn activation_derivatives_match_finite_differences() {
        for act in Activation::ALL {
            for &x in &[-2.3, -0.4, 0.7, 1.9] {
                let h = 1e-6;
                let d = (act.apply(x + h) - act.apply(x - h)) / (2.0 * h);
                assert!(
                    (d - act.derivative(x, act.apply(x))).abs() < 1e-8,
                    "{act:?}"
                );
                let dd = (act.derivative(x + h, act.apply(x + h))
                    - act.derivative(x - h, act.apply(x - h)))
                    / (2.0 * h);
                assert!(
                    (dd - act.second_derivative(x, act.apply(x))).abs() < 1e-6,
                    "{act:?}"
                );
            }
        }
    }
}
