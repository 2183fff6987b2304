//! The memory that requests in flight may hold: a byte budget shared by every request,
//! so that a burst of big batches gets 503s instead of getting the pod OOM-killed.
//!
//! A request's memory is its body and what is built from it, so that is what it is
//! charged for. Each counted request (not GET or HEAD) takes a [`Reservation`] before a
//! byte of its body is read: the declared `Content-Length` plus the most the decoded
//! batch and its answer can take ([`MemoryBudget::cost_of_body`]). A chunked body is
//! charged as it arrives; a JSON tree (the general decoding path, and every Open
//! Inference request) is charged before it is built ([`charge_json_tree`]), and so are
//! explanations (`crate::infer::explain`, through [`charge`]). A charge
//! that does not fit answers 503 with `Retry-After`; a body larger than the whole budget
//! answers 413 at once, since no wait would let it in. The reservation is given back when
//! the request's future is dropped, answered or abandoned.
//!
//! The reservation travels with the request as a task-local, so the body reader and the
//! decoders charge it without every protocol passing it along. Outside a request (unit
//! tests, fuzz targets) charging always succeeds.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use model::{ElementType, ModelInfo};

use crate::error::ApiError;

/// Of the memory a cgroup limit leaves after start-up, the share requests in flight may
/// hold: the rest is slack for what is not charged (connections and their buffers, the
/// allocator's free lists, responses being written).
pub const SHARE_OF_MEMORY_LIMIT: f64 = 0.5;
/// The smallest budget derived from a memory limit: a container limited to barely more
/// than the model still answers small requests.
pub const MIN_DERIVED_BUDGET: usize = 1024 * 1024;
/// Bytes a JSON tree (`serde_json::Value`) takes per byte of the text it is parsed
/// from, for rows of numbers (`0.5,` becomes a 32-byte value in a vector that grows by
/// doubling). Numbers of one digit can take twice that; the slack covers them.
pub const JSON_TREE_BYTES_PER_BODY_BYTE: usize = 16;
/// Bytes a decoded batch can take per byte of its body: a number is at least two
/// characters (`0,`) and at most 8 bytes decoded.
const DECODED_BYTES_PER_BODY_BYTE: usize = 4;
/// Bytes per row beyond its values: the prediction, its probabilities and the encoded
/// answer (a label and a few probabilities as JSON text).
const ANSWER_BYTES_PER_ROW: usize = 128;
/// A string value decoded: the `String` (24 bytes) and its smallest heap block.
const STRING_VALUE_BYTES: usize = 56;

/// The byte budget of one server, and how much of it requests in flight hold.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
    refused: AtomicU64,
    /// The most a decoded batch of at most `max_batch_rows` rows and its answer take.
    batch_bound: usize,
}

/// Why a charge did not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The budget is spent by other requests: 503, retry later.
    Busy,
    /// The charge is larger than the whole budget: no wait would help.
    TooLarge,
}

impl MemoryBudget {
    /// A budget of `limit` bytes for a server answering batches of at most
    /// `max_batch_rows` rows of `info`'s inputs.
    pub fn new(limit: usize, info: &ModelInfo, max_batch_rows: usize) -> Arc<MemoryBudget> {
        let row_bytes: usize = info
            .inputs
            .iter()
            .map(|input| {
                let per_value = match input.element {
                    ElementType::F32 | ElementType::I64 => 8,
                    ElementType::Str => STRING_VALUE_BYTES,
                };
                input.width * per_value
            })
            .sum::<usize>()
            + ANSWER_BYTES_PER_ROW;
        Arc::new(MemoryBudget {
            limit,
            used: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
            batch_bound: max_batch_rows.saturating_mul(row_bytes),
        })
    }

    /// The budget in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes reserved by requests in flight now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Requests refused so far because the budget was spent (503) or too small (413).
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// What a request with a body of `body` bytes is charged: the body, and the batch
    /// decoded from it with its answer, which grows with the body but never beyond what
    /// `max_batch_rows` rows take.
    pub fn cost_of_body(&self, body: usize) -> usize {
        let decoded = body
            .saturating_mul(DECODED_BYTES_PER_BODY_BYTE)
            .min(self.batch_bound);
        body.saturating_add(decoded)
    }

