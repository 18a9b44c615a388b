//! The Training room's left panel: what to train, how, with which gradient methods, and the
//! run controls with always-visible progress. The panel reads the room and emits
//! [`TrainingAction`]s: an edited copy of the setup ([`TrainingAction::Edit`], undoable), the
//! run controls, the files. It never writes the setup and never starts or stops a run itself.

use egui::{ComboBox, DragValue, Ui};

use super::{RunState, TrainingAction, TrainingWorkspace};
use crate::grad::{GradMethod, Precision};
use crate::nn::{Activation, InputMap};
use crate::optim::OptimizerKind;
use crate::solver::Method;
use crate::train::{Device, TaskName, TrainConfig};

/// Fixed width of the panel's text fields (never sized from the panel itself, so the panel
/// cannot grow from its own content).
const FIELD: f32 = 150.0;

fn section(ui: &mut Ui, title: &str) {
    ui.add_space(6.0);
    ui.strong(title);
}

/// Draws the panel; `path_field` is the text of the file-path field, `adapter` the GPU the app
/// renders with.
pub fn ui(
    ui: &mut Ui,
    ws: &TrainingWorkspace,
    path_field: &mut String,
    actions: &mut Vec<TrainingAction>,
    adapter: Option<&str>,
) {
    controls(ui, ws, actions);
    ui.separator();
    let locked = ws.is_running();
    let mut next = ws.config.clone();
    ui.add_enabled_ui(!locked, |ui| {
        task(ui, &mut next);
        model(ui, &mut next);
        solver(ui, &mut next);
        optimiser(ui, &mut next);
        device(ui, &mut next, adapter);
        methods(ui, &mut next);
    });
    if next != ws.config {
        actions.push(TrainingAction::Edit(Box::new(next)));
    }
    if locked {
        ui.weak("Settings are locked while a run is going: stop it to change them.");
    }
    ui.separator();
    files(ui, ws, path_field, actions);
    ui.separator();
    egui::CollapsingHeader::new(format!("Runs ({})", ws.runs.listed.len()))
        .id_salt("train-runs")
        .default_open(true)
        .show(ui, |ui| super::runs::ui(ui, ws, actions));
}

fn controls(ui: &mut Ui, ws: &TrainingWorkspace, actions: &mut Vec<TrainingAction>) {
    ui.horizontal_wrapped(|ui| {
        match ws.state {
            RunState::Running => {
                if ui.button("⏸ Pause").clicked() {
                    actions.push(TrainingAction::Pause);
                }
            }
            RunState::Paused => {
                if ui.button("▶ Resume").clicked() {
                    actions.push(TrainingAction::Resume);
                }
            }
            RunState::Stopping => {
                ui.add_enabled(false, egui::Button::new("▶ Train"));
            }
            _ => {
                if ui
                    .button("▶ Train")
                    .on_hover_text("start a run of this setup (every method from the same weights)")
                    .clicked()
                {
                    actions.push(TrainingAction::Start { paused: false });
                }
            }
        }
        if ui
            .add_enabled(
                matches!(ws.state, RunState::Running | RunState::Paused),
                egui::Button::new("⏹ Stop"),
            )
            .clicked()
        {
            actions.push(TrainingAction::Stop);
        }
        if ui
            .button("Step")
            .on_hover_text("one iteration of every method, then pause")
            .clicked()
        {
            actions.push(TrainingAction::Step);
        }
        if ui
            .button("⟲ Reset")
            .on_hover_text("clear the results; the next run starts from the seed's initial weights")
            .clicked()
        {
            actions.push(TrainingAction::Reset);
        }
    });
    let frac = if ws.iters > 0 {
        ws.iter as f32 / ws.iters as f32
    } else {
        0.0
    };
    let rate = ws.rate();
    let eta = rate
        .filter(|r| *r > 0.0)
        .map(|r| (ws.iters.saturating_sub(ws.iter)) as f64 / r);
    let text = format!(
        "{} / {}  ·  {}  ·  ETA {}",
        ws.iter,
        ws.iters,
        rate.map_or("— it/s".into(), |r| format!("{r:.1} it/s")),
        match (&ws.state, eta) {
            (RunState::Running, Some(s)) => format!("{s:.0} s"),
            _ => "—".into(),
        }
    );
    ui.add(egui::ProgressBar::new(frac).text(text));
    match &ws.state {
        RunState::Failed(e) => {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        RunState::Paused => {
            ui.label("paused");
        }
        RunState::Stopping => {
            ui.label("stopping after the current iteration…");
        }
        RunState::Finished => {
            ui.label("finished");
        }
        _ => {}
    }
    if ws.is_running() || ws.state == RunState::Finished {
        match &ws.device {
            Some(d) => {
                let r = ui.weak(format!("on {d}"));
                // A driver compiles a pipeline's machine code at its first dispatch (llvmpipe:
                // tens of seconds), so the first GPU iteration can wait long with nothing new.
                if d.starts_with("GPU")
                    && ws.state == RunState::Running
                    && ws.ready_at_iter == Some(ws.iter)
                {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.add(
                            egui::Label::new(
                                egui::RichText::new(
                                    "first GPU iteration: the driver compiles the kernels on \
                                     first use (a software adapter can take minutes)…",
                                )
                                .weak(),
                            )
                            .wrap(),
                        );
                    });
                }
                r
            }
            None => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    // The run's thread builds the kernels; the UI only reads its progress.
                    ui.weak(match crate::gpu::context::building_now() {
                        Some(p) => format!("building GPU kernels {}/{}…", p.done + 1, p.total),
                        None => "setting up (data, device, kernels)…".to_string(),
                    });
                })
                .response
            }
        };
    }
}

