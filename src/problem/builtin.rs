//! Built-in analytic problems.
//!
//! Each entry documents its right-hand side and where it comes from. Exact solutions are given
//! for any initial value (not only the default one) so that errors are measured, never guessed.

use std::f64::consts::PI;
use std::sync::Arc;

use super::{ExactFn, OdeSystem, Param, Problem, ProblemError};

/// The built-in problems.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BuiltinKind {
    PaperBump,
    PaperKink,
    VanDerPol,
    Lorenz,
    Sir,
    Freefall,
    SpiralCubic,
    WhiteDwarf,
    LotkaVolterra,
    Exponential,
}

/// Static description of a built-in problem: what the GUI lists and `nodelab presets` prints.
#[derive(Clone, Copy, Debug)]
pub struct BuiltinInfo {
    pub kind: BuiltinKind,
    pub name: &'static str,
    /// Menu group in the GUI.
    pub group: &'static str,
    /// One line for `nodelab presets`.
    pub description: &'static str,
    /// Where the problem comes from.
    pub source: &'static str,
    pub components: &'static [&'static str],
    /// Right-hand side in readable math-like text, one line per component.
    pub formula: &'static [&'static str],
    /// `(name, default, meaning)`.
    pub params: &'static [(&'static str, f64, &'static str)],
    pub t_span: (f64, f64),
}

