//! The solve worker: one named thread per solver run. It builds the problem (which may read a
//! weights file), drives [`Stepper::attempt`](crate::solver::Stepper::attempt) and streams the
//! attempted steps to the UI in batches over a bounded channel, requesting a repaint after each
//! message. After the solve it keeps the problem and answers probe requests (the true f along a
//! step, the vector field of the phase portrait) until the UI drops the run.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::time::{Duration, Instant};

use egui_plot::PlotPoint;

use super::protocol::{FieldGrid, ProbeResult, ProblemInfo, SolveMsg, SolveRequest};
use crate::preset::{ProblemSpec, build_problem};
use crate::problem::Problem;
use crate::solver::{self, Dense, SolverConfig, StepEvent};

/// Capacity of the worker → UI channel, in messages (each up to [`BATCH`] steps).
pub const CHANNEL_CAPACITY: usize = 64;
/// Most steps per message.
pub const BATCH: usize = 256;
/// Samples of the exact solution over the span.
const EXACT_SAMPLES: usize = 2000;
/// τ samples of a probe.
pub const PROBE_SAMPLES: usize = 41;
/// Arrows per side of the vector-field grid.
pub const FIELD_GRID: usize = 21;

/// RK4 substeps per τ interval of the probe's reference solution.
pub const REFERENCE_SUBSTEPS: usize = 8;

