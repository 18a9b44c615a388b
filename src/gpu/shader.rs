//! WGSL sources, specialised per model shape.
//!
//! WGSL private arrays need constant sizes, so every kernel is compiled for one MLP shape: the
//! block between `// @shape-begin` and `// @shape-end` of `shaders/common.wgsl` is replaced by
//! the constants of the network actually run, and the kernel file is appended.

use crate::nn::{Activation, Mlp};

const COMMON: &str = include_str!("../../shaders/common.wgsl");
const ZC_RK4: &str = include_str!("../../shaders/zc_rk4.wgsl");
const FORWARD: &str = include_str!("../../shaders/forward.wgsl");
const BACKPROP: &str = include_str!("../../shaders/backprop.wgsl");
const ADJOINT: &str = include_str!("../../shaders/adjoint.wgsl");
const AFGE: &str = include_str!("../../shaders/afge.wgsl");
const REVERSIBLE_HEUN: &str = include_str!("../../shaders/reversible_heun.wgsl");
const REDUCE: &str = include_str!("../../shaders/reduce.wgsl");

/// Invocations per workgroup of the per-sample kernels (`WG` in common.wgsl).
pub const WORKGROUP: u32 = 64;

/// Every compute entry point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    Rk4Forward,
    ZcRk4Forward,
    Backprop,
    Adjoint,
    Afge,
    AfgeAdaptive,
    ReversibleHeun,
    Reduce,
}

impl Kernel {
    pub const ALL: [Kernel; 8] = [
        Kernel::Rk4Forward,
        Kernel::ZcRk4Forward,
        Kernel::Backprop,
        Kernel::Adjoint,
        Kernel::Afge,
        Kernel::AfgeAdaptive,
        Kernel::ReversibleHeun,
        Kernel::Reduce,
    ];

    /// The WGSL entry point.
    pub fn entry_point(self) -> &'static str {
        match self {
            Kernel::Rk4Forward => "rk4_forward",
            Kernel::ZcRk4Forward => "zc_rk4_forward",
            Kernel::Backprop => "rk4_backprop",
            Kernel::Adjoint => "rk4_adjoint",
            Kernel::Afge => "rk4_afge",
            Kernel::AfgeAdaptive => "zc_rk4_afge",
            Kernel::ReversibleHeun => "reversible_heun",
            Kernel::Reduce => "reduce_rows",
        }
    }

    /// The files appended to common.wgsl, in order (zc_rk4.wgsl holds the adaptive
    /// controller the adaptive kernels share).
    pub fn files(self) -> &'static [&'static str] {
        match self {
            Kernel::Rk4Forward | Kernel::ZcRk4Forward => &[ZC_RK4, FORWARD],
            Kernel::Backprop => &[BACKPROP],
            Kernel::Adjoint => &[ADJOINT],
            Kernel::Afge | Kernel::AfgeAdaptive => &[ZC_RK4, AFGE],
            Kernel::ReversibleHeun => &[REVERSIBLE_HEUN],
            Kernel::Reduce => &[REDUCE],
        }
    }
}

/// The constants a kernel is specialised on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    pub dim: usize,
    pub time_input: bool,
    /// `[n_in, n_1, …, n_out]`.
    pub sizes: Vec<usize>,
    pub activation: Activation,
    /// The kernels implement the identity input map only.
    pub input_map: crate::nn::InputMap,
}

/// Largest sensitivity matrix (D × |θ|) the `afge` kernel keeps in one invocation.
pub const MAX_AFGE_LEN: usize = 8192;
/// Largest |θ| the per-sample kernels accumulate in one invocation.
pub const MAX_PARAMS: usize = 16384;

impl Shape {
    pub fn of(mlp: &Mlp) -> Self {
        Self {
            dim: mlp.dim(),
            time_input: mlp.time_input,
            sizes: mlp.sizes.clone(),
            activation: mlp.activation,
            input_map: mlp.input_map,
        }
    }

