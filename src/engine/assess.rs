//! Whether a rollout is done, paused, failed or still going: a pure function of a snapshot.
//!
//! "Done" follows kubectl's status viewer and is only ever read from fresh status: the
//! controller must have observed the generation our change produced (`observedGeneration >=
//! generation`), so a Progressing reason left over from the previous rollout can never end
//! the wait. Failure comes from the diagnosis rules, which look at the new pods themselves
//! and so fire within seconds of the decisive signal, not at the progress deadline; a
//! ProgressDeadlineExceeded left over from before the change is not the change's failure
//! until the change has had its own deadline ([`LeftOver`]).

use std::borrow::Cow;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use rollout_semantics::kubectl::{StatusError, rollout_status};
use rollout_semantics::status;

use super::diagnose::{Diagnosis, FailureClass, Thresholds, diagnose};
use super::snapshot::Snapshot;

/// What a follow is waiting for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expect {
    /// The generation our change produced; status older than it is stale.
    pub generation: i64,
    /// kubectl's `--revision`: fail if the Deployment runs another one.
    pub revision: Option<i64>,
    /// A ProgressDeadlineExceeded the Deployment already carried when the change was made.
    pub left_over: Option<LeftOver>,
}

/// The `Progressing=False/ProgressDeadlineExceeded` condition a Deployment carried when our
/// change was made. Upstream leaves it as it is until the rollout makes progress again
/// (`SetDeploymentCondition` skips a condition of the same status and reason; the timed-out
/// check answers yes while the reason is ProgressDeadlineExceeded). After a change that
/// re-adopts a ReplicaSet (a rollback, an undo, an update back to an earlier template, a
/// resume) no new ReplicaSet resets it, so status fresh for our generation can still carry
/// it, about the rollout before ours, until the old ReplicaSet's scale-down shows in the
/// counts. It is not this change's failure until this change has had a deadline of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOver {
    /// The condition's `lastUpdateTime`: an unchanged condition keeps it.
    pub updated: Option<Time>,
    /// When the change was made, on the clock `assess` is given.
    pub changed_at: Timestamp,
}

/// The Deployment's Progressing condition when it is ProgressDeadlineExceeded.
fn deadline_condition(d: &Deployment) -> Option<&DeploymentCondition> {
    status::get_condition(d.status.as_ref()?, status::PROGRESSING)
        .filter(|c| c.status == "False" && c.reason.as_deref() == Some(status::TIMED_OUT))
}

impl LeftOver {
    /// The left-over of `before`, the Deployment as it was when the change was made.
    pub fn of(before: &Deployment, changed_at: Timestamp) -> Option<LeftOver> {
        deadline_condition(before).map(|c| LeftOver {
            updated: c.last_update_time.clone(),
            changed_at,
        })
    }

    /// Whether `d` still carries this condition, and the change is still within its own
    /// progress deadline at `now`.
    fn hides(&self, d: &Deployment, now: Timestamp) -> bool {
        let secs = d
            .spec
            .as_ref()
            .and_then(|s| s.progress_deadline_seconds)
            .unwrap_or(600);
        let own_deadline = self
            .changed_at
            .checked_add(SignedDuration::from_secs(i64::from(secs)))
            .unwrap_or(Timestamp::MAX);
        now < own_deadline
            && deadline_condition(d).is_some_and(|c| c.last_update_time == self.updated)
    }
}

/// The snapshot without a left-over deadline condition `expect` names (see [`LeftOver`]).
fn without_left_over<'a>(snap: &'a Snapshot, expect: &Expect, now: Timestamp) -> Cow<'a, Snapshot> {
    match &expect.left_over {
        Some(l) if l.hides(&snap.deployment, now) => {
            let mut fresh = snap.clone();
            if let Some(s) = Arc::make_mut(&mut fresh.deployment).status.as_mut() {
                status::remove_condition(s, status::PROGRESSING);
            }
            Cow::Owned(fresh)
        }
        _ => Cow::Borrowed(snap),
    }
}

/// The state of a rollout.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Still going; kubectl's message.
    Progressing(String),
    /// Rolled out.
    Complete(String),
    /// Paused, with no rollout running.
    Paused(String),
    /// Failed, and why.
    Failed(Box<Diagnosis>),
}

impl Verdict {
    pub fn message(&self) -> String {
        match self {
            Verdict::Progressing(m) | Verdict::Complete(m) | Verdict::Paused(m) => m.clone(),
            Verdict::Failed(d) => d.summary.clone(),
        }
    }
}

