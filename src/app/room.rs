//! A room: one workspace of the app (the explorer, Gradients, Training). The shell
//! ([`super::shell`]) iterates the room list ([`super::rooms`]) and calls the [`Room`] trait;
//! it never names a room. Each room owns three kinds of state, kept apart:
//!
//! - its **saved setup** (undoable through [`super::undo::EditHistory`], stored under the room's
//!   storage key between launches);
//! - the **data its workers produce** (solves, training runs, measurements), received over
//!   bounded channels in [`Room::poll`];
//! - short-lived **view state** (tabs, selection, sort order), never saved.
//!
//! The one rule of every room: panels read state and emit edits or actions into the room's
//! queue; the room applies the queue in one place ([`Room::apply`], at the end of the frame).
//! Panels never start or stop threads and never write the setup directly.

use std::any::{Any, TypeId};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::jobs::{JobResult, Jobs};
use super::options::AppOptions;
use super::status_bar::FrameTimes;
use super::toasts::Toasts;

/// What the shell shows of a room and where it keeps the room's saved setup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoomInfo {
    /// The name of `NODELAB_WORKSPACE=name`.
    pub name: &'static str,
    /// The top bar's label.
    pub label: &'static str,
    /// The top bar's hover text.
    pub help: &'static str,
}

/// A stored value by key (eframe's storage; `None` on a fresh start).
pub type Stored<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What a room is restored from at launch: the storage and the launch options.
#[derive(Clone, Copy)]
pub struct Restore<'a> {
    pub stored: Stored<'a>,
    pub options: &'a AppOptions,
}

/// What the shell offers every room: the services all rooms share.
pub struct Shared {
    /// The dark theme (applied by the shell at the start of the next frame).
    pub dark: bool,
    /// File work off the UI thread; results come back through [`Room::on_job`].
    pub jobs: Jobs,
    pub toasts: Toasts,
    /// The presets folder and its `.toml` files (listed on a job).
    pub presets_dir: PathBuf,
    pub presets: Vec<PathBuf>,
    /// Use the system's file dialogs where a backend is found.
    pub file_dialogs: bool,
    /// The adapter's name as the status bar shows it.
    pub adapter: Option<String>,
    /// GPU compute on the renderer's device (none when eframe runs without wgpu).
    pub gpu: Option<Arc<crate::gpu::GpuContext>>,
    /// Asks egui for another frame (worker threads call it when data arrives).
    pub repaint: Arc<dyn Fn() + Send + Sync>,
    /// Recent frame times and whether the debug overlay shows them.
    pub frame_times: FrameTimes,
    pub debug_overlay: bool,
    handoffs: Vec<Handoff>,
    show: Option<TypeId>,
}

impl Shared {
    pub fn new(options: &AppOptions, repaint: Arc<dyn Fn() + Send + Sync>, dark: bool) -> Self {
        Self {
            dark,
            jobs: Jobs::new(repaint.clone()),
            toasts: Toasts::default(),
            presets_dir: options.presets_dir.clone(),
            presets: Vec::new(),
            file_dialogs: options.file_dialogs,
            adapter: None,
            gpu: None,
            repaint,
            frame_times: FrameTimes::default(),
            debug_overlay: options.debug_overlay,
            handoffs: Vec::new(),
            show: None,
        }
    }

    /// Lists the presets folder on a job (the Presets menu and the Gradients room read it).
    pub fn refresh_presets(&mut self) {
        let dir = self.presets_dir.clone();
        self.jobs.spawn("list-presets", move || {
            JobResult::PresetList(super::jobs::list_presets(&dir))
        });
    }

    /// The handoffs sent this frame, and the room asked to come on screen.
    pub fn take_mail(&mut self) -> (Vec<Handoff>, Option<TypeId>) {
        (std::mem::take(&mut self.handoffs), self.show.take())
    }
}

/// What one room hands another (delivered by the shell to every room's [`Room::receive`]).
#[derive(Clone, Debug)]
pub enum Handoff {
    /// A trained model to explore: write it to `path` and solve it from `y0` over `t_span`.
    OpenTrainedModel {
        model: crate::train::Model,
        path: PathBuf,
        y0: Vec<f64>,
        t_span: [f64; 2],
    },
}

/// A room's view of the app while it acts: the shared services, and the other rooms to read.
pub struct RoomCx<'a> {
    pub shared: &'a mut Shared,
    others: Vec<&'a dyn Room>,
}

impl<'a> RoomCx<'a> {
    pub fn new(shared: &'a mut Shared, others: Vec<&'a dyn Room>) -> Self {
        Self { shared, others }
    }