fn task(ui: &mut Ui, c: &mut TrainConfig) {
    section(ui, "Task");
    let before = c.task;
    ComboBox::from_id_salt("train-task")
        .selected_text(c.task.name())
        .width(FIELD)
        .show_ui(ui, |ui| {
            for t in TaskName::ALL {
                ui.selectable_value(&mut c.task, t, t.name())
                    .on_hover_text(t.description());
            }
        })
        .response
        .accessible_name("task");
    if c.task != before {
        // A new task brings its own sensible model, solver and optimiser.
        let methods = c.methods.clone();
        let seed = c.seed;
        *c = TrainConfig::defaults(c.task);
        c.methods = methods;
        c.seed = seed;
    }
    ui.weak(c.task.description());
    if c.task.is_classification() {
        // The digits are a fixed set of images: no noise, at most the images it has.
        let digits = c.task == TaskName::Digits;
        let max_points = if digits {
            crate::train::task::digits::IMAGES
        } else {
            100_000
        };
        ui.horizontal(|ui| {
            if !digits {
                ui.label("noise");
                ui.add(
                    DragValue::new(&mut c.data.noise)
                        .range(0.0..=0.5)
                        .speed(0.005),
                )
                .accessible_name("noise");
            }
            ui.label(if digits { "images" } else { "points" });
            ui.add(
                DragValue::new(&mut c.data.points)
                    .range(20..=max_points)
                    .speed(5),
            )
            .accessible_name("points");
        });
        ui.horizontal(|ui| {
            ui.label("augment")
                .on_hover_text("extra zero dimensions of the state (circles needs ≥ 1)");
            ui.add(DragValue::new(&mut c.data.augment).range(0..=8))
                .accessible_name("augment");
        });
    }
    if c.task.is_density() {
        ui.horizontal(|ui| {
            ui.label("points");
            ui.add(
                DragValue::new(&mut c.data.points)
                    .range(20..=100_000)
                    .speed(5),
            )
            .accessible_name("points")
            .on_hover_text("train + held-out points; the test NLL is on the held-out share");
        });
    }
}

fn model(ui: &mut Ui, c: &mut TrainConfig) {
    section(ui, "Model (MLP vector field)");
    ui.horizontal(|ui| {
        ui.label("hidden layers");
        let mut depth = c.model.hidden.len();
        let depth_changed = ui
            .add(DragValue::new(&mut depth).range(1..=4))
            .accessible_name("hidden layers")
            .changed();
        ui.label("width");
        let mut width = c.model.hidden.first().copied().unwrap_or(16);
        let width_changed = ui
            .add(DragValue::new(&mut width).range(1..=256))
            .accessible_name("width")
            .changed();
        // Drawing the panel never rewrites the setup: only an edit makes the layers uniform.
        if depth_changed || width_changed {
            c.model.hidden = vec![width; depth];
        }
    });
    ui.horizontal(|ui| {
        ComboBox::from_id_salt("train-activation")
            .selected_text(c.model.activation.name())
            .show_ui(ui, |ui| {
                for a in Activation::ALL {
                    ui.selectable_value(&mut c.model.activation, a, a.name());
                }
            })
            .response
            .accessible_name("activation");
        ComboBox::from_id_salt("train-input-map")
            .selected_text(format!("input {}", c.model.input_map.name()))
            .show_ui(ui, |ui| {
                for m in InputMap::ALL {
                    ui.selectable_value(&mut c.model.input_map, m, m.name());
                }
            })
            .response
            .accessible_name("input map");
        ui.checkbox(&mut c.model.time_input, "t input");
    });
}

