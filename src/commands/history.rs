//! `rollout history`: the revisions of a Deployment, one revision's pod template, or the
//! diff between two revisions' templates.
//!
//! Requests, as kubectl's: GET the Deployment, then list the ReplicaSets matching its
//! selector; only those it controls (controller ownerReference with its uid) are history.
//! Nothing is written.
//!
//! - `rollout history web`: the table `REVISION  AGE  IMAGES  CHANGE-CAUSE` on stdout,
//!   revisions ascending. The REVISION cell marks the revision the Deployment's template is
//!   now, `3 (current)`, and a revision an undo renumbered, `5 (was 2)` (from the RS's
//!   `deployment.kubernetes.io/revision-history`). `-o json|yaml`: the same as one object
//!   with a `revisions` list.
//! - `rollout history web --revision 2`: that revision's pod template as YAML (`-o json`:
//!   JSON), without the `pod-template-hash` label. A revision not in history is exit 2.
//! - `rollout history diff web 1 2`: a summary (images, env, resources, probes) and the
//!   unified diff of the two templates. Exit 0 when they are equal, 1 when they differ (as
//!   `diff(1)`), 2 when a revision is not in history. A Deployment named `diff` must be
//!   written `deploy/diff`.

pub mod diff;
mod table;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde::Serialize;

use crate::cli::{HistoryArgs, HistoryCommand};
use crate::cluster::Cluster;
use crate::error::CliError;
use crate::exit::Exit;
use crate::output::{Format, Printer};
use crate::target::deployment_name;

use table::Entry;

/// Runs `rollout history` or `rollout history diff`.
pub async fn run(
    cluster: &Cluster,
    printer: &Printer,
    args: HistoryArgs,
) -> Result<Exit, CliError> {
    if let Some(HistoryCommand::Diff { target, a, b }) = args.diff {
        // As `kubectl diff`: 0 the same, 1 different, 2 the diff could not be made (whatever
        // the error), so a script can tell "different" from "failed".
        let diffed = match deployment_name(&target) {
            Ok(name) => run_diff(cluster, printer, &name, a, b).await,
            Err(e) => Err(e),
        };
        return Ok(diffed.unwrap_or_else(|e| {
            e.report();
            Exit::DiffFailed
        }));
    }
    let Some(target) = args.target else {
        return Err(CliError::usage(
            "name the Deployment whose history to show",
            Some(
                "rollout history DEPLOYMENT [--revision N], or rollout history diff DEPLOYMENT A B"
                    .to_string(),
            ),
        ));
    };
    let name = deployment_name(&target)?;
    let entries = revisions(cluster, &name).await?;
    match args.revision {
        Some(n) => {
            let entry = find(&name, &entries, n)?;
            let template = entry.template.clone().unwrap_or_default();
            match printer.format {
                Some(Format::Json) => printer.structured(&without_hash(&template))?,
                _ => printer.data(&diff::yaml(&template)),
            }
        }
        None => match printer.format {
            Some(_) => {
                let list = HistoryList {
                    deployment: &name,
                    namespace: &cluster.namespace,
                    revisions: &entries,
                };
                printer.structured(&list)?;
            }
            None => printer.data(&table::render(
                &entries,
                k8s_openapi::jiff::Timestamp::now(),
            )),
        },
    }
    Ok(Exit::Success)
}

/// `rollout history diff NAME A B`.
async fn run_diff(
    cluster: &Cluster,
    printer: &Printer,
    name: &str,
    a: i64,
    b: i64,
) -> Result<Exit, CliError> {
    let entries = revisions(cluster, name).await?;
    let ta = find(name, &entries, a)?
        .template
        .clone()
        .unwrap_or_default();
    let tb = find(name, &entries, b)?
        .template
        .clone()
        .unwrap_or_default();
    let d = diff::template_diff(&ta, &tb);
    if printer.format.is_some() {
        let out = DiffObject {
            deployment: name,
            from: a,
            to: b,
            same: d.is_empty(),
            diff: &d,
        };
        printer.structured(&out)?;
    } else if d.is_empty() {
        printer.data(&format!(
            "revisions {a} and {b} have the same pod template\n"
        ));
    } else {
        printer.data(&format!(
            "{}--- revision {a}\n+++ revision {b}\n{}",
            diff::render_summary(&d),
            d.unified
        ));
    }
    Ok(if d.is_empty() {
        Exit::Success
    } else {
        Exit::Different
    })
}

/// The `-o` object of the table.
#[derive(Serialize)]
struct HistoryList<'a> {
    deployment: &'a str,
    namespace: &'a str,
    revisions: &'a [Entry],
}

/// The `-o` object of a diff.
#[derive(Serialize)]
struct DiffObject<'a> {
    deployment: &'a str,
    from: i64,
    to: i64,
    same: bool,
    #[serde(flatten)]
    diff: &'a diff::TemplateDiff,
}

/// The revisions of Deployment `name`, ascending.
async fn revisions(cluster: &Cluster, name: &str) -> Result<Vec<Entry>, CliError> {
    let d = cluster.deployment(name).await?;
    let rss = cluster.replica_sets_of(&d).await?;
    let refs: Vec<&ReplicaSet> = rss.iter().collect();
    Ok(table::entries(&d, &refs))
}

/// Revision `n`, or a usage error (exit 2) listing the revisions there are.
fn find<'a>(name: &str, entries: &'a [Entry], n: i64) -> Result<&'a Entry, CliError> {
    entries.iter().find(|e| e.revision == n).ok_or_else(|| {
        let hint = if entries.is_empty() {
            format!("deployment \"{name}\" has no rollout history yet")
        } else {
            let list: Vec<String> = entries.iter().map(|e| e.revision.to_string()).collect();
            format!("the revisions in history are {}", list.join(", "))
        };
        CliError::usage(
            format!("revision {n} not found in history of deployment \"{name}\""),
            Some(hint),
        )
    })
}

fn without_hash(t: &PodTemplateSpec) -> PodTemplateSpec {
    rollout_semantics::template::without_hash_label(t)
}