/// Every built-in problem, in the order `nodelab presets` lists them.
pub const BUILTINS: &[BuiltinInfo] = &[
    BuiltinInfo {
        kind: BuiltinKind::PaperBump,
        name: "paper-bump",
        group: "Paper examples",
        description: "paper P1: y' = cos t + (2t-10)e^{-(t-3)(t-7)}/(1+e^{-(t-3)(t-7)})^2 (corrected), exact",
        source: "Dabounou, Adaptive Feedforward Gradient Estimation, Example 1; the printed RHS lacks the \
                 square that the stated solution needs (PAPER-NOTES), and y(0) = 1/(1+e^-21)",
        components: &["y"],
        formula: &["y' = cos t + (2t − 10)·e^{−(t−3)(t−7)} / (1 + e^{−(t−3)(t−7)})²"],
        params: &[],
        t_span: (0.0, 10.0),
    },
    BuiltinInfo {
        kind: BuiltinKind::PaperKink,
        name: "paper-kink",
        group: "Paper examples",
        description: "paper P2: y' = -sin t outside (3pi/4, 5pi/4), 0 inside (discontinuous RHS), exact",
        source: "Dabounou, Adaptive Feedforward Gradient Estimation, Example 2",
        components: &["y"],
        formula: &["y' = −sin t  if t ≤ 3π/4 or t ≥ 5π/4,   0 otherwise"],
        params: &[],
        t_span: (0.0, 2.0 * PI),
    },
    BuiltinInfo {
        kind: BuiltinKind::VanDerPol,
        name: "van-der-pol",
        group: "Oscillators and chaos",
        description: "Van der Pol oscillator x' = v, v' = mu(1-x^2)v - x (mu=1)",
        source: "van der Pol (1926); paper section 3, Figure 3",
        components: &["x", "v"],
        formula: &["x' = v", "v' = μ(1 − x²)·v − x"],
        params: &[("mu", 1.0, "damping strength μ")],
        t_span: (0.0, 20.0),
    },
    BuiltinInfo {
        kind: BuiltinKind::Lorenz,
        name: "lorenz",
        group: "Oscillators and chaos",
        description: "Lorenz system (sigma=10, rho=28, beta=8/3), chaotic",
        source: "Lorenz (1963); paper section 3, Figure 4",
        components: &["x", "y", "z"],
        formula: &["x' = σ(y − x)", "y' = x(ρ − z) − y", "z' = x·y − β·z"],
        params: &[
            ("sigma", 10.0, "Prandtl number σ"),
            ("rho", 28.0, "Rayleigh number ρ"),
            ("beta", 8.0 / 3.0, "geometric factor β"),
        ],
        t_span: (0.0, 20.0),
    },
    BuiltinInfo {
        kind: BuiltinKind::Sir,
        name: "sir",
        group: "Biology and physics",
        description: "SIR epidemic S' = -bSI, I' = bSI - kI, R' = kI (b=0.5, k=0.1)",
        source: "Kermack & McKendrick (1927)",
        components: &["S", "I", "R"],
        formula: &["S' = −b·S·I", "I' = b·S·I − k·I", "R' = k·I"],
        params: &[
            ("b", 0.5, "infection rate b"),
            ("k", 0.1, "recovery rate k"),
        ],
        t_span: (0.0, 100.0),
    },
    BuiltinInfo {
        kind: BuiltinKind::Freefall,
        name: "freefall",
        group: "Biology and physics",
        description: "falling body with linear drag x' = v, v' = g - mu v (g=9.8, mu=0.5), exact",
        source: "adjoint-sensitivity.md (the seed example of the adjoint-sensitivity tutorial)",
        components: &["x", "v"],
        formula: &["x' = v", "v' = g − μ·v"],
        params: &[
            ("g", 9.8, "gravitational acceleration g"),
            ("mu", 0.5, "linear drag coefficient μ"),
        ],
        t_span: (0.0, 10.0),
    },
    BuiltinInfo {
        kind: BuiltinKind::SpiralCubic,
        name: "spiral-cubic",
        group: "Neural-ODE demos",
        description: "cubic spiral y' = A^T y^3, A = [[-0.1, 2], [-2, -0.1]] (the classic neural-ODE demo)",
        source: "Chen et al., Neural Ordinary Differential Equations (2018), torchdiffeq's ode_demo",
        components: &["y1", "y2"],
        formula: &["y1' = a11·y1³ + a21·y2³", "y2' = a12·y1³ + a22·y2³"],
        params: &[
            ("a11", -0.1, "A[0][0]"),
            ("a12", 2.0, "A[0][1]"),
            ("a21", -2.0, "A[1][0]"),
            ("a22", -0.1, "A[1][1]"),
        ],
        t_span: (0.0, 25.0),
    },
    BuiltinInfo {
        kind: BuiltinKind::WhiteDwarf,
        name: "white-dwarf",
        group: "Biology and physics",
        description: "Chandrasekhar white dwarf x' = v, v' = -2v/t - (x^2-C)^{3/2} (C=0.01), singular at t=0",
        source: "Chandrasekhar (1935); at t = 0 the regular solution has v' = -(1-C)^{3/2}/3 (limit of \
                 -2v/t with v ~ -(1-C)^{3/2} t/3); outside the star (x^2 < C) the density term is 0",
        components: &["x", "v"],
        formula: &[
            "x' = v",
            "v' = −2v/t − (x² − C)^{3/2}   (t > 0; at t = 0: −(x² − C)^{3/2}/3; 0 where x² < C)",
        ],
        params: &[(
            "C",
            0.01,
            "composition constant C = (m_e c² / E_F)² at the centre, 0 < C < 1",
        )],
        t_span: (0.0, 6.0),
    },
    BuiltinInfo {
        kind: BuiltinKind::LotkaVolterra,
        name: "lotka-volterra",
        group: "Biology and physics",
        description: "predator-prey x' = alpha x - beta x y, y' = delta x y - gamma y",
        source: "Lotka (1925), Volterra (1926)",
        components: &["x", "y"],
        formula: &["x' = α·x − β·x·y", "y' = δ·x·y − γ·y"],
        params: &[
            ("alpha", 1.5, "prey growth α"),
            ("beta", 1.0, "predation rate β"),
            ("delta", 1.0, "predator growth per prey δ"),
            ("gamma", 3.0, "predator death rate γ"),
        ],
        t_span: (0.0, 15.0),
    },
    BuiltinInfo {
        kind: BuiltinKind::Exponential,
        name: "exponential",
        group: "Test equations",
        description: "Dahlquist test equation y' = lambda y (lambda=-1), exact",
        source: "Dahlquist (1963)",
        components: &["y"],
        formula: &["y' = λ·y"],
        params: &[("lambda", -1.0, "rate λ")],
        t_span: (0.0, 5.0),
    },
];

/// Looks a built-in up by its CLI name.
pub fn info(name: &str) -> Option<&'static BuiltinInfo> {
    BUILTINS.iter().find(|b| b.name == name)
}

impl BuiltinKind {
    pub fn info(self) -> &'static BuiltinInfo {
        // Every kind has exactly one entry in BUILTINS (checked by a test).
        BUILTINS
            .iter()
            .find(|b| b.kind == self)
            .unwrap_or(&BUILTINS[0])
    }
}

/// P1's exact solution `sin t + 1/(1 + e^{-(t-3)(t-7)})` (without the initial-value shift).
fn bump_solution(t: f64) -> f64 {
    t.sin() + 1.0 / (1.0 + (-(t - 3.0) * (t - 7.0)).exp())
}

