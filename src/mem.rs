//! Heap accounting: a counting global allocator that tracks live bytes and a resettable
//! high-water mark, so `nodelab grad` reports each gradient method's measured peak heap use
//! (not an estimate). The binary installs it with `#[global_allocator]`; when it is not
//! installed (library users, unit tests), [`is_counting`] is false and the figures read 0.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Wraps the system allocator and counts bytes.
pub struct CountingAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static ACTIVE: AtomicBool = AtomicBool::new(false);

fn add(bytes: usize) {
    let now = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn sub(bytes: usize) {
    LIVE.fetch_sub(bytes, Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`; the counters only observe sizes.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ACTIVE.store(true, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        sub(layout.size());
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ACTIVE.store(true, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            sub(layout.size());
            add(new_size);
        }
        p
    }
}

/// Whether the counting allocator is installed in this process.
pub fn is_counting() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Bytes currently allocated (0 when not counting).
pub fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Measures the heap high-water mark above the current live bytes while `f` runs.
///
/// Returns `f`'s result and the peak extra bytes. Other threads' allocations in that window are
/// counted too: measure single-threaded work.
pub fn peak_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let r = f();
    let peak = PEAK.load(Ordering::Relaxed);
    (r, peak.saturating_sub(base))
}

/// The default memory budget of one run: 2 GiB.
pub const DEFAULT_BUDGET: usize = 2 << 30;

/// The environment variable that sets the budget (`512M`, `4G`, a plain byte count).
pub const BUDGET_VAR: &str = "NODELAB_MEMORY_BUDGET";

static BUDGET: AtomicUsize = AtomicUsize::new(DEFAULT_BUDGET);

/// The most bytes a run may keep (step records, tapes, checkpoints, Chebyshev grids). A run
/// whose cost is known up front to exceed it is refused; one that reaches it stops with an
/// error that reports the steps taken so far.
pub fn budget() -> usize {
    BUDGET.load(Ordering::Relaxed)
}

/// Sets the budget (tests, and [`budget_from_env`]).
pub fn set_budget(bytes: usize) {
    BUDGET.store(bytes.max(1), Ordering::Relaxed);
}

/// Reads [`BUDGET_VAR`] if it is set; a value that is not a size is an error.
pub fn budget_from_env() -> Result<(), String> {
    match std::env::var(BUDGET_VAR) {
        Ok(text) => {
            let bytes = parse_bytes(&text).ok_or_else(|| {
                format!(
                    "{BUDGET_VAR}='{text}' is not a size (write a byte count, or a number \
                     followed by K, M or G, e.g. 512M)"
                )
            })?;
            set_budget(bytes);
            Ok(())
        }
        Err(_) => Ok(()),
    }
}

/// Parses `1234`, `64K`, `512M`, `2G` (binary units, optional trailing `B`/`iB`). `None` for
/// anything else, zero included.
pub fn parse_bytes(text: &str) -> Option<usize> {
    let t = text.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (digits, shift) = match t.chars().last()? {
        'K' | 'k' => (&t[..t.len() - 1], 10),
        'M' | 'm' => (&t[..t.len() - 1], 20),
        'G' | 'g' => (&t[..t.len() - 1], 30),
        'T' | 't' => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let n: usize = digits.trim().parse().ok()?;
    if n == 0 {
        return None;
    }
    n.checked_mul(1usize.checked_shl(shift)?)
}

/// A byte count for messages: `3.2 GiB`, `512 KiB`, `100 B` (floats: estimates can exceed
/// `usize`).
pub fn fmt_bytes(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else if v >= 1024.0 {
        format!("{v:.2e} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_bytes("1000"), Some(1000));
        assert_eq!(parse_bytes("64K"), Some(64 << 10));
        assert_eq!(parse_bytes("512M"), Some(512 << 20));
        assert_eq!(parse_bytes("2GiB"), Some(2 << 30));
        assert_eq!(parse_bytes("0"), None);
        assert_eq!(parse_bytes("abc"), None);
        assert_eq!(parse_bytes("-1G"), None);
        assert_eq!(parse_bytes(""), None);
        assert_eq!(fmt_bytes(3.2 * 1024.0 * 1024.0 * 1024.0), "3.2 GiB");
    }
}
