//! WGSL sources, specialised per model shape.
//!
//! WGSL private arrays need constant sizes, so every kernel is compiled for one MLP shape: the
//! block between `// @shape-begin` and `// @shape-end` of `shaders/common.wgsl` is replaced by
//! the constants of the network actually run, and the kernel file is appended.

pub use super::layout::{MAX_AFGE_LEN, MAX_PARAMS, Shape};
use super::stages::{FixedRk, StageFns, slotted_functions, stage_functions};
use crate::grad::tableau::Tableau;
#[cfg(test)]
use crate::nn::{Activation, Mlp};

const COMMON: &str = include_str!("../../shaders/common.wgsl");
const ZC_RK4: &str = include_str!("../../shaders/zc_rk4.wgsl");
const FORWARD: &str = include_str!("../../shaders/forward.wgsl");
const BACKPROP: &str = include_str!("../../shaders/backprop.wgsl");
const CHECKPOINT: &str = include_str!("../../shaders/checkpoint.wgsl");
const ADJOINT: &str = include_str!("../../shaders/adjoint.wgsl");
const AFGE: &str = include_str!("../../shaders/afge.wgsl");
const ALF: &str = include_str!("../../shaders/alf.wgsl");
const REVERSIBLE_HEUN: &str = include_str!("../../shaders/reversible_heun.wgsl");
const REVERSIBLE_RK4: &str = include_str!("../../shaders/reversible_rk4.wgsl");
const REDUCE: &str = include_str!("../../shaders/reduce.wgsl");
const FIELD_PROBE: &str = include_str!("../../shaders/field_probe.wgsl");

/// Invocations per workgroup of the per-sample kernels (`WG` in common.wgsl).
pub const WORKGROUP: u32 = 64;

/// Every compute entry point. The tableau-generic kernels carry their fixed-step tableau
/// ([`FixedRk`]): each tableau is its own module and pipeline (the key includes it); their
/// entry points keep RK4's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    Rk4Forward,
    ZcRk4Forward,
    Backprop(FixedRk),
    Checkpoint(FixedRk),
    Adjoint(FixedRk),
    Afge,
    AfgeAdaptive,
    Alf,
    ReversibleHeun,
    /// McCallum & Foster's λ-reversible scheme around the tableau's step (reversible-rk4,
    /// reversible-midpoint; reversible_rk4.wgsl).
    ReversibleLambda(FixedRk),
    Reduce,
    /// One field evaluation and VJP per sample ([`super::GpuSolver::probe_field`], tests).
    FieldProbe,
}

impl Kernel {
    /// Every entry point, the tableau-generic ones with RK4.
    pub const ALL: [Kernel; 12] = [
        Kernel::Rk4Forward,
        Kernel::ZcRk4Forward,
        Kernel::Backprop(FixedRk::Rk4),
        Kernel::Checkpoint(FixedRk::Rk4),
        Kernel::Adjoint(FixedRk::Rk4),
        Kernel::Afge,
        Kernel::AfgeAdaptive,
        Kernel::Alf,
        Kernel::ReversibleHeun,
        Kernel::ReversibleLambda(FixedRk::Rk4),
        Kernel::Reduce,
        Kernel::FieldProbe,
    ];

    /// [`Kernel::ALL`] and the tableau-generic kernels with every other [`FixedRk`].
    pub fn every_tableau() -> Vec<Kernel> {
        let mut out = Kernel::ALL.to_vec();
        for rk in FixedRk::ALL.into_iter().filter(|&r| r != FixedRk::Rk4) {
            out.extend([
                Kernel::Backprop(rk),
                Kernel::Checkpoint(rk),
                Kernel::Adjoint(rk),
                Kernel::ReversibleLambda(rk),
            ]);
        }
        out
    }

    /// The fixed-step tableau of a tableau-generic kernel (None: a kernel that is RK4 only,
    /// or has no Runge–Kutta stages).
    pub fn fixed_rk(self) -> Option<FixedRk> {
        match self {
            Kernel::Backprop(rk)
            | Kernel::Checkpoint(rk)
            | Kernel::Adjoint(rk)
            | Kernel::ReversibleLambda(rk) => Some(rk),
            _ => None,
        }
    }