/// Assesses one snapshot.
pub fn assess(snap: &Snapshot, expect: &Expect, th: &Thresholds, now: Timestamp) -> Verdict {
    let snap = without_left_over(snap, expect, now);
    let snap = snap.as_ref();
    let d = &snap.deployment;
    let name = d.metadata.name.clone().unwrap_or_default();
    let observed = d
        .status
        .as_ref()
        .and_then(|s| s.observed_generation)
        .unwrap_or(0);
    let generation = d.metadata.generation.unwrap_or(0).max(expect.generation);
    if observed < generation {
        return Verdict::Progressing("Waiting for deployment spec update to be observed...".into());
    }
    match rollout_status(d, expect.revision) {
        Ok((_, true)) => {
            // Returning to an old ReplicaSet, the controller renumbers it and syncs its status
            // before it copies the new revision to the Deployment (upstream `getNewReplicaSet`
            // returns early after updating the RS): until then the Deployment's revision is
            // the failed one, and a result read from it would name the wrong revision.
            let rs_revision = snap
                .new_rs()
                .and_then(|rs| rollout_semantics::revision::revision_of(rs).ok())
                .filter(|r| *r > 0);
            if let (Some(rs), Some(dep)) = (rs_revision, snap.revision())
                && rs != dep
            {
                return Verdict::Progressing(format!(
                    "Waiting for deployment \"{name}\" to record revision {rs}..."
                ));
            }
            Verdict::Complete(format!("deployment \"{name}\" successfully rolled out"))
        }
        Ok((msg, false)) => {
            if let Some(diag) = diagnose(snap, th, now) {
                return Verdict::Failed(Box::new(diag));
            }
            if d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false) {
                return Verdict::Paused(format!("deployment \"{name}\" is paused"));
            }
            Verdict::Progressing(msg.trim_end().to_string())
        }
        Err(StatusError::DeadlineExceeded(_)) => {
            let diag = diagnose(snap, th, now).unwrap_or_else(|| {
                Diagnosis::new(
                    FailureClass::ProgressDeadlineExceeded,
                    "ProgressDeadlineExceeded",
                    format!("deployment \"{name}\" exceeded its progress deadline"),
                )
            });
            Verdict::Failed(Box::new(diag))
        }
        Err(e) => Verdict::Failed(Box::new(Diagnosis::new(
            FailureClass::RevisionChanged,
            "RevisionChanged",
            e.to_string(),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    /// `web` right after a rollback at generation 4: the controller has observed it, the
    /// failed ReplicaSet's pod still counts, and Progressing says ProgressDeadlineExceeded
    /// since `updated` (upstream leaves it so until the counts move).
    fn rolled_back(updated: i64) -> Snapshot {
        let time = at(updated).to_string();
        let d = json!({
            "metadata": {"name": "web", "namespace": "default", "generation": 4},
            "spec": {
                "replicas": 1, "progressDeadlineSeconds": 5,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "server", "image": "busybox:1.36"}]}},
            },
            "status": {
                "observedGeneration": 4, "replicas": 2, "updatedReplicas": 1,
                "readyReplicas": 1, "availableReplicas": 1,
                "conditions": [
                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                        "lastUpdateTime": time, "lastTransitionTime": time},
                    {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                        "message": "ReplicaSet \"web-2\" has timed out progressing.",
                        "lastUpdateTime": time, "lastTransitionTime": time},
                ],
            },
        });
        Snapshot {
            changed: None,
            memo: Default::default(),
            deployment: Arc::new(serde_json::from_value(d).expect("a deployment")),
            ..Snapshot::default()
        }
    }

    fn expect(left_over: Option<LeftOver>) -> Expect {
        Expect {
            generation: 4,
            revision: None,
            left_over,
        }
    }

    fn class(v: &Verdict) -> Option<FailureClass> {
        match v {
            Verdict::Failed(d) => Some(d.class),
            _ => None,
        }
    }

    #[test]
    fn a_deadline_exceeded_left_over_from_before_the_change_is_not_its_failure() {
        // Timed out at 10, the rollback made at 12.
        let before = rolled_back(10);
        let left_over = LeftOver::of(&before.deployment, at(12));
        assert!(left_over.is_some());
        let v = assess(&before, &expect(left_over), &Thresholds::default(), at(13));
        assert_eq!(
            v,
            Verdict::Progressing(
                "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination...".into()
            )
        );
    }

    #[test]
    fn a_left_over_deadline_counts_once_the_change_has_had_its_own() {
        let before = rolled_back(10);
        let left_over = LeftOver::of(&before.deployment, at(12));
        // 5 s after the change, nothing has moved the condition: it is this change's too.
        let v = assess(&before, &expect(left_over), &Thresholds::default(), at(17));
        assert_eq!(class(&v), Some(FailureClass::ProgressDeadlineExceeded));
    }

    #[test]
    fn a_deadline_exceeded_written_after_the_change_is_its_failure_at_once() {
        let left_over = LeftOver::of(&rolled_back(10).deployment, at(12));
        let v = assess(
            &rolled_back(14),
            &expect(left_over),
            &Thresholds::default(),
            at(15),
        );
        assert_eq!(class(&v), Some(FailureClass::ProgressDeadlineExceeded));
    }

    #[test]
    fn without_a_left_over_the_condition_is_read_as_kubectl_reads_it() {
        let v = assess(
            &rolled_back(10),
            &expect(None),
            &Thresholds::default(),
            at(13),
        );
        assert_eq!(class(&v), Some(FailureClass::ProgressDeadlineExceeded));
        let mut fine = rolled_back(10);
        Arc::make_mut(&mut fine.deployment)
            .status
            .as_mut()
            .unwrap()
            .conditions
            .as_mut()
            .unwrap()
            .pop();
        assert_eq!(LeftOver::of(&fine.deployment, at(12)), None);
    }
}