/// P2's exact solution through y(0) = 1.
fn kink_solution(t: f64) -> f64 {
    if t > 3.0 * PI / 4.0 && t < 5.0 * PI / 4.0 {
        (3.0 * PI / 4.0).cos()
    } else {
        t.cos()
    }
}

/// Default initial value of a built-in, given its parameter values.
fn default_y0(kind: BuiltinKind) -> Vec<f64> {
    match kind {
        // From the exact solution, not the paper's printed y(0) = 1 (PAPER-NOTES).
        BuiltinKind::PaperBump => vec![bump_solution(0.0)],
        BuiltinKind::PaperKink => vec![1.0],
        BuiltinKind::VanDerPol => vec![2.0, 0.0],
        BuiltinKind::Lorenz => vec![1.0, 1.0, 1.0],
        BuiltinKind::Sir => vec![0.99, 0.01, 0.0],
        BuiltinKind::Freefall => vec![0.0, 0.0],
        BuiltinKind::SpiralCubic => vec![2.0, 0.0],
        BuiltinKind::WhiteDwarf => vec![1.0, 0.0],
        BuiltinKind::LotkaVolterra => vec![10.0, 5.0],
        BuiltinKind::Exponential => vec![1.0],
    }
}

/// A built-in right-hand side with its parameter values (in `BuiltinInfo::params` order).
#[derive(Clone, Debug)]
pub struct BuiltinSystem {
    pub kind: BuiltinKind,
    pub p: Vec<f64>,
}

impl OdeSystem for BuiltinSystem {
    fn dim(&self) -> usize {
        self.kind.info().components.len()
    }

    fn rhs(&self, t: f64, y: &[f64], dy: &mut [f64]) {
        let p = &self.p;
        match self.kind {
            BuiltinKind::PaperBump => {
                // y' = cos t + (2t − 10) e^{−(t−3)(t−7)} / (1 + e^{−(t−3)(t−7)})², written with
                // s = 1/(1+e^{(t−3)(t−7)}) so that large |t| never overflows: e/(1+e)² = s(1−s).
                let s = 1.0 / (1.0 + ((t - 3.0) * (t - 7.0)).exp());
                dy[0] = t.cos() + (2.0 * t - 10.0) * s * (1.0 - s);
            }
            BuiltinKind::PaperKink => {
                let inside = t > 3.0 * PI / 4.0 && t < 5.0 * PI / 4.0;
                dy[0] = if inside { 0.0 } else { -t.sin() };
            }
            BuiltinKind::VanDerPol => {
                dy[0] = y[1];
                dy[1] = p[0] * (1.0 - y[0] * y[0]) * y[1] - y[0];
            }
            BuiltinKind::Lorenz => {
                dy[0] = p[0] * (y[1] - y[0]);
                dy[1] = y[0] * (p[1] - y[2]) - y[1];
                dy[2] = y[0] * y[1] - p[2] * y[2];
            }
            BuiltinKind::Sir => {
                let infection = p[0] * y[0] * y[1];
                let recovery = p[1] * y[1];
                dy[0] = -infection;
                dy[1] = infection - recovery;
                dy[2] = recovery;
            }
            BuiltinKind::Freefall => {
                dy[0] = y[1];
                dy[1] = p[0] - p[1] * y[1];
            }
            BuiltinKind::SpiralCubic => {
                let (c1, c2) = (y[0].powi(3), y[1].powi(3));
                dy[0] = p[0] * c1 + p[2] * c2;
                dy[1] = p[1] * c1 + p[3] * c2;
            }
            BuiltinKind::WhiteDwarf => {
                let c = p[0];
                let density = (y[0] * y[0] - c).max(0.0).powf(1.5);
                dy[0] = y[1];
                dy[1] = if t == 0.0 {
                    // Removable singularity: for the regular solution v ≈ v'(0)·t, so
                    // v' + 2v/t → 3v'(0) = −density.
                    -density / 3.0
                } else {
                    -2.0 * y[1] / t - density
                };
            }
            BuiltinKind::LotkaVolterra => {
                dy[0] = p[0] * y[0] - p[1] * y[0] * y[1];
                dy[1] = p[2] * y[0] * y[1] - p[3] * y[1];
            }
            BuiltinKind::Exponential => {
                dy[0] = p[0] * y[0];
            }
        }
    }
}

