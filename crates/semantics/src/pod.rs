//! Pod readiness and availability, and the ReplicaSet controller's pure pieces: which pods count,
//! which ones go first on scale-down, how creations are batched, and the RS status counts.
//!
//! Follows `pkg/api/v1/pod/util.go` (`IsPodReady`, `IsPodAvailable`), `controller_utils.go`
//! (`IsPodActive`, `ActivePodsWithRanks.Less`, `afterOrZero`, `logarithmicRankDiff`,
//! `compareMaxContainerRestarts`), `replica_set.go` (`getPodsToDelete`,
//! `getPodsRankedByRelatedPodsOnSameNode`, `slowStartBatch`, `burstReplicas`) and
//! `replica_set_utils.go` `calculateStatus` (fact sheet §1.5 and §4), with the PodDeletionCost and
//! LogarithmicScaleDown gates on, as they are by default.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, PodCondition};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// At most this many creations or deletions per RS sync (`BurstReplicas`).
pub const BURST_REPLICAS: i32 = 500;
/// Pod annotation ranking deletion preference (lower goes first).
pub const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// The pod's phase string, empty when unset.
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// Succeeded or Failed: the pod will never run again.
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// `IsPodActive`: not terminal and not being deleted.
pub fn is_pod_active(pod: &Pod) -> bool {
    !is_terminal(pod) && pod.metadata.deletion_timestamp.is_none()
}

/// The pod's `Ready` condition.
pub fn ready_condition(pod: &Pod) -> Option<&PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Ready")
}

/// `IsPodReady`: a `Ready` condition with status True.
pub fn is_pod_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

/// `IsPodAvailable`: ready, and ready for longer than `minReadySeconds` (strictly before `now`).
pub fn is_pod_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    if !is_pod_ready(pod) {
        return false;
    }
    if min_ready_seconds == 0 {
        return true;
    }
    let since = ready_condition(pod).and_then(|c| c.last_transition_time.as_ref());
    since
        .and_then(|t| {
            t.0.checked_add(SignedDuration::from_secs(i64::from(min_ready_seconds)))
                .ok()
        })
        .is_some_and(|until| until < now)
}

/// Counts for a ReplicaSet's status (`calculateStatus` in replica_set_utils.go).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RsCounts {
    pub replicas: i32,
    pub fully_labeled_replicas: i32,
    pub ready_replicas: i32,
    pub available_replicas: i32,
}

/// Status counts over the pods an RS owns; inactive pods are ignored.
pub fn rs_status(rs: &ReplicaSet, pods: &[&Pod], now: Timestamp) -> RsCounts {
    let spec = rs.spec.as_ref();
    let min_ready = spec.and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let empty = BTreeMap::new();
    let template_labels = spec
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.as_ref())
        .unwrap_or(&empty);
    let mut c = RsCounts::default();
    for pod in pods.iter().filter(|p| is_pod_active(p)) {
        c.replicas += 1;
        let labels = pod.metadata.labels.as_ref().unwrap_or(&empty);
        if template_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
        {
            c.fully_labeled_replicas += 1;
        }
        if is_pod_ready(pod) {
            c.ready_replicas += 1;
            if is_pod_available(pod, min_ready, now) {
                c.available_replicas += 1;
            }
        }
    }
    c
}

/// `slowStartBatch` sizes: 1, 2, 4, ... until `count` (capped at [`BURST_REPLICAS`]) is covered.
pub fn slow_start_batches(count: i32) -> Vec<i32> {
    let mut remaining = count.clamp(0, BURST_REPLICAS);
    let mut size = remaining.min(1);
    let mut out = Vec::new();
    while size > 0 {
        out.push(size);
        remaining -= size;
        size = (size * 2).min(remaining);
    }
    out
}

fn phase_ordinal(pod: &Pod) -> u8 {
    match phase(pod) {
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    }
}

fn node(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("")
}

fn deletion_cost(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DELETION_COST))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn ready_time(pod: &Pod) -> Option<Timestamp> {
    if !is_pod_ready(pod) {
        return None;
    }
    ready_condition(pod)?
        .last_transition_time
        .as_ref()
        .map(|t| t.0)
}

/// (max regular restarts, max restartable-init (sidecar) restarts).
fn max_restarts(pod: &Pod) -> (i32, i32) {
    let Some(st) = pod.status.as_ref() else {
        return (0, 0);
    };
    let regular = st
        .container_statuses
        .iter()
        .flatten()
        .map(|c| c.restart_count)
        .max();
    let sidecars: Vec<&str> = pod
        .spec
        .iter()
        .flat_map(|s| s.init_containers.iter().flatten())
        .filter(|c| c.restart_policy.as_deref() == Some("Always"))
        .map(|c| c.name.as_str())
        .collect();
    let sidecar = st
        .init_container_statuses
        .iter()
        .flatten()
        .filter(|c| sidecars.contains(&c.name.as_str()))
        .map(|c| c.restart_count)
        .max();
    (regular.unwrap_or(0), sidecar.unwrap_or(0))
}

