//! Diagnosis: from a snapshot, the decisive signal that a rollout has failed, long before
//! progressDeadlineSeconds, with its evidence and the next command to run. Pure.
//!
//! `kubectl rollout status` waits on CrashLoopBackOff or a typo'd image tag until the progress
//! deadline (kubernetes/kubectl#738). Here every rule reads the state the kubelet, the scheduler
//! and the ReplicaSet controller already publish for the *new* ReplicaSet's pods (old pods
//! failing are not this rollout's failure) and fires as soon as that state is decisive. The
//! rules run in a fixed priority order, the first that fires wins:
//!
//! | # | class | signal (new pods only) | decisive when |
//! |---|---|---|---|
//! | 1 | `ImagePull` | container waiting `ErrImagePull`, `ImagePullBackOff`, `InvalidImageName`, `ErrImageNeverPull` | at once |
//! | 2 | `CreateContainerConfigError` | container waiting `CreateContainerConfigError` | at once |
//! | 3 | `OomKilled` | `state` or `lastState` terminated `OOMKilled` | at once |
//! | 4 | `CrashLoopBackOff` | restarts of one container (a container waiting in `CrashLoopBackOff` has crashed at least once) | restarts >= `th.restarts` (0 is read as 1) |
//! | 5 | `Unschedulable` | `PodScheduled=False`, reason `Unschedulable` | for >= `th.unschedulable_grace` since its `lastTransitionTime` |
//! | 6 | `ReadinessProbeFailing` | running, not ready, readiness probe, `Unhealthy` events `Readiness probe failed...` | Σ count >= `th.probe_failures` (0 is read as 1) **and** running >= `initialDelaySeconds + periodSeconds × failureThreshold` |
//! | 7 | `ReplicaFailure` | new RS condition `ReplicaFailure=True`, or Deployment `Progressing=False/ReplicaSetCreateError` | at once |
//! | 8 | `ProgressDeadlineExceeded` | Deployment `Progressing=False/ProgressDeadlineExceeded` | at once |
//!
//! Each rule scans the new pods in name order, so the same snapshot always names the same pod;
//! the pod rules (1-6) scan only the pods that changed since the snapshot before, and every
//! pod on the clock's tick (once a second), so following costs what changed, not the size of
//! the rollout.
//! Terminating pods (deletionTimestamp set) are skipped: the ReplicaSet has already replaced
//! them. Every summary is one line and names the pod and container it comes from.

mod placement;
mod probe;
mod rules;
mod text;
mod workload;

#[cfg(test)]
mod tests;

use std::cell::OnceCell;
use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

use super::snapshot::Snapshot;

/// When a signal counts as decisive (flags with defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Consecutive readiness-probe failures of one new pod.
    pub probe_failures: u32,
    /// Restarts of one new pod's container.
    pub restarts: u32,
    /// How long a new pod may be unschedulable.
    pub unschedulable_grace: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            probe_failures: 3,
            restarts: 2,
            unschedulable_grace: Duration::from_secs(10),
        }
    }
}

/// The failure classes the engine recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub enum FailureClass {
    ReadinessProbeFailing,
    CrashLoopBackOff,
    ImagePull,
    Unschedulable,
    CreateContainerConfigError,
    OomKilled,
    ProgressDeadlineExceeded,
    ReplicaFailure,
    /// `--revision` was given and the Deployment moved to another revision.
    RevisionChanged,
    /// A verification gate of a stepped rollout failed.
    GateFailed,
}

/// Why a rollout failed, with what shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnosis {
    pub class: FailureClass,
    /// The upstream reason string that fired, for machines: the container's waiting or
    /// terminated reason (`ErrImagePull`, `OOMKilled`, `CrashLoopBackOff`, ...), the condition
    /// reason (`Unschedulable`, `FailedCreate`, `ProgressDeadlineExceeded`) or the event reason
    /// (`Unhealthy`). `Restarted` when a container crossed the restart threshold while running.
    pub reason: String,
    /// One line: what is wrong.
    pub summary: String,
    /// The pod and container the signal came from, when there is one.
    pub pod: Option<String>,
    pub container: Option<String>,
    /// Lines of evidence: the probe, the last failure message, exit codes, top events.
    pub evidence: Vec<String>,
    /// What would fix it, when the class suggests something (e.g. maxSurge 0 / maxUnavailable 1).
    pub hint: Option<String>,
    /// The engine should fetch and attach the container's last log lines.
    pub wants_logs: bool,
    /// When the signal became decisive, as far as the cluster's own timestamps tell (the
    /// engine measures "signal to rollback" from here). `None` when no timestamp records it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<Timestamp>,
}

impl Diagnosis {
    /// A diagnosis with only its class, reason and summary; rules fill in the rest.
    pub fn new(class: FailureClass, reason: impl Into<String>, summary: impl Into<String>) -> Self {
        Self {
            class,
            reason: reason.into(),
            summary: summary.into(),
            pod: None,
            container: None,
            evidence: Vec::new(),
            hint: None,
            wants_logs: false,
            first_seen: None,
        }
    }
}

