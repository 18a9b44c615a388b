//! Runge–Kutta stage code generated from a [`Tableau`] (as [`super::codegen`] generates the
//! MLP): the kernels call these functions instead of carrying their own copies of the stages.
//!
//! For a tableau `p` of s stages (a step `y' = y + h Σ_i b_i K_i`, `K_i = f(t + c_i h, Y_i)`,
//! `Y_i = y + h Σ_{j<i} a_ij K_j`, [`crate::grad::tableau`]) the module gets the tableau as
//! constants `P_C`, `P_B`, `P_A` (s × s row-major) and, as a kernel needs them ([`StageFns`]):
//! - `p_step`: one step with `K_1 = f(t, y)` given (the stages' activations are scratch);
//! - `p_step_kept`: one step keeping every stage's activations (for the reverse sweep);
//! - `p_stages_kept`: `K_1` given, stages 2…s kept with their `K_i` (adaptive afge);
//! - `p_step_vjp`: the reverse sweep through one step (tableau.rs's discrete adjoint):
//!   `K̄_i = h (b_i ā + Σ_{j>i} a_ji Ȳ_j)`, `Ȳ_i = K̄_iᵀ ∂f/∂Y(Y_i)`, θ̄ += `K̄_iᵀ ∂f/∂θ(Y_i)`,
//!   returning `Σ_i Ȳ_i` (the step's `ȳ = ā + Σ_i Ȳ_i`);
//! - `p_adjoint_step`: one step of size `hb` backwards in time of the continuous adjoint's
//!   augmented system `dy/ds = −f(y)`, `da/ds = (∂f/∂y)ᵀa`, `dg/ds = aᵀ∂f/∂θ` (g does not feed
//!   back: its update is the quadrature `Σ_i hb b_i a_iᵀ∂f/∂θ(y_i)`);
//! - `p_sens_column`: one column of the forward sensitivity `S' = J S + ∂f/∂θ_j` over a step
//!   whose stage Jacobians are given (afge.wgsl's `jac_apply`).
//!
//! Coefficients are read from the constants with constant indices; zero entries are left out
//! of the sums here, in Rust, so a tableau's sparsity costs nothing on the device.
//!
//! [`stage_functions`] names the functions after the tableau (`rk4_step`, with exactly s stage
//! slots); [`slotted_functions`] generates any tableau of at most [`SLOTS`] stages under the
//! neutral prefix `rk` (`rk_step`, `RK_B`, …) with [`SLOTS`] stage slots, so that one kernel
//! file calls every [`FixedRk`] the same way (slots past s are unused).

use std::fmt::Write;

use crate::grad::tableau::Tableau;
use crate::solver::Method;

/// Stage slots of the [`slotted_functions`] signatures (RK4's four).
pub const SLOTS: usize = 4;

/// The explicit fixed-step methods the tableau-generic kernels are generated for (the
/// solver's `rk4`, `midpoint`, `euler`; nodelab::solver::fixed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FixedRk {
    #[default]
    Rk4,
    Midpoint,
    Euler,
}

impl FixedRk {
    pub const ALL: [FixedRk; 3] = [FixedRk::Rk4, FixedRk::Midpoint, FixedRk::Euler];

    /// The solver method of this name.
    pub fn method(self) -> Method {
        match self {
            FixedRk::Rk4 => Method::Rk4,
            FixedRk::Midpoint => Method::Midpoint,
            FixedRk::Euler => Method::Euler,
        }
    }

    /// The fixed-step form of a solver method (None: an adaptive method).
    pub fn of_method(method: Method) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.method() == method)
    }

    pub fn tableau(self) -> Tableau {
        match self {
            FixedRk::Rk4 => Tableau::rk4(),
            FixedRk::Midpoint => Tableau::midpoint(),
            FixedRk::Euler => Tableau::euler(),
        }
    }

    pub fn name(self) -> &'static str {
        self.method().name()
    }

    /// Stages s (f-evaluations per step).
    pub fn stages(self) -> u64 {
        match self {
            FixedRk::Rk4 => 4,
            FixedRk::Midpoint => 2,
            FixedRk::Euler => 1,
        }
    }
}