fn solver(ui: &mut Ui, c: &mut TrainConfig) {
    section(ui, "Solver");
    ui.horizontal(|ui| {
        ComboBox::from_id_salt("train-solver")
            .selected_text(c.solver.method.name())
            .show_ui(ui, |ui| {
                for m in Method::ALL {
                    ui.selectable_value(&mut c.solver.method, m, m.name());
                }
            })
            .response
            .accessible_name("solver");
        if c.solver.method.is_adaptive() {
            ui.label("atol");
            ui.add(
                DragValue::new(&mut c.solver.tol)
                    .range(1e-12..=1.0)
                    .speed(0.0)
                    .custom_formatter(|v, _| format!("{v:.0e}")),
            )
            .accessible_name("atol");
            ui.label("rtol");
            ui.add(
                DragValue::new(&mut c.solver.rtol)
                    .range(0.0..=1.0)
                    .speed(0.0)
                    .custom_formatter(|v, _| format!("{v:.0e}")),
            )
            .accessible_name("rtol");
        } else {
            let mut h = c.solver.h0.unwrap_or(0.1);
            ui.label("h");
            if ui
                .add(DragValue::new(&mut h).range(1e-5..=10.0).speed(0.001))
                .accessible_name("step h")
                .changed()
            {
                c.solver.h0 = Some(h);
            }
        }
    });
}

fn optimiser(ui: &mut Ui, c: &mut TrainConfig) {
    section(ui, "Optimiser");
    ui.horizontal(|ui| {
        ComboBox::from_id_salt("train-optimizer")
            .selected_text(c.optimizer.kind.name())
            .show_ui(ui, |ui| {
                for k in OptimizerKind::ALL {
                    ui.selectable_value(&mut c.optimizer.kind, k, k.name());
                }
            })
            .response
            .accessible_name("optimizer");
        ui.label("lr");
        ui.add(
            DragValue::new(&mut c.optimizer.lr)
                .range(1e-6..=10.0)
                .speed(0.0005)
                .custom_formatter(|v, _| format!("{v:.1e}")),
        )
        .accessible_name("learning rate");
    });
    egui::Grid::new("train-schedule").num_columns(4).show(ui, |ui| {
        ui.label("batch");
        ui.add(DragValue::new(&mut c.batch).range(1..=100_000)).accessible_name("batch");
        ui.label("iterations");
        ui.add(DragValue::new(&mut c.iters).range(1..=1_000_000).speed(5)).accessible_name("iterations");
        ui.end_row();
        ui.label("seed");
        ui.add(DragValue::new(&mut c.seed)).accessible_name("seed");
        ui.label("eval every");
        ui.add(DragValue::new(&mut c.eval_every).range(0..=10_000)).accessible_name("eval every");
        ui.end_row();
        ui.label("grad check")
            .on_hover_text("every K iterations, each gradient against backprop through dopri5 at 1e-12 (0: off)");
        ui.add(DragValue::new(&mut c.grad_check_every).range(0..=10_000)).accessible_name("grad check every");
        ui.end_row();
    });
}

