//! Memory limits without cgroups. Upstream, a container's `resources.limits.memory` becomes
//! its cgroup's `memory.max`; when the container's processes together need more, the kernel's
//! OOM killer kills them (cgroup v2 `memory.oom.group`: the whole container) and the runtime
//! reports the exit as reason `OOMKilled`, exit code 137 (containerd's `TaskOOM` event). The
//! kubelet records no pod event for it: its OOM watcher records `SystemOOM` on the Node, and
//! only for OOMs outside any container (`pkg/kubelet/oom/oom_watcher_linux.go`); the pod shows
//! the usual `BackOff` once the restarts back off.
//!
//! Here a container is a process group led by a guard shell (`process.rs`). Every
//! [`SAMPLE_INTERVAL`] the kubelet walks each limited container's process tree in `/proc` from
//! its guard, sums the resident set size of the processes in its group, and SIGKILLs a group
//! over its limit, marked so that its exit reads as OOMKilled. A process whose parent exited
//! has left that tree (it is re-parented to init) but not the group, so every
//! [`SWEEP_INTERVAL`] one scan of all of `/proc` samples by group instead. No limit, no walk.
//! The walks cost what the limited containers' processes cost, not what the machine's do: a
//! scan reads every process on the machine (about 10 µs each), which on a shared machine with
//! a thousand processes would be a tenth of a core at the sampling interval.
//!
//! Where sampling differs from the kernel: usage between two samples is not seen (a spike
//! shorter than the interval that is freed again goes unpunished, and a process allocating
//! fast gets up to one interval of allocation past its limit before it dies), and RSS is not
//! the cgroup's charge (page cache and kernel memory are not counted; pages shared between
//! the group's processes count once per process).

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::process::Groups;
use crate::controllers::scheduler::parse_quantity_milli;

/// How often the resident memory of the limited containers is sampled: short enough that a
/// model server loading weights past its limit dies during the load, as under a cgroup,
/// rather than after it. Measured on 2 shared cores with 50 idle limited busybox pods (100
/// processes walked per sample, a sweep each second): the lab's CPU goes from 0.5% to 3.4%
/// of a core (debug build); a walk costs about 15 µs per process in a release build.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(100);

/// How often a sample scans all of `/proc` by process group rather than walking the trees:
/// memory held by a container's orphaned processes is seen within this long.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// A container's memory limit in bytes (`resources.limits.memory`); `None` when it has none
/// (or one that is not a positive quantity: validation rejects those upstream).
pub fn limit_bytes(container: &Value) -> Option<u64> {
    let q = container
        .pointer("/resources/limits/memory")
        .and_then(Value::as_str)?;
    u64::try_from(parse_quantity_milli(q) / 1000)
        .ok()
        .filter(|b| *b > 0)
}

/// One process as `/proc/<pid>/stat` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Field 5, `pgrp`.
    pub pgrp: i32,
    /// Field 20, `num_threads`.
    pub threads: u64,
    /// Field 24, `rss`, in pages.
    pub rss_pages: u64,
}

/// Parses `/proc/<pid>/stat` (proc(5)). The command name (field 2) is in parentheses and may
/// itself hold spaces and parentheses, so fields are counted after its last `)`.
pub fn parse_stat(stat: &[u8]) -> Option<Sample> {
    let close = stat.iter().rposition(|b| *b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    // After the name: field 3 (state) is index 0, so field N is index N - 3.
    let mut fields = rest.split_ascii_whitespace();
    let pgrp = fields.nth(5 - 3)?.parse().ok()?;
    let threads = fields.nth(20 - 5 - 1)?.parse().ok()?;
    let rss_pages = fields.nth(24 - 20 - 1)?.parse().ok()?;
    Some(Sample {
        pgrp,
        threads,
        rss_pages,
    })
}

/// The pids of `/proc/<pid>/task/<tid>/children` (space-separated).
pub fn parse_children(text: &[u8]) -> impl Iterator<Item = i32> + '_ {
    text.split(u8::is_ascii_whitespace)
        .filter_map(|p| std::str::from_utf8(p).ok()?.parse().ok())
}

/// A process group over its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Over {
    pub pgid: i32,
    /// Resident bytes of the whole group.
    pub used: u64,
    pub limit: u64,
}