/// Which generated functions a kernel calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageFns {
    pub step: bool,
    pub step_kept: bool,
    pub stages_kept: bool,
    pub step_vjp: bool,
    pub adjoint_step: bool,
    pub sens_column: bool,
}

impl StageFns {
    pub const ALL: StageFns = StageFns {
        step: true,
        step_kept: true,
        stages_kept: true,
        step_vjp: true,
        adjoint_step: true,
        sens_column: true,
    };
}

/// A WGSL float literal of `x` (exact round trip of the f64, rounded to f32 by the compiler).
pub fn literal(x: f64) -> String {
    let s = format!("{x:?}");
    if s.contains('.') || s.contains('e') || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    }
}

/// The generator of one tableau's functions.
struct Gen<'a> {
    tab: &'a Tableau,
    p: &'a str,
    up: String,
    s: usize,
    /// Stage slots of the signatures (s, or [`SLOTS`] for the neutral form).
    slots: usize,
}

impl Gen<'_> {
    fn a(&self, i: usize, j: usize) -> String {
        format!("{}_A[{}u]", self.up, i * self.s + j)
    }

    fn b(&self, i: usize) -> String {
        format!("{}_B[{i}u]", self.up)
    }

    fn c(&self, i: usize) -> String {
        format!("{}_C[{i}u]", self.up)
    }

    /// `Σ_j coef_j · term_j[m]` over the non-zero coefficients (None: all zero).
    fn sum(terms: &[(String, String)]) -> Option<String> {
        (!terms.is_empty()).then(|| {
            terms
                .iter()
                .map(|(c, v)| format!("{c} * {v}[m]"))
                .collect::<Vec<_>>()
                .join(" + ")
        })
    }

    /// Stage i's input `base + h Σ_{j<i} a_ij K_j`, into `dst`, as one loop over m.
    fn stage_input(
        &self,
        i: usize,
        dst: &str,
        base: &str,
        h: &str,
        k: &dyn Fn(usize) -> String,
    ) -> String {
        let terms: Vec<(String, String)> = (0..i)
            .filter(|&j| self.tab.a[i][j] != 0.0)
            .map(|j| (self.a(i, j), k(j)))
            .collect();
        let rhs = match Self::sum(&terms) {
            Some(sum) => format!("{base}[m] + {h} * ({sum})"),
            None => format!("{base}[m]"),
        };
        format!("    for (var m = 0u; m < D; m++) {{\n        {dst}[m] = {rhs};\n    }}\n")
    }

    /// `dst = base + sign · h Σ_i b_i K_i`.
    fn update(
        &self,
        dst: &str,
        base: &str,
        op: &str,
        h: &str,
        k: &dyn Fn(usize) -> String,
    ) -> String {
        let terms: Vec<(String, String)> = (0..self.s)
            .filter(|&i| self.tab.b[i] != 0.0)
            .map(|i| (self.b(i), k(i)))
            .collect();
        let rhs = match Self::sum(&terms) {
            Some(sum) => format!("{base}[m] {op} {h} * ({sum})"),
            None => format!("{base}[m]"),
        };
        format!("    for (var m = 0u; m < D; m++) {{\n        {dst}[m] = {rhs};\n    }}\n")
    }

    /// `t + c_i h` (just `t` for c_i = 0).
    fn time(&self, i: usize, t: &str, op: &str, h: &str) -> String {
        if self.tab.c[i] == 0.0 {
            t.to_string()
        } else {
            format!("{t} {op} {} * {h}", self.c(i))
        }
    }

    /// The signature's stage slots `from..slots`.
    fn params(&self, from: usize, f: impl Fn(usize) -> String) -> String {
        (from..self.slots).map(f).collect::<Vec<_>>().join(", ")
    }

    fn constants(&self, o: &mut String) {
        let s = self.s;
        let list = |v: &[f64]| v.iter().map(|&x| literal(x)).collect::<Vec<_>>().join(", ");
        let a: Vec<f64> = (0..s)
            .flat_map(|i| (0..s).map(move |j| (i, j)))
            .map(|(i, j)| self.tab.a[i].get(j).copied().unwrap_or(0.0))
            .collect();
        let _ = writeln!(
            o,
            "// The {} tableau (nodelab::grad::tableau::Tableau::{}): c, b, a (s × s, row-major).",
            self.tab.name, self.tab.name
        );
        let _ = writeln!(o, "const {}_STAGES: u32 = {s}u;", self.up);
        let _ = writeln!(
            o,
            "const {}_C = array<f32, {s}>({});",
            self.up,
            list(&self.tab.c)
        );
        let _ = writeln!(
            o,
            "const {}_B = array<f32, {s}>({});",
            self.up,
            list(&self.tab.b)
        );
        let _ = writeln!(
            o,
            "const {}_A = array<f32, {}>({});\n",
            self.up,
            s * s,
            list(&a)
        );
    }

    fn step(&self, o: &mut String) {
        let (p, s) = (self.p, self.s);
        let ks = self.params(1, |i| format!("k{}: ptr<function, Vec>", i + 1));
        let sep = if self.slots > 1 { ", " } else { "" };
        let _ = writeln!(
            o,
            "// One {p} step from (t, y) with K_1 = f(t, y) given in k1: the other stages into k2…,\n\
             // y + h Σ b_i K_i into y_new. `act`/`dact` are scratch.\n\
             fn {p}_step(t: f32, h: f32, y: ptr<function, Vec>, k1: ptr<function, Vec>{sep}{ks},\n\
             \x20   act: ptr<function, Store>, dact: ptr<function, Store>, y_new: ptr<function, Vec>) {{\n\
             \x20   var tmp: Vec;"
        );
        let k = |j: usize| format!("(*k{})", j + 1);
        for i in 1..s {
            o.push_str(&self.stage_input(i, "tmp", "(*y)", "h", &k));
            let _ = writeln!(
                o,
                "    mlp_eval({}, &tmp, act, dact, k{});",
                self.time(i, "t", "+", "h"),
                i + 1
            );
        }
        o.push_str(&self.update("(*y_new)", "(*y)", "+", "h", &k));
        o.push_str("}\n\n");
    }

    fn step_kept(&self, o: &mut String) {
        let (p, s) = (self.p, self.s);
        let ad = self.params(0, |i| {
            format!(
                "a{n}: ptr<function, Store>, d{n}: ptr<function, Store>",
                n = i + 1
            )
        });
        let _ = writeln!(
            o,
            "// One {p} step from (t, y) keeping stage i's activations in (a_i, d_i).\n\
             fn {p}_step_kept(t: f32, h: f32, y: ptr<function, Vec>, {ad},\n\
             \x20   y_new: ptr<function, Vec>) {{\n    var tmp: Vec;"
        );
        for i in 0..s {
            let _ = writeln!(o, "    var k{}: Vec;", i + 1);
        }
        let k = |j: usize| format!("k{}", j + 1);
        let _ = writeln!(
            o,
            "    mlp_eval({}, y, a1, d1, &k1);",
            self.time(0, "t", "+", "h")
        );
        for i in 1..s {
            o.push_str(&self.stage_input(i, "tmp", "(*y)", "h", &k));
            let _ = writeln!(
                o,
                "    mlp_eval({}, &tmp, a{n}, d{n}, &k{n});",
                self.time(i, "t", "+", "h"),
                n = i + 1
            );
        }
        o.push_str(&self.update("(*y_new)", "(*y)", "+", "h", &k));
        o.push_str("}\n\n");
    }

    fn stages_kept(&self, o: &mut String) {
        let (p, s) = (self.p, self.s);
        let ad = self.params(1, |i| {
            format!(
                "a{n}: ptr<function, Store>, d{n}: ptr<function, Store>",
                n = i + 1
            )
        });
        let ks = self.params(1, |i| format!("k{}: ptr<function, Vec>", i + 1));
        let mid = if self.slots > 1 {
            format!("\n    {ad},\n    {ks},")
        } else {
            String::new()
        };
        let _ = writeln!(
            o,
            "// Stages 2…s of a {p} step from (t, y) with k1 given, keeping each stage's activations\n\
             // and K_i, and the update.\n\
             fn {p}_stages_kept(t: f32, h: f32, y: ptr<function, Vec>, k1: ptr<function, Vec>,{mid}\n\
             \x20   y_new: ptr<function, Vec>) {{\n    var tmp: Vec;"
        );
        let k = |j: usize| format!("(*k{})", j + 1);
        for i in 1..s {
            o.push_str(&self.stage_input(i, "tmp", "(*y)", "h", &k));
            let _ = writeln!(
                o,
                "    mlp_eval({}, &tmp, a{n}, d{n}, k{n});",
                self.time(i, "t", "+", "h"),
                n = i + 1
            );
        }
        o.push_str(&self.update("(*y_new)", "(*y)", "+", "h", &k));
        o.push_str("}\n\n");
    }

    /// Stages whose cotangent can be non-zero: b_i ≠ 0 or a_ji ≠ 0 for a later live stage j.
    fn live(&self) -> Vec<bool> {
        let s = self.s;
        let mut live = vec![false; s];
        for i in (0..s).rev() {
            live[i] =
                self.tab.b[i] != 0.0 || (i + 1..s).any(|j| live[j] && self.tab.a[j][i] != 0.0);
        }
        live
    }

    fn step_vjp(&self, o: &mut String) {
        let (p, s) = (self.p, self.s);
        let ad = self.params(0, |i| {
            format!(
                "a{n}: ptr<function, Store>, d{n}: ptr<function, Store>",
                n = i + 1
            )
        });
        let _ = writeln!(
            o,
            "// The reverse sweep through one {p} step whose stages are kept in (a_i, d_i):\n\
             // K̄_i = h (b_i ā + Σ_{{j>i}} a_ji Ȳ_j), Ȳ_i = K̄_iᵀ ∂f/∂Y_i, g += K̄_iᵀ ∂f/∂θ (stage i).\n\
             // Returns Σ_i Ȳ_i: the step's ȳ is ā plus it.\n\
             fn {p}_step_vjp(h: f32, {ad},\n\
             \x20   abar: ptr<function, Vec>, g: ptr<function, Grad>) -> Vec {{\n    var c: Vec;\n    var sum: Vec;"
        );
        let live = self.live();
        for i in 0..s {
            if live[i] {
                let _ = writeln!(o, "    var yb{}: Vec;", i + 1);
            }
        }
        o.push_str("    for (var m = 0u; m < D; m++) {\n        sum[m] = 0.0;\n    }\n");
        for i in (0..s).rev() {
            if !live[i] {
                continue;
            }
            let mut terms = Vec::new();
            if self.tab.b[i] != 0.0 {
                terms.push((self.b(i), "(*abar)".to_string()));
            }
            for j in i + 1..s {
                if live[j] && self.tab.a[j][i] != 0.0 {
                    terms.push((self.a(j, i), format!("yb{}", j + 1)));
                }
            }
            let sum = Self::sum(&terms).unwrap_or_else(|| "0.0".into());
            let n = i + 1;
            let _ = writeln!(
                o,
                "    for (var m = 0u; m < D; m++) {{\n        c[m] = h * ({sum});\n    }}\n    \
                 mlp_vjp(a{n}, d{n}, &c, 1.0, g, &yb{n});\n    \
                 for (var m = 0u; m < D; m++) {{\n        sum[m] += yb{n}[m];\n    }}"
            );
        }
        o.push_str("    return sum;\n}\n\n");
    }

    fn adjoint_step(&self, o: &mut String) {
        let (p, s) = (self.p, self.s);
        let _ = writeln!(
            o,
            "// One {p} step of size hb from t backwards of the augmented system dy/ds = −f(y),\n\
             // da/ds = (∂f/∂y)ᵀa, dg/ds = aᵀ∂f/∂θ (s = T − t); g accumulates Σ_i hb b_i a_iᵀ∂f/∂θ(y_i).\n\
             fn {p}_adjoint_step(t: f32, hb: f32, y: ptr<function, Vec>, a: ptr<function, Vec>,\n\
             \x20   g: ptr<function, Grad>) {{\n    var act: Store;\n    var dact: Store;\n    var ys: Vec;\n    var as_: Vec;"
        );
        for i in 0..s {
            let _ = writeln!(o, "    var f{n}: Vec;\n    var ja{n}: Vec;", n = i + 1);
        }
        let f = |j: usize| format!("f{}", j + 1);
        let ja = |j: usize| format!("ja{}", j + 1);
        for i in 0..s {
            // ys = y − hb Σ a_ij f_j, as = a + hb Σ a_ij ja_j.
            let neg: Vec<(String, String)> = (0..i)
                .filter(|&j| self.tab.a[i][j] != 0.0)
                .map(|j| (self.a(i, j), f(j)))
                .collect();
            let pos: Vec<(String, String)> = (0..i)
                .filter(|&j| self.tab.a[i][j] != 0.0)
                .map(|j| (self.a(i, j), ja(j)))
                .collect();
            let (ys, as_) = match (Self::sum(&neg), Self::sum(&pos)) {
                (Some(n), Some(q)) => (
                    format!("(*y)[m] - hb * ({n})"),
                    format!("(*a)[m] + hb * ({q})"),
                ),
                _ => ("(*y)[m]".to_string(), "(*a)[m]".to_string()),
            };
            let n = i + 1;
            let scale = if self.tab.b[i] == 0.0 {
                "0.0".to_string()
            } else {
                format!("hb * {}", self.b(i))
            };
            let _ = writeln!(
                o,
                "    for (var m = 0u; m < D; m++) {{\n        ys[m] = {ys};\n        as_[m] = {as_};\n    }}\n    \
                 mlp_eval({}, &ys, &act, &dact, &f{n});\n    \
                 mlp_vjp(&act, &dact, &as_, {scale}, g, &ja{n});",
                self.time(i, "t", "-", "hb")
            );
        }
        o.push_str(&self.update("(*y)", "(*y)", "-", "hb", &f));
        o.push_str(&self.update("(*a)", "(*a)", "+", "hb", &ja));
        o.push_str("}\n\n");
    }

    fn sens_column(&self, o: &mut String) {
        let (p, s) = (self.p, self.s);
        let aj = self.params(0, |i| {
            format!(
                "a{n}: ptr<function, Store>, j{n}: ptr<function, Jac>",
                n = i + 1
            )
        });
        let _ = writeln!(
            o,
            "// Column θ_j of the sensitivity S' = J S + ∂f/∂θ_j over one {p} step whose stages'\n\
             // activations and Jacobians are (a_i, j_i): K_i = J_i u_i + G_i[:, goff]·x_i with\n\
             // u_i = col + h Σ a_ik K_k and x_i the stage's layer input `xc` (1 for a bias);\n\
             // col + h Σ b_i K_i into `out`.\n\
             fn {p}_sens_column(h: f32, col: ptr<function, Vec>, goff: u32, bias: bool, xc: u32,\n\
             \x20   {aj},\n    out: ptr<function, Vec>) {{\n    var u: Vec;"
        );
        for i in 0..s {
            let _ = writeln!(o, "    var kk{}: Vec;", i + 1);
        }
        let k = |j: usize| format!("kk{}", j + 1);
        for i in 0..s {
            o.push_str(&self.stage_input(i, "u", "(*col)", "h", &k));
            let _ = writeln!(
                o,
                "    jac_apply(j{n}, &u, goff, select((*a{n})[xc], 1.0, bias), &kk{n});",
                n = i + 1
            );
        }
        o.push_str(&self.update("(*out)", "(*col)", "+", "h", &k));
        o.push_str("}\n\n");
    }
}