    /// Takes `bytes` more from the budget for a request that holds `held` already, or
    /// says why not (and counts the refusal): too large when the request would need more
    /// than the whole budget, however much of it others hold.
    fn take(&self, bytes: usize, held: usize) -> Result<(), Refusal> {
        if bytes.saturating_add(held) > self.limit {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::TooLarge);
        }
        let taken = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.limit)
            });
        taken.map(|_| ()).map_err(|_| {
            self.refused.fetch_add(1, Ordering::Relaxed);
            Refusal::Busy
        })
    }

    /// A reservation of `bytes` (possibly 0, to be charged later), or why it does not
    /// fit now.
    pub fn reserve(self: &Arc<Self>, bytes: usize) -> Result<Reservation, Refusal> {
        self.take(bytes, 0)?;
        Ok(Reservation {
            budget: Arc::clone(self),
            held: AtomicUsize::new(bytes),
        })
    }
}

/// Bytes of a [`MemoryBudget`] held by one request; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<MemoryBudget>,
    // Atomic only so that the task-local can be read through a shared reference.
    held: AtomicUsize,
}

impl Reservation {
    /// Bytes held.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Takes `bytes` more for this request, or says why not (what is held stays held).
    pub fn grow(&self, bytes: usize) -> Result<(), Refusal> {
        self.budget.take(bytes, self.held())?;
        self.held.fetch_add(bytes, Ordering::Relaxed);
        Ok(())
    }

    /// Makes sure at least `total` bytes are held, taking what is missing.
    pub fn cover(&self, total: usize) -> Result<(), Refusal> {
        match total.checked_sub(self.held()) {
            Some(missing) if missing > 0 => self.grow(missing),
            _ => Ok(()),
        }
    }

    /// The budget this reservation is taken from.
    pub fn budget(&self) -> &MemoryBudget {
        &self.budget
    }

    /// Runs `request` with this reservation as the one [`charge_body`] and
    /// [`charge_json_tree`] charge; it is given back when the returned future is dropped.
    pub fn scope<F: std::future::Future>(
        self,
        request: F,
    ) -> tokio::task::futures::TaskLocalFuture<Reservation, F> {
        RESERVATION.scope(self, request)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget
            .used
            .fetch_sub(*self.held.get_mut(), Ordering::Relaxed);
    }
}

tokio::task_local! {
    /// The reservation of the request being handled (see [`Reservation::scope`]).
    static RESERVATION: Reservation;
}

/// The error for a refused charge of the current request.
fn refused(why: Refusal, budget: &MemoryBudget, charge: usize) -> ApiError {
    match why {
        Refusal::Busy => ApiError::MemoryBudgetSpent {
            budget: budget.limit(),
        },
        Refusal::TooLarge => ApiError::LargerThanMemoryBudget {
            needed: charge,
            budget: budget.limit(),
        },
    }
}

/// Makes sure the current request holds enough for a body of `bytes` bytes read so far
/// (and the batch it decodes to): called before a body buffer grows.
pub fn charge_body(bytes: usize) -> Result<(), ApiError> {
    charge_current(|reservation| {
        let total = reservation.budget().cost_of_body(bytes);
        (reservation.cover(total), total)
    })
}

/// Charges the current request for a JSON tree parsed from `text` bytes, before it is
/// built: a tree takes many times its text.
pub fn charge_json_tree(text: usize) -> Result<(), ApiError> {
    charge_current(|reservation| {
        let tree = text.saturating_mul(JSON_TREE_BYTES_PER_BODY_BYTE);
        (reservation.grow(tree), tree)
    })
}

/// Charges the current request `bytes` more, for what it is about to build beyond its
/// body and batch (explanations).
pub fn charge(bytes: usize) -> Result<(), ApiError> {
    charge_current(|reservation| (reservation.grow(bytes), bytes))
}

fn charge_current(
    charge: impl FnOnce(&Reservation) -> (Result<(), Refusal>, usize),
) -> Result<(), ApiError> {
    RESERVATION
        .try_with(|reservation| match charge(reservation) {
            (Ok(()), _) => Ok(()),
            (Err(why), bytes) => Err(refused(why, reservation.budget(), bytes)),
        })
        // Not inside a request: nothing to charge.
        .unwrap_or(Ok(()))
}

/// The error for a request refused at admission, before its body is read.
pub fn refused_at_admission(why: Refusal, budget: &MemoryBudget, charge: usize) -> ApiError {
    refused(why, budget, charge)
}

