//! Per-frame helpers of the app: input (drop, shortcuts), the preset-error window, the central
//! view and the hooks of scripted runs (exit after N frames, screenshot).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::super::command::Command;
use super::super::plots;
use super::super::state::{StepRef, Tab};
use super::super::{stats, status_bar};
use super::NodelabApp;

impl NodelabApp {
    pub(super) fn handle_input(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        for p in dropped {
            match p.extension().and_then(|e| e.to_str()) {
                Some("toml") => self.commands.push(Command::LoadPreset(p)),
                Some("json") => self.commands.push(Command::LoadWeights(p)),
                _ => self.toasts.error(format!(
                    "{}: drop a preset (.toml) or weights (.json)",
                    p.display()
                )),
            }
        }
        let typing = ctx.egui_wants_keyboard_input();
        let (space, right, left, run) = ctx.input(|i| {
            (
                i.key_pressed(egui::Key::Space),
                i.key_pressed(egui::Key::ArrowRight),
                i.key_pressed(egui::Key::ArrowLeft),
                i.modifiers.command && i.key_pressed(egui::Key::R),
            )
        });
        if run {
            self.commands.push(Command::Run);
        }
        // Ctrl+Z / Ctrl+Shift+Z undo and redo the explorer's edits (a text field being typed in
        // keeps them for its own text).
        let (undo, redo) = ctx.input(|i| {
            let z = i.modifiers.command && i.key_pressed(egui::Key::Z);
            (z && !i.modifiers.shift, z && i.modifiers.shift)
        });
        if !typing && self.workspace == super::Workspace::Explorer {
            if undo {
                self.commands.push(Command::Undo);
            }
            if redo {
                self.commands.push(Command::Redo);
            }
        }
        if !typing {
            if space {
                self.commands.push(if self.view.playback.playing {
                    Command::Pause
                } else {
                    Command::Play
                });
            }
            if right {
                self.commands.push(Command::StepForward);
            }
            if left {
                self.commands.push(Command::StepBack);
            }
        }
    }

    pub(super) fn error_window(&mut self, ctx: &egui::Context) {
        let Some(err) = self.preset_error.clone() else {
            return;
        };
        let mut open = true;
        egui::Window::new("Preset not loaded")
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::vec2(0.0, 0.0))
            .open(&mut open)
            .show(ctx, |ui| {
                ui.label("The preset has an error; nothing was changed.");
                stats::banner(ui, &err, true);
                if ui.button("OK").clicked() {
                    self.commands.push(Command::DismissError);
                }
            });
        if !open {
            self.commands.push(Command::DismissError);
        }
    }

    pub(super) fn central(&mut self, ui: &mut egui::Ui) {
        self.view.plot_rects.clear();
        ui.horizontal(|ui| {
            let tabs = [
                (Tab::TimePlots, "Time plots"),
                (Tab::Phase, "Phase portrait"),
                (Tab::WorkPrecision, "Work–precision"),
            ];
            for (tab, name) in tabs {
                ui.selectable_value(&mut self.view.tab, tab, name);
            }
        });
        ui.separator();
        let sweep_stale = self.sweep.is_stale(&self.session.problem_spec());
        let stale = match self.view.tab {
            Tab::WorkPrecision => sweep_stale.then(|| {
                let of = self
                    .sweep
                    .result
                    .as_ref()
                    .map_or("", |wp| wp.problem.as_str());
                format!("this sweep is for {of}, not the problem set up now")
            }),
            _ => self.view.stale.clone(),
        };
        if let Some(reason) = stale {
            let next = if !self.session_is_valid() {
                "fix the setup's errors to solve again"
            } else if self.view.auto_solve {
                "re-solving…"
            } else {
                "automatic re-solving is off: press ▶ Run (or run the sweep)"
            };
            stats::banner(
                ui,
                &format!("Stale results, greyed out: {reason}; {next}"),
                false,
            );
        }
        match self.view.tab {
            Tab::TimePlots => plots::time_plots(ui, &self.runs, &mut self.view, &mut self.commands),
            Tab::Phase => {
                let y0 = self.session.y0().to_vec();
                plots::phase::ui(ui, &self.runs, &y0, &mut self.view, &mut self.commands);
            }
            Tab::WorkPrecision => {
                plots::work_precision::ui(
                    ui,
                    &self.sweep,
                    &self.runs,
                    sweep_stale,
                    &mut self.commands,
                );
            }
        }
    }

    pub(super) fn smoke_test_hooks(&mut self, ctx: &egui::Context) {
        if let Some(n) = self.options.select
            && self
                .runs
                .first()
                .is_some_and(|r| r.records.len() > n && r.is_finished())
        {
            self.options.select = None;
            self.view.show_p_vs_f = true;
            self.commands
                .push(Command::Select(Some(StepRef { run: 0, record: n })));
        }
        let Some(n) = self.options.exit_after_frames else {
            return;
        };
        ctx.request_repaint();
        if let Some(path) = self.options.screenshot.clone()
            && !self.screenshot_requested
            && self.frames + 5 >= n
        {
            self.screenshot_requested = true;
            let done = self.screenshot_saved.clone();
            ctx.request_screenshot(move |image| {
                // Encoding and writing happen on their own thread.
                let _ = std::thread::Builder::new()
                    .name("screenshot".into())
                    .spawn(move || {
                        if let Err(e) = save_color_image(&image, &path) {
                            log::error!("{e}");
                        }
                        done.store(true, Ordering::Relaxed);
                    });
            });
        }
        let shot_done =
            self.options.screenshot.is_none() || self.screenshot_saved.load(Ordering::Relaxed);
        if self.frames >= n && (shot_done || self.frames > n + 600) && !self.closing {
            self.closing = true;
            // The frame-time readout of the last frames, for scripted measurements.
            let steps: usize = self.runs.iter().map(|r| r.records.len()).sum();
            println!(
                "nodelab: {} frames, {steps} attempted steps, {}",
                self.frames,
                status_bar::frame_text(&self.view.frame_times)
            );
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }
}

fn save_color_image(image: &egui::ColorImage, path: &Path) -> Result<(), String> {
    let [w, h] = image.size;
    let bytes: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
    let img = image::RgbaImage::from_raw(w as u32, h as u32, bytes)
        .ok_or_else(|| "screenshot has the wrong size".to_string())?;
    img.save(path)
        .map_err(|e| format!("cannot save the screenshot to {}: {e}", path.display()))
}
