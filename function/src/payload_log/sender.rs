//! The background sender: one task takes events off the queue and posts each to the
//! sink over kept-alive connections, a few at a time, each within a deadline. Whatever
//! happens to an event is counted ([`PayloadEvents`]); failures also log a warning, at
//! most one per [`WARNING_INTERVAL`], with how many were dropped since the last one.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::event::{Attributes, Event};
use crate::metrics::{DropReason, PayloadEvents};

/// Events posted at once: enough that a sink taking a few hundred milliseconds per
/// event still drains the queue (BENCHMARKS.md, "Payload logging"), few enough not to
/// flood a struggling sink with connections.
pub const CONCURRENT_SENDS: usize = 8;
/// Longest a sink may take to accept one event, connection included.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a connection to the sink may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an idle connection to the sink is kept for the next event.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// At most one warning about dropped events per this interval.
pub const WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// What the request path and the sender share: the counters, the warning limiter and
/// what is queued.
#[derive(Debug)]
pub struct Shared {
    /// Sent and dropped events.
    pub counters: PayloadEvents,
    /// Rate limit of the warnings about dropped events.
    pub warnings: Warnings,
    /// Events queued or being sent.
    pub pending: AtomicUsize,
    /// Bytes of data of the events queued or being sent.
    pub pending_bytes: AtomicUsize,
}

impl Shared {
    /// Counts `event` as dropped for `reason` and warns, unless a warning was logged
    /// within [`WARNING_INTERVAL`].
    pub fn drop_event(&self, reason: DropReason, error: &dyn std::fmt::Display) {
        self.counters.dropped(reason, 1);
        if let Some(suppressed) = self.warnings.allow() {
            tracing::warn!(
                reason = reason.label(),
                %error,
                dropped_since_last_warning = suppressed,
                "payload event dropped"
            );
        }
    }

    /// Marks an event of `bytes` bytes as no longer queued nor being sent.
    fn done(&self, bytes: usize) {
        self.pending.fetch_sub(1, Ordering::AcqRel);
        self.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// A warning at most once per interval, without a lock: the request path may call it.
#[derive(Debug)]
pub struct Warnings {
    interval: Duration,
    epoch: Instant,
    /// Milliseconds after `epoch` before which no warning is logged.
    next: AtomicU64,
    /// Warnings withheld since the last one logged.
    suppressed: AtomicU64,
}

impl Warnings {
    /// At most one warning per `interval`; the first is allowed.
    pub fn new(interval: Duration) -> Warnings {
        Warnings {
            interval,
            epoch: Instant::now(),
            next: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(warnings withheld since the last one)` if one may be logged now.
    pub fn allow(&self) -> Option<u64> {
        let now = self.epoch.elapsed().as_millis() as u64;
        let next = self.next.load(Ordering::Relaxed);
        let due = now >= next
            && self
                .next
                .compare_exchange(
                    next,
                    now + self.interval.as_millis() as u64,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok();
        if due {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// Posts events to one sink.
#[derive(Debug, Clone)]
pub struct Sender {
    client: Client<HttpConnector, Full<Bytes>>,
    sink: Uri,
    attributes: Arc<Attributes>,
    shared: Arc<Shared>,
}

impl Sender {
    /// A sender to `sink` of events with `attributes`, counting into `shared`.
    pub fn new(sink: Uri, attributes: Attributes, shared: Arc<Shared>) -> Sender {
        let mut connector = HttpConnector::new();
        // Events are small: send them now rather than wait to fill a packet.
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_max_idle_per_host(CONCURRENT_SENDS)
            .build(connector);
        Sender {
            client,
            sink,
            attributes: Arc::new(attributes),
            shared,
        }
    }

    /// The counters and queue state it reports into.
    pub fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
    }

    /// Sends what `queue` holds until `flush` fires (or its sender is dropped), then
    /// what is left in the queue, and returns once every send has ended.
    pub async fn run(self, mut queue: mpsc::Receiver<Event>, mut flush: oneshot::Receiver<()>) {
        let slots = Arc::new(Semaphore::new(CONCURRENT_SENDS));
        let mut flushing = false;
        loop {
            let event = tokio::select! {
                biased;
                _ = &mut flush, if !flushing => {
                    // From here on the request path's sends fail (counted as dropped at
                    // shutdown), and `recv` returns what is queued, then `None`.
                    flushing = true;
                    queue.close();
                    continue;
                }
                event = queue.recv() => match event {
                    Some(event) => event,
                    None => break,
                },
            };
            let slot = Arc::clone(&slots)
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let sender = self.clone();
            tokio::spawn(async move {
                sender.deliver(event).await;
                drop(slot);
            });
        }
        // Every slot back means every send has ended.
        let _ = slots.acquire_many(CONCURRENT_SENDS as u32).await;
    }

    /// Posts one event and counts the outcome.
    async fn deliver(&self, event: Event) {
        // What the queue was charged, whatever the JSON's size.
        let bytes = event.data.len();
        let event = event.transcoded();
        let headers = self.attributes.headers(&event, SystemTime::now());
        let mut request = Request::post(self.sink.clone())
            .body(Full::new(event.data))
            .expect("a POST to a parsed URI");
        *request.headers_mut() = headers;
        let sent = tokio::time::timeout(SEND_TIMEOUT, async {
            let response = self.client.request(request).await.map_err(chain)?;
            let status = response.status();
            // Read to the end, so the connection goes back to the pool.
            response.into_body().collect().await.map_err(chain)?;
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("the sink answered {status}"))
            }
        })
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "the sink did not accept it within {} s",
                SEND_TIMEOUT.as_secs()
            ))
        });
        match sent {
            Ok(()) => self.shared.counters.sent(),
            Err(error) => self.shared.drop_event(
                DropReason::DeliveryFailed,
                &format!("{error} ({})", self.sink),
            ),
        }
        self.shared.done(bytes);
    }
}

/// An error and its causes on one line: the client's own message ("client error
/// (Connect)") says little without them.
fn chain(error: impl std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_per_interval_reporting_those_withheld() {
        let warnings = Warnings::new(Duration::from_secs(3600));
        assert_eq!(warnings.allow(), Some(0));
        assert_eq!(warnings.allow(), None);
        assert_eq!(warnings.allow(), None);
        let now = Warnings::new(Duration::ZERO);
        assert_eq!(now.allow(), Some(0));
        assert_eq!(now.allow(), Some(0));
        // Past the interval, the next warning says how many were withheld.
        warnings.next.store(0, Ordering::Relaxed);
        assert_eq!(warnings.allow(), Some(2));
    }
}