    /// The WGSL entry point.
    pub fn entry_point(self) -> &'static str {
        match self {
            Kernel::Rk4Forward => "rk4_forward",
            Kernel::ZcRk4Forward => "zc_rk4_forward",
            Kernel::Backprop(_) => "rk4_backprop",
            Kernel::Checkpoint(_) => "rk4_checkpoint",
            Kernel::Adjoint(_) => "rk4_adjoint",
            Kernel::Afge => "rk4_afge",
            Kernel::AfgeAdaptive => "zc_rk4_afge",
            Kernel::Alf => "alf",
            Kernel::ReversibleHeun => "reversible_heun",
            Kernel::ReversibleLambda(_) => "reversible_rk4",
            Kernel::Reduce => "reduce_rows",
            Kernel::FieldProbe => "field_probe",
        }
    }

    /// The debug label of the kernel's shader module and pipeline: the entry point, with the
    /// tableau of a tableau-generic kernel ("rk4_backprop (midpoint)"), so that the RK4 and
    /// midpoint pipelines of one entry point are told apart in a GPU debugger.
    pub fn label(self) -> String {
        match self.fixed_rk() {
            Some(rk) => format!("{} ({})", self.entry_point(), rk.name()),
            None => self.entry_point().to_string(),
        }
    }

    /// The files appended to common.wgsl, in order (zc_rk4.wgsl holds the adaptive
    /// controller the adaptive kernels share).
    pub fn files(self) -> &'static [&'static str] {
        match self {
            Kernel::Rk4Forward | Kernel::ZcRk4Forward => &[ZC_RK4, FORWARD],
            Kernel::Backprop(_) => &[BACKPROP],
            Kernel::Checkpoint(_) => &[CHECKPOINT],
            Kernel::Adjoint(_) => &[ADJOINT],
            Kernel::Afge | Kernel::AfgeAdaptive => &[ZC_RK4, AFGE],
            Kernel::Alf => &[ALF],
            Kernel::ReversibleHeun => &[REVERSIBLE_HEUN],
            Kernel::ReversibleLambda(_) => &[REVERSIBLE_RK4],
            Kernel::Reduce => &[REDUCE],
            Kernel::FieldProbe => &[FIELD_PROBE],
        }
    }
}

impl Kernel {
    /// The Runge–Kutta tableau whose generated stage functions ([`super::stages`]) the kernel
    /// calls, and which of them (None: a kernel without RK stages — the reduction, ALF's
    /// leapfrog, reversible Heun): the kernel's [`FixedRk`], else RK4.
    pub fn stages(self) -> Option<(Tableau, StageFns)> {
        let fns = match self {
            Kernel::Rk4Forward | Kernel::ZcRk4Forward => StageFns {
                step: true,
                ..StageFns::default()
            },
            Kernel::Backprop(_) | Kernel::Checkpoint(_) | Kernel::ReversibleLambda(_) => StageFns {
                step: true,
                step_kept: true,
                step_vjp: true,
                ..StageFns::default()
            },
            Kernel::Adjoint(_) => StageFns {
                step: true,
                adjoint_step: true,
                ..StageFns::default()
            },
            Kernel::Afge | Kernel::AfgeAdaptive => StageFns {
                step_kept: true,
                stages_kept: true,
                sens_column: true,
                ..StageFns::default()
            },
            Kernel::Alf | Kernel::ReversibleHeun | Kernel::Reduce | Kernel::FieldProbe => {
                return None;
            }
        };
        let tab = self.fixed_rk().map_or_else(Tableau::rk4, FixedRk::tableau);
        Some((tab, fns))
    }

    /// The kernel files with the generated stage functions in front: `rk_…` with four stage
    /// slots for the tableau-generic kernels, `rk4_…` for the RK4-only ones.
    fn body(self) -> Result<String, String> {
        let stages = match (self.stages(), self.fixed_rk()) {
            (Some((tab, fns)), Some(_)) => slotted_functions(&tab, fns)?,
            (Some((tab, fns)), None) => stage_functions(&tab, fns)?,
            (None, _) => String::new(),
        };
        Ok(format!("{stages}{}", self.files().join("\n")))
    }

    /// Whether this kernel runs the density field's trace form (it calls only `mlp_eval` and
    /// `mlp_vjp`; afge's sensitivity columns need `mlp_jac`).
    pub fn runs_density(self) -> bool {
        !matches!(self, Kernel::Afge | Kernel::AfgeAdaptive)
    }

    /// Whether this kernel can run `shape` (constant-size private arrays must stay small;
    /// `afge` keeps the whole sensitivity matrix).
    pub fn check(self, shape: &Shape) -> Result<(), String> {
        shape.check(matches!(self, Kernel::Afge | Kernel::AfgeAdaptive))
    }
}

