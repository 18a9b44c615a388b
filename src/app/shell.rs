//! The shell: the window around the rooms. It holds only what every room shares (theme, menus,
//! toasts, jobs, the status bar, GPU context, frame timing and the scripted-run hooks) and the
//! room list ([`Rooms`]); it names no room. Each frame it polls every room, draws the menu bar,
//! the room bar and the status bar, lets the room on screen draw its panels, then has every
//! room apply its queued edits and actions ([`Room::apply`]) and delivers the rooms' handoffs.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use super::jobs::JobResult;
use super::options::AppOptions;
use super::room::{Restore, Shared};
use super::rooms::{Rooms, Workspace};
use super::{status_bar, theme};

mod access;
mod hooks;
mod launch;
mod menus;

const DARK_KEY: &str = "nodelab-dark";
/// The room on screen when the app was closed (its `NODELAB_WORKSPACE` name).
const WORKSPACE_KEY: &str = "nodelab-workspace";

/// The room to open: `NODELAB_WORKSPACE`'s, else the one on screen when the app was last
/// closed (`stored`: the saved session), else the first.
pub fn initial_workspace(
    options: &AppOptions,
    stored: &dyn Fn(&str) -> Option<String>,
) -> Workspace {
    options
        .workspace
        .or_else(|| stored(WORKSPACE_KEY).and_then(|n| Workspace::parse(&n)))
        .unwrap_or_default()
}

/// Rounds of handoffs delivered per frame at most (a room answering a handoff with another).
const HANDOFF_ROUNDS: usize = 8;

/// The nodelab desktop app.
pub struct NodelabApp {
    shared: Shared,
    rooms: Rooms,
    current: Workspace,
    options: AppOptions,
    frames: u64,
    last_frame: Option<Instant>,
    screenshot_saved: Arc<AtomicBool>,
    screenshot_requested: bool,
    closing: bool,
}

/// The rooms by name (`app.training`, `app.gradients`): tests and embedding reach a room's
/// state through them.
impl Deref for NodelabApp {
    type Target = Rooms;

    fn deref(&self) -> &Rooms {
        &self.rooms
    }
}

impl DerefMut for NodelabApp {
    fn deref_mut(&mut self) -> &mut Rooms {
        &mut self.rooms
    }
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
        if !options.restore {
            // Fresh means fresh: egui's persisted memory (panel widths, plot zoom) was loaded
            // by eframe before the app exists; forget it too.
            cc.egui_ctx
                .memory_mut(|m| m.data = egui::util::IdTypeMap::default());
        }
        let dark = stored(DARK_KEY).is_none_or(|s| s != "light");
        theme::install_fonts(&cc.egui_ctx);
        theme::apply(&cc.egui_ctx, dark);
        let mut shared = Shared::new(&options, repaint, dark);
        // The compute context shares eframe's own wgpu device and queue, so GPU results can be
        // drawn without copies; the status bar reports that adapter.
        shared.gpu = cc.wgpu_render_state.as_ref().map(|rs| {
            crate::gpu::GpuContext::from_device(
                rs.device.clone(),
                rs.queue.clone(),
                &rs.adapter.get_info(),
            )
        });
        shared.adapter = if options.show_adapter {
            shared.gpu.as_ref().map(|g| g.adapter.summary())
        } else {
            Some("(adapter hidden)".into())
        };
        shared.refresh_presets();
        let rooms = Rooms::restore(Restore {
            stored: &stored,
            options: &options,
        });
        let mut app = Self {
            shared,
            rooms,
            current: initial_workspace(&options, &stored),
            options,
            frames: 0,
            last_frame: None,
            screenshot_saved: Arc::new(AtomicBool::new(false)),
            screenshot_requested: false,
            closing: false,
        };
        app.launch();
        app
    }

    /// The handoffs between rooms, and the room asked to come on screen.
    pub(super) fn deliver_mail(&mut self) {
        for _ in 0..HANDOFF_ROUNDS {
            let (handoffs, show) = self.shared.take_mail();
            if let Some(w) = show.and_then(|id| self.rooms.find(id)) {
                self.current = w;
            }
            if handoffs.is_empty() {
                return;
            }
            for h in &handoffs {
                self.rooms
                    .for_each(&mut self.shared, |room, cx| room.receive(h, cx));
            }
        }
    }

    /// A finished job: the shared kinds here, a room's own to the rooms until one takes it.
    fn on_job(&mut self, r: JobResult) {
        match r {
            JobResult::PresetSaved(Ok(p)) => self
                .shared
                .toasts
                .info(format!("preset saved to {}", p.display())),
            JobResult::Exported(Ok(p)) => self
                .shared
                .toasts
                .info(format!("exported to {}", p.display())),
            JobResult::PresetSaved(Err(e)) | JobResult::Exported(Err(e)) => {
                self.shared.toasts.error(e)
            }
            JobResult::PresetList(list) => self.shared.presets = list,
            JobResult::Cancelled => {}
            JobResult::Room(result) => {
                let mut left = Some(result);
                for &w in Workspace::ALL {
                    if let Some(r) = left.take() {
                        left = self
                            .rooms
                            .with(w, &mut self.shared, |room, cx| room.on_job(r, cx));
                    }
                }
            }
        }
    }

    /// Dropped files go to the first room that takes them; Ctrl+Z and Ctrl+Shift+Z undo and
    /// redo the setup edits of the room on screen (a text field being typed in keeps them for
    /// its own text).
    fn input(&mut self, ctx: &egui::Context) {
        let dropped: Vec<std::path::PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        for p in dropped {
            let taken = Workspace::ALL.iter().any(|&w| {
                self.rooms
                    .with(w, &mut self.shared, |room, _| room.dropped(&p))
            });
            if !taken {
                self.shared.toasts.error(format!(
                    "{}: drop a preset (.toml) or weights (.json)",
                    p.display()
                ));
            }
        }
        let (undo, redo) = ctx.input(|i| {
            let z = i.modifiers.command && i.key_pressed(egui::Key::Z);
            (z && !i.modifiers.shift, z && i.modifiers.shift)
        });
        if !ctx.egui_wants_keyboard_input() {
            let room = self.rooms.get_mut(self.current);
            if undo {
                room.undo();
            }
            if redo {
                room.redo();
            }
        }
    }
}

