//! The shape of one MLP as the kernels see it, computed once: layer sizes, each layer's weight
//! offset in θ and each layer's input offset in the activation store. Both the WGSL constants
//! block ([`super::shader`]) and the straight-line functions ([`super::codegen`]) read it.

use super::codes;
use crate::nn::{Activation, InputMap, Mlp};

/// Largest sensitivity matrix (D × |θ|) the `afge` kernel keeps in one invocation.
pub const MAX_AFGE_LEN: usize = 8192;
/// Largest |θ| the per-sample kernels accumulate in one invocation.
pub const MAX_PARAMS: usize = 16384;

/// Why the kernels that keep the sensitivity matrix (afge) refuse a density shape.
pub const NO_TRACE_SENSITIVITY: &str = "no GPU kernel for the density (trace) field: afge's \
     sensitivity columns would need the Jacobian of the trace; train density tasks on the GPU \
     with backprop, checkpoint, adjoint, alf, reversible-heun or reversible-rk4, or afge on the CPU";

/// The constants a kernel is specialised on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Values per sample of the integrated state: the network's outputs d, or d + 1 for the
    /// density field ([`Shape::trace`]).
    pub dim: usize,
    /// The kernels integrate the CNF's augmented field `[f(t, z), tr ∂f/∂z]` on `[z, ℓ]`
    /// (nodelab::nn::trace): `mlp_eval` / `mlp_vjp` are [`super::codegen`]'s trace form.
    pub trace: bool,
    pub time_input: bool,
    /// `[n_in, n_1, …, n_out]`.
    pub sizes: Vec<usize>,
    pub activation: Activation,
    /// The map m on the input, f = MLP(m(y)) (the plain field; the trace form: identity only).
    pub input_map: InputMap,
    /// Offset of layer l's weight in θ (weights-file order: W_l row-major, then b_l).
    pub w_off: Vec<usize>,
    /// Offset of layer l's input in the activation store (l = 0 ..= n_layers).
    pub act_off: Vec<usize>,
}

/// One affine layer's place in θ and in the activation store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerSlots {
    pub n_in: usize,
    pub n_out: usize,
    /// First weight (`W[r][c]` at `w0 + r·n_in + c`).
    pub w0: usize,
    /// First bias.
    pub b0: usize,
    /// The layer's input in the store.
    pub xi: usize,
    /// The layer's output in the store.
    pub xo: usize,
}

impl Shape {
    pub fn of(mlp: &Mlp) -> Self {
        let sizes = mlp.sizes.clone();
        let nl = sizes.len() - 1;
        let mut w_off = Vec::with_capacity(nl);
        let mut off = 0;
        for l in 0..nl {
            w_off.push(off);
            off += sizes[l] * sizes[l + 1] + sizes[l + 1];
        }
        let mut act_off = Vec::with_capacity(nl + 1);
        let mut a = 0;
        for &s in &sizes {
            act_off.push(a);
            a += s;
        }
        Self {
            dim: mlp.dim(),
            trace: false,
            time_input: mlp.time_input,
            sizes,
            activation: mlp.activation,
            input_map: mlp.input_map,
            w_off,
            act_off,
        }
    }

    /// The shape of `mlp`'s CNF field (`density`) or of its plain field.
    pub fn of_field(mlp: &Mlp, density: bool) -> Self {
        let mut s = Self::of(mlp);
        if density {
            s.dim += 1;
            s.trace = true;
        }
        s
    }

    /// The network's outputs d (the state's z part).
    pub fn net_dim(&self) -> usize {
        self.sizes[self.n_layers()]
    }

    /// Channels of the activation store: 1, or 1 + d for the trace form (the activations and
    /// the d forward-mode tangents `∂x_l/∂z_j`, nodelab::nn::trace).
    pub fn channels(&self) -> usize {
        if self.trace { 1 + self.net_dim() } else { 1 }
    }

    pub fn n_layers(&self) -> usize {
        self.sizes.len() - 1
    }

