//! File work off the UI thread: preset load/save, exports, the presets folder listing and file
//! dialogs (rfd's async API, blocked on in the job's own thread). Each job is a named thread
//! that sends one [`JobResult`] over a bounded channel and requests a repaint.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender};

/// What a finished job reports: the kinds the shell handles itself (a toast, the presets
/// list), or a room's own result, which the shell hands to the rooms until one takes it.
#[derive(Debug)]
pub enum JobResult {
    PresetSaved(Result<PathBuf, String>),
    /// What was exported and where.
    Exported(Result<PathBuf, String>),
    PresetList(Vec<PathBuf>),
    /// The user closed a file dialog.
    Cancelled,
    /// A room's own result (see [`super::room::Room::on_job`]).
    Room(Box<dyn std::any::Any + Send>),
}

impl JobResult {
    /// A room's own result.
    pub fn room(result: impl std::any::Any + Send) -> Self {
        Self::Room(Box::new(result))
    }
}

/// The job queue. `pending` counts jobs whose result has not been taken yet.
pub struct Jobs {
    tx: SyncSender<JobResult>,
    rx: Receiver<JobResult>,
    pending: usize,
    repaint: Arc<dyn Fn() + Send + Sync>,
}

impl Jobs {
    pub fn new(repaint: Arc<dyn Fn() + Send + Sync>) -> Self {
        let (tx, rx) = mpsc::sync_channel(16);
        Self {
            tx,
            rx,
            pending: 0,
            repaint,
        }
    }

    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Runs `job` on a named thread.
    pub fn spawn(&mut self, name: &str, job: impl FnOnce() -> JobResult + Send + 'static) {
        let tx = self.tx.clone();
        let repaint = self.repaint.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("job-{name}"))
            .spawn(move || {
                let _ = tx.send(job());
                repaint();
            });
        match spawned {
            Ok(_) => self.pending += 1,
            Err(e) => log::error!("cannot start a {name} job: {e}"),
        }
    }

    /// Results that are ready.
    pub fn poll(&mut self) -> Vec<JobResult> {
        let out: Vec<JobResult> = self.rx.try_iter().collect();
        self.pending -= out.len().min(self.pending);
        out
    }

    /// Blocks until every pending job has reported (tests and shutdown).
    pub fn wait_all(&mut self) -> Vec<JobResult> {
        let mut out = Vec::new();
        while self.pending > 0 {
            match self.rx.recv() {
                Ok(r) => {
                    out.push(r);
                    self.pending -= 1;
                }
                Err(_) => break,
            }
        }
        out
    }
}

/// An open-file dialog (blocking the calling job thread, never the UI).
pub fn pick_file(title: &str, filter: &str, extensions: &[&str], dir: &Path) -> Option<PathBuf> {
    let dialog = rfd::AsyncFileDialog::new()
        .set_title(title)
        .add_filter(filter, extensions)
        .set_directory(dir);
    pollster::block_on(dialog.pick_file()).map(|h| h.path().to_path_buf())
}

/// A save-file dialog.
pub fn save_file(
    title: &str,
    filter: &str,
    extensions: &[&str],
    dir: &Path,
    name: &str,
) -> Option<PathBuf> {
    let dialog = rfd::AsyncFileDialog::new()
        .set_title(title)
        .add_filter(filter, extensions)
        .set_directory(dir)
        .set_file_name(name);
    pollster::block_on(dialog.save_file()).map(|h| h.path().to_path_buf())
}

/// The `.toml` files of a folder, sorted.
pub fn list_presets(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        // Training presets ([train]) describe no problem for the explorer.
        .filter(|p| {
            !std::fs::read_to_string(p).is_ok_and(|t| crate::train::preset::is_train_preset(&t))
        })
        .collect();
    out.sort();
    out
}

/// Writes text to a file, with the path in the error.
pub fn write_text(path: &Path, text: &str) -> Result<PathBuf, String> {
    crate::output::write_bytes(path, text.as_bytes())
        .map(|()| path.to_path_buf())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Loads a weights file to check it and learn the network's dimension.
pub fn load_weights(path: &Path) -> Result<(PathBuf, usize), String> {
    crate::problem::neural::load_weights(path)
        .map(|mlp| (path.to_path_buf(), mlp.dim()))
        .map_err(|e| e.to_string())
}
