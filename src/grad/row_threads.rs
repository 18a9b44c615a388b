//! How many threads a group's batched field evaluations split their rows over: a per-thread
//! setting, set by [`super::batch`] around a group's run on a pool of that many threads and read
//! by the field ([`super::field`]) and the dopri5 tape ([`super::tape`]) when they size their
//! row blocks.

thread_local! {
    /// Threads the batched evaluations on this thread may split their rows over.
    static ROW_THREADS: std::cell::Cell<usize> = const { std::cell::Cell::new(1) };
}

/// Threads the batched field evaluations running on this thread split a group's rows over
/// (1 unless inside [`with_row_threads`]).
pub fn row_threads() -> usize {
    ROW_THREADS.with(std::cell::Cell::get)
}

/// Runs `f` with [`row_threads`] set to `threads` on this thread (restored afterwards). The
/// row blocks run on rayon's current pool, so call it inside the pool of that many threads.
pub fn with_row_threads<R>(threads: usize, f: impl FnOnce() -> R) -> R {
    struct Restore(usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            ROW_THREADS.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(ROW_THREADS.with(|c| c.replace(threads.max(1))));
    f()
}
