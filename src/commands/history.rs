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

mod diff;
mod table;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::Api;
use kube::api::ListParams;
use rollout_semantics::selector::from_label_selector;
use serde::Serialize;

use crate::cli::{HistoryArgs, HistoryCommand};
use crate::engine::follow::get_deployment;
use crate::error::CliError;
use crate::exit::Exit;
use crate::output::{Format, Printer};
use crate::settings::Cluster;
use crate::target::deployment_name;

use table::Entry;

/// Runs `rollout history` or `rollout history diff`.
pub async fn run(
    cluster: &Cluster,
    printer: &Printer,
    args: HistoryArgs,
) -> Result<Exit, CliError> {
    if let Some(HistoryCommand::Diff { target, a, b }) = args.diff {
        let name = deployment_name(&target)?;
        return run_diff(cluster, printer, &name, a, b).await;
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
            let text = match printer.format {
                Some(Format::Json) => structured(Format::Json, &without_hash(&template))?,
                _ => diff::yaml(&template),
            };
            printer.data(&text);
        }
        None => match printer.format {
            Some(format) => {
                let list = HistoryList {
                    deployment: &name,
                    namespace: &cluster.namespace,
                    revisions: &entries,
                };
                printer.data(&structured(format, &list)?);
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
    if let Some(format) = printer.format {
        let out = DiffObject {
            deployment: name,
            from: a,
            to: b,
            same: d.is_empty(),
            diff: &d,
        };
        printer.data(&structured(format, &out)?);
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
        Exit::Error
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
    let d = get_deployment(cluster, name).await?;
    // An unparsable selector lists every RS; ownership decides either way.
    let selector = from_label_selector(d.spec.as_ref().map(|s| &s.selector))
        .map(|s| s.to_string())
        .unwrap_or_default();
    let api: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let params = ListParams::default().labels(&selector);
    let rss = crate::retry::transient_errors(|| api.list(&params))
        .await
        .map_err(|e| {
            cluster.explain(CliError::api(
                format!("listing the replica sets of deployment \"{name}\""),
                e,
            ))
        })?;
    let refs: Vec<&ReplicaSet> = rss.items.iter().collect();
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

/// `value` as pretty JSON or YAML, ending with a newline.
fn structured<T: Serialize>(format: Format, value: &T) -> Result<String, CliError> {
    let rendered = match format {
        Format::Json => serde_json::to_string_pretty(value)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
        Format::Yaml => serde_saphyr::to_string(value).map_err(|e| e.to_string()),
    };
    rendered.map_err(|e| CliError::Internal(format!("cannot render the output: {e}")))
}