/// The exact solution through `(t0, y0)` for the problems that have one.
fn exact_solution(kind: BuiltinKind, p: &[f64], t0: f64, y0: &[f64]) -> Option<ExactFn> {
    let y0 = y0.to_vec();
    match kind {
        BuiltinKind::PaperBump => {
            // Pure quadrature: y(t) = y0 + S(t) − S(t0) with S the stated solution.
            let shift = y0[0] - bump_solution(t0);
            Some(Arc::new(move |t, out: &mut [f64]| {
                out[0] = bump_solution(t) + shift;
            }))
        }
        BuiltinKind::PaperKink => {
            let shift = y0[0] - kink_solution(t0);
            Some(Arc::new(move |t, out: &mut [f64]| {
                out[0] = kink_solution(t) + shift;
            }))
        }
        BuiltinKind::Freefall => {
            let (g, mu) = (p[0], p[1]);
            if mu == 0.0 {
                return Some(Arc::new(move |t, out: &mut [f64]| {
                    let s = t - t0;
                    out[0] = y0[0] + y0[1] * s + 0.5 * g * s * s;
                    out[1] = y0[1] + g * s;
                }));
            }
            // v(t) = g/μ + (v0 − g/μ)e^{−μs}, x(t) = x0 + (g/μ)s + (v0 − g/μ)(1 − e^{−μs})/μ.
            Some(Arc::new(move |t, out: &mut [f64]| {
                let s = t - t0;
                let terminal = g / mu;
                let decay = (-mu * s).exp();
                out[0] = y0[0] + terminal * s + (y0[1] - terminal) * (-(-mu * s).exp_m1()) / mu;
                out[1] = terminal + (y0[1] - terminal) * decay;
            }))
        }
        BuiltinKind::Exponential => {
            let lambda = p[0];
            Some(Arc::new(move |t, out: &mut [f64]| {
                out[0] = y0[0] * (lambda * (t - t0)).exp();
            }))
        }
        _ => None,
    }
}

/// Overrides for a built-in problem; `None` keeps the default.
#[derive(Clone, Debug, Default)]
pub struct BuiltinOverrides {
    pub params: Vec<(String, f64)>,
    pub y0: Option<Vec<f64>>,
    pub t0: Option<f64>,
    pub t_end: Option<f64>,
}

