//! Ids this process makes: request ids (when the client sends none) and the ids of
//! CloudEvents replies. `<process prefix>-<counter>`: unique within the process by the
//! counter, across replicas and restarts by the random prefix, and far cheaper than a
//! UUID (this runs on every request).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Hex digits of the process prefix.
const PREFIX_DIGITS: usize = 12;

/// A new id, as bytes: `<12 hex digits>-<decimal counter>`.
pub fn next() -> Vec<u8> {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let prefix = prefix();
    // One allocation, which the caller then owns (a header value, an event id).
    let mut id = Vec::with_capacity(prefix.len() + 20);
    id.extend_from_slice(prefix.as_bytes());
    id.extend_from_slice(
        itoa::Buffer::new()
            .format(NEXT.fetch_add(1, Ordering::Relaxed))
            .as_bytes(),
    );
    id
}

/// A new id, as text.
pub fn next_string() -> String {
    String::from_utf8(next()).expect("hex digits, '-' and decimal digits are ASCII")
}

/// This process's random prefix, with its trailing `-`.
fn prefix() -> &'static str {
    static PREFIX: OnceLock<String> = OnceLock::new();
    PREFIX.get_or_init(|| {
        // std's RandomState is seeded from the OS's random source once per process.
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        let mask = (1u64 << (4 * PREFIX_DIGITS)) - 1;
        format!(
            "{:0width$x}-",
            hasher.finish() & mask,
            width = PREFIX_DIGITS
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_many_threads_are_distinct_and_share_the_process_prefix() {
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..500).map(|_| next_string()).collect::<Vec<_>>()))
            .collect();
        let mut ids: Vec<String> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        for id in &ids {
            let (prefix, counter) = id.split_once('-').unwrap();
            assert_eq!(prefix.len(), PREFIX_DIGITS, "{id}");
            assert!(prefix.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
            assert_eq!(format!("{prefix}-"), super::prefix(), "{id}");
            assert!(counter.parse::<u64>().is_ok(), "{id}");
        }
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count, "an id repeats");
    }
}
