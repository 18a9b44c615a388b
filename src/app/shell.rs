//! The eframe app: owns the three kinds of state (saved [`Session`], worker data [`RunData`],
//! view state [`ViewState`]), lays out the panels, and applies the panels' commands in one
//! place. Numerics and file I/O happen on worker and job threads only.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::TryRecvError;
use std::time::Instant;

use crate::export::{self, Figure, Format};
use crate::preset::ProblemKind;
use crate::report::steps_csv;

use super::command::Command;
use super::jobs::{self, JobResult, Jobs};
use super::model::{RunData, RunStatus};
use super::plots;
use super::problem_panel::{self, CustomCheck};
use super::session::{Session, check_preset};
use super::state::{PlotKind, StepRef, Tab, ViewState};
use super::step_table::{self, TableOrder};
use super::sweep::{self, SweepState};
use super::theme;
use super::toasts::Toasts;
use super::worker::{self, SolveHandle, SolveMsg, SolveRequest};
use super::{inspector, menu, solver_panel, stats, status_bar};

const SESSION_KEY: &str = "nodelab-session";
const DARK_KEY: &str = "nodelab-dark";
/// Most worker messages taken per run per frame (keeps frames short while data pours in).
const MESSAGES_PER_FRAME: usize = 64;

/// How the app is started.
#[derive(Clone, Debug)]
pub struct AppOptions {
    /// Folder listed in the Presets menu.
    pub presets_dir: PathBuf,
    /// Restore the session saved by the previous launch.
    pub restore: bool,
    /// Run the session's solvers at start.
    pub run_at_start: bool,
    /// Close after this many frames (smoke tests).
    pub exit_after_frames: Option<u64>,
    /// Save a screenshot of the window before closing (with `exit_after_frames`).
    pub screenshot: Option<PathBuf>,
    /// Show the adapter's name in the status bar (off in snapshot tests, whose adapter's
    /// name carries a driver version).
    pub show_adapter: bool,
    /// A preset to load at start.
    pub preset: Option<PathBuf>,
    /// The central view to open with.
    pub tab: Option<Tab>,
    /// Start with the debug overlay (frame time) shown.
    pub debug_overlay: bool,
    /// Start with "as fast as possible" playback.
    pub fast_playback: bool,
    /// Select this attempt of the first run once it exists (screenshots).
    pub select: Option<usize>,
    /// Hovering a step previews it (off for screenshots under Xvfb, whose pointer rests in the
    /// middle of the window).
    pub hover: bool,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            presets_dir: PathBuf::from("presets"),
            restore: true,
            run_at_start: true,
            exit_after_frames: None,
            screenshot: None,
            show_adapter: true,
            preset: None,
            tab: None,
            debug_overlay: false,
            fast_playback: false,
            select: None,
            hover: true,
        }
    }
}

/// The nodelab desktop app.
pub struct NodelabApp {
    session: Session,
    dark: bool,
    runs: Vec<RunData>,
    handles: Vec<Option<SolveHandle>>,
    field_requested: Vec<Option<(usize, usize)>>,
    view: ViewState,
    sweep: SweepState,
    jobs: Jobs,
    toasts: Toasts,
    presets: Vec<PathBuf>,
    preset_error: Option<String>,
    custom_check: CustomCheck,
    table_order: TableOrder,
    adapter: Option<String>,
    options: AppOptions,
    frames: u64,
    last_frame: Option<Instant>,
    commands: Vec<Command>,
    repaint: Arc<dyn Fn() + Send + Sync>,
    screenshot_saved: Arc<AtomicBool>,
    screenshot_requested: bool,
    closing: bool,
}