/// Replaces the shape block of common.wgsl with `shape`'s constants and the codes block with
/// [`super::codes::wgsl_block`].
pub fn specialise_common(shape: &Shape) -> Result<String, String> {
    let common = replace_block(COMMON, "shape", &shape.constants())?;
    replace_block(&common, "codes", &super::codes::wgsl_block())
}

/// `src` with the lines between `// @NAME-begin` and `// @NAME-end` replaced by `body`.
fn replace_block(src: &str, name: &str, body: &str) -> Result<String, String> {
    let begin = format!("// @{name}-begin\n");
    let end = format!("// @{name}-end\n");
    let (Some(b), Some(e)) = (src.find(&begin), src.find(&end)) else {
        return Err(format!("common.wgsl lost its {name} markers"));
    };
    Ok(format!("{}{begin}{body}{}", &src[..b], &src[e..]))
}

/// The complete, specialised WGSL source of `kernel`'s module, with the straight-line MLP
/// functions of [`super::codegen`] in place of the loop form.
pub fn source(kernel: Kernel, shape: &Shape) -> Result<String, String> {
    let body = kernel.body()?;
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
    if shape.trace {
        return Err("the density field's trace form is generated only (no loop form)".into());
    }
    let body = kernel.body()?;
    Ok(format!("{}\n{body}", specialise_common(shape)?))
}

/// The unspecialised sources, as shipped (common.wgsl with its default 2-8-2 block, and each
/// kernel's files appended to it with the kernel's generated stage functions): `(name, source)`.
pub fn shipped_sources() -> Result<Vec<(&'static str, String)>, String> {
    let mut out = vec![("common.wgsl", COMMON.to_string())];
    for (name, kernel) in [
        ("forward.wgsl", Kernel::Rk4Forward),
        ("backprop.wgsl", Kernel::Backprop(FixedRk::Rk4)),
        ("checkpoint.wgsl", Kernel::Checkpoint(FixedRk::Rk4)),
        ("adjoint.wgsl", Kernel::Adjoint(FixedRk::Rk4)),
        ("afge.wgsl", Kernel::Afge),
        ("alf.wgsl", Kernel::Alf),
        ("reversible_heun.wgsl", Kernel::ReversibleHeun),
        (
            "reversible_rk4.wgsl",
            Kernel::ReversibleLambda(FixedRk::Rk4),
        ),
        ("reduce.wgsl", Kernel::Reduce),
        ("field_probe.wgsl", Kernel::FieldProbe),
    ] {
        out.push((name, format!("{COMMON}\n{}", kernel.body()?)));
    }
    Ok(out)
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

    /// Two kernels, two debug labels: the tableau-generic entry points are told apart by
    /// their tableau.
    #[test]
    fn every_kernel_has_its_own_label() {
        let kernels = Kernel::every_tableau();
        let labels: std::collections::HashSet<String> = kernels.iter().map(|k| k.label()).collect();
        assert_eq!(labels.len(), kernels.len());
        assert_eq!(
            Kernel::Backprop(FixedRk::Midpoint).label(),
            "rk4_backprop (midpoint)"
        );
    }

    /// Every shipped .wgsl file is valid WGSL as it stands (default shape).
    #[test]
    fn shipped_shaders_validate_with_naga() {
        for (name, src) in shipped_sources().unwrap() {
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
            for kernel in Kernel::every_tableau() {
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

    /// Every kernel that runs the density field validates in its trace form (one and two
    /// hidden layers, time input or not, every activation with a σ''); afge refuses the shape.
    #[test]
    fn density_shaders_validate_with_naga() {
        let nets = [
            Mlp::random(&[2, 8, 2], Activation::Tanh, true, 1.0, 1),
            Mlp::random(&[2, 5, 4, 2], Activation::Softplus, false, 1.0, 2),
            Mlp::random(&[2, 4, 3, 2], Activation::Sigmoid, true, 1.0, 3),
            Mlp::random(&[2, 3, 2], Activation::Relu, false, 1.0, 4),
        ];
        for mlp in &nets {
            let shape = Shape::of_field(mlp, true);
            assert_eq!(shape.dim, 3);
            for kernel in Kernel::every_tableau() {
                if !kernel.runs_density() {
                    assert!(kernel.check(&shape).is_err(), "{kernel:?}");
                    continue;
                }
                let src = source(kernel, &shape).unwrap();
                assert_eq!(src.matches(": trace form").count(), 2);
                assert!(src.contains("const D: u32 = 3u;"));
                validate(&format!("{kernel:?} {:?} (trace)", mlp.sizes), &src);
            }
            assert!(loop_source(Kernel::Backprop(FixedRk::Rk4), &shape).is_err());
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
