//! Diagnosis: from a snapshot, the decisive signal that a rollout has failed, long before
//! progressDeadlineSeconds, with its evidence and the next command to run. Pure.

use std::time::Duration;

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
}

/// Why a rollout failed, with what shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnosis {
    pub class: FailureClass,
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
}

/// The decisive failure signal in a snapshot, if any.
pub fn diagnose(_snap: &Snapshot, _th: &Thresholds, _now: Timestamp) -> Option<Diagnosis> {
    None
}
