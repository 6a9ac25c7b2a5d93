//! Returning a Deployment to a kept revision, with kubectl's semantics (target choice, the
//! template without pod-template-hash, annotations carried as kubectl does, "skipped
//! rollback" when it already matches), guarded by a resourceVersion `test`; plus the record
//! of why (an annotation and a Kubernetes Event, so `kubectl describe` tells the story).

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use rollout_semantics::kubectl::{UndoPlan, plan_undo};
use rollout_semantics::selector::format_label_selector;
use serde_json::{Value, json};

use crate::error::CliError;
use crate::settings::Cluster;

/// The annotation where rollout records why it rolled a Deployment back.
pub const ROLLBACK_REASON: &str = "rollout.dev/rollback-reason";

/// The field manager of every write rollout makes.
pub const MANAGER: &str = "rollout";

/// What an undo did.
#[derive(Debug, Clone, PartialEq)]
pub enum Undone {
    /// The template already matched that revision; nothing was sent.
    Skipped { revision: i64 },
    /// The template was restored; `generation` is the Deployment's generation after it.
    Restored {
        revision: i64,
        generation: i64,
        resumed: bool,
    },
    /// Dry run: the Deployment as it would be.
    DryRun {
        revision: i64,
        would_be: Box<Deployment>,
    },
}

/// The ReplicaSets a Deployment controls, as kubectl selects them.
pub async fn replica_sets(cluster: &Cluster, d: &Deployment) -> Result<Vec<ReplicaSet>, CliError> {
    let api: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let selector = format_label_selector(d.spec.as_ref().map(|s| &s.selector));
    let params = ListParams::default().labels(&selector);
    let list = crate::retry::transient_errors(|| api.list(&params))
        .await
        .map_err(|e| cluster.explain(CliError::api("listing replica sets", e)))?;
    let uid = d.metadata.uid.clone().unwrap_or_default();
    Ok(list
        .items
        .into_iter()
        .filter(|rs| {
            rs.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == uid && o.controller == Some(true))
        })
        .collect())
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
/// Deployment: the template is restored first, then the Deployment is resumed.
pub async fn undo(
    cluster: &Cluster,
    d: &Deployment,
    to_revision: i64,
    dry_run: bool,
) -> Result<Undone, CliError> {
    let name = d.metadata.name.clone().unwrap_or_default();
    let rss = replica_sets(cluster, d).await?;
    let refs: Vec<&ReplicaSet> = rss.iter().collect();
    let paused = d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
    let mut unpaused = d.clone();
    if let Some(spec) = unpaused.spec.as_mut() {
        spec.paused = None;
    }
    let target = rollout_semantics::kubectl::rollback_target(&name, &refs, to_revision)
        .map_err(|e| undo_error(&name, &rss, to_revision, e))?;
    let revision = rollout_semantics::revision::revision_of(target).unwrap_or(to_revision);
    let plan = plan_undo(&unpaused, &refs, to_revision)
        .map_err(|e| undo_error(&name, &rss, to_revision, e))?;
    let Value::Array(mut ops) = (match plan {
        UndoPlan::Skipped { .. } if !paused => return Ok(Undone::Skipped { revision }),
        UndoPlan::Skipped { .. } => json!([]),
        UndoPlan::Patch(p) => p,
    }) else {
        return Err(CliError::Internal(
            "the undo plan is not a JSON patch".into(),
        ));
    };
    let rv = d.metadata.resource_version.clone().unwrap_or_default();
    ops.insert(
        0,
        json!({"op": "test", "path": "/metadata/resourceVersion", "value": rv}),
    );
    if paused {
        ops.push(json!({"op": "remove", "path": "/spec/paused"}));
    }
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops))
        .map_err(|e| CliError::Internal(format!("undo patch: {e}")))?;
    let params = params(dry_run);
    let patch = Patch::<()>::Json(patch);
    let updated = crate::retry::transient_errors(|| api.patch(&name, &params, &patch))
        .await
        .map_err(|e| {
            cluster.explain(CliError::api(
                format!("restoring revision {revision} of deployment \"{name}\""),
                e,
            ))
        })?;
    if dry_run {
        return Ok(Undone::DryRun {
            revision,
            would_be: Box::new(updated),
        });
    }
    Ok(Undone::Restored {
        revision,
        generation: updated.metadata.generation.unwrap_or(0),
        resumed: paused,
    })
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
        other => CliError::usage(other.to_string(), None),
    }
}

/// Records a rollback: the reason annotation on the Deployment and a Warning Event on it.
pub async fn record(cluster: &Cluster, d: &Deployment, reason: &str) -> Result<(), CliError> {
    let name = d.metadata.name.clone().unwrap_or_default();
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let stamp = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let note = format!("{stamp} {reason}");
    let patch = json!({"metadata": {"annotations": {ROLLBACK_REASON: note}}});
    let merge = Patch::Merge(&patch);
    let merge_params = params(false);
    crate::retry::transient_errors(|| api.patch(&name, &merge_params, &merge))
        .await
        .map_err(|e| {
            cluster.explain(CliError::api(
                format!("annotating deployment \"{name}\""),
                e,
            ))
        })?;
    event(cluster, d, "Warning", "RolloutRolledBack", reason).await
}

/// Creates a core/v1 Event about the Deployment (best effort for callers that ignore it).
pub async fn event(
    cluster: &Cluster,
    d: &Deployment,
    kind: &str,
    reason: &str,
    message: &str,
) -> Result<(), CliError> {
    let name = d.metadata.name.clone().unwrap_or_default();
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let nanos = jiff::Timestamp::now().as_nanosecond();
    let ev = Event {
        metadata: ObjectMeta {
            name: Some(format!("{name}.{:x}", nanos as u64)),
            namespace: Some(cluster.namespace.clone()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some("apps/v1".into()),
            kind: Some("Deployment".into()),
            name: Some(name),
            namespace: Some(cluster.namespace.clone()),
            uid: d.metadata.uid.clone(),
            resource_version: d.metadata.resource_version.clone(),
            field_path: None,
        },
        reason: Some(reason.into()),
        message: Some(message.into()),
        type_: Some(kind.into()),
        source: Some(EventSource {
            component: Some(MANAGER.into()),
            host: None,
        }),
        first_timestamp: Some(now.clone()),
        last_timestamp: Some(now),
        count: Some(1),
        reporting_component: Some(MANAGER.into()),
        reporting_instance: Some(MANAGER.into()),
        ..Event::default()
    };
    let api: Api<Event> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let post = PostParams::default();
    crate::retry::transient_errors(|| api.create(&post, &ev))
        .await
        .map_err(|e| cluster.explain(CliError::api("recording an event", e)))?;
    Ok(())
}

/// Patch parameters of every rollout write.
pub fn params(dry_run: bool) -> PatchParams {
    PatchParams {
        field_manager: Some(MANAGER.into()),
        dry_run,
        ..PatchParams::default()
    }
}
