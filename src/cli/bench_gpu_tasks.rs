//! `nodelab bench gpu --task NAME`: one training task's iteration time on the CPU (f64 and
//! f32) and on the GPU, per batch size, from the task's default settings and one method (the
//! task's first), with the GPU's kernel build time and how closely its loss curve follows the
//! CPU f32 one.
//!
//! Per device the trainer is set up (data, init; on the GPU the kernels are built, the build
//! timed through the context's build observer), then one untimed iteration (its time is shown
//! as `gpu_first_s`: llvmpipe compiles machine code at the first dispatch) and `--iters` timed
//! ones; the figure is the median of their `IterRecord::ms` (gradient and update, evaluations
//! excluded). The
//! agreement is `max_k |ℓ_gpu(k) − ℓ_f32(k)| / |ℓ_f32(k)|` over those iterations: the same
//! initial weights and the same batches, so after the first iteration it also follows the
//! gradients. The GPU context is made once, so later batches reuse the kernels (build 0 s).
//! `max_disp_ms` is the longest single dispatch of one further iteration, each dispatch in a
//! pass of its own between GPU timestamps (nodelab::gpu::engine::timing; "—" where the
//! adapter has no timestamp queries): the figure the step chunks bound (watchdogs).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use super::CliError;
use crate::gpu::{BuildProgress, GpuContext};
use crate::train::config::{Device, Precision, TrainConfig};
use crate::train::engine::Trainer;
use crate::train::task::TaskName;

