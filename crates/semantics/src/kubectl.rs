//! kubectl rollout as pure functions: `status` messages, `undo` target choice and patch body,
//! and the `history` table.
//!
//! Follows kubectl `pkg/polymorphichelpers/rollout_status.go` (`DeploymentStatusViewer`),
//! `rollback.go` (`DeploymentRollbacker`, `deploymentRevision`, `getDeploymentPatch`) and
//! `history.go` (`DeploymentHistoryViewer`), fact sheet §5.2-5.4. Messages are kubectl's, byte for
//! byte, including trailing newlines, so the CLI can print them unchanged.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use serde_json::{Value, json};

use crate::access::{deployment_template, name, rs_template};
use crate::revision::{CHANGE_CAUSE, SKIP_ANNOTATIONS, is_skipped_annotation, revision_of};
use crate::revision::{RevisionError, revision_of_meta};
use crate::status::{PROGRESSING, TIMED_OUT, get_condition};
use crate::template::{equal_ignore_hash, without_hash_label};

/// Why `rollout status` stops with an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    #[error("desired revision ({desired}) is different from the running revision ({running})")]
    RevisionMismatch { desired: i64, running: i64 },
    #[error("cannot get the revision of deployment {0:?}")]
    BadRevision(String, #[source] RevisionError),
    #[error("deployment {0:?} exceeded its progress deadline")]
    DeadlineExceeded(String),
}

/// `DeploymentStatusViewer.Status`: `(message, done)` for one observed Deployment.
///
/// Order matters (checklist item 9): revision check, generation check, deadline, then counters.
pub fn rollout_status(
    d: &Deployment,
    revision: Option<i64>,
) -> Result<(String, bool), StatusError> {
    let dname = name(&d.metadata).to_string();
    if let Some(want) = revision.filter(|r| *r > 0) {
        let running = revision_of_meta(&d.metadata)
            .map_err(|e| StatusError::BadRevision(dname.clone(), e))?;
        if running != want {
            return Err(StatusError::RevisionMismatch {
                desired: want,
                running,
            });
        }
    }
    let status = d.status.clone().unwrap_or_default();
    let generation = d.metadata.generation.unwrap_or(0);
    if generation > status.observed_generation.unwrap_or(0) {
        return Ok((
            "Waiting for deployment spec update to be observed...\n".into(),
            false,
        ));
    }
    if get_condition(&status, PROGRESSING).and_then(|c| c.reason.as_deref()) == Some(TIMED_OUT) {
        return Err(StatusError::DeadlineExceeded(dname));
    }
    let updated = status.updated_replicas.unwrap_or(0);
    let replicas = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let waiting = format!("Waiting for deployment {dname:?} rollout to finish: ");
    if let Some(spec) = d.spec.as_ref().and_then(|s| s.replicas)
        && updated < spec
    {
        let msg = format!("{waiting}{updated} out of {spec} new replicas have been updated...\n");
        return Ok((msg, false));
    }
    if replicas > updated {
        let old = i64::from(replicas) - i64::from(updated);
        return Ok((
            format!("{waiting}{old} old replicas are pending termination...\n"),
            false,
        ));
    }
    if available < updated {
        let msg = format!("{waiting}{available} of {updated} updated replicas are available...\n");
        return Ok((msg, false));
    }
    Ok((
        format!("deployment {dname:?} successfully rolled out\n"),
        true,
    ))
}

/// Why `rollout undo` cannot proceed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UndoError {
    #[error("unable to find specified revision {0} in history")]
    RevisionNotFound(i64),
    #[error("no rollout history found for deployment {0:?}")]
    NoHistory(String),
    #[error(
        "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again"
    )]
    Paused,
    #[error("the target revision has no pod template")]
    NoTemplate,
}

/// True when `rs` has a controller ownerReference to `d` (kubectl keeps only those).
pub fn controlled_by(rs: &ReplicaSet, d: &Deployment) -> bool {
    let uid = d.metadata.uid.as_deref();
    rs.metadata.owner_references.iter().flatten().any(|o| {
        o.controller == Some(true) && uid.is_some_and(|u| u == o.uid) && o.kind == "Deployment"
    })
}

/// `deploymentRevision`: the RS to roll back to. 0 means the second-highest revision.
pub fn rollback_target<'a>(
    deployment_name: &str,
    rss: &[&'a ReplicaSet],
    to_revision: i64,
) -> Result<&'a ReplicaSet, UndoError> {
    if to_revision < 0 {
        return Err(UndoError::RevisionNotFound(to_revision));
    }
    let mut latest: Option<(i64, &ReplicaSet)> = None;
    let mut previous: Option<(i64, &ReplicaSet)> = None;
    for rs in rss {
        let Ok(v) = revision_of(rs) else { continue };
        if to_revision > 0 {
            if v == to_revision {
                return Ok(rs);
            }
            continue;
        }
        if latest.is_none_or(|(l, _)| l < v) {
            previous = latest;
            latest = Some((v, rs));
        } else if previous.is_none_or(|(p, _)| p < v) {
            previous = Some((v, rs));
        }
    }
    if to_revision > 0 {
        return Err(UndoError::RevisionNotFound(to_revision));
    }
    previous
        .map(|(_, rs)| rs)
        .ok_or_else(|| UndoError::NoHistory(deployment_name.to_string()))
}

