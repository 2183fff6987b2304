//! The process metrics every Prometheus client exports (`process_*`, as client_golang
//! and the Python client name them), read from `/proc/self` at each scrape. Linux only:
//! elsewhere only `process_start_time_seconds` is exported.

use std::time::SystemTime;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// `/proc` reports CPU time in USER_HZ ticks, 100 per second on every Linux ABI (it is
/// fixed for user space whatever the kernel's own tick rate; client_golang's procfs
/// assumes the same).
const USER_HZ: f64 = 100.0;

/// Reads `/proc/self` on each scrape.
#[derive(Debug)]
pub struct ProcessCollector {
    start_time_seconds: f64,
}

impl ProcessCollector {
    /// A collector for this process, which started at `started` (taken at the top of
    /// `main`, microseconds after exec).
    pub fn new(started: SystemTime) -> ProcessCollector {
        let start_time_seconds = started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        ProcessCollector { start_time_seconds }
    }
}

/// What `/proc/self` says about the process.
#[derive(Debug, Default, PartialEq)]
struct Sample {
    cpu_seconds: Option<f64>,
    resident_bytes: Option<i64>,
    virtual_bytes: Option<i64>,
    threads: Option<i64>,
    open_fds: Option<i64>,
    max_fds: Option<i64>,
}

impl Sample {
    fn read() -> Sample {
        let read = |name: &str| std::fs::read_to_string(format!("/proc/self/{name}")).ok();
        let status = read("status").unwrap_or_default();
        Sample {
            cpu_seconds: read("stat").as_deref().and_then(cpu_seconds),
            resident_bytes: status_kib(&status, "VmRSS:").map(|kib| kib * 1024),
            virtual_bytes: status_kib(&status, "VmSize:").map(|kib| kib * 1024),
            threads: status_kib(&status, "Threads:"),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|entries| entries.count() as i64),
            max_fds: read("limits").as_deref().and_then(max_open_files),
        }
    }
}

/// utime + stime (fields 14 and 15) of `/proc/self/stat`, in seconds. The command name
/// (field 2) is in parentheses and may hold spaces, so fields are counted after it.
fn cpu_seconds(stat: &str) -> Option<f64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / USER_HZ)
}

/// The number after `key` in `/proc/self/status` (kB for the Vm* lines).
fn status_kib(status: &str, key: &str) -> Option<i64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// The soft limit on open files from `/proc/self/limits`.
fn max_open_files(limits: &str) -> Option<i64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut gauge = |name: &str, help: &str, value: Option<f64>| match value {
            Some(value) => {
                let metric = ConstGauge::new(value);
                metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
            }
            None => Ok(()),
        };
        let sample = Sample::read();
        gauge(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch, in seconds",
            Some(self.start_time_seconds),
        )?;
        gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            sample.resident_bytes.map(|v| v as f64),
        )?;
        gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes",
            sample.virtual_bytes.map(|v| v as f64),
        )?;
        gauge(
            "process_open_fds",
            "Open file descriptors (sockets included)",
            sample.open_fds.map(|v| v as f64),
        )?;
        gauge(
            "process_max_fds",
            "Soft limit on open file descriptors",
            sample.max_fds.map(|v| v as f64),
        )?;
        gauge(
            "process_threads",
            "OS threads in the process",
            sample.threads.map(|v| v as f64),
        )?;
        if let Some(seconds) = sample.cpu_seconds {
            let metric = ConstCounter::new(seconds);
            metric.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "User and system CPU time spent, in seconds",
                None,
                metric.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_time_after_a_command_name_with_spaces() {
        let stat = "42 (tokio worker) S 1 42 42 0 -1 4194560 300 0 0 0 250 75 0 0 20 0 3 0 9 1 2";
        assert_eq!(cpu_seconds(stat), Some(3.25));
    }

    #[test]
    fn reads_status_and_limits_lines() {
        let status = "Name:\tfunction\nVmSize:\t  123456 kB\nVmRSS:\t    9876 kB\nThreads:\t3\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(9876));
        assert_eq!(status_kib(status, "Threads:"), Some(3));
        assert_eq!(status_kib(status, "VmSwap:"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_memory_threads_and_files() {
        let sample = Sample::read();
        assert!(sample.resident_bytes.unwrap() > 0);
        assert!(sample.threads.unwrap() >= 1);
        // stdin, stdout and stderr at least, and the directory being listed.
        assert!(sample.open_fds.unwrap() >= 3);
        assert!(sample.max_fds.unwrap() >= sample.open_fds.unwrap());
        assert!(sample.cpu_seconds.is_some());
    }
}
