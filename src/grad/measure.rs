//! Measuring one method on one problem: median wall time over repeats after a warm-up, and the
//! heap high-water mark of one call from the counting allocator ([`crate::mem`]; 0 when the
//! allocator is not installed, i.e. outside the `nodelab` binary).

use std::time::Instant;

use serde::Serialize;

use super::{GradError, GradMethod, GradOptions, GradOutput, GradProblem, compute};

/// One measured call.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measured {
    pub output: GradOutput,
    /// Median wall time of the timed repeats, milliseconds.
    pub time_ms: f64,
    pub repeats: usize,
    /// Peak heap bytes above the baseline during one call (0 when not counting).
    pub peak_heap_bytes: usize,
}

/// Runs `method` once to warm up (measuring its heap peak), then `repeats` timed times.
pub fn measure(
    p: &GradProblem,
    method: GradMethod,
    opts: &GradOptions,
    repeats: usize,
) -> Result<Measured, GradError> {
    let (first, peak) = crate::mem::peak_during(|| compute(p, method, opts));
    let output = first?;
    let mut times = Vec::with_capacity(repeats.max(1));
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        let out = compute(p, method, opts)?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(out);
    }
    times.sort_by(f64::total_cmp);
    let n = times.len();
    let median = if n % 2 == 1 {
        times[n / 2]
    } else {
        0.5 * (times[n / 2 - 1] + times[n / 2])
    };
    Ok(Measured {
        output,
        time_ms: median,
        repeats: n,
        peak_heap_bytes: peak,
    })
}

/// One method's row of a comparison (`nodelab grad --json`, `methods[]`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MethodRow {
    pub method: GradMethod,
    pub loss: f64,
    pub grad: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readout_grad: Option<Vec<f64>>,
    /// Relative l2 error against the continuous reference.
    pub err_vs_continuous: f64,
    /// Relative l2 error against the exact derivative of the method's own forward map.
    pub err_vs_discrete: f64,
    pub time_ms: f64,
    pub repeats: usize,
    pub stored_bytes: usize,
    pub peak_heap_bytes: usize,
    pub nfe_forward: u64,
    pub nfe_backward: u64,
    pub steps_accepted: usize,
    pub steps_rejected: usize,
    pub reconstruction_error: Option<f64>,
    pub warnings: Vec<String>,
    /// Set when the method failed (the numbers are then NaN / 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Every requested method on one problem, with the references.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    pub reference: super::reference::Reference,
    pub methods: Vec<MethodRow>,
}

/// Measures `methods` on `p` (`repeats` timed calls each; `fd` once) against the continuous
/// reference (fd-checked on `fd_params` parameters) and each method's discrete reference.
/// A failing method gives a row with `error` set; a failing reference is an error.
pub fn compare(
    p: &GradProblem,
    methods: &[GradMethod],
    opts: &GradOptions,
    repeats: usize,
    fd_params: usize,
) -> Result<Comparison, GradError> {
    compare_with(
        p,
        methods,
        opts,
        repeats,
        fd_params,
        &Settings {
            reference_tol: super::reference::DEFAULT_TOL,
            on_stage: &|_| {},
        },
    )
}

/// What [`compare_with`] does beyond [`compare`]: the reference's tolerance, and a callback
/// told each stage before it starts (`reference`, then each method's name), for progress.
pub struct Settings<'a> {
    pub reference_tol: f64,
    pub on_stage: &'a dyn Fn(&str),
}

/// [`compare`] with [`Settings`].
pub fn compare_with(
    p: &GradProblem,
    methods: &[GradMethod],
    opts: &GradOptions,
    repeats: usize,
    fd_params: usize,
    settings: &Settings<'_>,
) -> Result<Comparison, GradError> {
    (settings.on_stage)("reference");
    let reference = super::reference::continuous_at(p, fd_params, settings.reference_tol)?;
    let mut backprop: Option<Result<Vec<f64>, GradError>> = None;
    let mut rows = Vec::with_capacity(methods.len());
    for &method in methods {
        (settings.on_stage)(method.name());
        let reps = if method == GradMethod::Fd { 1 } else { repeats };
        let row = match measure(p, method, opts, reps) {
            Ok(m) => {
                let shares_backprop = !method.is_reversible()
                    && !(method == GradMethod::Afge
                        && (opts.afge_control == super::AfgeControl::Augmented
                            || opts.afge_solver.is_some()));
                let discrete = if shares_backprop {
                    backprop
                        .get_or_insert_with(|| {
                            super::reference::discrete(p, GradMethod::Backprop, opts)
                        })
                        .clone()
                } else {
                    super::reference::discrete(p, method, opts)
                };
                let (err_c, err_d) = match &discrete {
                    Ok(d) => super::reference::errors(&m.output.grad, &reference.grad, d),
                    Err(_) => (super::rel_l2(&m.output.grad, &reference.grad), f64::NAN),
                };
                let mut warnings = m.output.warnings.clone();
                if let Err(e) = &discrete {
                    warnings.push(format!("no discrete reference: {e}"));
                }
                MethodRow {
                    method,
                    loss: m.output.loss,
                    grad: m.output.grad,
                    readout_grad: m.output.readout_grad,
                    err_vs_continuous: err_c,
                    err_vs_discrete: err_d,
                    time_ms: m.time_ms,
                    repeats: m.repeats,
                    stored_bytes: m.output.stored_bytes,
                    peak_heap_bytes: m.peak_heap_bytes,
                    nfe_forward: m.output.nfe_forward,
                    nfe_backward: m.output.nfe_backward,
                    steps_accepted: m.output.steps_accepted,
                    steps_rejected: m.output.steps_rejected,
                    reconstruction_error: m.output.reconstruction_error,
                    warnings,
                    error: None,
                }
            }
            Err(e) => MethodRow {
                method,
                loss: f64::NAN,
                grad: Vec::new(),
                readout_grad: None,
                err_vs_continuous: f64::NAN,
                err_vs_discrete: f64::NAN,
                time_ms: f64::NAN,
                repeats: 0,
                stored_bytes: 0,
                peak_heap_bytes: 0,
                nfe_forward: 0,
                nfe_backward: 0,
                steps_accepted: 0,
                steps_rejected: 0,
                reconstruction_error: None,
                warnings: Vec::new(),
                error: Some(e.to_string()),
            },
        };
        rows.push(row);
    }
    Ok(Comparison {
        reference,
        methods: rows,
    })
}
