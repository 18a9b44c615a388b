//! Accessors for tests and embedding: the shared state, and the explorer's state by its old
//! names (`app.session()`, `app.runs()`, `app.push_command(…)`), which the tests drive the app
//! with. The rooms themselves are reached by name through `Deref` (`app.training`).

use std::path::PathBuf;
use std::sync::Arc;

use super::super::explorer::command::Command;
use super::super::explorer::files::FileAction;
use super::super::explorer::model::RunData;
use super::super::explorer::session::Session;
use super::super::explorer::state::{PlotKind, ViewState};
use super::super::explorer::sweep::SweepState;
use super::super::file_prompt::PathPrompt;
use super::super::rooms::Workspace;
use super::super::toasts::Toasts;
use super::NodelabApp;
use crate::export::Figure;

impl NodelabApp {
    /// The GPU compute context on eframe's own device, for GPU work started from the app.
    pub fn gpu(&self) -> Option<&Arc<crate::gpu::GpuContext>> {
        self.shared.gpu.as_ref()
    }

    /// The room on screen.
    pub fn workspace(&self) -> Workspace {
        self.current
    }

    /// How many setup edits of the room on screen can be undone and redone.
    pub fn undo_depth(&self) -> (usize, usize) {
        self.rooms.get(self.current).undo_depth()
    }

    /// Removes every notification now (snapshot tests: a toast's lifetime depends on frame
    /// timing, so it would make the images flaky).
    pub fn dismiss_toasts(&mut self) {
        self.shared.toasts.items.clear();
    }

    pub fn toasts(&self) -> &Toasts {
        &self.shared.toasts
    }

    pub fn presets(&self) -> &[PathBuf] {
        &self.shared.presets
    }

    /// Applies queued edits and actions and blocks until every room's workers and every job
    /// have finished, taking all their results (tests drive the app deterministically with
    /// this instead of waiting on wall-clock playback).
    pub fn settle(&mut self) {
        loop {
            let mut queued = false;
            self.rooms
                .for_each(&mut self.shared, |room, cx| queued |= room.settle(cx));
            let results = self.shared.jobs.wait_all();
            let delivered = !results.is_empty();
            for r in results {
                self.on_job(r);
            }
            self.deliver_mail();
            if !queued && !delivered && self.shared.jobs.pending() == 0 {
                break;
            }
        }
    }

    // ----- the explorer -----

    pub fn session(&self) -> &Session {
        self.rooms.explorer.session()
    }

    pub fn session_mut(&mut self) -> &mut Session {
        self.rooms.explorer.session_mut()
    }

    pub fn runs(&self) -> &[RunData] {
        self.rooms.explorer.runs()
    }

    pub fn view(&self) -> &ViewState {
        &self.rooms.explorer.view
    }

    pub fn view_mut(&mut self) -> &mut ViewState {
        &mut self.rooms.explorer.view
    }

    pub fn preset_error(&self) -> Option<&str> {
        self.rooms.explorer.preset_error()
    }

    /// The path prompt, while it is open.
    pub fn path_prompt(&self) -> Option<&PathPrompt<FileAction>> {
        self.rooms.explorer.path_prompt()
    }

    pub fn work_precision(&self) -> &SweepState {
        self.rooms.explorer.work_precision()
    }

    /// Queues a command, applied at the end of the next frame (or by [`Self::settle`]).
    pub fn push_command(&mut self, c: Command) {
        self.rooms.explorer.commands.push(c);
    }

    /// The export figure of a plot (a copy of the data; rendering happens on a job thread).
    pub fn figure(&self, plot: PlotKind) -> Option<Figure> {
        self.rooms.explorer.figure(plot)
    }

    /// Blocks until run `run` has answered every outstanding probe/field request that arrives
    /// within `timeout` (tests).
    pub fn wait_for_worker_reply(&mut self, run: usize, timeout: std::time::Duration) {
        self.rooms.explorer.wait_for_worker_reply(run, timeout);
    }
}
