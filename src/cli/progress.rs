//! Signs of life on stderr for long work. On a terminal: an `indicatif` spinner with the stage,
//! the elapsed time and, for counted work (fd's parameters), the count. Elsewhere: one plain
//! line once a stage has run for a second and every ten seconds after (none under `--json`,
//! whose stderr is for errors only).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::grad::progress as counter;

struct Stage {
    name: String,
    started: Instant,
    /// Units of [`counter`] the stage will tick, when it ticks at all.
    total: Option<u64>,
    /// When the last plain line was printed.
    reported: Option<Instant>,
}

struct Shared {
    stage: Mutex<Option<Stage>>,
    stop: AtomicBool,
}

/// The display of one command's stages.
pub struct Progress {
    shared: Arc<Shared>,
    bar: Option<ProgressBar>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// A spinner when stderr is a terminal; plain lines otherwise, unless `json`.
    pub fn new(json: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let shared = Arc::new(Shared {
            stage: Mutex::new(None),
            stop: AtomicBool::new(false),
        });
        if !terminal && json {
            return Self {
                shared,
                bar: None,
                thread: None,
            };
        }
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar
        });
        let thread = {
            let shared = shared.clone();
            let bar = bar.clone();
            std::thread::Builder::new()
                .name("progress".into())
                .spawn(move || watch(&shared, bar.as_ref()))
                .ok()
        };
        Self {
            shared,
            bar,
            thread,
        }
    }

    /// A new stage begins; `total` counts the units it will tick, if it ticks.
    pub fn stage(&self, name: &str, total: Option<u64>) {
        counter::reset();
        if let Ok(mut s) = self.shared.stage.lock() {
            *s = Some(Stage {
                name: name.to_string(),
                started: Instant::now(),
                total,
                reported: None,
            });
        }
        if let Some(bar) = &self.bar {
            bar.reset_elapsed();
            bar.set_message(name.to_string());
        }
    }

    /// A line for the user (an estimate) that does not disturb the spinner.
    pub fn note(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => {
                if self.thread.is_some() {
                    eprintln!("{line}");
                }
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn describe(stage: &Stage) -> String {
    match stage.total {
        Some(total) => format!("{} {}/{total}", stage.name, counter::done().min(total)),
        None => stage.name.clone(),
    }
}

fn watch(shared: &Shared, bar: Option<&ProgressBar>) {
    while !shared.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        let Ok(mut guard) = shared.stage.lock() else {
            return;
        };
        let Some(stage) = guard.as_mut() else {
            continue;
        };
        match bar {
            Some(bar) => {
                bar.set_message(describe(stage));
                bar.tick();
            }
            None => {
                let now = Instant::now();
                let due = match stage.reported {
                    None => now - stage.started >= Duration::from_secs(1),
                    Some(last) => now - last >= Duration::from_secs(10),
                };
                if due {
                    stage.reported = Some(now);
                    eprintln!(
                        "… {} ({:.0} s)",
                        describe(stage),
                        (now - stage.started).as_secs_f64()
                    );
                }
            }
        }
    }
}