/// The groups whose processes together hold more resident memory than their limit. `limits`
/// maps process group to limit in bytes; samples of other groups are ignored.
pub fn over_limit(
    limits: &BTreeMap<i32, u64>,
    samples: impl IntoIterator<Item = Sample>,
    page_size: u64,
) -> Vec<Over> {
    let mut used: BTreeMap<i32, u64> = BTreeMap::new();
    for s in samples {
        if limits.contains_key(&s.pgrp) {
            *used.entry(s.pgrp).or_default() += s.rss_pages.saturating_mul(page_size);
        }
    }
    limits
        .iter()
        .filter_map(|(&pgid, &limit)| {
            let used = *used.get(&pgid)?;
            (used > limit).then_some(Over { pgid, used, limit })
        })
        .collect()
}

/// Reads a small `/proc` file into `buf`.
fn read_into(path: &str, buf: &mut Vec<u8>) -> bool {
    buf.clear();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(buf))
        .is_ok()
}

/// Most processes one container may have walked per sample (a fork bomb stops the walk, not
/// the lab).
const MAX_WALK: usize = 4096;

/// The samples of a group's leader (the guard) and its descendants, found through the
/// `children` files: only the container's own processes, however many the machine runs.
/// Processes gone mid-walk are skipped.
fn sample_group(pgid: i32, buf: &mut Vec<u8>, out: &mut Vec<Sample>) {
    let mut pending = vec![pgid];
    let mut walked = 0;
    while let Some(pid) = pending.pop() {
        walked += 1;
        if walked > MAX_WALK {
            return;
        }
        let Some(sample) = read_into(&format!("/proc/{pid}/stat"), buf)
            .then(|| parse_stat(buf))
            .flatten()
        else {
            continue;
        };
        out.push(sample);
        // A child is listed under the thread that forked it.
        let tids: Vec<i32> = if sample.threads <= 1 {
            vec![pid]
        } else {
            std::fs::read_dir(format!("/proc/{pid}/task"))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|t| t.file_name().to_str()?.parse().ok())
                .collect()
        };
        for tid in tids {
            if read_into(&format!("/proc/{pid}/task/{tid}/children"), buf) {
                pending.extend(parse_children(buf));
            }
        }
    }
}

/// Every process on the machine, read from `/proc` (processes gone mid-scan are skipped).
fn sample_all(buf: &mut Vec<u8>, out: &mut Vec<Sample>) {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        if read_into(&format!("/proc/{pid}/stat"), buf)
            && let Some(sample) = parse_stat(buf)
        {
            out.push(sample);
        }
    }
}

/// One sample (a sweep of all of `/proc` when `sweep`): kills the limited groups that are
/// over their limits.
fn enforce(groups: &Groups, page_size: u64, sweep: bool) {
    let limits = groups.memory_limits();
    if limits.is_empty() {
        return;
    }
    let mut buf = Vec::with_capacity(512);
    let mut samples = Vec::new();
    if sweep {
        sample_all(&mut buf, &mut samples);
    } else {
        for pgid in limits.keys() {
            sample_group(*pgid, &mut buf, &mut samples);
        }
    }
    for over in over_limit(&limits, samples, page_size) {
        if groups.kill_for_memory(over.pgid) {
            tracing::info!(
                pgid = over.pgid,
                used = over.used,
                limit = over.limit,
                "container over its memory limit: process group killed (OOMKilled)"
            );
        }
    }
}

