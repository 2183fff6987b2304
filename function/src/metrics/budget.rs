//! The memory budget of requests in flight ([`crate::budget`]) as metrics, read from the
//! budget at each scrape: what it is, how much of it is held, and how many requests it
//! has refused.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::budget::MemoryBudget;

/// Reads one server's [`MemoryBudget`] on each scrape.
#[derive(Debug)]
pub struct BudgetCollector(pub Arc<MemoryBudget>);

impl Collector for BudgetCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let budget = &self.0;
        for (name, help, value) in [
            (
                "http_requests_in_flight_bytes_max",
                "Bytes of memory requests in flight may hold, bodies and decoded batches (--max-in-flight-bytes)",
                budget.limit(),
            ),
            (
                "http_requests_in_flight_bytes",
                "Bytes of the in-flight memory budget held by requests now",
                budget.used(),
            ),
        ] {
            let gauge = ConstGauge::new(value as f64);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        let refused = ConstCounter::new(budget.refused());
        refused.encode(encoder.encode_descriptor(
            "http_requests_memory_refused",
            "Requests refused because the in-flight memory budget was in use (503) or smaller than the request (413)",
            None,
            refused.metric_type(),
        )?)
    }
}
