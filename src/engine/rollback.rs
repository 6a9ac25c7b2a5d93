//! Returning a Deployment to a kept revision, with kubectl's semantics (target choice, the
//! template without pod-template-hash, annotations carried as kubectl does, "skipped
//! rollback" when it already matches), guarded by a resourceVersion `test`; plus the record
//! of why (an annotation and a Kubernetes Event, so `kubectl describe` tells the story).

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::Patch;
use rollout_semantics::kubectl::{UndoPlan, plan_undo};
use serde_json::{Value, json};

use crate::cluster::{Cluster, Guarded, reference};
use crate::error::CliError;

/// The annotation where rollout records why it rolled a Deployment back.
pub const ROLLBACK_REASON: &str = "rollout.dev/rollback-reason";

/// What an undo did.
#[derive(Debug, Clone, PartialEq)]
pub enum Undone {
    /// The template already matched that revision; nothing was sent.
    Skipped { revision: i64 },
    /// The template was restored; `after` is the Deployment as the API returned it.
    Restored {
        revision: i64,
        after: Box<Deployment>,
        resumed: bool,
    },
    /// Dry run: the Deployment as it would be.
    DryRun {
        revision: i64,
        would_be: Box<Deployment>,
    },
}

/// The revision numbers kept in history, ascending.
pub fn revisions(rss: &[ReplicaSet]) -> Vec<i64> {
    let mut revs: Vec<i64> = rss
        .iter()
        .filter_map(|rs| rollout_semantics::revision::revision_of(rs).ok())
        .filter(|r| *r > 0)
        .collect();
    revs.sort_unstable();
    revs
}

/// Restores `to_revision` (0: the previous one). Unlike kubectl this works on a paused
/// Deployment: the template is restored first, then the Deployment is resumed. The write is
/// guarded by the Deployment's resourceVersion and rebuilt on a conflict.
pub async fn undo(
    cluster: &Cluster,
    d: &Deployment,
    to_revision: i64,
    dry_run: bool,
) -> Result<Undone, CliError> {
    let name = d.metadata.name.clone().unwrap_or_default();
    let rss = cluster.replica_sets_of(d).await?;
    let refs: Vec<&ReplicaSet> = rss.iter().collect();
    let target = rollout_semantics::kubectl::rollback_target(&name, &refs, to_revision)
        .map_err(|e| undo_error(&name, &rss, to_revision, e))?;
    let revision = rollout_semantics::revision::revision_of(target).unwrap_or(to_revision);
    let mut resumed = false;
    let action = format!("restoring revision {revision} of deployment \"{name}\"");
    let written = cluster
        .guarded_patch(d.clone(), dry_run, &action, |d| {
            let paused = d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
            let mut unpaused = d.clone();
            if let Some(spec) = unpaused.spec.as_mut() {
                spec.paused = None;
            }
            let plan = plan_undo(&unpaused, &refs, to_revision)
                .map_err(|e| undo_error(&name, &rss, to_revision, e))?;
            let mut ops = match plan {
                UndoPlan::Skipped { .. } if !paused => return Ok(None),
                UndoPlan::Skipped { .. } => Vec::new(),
                UndoPlan::Patch(Value::Array(ops)) => ops,
                UndoPlan::Patch(_) => {
                    return Err(CliError::Internal(
                        "the undo plan is not a JSON patch".into(),
                    ));
                }
            };
            if paused {
                ops.push(json!({"op": "remove", "path": "/spec/paused"}));
            }
            resumed = paused;
            Ok(Some(ops))
        })
        .await?;
    match written {
        Guarded::Unchanged(_) => Ok(Undone::Skipped { revision }),
        Guarded::Written(updated) if dry_run => Ok(Undone::DryRun {
            revision,
            would_be: Box::new(updated),
        }),
        Guarded::Written(updated) => Ok(Undone::Restored {
            revision,
            after: Box::new(updated),
            resumed,
        }),
    }
}

fn undo_error(
    name: &str,
    rss: &[ReplicaSet],
    to_revision: i64,
    e: rollout_semantics::kubectl::UndoError,
) -> CliError {
    use rollout_semantics::kubectl::UndoError;
    let kept = revisions(rss)
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    match e {
        UndoError::RevisionNotFound(_) => CliError::usage(
            format!("revision {to_revision} not found in history of deployment \"{name}\""),
            Some(if kept.is_empty() {
                "this deployment has no kept revisions".to_string()
            } else {
                format!("kept revisions: {kept} (see `rollout history {name}`)")
            }),
        ),
        UndoError::NoHistory(_) => CliError::usage(
            format!("deployment \"{name}\" has no previous revision to return to"),
            Some(format!(
                "kept revisions: {kept}; revisionHistoryLimit may be 0"
            )),
        ),
        other => CliError::usage(
            other.to_string(),
            Some(format!("see the revisions with `rollout history {name}`")),
        ),
    }
}

/// Resumes the Deployment `name` (and drops the interrupt's mark, if any).
pub async fn resume(cluster: &Cluster, name: &str, action: &str) -> Result<Deployment, CliError> {
    let patch = Patch::Strategic(json!({
        "metadata": {"annotations": {PAUSED_BY_INTERRUPT: null}},
        "spec": {"paused": null},
    }));
    cluster
        .patch(
            name,
            &patch,
            false,
            &format!("{action} of deployment \"{name}\""),
        )
        .await
}

/// Records a rollback: the reason annotation on the Deployment and a Warning Event on it.
pub async fn record(cluster: &Cluster, d: &Deployment, reason: &str) -> Result<(), CliError> {
    let name = d.metadata.name.clone().unwrap_or_default();
    let stamp = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let note = format!("{stamp} {reason}");
    let patch = json!({"metadata": {"annotations": {ROLLBACK_REASON: note}}});
    cluster
        .patch::<Deployment, _>(
            &name,
            &Patch::Merge(&patch),
            false,
            &format!("annotating deployment \"{name}\""),
        )
        .await?;
    cluster
        .event(reference(d), "Warning", "RolloutRolledBack", reason)
        .await
}

/// The annotation that says rollout paused a Deployment because it was interrupted, so a
/// re-run of the same command resumes it (a pause for a failure, or anyone else's, stays).
pub const PAUSED_BY_INTERRUPT: &str = "rollout.dev/paused-by-interrupt";

/// Pauses the Deployment `name` where it stands; `resumable` marks it with
/// [`PAUSED_BY_INTERRUPT`].
pub async fn pause(cluster: &Cluster, name: &str, resumable: bool) -> Result<Deployment, CliError> {
    let mark = resumable.then(|| {
        jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    });
    let patch = Patch::Strategic(json!({
        "metadata": {"annotations": {PAUSED_BY_INTERRUPT: mark}},
        "spec": {"paused": true},
    }));
    cluster
        .patch(
            name,
            &patch,
            false,
            &format!("pausing deployment \"{name}\""),
        )
        .await
}