    pub fn n_params(&self) -> usize {
        let l = self.n_layers() - 1;
        self.w_off[l] + self.sizes[l] * self.sizes[l + 1] + self.sizes[l + 1]
    }

    /// Sum of all layer widths (inputs included): one evaluation's activation store.
    pub fn act_total(&self) -> usize {
        self.sizes.iter().sum()
    }

    /// Layer l's slots.
    pub fn layer(&self, l: usize) -> LayerSlots {
        let (n_in, n_out) = (self.sizes[l], self.sizes[l + 1]);
        let w0 = self.w_off[l];
        LayerSlots {
            n_in,
            n_out,
            w0,
            b0: w0 + n_in * n_out,
            xi: self.act_off[l],
            xo: self.act_off[l + 1],
        }
    }

    /// The WGSL constants block for this shape.
    pub fn constants(&self) -> String {
        let list = |v: &[usize]| {
            v.iter()
                .map(|x| format!("{x}u"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let nl = self.n_layers();
        let a = self.act_total();
        let store = self.channels() * a;
        let max_w = self.sizes.iter().copied().max().unwrap_or(1);
        format!(
            "const D: u32 = {d}u;\n\
             const TIME_INPUT: bool = {ti};\n\
             const N_LAYERS: u32 = {nl}u;\n\
             const N_PARAMS: u32 = {np}u;\n\
             const MAX_W: u32 = {max_w}u;\n\
             const ACT_TOTAL: u32 = {store}u;\n\
             const OUT_TOTAL: u32 = {out_total}u;\n\
             const ACTIVATION: u32 = {act}u;\n\
             const SIZES = array<u32, {ns}>({sizes});\n\
             const W_OFF = array<u32, {nl}>({w_off});\n\
             const ACT_OFF = array<u32, {ns}>({act_off});\n",
            d = self.dim,
            out_total = a - self.sizes[0],
            ti = self.time_input,
            np = self.n_params(),
            act = codes::activation(self.activation),
            ns = nl + 1,
            sizes = list(&self.sizes),
            w_off = list(&self.w_off),
            act_off = list(&self.act_off),
        )
    }

    /// Whether the kernels can run this shape; `sensitivity`: the kernel keeps the D × |θ|
    /// sensitivity matrix in one invocation (afge).
    pub fn check(&self, sensitivity: bool) -> Result<(), String> {
        if self.trace && !self.input_map.is_identity() {
            return Err(format!(
                "the GPU's density (trace) field applies no input map; input_map = \"{}\" \
                 runs on the CPU only",
                self.input_map.name()
            ));
        }
        let np = self.n_params();
        if np > MAX_PARAMS {
            return Err(format!(
                "the GPU kernels hold one sample's gradient in one invocation: |θ| = {np} is \
                 above {MAX_PARAMS}"
            ));
        }
        if sensitivity && self.trace {
            return Err(NO_TRACE_SENSITIVITY.into());
        }
        if sensitivity && self.dim * np > MAX_AFGE_LEN {
            return Err(format!(
                "afge on the GPU keeps the sensitivity S (D × |θ| = {}) in one invocation; the \
                 limit is {MAX_AFGE_LEN}",
                self.dim * np
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The offsets are the CPU network's own (`Mlp::layer_offset`), and |θ| its count.
    #[test]
    fn offsets_match_the_cpu_network() {
        for sizes in [&[2usize, 8, 2][..], &[3, 16, 16, 3], &[1, 4, 1]] {
            let mlp = Mlp::random(sizes, Activation::Tanh, false, 1.0, 1);
            let s = Shape::of(&mlp);
            assert_eq!(s.n_params(), mlp.n_params());
            for l in 0..s.n_layers() {
                assert_eq!(s.w_off[l], mlp.layer_offset(l), "{sizes:?} layer {l}");
            }
            assert_eq!(s.act_off[0], 0);
            assert_eq!(
                *s.act_off.last().unwrap() + sizes.last().unwrap(),
                s.act_total()
            );
        }
    }
}
