//! `nodelab grad --device gpu`: the GPU kernels on a gradient preset, each next to the CPU f64
//! engine's gradient of the same method on the same fixed-step schedule.

use crate::grad::field::FieldKind;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::context::GpuContext;
use super::engine::GpuSolver;
use super::stages::FixedRk;
use super::{AdaptiveSettings, FixedSchedule, GpuGradMethod, GpuObjective};
use crate::grad::{self, BatchSteps, GradMethod, GradOptions, GradProblem};
use crate::solver::{self, Method, SolverConfig};

/// One method's GPU result.
#[derive(Clone, Debug, Serialize)]
pub struct GpuGradRow {
    pub method: String,
    pub loss: f64,
    pub grad: Vec<f64>,
    /// dL/d(read-out) of cross-entropy (weight row-major, then bias).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readout_grad: Option<Vec<f64>>,
    /// Relative l2 distance to the CPU f64 gradient of the same method and schedule.
    pub err_vs_cpu: f64,
    /// The same for the read-out gradient (cross-entropy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readout_err_vs_cpu: Option<f64>,
    /// Relative l2 distance to the CPU f64 `backprop` gradient (the discrete reference).
    pub err_vs_discrete: f64,
    /// Median wall time of the whole call (upload, dispatches, readback).
    pub time_ms: f64,
    pub gpu_bytes: u64,
    /// What the CPU f64 method stores for its backward pass (`stored_bytes` of `nodelab grad`).
    pub cpu_stored_bytes: usize,
    pub nfe_forward: u64,
    pub nfe_backward: u64,
    pub steps: u32,
    pub reconstruction_error: Option<f64>,
}

/// A method the GPU could not run on this problem, and why.
#[derive(Clone, Debug, Serialize)]
pub struct GpuGradFailure {
    pub method: String,
    pub error: String,
}

/// One method's outcome: a result, or the reason there is none (never a wrong number).
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum GpuGradOutcome {
    Row(GpuGradRow),
    Failed(GpuGradFailure),
}

/// The GPU form of a gradient problem.
pub struct GpuProblem {
    /// The loss and its data (targets at the observation times, or labels and read-out).
    pub objective: GpuObjective,
    pub y0: Vec<f64>,
    pub schedule: FixedSchedule,
    /// The CPU problem with the GPU's solver (fixed-step RK4 on the same schedule).
    pub cpu: GradProblem,
    /// A zc-rk4 preset with per-sample stepping: `afge` then runs the adaptive kernel on the
    /// preset's own solver settings, against the CPU afge of the preset problem itself.
    pub adaptive: Option<(AdaptiveSettings, GradProblem)>,
    pub warnings: Vec<String>,
}

impl GpuProblem {
    /// GPU gradients run fixed-step RK4: the preset's step for `rk4`, otherwise as many steps
    /// as the preset's solver accepts on the longest sample (said in a warning). Every loss of
    /// `nodelab grad` is supported; a trajectory loss splits the solve at its observation
    /// times as the CPU engine does.
    pub fn from_grad_problem(p: &GradProblem) -> Result<Self, GradCommandError> {
        use GradCommandError::{Failed, Usage};
        p.validate()?;
        let objective = GpuObjective::from_loss(&p.loss).map_err(Usage)?;
        let mut warnings = Vec::new();
        let span = p.t1 - p.t0;
        // A fixed-step solver runs as it is; an adaptive one as RK4 with its step count.
        let rk = FixedRk::of_method(p.solver.method).unwrap_or(FixedRk::Rk4);
        let h = if FixedRk::of_method(p.solver.method).is_some() {
            p.solver.h0.unwrap_or(span / 1000.0)
        } else {
            let mut most = 1;
            for y0 in &p.y0 {
                let problem = crate::problem::neural::build(p.mlp.clone(), y0.clone(), p.t0, p.t1)
                    .map_err(|e| Usage(e.to_string()))?;
                let sol = solver::solve(&problem, &p.solver).map_err(|e| Usage(e.to_string()))?;
                // A forward solve that fails is a failed computation, as on the CPU.
                if let Some(e) = &sol.error {
                    return Err(Failed(format!(
                        "forward solve with {} failed: {e}",
                        p.solver.method
                    )));
                }
                most = most.max(sol.accepted());
            }
            warnings.push(format!(
                "GPU gradients use fixed-step RK4: {most} steps, as many as the {} solve \
                 accepted on the longest sample",
                p.solver.method.name()
            ));
            span / most as f64
        };
        let schedule = FixedSchedule::new(p.t0, p.t1, Some(h))
            .map_err(|e| Usage(e.to_string()))?
            .with_rk(rk);
        let adaptive = (p.solver.method == Method::ZcRk4 && p.batch_steps == BatchSteps::PerSample)
            .then(|| {
                warnings.push(
                    "afge runs the per-sample adaptive zc-rk4 kernel with the preset's solver \
                     settings (steps controlled on y)"
                        .to_string(),
                );
                (
                    AdaptiveSettings::from_config(&p.solver, p.t0, p.t1),
                    p.clone(),
                )
            });
        let mut cpu = p.clone();
        cpu.solver = SolverConfig {
            method: rk.method(),
            h0: Some(h),
            ..SolverConfig::default()
        };
        Ok(Self {
            objective,
            y0: p.y0.iter().flatten().copied().collect(),
            schedule,
            cpu,
            adaptive,
            warnings,
        })
    }
}