/// Where the budget came from, for the start-up log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Source {
    /// `--max-in-flight-bytes` or `MAX_IN_FLIGHT_BYTES`.
    Set,
    /// [`SHARE_OF_MEMORY_LIMIT`] of the cgroup memory limit less the memory resident
    /// at start-up.
    MemoryLimit {
        /// The tightest cgroup memory limit, in bytes.
        limit: u64,
        /// Resident memory when the budget was derived, in bytes.
        resident: u64,
    },
    /// No limit was found: [`crate::limits::DEFAULT_MAX_IN_FLIGHT_BYTES`].
    Default,
}

impl Source {
    /// The label of the start-up log's `memory_budget_source` field.
    pub fn label(&self) -> &'static str {
        match self {
            Source::Set => "set",
            Source::MemoryLimit { .. } => "cgroup memory limit",
            Source::Default => "default (no memory limit found)",
        }
    }
}

/// The budget: `set` when given, else a share of what the memory `limit` leaves after
/// the `resident` memory of the loaded process, else `default`.
pub fn derive(
    set: Option<usize>,
    limit: Option<u64>,
    resident: u64,
    default: usize,
) -> (usize, Source) {
    match (set, limit) {
        (Some(bytes), _) => (bytes, Source::Set),
        (None, Some(limit)) => {
            let free = limit.saturating_sub(resident) as f64;
            let share = (free * SHARE_OF_MEMORY_LIMIT) as usize;
            (
                share.max(MIN_DERIVED_BUDGET),
                Source::MemoryLimit { limit, resident },
            )
        }
        (None, None) => (default, Source::Default),
    }
}

/// The tightest cgroup memory limit on this process, in bytes: cgroup v2 `memory.max`,
/// or v1 `memory.limit_in_bytes`, on the path from its cgroup to the root. `read`
/// returns a file's contents (a parameter so tests can give a fake tree).
pub fn cgroup_memory_limit(read: &impl Fn(&std::path::Path) -> Option<String>) -> Option<u64> {
    use crate::runtime::{cgroup_tightest, Hierarchy};
    let v1_mounts = ["/sys/fs/cgroup/memory"];
    cgroup_tightest(read, "memory", &v1_mounts, |dir, hierarchy| {
        let file = match hierarchy {
            Hierarchy::V2 => "memory.max",
            Hierarchy::V1 => "memory.limit_in_bytes",
        };
        read(&dir.join(file))
            .and_then(|contents| parse_memory_limit(&contents))
            .map(|bytes| bytes as f64)
    })
    .map(|bytes| bytes as u64)
}

/// Limits at or above this are "no limit": cgroup v1 writes an unlimited limit as the
/// largest page-aligned `i64` (9223372036854771712), not as `max`.
const UNLIMITED: u64 = 1 << 62;

/// A memory limit file's contents: bytes, or `max` (cgroup v2) or a huge number (v1)
/// for none.
fn parse_memory_limit(contents: &str) -> Option<u64> {
    let bytes: u64 = contents.trim().parse().ok()?;
    (bytes > 0 && bytes < UNLIMITED).then_some(bytes)
}