/// One device's figures.
struct Figures {
    /// Median ms of the timed iterations (after the first).
    ms: f64,
    /// The first iteration's ms: it includes what a driver defers to the first dispatch
    /// (llvmpipe compiles a shader's machine code then, not at pipeline creation).
    first_ms: f64,
    losses: Vec<f64>,
    /// The longest single dispatch of one more iteration, timed with GPU timestamps (None:
    /// the CPU, or an adapter without timestamp queries).
    longest: Option<crate::gpu::engine::timing::DispatchTime>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs `iters` iterations of `config` on the chosen device; Err: why it cannot run.
fn run_device(
    config: &TrainConfig,
    device: Device,
    precision: Precision,
    ctx: Option<Arc<GpuContext>>,
    iters: usize,
) -> Result<Figures, String> {
    let mut c = config.clone();
    c.device = device;
    c.precision = precision;
    let mut trainer = Trainer::new_on(c, ctx)?;
    let mut times = Vec::new();
    let mut losses = Vec::new();
    for _ in 0..=iters {
        let up = trainer.step();
        for (_, r) in up.records {
            times.push(r.ms);
            losses.push(r.loss);
        }
    }
    let first_ms = times.first().copied().unwrap_or(f64::NAN);
    // One more iteration with every dispatch timed (separate passes: not in the figures).
    let longest = (device == Device::Gpu)
        .then(|| {
            use crate::gpu::engine::timing;
            let _ = timing::take_longest();
            timing::measure_dispatches(true);
            let _ = trainer.step();
            timing::measure_dispatches(false);
            timing::take_longest()
        })
        .flatten();
    Ok(Figures {
        ms: median(times.split_off(1.min(times.len()))),
        first_ms,
        losses,
        longest,
    })
}

/// Makes `config`'s training pool hold its batch where the task's data can grow (the points
/// of a classification or density task, test share included), and returns the batch that
/// runs: min(batch, pool).
fn batch_in_pool(config: &mut TrainConfig) -> Result<usize, String> {
    let task = config.task;
    if task.is_classification() || task.is_density() {
        let train_share = (1.0 - config.data.test_fraction).max(0.1);
        let needed = (config.batch as f64 / train_share).ceil() as usize + 1;
        config.data.points = config.data.points.max(needed);
    }
    let data = crate::train::task::TaskData::generate(task, &config.data, config.seed)?;
    Ok(config.batch.min(data.pool()))
}

/// The fixed step that replaces an adaptive solver in the GPU check.
const FIXED_H: f64 = 0.05;

/// Build time, kernels built: the sum over builds, from each "building k/n" report to the
/// next report (an open build's start), with the progress on stderr unless `json`.
type BuildClock = Arc<Mutex<(Option<Instant>, f64, usize)>>;

fn observe_builds(ctx: &GpuContext, json: bool) -> BuildClock {
    let build = Arc::new(Mutex::new((None::<Instant>, 0.0_f64, 0_usize)));
    {
        let build = build.clone();
        ctx.set_build_observer(Some(Arc::new(move |p: &BuildProgress| {
            let mut b = build.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(t) = b.0.take() {
                b.1 += t.elapsed().as_secs_f64();
            }
            if p.done < p.total {
                b.0 = Some(Instant::now());
                b.2 += 1;
                if !json {
                    eprintln!(
                        "building GPU kernels {}/{} ({})…",
                        p.done + 1,
                        p.total,
                        p.entry
                    );
                }
            }
        })));
    }
    build
}

/// The table's column names.
fn print_header() {
    println!(
        "{:<18} {:>6} {:>10} {:>10} {:>10} {:>8} {:>8} {:>10} {:>8} {:>11} {:>11}",
        "task",
        "batch",
        "cpu64_ms",
        "cpu32_ms",
        "gpu_ms",
        "f32/gpu",
        "f64/gpu",
        "loss_rdiff",
        "build_s",
        "gpu_first_s",
        "max_disp_ms"
    );
}

/// Prints the figures of `task` at every batch in `batches`.
pub fn run(
    task: &str,
    batches: &[usize],
    hidden: Option<Vec<usize>>,
    iters: usize,
    json: bool,
) -> Result<(), CliError> {
    let name = TaskName::parse(task).ok_or_else(|| {
        CliError::Usage(format!(
            "unknown task '{task}' (known: {})",
            TaskName::ALL.map(TaskName::name).join(", ")
        ))
    })?;
    let ctx = GpuContext::headless().map_err(|e| CliError::Usage(e.to_string()))?;
    let build = observe_builds(&ctx, json);
    let mut config = TrainConfig::defaults(name);
    config.methods.truncate(1);
    // The GPU trains with fixed steps: a task whose solver is adaptive (spiral-fit and
    // freefall-fit: dopri5) is measured with fixed RK4 on both devices, so the rows compare
    // the same work.
    let fixed_note = if crate::gpu::stages::FixedRk::of_method(config.solver.method).is_none() {
        let note = format!(
            "; its {} solver replaced by fixed RK4, h = {FIXED_H} (the GPU trains with fixed steps)",
            config.solver.method.name()
        );
        config.solver.method = crate::solver::Method::Rk4;
        config.solver.h0 = Some(FIXED_H);
        note
    } else {
        String::new()
    };
    if let Some(h) = hidden {
        config.model.hidden = h;
    }
    let method = config
        .methods
        .first()
        .map_or_else(|| "?".to_string(), |m| m.name().to_string());
    if !json {
        println!("GPU: {}", ctx.adapter.summary());
        println!(
            "task {} ({method}, hidden {:?}{fixed_note}), {iters} iterations per figure (median \
             ms), CPU on {} threads",
            name.name(),
            config.model.hidden,
            rayon::current_num_threads()
        );
        print_header();
    }
    for &batch in batches {
        config.batch = batch;
        // A batch larger than the task's pool would be cut to the pool: a point-cloud task
        // (classification, density) gets enough points for its training split to hold the
        // batch; a trajectory task's pool (its windows) is fixed, and the row says so.
        let used = match batch_in_pool(&mut config) {
            Ok(used) => used,
            Err(e) => {
                println!("{:<18} {batch:>6} refused: {e}", name.name());
                continue;
            }
        };
        if used < batch && !json {
            println!(
                "({}: batch {batch} runs as {used}, all the task's training items)",
                name.name()
            );
        }
        // The timed iterations after the first, and one with its dispatches timed.
        config.iters = iters + 2;
        config.eval_every = iters + 3;
        let cpu64 = run_device(&config, Device::Cpu, Precision::F64, None, iters);
        let cpu32 = run_device(&config, Device::Cpu, Precision::F32, None, iters);
        {
            let mut b = build.lock().unwrap_or_else(PoisonError::into_inner);
            *b = (None, 0.0, 0);
        }
        let gpu = run_device(
            &config,
            Device::Gpu,
            Precision::F32,
            Some(ctx.clone()),
            iters,
        );
        let (build_s, built) = {
            let b = build.lock().unwrap_or_else(PoisonError::into_inner);
            (b.1 + b.0.map_or(0.0, |t| t.elapsed().as_secs_f64()), b.2)
        };
        let (cpu64, cpu32) = match (cpu64, cpu32) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                println!("{:<18} {batch:>6} CPU refused: {e}", name.name());
                continue;
            }
        };
        let gpu = match gpu {
            Ok(g) => g,
            Err(e) => {
                println!(
                    "{:<18} {batch:>6} {:>10.2} {:>10.2} refused on the GPU: {e}",
                    name.name(),
                    cpu64.ms,
                    cpu32.ms
                );
                continue;
            }
        };
        let rdiff = gpu
            .losses
            .iter()
            .zip(&cpu32.losses)
            .map(|(g, c)| (g - c).abs() / c.abs().max(1e-30))
            .fold(0.0_f64, f64::max);
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "task": name.name(), "method": method, "batch": batch, "batch_used": used,
                    "cpu_f64_ms": cpu64.ms, "cpu_f32_ms": cpu32.ms, "gpu_ms": gpu.ms,
                    "loss_max_rel_diff": rdiff, "build_s": build_s, "kernels_built": built,
                    "gpu_first_iter_s": gpu.first_ms / 1e3,
                    "longest_dispatch_ms": gpu.longest.as_ref().map(|l| l.ms),
                    "longest_dispatch_kernel": gpu.longest.as_ref().map(|l| l.kernel.clone()),
                    "dispatches_timed": gpu.longest.as_ref().map(|l| l.timed),
                    "adapter": ctx.adapter.summary(),
                })
            );
        } else {
            println!(
                "{:<18} {batch:>6} {:>10.2} {:>10.2} {:>10.2} {:>8.3} {:>8.3} {:>10.2e} {:>8.1} {:>11.1} {:>11}",
                name.name(),
                cpu64.ms,
                cpu32.ms,
                gpu.ms,
                cpu32.ms / gpu.ms,
                cpu64.ms / gpu.ms,
                rdiff,
                build_s,
                gpu.first_ms / 1e3,
                gpu.longest
                    .as_ref()
                    .map_or_else(|| "—".to_string(), |l| format!("{:.2}", l.ms))
            );
        }
    }
    ctx.set_build_observer(None);
    Ok(())
}
