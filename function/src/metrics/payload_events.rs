//! The payload log's counters (`crate::payload_log`): every event ends sent or dropped,
//! and a dropped one says why. They exist with the metrics off too (the sender's
//! warnings read them); [`super::Metrics`] registers them when they are on.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Why an event was dropped: the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The queue was full when the request finished (the sink is slower than traffic).
    QueueFull,
    /// Delivery failed: no connection, no answer in time, or a status other than 2xx
    /// (also counted in `payload_events_failed_total`).
    DeliveryFailed,
    /// Still queued when the drain deadline passed at shutdown.
    Shutdown,
}

impl DropReason {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::DeliveryFailed => "delivery_failed",
            DropReason::Shutdown => "shutdown",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabels {
    reason: &'static str,
}

/// `payload_events_sent_total`, `payload_events_failed_total`,
/// `payload_events_dropped_total{reason}`. Cloning shares the counts.
#[derive(Debug, Clone)]
pub struct PayloadEvents {
    sent: Counter,
    failed: Counter,
    dropped: Family<DropLabels, Counter>,
    /// The series of each reason, in [`DropReason`] order, looked up once: a sink that
    /// cannot keep up drops events on every request, and the family's lookup takes a
    /// lock.
    dropped_series: [Counter; 3],
}

impl Default for PayloadEvents {
    fn default() -> PayloadEvents {
        let dropped = Family::<DropLabels, Counter>::default();
        let series = |reason: DropReason| {
            dropped.get_or_create_owned(&DropLabels {
                reason: reason.label(),
            })
        };
        let dropped_series = [
            series(DropReason::QueueFull),
            series(DropReason::DeliveryFailed),
            series(DropReason::Shutdown),
        ];
        PayloadEvents {
            sent: Counter::default(),
            failed: Counter::default(),
            dropped,
            dropped_series,
        }
    }
}

impl PayloadEvents {
    /// Adds the three to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "payload_events_sent",
            "Payload events (--payload-log) the sink accepted with a 2xx",
            self.sent.clone(),
        );
        registry.register(
            "payload_events_failed",
            "Payload events whose delivery failed: no connection, no answer in time, or a non-2xx status",
            self.failed.clone(),
        );
        registry.register(
            "payload_events_dropped",
            "Payload events lost, by reason: queue_full (the sink is slower than traffic), delivery_failed, shutdown (still queued at the drain deadline)",
            self.dropped.clone(),
        );
    }

    /// One event the sink accepted.
    pub fn sent(&self) {
        self.sent.inc();
    }

    /// `count` events dropped for `reason`; a failed delivery counts as failed too.
    pub fn dropped(&self, reason: DropReason, count: u64) {
        if reason == DropReason::DeliveryFailed {
            self.failed.inc_by(count);
        }
        self.dropped_series[reason as usize].inc_by(count);
    }

    /// Events sent so far.
    pub fn sent_count(&self) -> u64 {
        self.sent.get()
    }

    /// Events dropped so far for `reason`.
    pub fn dropped_count(&self, reason: DropReason) -> u64 {
        self.dropped_series[reason as usize].get()
    }
}