/// What every rule reads: the snapshot, the thresholds, the clock and the new ReplicaSet's live
/// pods in name order.
struct Ctx<'a> {
    snap: &'a Snapshot,
    th: &'a Thresholds,
    now: Timestamp,
    new_rs: Option<&'a ReplicaSet>,
    /// The new pods, made on first use: only the catch-all rule (8) needs all of them, and
    /// sorting them cost every judgement of a large rollout a pass.
    pods: OnceCell<Vec<&'a Pod>>,
    /// The pods the pod rules (1-6) look at: those changed since the snapshot before
    /// ([`Snapshot::changed`]), in name order. A signal becomes decisive when its pod
    /// changes, or with time, and the clock's snapshot looks at every pod.
    scan: Vec<&'a Pod>,
    /// The snapshot's events by involved object's uid, oldest first, built on the first
    /// look-up: a scan per pod made every judgement quadratic in a large rollout, and a
    /// healthy one never needs them.
    events_by_uid: OnceCell<HashMap<&'a str, Vec<&'a Event>>>,
}

impl<'a> Ctx<'a> {
    /// The new ReplicaSet's live pods in name order.
    fn pods(&self) -> &[&'a Pod] {
        self.pods
            .get_or_init(|| live_pods(self.snap, self.new_rs, false))
    }

    /// A pod's events, oldest first.
    fn pod_events(&self, pod: &Pod) -> Vec<&'a Event> {
        pod.metadata
            .uid
            .as_deref()
            .and_then(|uid| {
                self.events_by_uid
                    .get_or_init(|| index_events(self.snap))
                    .get(uid)
            })
            .cloned()
            .unwrap_or_default()
    }

    fn deployment_name(&self) -> &str {
        self.snap.deployment.metadata.name.as_deref().unwrap_or("")
    }

    /// ` -n <ns>` for the commands in hints, empty without a namespace.
    fn ns_flag(&self) -> String {
        match self.snap.deployment.metadata.namespace.as_deref() {
            Some(ns) if !ns.is_empty() => format!(" -n {ns}"),
            _ => String::new(),
        }
    }
}

type Rule = fn(&Ctx<'_>) -> Option<Diagnosis>;

/// The rules in priority order: the most specific, certain signals first. A pod that cannot
/// pull its image also never becomes ready, and a crash-looping one also fails its probe; the
/// earlier rule names the cause, the later one only the symptom.
const RULES: [Rule; 8] = [
    rules::image_pull,
    rules::config_error,
    rules::oom_killed,
    rules::crash_loop,
    workload::unschedulable,
    probe::readiness_failing,
    workload::replica_failure,
    workload::deadline_exceeded,
];

/// Events by the uid of the object they are about, each list oldest first.
fn index_events(snap: &Snapshot) -> HashMap<&str, Vec<&Event>> {
    let mut by_uid: HashMap<&str, Vec<&Event>> = HashMap::new();
    for e in &snap.events {
        if let Some(uid) = e.involved_object.uid.as_deref().filter(|u| !u.is_empty()) {
            by_uid.entry(uid).or_default().push(e);
        }
    }
    for evs in by_uid.values_mut() {
        evs.sort_by_key(|e| e.last_timestamp.as_ref().map(|t| t.0));
    }
    by_uid
}

/// The live (not terminating) pods of `new_rs`, every one or (`changed`) those changed since
/// the snapshot before, in name order.
fn live_pods<'a>(snap: &'a Snapshot, new_rs: Option<&ReplicaSet>, changed: bool) -> Vec<&'a Pod> {
    let Some(rs) = new_rs else {
        return Vec::new();
    };
    let mut pods = if changed {
        snap.changed_pods_of(rs)
    } else {
        snap.pods_of(rs)
    };
    pods.retain(|p| p.metadata.deletion_timestamp.is_none());
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    pods
}

/// The decisive failure signal in a snapshot, if any.
pub fn diagnose(snap: &Snapshot, th: &Thresholds, now: Timestamp) -> Option<Diagnosis> {
    let new_rs = snap.new_rs();
    let scan = live_pods(snap, new_rs, true);
    let ctx = Ctx {
        snap,
        th,
        now,
        new_rs,
        pods: OnceCell::new(),
        scan,
        events_by_uid: OnceCell::new(),
    };
    RULES.iter().find_map(|rule| rule(&ctx))
}

/// The `n` most telling events of the snapshot, one line each as `Reason: message (xN)`:
/// Warning events first, newest first within each type. `(xN)` is added when the event
/// was seen more than once, as `kubectl describe` does.
pub fn top_events(snap: &Snapshot, n: usize) -> Vec<String> {
    text::top_events(snap.related_events().into_iter(), n)
}
