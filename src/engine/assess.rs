//! Whether a rollout is done, paused, failed or still going: a pure function of a snapshot.
//!
//! "Done" follows kubectl's status viewer and is only ever read from fresh status: the
//! controller must have observed the generation our change produced (`observedGeneration >=
//! generation`), so a Progressing reason left over from the previous rollout can never end
//! the wait. Failure comes from the diagnosis rules, which look at the new pods themselves
//! and so fire within seconds of the decisive signal, not at the progress deadline.

use k8s_openapi::jiff::Timestamp;
use rollout_semantics::kubectl::{StatusError, rollout_status};

use super::diagnose::{Diagnosis, FailureClass, Thresholds, diagnose};
use super::snapshot::Snapshot;

/// What a follow is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Expect {
    /// The generation our change produced; status older than it is stale.
    pub generation: i64,
    /// kubectl's `--revision`: fail if the Deployment runs another one.
    pub revision: Option<i64>,
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

    pub fn is_terminal(&self) -> bool {
        !matches!(self, Verdict::Progressing(_))
    }
}

/// Assesses one snapshot.
pub fn assess(snap: &Snapshot, expect: &Expect, th: &Thresholds, now: Timestamp) -> Verdict {
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
