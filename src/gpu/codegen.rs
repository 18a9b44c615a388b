//! Straight-line WGSL for one MLP shape: `mlp_eval`, `mlp_vjp` and `mlp_jvp` of
//! shaders/common.wgsl with every loop over layers, rows and columns unrolled.
//!
//! Constant indices let the shader compiler keep the activation stores and the gradient
//! accumulator in registers and fold every weight address (the specialisation cubecl calls
//! comptime). It also keeps the kernels within software drivers' loop budgets: lavapipe stops
//! an invocation's loops after 65 535 iterations in total, which the loop form of these
//! functions exceeds within a few steps of a gradient kernel.

use std::fmt::Write;

use super::layout::{LayerSlots, Shape};
use crate::nn::InputMap;

/// `theta[w0 + r·n_in + c]·x[c] + …` over c, as one expression.
fn dot_row(w0: usize, n_in: usize, r: usize, x: impl Fn(usize) -> String) -> String {
    (0..n_in)
        .map(|c| format!("theta[{}u] * {}", w0 + r * n_in + c, x(c)))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// The input map's `m(y_i)` (nodelab::nn::InputMap: the field is `MLP(m(y))`).
fn map_apply(map: InputMap, i: usize) -> String {
    match map {
        InputMap::Identity => format!("(*y)[{i}u]"),
        InputMap::Cube => format!("(*y)[{i}u] * (*y)[{i}u] * (*y)[{i}u]"),
    }
}

/// `m'(y_i)` (None: the identity's 1), kept by `mlp_eval` in `dact[i]`.
fn map_derivative(map: InputMap, i: usize) -> Option<String> {
    match map {
        InputMap::Identity => None,
        InputMap::Cube => Some(format!("3.0 * (*y)[{i}u] * (*y)[{i}u]")),
    }
}

/// The chain rule's factor `· m'(y_i)` on the state's cotangent or tangent i.
fn map_chain(map: InputMap, i: usize) -> String {
    if map.is_identity() {
        String::new()
    } else {
        format!(" * (*dact)[{i}u]")
    }
}

/// The functions, unrolled for `shape`: `mlp_eval`, `mlp_vjp`, `mlp_jvp`, `mlp_jac` of the
/// plain field, or, for a density shape ([`Shape::trace`]), `mlp_eval` and `mlp_vjp` of the
/// CNF's augmented field ([`trace_eval_fn`], [`trace_vjp_fn`]; no kernel that runs a density
/// shape calls the other two).
pub fn mlp_functions(shape: &Shape) -> String {
    let lay = shape;
    let mut o = String::new();
    if lay.trace {
        trace_eval_fn(lay, &mut o);
        trace_vjp_fn(lay, &mut o);
        return o;
    }
    eval_fn(lay, &mut o);
    vjp_fn(lay, &mut o);
    jvp_fn(lay, &mut o);
    jac_fn(lay, &mut o);
    o
}

/// `mlp_eval`'s signature (after the comment line `what`) and its input layer: the state's
/// `d` components, then t when the model takes it. Shared by the plain and the trace form.
fn eval_head(lay: &Shape, d: usize, what: &str, o: &mut String) {
    let _ = writeln!(
        *o,
        "// {what}\n\
         fn mlp_eval(t: f32, y: ptr<function, Vec>, act: ptr<function, Store>,\n\
         \x20           dact: ptr<function, Store>, f: ptr<function, Vec>) {{"
    );
    for i in 0..d {
        let _ = writeln!(*o, "    (*act)[{i}u] = {};", map_apply(lay.input_map, i));
        // m'(y_i) in the input's unused dact slot, for the chain rule of vjp / jvp / jac.
        if let Some(dm) = map_derivative(lay.input_map, i) {
            let _ = writeln!(*o, "    (*dact)[{i}u] = {dm};");
        }
    }
    if lay.time_input {
        let _ = writeln!(*o, "    (*act)[{d}u] = t;");
    }
}

fn eval_fn(lay: &Shape, o: &mut String) {
    let (nl, d) = (lay.n_layers(), lay.dim);
    eval_head(
        lay,
        d,
        "f(t, y) into `f`, activations into (act, dact): straight-line form.",
        o,
    );
    for l in 0..nl {
        let LayerSlots {
            n_in,
            n_out,
            w0,
            b0,
            xi,
            xo,
        } = lay.layer(l);
        for r in 0..n_out {
            let dot = dot_row(w0, n_in, r, |c| format!("(*act)[{}u]", xi + c));
            let _ = writeln!(*o, "    {{\n        let z = theta[{}u] + {dot};", b0 + r);
            if l + 1 < nl {
                let _ = writeln!(
                    o,
                    "        let s = act_apply(z);\n        (*act)[{k}u] = s;\n        \
                     (*dact)[{k}u] = act_deriv(z, s);\n    }}",
                    k = xo + r
                );
            } else {
                let _ = writeln!(
                    o,
                    "        (*act)[{}u] = z;\n        (*f)[{r}u] = z;\n    }}",
                    xo + r
                );
            }
        }
    }
    o.push_str("}\n\n");
}

fn vjp_fn(lay: &Shape, o: &mut String) {
    let (nl, d) = (lay.n_layers(), lay.dim);
    o.push_str(
        "// vy = vᵀ ∂f/∂y and g += scale · vᵀ ∂f/∂θ: straight-line form.\n\
         fn mlp_vjp(act: ptr<function, Store>, dact: ptr<function, Store>, v: ptr<function, Vec>,\n\
         \x20          scale: f32, g: ptr<function, Grad>, vy: ptr<function, Vec>) {\n\
         \x20   var cot: Wide;\n    var prev: Wide;\n",
    );
    for i in 0..d {
        let _ = writeln!(*o, "    cot[{i}u] = (*v)[{i}u];");
    }
    for l in (0..nl).rev() {
        let LayerSlots {
            n_in,
            n_out,
            w0,
            b0,
            xi,
            xo,
        } = lay.layer(l);
        if l + 1 < nl {
            for r in 0..n_out {
                let _ = writeln!(*o, "    cot[{r}u] *= (*dact)[{}u];", xo + r);
            }
        }
        for r in 0..n_out {
            let _ = writeln!(
                o,
                "    {{\n        let gr = scale * cot[{r}u];\n        (*g)[{}u] += gr;",
                b0 + r
            );
            for c in 0..n_in {
                let _ = writeln!(
                    o,
                    "        (*g)[{}u] += gr * (*act)[{}u];",
                    w0 + r * n_in + c,
                    xi + c
                );
            }
            o.push_str("    }\n");
        }
        // Layer 0's input cotangent is only needed for the state part (not for t).
        let n_back = if l == 0 { d } else { n_in };
        for c in 0..n_back {
            let sum = (0..n_out)
                .map(|r| format!("theta[{}u] * cot[{r}u]", w0 + r * n_in + c))
                .collect::<Vec<_>>()
                .join(" + ");
            let _ = writeln!(*o, "    prev[{c}u] = {sum};");
        }
        for c in 0..n_back {
            let _ = writeln!(*o, "    cot[{c}u] = prev[{c}u];");
        }
    }
    for i in 0..d {
        let chain = map_chain(lay.input_map, i);
        let _ = writeln!(*o, "    (*vy)[{i}u] = cot[{i}u]{chain};");
    }
    o.push_str("}\n\n");
}

fn jvp_fn(lay: &Shape, o: &mut String) {
    let (nl, d) = (lay.n_layers(), lay.dim);
    o.push_str(
        "// res = ∂f/∂y · u + ∂f/∂θ_j: straight-line form (one dynamic index, θ_j's own term).\n\
         fn mlp_jvp(act: ptr<function, Store>, dact: ptr<function, Store>, u: ptr<function, Vec>,\n\
         \x20          j: u32, res: ptr<function, Vec>) {\n\
         \x20   var tng: Wide;\n    var nxt: Wide;\n",
    );
    for i in 0..d {
        let chain = map_chain(lay.input_map, i);
        let _ = writeln!(*o, "    tng[{i}u] = (*u)[{i}u]{chain};");
    }
    if lay.time_input {
        let _ = writeln!(*o, "    tng[{d}u] = 0.0;");
    }
    for l in 0..nl {
        let LayerSlots {
            n_in,
            n_out,
            w0,
            b0,
            xi,
            xo,
        } = lay.layer(l);
        for r in 0..n_out {
            let dot = dot_row(w0, n_in, r, |c| format!("tng[{c}u]"));
            let _ = writeln!(*o, "    nxt[{r}u] = {dot};");
        }
        let _ = writeln!(
            o,
            "    if j >= {w0}u && j < {b0}u {{\n        let q = j - {w0}u;\n        \
             nxt[q / {n_in}u] += (*act)[{xi}u + q % {n_in}u];\n    }} else if j >= {b0}u && \
             j < {e}u {{\n        nxt[j - {b0}u] += 1.0;\n    }}",
            e = b0 + n_out
        );
        for r in 0..n_out {
            if l + 1 < nl {
                let _ = writeln!(*o, "    tng[{r}u] = nxt[{r}u] * (*dact)[{}u];", xo + r);
            } else {
                let _ = writeln!(*o, "    tng[{r}u] = nxt[{r}u];");
            }
        }
    }
    for i in 0..d {
        let _ = writeln!(*o, "    (*res)[{i}u] = tng[{i}u];");
    }
    o.push_str("}\n\n");
}

fn jac_fn(lay: &Shape, o: &mut String) {
    let (nl, d) = (lay.n_layers(), lay.dim);
    let n0 = lay.sizes[0];
    let out_total: usize = lay.sizes[1..].iter().sum();
    o.push_str(
        "// J = ∂f/∂y and every G_l = ∂f/∂z_l: straight-line form.\n\
         fn mlp_jac(act: ptr<function, Store>, dact: ptr<function, Store>, jac: ptr<function, Jac>) {\n\
         \x20   var cot: Wide;\n    var prev: Wide;\n",
    );
    for i in 0..d {
        for r in 0..lay.sizes[nl] {
            let _ = writeln!(
                *o,
                "    cot[{r}u] = {};",
                if r == i { "1.0" } else { "0.0" }
            );
        }
        for l in (0..nl).rev() {
            let LayerSlots {
                n_in,
                n_out,
                w0,
                xo,
                ..
            } = lay.layer(l);
            for r in 0..n_out {
                if l + 1 < nl {
                    let _ = writeln!(*o, "    cot[{r}u] *= (*dact)[{}u];", xo + r);
                }
                let _ = writeln!(
                    *o,
                    "    (*jac)[{}u] = cot[{r}u];",
                    d * d + i * out_total + xo - n0 + r
                );
            }
            let n_back = if l == 0 { d } else { n_in };
            for c in 0..n_back {
                let sum = (0..n_out)
                    .map(|r| format!("theta[{}u] * cot[{r}u]", w0 + r * n_in + c))
                    .collect::<Vec<_>>()
                    .join(" + ");
                let _ = writeln!(*o, "    prev[{c}u] = {sum};");
            }
            for c in 0..n_back {
                let _ = writeln!(*o, "    cot[{c}u] = prev[{c}u];");
            }
        }
        for c in 0..d {
            let chain = map_chain(lay.input_map, c);
            let _ = writeln!(*o, "    (*jac)[{}u] = cot[{c}u]{chain};", i * d + c);
        }
    }
    o.push_str("}\n\n");
}

/// Tangent channel j of layer l's input, column c, in the trace form: `u^j_{0,c} = δ_cj` at
/// the input (identity input map: m' = 1; the time column's tangent is 0), else the stored
/// `u^j_{l,c}` (None: a structural zero).
fn tangent_in(lay: &Shape, l: usize, j: usize, c: usize) -> Option<String> {
    if l == 0 {
        (c == j).then(|| "1.0".to_string())
    } else {
        let a = lay.act_total();
        Some(format!("(*act)[{}u]", (1 + j) * a + lay.layer(l).xi + c))
    }
}

/// `ȧ^j_r = Σ_c W_rc u^j_c` of layer l (row r, channel j), as one expression.
fn tangent_dot(lay: &Shape, l: usize, r: usize, j: usize) -> String {
    let LayerSlots { n_in, w0, .. } = lay.layer(l);
    let terms: Vec<String> = (0..n_in)
        .filter_map(|c| {
            tangent_in(lay, l, j, c).map(|u| {
                let w = format!("theta[{}u]", w0 + r * n_in + c);
                if u == "1.0" { w } else { format!("{w} * {u}") }
            })
        })
        .collect();
    if terms.is_empty() {
        "0.0".into()
    } else {
        terms.join(" + ")
    }
}

/// The CNF's augmented field `[f(t, z), tr ∂f/∂z]` (nodelab::nn::trace, the CPU reference):
/// d forward-mode tangent channels `u^j = ∂x_l/∂z_j` ride along the activations. Per hidden
/// layer `a = W x + b`, `ȧ^j = W u^j`, `x' = σ(a)`, `u'^j = σ'(a) ∘ ȧ^j`; at the output
/// `f = W x + b` and `tr = Σ_j (W u^j)_j`. Store layout (A = one channel's `act_total`):
/// `act` holds channel 0 (x) at 0 and channel 1 + j (u^j of the hidden layers) at (1 + j)·A;
/// `dact` holds σ'(a) at 0 and ȧ^j at (1 + j)·A, at the hidden layers' output offsets.
fn trace_eval_fn(lay: &Shape, o: &mut String) {
    let (nl, d, a) = (lay.n_layers(), lay.net_dim(), lay.act_total());
    eval_head(
        lay,
        d,
        "[f(t, z), tr ∂f/∂z] into `f`, activations and tangents into (act, dact): trace form.",
        o,
    );
    for l in 0..nl {
        let LayerSlots {
            n_in,
            n_out,
            w0,
            b0,
            xi,
            xo,
        } = lay.layer(l);
        for r in 0..n_out {
            let dot = dot_row(w0, n_in, r, |c| format!("(*act)[{}u]", xi + c));
            let _ = writeln!(*o, "    {{\n        let z = theta[{}u] + {dot};", b0 + r);
            if l + 1 < nl {
                let k = xo + r;
                let _ = writeln!(
                    o,
                    "        let s = act_apply(z);\n        (*act)[{k}u] = s;\n        \
                     let ds = act_deriv(z, s);\n        (*dact)[{k}u] = ds;"
                );
                for j in 0..d {
                    let m = (1 + j) * a + k;
                    let _ = writeln!(
                        o,
                        "        let a{j} = {};\n        (*dact)[{m}u] = a{j};\n        \
                         (*act)[{m}u] = ds * a{j};",
                        tangent_dot(lay, l, r, j)
                    );
                }
                o.push_str("    }\n");
            } else {
                let _ = writeln!(
                    o,
                    "        (*act)[{}u] = z;\n        (*f)[{r}u] = z;\n    }}",
                    xo + r
                );
            }
        }
    }
    let tr = (0..d)
        .map(|j| format!("({})", tangent_dot(lay, nl - 1, j, j)))
        .collect::<Vec<_>>()
        .join(" + ");
    let _ = writeln!(*o, "    (*f)[{d}u] = {tr};");
    o.push_str("}\n\n");
}

/// `vy = vᵀ ∂F/∂Y` and `g += scale · vᵀ ∂F/∂θ` of the augmented field F at the point stored by
/// [`trace_eval_fn`], v = [v_z, v_ℓ] (nodelab::nn::trace's reverse pass): at the output the
/// bars are `f̄ = v_z`, `ḟ̄^j = v_ℓ e_j`; per layer `W̄ += ḡ xᵀ + Σ_j ḡ^j u^jᵀ`, `b̄ += ḡ`,
/// `x̄ = Wᵀ ḡ`, `ū^j = Wᵀ ḡ^j`; through a hidden σ `ā = σ' ∘ x̄ + σ'' ∘ Σ_j ȧ^j ∘ ū^j` and
/// `ǡ^j = σ' ∘ ū^j` (σ'' from `act_deriv2`); at the input `z̄ = x̄` (identity map) and `ℓ̄ = 0`.
/// The cotangents are channel-major in `cot`: channel k at k·MAX_W.
fn trace_vjp_fn(lay: &Shape, o: &mut String) {
    let (nl, d, a) = (lay.n_layers(), lay.net_dim(), lay.act_total());
    let mw = lay.sizes.iter().copied().max().unwrap_or(1);
    let ch = lay.channels();
    let _ = writeln!(
        *o,
        "// vy = vᵀ ∂F/∂Y and g += scale · vᵀ ∂F/∂θ of the augmented field: trace form.\n\
         fn mlp_vjp(act: ptr<function, Store>, dact: ptr<function, Store>, v: ptr<function, Vec>,\n\
         \x20          scale: f32, g: ptr<function, Grad>, vy: ptr<function, Vec>) {{\n\
         \x20   var cot: array<f32, {n}>;\n    var prev: array<f32, {n}>;\n    let vl = (*v)[{d}u];",
        n = ch * mw
    );
    for i in 0..d {
        let _ = writeln!(*o, "    cot[{i}u] = (*v)[{i}u];");
    }
    // Channel j's cotangent at row r of layer l's output (None: a structural zero).
    let cot_j = |l: usize, j: usize, r: usize| -> Option<String> {
        if l + 1 == nl {
            (r == j).then(|| "vl".to_string())
        } else {
            Some(format!("cot[{}u]", (1 + j) * mw + r))
        }
    };
    for l in (0..nl).rev() {
        let LayerSlots {
            n_in,
            n_out,
            w0,
            b0,
            xi,
            ..
        } = lay.layer(l);
        for r in 0..n_out {
            let _ = writeln!(
                o,
                "    {{\n        let gr = scale * cot[{r}u];\n        (*g)[{}u] += gr;",
                b0 + r
            );
            let gj: Vec<Option<String>> = (0..d).map(|j| cot_j(l, j, r)).collect();
            for (j, c) in gj.iter().enumerate() {
                if let Some(c) = c {
                    let _ = writeln!(*o, "        let g{j} = scale * {c};");
                }
            }
            for c in 0..n_in {
                let mut e = format!("gr * (*act)[{}u]", xi + c);
                for (j, cj) in gj.iter().enumerate() {
                    if cj.is_none() {
                        continue;
                    }
                    match tangent_in(lay, l, j, c).as_deref() {
                        None => {}
                        Some("1.0") => e.push_str(&format!(" + g{j}")),
                        Some(u) => e.push_str(&format!(" + g{j} * {u}")),
                    }
                }
                let _ = writeln!(*o, "        (*g)[{}u] += {e};", w0 + r * n_in + c);
            }
            o.push_str("    }\n");
        }
        let col_sum = |c: usize, cot: &dyn Fn(usize) -> Option<String>| -> String {
            let terms: Vec<String> = (0..n_out)
                .filter_map(|r| cot(r).map(|v| format!("theta[{}u] * {v}", w0 + r * n_in + c)))
                .collect();
            if terms.is_empty() {
                "0.0".into()
            } else {
                terms.join(" + ")
            }
        };
        if l == 0 {
            for i in 0..d {
                let sum = col_sum(i, &|r| Some(format!("cot[{r}u]")));
                let _ = writeln!(*o, "    (*vy)[{i}u] = {sum};");
            }
            let _ = writeln!(*o, "    (*vy)[{d}u] = 0.0;");
            break;
        }
        for c in 0..n_in {
            let sum = col_sum(c, &|r| Some(format!("cot[{r}u]")));
            let _ = writeln!(*o, "    prev[{c}u] = {sum};");
            for j in 0..d {
                let sum = col_sum(c, &|r| cot_j(l, j, r));
                let _ = writeln!(*o, "    prev[{}u] = {sum};", (1 + j) * mw + c);
            }
        }
        // Through the σ of hidden layer l − 1, whose outputs are this layer's inputs.
        for c in 0..n_in {
            let k = xi + c;
            let mix = (0..d)
                .map(|j| {
                    format!(
                        "(*dact)[{}u] * prev[{}u]",
                        (1 + j) * a + k,
                        (1 + j) * mw + c
                    )
                })
                .collect::<Vec<_>>()
                .join(" + ");
            let _ = writeln!(
                o,
                "    {{\n        let ds = (*dact)[{k}u];\n        \
                 cot[{c}u] = ds * prev[{c}u] + act_deriv2((*act)[{k}u], ds) * ({mix});"
            );
            for j in 0..d {
                let _ = writeln!(
                    o,
                    "        cot[{m}u] = ds * prev[{m}u];",
                    m = (1 + j) * mw + c
                );
            }
            o.push_str("    }\n");
        }
    }
    o.push_str("}\n\n");
}
