//! What one request and the whole server may use: body, batch, concurrency and time
//! limits, and their defaults. `crate::http::layers` enforces the server-wide ones, the
//! protocols the per-request ones.

use std::time::Duration;

/// Default limit on a request body: a 1000-row batch of 30 features is ~300 KB of JSON.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Default limit on rows per request: ~40x the batch the README suggests, still a few
/// milliseconds of model time, and 10000 x 4 features is only 160 KB of f32.
pub const DEFAULT_MAX_BATCH_ROWS: usize = 10_000;
/// Default limit on requests being handled at once. Knative's queue-proxy usually limits
/// concurrency first (`containerConcurrency`, at most 1000); this is the defence when
/// nothing is in front.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;
/// Default byte budget of requests in flight when no cgroup memory limit is found (a
/// laptop, a pod without a memory limit): half of the plain Deployment's 512 Mi limit,
/// 64 bodies of the default 4 MiB limit. Under a limit the budget is derived from it
/// instead (`crate::budget::derive`).
pub const DEFAULT_MAX_IN_FLIGHT_BYTES: usize = 256 * 1024 * 1024;
/// Default time a client has to send a request head; also how long an idle keep-alive
/// connection is kept (hyper's timer runs while it waits for the next head). hyper's
/// own default; nginx uses 60 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time from the request head to the response: reading the body and
/// predicting. Predicting takes microseconds, so this bounds slow bodies.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Limits on requests, set from flags and environment (see `config`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Largest request body accepted, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Most rows in one request (413 beyond).
    pub max_batch_rows: usize,
    /// Most requests handled at once; more get 503 with `Retry-After`. GET and HEAD
    /// requests (probes, metadata) are not counted, so a busy pod is not restarted by
    /// its liveness probe.
    pub max_in_flight: usize,
    /// Bytes that requests in flight may hold, bodies and decoded batches
    /// (`crate::budget`); beyond it 503 with `Retry-After`, and 413 for a request that
    /// needs more than all of it.
    pub max_in_flight_bytes: usize,
    /// Time a client has to send a request head (and a connection's first request).
    pub header_read_timeout: Duration,
    /// Time from the request head to the response (408 beyond).
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_batch_rows: DEFAULT_MAX_BATCH_ROWS,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_in_flight_bytes: DEFAULT_MAX_IN_FLIGHT_BYTES,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}