impl NodelabApp {
    pub fn new(cc: &eframe::CreationContext<'_>, options: AppOptions) -> Self {
        let ctx = cc.egui_ctx.clone();
        let repaint: Arc<dyn Fn() + Send + Sync> = Arc::new(move || ctx.request_repaint());
        let stored = |key: &str| {
            options
                .restore
                .then(|| cc.storage.and_then(|s| s.get_string(key)))
                .flatten()
        };
        let session = stored(SESSION_KEY)
            .and_then(|s| serde_json::from_str::<Session>(&s).ok())
            .unwrap_or_default();
        let dark = stored(DARK_KEY).is_none_or(|s| s != "light");
        theme::install_fonts(&cc.egui_ctx);
        theme::apply(&cc.egui_ctx, dark);
        let adapter = cc
            .wgpu_render_state
            .as_ref()
            .map(|rs| status_bar::adapter_line(&rs.adapter.get_info()));
        let mut app = Self {
            session,
            dark,
            runs: Vec::new(),
            handles: Vec::new(),
            field_requested: Vec::new(),
            view: ViewState::default(),
            sweep: SweepState::default(),
            jobs: Jobs::new(repaint.clone()),
            toasts: Toasts::default(),
            presets: Vec::new(),
            preset_error: None,
            custom_check: CustomCheck::default(),
            table_order: TableOrder::default(),
            adapter,
            options,
            frames: 0,
            last_frame: None,
            commands: Vec::new(),
            repaint,
            screenshot_saved: Arc::new(AtomicBool::new(false)),
            screenshot_requested: false,
            closing: false,
        };
        app.commands.push(Command::RefreshPresets);
        if let Some(p) = app.options.preset.clone() {
            app.commands.push(Command::LoadPreset(p));
        } else if app.options.run_at_start {
            app.commands.push(Command::Run);
        }
        if let Some(tab) = app.options.tab {
            app.view.tab = tab;
            if tab == Tab::WorkPrecision {
                app.commands.push(Command::RunWorkPrecision);
            }
        }
        app.view.debug_overlay = app.options.debug_overlay;
        app.view.playback.as_fast_as_possible = app.options.fast_playback;
        app
    }

    // ----- accessors for tests and embedding -----

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    pub fn runs(&self) -> &[RunData] {
        &self.runs
    }

    pub fn view(&self) -> &ViewState {
        &self.view
    }

    pub fn view_mut(&mut self) -> &mut ViewState {
        &mut self.view
    }

    pub fn preset_error(&self) -> Option<&str> {
        self.preset_error.as_deref()
    }

    pub fn presets(&self) -> &[PathBuf] {
        &self.presets
    }

    pub fn toasts(&self) -> &Toasts {
        &self.toasts
    }

    pub fn work_precision(&self) -> &SweepState {
        &self.sweep
    }

    /// Queues a command, applied at the end of the next frame (or by [`Self::settle`]).
    pub fn push_command(&mut self, c: Command) {
        self.commands.push(c);
    }

    /// Applies queued commands and blocks until every worker and job has finished, taking all
    /// their results (tests drive the app deterministically with this instead of waiting on
    /// wall-clock playback).
    pub fn settle(&mut self) {
        loop {
            self.apply_commands();
            for i in 0..self.runs.len() {
                while !self.runs[i].is_finished() {
                    let Some(h) = &self.handles[i] else { break };
                    match h.rx.recv() {
                        Ok(m) => apply_msg(&mut self.runs[i], m),
                        Err(_) => {
                            self.handles[i] = None;
                            break;
                        }
                    }
                }
                self.drain(i, usize::MAX);
            }
            for r in self.jobs.wait_all() {
                self.on_job(r);
            }
            self.sweep.wait();
            if self.commands.is_empty() && self.jobs.pending() == 0 {
                break;
            }
        }
    }

    /// Blocks until run `run` has answered every outstanding probe/field request that arrives
    /// within `timeout` (tests).
    pub fn wait_for_worker_reply(&mut self, run: usize, timeout: std::time::Duration) {
        if let Some(Some(h)) = self.handles.get(run)
            && let Ok(m) = h.rx.recv_timeout(timeout)
        {
            apply_msg(&mut self.runs[run], m);
        }
    }

    // ----- workers -----

    fn start_runs(&mut self) {
        self.handles.clear();
        self.runs.clear();
        self.field_requested.clear();
        self.view.selected = None;
        self.view.hovered = None;
        self.view.playback.restart();
        if self.view.table_run >= self.session.solvers.len() {
            self.view.table_run = 0;
        }
        let spec = self.session.problem_spec();
        for (i, cfg) in self.session.solvers.iter().enumerate() {
            let mut run = RunData::new(cfg.clone(), theme::run_color(i));
            let handle = match worker::spawn(
                spec.clone(),
                PathBuf::from("."),
                cfg.clone(),
                self.repaint.clone(),
            ) {
                Ok(h) => Some(h),
                Err(e) => {
                    run.status = RunStatus::Invalid(format!("cannot start a worker thread: {e}"));
                    None
                }
            };
            self.runs.push(run);
            self.handles.push(handle);
            self.field_requested.push(None);
        }
    }