impl eframe::App for NodelabApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let started = Instant::now();
        let ctx = ui.ctx().clone();
        let theme = if self.shared.dark {
            egui::Theme::Dark
        } else {
            egui::Theme::Light
        };
        if ctx.theme() != theme {
            theme::apply(&ctx, self.shared.dark);
        }
        self.rooms
            .for_each(&mut self.shared, |room, cx| room.poll(&ctx, cx));
        for r in self.shared.jobs.poll() {
            self.on_job(r);
        }
        self.input(&ctx);
        egui::Panel::top("menu").show(ui, |ui| self.menu_bar(ui));
        egui::Panel::top("workspaces").show(ui, |ui| self.room_bar(ui));
        let current = self.current;
        self.rooms.with(current, &mut self.shared, |room, cx| {
            room.top_panels(ui, cx)
        });
        egui::Panel::bottom("status").show(ui, |ui| {
            let workers = Workspace::ALL
                .iter()
                .map(|&w| self.rooms.get(w).workers())
                .sum::<usize>()
                + self.shared.jobs.pending();
            let s = &self.shared;
            let times = s.debug_overlay.then_some(&s.frame_times);
            status_bar::ui(ui, s.adapter.as_deref(), workers, times);
        });
        self.rooms
            .with(current, &mut self.shared, |room, cx| room.panels(ui, cx));
        let dt = ctx.input(|i| i.stable_dt);
        self.shared.toasts.ui(&ctx, dt);
        self.finish_frame(&ctx, started);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        storage.set_string(
            DARK_KEY,
            if self.shared.dark { "dark" } else { "light" }.into(),
        );
        storage.set_string(WORKSPACE_KEY, self.current.name().into());
        for (_, room) in self.rooms.each() {
            room.save(&mut |key, value| storage.set_string(key, value));
        }
    }
}

impl NodelabApp {
    /// The rooms' apply points, the handoffs, frame timing and the scripted-run hooks, at the
    /// end of every frame.
    fn finish_frame(&mut self, ctx: &egui::Context, started: Instant) {
        self.rooms
            .for_each(&mut self.shared, |room, cx| room.apply(cx));
        self.deliver_mail();
        let now = Instant::now();
        let interval = self
            .last_frame
            .map_or(0.0, |t| (now - t).as_secs_f32() * 1000.0);
        self.last_frame = Some(now);
        self.shared
            .frame_times
            .push((now - started).as_secs_f32() * 1000.0, interval);
        self.frames += 1;
        self.scripted_run_hooks(ctx);
    }
}
