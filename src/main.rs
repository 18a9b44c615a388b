//! The `nodelab` binary: the app when run without arguments, the CLI otherwise.

/// Counts heap bytes so `nodelab grad` reports measured peak memory per method.
#[global_allocator]
static ALLOC: nodelab::mem::CountingAlloc = nodelab::mem::CountingAlloc;

fn main() {
    let runtime = private_runtime_dir();
    let code = nodelab::cli::run(nodelab::app::run);
    if let Some(dir) = runtime {
        let _ = std::fs::remove_dir_all(dir);
    }
    std::process::exit(code);
}

/// The Vulkan loader and winit print "XDG_RUNTIME_DIR is invalid or not set" dozens of times
/// when the variable is missing (containers, `su`, CI): give this process a private one, as the
/// specification asks (owned by the user, mode 0700), before any thread or wgpu starts.
/// Returns the folder made, to remove at exit.
fn private_runtime_dir() -> Option<std::path::PathBuf> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let usable = std::env::var_os("XDG_RUNTIME_DIR")
            .map(std::path::PathBuf::from)
            .is_some_and(|d| d.is_absolute() && d.is_dir());
        if usable {
            return None;
        }
        let dir = std::env::temp_dir().join(format!("nodelab-runtime-{}", std::process::id()));
        let made = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)));
        if made.is_ok() {
            // SAFETY: called first thing in `main`, before this process starts any thread, so
            // no other code can read the environment concurrently.
            unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
            return Some(dir);
        }
    }
    None
}