/// Builds a built-in problem by name with the given overrides.
pub fn build(name: &str, overrides: &BuiltinOverrides) -> Result<Problem, ProblemError> {
    let info = info(name).ok_or_else(|| ProblemError::UnknownProblem(name.to_string()))?;
    let mut values: Vec<f64> = info.params.iter().map(|p| p.1).collect();
    for (key, value) in &overrides.params {
        let idx = info.params.iter().position(|p| p.0 == key).ok_or_else(|| {
            ProblemError::UnknownParam {
                problem: name.to_string(),
                param: key.clone(),
                known: if info.params.is_empty() {
                    "none".to_string()
                } else {
                    info.params
                        .iter()
                        .map(|p| p.0)
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            }
        })?;
        if !value.is_finite() {
            return Err(ProblemError::Invalid(format!(
                "parameter {key} must be finite"
            )));
        }
        values[idx] = *value;
    }
    if info.kind == BuiltinKind::WhiteDwarf && !(0.0..1.0).contains(&values[0]) {
        return Err(ProblemError::Invalid(format!(
            "white-dwarf needs 0 <= C < 1 (got {})",
            values[0]
        )));
    }
    let t0 = overrides.t0.unwrap_or(info.t_span.0);
    let t_end = overrides.t_end.unwrap_or(info.t_span.1);
    if info.kind == BuiltinKind::WhiteDwarf && t0 < 0.0 {
        return Err(ProblemError::Invalid(
            "white-dwarf is defined for t >= 0 (t is the scaled radius)".into(),
        ));
    }
    let y0 = overrides
        .y0
        .clone()
        .unwrap_or_else(|| default_y0(info.kind));
    let system = BuiltinSystem {
        kind: info.kind,
        p: values.clone(),
    };
    if y0.len() != system.dim() {
        return Err(ProblemError::Invalid(format!(
            "{name} has {} components ({}) but y0 has {}",
            system.dim(),
            info.components.join(", "),
            y0.len()
        )));
    }
    let exact = exact_solution(info.kind, &values, t0, &y0);
    let problem = Problem {
        name: info.name.to_string(),
        description: info.description.to_string(),
        formula: info.formula.iter().map(|s| s.to_string()).collect(),
        components: info.components.iter().map(|s| s.to_string()).collect(),
        params: info
            .params
            .iter()
            .zip(&values)
            .map(|(p, v)| Param {
                name: p.0.to_string(),
                value: *v,
                meaning: p.2.to_string(),
            })
            .collect(),
        t0,
        t_end,
        y0,
        system: Arc::new(system),
        exact,
    };
    problem.validate()?;
    Ok(problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn central_diff(exact: &ExactFn, t: f64, dim: usize) -> Vec<f64> {
        let h = 1e-5;
        let (mut a, mut b) = (vec![0.0; dim], vec![0.0; dim]);
        exact(t + h, &mut a);
        exact(t - h, &mut b);
        a.iter().zip(&b).map(|(x, y)| (x - y) / (2.0 * h)).collect()
    }

    #[test]
    fn every_kind_has_one_entry() {
        for b in BUILTINS {
            assert_eq!(BUILTINS.iter().filter(|o| o.kind == b.kind).count(), 1);
            assert_eq!(b.kind.info().name, b.name);
            assert_eq!(b.components.len(), b.formula.len(), "{}", b.name);
            assert_eq!(default_y0(b.kind).len(), b.components.len(), "{}", b.name);
        }
    }

    /// The exact solutions really solve the ODE: y'(t) (central differences) = f(t, y(t)).
    #[test]
    fn exact_solutions_satisfy_their_odes() {
        for name in ["paper-bump", "paper-kink", "freefall", "exponential"] {
            let problem = build(
                name,
                &BuiltinOverrides {
                    y0: Some(if name == "freefall" {
                        vec![1.5, -2.0]
                    } else {
                        vec![0.7]
                    }),
                    t0: Some(0.3),
                    ..Default::default()
                },
            )
            .unwrap();
            let exact = problem.exact.clone().unwrap();
            let mut y = vec![0.0; problem.dim()];
            exact(problem.t0, &mut y);
            for (a, b) in y.iter().zip(&problem.y0) {
                assert!((a - b).abs() < 1e-14, "{name}: exact(t0) != y0");
            }
            for k in 0..40 {
                let t = problem.t0 + (problem.t_end - problem.t0) * (k as f64 + 0.37) / 40.0;
                // Skip the kinks of P2, where y' jumps.
                if name == "paper-kink"
                    && ((t - 3.0 * PI / 4.0).abs() < 1e-3 || (t - 5.0 * PI / 4.0).abs() < 1e-3)
                {
                    continue;
                }
                exact(t, &mut y);
                let mut f = vec![0.0; problem.dim()];
                problem.system.rhs(t, &y, &mut f);
                let d = central_diff(&exact, t, problem.dim());
                for i in 0..problem.dim() {
                    assert!(
                        (d[i] - f[i]).abs() < 1e-6 * (1.0 + f[i].abs()),
                        "{name} at t={t}: y'={} f={}",
                        d[i],
                        f[i]
                    );
                }
            }
        }
    }

    #[test]
    fn paper_bump_initial_value_follows_the_exact_solution() {
        let p = build("paper-bump", &BuiltinOverrides::default()).unwrap();
        assert!((p.y0[0] - (1.0 - 7.6e-10)).abs() < 1e-11);
    }

    #[test]
    fn white_dwarf_is_regular_at_the_centre() {
        let p = build("white-dwarf", &BuiltinOverrides::default()).unwrap();
        let mut f0 = [0.0; 2];
        p.system.rhs(0.0, &p.y0, &mut f0);
        // v'(0) = −(1 − C)^{3/2}/3 and the limit from t > 0 along the series solution agrees.
        let g0 = (1.0f64 - 0.01).powf(1.5);
        assert!((f0[1] + g0 / 3.0).abs() < 1e-15);
        let t = 1e-4;
        let series = [1.0 - g0 * t * t / 6.0, -g0 * t / 3.0];
        let mut f = [0.0; 2];
        p.system.rhs(t, &series, &mut f);
        assert!((f[1] - f0[1]).abs() < 1e-6);
    }

    #[test]
    fn unknown_parameter_is_an_error_naming_the_known_ones() {
        let err = build(
            "van-der-pol",
            &BuiltinOverrides {
                params: vec![("nu".into(), 2.0)],
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("mu"), "{err}");
        assert!(build("nope", &BuiltinOverrides::default()).is_err());
    }
}