/// What `rollout undo` does once the target is known.
#[derive(Debug, Clone, PartialEq)]
pub enum UndoPlan {
    /// The template already matches; kubectl prints [`skipped_message`] and exits 0.
    Skipped { to_revision: i64 },
    /// Send this JSON Patch (`application/json-patch+json`).
    Patch(Value),
}

/// `skipped rollback (current template already matches revision N)`; N is the flag value.
pub fn skipped_message(to_revision: i64) -> String {
    format!("skipped rollback (current template already matches revision {to_revision})")
}

/// The annotations kubectl writes back: the Deployment's skip-list annotations plus every
/// non-skip annotation of the target RS. Any other Deployment annotation is dropped.
pub fn undo_annotations(d: &Deployment, target: &ReplicaSet) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let current = d.metadata.annotations.clone().unwrap_or_default();
    for k in SKIP_ANNOTATIONS {
        if let Some(v) = current.get(k) {
            out.insert(k.to_string(), v.clone());
        }
    }
    for (k, v) in target.metadata.annotations.iter().flatten() {
        if !is_skipped_annotation(k) {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// `getDeploymentPatch`: replace `/spec/template` (hash label removed) and
/// `/metadata/annotations`.
pub fn undo_patch(d: &Deployment, target: &ReplicaSet) -> Result<Value, UndoError> {
    let template = rs_template(target).ok_or(UndoError::NoTemplate)?;
    let template =
        serde_json::to_value(without_hash_label(template)).map_err(|_| UndoError::NoTemplate)?;
    Ok(json!([
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": undo_annotations(d, target)},
    ]))
}

/// `DeploymentRollbacker.Rollback` after the GET and list: target, paused check, skip, patch.
pub fn plan_undo(
    d: &Deployment,
    rss: &[&ReplicaSet],
    to_revision: i64,
) -> Result<UndoPlan, UndoError> {
    let target = rollback_target(name(&d.metadata), rss, to_revision)?;
    if d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false) {
        return Err(UndoError::Paused);
    }
    let same = match (rs_template(target), deployment_template(d)) {
        (Some(a), Some(b)) => equal_ignore_hash(a, b),
        _ => false,
    };
    if same {
        return Ok(UndoPlan::Skipped { to_revision });
    }
    undo_patch(d, target).map(UndoPlan::Patch)
}

/// `rollout history --revision=N` cannot find N.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to find the specified revision")]
pub struct HistoryRevisionNotFound;

/// History rows `(revision, change-cause)` sorted by revision; `<none>` for an empty cause. The
/// cause comes from the RS annotation, else its template's (as kubectl merges them). RSes with
/// an unparsable revision are skipped; a later RS with the same revision wins.
pub fn history_rows(rss: &[&ReplicaSet]) -> Vec<(i64, String)> {
    let mut by_rev: BTreeMap<i64, String> = BTreeMap::new();
    for rs in rss {
        let Ok(v) = revision_of(rs) else { continue };
        let from_rs = rs
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(CHANGE_CAUSE));
        let from_template = rs_template(rs)
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get(CHANGE_CAUSE));
        let cause = from_rs.or(from_template).filter(|c| !c.is_empty());
        by_rev.insert(v, cause.cloned().unwrap_or_else(|| "<none>".to_string()));
    }
    by_rev.into_iter().collect()
}

/// The history body: `No rollout history found.` or the tabwriter table (padding 2).
pub fn history_table(rss: &[&ReplicaSet]) -> String {
    let rows = history_rows(rss);
    if rows.is_empty() {
        return "No rollout history found.".to_string();
    }
    let header = "REVISION";
    let width = rows
        .iter()
        .map(|(r, _)| r.to_string().len())
        .chain([header.len()])
        .max()
        .unwrap_or(header.len())
        + 2;
    let mut out = format!("{header:<width$}CHANGE-CAUSE\n");
    for (r, cause) in rows {
        out.push_str(&format!("{:<width$}{cause}\n", r.to_string()));
    }
    out
}

/// Full stdout of `kubectl rollout history deployment/<n>`: the name-printer line with a
/// trailing space, the table, and a trailing blank line. `resource` is e.g. `deployment.apps/web`.
pub fn history_output(resource: &str, rss: &[&ReplicaSet]) -> String {
    format!("{resource} \n{}\n", history_table(rss))
}

/// `rollout history --revision=N`: the RS holding revision N.
pub fn history_revision<'a>(
    rss: &[&'a ReplicaSet],
    revision: i64,
) -> Result<&'a ReplicaSet, HistoryRevisionNotFound> {
    rss.iter()
        .rev()
        .copied()
        .find(|rs| revision_of(rs).is_ok_and(|v| v == revision))
        .ok_or(HistoryRevisionNotFound)
}