    /// Another room, to read from (the Gradients room measures the Training room's weights).
    pub fn room<T: Room>(&self) -> Option<&T> {
        self.others
            .iter()
            .find_map(|r| r.as_any().downcast_ref::<T>())
    }

    /// Sends `h` to every room (applied after this frame's rooms have run).
    pub fn hand_off(&mut self, h: Handoff) {
        self.shared.handoffs.push(h);
    }

    /// Brings room `T` on screen.
    pub fn show<T: Room>(&mut self) {
        self.shared.show = Some(TypeId::of::<T>());
    }
}

/// What the launch settings ask for, by claim: the room with the highest claim gets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The preset of `NODELAB_PRESET`.
    Preset,
    /// The run of `NODELAB_START`.
    Start,
}

/// The launch settings as a room sees them.
pub struct Launch<'a> {
    pub options: &'a AppOptions,
    /// This room opens at launch (`NODELAB_WORKSPACE`, or the first room).
    pub opened: bool,
    /// The launch preset's text, when there is one and it reads.
    pub preset_text: Option<&'a str>,
}

/// The top-level menus rooms add entries to (the shell draws Edit itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Menu {
    File,
    Presets,
    Export,
    View,
}

/// One room of the app. Only [`Room::info`] and [`Room::restore`] are required besides the
/// frame; the rest defaults to "nothing here".
pub trait Room: Any {
    /// Name, label and help.
    fn info() -> RoomInfo
    where
        Self: Sized;

    /// The room as saved by the previous launch (`from.stored` reads the room's keys).
    fn restore(from: Restore<'_>) -> Self
    where
        Self: Sized;

    /// Saves the room's setup under its keys.
    fn save(&self, put: &mut dyn FnMut(&'static str, String));

    /// How strongly this room claims a launch setting (`None`: not at all).
    fn claim(&self, _what: Claim, _launch: &Launch<'_>) -> Option<u8> {
        None
    }

    /// Acts on the launch settings, once, after every room exists. `preset` and `start` are
    /// set when this room won their claims.
    fn launch(
        &mut self,
        _launch: &Launch<'_>,
        _preset: Option<&Path>,
        _start: bool,
        _cx: &mut RoomCx<'_>,
    ) {
    }

    /// Work is going on (the top bar shows a dot).
    fn busy(&self) -> bool {
        false
    }

    /// Worker threads counted by the status bar.
    fn workers(&self) -> usize {
        0
    }

    /// Data points held (the debug overlay and scripted runs report them).
    fn points(&self) -> usize {
        0
    }

    /// Every frame, for every room (on screen or not): takes its workers' messages.
    fn poll(&mut self, _ctx: &egui::Context, _cx: &mut RoomCx<'_>) {}

    /// Panels drawn above the status bar (a toolbar).
    fn top_panels(&mut self, _ui: &mut egui::Ui, _cx: &mut RoomCx<'_>) {}

    /// The side panels and the central view, when the room is on screen.
    fn panels(&mut self, ui: &mut egui::Ui, cx: &mut RoomCx<'_>);

    /// The room's entries of a top-level menu (drawn whichever room is on screen).
    fn menu(&mut self, _menu: Menu, _ui: &mut egui::Ui, _cx: &mut RoomCx<'_>) {}

    /// Queues an undo (redo) of the last setup edit.
    fn undo(&mut self) {}
    fn redo(&mut self) {}

    /// Steps that can be undone and redone.
    fn undo_depth(&self) -> (usize, usize) {
        (0, 0)
    }

    /// The one apply point: the queued edits and actions, at the end of every frame.
    fn apply(&mut self, _cx: &mut RoomCx<'_>) {}

    /// Blocks until the room's workers have finished (tests); returns whether it queued more
    /// work meanwhile.
    fn settle(&mut self, cx: &mut RoomCx<'_>) -> bool {
        self.apply(cx);
        false
    }

    /// A job's result that the shell does not handle itself; given back when not this room's.
    fn on_job(
        &mut self,
        result: Box<dyn Any + Send>,
        _cx: &mut RoomCx<'_>,
    ) -> Option<Box<dyn Any + Send>> {
        Some(result)
    }

    /// A file dropped on the window; `false` when not this room's.
    fn dropped(&mut self, _path: &Path) -> bool {
        false
    }

    /// A handoff from another room.
    fn receive(&mut self, _handoff: &Handoff, _cx: &mut RoomCx<'_>) {}

    /// For [`RoomCx::room`].
    fn as_any(&self) -> &dyn Any;
}
