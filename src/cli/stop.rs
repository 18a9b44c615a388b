//! A clean stop on SIGINT / SIGTERM for long commands (`nodelab train`): the first signal is
//! noted (the command finishes its iteration, writes its outputs marked as stopped and exits
//! with 128 + the signal's number: 130 for SIGINT, 143 for SIGTERM); a second one removes the
//! temporary files the outputs were being written to and ends the process at once, by the
//! signal's default action. Outputs are written atomically, so either way no output file is
//! ever left half-written.
//!
//! The signals are taken by `signal-hook`'s iterator on a thread of ours (not in a signal
//! handler), so the second signal's clean-up may do file I/O.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

/// The name of a stop signal.
pub fn name(sig: i32) -> &'static str {
    match sig {
        2 => "SIGINT",
        15 => "SIGTERM",
        _ => "a signal",
    }
}

/// The signal received so far (0: none).
#[derive(Debug)]
pub struct StopSignal(Arc<AtomicI32>);

impl StopSignal {
    /// Starts listening. `temps` are removed on a second signal. Without signal support (or
    /// when the handler cannot be set) the command runs as before, unstoppable but for a kill.
    pub fn install(temps: Vec<PathBuf>) -> Self {
        let flag = Arc::new(AtomicI32::new(0));
        #[cfg(unix)]
        {
            use signal_hook::consts::{SIGINT, SIGTERM};
            use signal_hook::iterator::Signals;
            match Signals::new([SIGINT, SIGTERM]) {
                Ok(mut signals) => {
                    let seen = flag.clone();
                    let spawned = std::thread::Builder::new()
                        .name("nodelab-signals".into())
                        .spawn(move || {
                            for sig in signals.forever() {
                                if seen.swap(sig, Ordering::SeqCst) == 0 {
                                    eprintln!(
                                        "\n{}: finishing the iteration and writing the outputs \
                                         (again to quit at once)",
                                        name(sig)
                                    );
                                    continue;
                                }
                                for t in &temps {
                                    let _ = std::fs::remove_file(t);
                                }
                                let _ = signal_hook::low_level::emulate_default_handler(sig);
                                std::process::exit(128 + sig);
                            }
                        });
                    if let Err(e) = spawned {
                        eprintln!("warning: no clean stop on Ctrl+C: {e}");
                    }
                }
                Err(e) => eprintln!("warning: no clean stop on Ctrl+C: {e}"),
            }
        }
        #[cfg(not(unix))]
        let _ = temps;
        Self(flag)
    }

    /// The first signal received, if any.
    pub fn received(&self) -> Option<i32> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }
}