fn device(ui: &mut Ui, c: &mut TrainConfig, adapter: Option<&str>) {
    section(ui, "Device");
    ui.horizontal(|ui| {
        ui.radio_value(&mut c.device, Device::Auto, "Auto")
            .on_hover_text("the GPU when there is a hardware adapter, else the CPU");
        ui.radio_value(&mut c.device, Device::Gpu, "GPU")
            .on_hover_text("wgpu compute shaders, f32 (an error when there is no adapter)");
        ui.radio_value(&mut c.device, Device::Cpu, "CPU")
            .on_hover_text("the Rust path, f64 (the reference) or f32");
    });
    ui.horizontal(|ui| {
        ui.label("CPU precision");
        for p in Precision::ALL {
            ui.radio_value(&mut c.precision, p, p.name())
                .on_hover_text(match p {
                    Precision::F64 => {
                        "double precision: the reference (deterministic given the seed)"
                    }
                    Precision::F32 => {
                        "single precision, as the GPU computes (afge and fd: f64 only)"
                    }
                });
        }
    });
    let text = match c.device {
        Device::Auto => "Auto trains on a hardware GPU when there is one, else on the CPU",
        Device::Gpu => "GPU: f32; a software adapter (llvmpipe, lavapipe) is correct but slow",
        Device::Cpu => "CPU: f64 is the reference; f32 compares with the GPU at its precision",
    };
    ui.weak(text);
    ui.weak(format!(
        "this window draws with: {}",
        adapter.unwrap_or("no adapter")
    ));
}

fn methods(ui: &mut Ui, c: &mut TrainConfig) {
    section(ui, "Gradient methods to compare");
    for m in GradMethod::ALL {
        let mut on = c.methods.contains(&m);
        let colour = c
            .methods
            .iter()
            .position(|x| *x == m)
            .map(|i| super::super::theme::c32(super::super::theme::run_color(i)));
        ui.horizontal(|ui| {
            if ui.checkbox(&mut on, m.name()).changed() {
                if on {
                    c.methods.push(m);
                } else {
                    c.methods.retain(|x| *x != m);
                }
            }
            if let Some(col) = colour {
                ui.colored_label(col, "■");
            }
            match m {
                GradMethod::Checkpoint if on => {
                    let mut k = c.grad_options.checkpoints.unwrap_or(0);
                    ui.label("K");
                    ui.add(DragValue::new(&mut k).range(0..=10_000))
                        .accessible_name("checkpoints")
                        .on_hover_text("checkpoints (0: ⌈√N⌉)");
                    c.grad_options.checkpoints = (k > 0).then_some(k);
                }
                GradMethod::InterpAdjoint if on => {
                    ui.label("nodes");
                    ui.add(DragValue::new(&mut c.grad_options.cheb_nodes).range(2..=256))
                        .accessible_name("Chebyshev nodes");
                }
                GradMethod::ReversibleRk4 | GradMethod::ReversibleMidpoint if on => {
                    ui.label("λ");
                    ui.add(
                        DragValue::new(&mut c.grad_options.lambda)
                            .range(0.01..=1.0)
                            .speed(0.005),
                    )
                    .accessible_name("lambda");
                }
                GradMethod::Fd if on => {
                    ui.weak("slow: 2 solves per parameter");
                }
                _ => {}
            }
        });
    }
}

fn files(
    ui: &mut Ui,
    ws: &TrainingWorkspace,
    path_field: &mut String,
    actions: &mut Vec<TrainingAction>,
) {
    section(ui, "Files");
    ui.horizontal(|ui| {
        ui.label("path");
        ui.add(egui::TextEdit::singleline(path_field).desired_width(FIELD + 60.0))
            .accessible_name("file path");
    });
    let path = std::path::PathBuf::from(path_field.trim());
    ui.horizontal_wrapped(|ui| {
        let model = ws.methods.get(ws.view.shown).and_then(|m| m.model.clone());
        if ui
            .add_enabled(model.is_some(), egui::Button::new("Save model"))
            .on_hover_text("the shown method's model (.json or .safetensors)")
            .clicked()
            && let Some(model) = model
        {
            actions.push(TrainingAction::SaveModel {
                model,
                path: path.clone(),
                task: ws.config.task,
            });
        }
        if ui
            .add_enabled(!ws.methods.is_empty(), egui::Button::new("Export CSV"))
            .on_hover_text(
                "the curves as kept on screen: every iteration of a short run, every k-th of a \
                 long one (a kept run's folder has curve.csv with every iteration)",
            )
            .clicked()
        {
            actions.push(TrainingAction::ExportCsv {
                text: ws.csv(),
                path: path.with_extension("csv"),
            });
        }
        if ui
            .button("Save setup")
            .on_hover_text("as a training preset (.toml)")
            .clicked()
            && let Some(text) = ws.to_toml()
        {
            actions.push(TrainingAction::SavePreset {
                text,
                path: path.with_extension("toml"),
            });
        }
        if ui.button("Load setup").clicked() {
            actions.push(TrainingAction::LoadPreset(path.with_extension("toml")));
        }
    });
}