    pub fn n_layers(&self) -> usize {
        self.sizes.len() - 1
    }

    pub fn n_params(&self) -> usize {
        (0..self.n_layers())
            .map(|l| self.sizes[l] * self.sizes[l + 1] + self.sizes[l + 1])
            .sum()
    }

    fn activation_code(&self) -> u32 {
        match self.activation {
            Activation::Tanh => 0,
            Activation::Softplus => 1,
            Activation::Relu => 2,
            Activation::Sigmoid => 3,
            Activation::Identity => 4,
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
        let mut w_off = Vec::with_capacity(nl);
        let mut off = 0;
        for l in 0..nl {
            w_off.push(off);
            off += self.sizes[l] * self.sizes[l + 1] + self.sizes[l + 1];
        }
        let mut act_off = Vec::with_capacity(nl + 1);
        let mut a = 0;
        for &s in &self.sizes {
            act_off.push(a);
            a += s;
        }
        let max_w = self.sizes.iter().copied().max().unwrap_or(1);
        format!(
            "const D: u32 = {d}u;\n\
             const TIME_INPUT: bool = {ti};\n\
             const N_LAYERS: u32 = {nl}u;\n\
             const N_PARAMS: u32 = {np}u;\n\
             const MAX_W: u32 = {max_w}u;\n\
             const ACT_TOTAL: u32 = {a}u;\n\
             const OUT_TOTAL: u32 = {out_total}u;\n\
             const ACTIVATION: u32 = {act}u;\n\
             const SIZES = array<u32, {ns}>({sizes});\n\
             const W_OFF = array<u32, {nl}>({w_off});\n\
             const ACT_OFF = array<u32, {ns}>({act_off});\n",
            d = self.dim,
            out_total = a - self.sizes[0],
            ti = self.time_input,
            np = self.n_params(),
            act = self.activation_code(),
            ns = nl + 1,
            sizes = list(&self.sizes),
            w_off = list(&w_off),
            act_off = list(&act_off),
        )
    }

    /// Whether the kernels can run this shape (constant-size private arrays must stay small).
    pub fn check(&self, kernel: Kernel) -> Result<(), String> {
        if !self.input_map.is_identity() {
            return Err(format!(
                "the GPU kernels apply no input map; input_map = \"{}\" runs on the CPU only",
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
        if matches!(kernel, Kernel::Afge | Kernel::AfgeAdaptive) && self.dim * np > MAX_AFGE_LEN {
            return Err(format!(
                "afge on the GPU keeps the sensitivity S (D × |θ| = {}) in one invocation; the \
                 limit is {MAX_AFGE_LEN}",
                self.dim * np
            ));
        }
        Ok(())
    }
}

/// Replaces the shape block of common.wgsl with `shape`'s constants.
pub fn specialise_common(shape: &Shape) -> Result<String, String> {
    let begin = "// @shape-begin\n";
    let end = "// @shape-end\n";
    let (Some(b), Some(e)) = (COMMON.find(begin), COMMON.find(end)) else {
        return Err("common.wgsl lost its shape markers".into());
    };
    Ok(format!(
        "{}{begin}{}{}",
        &COMMON[..b],
        shape.constants(),
        &COMMON[e..]
    ))
}

/// The complete, specialised WGSL source of `kernel`'s module, with the straight-line MLP
/// functions of [`super::codegen`] in place of the loop form.
pub fn source(kernel: Kernel, shape: &Shape) -> Result<String, String> {
    let body = kernel.files().join("\n");
    let common = specialise_common(shape)?;
    let begin = "// @mlp-begin\n";
    let end = "// @mlp-end\n";
    let (Some(b), Some(e)) = (common.find(begin), common.find(end)) else {
        return Err("common.wgsl lost its mlp markers".into());
    };
    Ok(format!(
        "{}{begin}{}{}\n{body}",
        &common[..b],
        super::codegen::mlp_functions(shape),
        &common[e..]
    ))
}

/// The specialised source with the loop form of the MLP functions (the shipped reference).
pub fn loop_source(kernel: Kernel, shape: &Shape) -> Result<String, String> {
    let body = kernel.files().join("\n");
    Ok(format!("{}\n{body}", specialise_common(shape)?))
}

/// The unspecialised sources, as shipped (common.wgsl with its default 2-8-2 block, and each
/// kernel file appended to it): `(name, source)`.
pub fn shipped_sources() -> Vec<(&'static str, String)> {
    let mut out = vec![("common.wgsl", COMMON.to_string())];
    for (name, body) in [
        ("zc_rk4.wgsl", ZC_RK4.to_string()),
        ("forward.wgsl", format!("{ZC_RK4}\n{FORWARD}")),
        ("backprop.wgsl", BACKPROP.to_string()),
        ("adjoint.wgsl", ADJOINT.to_string()),
        ("afge.wgsl", format!("{ZC_RK4}\n{AFGE}")),
        ("reversible_heun.wgsl", REVERSIBLE_HEUN.to_string()),
        ("reduce.wgsl", REDUCE.to_string()),
    ] {
        out.push((name, format!("{COMMON}\n{body}")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(name: &str, src: &str) {
        let module = naga::front::wgsl::parse_str(src)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::default(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
    }

    /// Every shipped .wgsl file is valid WGSL as it stands (default shape).
    #[test]
    fn shipped_shaders_validate_with_naga() {
        for (name, src) in shipped_sources() {
            validate(name, &src);
        }
    }

    /// Every kernel in the specialised form that runs, for several shapes: one and two hidden
    /// layers, time input, every activation.
    #[test]
    fn specialised_shaders_validate_with_naga() {
        let shapes = [
            Mlp::random(&[2, 8, 2], Activation::Tanh, false, 1.0, 1),
            Mlp::random(&[2, 64, 2], Activation::Softplus, false, 1.0, 2),
            Mlp::random(&[3, 16, 16, 3], Activation::Sigmoid, true, 1.0, 3),
            Mlp::random(&[1, 4, 1], Activation::Relu, false, 1.0, 4),
            Mlp::random(&[4, 5, 4], Activation::Identity, true, 1.0, 5),
        ];
        for mlp in &shapes {
            let shape = Shape::of(mlp);
            for kernel in Kernel::ALL {
                let src = source(kernel, &shape).unwrap();
                assert!(src.contains(&format!("const N_PARAMS: u32 = {}u;", mlp.n_params())));
                // The straight-line functions replaced the loop form.
                assert_eq!(src.matches("fn mlp_eval(").count(), 1);
                assert_eq!(src.matches(": straight-line form").count(), 4);
                validate(&format!("{kernel:?} {:?}", mlp.sizes), &src);
                let src = loop_source(kernel, &shape).unwrap();
                validate(&format!("{kernel:?} {:?} (loops)", mlp.sizes), &src);
            }
        }
    }

    #[test]
    fn constants_describe_the_network() {
        let mlp = Mlp::random(&[2, 8, 2], Activation::Tanh, false, 1.0, 1);
        let c = Shape::of(&mlp).constants();
        // The shipped default block is exactly this network's.
        assert!(COMMON.contains(&c), "{c}");
        let mlp = Mlp::random(&[3, 16, 16, 3], Activation::Sigmoid, true, 1.0, 3);
        let c = Shape::of(&mlp).constants();
        assert!(c.contains("const SIZES = array<u32, 4>(4u, 16u, 16u, 3u);"));
        assert!(c.contains(&format!(
            "const W_OFF = array<u32, 3>(0u, {}u, {}u);",
            mlp.layer_offset(1),
            mlp.layer_offset(2)
        )));
        assert!(c.contains("const ACT_OFF = array<u32, 4>(0u, 4u, 20u, 36u);"));
    }
}