/// One classical RK4 step of `problem` from `(t, y)` by `h`, in place.
fn rk4_substep(problem: &Problem, t: f64, y: &mut [f64], h: f64, k: &mut [Vec<f64>; 5]) {
    let d = y.len();
    let [k1, k2, k3, k4, tmp] = k;
    problem.system.rhs(t, y, k1);
    for i in 0..d {
        tmp[i] = y[i] + 0.5 * h * k1[i];
    }
    problem.system.rhs(t + 0.5 * h, tmp, k2);
    for i in 0..d {
        tmp[i] = y[i] + 0.5 * h * k2[i];
    }
    problem.system.rhs(t + 0.5 * h, tmp, k3);
    for i in 0..d {
        tmp[i] = y[i] + h * k3[i];
    }
    problem.system.rhs(t + h, tmp, k4);
    for i in 0..d {
        y[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
    }
}

/// The UI's end of a solve worker. Dropping it cancels the solve and ends the thread.
pub struct SolveHandle {
    pub rx: Receiver<SolveMsg>,
    requests: SyncSender<SolveRequest>,
    cancel: Arc<AtomicBool>,
}

impl SolveHandle {
    /// Sends a request; a full queue drops it (the UI asks again when it still needs it).
    pub fn request(&self, r: SolveRequest) -> bool {
        self.requests.try_send(r).is_ok()
    }
}

impl Drop for SolveHandle {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

/// Starts a worker for one solver on the problem `spec` (relative paths against `base_dir`).
/// `repaint` is called after every message (the app passes `ctx.request_repaint()`).
pub fn spawn(
    spec: ProblemSpec,
    base_dir: PathBuf,
    config: SolverConfig,
    repaint: Arc<dyn Fn() + Send + Sync>,
) -> std::io::Result<SolveHandle> {
    let (tx, rx) = mpsc::sync_channel(CHANNEL_CAPACITY);
    let (req_tx, req_rx) = mpsc::sync_channel(8);
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    std::thread::Builder::new()
        .name(format!("solve-{}", config.method))
        .spawn(move || {
            let out = Outbox { tx, repaint };
            run(&spec, &base_dir, &config, &out, &req_rx, &flag);
        })?;
    Ok(SolveHandle {
        rx,
        requests: req_tx,
        cancel,
    })
}

struct Outbox {
    tx: SyncSender<SolveMsg>,
    repaint: Arc<dyn Fn() + Send + Sync>,
}

impl Outbox {
    /// Sends and asks for a repaint; `false` when the UI dropped the run.
    fn send(&self, m: SolveMsg) -> bool {
        let ok = self.tx.send(m).is_ok();
        (self.repaint)();
        ok
    }
}

fn run(
    spec: &ProblemSpec,
    base_dir: &std::path::Path,
    config: &SolverConfig,
    out: &Outbox,
    requests: &Receiver<SolveRequest>,
    cancel: &AtomicBool,
) {
    let problem = match build_problem(spec, base_dir) {
        Ok(p) => p,
        Err((_, msg)) => {
            out.send(SolveMsg::Invalid(msg));
            return;
        }
    };
    let mut stepper = match solver::stepper(&problem, config) {
        Ok(s) => s,
        Err(e) => {
            out.send(SolveMsg::Invalid(e.to_string()));
            return;
        }
    };
    let info = ProblemInfo {
        name: problem.name.clone(),
        components: problem.components.clone(),
        formula: problem.formula.clone(),
        t0: problem.t0,
        t_end: problem.t_end,
        y0: problem.y0.clone(),
        has_exact: problem.exact.is_some(),
    };
    if !out.send(SolveMsg::Started(info)) {
        return;
    }
    if let Some(curve) = exact_curve(&problem) {
        out.send(SolveMsg::Exact(curve));
    }
    let mut exact_buf = vec![0.0; problem.dim()];
    let mut batch = Vec::with_capacity(BATCH);
    let mut errors = Vec::with_capacity(BATCH);
    let mut last_send = Instant::now();
    let finished = loop {
        if cancel.load(Ordering::Relaxed) {
            return;
        }
        match stepper.attempt() {
            StepEvent::Step(r) => {
                errors.push(problem.exact.as_ref().map(|exact| {
                    exact(r.t + r.h, &mut exact_buf);
                    r.y.iter()
                        .zip(&exact_buf)
                        .map(|(a, b)| (a - b).abs())
                        .fold(0.0, f64::max)
                }));
                batch.push(r);
            }
            StepEvent::Done => break None,
            StepEvent::Failed(e) => break Some(e),
        }
        // Small batches at first so that the first steps appear at once.
        if batch.len() >= BATCH || last_send.elapsed() > Duration::from_millis(15) {
            let msg = SolveMsg::Steps(std::mem::take(&mut batch), std::mem::take(&mut errors));
            if !out.send(msg) {
                return;
            }
            last_send = Instant::now();
            serve_pending(&problem, requests, out);
        }
    };
    if !batch.is_empty() && !out.send(SolveMsg::Steps(batch, errors)) {
        return;
    }
    // A batch of initial states: the steps above are the first sample's; the others are
    // solved too (before `Finished`, so that a finished run has all of its samples).
    if let Some(crate::preset::StateSpec::Batch(samples)) = &spec.y0
        && samples.len() > 1
    {
        let mut trajectories = Vec::with_capacity(samples.len() - 1);
        for y0 in &samples[1..] {
            if cancel.load(Ordering::Relaxed) {
                return;
            }
            trajectories.push(sample_trajectory(&problem, config, y0));
        }
        if !out.send(SolveMsg::Batch(trajectories)) {
            return;
        }
    }
    if !out.send(SolveMsg::Finished {
        nfev: stepper.nfev(),
        warnings: stepper.warnings(),
        error: finished,
    }) {
        return;
    }
    // Serve probes until the UI drops the run.
    loop {
        if cancel.load(Ordering::Relaxed) {
            return;
        }
        match requests.recv_timeout(Duration::from_millis(200)) {
            Ok(r) => {
                if !answer(&problem, r, out) {
                    return;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// The accepted step boundaries, per component, of a solve from `y0` (empty when the state
/// has the wrong dimension or the settings are unusable; a failed solve keeps its steps).
fn sample_trajectory(problem: &Problem, config: &SolverConfig, y0: &[f64]) -> Vec<Vec<PlotPoint>> {
    if y0.len() != problem.dim() {
        return Vec::new();
    }
    let mut p = problem.clone();
    p.y0 = y0.to_vec();
    let Ok(sol) = solver::solve(&p, config) else {
        return Vec::new();
    };
    let mut out: Vec<Vec<PlotPoint>> = y0.iter().map(|v| vec![PlotPoint::new(p.t0, *v)]).collect();
    for r in sol.records.iter().filter(|r| r.accepted) {
        for (c, v) in r.y.iter().enumerate() {
            out[c].push(PlotPoint::new(r.t + r.h, *v));
        }
    }
    out
}

fn serve_pending(problem: &Problem, requests: &Receiver<SolveRequest>, out: &Outbox) {
    loop {
        match requests.try_recv() {
            Ok(r) => {
                answer(problem, r, out);
            }
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
        }
    }
}

fn answer(problem: &Problem, r: SolveRequest, out: &Outbox) -> bool {
    match r {
        SolveRequest::Probe {
            record,
            t,
            h,
            y_start,
            y_end,
            dense,
        } => match probe(problem, record, t, h, &y_start, &y_end, &dense) {
            Some(p) => out.send(SolveMsg::Probe(p)),
            None => true,
        },
        SolveRequest::Field {
            axes,
            bounds,
            fixed,
        } => out.send(SolveMsg::Field(field(problem, axes, bounds, &fixed))),
    }
}

/// The exact solution at [`EXACT_SAMPLES`] times, per component.
fn exact_curve(problem: &Problem) -> Option<Vec<Vec<PlotPoint>>> {
    let exact = problem.exact.as_ref()?;
    let mut y = vec![0.0; problem.dim()];
    let mut curve = vec![Vec::with_capacity(EXACT_SAMPLES); problem.dim()];
    for k in 0..EXACT_SAMPLES {
        let t = problem.t0 + (problem.t_end - problem.t0) * k as f64 / (EXACT_SAMPLES - 1) as f64;
        exact(t, &mut y);
        for (c, v) in y.iter().enumerate() {
            curve[c].push(PlotPoint::new(t, *v));
        }
    }
    Some(curve)
}

/// p(τ) = a0 + a1 τ + a2 τ² (paper eq. 15) and f(t + τh, q(τ)) along the dense solution.
pub fn probe(
    problem: &Problem,
    record: usize,
    t: f64,
    h: f64,
    y_start: &[f64],
    y_end: &[f64],
    dense: &Dense,
) -> Option<ProbeResult> {
    let coeffs = dense.coefficients()?;
    let d = y_start.len();
    let tau: Vec<f64> = (0..PROBE_SAMPLES)
        .map(|k| k as f64 / (PROBE_SAMPLES - 1) as f64)
        .collect();
    let mut q = vec![0.0; d];
    let mut f = vec![0.0; d];
    let mut p = vec![Vec::with_capacity(PROBE_SAMPLES); d];
    let mut f_true = vec![Vec::with_capacity(PROBE_SAMPLES); d];
    let mut q_at = vec![Vec::with_capacity(PROBE_SAMPLES); d];
    let mut reference = vec![Vec::with_capacity(PROBE_SAMPLES); d];
    let mut y_ref = y_start.to_vec();
    let mut work: [Vec<f64>; 5] = std::array::from_fn(|_| vec![0.0; d]);
    let sub = h / ((PROBE_SAMPLES - 1) * REFERENCE_SUBSTEPS) as f64;
    for (k, &s) in tau.iter().enumerate() {
        if k > 0 {
            for j in 0..REFERENCE_SUBSTEPS {
                let ts = t + (tau[k - 1] * h) + j as f64 * sub;
                rk4_substep(problem, ts, &mut y_ref, sub, &mut work);
            }
        }
        dense.eval(y_start, y_end, h, s, &mut q);
        problem.system.rhs(t + s * h, &q, &mut f);
        for c in 0..d {
            p[c].push(coeffs[c] + coeffs[d + c] * s + coeffs[2 * d + c] * s * s);
            f_true[c].push(f[c]);
            q_at[c].push(q[c]);
            reference[c].push(y_ref[c]);
        }
    }
    Some(ProbeResult {
        record,
        t,
        h,
        tau,
        p,
        f_true,
        q: q_at,
        reference,
    })
}

/// The axis index that stands for t: a field over `(T_AXIS, c)` is the slope field of a scalar
/// problem in the (t, y_c) plane.
pub const T_AXIS: usize = usize::MAX;

/// Arrows of f over a grid, each scaled to 0.8 of a grid cell at the strongest arrow's length
/// (with a square-root compression so weak regions stay visible).
pub fn field(
    problem: &Problem,
    axes: (usize, usize),
    bounds: [f64; 4],
    fixed: &[f64],
) -> FieldGrid {
    let [x0, x1, y0, y1] = bounds;
    let n = FIELD_GRID;
    let (dx, dy) = ((x1 - x0) / n as f64, (y1 - y0) / n as f64);
    let mut y = fixed.to_vec();
    let mut f = vec![0.0; problem.dim()];
    let mut raw = Vec::with_capacity(n * n);
    for i in 0..n {
        for j in 0..n {
            let (px, py) = (x0 + (i as f64 + 0.5) * dx, y0 + (j as f64 + 0.5) * dy);
            let (t, u_dt) = if axes.0 == T_AXIS {
                (px, 1.0)
            } else {
                y[axes.0] = px;
                (problem.t0, f64::NAN)
            };
            let Some(slot) = y.get_mut(axes.1) else {
                continue;
            };
            *slot = py;
            problem.system.rhs(t, &y, &mut f);
            // Lengths in cell units, so that both axes are comparable.
            let u = if axes.0 == T_AXIS { u_dt } else { f[axes.0] };
            let (u, v) = (u / dx, f[axes.1] / dy);
            raw.push((px, py, u, v));
        }
    }
    let max = raw
        .iter()
        .map(|r| r.2.hypot(r.3))
        .filter(|m| m.is_finite())
        .fold(0.0f64, f64::max);
    let mut origins = Vec::with_capacity(raw.len());
    let mut tips = Vec::with_capacity(raw.len());
    for (px, py, u, v) in raw {
        let m = u.hypot(v);
        if !(m.is_finite() && m > 0.0 && max > 0.0) {
            continue;
        }
        // A slope field shows directions only: every segment has the same length.
        let len = if axes.0 == T_AXIS {
            0.7 / m
        } else {
            0.8 * (m / max).sqrt() / m
        };
        origins.push(PlotPoint::new(px, py));
        tips.push(PlotPoint::new(px + u * len * dx, py + v * len * dy));
    }
    FieldGrid {
        axes,
        bounds,
        origins,
        tips,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::builtin::{self, BuiltinOverrides};
    use crate::solver::Method;

    #[test]
    fn probe_p_matches_f_at_the_step_start() {
        // p(0) = a0 = f(t_n, y_n) for RK4 (paper eq. 15: a0 is k1).
        let problem = builtin::build("van-der-pol", &BuiltinOverrides::default()).unwrap();
        let config = SolverConfig {
            method: Method::ZcRk4,
            tol: 1e-4,
            ..SolverConfig::default()
        };
        let sol = solver::solve(&problem, &config).unwrap();
        let (start, r) = sol.accepted_steps().nth(3).unwrap();
        let p = probe(&problem, 3, r.t, r.h, start, &r.y, &r.dense).unwrap();
        let mut f0 = vec![0.0; 2];
        problem.system.rhs(r.t, start, &mut f0);
        for c in 0..2 {
            assert!(
                (p.p[c][0] - f0[c]).abs() < 1e-12,
                "{} vs {}",
                p.p[c][0],
                f0[c]
            );
            assert!((p.f_true[c][0] - f0[c]).abs() < 1e-12);
            // Along a small step p and f agree closely.
            let worst = p.p[c]
                .iter()
                .zip(&p.f_true[c])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(worst < 1e-2, "component {c}: {worst}");
        }
    }

    #[test]
    fn field_arrows_point_along_f() {
        let problem = builtin::build("van-der-pol", &BuiltinOverrides::default()).unwrap();
        let g = field(&problem, (0, 1), [-3.0, 3.0, -3.0, 3.0], &[0.0, 0.0]);
        assert!(g.origins.len() > 400);
        let mut f = vec![0.0; 2];
        for (o, t) in g.origins.iter().zip(&g.tips) {
            problem.system.rhs(0.0, &[o.x, o.y], &mut f);
            let (u, v) = (t.x - o.x, t.y - o.y);
            let cos = (u * f[0] + v * f[1]) / (u.hypot(v) * f[0].hypot(f[1]));
            assert!(cos > 0.999, "{cos}");
        }
    }
}