/// `logarithmicRankDiff`: compares ages in log2 buckets of nanoseconds.
fn log_rank(t: Timestamp, now: Timestamp) -> i64 {
    let nanos = now.duration_since(t).as_nanos();
    if nanos > 0 {
        (nanos as f64).log2() as i64
    } else {
        -1
    }
}

/// "Smaller goes first" comparison for two timestamps: zero first, then newer first, in
/// log buckets when `now` is known; same bucket falls back to UID order.
fn cmp_time(
    a: Option<Timestamp>,
    b: Option<Timestamp>,
    uids: (&str, &str),
    now: Timestamp,
) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) if x == y => Ordering::Equal,
        (Some(x), Some(y)) => match log_rank(x, now).cmp(&log_rank(y, now)) {
            Ordering::Equal => uids.0.cmp(uids.1),
            o => o,
        },
    }
}

/// `ActivePodsWithRanks.Less` as an ordering: `Less` means `a` is deleted before `b`.
pub fn cmp_for_deletion(a: (&Pod, i32), b: (&Pod, i32), now: Timestamp) -> Ordering {
    let (pa, ra) = a;
    let (pb, rb) = b;
    let (na, nb) = (node(pa), node(pb));
    if na != nb && (na.is_empty() || nb.is_empty()) {
        return if na.is_empty() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    let uid = |p: &Pod| p.metadata.uid.clone().unwrap_or_default();
    let (ua, ub) = (uid(pa), uid(pb));
    phase_ordinal(pa)
        .cmp(&phase_ordinal(pb))
        .then_with(|| is_pod_ready(pa).cmp(&is_pod_ready(pb)))
        .then_with(|| deletion_cost(pa).cmp(&deletion_cost(pb)))
        .then_with(|| rb.cmp(&ra))
        .then_with(|| {
            if is_pod_ready(pa) && is_pod_ready(pb) {
                cmp_time(ready_time(pa), ready_time(pb), (&ua, &ub), now)
            } else {
                Ordering::Equal
            }
        })
        .then_with(|| max_restarts(pb).cmp(&max_restarts(pa)))
        .then_with(|| {
            let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
            cmp_time(created(pa), created(pb), (&ua, &ub), now)
        })
}

/// `getPodsRankedByRelatedPodsOnSameNode`: rank = active related pods on the same node.
pub fn ranks_by_node(pods: &[&Pod], related: &[&Pod]) -> Vec<i32> {
    let mut per_node: HashMap<&str, i32> = HashMap::new();
    for p in related.iter().filter(|p| is_pod_active(p)) {
        *per_node.entry(node(p)).or_default() += 1;
    }
    pods.iter()
        .map(|p| per_node.get(node(p)).copied().unwrap_or(0))
        .collect()
}

/// `getPodsToDelete`: the `diff` pods an RS scales down, worst first.
///
/// `related` are the active pods of every RS owned by the same Deployment (for co-location ranks).
pub fn pods_to_delete<'a>(
    pods: &[&'a Pod],
    related: &[&Pod],
    diff: usize,
    now: Timestamp,
) -> Vec<&'a Pod> {
    let diff = diff.min(BURST_REPLICAS as usize);
    if diff >= pods.len() {
        return pods.to_vec();
    }
    let ranks = ranks_by_node(pods, related);
    let mut ranked: Vec<(&Pod, i32)> = pods.iter().copied().zip(ranks).collect();
    // Go's sort is unstable, ours is stable.
    merge_sort(&mut ranked, &|a, b| cmp_for_deletion(*a, *b, now));
    ranked.into_iter().take(diff).map(|(p, _)| p).collect()
}

/// A stable merge sort that accepts a comparison which is not a total order, as Go's
/// `sort.Sort` does. Upstream's `ActivePodsWithRanks.Less` is not transitive (equal ready
/// or creation times fall through to later rules, different ones in one log bucket compare
/// by UID), and the standard library's sort may panic on such a comparison.
fn merge_sort<T: Copy>(v: &mut [T], cmp: &impl Fn(&T, &T) -> Ordering) {
    if v.len() <= 1 {
        return;
    }
    let mid = v.len() / 2;
    merge_sort(&mut v[..mid], cmp);
    merge_sort(&mut v[mid..], cmp);
    let mut merged = Vec::with_capacity(v.len());
    let (mut i, mut j) = (0, mid);
    while i < mid && j < v.len() {
        if cmp(&v[j], &v[i]) == Ordering::Less {
            merged.push(v[j]);
            j += 1;
        } else {
            merged.push(v[i]);
            i += 1;
        }
    }
    merged.extend_from_slice(&v[i..mid]);
    merged.extend_from_slice(&v[j..]);
    v.copy_from_slice(&merged);
}
