//! How the server uses the CPUs it is given: the tokio worker count, sized to the
//! container's CPU limit, and [`Offload`], which keeps big batches off the worker threads.
//!
//! A Kubernetes CPU limit is a CFS quota, not a CPU set: a pod limited to 1 CPU on a
//! 64-core node still sees 64 CPUs. Sixty-four workers would share one CPU's worth of
//! time, and the kernel would stall them all whenever the quota ran out (a p99 cliff),
//! so the quota, rounded down, bounds the worker count.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Semaphore;

/// The CPUs this process may use, and where that number came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuBudget {
    /// CPUs in the affinity mask (what `nproc` says).
    pub cpus: usize,
    /// The cgroup CPU quota in CPUs (`cpu.max`, or `cpu.cfs_quota_us / cpu.cfs_period_us`
    /// under cgroup v1), if one is set.
    pub quota: Option<f64>,
}

impl CpuBudget {
    /// Reads the affinity mask and the cgroup quota of this process.
    pub fn detect() -> CpuBudget {
        // std counts the affinity mask (and applies the quota too, but we read it ourselves
        // to log it and to be sure of the rounding).
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let read = |path: &Path| std::fs::read_to_string(path).ok();
        CpuBudget {
            cpus,
            quota: cgroup_quota(&read),
        }
    }

    /// Worker threads to run: the quota rounded down (a fraction of a CPU cannot keep a
    /// thread busy without being throttled), at least 1, at most the CPUs we may run on.
    pub fn workers(&self) -> usize {
        let by_quota = self.quota.map_or(usize::MAX, |q| q.floor() as usize);
        self.cpus.min(by_quota).max(1)
    }
}

/// The tightest CPU quota on the path from this process's cgroup to the root, in CPUs.
/// `read` returns a file's contents (a parameter so tests can give a fake tree).
fn cgroup_quota(read: &impl Fn(&Path) -> Option<String>) -> Option<f64> {
    let v1_mounts = ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"];
    cgroup_tightest(read, "cpu", &v1_mounts, |dir, hierarchy| match hierarchy {
        Hierarchy::V2 => read(&dir.join("cpu.max")).and_then(|s| parse_cpu_max(&s)),
        Hierarchy::V1 => {
            let quota = read(&dir.join("cpu.cfs_quota_us"));
            let period = read(&dir.join("cpu.cfs_period_us"));
            parse_cfs(quota.as_deref(), period.as_deref())
        }
    })
}

/// Which cgroup file system a directory belongs to: its limits sit in different files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hierarchy {
    /// cgroup v2, one unified tree under `/sys/fs/cgroup`.
    V2,
    /// cgroup v1, one tree per controller, mounted under `v1_mounts`.
    V1,
}

/// The smallest limit `limit_in` finds in any directory on the path from this process's
/// cgroup to the root, in either hierarchy: a limit set on a parent (the pod) binds the
/// child (the container) too. `v1_controller` names the cgroup v1 controller whose
/// trees, mounted at `v1_mounts`, hold the limit. `read` returns a file's contents (a
/// parameter so tests can give a fake tree).
pub(crate) fn cgroup_tightest(
    read: &impl Fn(&Path) -> Option<String>,
    v1_controller: &str,
    v1_mounts: &[&str],
    limit_in: impl Fn(&Path, Hierarchy) -> Option<f64>,
) -> Option<f64> {
    let membership = read(Path::new("/proc/self/cgroup")).unwrap_or_default();
    let mut tightest: Option<f64> = None;
    let mut consider = |limit: Option<f64>| {
        if let Some(l) = limit {
            tightest = Some(tightest.map_or(l, |t| t.min(l)));
        }
    };
    for line in membership.lines() {
        // `hierarchy-id:controllers:path`; cgroup v2 is `0::/path`.
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let path = path.trim_start_matches('/');
        if controllers.is_empty() {
            for dir in ancestors(Path::new("/sys/fs/cgroup"), path) {
                consider(limit_in(&dir, Hierarchy::V2));
            }
        } else if controllers.split(',').any(|c| c == v1_controller) {
            for mount in v1_mounts {
                for dir in ancestors(Path::new(mount), path) {
                    consider(limit_in(&dir, Hierarchy::V1));
                }
            }
        }
    }
    // In a container with its own cgroup namespace, /proc/self/cgroup says `/` and the
    // files sit at the mount's root, which the loops above have read. Outside any
    // cgroup file system (or when /proc is hidden) there is no limit to honour.
    tightest
}

/// `base/path`, then each parent of it down to `base`.
fn ancestors(base: &Path, path: &str) -> Vec<PathBuf> {
    let mut dirs = vec![base.join(path)];
    let mut current = Path::new(path);
    while let Some(parent) = current.parent() {
        dirs.push(base.join(parent));
        current = parent;
    }
    dirs.dedup();
    dirs
}