    /// Takes up to `budget` messages of run `i`.
    fn drain(&mut self, i: usize, budget: usize) {
        let Some(h) = &self.handles[i] else { return };
        let mut n = 0;
        while n < budget {
            match h.rx.try_recv() {
                Ok(m) => {
                    let invalid = matches!(m, SolveMsg::Invalid(_));
                    apply_msg(&mut self.runs[i], m);
                    n += 1;
                    if invalid {
                        self.handles[i] = None;
                        return;
                    }
                }
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    if !self.runs[i].is_finished() {
                        self.runs[i].status = RunStatus::Invalid("the solve worker stopped".into());
                    }
                    self.handles[i] = None;
                    return;
                }
            }
        }
        // More is waiting: come back next frame.
        (self.repaint)();
    }

    fn busy_workers(&self) -> usize {
        self.runs.iter().filter(|r| !r.is_finished()).count()
            + usize::from(self.sweep.running())
            + self.jobs.pending()
    }

    // ----- commands -----

    fn apply_commands(&mut self) {
        let commands = std::mem::take(&mut self.commands);
        for c in commands {
            self.apply(c);
        }
    }

    fn available(&self) -> usize {
        self.runs.iter().map(|r| r.records.len()).max().unwrap_or(0)
    }

    #[allow(clippy::too_many_lines)]
    fn apply(&mut self, c: Command) {
        match c {
            Command::Run => self.start_runs(),
            Command::Cancel => {
                for (run, h) in self.runs.iter_mut().zip(&mut self.handles) {
                    if !run.is_finished() {
                        run.status = RunStatus::Stopped;
                        *h = None;
                    }
                }
            }
            Command::Play => {
                if self.view.playback.shown >= self.available()
                    && self.runs.iter().all(RunData::is_finished)
                {
                    self.view.playback.restart();
                }
                self.view.playback.playing = true;
            }
            Command::Pause => self.view.playback.playing = false,
            Command::StepForward => {
                let n = self.available();
                self.view.playback.single_step(n);
            }
            Command::StepBack => self.view.playback.step_back(),
            Command::Restart => {
                self.view.playback.restart();
                self.view.playback.playing = true;
            }
            Command::Select(s) => self.select(s),
            Command::LoadPreset(path) => {
                self.jobs.spawn("load-preset", move || {
                    JobResult::PresetLoaded(Box::new(check_preset(&path)))
                });
            }
            Command::LoadPresetDialog => {
                let dir = self.options.presets_dir.clone();
                self.jobs.spawn("load-preset", move || {
                    match jobs::pick_file("Load preset", "nodelab preset", &["toml"], &dir) {
                        Some(p) => JobResult::PresetLoaded(Box::new(check_preset(&p))),
                        None => JobResult::Cancelled,
                    }
                });
            }
            Command::SavePreset(path) => match self.session.to_preset().to_toml() {
                Ok(text) => self.jobs.spawn("save-preset", move || {
                    JobResult::PresetSaved(jobs::write_text(&path, &text))
                }),
                Err(e) => self.toasts.error(format!("cannot encode the preset: {e}")),
            },
            Command::SavePresetDialog => match self.session.to_preset().to_toml() {
                Ok(text) => {
                    let dir = self.options.presets_dir.clone();
                    self.jobs.spawn("save-preset", move || {
                        match jobs::save_file(
                            "Save preset",
                            "nodelab preset",
                            &["toml"],
                            &dir,
                            "session.toml",
                        ) {
                            Some(p) => JobResult::PresetSaved(jobs::write_text(&p, &text)),
                            None => JobResult::Cancelled,
                        }
                    });
                }
                Err(e) => self.toasts.error(format!("cannot encode the preset: {e}")),
            },
            Command::RefreshPresets => {
                let dir = self.options.presets_dir.clone();
                self.jobs.spawn("list-presets", move || {
                    JobResult::PresetList(jobs::list_presets(&dir))
                });
            }
            Command::PickWeights => {
                self.jobs.spawn("weights", move || {
                    let dir = std::env::current_dir().unwrap_or_default();
                    match jobs::pick_file("Load network weights", "weights (JSON)", &["json"], &dir)
                    {
                        Some(p) => JobResult::WeightsLoaded(jobs::load_weights(&p)),
                        None => JobResult::Cancelled,
                    }
                });
            }
            Command::LoadWeights(path) => {
                self.jobs.spawn("weights", move || {
                    JobResult::WeightsLoaded(jobs::load_weights(&path))
                });
            }
            Command::ExportPlot { plot, format, path } => self.export_plot(plot, format, path),
            Command::ExportCsv { run, path } => self.export_csv(run, path),
            Command::RunWorkPrecision => {
                let spec = self.session.problem_spec();
                match sweep::spawn(spec, PathBuf::from("."), self.repaint.clone()) {
                    Ok(h) => {
                        self.sweep.handle = Some(h);
                        self.sweep.error = None;
                        self.sweep.progress = (0, 0);
                    }
                    Err(e) => self.sweep.error = Some(format!("cannot start the sweep: {e}")),
                }
            }
            Command::CancelWorkPrecision => self.sweep.handle = None,
            Command::SetDark(d) => {
                // Applied at the start of the next frame (see `ui`).
                self.dark = d;
                (self.repaint)();
            }
            Command::DismissError => self.preset_error = None,
            Command::RequestField {
                run,
                axes,
                bounds,
                fixed,
            } => {
                if self.field_requested.get(run).copied().flatten() != Some(axes)
                    && let Some(Some(h)) = self.handles.get(run)
                    && h.request(SolveRequest::Field {
                        axes,
                        bounds,
                        fixed,
                    })
                {
                    self.field_requested[run] = Some(axes);
                }
            }
        }
    }

    fn select(&mut self, s: Option<StepRef>) {
        self.view.selected = s;
        self.view.scroll_to_selection = true;
        let Some(s) = s else { return };
        self.view.table_run = s.run;
        let Some(run) = self.runs.get(s.run) else {
            return;
        };
        let (Some(r), Some(start)) = (run.records.get(s.record), run.start_state(s.record)) else {
            return;
        };
        if r.dense.coefficients().is_some()
            && let Some(Some(h)) = self.handles.get(s.run)
        {
            h.request(SolveRequest::Probe {
                record: s.record,
                t: r.t,
                h: r.h,
                y_start: start.to_vec(),
                y_end: r.y.clone(),
                dense: r.dense.clone(),
            });
        }
    }

    /// The export figure of a plot (a copy of the data; rendering happens on a job thread).
    pub fn figure(&self, plot: PlotKind) -> Option<Figure> {
        let (runs, view) = (&self.runs, &self.view);
        Some(match plot {
            PlotKind::Solution => plots::solution::figure(runs, view),
            PlotKind::StepSize => plots::step_size::figure(runs, view),
            PlotKind::ErrorRatio => plots::error_ratio::figure(runs, view),
            PlotKind::Coefficients => plots::coefficients::figure(runs, view),
            PlotKind::Phase => plots::phase::figure(runs, view),
            PlotKind::WorkPrecision => plots::work_precision::figure(self.sweep.result.as_ref()?),
        })
    }

    fn export_plot(&mut self, plot: PlotKind, format: Format, path: Option<PathBuf>) {
        let Some(figure) = self.figure(plot) else {
            self.toasts
                .error("nothing to export yet: run the work-precision sweep first");
            return;
        };
        let name = format!("{}.{}", plot.stem(), format.extension());
        self.jobs.spawn("export", move || {
            let path = match path {
                Some(p) => p,
                None => {
                    let dir = std::env::current_dir().unwrap_or_default();
                    let ext = format.extension();
                    match jobs::save_file("Export plot", ext, &[ext], &dir, &name) {
                        Some(p) => p,
                        None => return JobResult::Cancelled,
                    }
                }
            };
            JobResult::Exported(
                export::write(&figure, &path, format)
                    .map(|()| path.clone())
                    .map_err(|e| e.to_string()),
            )
        });
    }

    fn export_csv(&mut self, run: usize, path: Option<PathBuf>) {
        let Some(data) = self.runs.get(run) else {
            self.toasts.error("no run to export yet");
            return;
        };
        let Some(dim) = data.problem.as_ref().map(|p| p.dim()) else {
            self.toasts.error("the run has no steps yet");
            return;
        };
        let records = data.records.clone();
        let name = format!("steps-{}.csv", data.config.method);
        self.jobs.spawn("export-csv", move || {
            let path = match path {
                Some(p) => p,
                None => {
                    let dir = std::env::current_dir().unwrap_or_default();
                    match jobs::save_file("Export steps", "CSV", &["csv"], &dir, &name) {
                        Some(p) => p,
                        None => return JobResult::Cancelled,
                    }
                }
            };
            JobResult::Exported(write_csv(&path, dim, &records))
        });
    }

    fn on_job(&mut self, r: JobResult) {
        match r {
            JobResult::PresetLoaded(result) => match *result {
                Ok((loaded, problem)) => {
                    self.session.apply_preset(&loaded, &problem);
                    self.preset_error = None;
                    let name = Path::new(&loaded.source)
                        .file_name()
                        .map_or(loaded.source.clone(), |n| n.to_string_lossy().into_owned());
                    self.toasts.info(format!("loaded {name}"));
                    self.commands.push(Command::Run);
                }
                Err(e) => self.preset_error = Some(e.to_string()),
            },
            JobResult::PresetSaved(Ok(p)) => {
                self.toasts.info(format!("preset saved to {}", p.display()))
            }
            JobResult::Exported(Ok(p)) => self.toasts.info(format!("exported to {}", p.display())),
            JobResult::PresetSaved(Err(e)) | JobResult::Exported(Err(e)) => self.toasts.error(e),
            JobResult::PresetList(list) => self.presets = list,
            JobResult::WeightsLoaded(Ok((path, dim))) => {
                let n = &mut self.session.neural;
                n.weights = Some(std::path::absolute(&path).unwrap_or(path.clone()));
                n.y0.resize(dim, 0.0);
                if n.t_span[1] <= n.t_span[0] {
                    n.t_span = [0.0, 1.0];
                }
                self.session.kind = ProblemKind::Neural;
                self.toasts
                    .info(format!("weights loaded from {}", path.display()));
                self.commands.push(Command::Run);
            }
            JobResult::WeightsLoaded(Err(e)) => self.toasts.error(e),
            JobResult::Cancelled => {}
        }
    }

    // ----- frame -----

    fn handle_input(&mut self, ctx: &egui::Context) {
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

    fn error_window(&mut self, ctx: &egui::Context) {
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

    fn central(&mut self, ui: &mut egui::Ui) {
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
        match self.view.tab {
            Tab::TimePlots => plots::time_plots(ui, &self.runs, &mut self.view, &mut self.commands),
            Tab::Phase => plots::phase::ui(ui, &self.runs, &mut self.view, &mut self.commands),
            Tab::WorkPrecision => plots::work_precision::ui(ui, &self.sweep, &mut self.commands),
        }
    }

    fn smoke_test_hooks(&mut self, ctx: &egui::Context) {
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

/// Writes the CSV of `records` (the CLI's `--steps-csv` format).
pub fn write_csv(
    path: &Path,
    dim: usize,
    records: &[crate::solver::StepRecord],
) -> Result<PathBuf, String> {
    use std::io::Write;
    let write = || -> std::io::Result<()> {
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        steps_csv::write(&mut file, dim, records)?;
        file.flush()
    };
    write()
        .map(|()| path.to_path_buf())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn save_color_image(image: &egui::ColorImage, path: &Path) -> Result<(), String> {
    let [w, h] = image.size;
    let bytes: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
    let img = image::RgbaImage::from_raw(w as u32, h as u32, bytes)
        .ok_or_else(|| "screenshot has the wrong size".to_string())?;
    img.save(path)
        .map_err(|e| format!("cannot save the screenshot to {}: {e}", path.display()))
}

/// Applies one worker message to its run.
fn apply_msg(run: &mut RunData, m: SolveMsg) {
    match m {
        SolveMsg::Started(info) => run.start(info),
        SolveMsg::Exact(curve) => run.exact_curve = curve,
        SolveMsg::Steps(records, errors) => run.push(records, errors),
        SolveMsg::Finished {
            nfev,
            warnings,
            error,
        } => {
            run.nfev = nfev;
            run.warnings = warnings;
            run.status = match error {
                Some(e) => RunStatus::Failed(e),
                None => RunStatus::Done,
            };
        }
        SolveMsg::Invalid(e) => run.status = RunStatus::Invalid(e),
        SolveMsg::Probe(p) => run.probe = Some(p),
        SolveMsg::Field(f) => run.field = Some(f),
    }
}

impl eframe::App for NodelabApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let started = Instant::now();
        let ctx = ui.ctx().clone();
        if ctx.theme()
            != if self.dark {
                egui::Theme::Dark
            } else {
                egui::Theme::Light
            }
        {
            theme::apply(&ctx, self.dark);
        }
        for i in 0..self.runs.len() {
            self.drain(i, MESSAGES_PER_FRAME);
        }
        for r in self.jobs.poll() {
            self.on_job(r);
        }
        self.sweep.poll();
        self.handle_input(&ctx);
        let dt = ctx.input(|i| i.stable_dt) as f64;
        let available = self.available();
        if self.view.playback.advance(dt, available) {
            ctx.request_repaint();
        }
        self.custom_check.update(&self.session.custom);

        egui::Panel::top("menu").show(ui, |ui| {
            menu::menu_bar(
                ui,
                &self.presets,
                &mut self.view,
                self.dark,
                &mut self.commands,
            );
        });
        egui::Panel::top("toolbar").show(ui, |ui| {
            menu::toolbar(ui, &mut self.view, available, &mut self.commands);
        });
        egui::Panel::bottom("status").show(ui, |ui| {
            let adapter = if self.options.show_adapter {
                self.adapter.as_deref()
            } else {
                Some("(adapter hidden)")
            };
            status_bar::ui(ui, adapter, self.busy_workers(), &self.view);
        });
        egui::Panel::left("setup")
            .resizable(true)
            .default_size(330.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    problem_panel::ui(
                        ui,
                        &mut self.session,
                        &self.custom_check,
                        &mut self.commands,
                    );
                    ui.separator();
                    let running = self.runs.iter().any(|r| !r.is_finished());
                    solver_panel::ui(ui, &mut self.session.solvers, running, &mut self.commands);
                });
            });
        egui::Panel::right("inspector")
            .resizable(true)
            .default_size(300.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    inspector::ui(ui, &self.runs, &mut self.view, &mut self.commands);
                    ui.separator();
                    stats::ui(ui, &self.runs, &mut self.view, &mut self.commands);
                });
            });
        if self.view.show_table && self.view.tab == Tab::TimePlots && !self.runs.is_empty() {
            egui::Panel::bottom("steps")
                .resizable(true)
                .default_size(170.0)
                .min_size(140.0)
                .show(ui, |ui| {
                    step_table::ui(
                        ui,
                        &self.runs,
                        &mut self.view,
                        &mut self.table_order,
                        &mut self.commands,
                    );
                });
        }
        egui::CentralPanel::default().show(ui, |ui| self.central(ui));
        self.error_window(&ctx);
        self.toasts.ui(&ctx, dt as f32);
        if self.view.debug_overlay {
            let n: usize = self.runs.iter().map(|r| r.records.len()).sum();
            status_bar::overlay(&ctx, &self.view, n);
            ctx.request_repaint();
        }

        self.view.hovered = self.view.hovered_next.take().filter(|_| self.options.hover);
        self.apply_commands();
        let now = Instant::now();
        let interval = self
            .last_frame
            .map_or(0.0, |t| (now - t).as_secs_f32() * 1000.0);
        self.last_frame = Some(now);
        self.view
            .frame_times
            .push((now - started).as_secs_f32() * 1000.0, interval);
        self.frames += 1;
        self.smoke_test_hooks(&ctx);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if let Ok(s) = serde_json::to_string(&self.session) {
            storage.set_string(SESSION_KEY, s);
        }
        storage.set_string(DARK_KEY, if self.dark { "dark" } else { "light" }.into());
    }
}
