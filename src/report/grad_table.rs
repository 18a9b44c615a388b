//! The gradient-method comparison as text, exactly as `nodelab grad` prints it and the app's
//! Gradients workspace copies it: a one-line problem header and the aligned table with the
//! reference line and every warning.

use super::text::{bytes, fmt_num, sci};
use crate::grad::GradProblem;
use crate::grad::measure::{Comparison, MethodRow};

/// One line naming the problem: network, batch, span, solver and loss.
pub fn problem_header(source: &str, p: &GradProblem) -> String {
    let sizes: Vec<String> = p.mlp.sizes.iter().map(ToString::to_string).collect();
    format!(
        "{source}: MLP {} {} ({} parameters), batch {} ({}), t in [{}, {}], {} tol {:e} rtol {:e}, \
         loss {}\n",
        sizes.join("-"),
        p.mlp.activation.name(),
        p.mlp.n_params(),
        p.y0.len(),
        p.batch_steps.name(),
        p.t0,
        p.t1,
        p.solver.method,
        p.solver.tol,
        p.solver.rtol,
        p.loss.kind.name()
    )
}

/// The aligned table, with the reference line and every warning.
pub fn table(c: &Comparison) -> String {
    let r = &c.reference;
    let mut out = format!(
        "reference: {} | loss {} | fd check on {} parameters: max rel diff {}\n",
        r.method,
        fmt_num(r.loss),
        r.fd_checked,
        sci(r.fd_rel_diff)
    );
    let header = [
        "method",
        "loss",
        "err_cont",
        "err_disc",
        "time_ms",
        "stored",
        "peak_heap",
        "nfe_fwd",
        "nfe_bwd",
        "acc/rej",
        "recon_err",
    ];
    let rows: Vec<[String; 11]> = c
        .methods
        .iter()
        .map(|m: &MethodRow| {
            if let Some(e) = &m.error {
                let mut row: [String; 11] = Default::default();
                row[0] = m.method.name().into();
                row[1] = format!("failed: {e}");
                return row;
            }
            [
                m.method.name().into(),
                format!("{:.10e}", m.loss),
                sci(m.err_vs_continuous),
                sci(m.err_vs_discrete),
                format!("{:.3}", m.time_ms),
                bytes(m.stored_bytes),
                bytes(m.peak_heap_bytes),
                m.nfe_forward.to_string(),
                m.nfe_backward.to_string(),
                format!("{}/{}", m.steps_accepted, m.steps_rejected),
                m.reconstruction_error.map_or("-".into(), sci),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            if !cell.starts_with("failed") {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i == 0 {
                s.push_str(&format!("{cell:<w$}", w = widths[0]));
            } else {
                s.push_str(&format!("  {cell:>w$}", w = widths[i]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    out.push_str(&line(&header.map(String::from)));
    for row in &rows {
        out.push_str(&line(row));
    }
    for m in &c.methods {
        for w in &m.warnings {
            out.push_str(&format!("warning ({}): {w}\n", m.method));
        }
    }
    if !crate::mem::is_counting() {
        out.push_str("note: peak_heap is 0: the counting allocator is not installed\n");
    }
    out
}