/// Resident memory of this process in bytes (`VmRSS`), 0 when it cannot be read.
pub fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::tests::tree;
    use model::{InputInfo, Labels};

    fn info() -> ModelInfo {
        ModelInfo {
            inputs: vec![InputInfo::float("input", 4, false)],
            ..ModelInfo::for_tests(Labels::Int(vec![0, 1, 2]), &["label", "probabilities"])
        }
    }

    #[test]
    fn reads_a_cgroup_v2_memory_limit_and_takes_the_tightest() {
        let read = tree(&[
            ("/proc/self/cgroup", "0::/kubepods/pod1/c1\n"),
            ("/sys/fs/cgroup/kubepods/pod1/c1/memory.max", "max\n"),
            ("/sys/fs/cgroup/kubepods/pod1/memory.max", "536870912\n"),
            ("/sys/fs/cgroup/kubepods/memory.max", "8589934592\n"),
        ]);
        assert_eq!(cgroup_memory_limit(&read), Some(512 << 20));
    }

    #[test]
    fn reads_a_cgroup_v1_memory_limit_and_ignores_the_unlimited_value() {
        let read = tree(&[
            ("/proc/self/cgroup", "5:memory:/\n4:cpu,cpuacct:/\n"),
            ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "268435456\n"),
        ]);
        assert_eq!(cgroup_memory_limit(&read), Some(256 << 20));
        let unlimited = tree(&[
            ("/proc/self/cgroup", "5:memory:/\n"),
            (
                "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                "9223372036854771712\n",
            ),
        ]);
        assert_eq!(cgroup_memory_limit(&unlimited), None);
    }

    #[test]
    fn no_cgroup_files_means_no_memory_limit() {
        assert_eq!(cgroup_memory_limit(&tree(&[])), None);
        let v2_root = tree(&[
            ("/proc/self/cgroup", "0::/\n"),
            ("/sys/fs/cgroup/memory.max", "max\n"),
        ]);
        assert_eq!(cgroup_memory_limit(&v2_root), None);
    }

    #[test]
    fn the_budget_is_set_or_a_share_of_the_limit_left_after_start_up_or_the_default() {
        assert_eq!(
            derive(Some(1000), Some(512 << 20), 0, 7),
            (1000, Source::Set)
        );
        let (bytes, source) = derive(None, Some(512 << 20), 12 << 20, 7);
        assert_eq!(bytes, 250 << 20);
        assert_eq!(
            source,
            Source::MemoryLimit {
                limit: 512 << 20,
                resident: 12 << 20
            }
        );
        // A limit the process already fills still lets small requests in.
        assert_eq!(
            derive(None, Some(8 << 20), 9 << 20, 7).0,
            MIN_DERIVED_BUDGET
        );
        assert_eq!(derive(None, None, 12 << 20, 7), (7, Source::Default));
    }

    #[test]
    fn reservations_fit_in_the_budget_and_are_given_back_when_dropped() {
        let budget = MemoryBudget::new(1000, &info(), 10);
        let first = budget.reserve(600).unwrap();
        assert_eq!(budget.used(), 600);
        assert_eq!(budget.reserve(500).unwrap_err(), Refusal::Busy);
        let second = budget.reserve(400).unwrap();
        assert_eq!(second.grow(1).unwrap_err(), Refusal::Busy);
        assert_eq!(budget.refused(), 2);
        drop(first);
        assert_eq!(budget.used(), 400);
        second.cover(900).unwrap();
        assert_eq!((second.held(), budget.used()), (900, 900));
        second.cover(100).unwrap();
        assert_eq!(second.held(), 900, "covering less takes nothing");
        drop(second);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn more_than_the_whole_budget_is_too_large_not_busy() {
        let budget = MemoryBudget::new(1000, &info(), 10);
        assert_eq!(budget.reserve(1001).unwrap_err(), Refusal::TooLarge);
        let empty = budget.reserve(0).unwrap();
        assert_eq!(empty.grow(5000).unwrap_err(), Refusal::TooLarge);
        // What the request holds counts: 600 more on top of its 600 can never fit.
        let other = budget.reserve(300).unwrap();
        let growing = budget.reserve(600).unwrap();
        assert_eq!(growing.grow(600).unwrap_err(), Refusal::TooLarge);
        assert_eq!(growing.grow(200).unwrap_err(), Refusal::Busy);
        drop((other, growing));
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_body_costs_itself_and_its_batch_up_to_the_batch_limit() {
        // 10 rows of 4 floats: 10 x (32 + 128) bytes at most, however long the body.
        let budget = MemoryBudget::new(1 << 30, &info(), 10);
        assert_eq!(budget.cost_of_body(100), 100 + 400);
        assert_eq!(budget.cost_of_body(1 << 20), (1 << 20) + 1600);
    }

    #[tokio::test]
    async fn charges_go_to_the_request_in_scope_and_are_free_outside_one() {
        let budget = MemoryBudget::new(10_000, &info(), 10);
        assert!(charge_json_tree(1 << 30).is_ok(), "no request in scope");
        let other = budget.reserve(5000).unwrap();
        let reservation = budget.reserve(0).unwrap();
        let charged = reservation.scope(async {
            charge_body(100).unwrap();
            let after_body = RESERVATION.with(|r| r.held());
            charge_json_tree(100).unwrap();
            // 2100 held here and 5000 by the other request: 3200 more does not fit now.
            let spent = charge_json_tree(200).unwrap_err();
            let too_large = charge_body(20_000).unwrap_err();
            (after_body, spent, too_large)
        });
        let (after_body, spent, too_large) = charged.await;
        assert_eq!(after_body, 500);
        assert!(matches!(
            spent,
            ApiError::MemoryBudgetSpent { budget: 10_000 }
        ));
        assert!(matches!(
            too_large,
            ApiError::LargerThanMemoryBudget { budget: 10_000, .. }
        ));
        assert_eq!(budget.used(), 5000, "given back when the request ends");
        drop(other);
    }
}