/// Samples the limited containers of `groups` every [`SAMPLE_INTERVAL`] until cancelled.
pub async fn run(groups: Groups, cancel: CancellationToken) {
    let page_size = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|p| u64::try_from(p).ok())
        .unwrap_or(4096);
    let sweep_every = (SWEEP_INTERVAL.as_millis() / SAMPLE_INTERVAL.as_millis()).max(1);
    let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut samples: u128 = 0;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        samples = samples.wrapping_add(1);
        let sweep = samples.is_multiple_of(sweep_every);
        let groups = groups.clone();
        // Small reads of /proc, a few per process: off the async workers.
        let _ = tokio::task::spawn_blocking(move || enforce(&groups, page_size, sweep)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::process::CommandExt;

    #[test]
    fn the_limit_is_limits_memory_in_bytes_and_absent_means_none() {
        let with = |q: Value| json!({"name": "c", "resources": {"limits": {"memory": q}}});
        assert_eq!(limit_bytes(&with(json!("64Mi"))), Some(64 << 20));
        assert_eq!(limit_bytes(&with(json!("1G"))), Some(1_000_000_000));
        assert_eq!(limit_bytes(&with(json!("128974848"))), Some(128_974_848));
        assert_eq!(limit_bytes(&with(json!("0"))), None);
        assert_eq!(limit_bytes(&with(json!("lots"))), None);
        assert_eq!(limit_bytes(&json!({"name": "c"})), None);
        let requests_only = json!({"name": "c", "resources": {"requests": {"memory": "64Mi"}}});
        assert_eq!(limit_bytes(&requests_only), None);
        let cpu_only = json!({"name": "c", "resources": {"limits": {"cpu": "1"}}});
        assert_eq!(limit_bytes(&cpu_only), None);
    }

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis_of_the_name() {
        // A real line of /proc/self/stat, its name holding a space and a parenthesis.
        let line = b"4242 (model (v3) x) S 4200 4210 4200 0 -1 4194560 1200 0 0 0 7 3 0 0 20 0 \
                     5 0 123456 1073741824 16384 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 \
                     17 1 0 0 0 0 0\n";
        assert_eq!(
            parse_stat(line),
            Some(Sample {
                pgrp: 4210,
                threads: 5,
                rss_pages: 16384
            })
        );
        assert_eq!(parse_stat(b"4242 (cut) S 1 2"), None);
        assert_eq!(parse_stat(b"no parenthesis at all"), None);
    }

    #[test]
    fn this_process_reads_as_a_sample_with_its_own_group_and_some_memory() {
        let stat = std::fs::read("/proc/self/stat").expect("procfs");
        let s = parse_stat(&stat).expect("parses");
        assert_eq!(s.pgrp, nix::unistd::getpgrp().as_raw());
        assert!(s.rss_pages > 0);
        assert!(s.threads >= 1);
    }

    #[test]
    fn a_sweep_of_proc_sees_this_process_in_its_group() {
        let mut all = Vec::new();
        sample_all(&mut Vec::new(), &mut all);
        let mine = nix::unistd::getpgrp().as_raw();
        assert!(all.len() > 1);
        assert!(
            all.iter().any(|s| s.pgrp == mine && s.rss_pages > 0),
            "{all:?}"
        );
    }

    #[test]
    fn children_files_list_pids_separated_by_spaces() {
        assert_eq!(
            parse_children(b"12 345 6789 ").collect::<Vec<_>>(),
            [12, 345, 6789]
        );
        assert_eq!(parse_children(b"").count(), 0);
    }

    #[test]
    fn a_group_is_walked_from_its_leader_through_its_descendants() {
        let mut leader = std::process::Command::new("/bin/sh")
            .args(["-c", "sleep 30 & sh -c 'sleep 30'"])
            .process_group(0)
            .spawn()
            .expect("sh runs");
        let pgid = leader.id() as i32;
        // sh, its background sleep, the inner sh and its sleep; the OS says nothing when
        // they have all started, so look again briefly.
        let mut found = Vec::new();
        for _ in 0..100 {
            found.clear();
            sample_group(pgid, &mut Vec::new(), &mut found);
            if found.len() == 4 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        super::super::process::signal(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = leader.wait();
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found.iter().all(|s| s.pgrp == pgid), "{found:?}");
    }

    fn sample(pgrp: i32, rss_pages: u64) -> Sample {
        Sample {
            pgrp,
            threads: 1,
            rss_pages,
        }
    }

    #[test]
    fn a_group_is_over_when_the_sum_of_its_processes_exceeds_its_limit() {
        let limits = BTreeMap::from([(10, 100 * 4096), (20, 100 * 4096), (30, 100 * 4096)]);
        let samples = [
            // Group 10: guard, shell and a child that together pass the limit.
            sample(10, 2),
            sample(10, 60),
            sample(10, 39),
            // Group 20: exactly at its limit is not over (the kernel kills past memory.max).
            sample(20, 100),
            // Group 30: under.
            sample(30, 50),
            // Group 40 has no limit: never over, however large.
            sample(40, 1 << 30),
        ];
        assert_eq!(
            over_limit(&limits, samples, 4096),
            [Over {
                pgid: 10,
                used: 101 * 4096,
                limit: 100 * 4096
            }]
        );
    }

    #[test]
    fn no_limits_means_nothing_is_ever_over() {
        assert!(over_limit(&BTreeMap::new(), [sample(1, u64::MAX)], 4096).is_empty());
        let limits = BTreeMap::from([(7, 1)]);
        assert!(over_limit(&limits, [], 4096).is_empty());
        assert_eq!(
            over_limit(&limits, [sample(7, u64::MAX)], 65536)[0].used,
            u64::MAX
        );
    }
}
