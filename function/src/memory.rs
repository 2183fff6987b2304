//! Giving memory back after a burst of connections.
//!
//! An open connection holds ~20 KB: hyper's 8 KB read and write buffers and its state.
//! When connections close, glibc's allocator keeps the freed memory in the arena of the
//! worker thread that used it, so a function that once served 256 connections at a time
//! stays ~5 MB bigger for the rest of its life (bench/compare.sh, BENCHMARKS.md). When
//! the last open connection closes, [`Connections`] asks the allocator to hand whole free
//! pages back to the kernel (`malloc_trim`), at most once per interval: a client that
//! opens a connection per request brings the count to zero after every request.
//!
//! The call is the one `unsafe` block outside the tree kernel: an FFI call with no
//! preconditions. Other C libraries (musl) return free pages on their own; there it is a
//! no-op.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The least time between two trims: long enough that a client opening a connection per
/// request does not pay for one each time (a trim takes tens of microseconds), short
/// enough that the memory of a burst is back before anyone looks.
pub const TRIM_INTERVAL: Duration = Duration::from_secs(1);

/// The open connections of one server, and when memory was last trimmed.
#[derive(Debug)]
pub struct Connections {
    open: AtomicUsize,
    started: Instant,
    /// Milliseconds after `started` of the last trim, plus one (0: never).
    last_trim: AtomicU64,
    interval: Duration,
    trim: fn() -> bool,
}

/// One open connection; dropping it closes it in the count.
#[derive(Debug)]
pub struct Open(Arc<Connections>);

impl Connections {
    /// A count that trims with `malloc_trim` when it falls to zero, at most once per
    /// `interval`.
    pub fn new(interval: Duration) -> Arc<Connections> {
        Connections::with_trim(interval, release_free_memory)
    }

    fn with_trim(interval: Duration, trim: fn() -> bool) -> Arc<Connections> {
        Arc::new(Connections {
            open: AtomicUsize::new(0),
            started: Instant::now(),
            last_trim: AtomicU64::new(0),
            interval,
            trim,
        })
    }

    /// Counts a connection as open until the returned value is dropped.
    pub fn open(self: &Arc<Self>) -> Open {
        self.open.fetch_add(1, Ordering::Relaxed);
        Open(Arc::clone(self))
    }

    /// The last connection closed: trims unless the last trim was under an interval ago.
    /// Returns whether it trimmed.
    fn last_closed(&self) -> bool {
        let now = self.started.elapsed().as_millis() as u64 + 1;
        let last = self.last_trim.load(Ordering::Relaxed);
        let due = last == 0 || now - last >= self.interval.as_millis() as u64;
        // One thread wins the slot; another closing at the same moment skips.
        if !due
            || self
                .last_trim
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return false;
        }
        let start = Instant::now();
        let released = (self.trim)();
        tracing::debug!(
            released,
            micros = start.elapsed().as_micros() as u64,
            "last connection closed: free memory handed back"
        );
        true
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.0.last_closed();
        }
    }
}

/// Hands whole free pages of every malloc arena back to the kernel; whether any were.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn release_free_memory() -> bool {
    // SAFETY: malloc_trim has no preconditions; it takes the arena locks itself, so it
    // is safe to call while other threads allocate.
    unsafe { libc::malloc_trim(0) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    static TRIMS: AtomicUsize = AtomicUsize::new(0);

    fn counted_trim() -> bool {
        TRIMS.fetch_add(1, Ordering::Relaxed);
        true
    }

    #[test]
    fn trims_when_the_last_connection_closes_and_not_again_within_the_interval() {
        let connections = Connections::with_trim(Duration::from_millis(200), counted_trim);
        let (a, b) = (connections.open(), connections.open());
        assert_eq!(connections.open.load(Ordering::Relaxed), 2);
        drop(a);
        assert_eq!(
            TRIMS.load(Ordering::Relaxed),
            0,
            "one connection is still open"
        );
        drop(b);
        assert_eq!(connections.open.load(Ordering::Relaxed), 0);
        assert_eq!(TRIMS.load(Ordering::Relaxed), 1);
        // A connection per request: the count keeps falling to zero, trims stay rare.
        for _ in 0..50 {
            drop(connections.open());
        }
        assert_eq!(TRIMS.load(Ordering::Relaxed), 1);
        std::thread::sleep(Duration::from_millis(250));
        drop(connections.open());
        assert_eq!(TRIMS.load(Ordering::Relaxed), 2, "the interval has passed");
    }

    #[test]
    fn the_real_trim_runs() {
        // Whatever it returns (there may be nothing to give back), it must not crash.
        let _ = release_free_memory();
    }
}