/// Runs `methods` on the GPU (one warm-up, then the median of `repeats` calls) and compares
/// each with the CPU f64 engine. A method the GPU cannot run on this problem (its kernel
/// does not take this loss, or the adapter refuses the size) is a [`GpuGradOutcome::Failed`]
/// with the reason; the other methods still run.
pub fn grad_rows(
    solver: &mut GpuSolver,
    gp: &GpuProblem,
    methods: &[GpuGradMethod],
    repeats: usize,
) -> Result<Vec<GpuGradOutcome>, GradCommandError> {
    use GradCommandError::Failed;
    solver
        .set_objective(&gp.y0, &gp.objective)
        .map_err(|e| Failed(e.to_string()))?;
    let opts = GradOptions::default();
    let discrete = grad::compute(&gp.cpu, GradMethod::Backprop, &opts)?;
    let loss = gp.objective.loss;
    let mut rows = Vec::new();
    for &m in methods {
        let adaptive = gp.adaptive.as_ref().filter(|_| m == GpuGradMethod::Afge);
        let call = |solver: &mut GpuSolver| match adaptive {
            Some((set, _)) => solver.afge_adaptive(set, loss),
            None => solver.gradient(m, &gp.schedule, loss),
        };
        let mut out = match call(solver) {
            Ok(out) => out,
            Err(e) => {
                rows.push(GpuGradOutcome::Failed(GpuGradFailure {
                    method: m.name().to_string(),
                    error: e.to_string(),
                }));
                continue;
            }
        };
        let mut times = Vec::new();
        for _ in 0..repeats.max(1) {
            let start = Instant::now();
            out = call(solver).map_err(|e| Failed(e.to_string()))?;
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        let cpu_problem = adaptive.map_or(&gp.cpu, |(_, p)| p);
        let cpu = grad::compute(cpu_problem, m.cpu(), &opts)?;
        // Fixed steps: every sample's count; adaptive: the longest sample's.
        let steps = out.stats.iter().map(|s| s.accepted).max().unwrap_or(0);
        let readout_err_vs_cpu = match (&out.readout_grad, &cpu.readout_grad) {
            (Some(g), Some(c)) => Some(grad::rel_l2(g, c)),
            _ => None,
        };
        rows.push(GpuGradOutcome::Row(GpuGradRow {
            method: m.name().to_string(),
            loss: out.loss,
            err_vs_cpu: grad::rel_l2(&out.grad, &cpu.grad),
            err_vs_discrete: grad::rel_l2(&out.grad, &discrete.grad),
            grad: out.grad,
            readout_grad: out.readout_grad,
            readout_err_vs_cpu,
            time_ms: times[times.len() / 2],
            gpu_bytes: out.gpu_bytes,
            cpu_stored_bytes: cpu.stored_bytes,
            nfe_forward: out.nfe_forward,
            nfe_backward: out.nfe_backward,
            steps,
            reconstruction_error: matches!(
                m,
                GpuGradMethod::Adjoint
                    | GpuGradMethod::Alf
                    | GpuGradMethod::ReversibleHeun
                    | GpuGradMethod::ReversibleRk4
                    | GpuGradMethod::ReversibleMidpoint
            )
            .then_some(out.recon_err),
        }));
    }
    Ok(rows)
}

/// Parses `all` or a comma-separated list of GPU method names.
pub fn parse_methods(list: &str) -> Result<Vec<GpuGradMethod>, String> {
    if list.trim() == "all" {
        return Ok(GpuGradMethod::ALL.to_vec());
    }
    list.split(',')
        .map(|name| {
            let name = name.trim();
            GpuGradMethod::parse(name).ok_or_else(|| {
                format!(
                    "no GPU kernel for the method '{name}' (GPU methods: {})",
                    GpuGradMethod::ALL.map(|m| m.name()).join(", ")
                )
            })
        })
        .collect()
}

/// How `nodelab grad --device gpu` failed, with the CLI's exit codes: bad input or no usable
/// adapter (2), or a computation that failed, such as a forward solve that blew up (1) — the
/// same codes as the CPU path.
#[derive(Clone, Debug, PartialEq)]
pub enum GradCommandError {
    Usage(String),
    Failed(String),
}

impl From<crate::grad::GradError> for GradCommandError {
    fn from(e: crate::grad::GradError) -> Self {
        match e {
            crate::grad::GradError::Invalid(m) => GradCommandError::Usage(m),
            crate::grad::GradError::Solve(m) => GradCommandError::Failed(m),
        }
    }
}

/// The GPU table or JSON, and whether any method failed (exit 1, as on the CPU).
pub struct GradCommandOutput {
    pub text: String,
    pub any_failed: bool,
}

/// The whole `nodelab grad PRESET --device gpu` command. Without an adapter it fails (exit 2)
/// rather than quietly running somewhere else: `--device cpu` is the CPU path.
pub fn grad_command(
    preset: &Path,
    methods: &str,
    repeats: usize,
    json: bool,
) -> Result<GradCommandOutput, GradCommandError> {
    use GradCommandError::{Failed, Usage};
    let loaded = crate::preset::Preset::load(preset).map_err(|e| Usage(e.to_string()))?;
    let problem = loaded
        .build_grad_problem()
        .map_err(|e| Usage(e.to_string()))?;
    let methods = parse_methods(methods).map_err(Usage)?;
    let gp = GpuProblem::from_grad_problem(&problem)?;
    let ctx = GpuContext::headless().map_err(|e| match e {
        super::GpuError::NoAdapter(_) => Usage(format!(
            "--device gpu: {e}; use --device cpu for the CPU f64 path"
        )),
        other => Failed(other.to_string()),
    })?;
    if !json {
        ctx.set_build_observer(Some(super::context::stderr_build_observer()));
    }
    let mut solver = GpuSolver::for_field(
        ctx.clone(),
        &problem.mlp,
        problem.field_kind() == FieldKind::Density,
    )
    .map_err(|e| Failed(e.to_string()))?;
    let rows = grad_rows(&mut solver, &gp, &methods, repeats)?;
    let any_failed = rows.iter().any(|r| matches!(r, GpuGradOutcome::Failed(_)));
    let text = grad_text(&ctx, &problem, &gp, &rows, json).map_err(Failed)?;
    Ok(GradCommandOutput { text, any_failed })
}

/// The table or JSON of [`grad_command`].
fn grad_text(
    ctx: &GpuContext,
    problem: &GradProblem,
    gp: &GpuProblem,
    rows: &[GpuGradOutcome],
    json: bool,
) -> Result<String, String> {
    if json {
        let value = serde_json::json!({
            "adapter": {
                "name": ctx.adapter.name,
                "backend": ctx.adapter.backend,
                "device_type": ctx.adapter.device_type,
                "software": ctx.adapter.software,
            },
            "precision": "f32",
            "step": gp.schedule.h,
            "loss": gp.objective.loss.name(),
            "warnings": gp.warnings,
            "methods": rows,
        });
        return serde_json::to_string_pretty(&value).map_err(|e| e.to_string());
    }
    let mut text = format!(
        "GPU: {}\nfixed-step RK4, step {}, batch {}, loss {}, f32 (errors against the CPU f64 \
         engine)\n",
        ctx.adapter.summary(),
        fmt_step(gp.schedule.h),
        problem.y0.len(),
        gp.objective.loss.name()
    );
    for w in &gp.warnings {
        text.push_str(&format!("warning: {w}\n"));
    }
    text.push_str(&format!(
        "{:<16} {:>14} {:>11} {:>11} {:>10} {:>12} {:>12} {:>10} {:>10} {:>10}\n",
        "method",
        "loss",
        "err_vs_cpu",
        "err_vs_bp",
        "time_ms",
        "gpu_bytes",
        "cpu_stored",
        "nfe_fwd",
        "nfe_bwd",
        "recon_err"
    ));
    for outcome in rows {
        let r = match outcome {
            GpuGradOutcome::Row(r) => r,
            GpuGradOutcome::Failed(f) => {
                text.push_str(&format!("{:<16} error: {}\n", f.method, f.error));
                continue;
            }
        };
        text.push_str(&format!(
            "{:<16} {:>14.8e} {:>11.2e} {:>11.2e} {:>10.3} {:>12} {:>12} {:>10} {:>10} {:>10}\n",
            r.method,
            r.loss,
            r.err_vs_cpu,
            r.err_vs_discrete,
            r.time_ms,
            r.gpu_bytes,
            r.cpu_stored_bytes,
            r.nfe_forward,
            r.nfe_backward,
            r.reconstruction_error
                .map_or("-".to_string(), |e| format!("{e:.2e}"))
        ));
        if let Some(e) = r.readout_err_vs_cpu {
            text.push_str(&format!(
                "{:<16} read-out gradient err_vs_cpu {e:.2e}\n",
                ""
            ));
        }
    }
    Ok(text)
}

fn fmt_step(h: f64) -> String {
    format!("{h:.6}")
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_string()
}