/// cgroup v2 `cpu.max`: `"<quota> <period>"` in microseconds, or `"max <period>"`.
fn parse_cpu_max(contents: &str) -> Option<f64> {
    let mut fields = contents.split_whitespace();
    let quota: f64 = fields.next()?.parse().ok()?;
    let period: f64 = fields.next().unwrap_or("100000").parse().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

/// cgroup v1 `cpu.cfs_quota_us` (`-1` for none) and `cpu.cfs_period_us`.
fn parse_cfs(quota: Option<&str>, period: Option<&str>) -> Option<f64> {
    let quota: f64 = quota?.trim().parse().ok()?;
    let period: f64 = period?.trim().parse().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

/// Runs big predictions on tokio's blocking pool instead of a worker thread, at most one
/// per worker at a time.
///
/// A worker busy for a millisecond on a 1000-row batch delays every other request whose
/// connection it polls; on the blocking pool the batch waits for a CPU like any thread
/// and the workers keep answering single rows. The permits keep a burst of big batches
/// from starting hundreds of blocking threads that would only share the same CPUs.
#[derive(Debug, Clone)]
pub struct Offload {
    permits: Arc<Semaphore>,
}

/// Work, in tree-rows (rows x trees), above which a prediction leaves the worker thread.
/// That is a fraction of a millisecond of tree walking, long enough that the hand-off to
/// the blocking pool (tens of microseconds) is a small part of it, short enough that
/// single-row requests are never queued behind a batch for long.
pub const OFFLOAD_MIN_TREE_ROWS: usize = 20_000;

impl Offload {
    /// At most `concurrent` offloaded predictions at once.
    pub fn new(concurrent: usize) -> Offload {
        Offload {
            permits: Arc::new(Semaphore::new(concurrent.max(1))),
        }
    }

    /// Whether `rows` rows of a model costing `work_per_row` tree-rows each should leave
    /// the worker thread.
    pub fn wants(&self, rows: usize, work_per_row: usize) -> bool {
        rows.saturating_mul(work_per_row) >= OFFLOAD_MIN_TREE_ROWS
    }

    /// Runs `job` on the blocking pool once a permit is free. A panic in `job` is
    /// resumed here, so the request's panic guard answers 500 as for any handler.
    pub async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> T {
        // The semaphore is never closed, so acquiring only waits.
        let _permit = self.permits.acquire().await;
        match tokio::task::spawn_blocking(job).await {
            Ok(value) => value,
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    pub(crate) fn tree(files: &[(&str, &str)]) -> impl Fn(&Path) -> Option<String> {
        let files: HashMap<PathBuf, String> = files
            .iter()
            .map(|(path, contents)| (PathBuf::from(path), contents.to_string()))
            .collect();
        move |path: &Path| files.get(path).cloned()
    }

    #[test]
    fn reads_a_cgroup_v2_quota_in_a_container() {
        let read = tree(&[
            ("/proc/self/cgroup", "0::/\n"),
            ("/sys/fs/cgroup/cpu.max", "150000 100000\n"),
        ]);
        assert_eq!(cgroup_quota(&read), Some(1.5));
    }

    #[test]
    fn takes_the_tightest_quota_on_the_path_to_the_root() {
        let read = tree(&[
            ("/proc/self/cgroup", "0::/kubepods/pod1/c1\n"),
            ("/sys/fs/cgroup/kubepods/pod1/c1/cpu.max", "max 100000\n"),
            ("/sys/fs/cgroup/kubepods/pod1/cpu.max", "50000 100000\n"),
            ("/sys/fs/cgroup/kubepods/cpu.max", "400000 100000\n"),
        ]);
        assert_eq!(cgroup_quota(&read), Some(0.5));
    }

    #[test]
    fn reads_a_cgroup_v1_quota_and_ignores_minus_one() {
        let read = tree(&[
            ("/proc/self/cgroup", "4:cpu,cpuacct:/\n1:name=systemd:/\n"),
            ("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "250000\n"),
            ("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n"),
        ]);
        assert_eq!(cgroup_quota(&read), Some(2.5));
        let unlimited = tree(&[
            ("/proc/self/cgroup", "4:cpu,cpuacct:/\n"),
            ("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n"),
            ("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n"),
        ]);
        assert_eq!(cgroup_quota(&unlimited), None);
    }

    #[test]
    fn no_cgroup_files_means_no_quota() {
        assert_eq!(cgroup_quota(&tree(&[])), None);
        assert_eq!(
            cgroup_quota(&tree(&[("/proc/self/cgroup", "0::/\n")])),
            None
        );
    }

    #[test]
    fn workers_are_the_quota_rounded_down_within_the_cpus() {
        let budget = |cpus, quota| CpuBudget { cpus, quota }.workers();
        assert_eq!(budget(64, Some(1.5)), 1);
        assert_eq!(budget(64, Some(0.25)), 1);
        assert_eq!(budget(64, Some(4.0)), 4);
        assert_eq!(budget(2, Some(8.0)), 2);
        assert_eq!(budget(2, None), 2);
    }

    #[tokio::test]
    async fn offload_runs_the_job_and_resumes_its_panic() {
        let offload = Offload::new(1);
        assert_eq!(offload.run(|| 6 * 7).await, 42);
        assert!(!offload.wants(1, 100));
        assert!(offload.wants(1000, 100));
        let panicked = tokio::spawn(async move {
            Offload::new(1)
                .run(|| -> u8 { panic!("a bug in a prediction") })
                .await
        })
        .await;
        assert!(panicked.unwrap_err().is_panic());
    }
}
