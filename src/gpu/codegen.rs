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

/// `theta[w0 + r·n_in + c]·x[c] + …` over c, as one expression.
fn dot_row(w0: usize, n_in: usize, r: usize, x: impl Fn(usize) -> String) -> String {
    (0..n_in)
        .map(|c| format!("theta[{}u] * {}", w0 + r * n_in + c, x(c)))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// The three functions, unrolled for `shape`.
pub fn mlp_functions(shape: &Shape) -> String {
    let lay = shape;
    let mut o = String::new();
    eval_fn(lay, &mut o);
    vjp_fn(lay, &mut o);
    jvp_fn(lay, &mut o);
    jac_fn(lay, &mut o);
    o
}

fn eval_fn(lay: &Shape, o: &mut String) {
    let (nl, d) = (lay.n_layers(), lay.dim);
    o.push_str(
        "// f(t, y) into `f`, activations into (act, dact): straight-line form.\n\
         fn mlp_eval(t: f32, y: ptr<function, Vec>, act: ptr<function, Store>,\n\
         \x20           dact: ptr<function, Store>, f: ptr<function, Vec>) {\n",
    );
    for i in 0..d {
        let _ = writeln!(*o, "    (*act)[{i}u] = (*y)[{i}u];");
    }
    if lay.time_input {
        let _ = writeln!(*o, "    (*act)[{d}u] = t;");
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
        let _ = writeln!(*o, "    (*vy)[{i}u] = cot[{i}u];");
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
        let _ = writeln!(*o, "    tng[{i}u] = (*u)[{i}u];");
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
            let _ = writeln!(*o, "    (*jac)[{}u] = cot[{c}u];", i * d + c);
        }
    }
    o.push_str("}\n\n");
}