/// The WGSL of `tab`'s constants and the functions `fns` asks for, named after the tableau
/// (`rk4_step`, …). The tableau must be explicit with `c_1 = 0`.
pub fn stage_functions(tab: &Tableau, fns: StageFns) -> Result<String, String> {
    generate(tab, fns, tab.name, tab.stages())
}

/// [`stage_functions`] under the neutral prefix `rk` (`rk_step`, `RK_B`, …) with [`SLOTS`]
/// stage slots in every signature, slots past the tableau's s unused: the form the
/// tableau-generic kernels call. At most [`SLOTS`] stages.
pub fn slotted_functions(tab: &Tableau, fns: StageFns) -> Result<String, String> {
    if tab.stages() > SLOTS {
        return Err(format!(
            "the {} tableau has {} stages; the kernels have {SLOTS} stage slots",
            tab.name,
            tab.stages()
        ));
    }
    generate(tab, fns, "rk", SLOTS)
}

fn generate(tab: &Tableau, fns: StageFns, p: &str, slots: usize) -> Result<String, String> {
    let s = tab.stages();
    if s == 0
        || tab.c.len() != s
        || tab.a.len() != s
        || tab.a.iter().enumerate().any(|(i, row)| row.len() != i)
        || tab.c[0] != 0.0
    {
        return Err(format!(
            "the {} tableau is not an explicit one with c_1 = 0",
            tab.name
        ));
    }
    let g = Gen {
        tab,
        p,
        up: p.to_uppercase(),
        s,
        slots,
    };
    let mut o = String::new();
    g.constants(&mut o);
    if fns.step {
        g.step(&mut o);
    }
    if fns.step_kept {
        g.step_kept(&mut o);
    }
    if fns.stages_kept {
        g.stages_kept(&mut o);
    }
    if fns.step_vjp {
        g.step_vjp(&mut o);
    }
    if fns.adjoint_step {
        g.adjoint_step(&mut o);
    }
    if fns.sens_column {
        g.sens_column(&mut o);
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::shader::{Shape, specialise_common};
    use crate::nn::{Activation, Mlp};

    fn tableaus() -> Vec<Tableau> {
        vec![
            Tableau::rk4(),
            Tableau::midpoint(),
            Tableau::euler(),
            Tableau::dopri5(),
        ]
    }

    /// The generated module of `tab` (every function) after the loop-form common block and a
    /// `jac_apply` of afge.wgsl's signature, parsed and validated by naga.
    fn module(tab: &Tableau) -> (String, naga::Module) {
        module_of(tab.name, &stage_functions(tab, StageFns::ALL).unwrap())
    }

    /// The generated functions `generated` in a module as [`module`] builds it, validated.
    fn module_of(name: &str, generated: &str) -> (String, naga::Module) {
        let mlp = Mlp::random(&[2, 8, 2], Activation::Tanh, false, 1.0, 1);
        let common = specialise_common(&Shape::of(&mlp)).unwrap();
        let src = format!(
            "{common}\n{generated}\nfn jac_apply(jac: ptr<function, Jac>, u: ptr<function, Vec>, goff: u32, \
             x: f32, k: ptr<function, Vec>) {{\n    (*k)[0] = (*jac)[goff] * x + (*u)[0];\n}}\n"
        );
        let module = naga::front::wgsl::parse_str(&src)
            .unwrap_or_else(|e| panic!("{}: {}", name, e.emit_to_string(&src)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::default(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}: {}", name, e.emit_to_string(&src)));
        (src, module)
    }

    /// The numbers of the constant array `name`, as naga evaluated them.
    fn const_array(module: &naga::Module, name: &str) -> Vec<f32> {
        let (_, c) = module
            .constants
            .iter()
            .find(|(_, c)| c.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no constant {name}"));
        let number = |h: naga::Handle<naga::Expression>| match module.global_expressions[h] {
            naga::Expression::Literal(naga::Literal::F32(v)) => v,
            naga::Expression::Literal(naga::Literal::AbstractFloat(v)) => v as f32,
            ref e => panic!("{name}: not a number: {e:?}"),
        };
        match &module.global_expressions[c.init] {
            naga::Expression::Compose { components, .. } => {
                components.iter().map(|&h| number(h)).collect()
            }
            e => panic!("{name}: not an array: {e:?}"),
        }
    }

    /// The WGSL constants are the tableau's coefficients (to f32), for several tableaus; the
    /// functions use exactly the non-zero ones.
    #[test]
    fn generated_constants_are_the_tableau() {
        for tab in tableaus() {
            let (src, module) = module(&tab);
            let up = tab.name.to_uppercase();
            let s = tab.stages();
            let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
            assert_eq!(
                const_array(&module, &format!("{up}_C")),
                f32s(&tab.c),
                "{up} c"
            );
            assert_eq!(
                const_array(&module, &format!("{up}_B")),
                f32s(&tab.b),
                "{up} b"
            );
            let a = const_array(&module, &format!("{up}_A"));
            assert_eq!(a.len(), s * s);
            for i in 0..s {
                for j in 0..s {
                    let want = tab.a[i].get(j).copied().unwrap_or(0.0);
                    assert_eq!(a[i * s + j], want as f32, "{up} a[{i}][{j}]");
                    let used = src.contains(&format!("{up}_A[{}u]", i * s + j));
                    assert_eq!(used, want != 0.0, "{up} a[{i}][{j}] used: {used}");
                }
            }
            for (i, &b) in tab.b.iter().enumerate() {
                assert_eq!(
                    src.contains(&format!("{up}_B[{i}u]")),
                    b != 0.0,
                    "{up} b[{i}]"
                );
            }
            // One evaluation per stage: K_1 given to `_step`, every stage in `_step_kept`.
            let step = &src[src.find(&format!("fn {}_step(", tab.name)).unwrap()..];
            let step = &step[..step.find("\n}\n").unwrap()];
            assert_eq!(step.matches("mlp_eval(").count(), s - 1, "{up}");
        }
    }

    /// The neutral form: every fixed-step tableau validates under the same signatures (four
    /// stage slots), its constants are the tableau's, `rk_step` evaluates s − 1 stages; a
    /// tableau of more stages than slots (dopri5) is refused.
    #[test]
    fn slotted_functions_share_one_signature() {
        let signature = |src: &str, f: &str| {
            let from = src.find(&format!("fn {f}(")).unwrap();
            let rest = &src[from..];
            rest[..rest.find('{').unwrap()].to_string()
        };
        let fns = [
            "rk_step",
            "rk_step_kept",
            "rk_stages_kept",
            "rk_step_vjp",
            "rk_adjoint_step",
            "rk_sens_column",
        ];
        let mut first: Option<Vec<String>> = None;
        for rk in FixedRk::ALL {
            let tab = rk.tableau();
            assert_eq!(tab.stages() as u64, rk.stages());
            assert_eq!(FixedRk::of_method(rk.method()), Some(rk));
            let generated = slotted_functions(&tab, StageFns::ALL).unwrap();
            let (src, module) = module_of(tab.name, &generated);
            let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
            assert_eq!(const_array(&module, "RK_B"), f32s(&tab.b), "{}", tab.name);
            assert_eq!(const_array(&module, "RK_C"), f32s(&tab.c), "{}", tab.name);
            let step = &src[src.find("fn rk_step(").unwrap()..];
            let step = &step[..step.find("\n}\n").unwrap()];
            assert_eq!(step.matches("mlp_eval(").count(), tab.stages() - 1);
            let sigs: Vec<String> = fns.iter().map(|f| signature(&src, f)).collect();
            assert!(sigs[0].contains("k4: ptr<function, Vec>"), "{}", sigs[0]);
            match &first {
                None => first = Some(sigs),
                Some(f) => assert_eq!(f, &sigs, "{}", tab.name),
            }
        }
        assert_eq!(FixedRk::of_method(Method::Dopri5), None);
        assert!(slotted_functions(&Tableau::dopri5(), StageFns::ALL).is_err());
    }

    #[test]
    fn implicit_or_shifted_tableaus_are_refused() {
        let mut t = Tableau::rk4();
        t.c[0] = 0.5;
        assert!(stage_functions(&t, StageFns::ALL).is_err());
        let mut t = Tableau::rk4();
        t.a[1].push(0.1);
        assert!(stage_functions(&t, StageFns::ALL).is_err());
    }

    #[test]
    fn literals_are_wgsl_floats() {
        assert_eq!(literal(1.0), "1.0");
        assert_eq!(literal(0.0), "0.0");
        assert_eq!(literal(-2.0), "-2.0");
        assert_eq!(literal(0.5), "0.5");
        assert_eq!(literal(1.0 / 6.0).parse::<f64>().unwrap(), 1.0 / 6.0);
    }
}
