//! `rollout resume` and `rollout restart`: idempotent like kubectl's (already resumed says
//! so and exits 0), then followed like an update. Restart stamps
//! `kubectl.kubernetes.io/restartedAt` into the pod template, as kubectl does.

use std::time::Instant;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Patch;
use serde_json::json;

use super::follow::{Started, follow_change};
use super::targets;
use crate::cli::{ClusterArgs, ResumeArgs};
use crate::cluster::{self, Cluster};
use crate::engine::rollback;
use crate::engine::snapshot::deployment_revision;
use crate::engine::steps;
use crate::error::CliError;
use crate::exit::Exit;
use crate::outcome::{Ended, Outcome};
use crate::output::Printer;

/// Which of the two commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Resume,
    Restart,
}

pub async fn run(
    cluster_args: &ClusterArgs,
    printer: &Printer,
    args: ResumeArgs,
    kind: Kind,
) -> Result<Exit, CliError> {
    let cluster = cluster::connect(cluster_args).await?;
    let names = targets::resolve(&cluster, &args.target).await?;
    let outcomes =
        futures::future::join_all(names.iter().map(|n| one(&cluster, printer, &args, n, kind)))
            .await;
    targets::report(printer, outcomes)
}

async fn one(
    cluster: &Cluster,
    printer: &Printer,
    args: &ResumeArgs,
    name: &str,
    kind: Kind,
) -> Result<Outcome, CliError> {
    let started = Instant::now();
    let target = format!("{}/{name}", cluster.namespace);
    let d = cluster.deployment(name).await?;
    if kind == Kind::Resume
        && let Some(progress) = steps::in_flight(&d)
    {
        return super::abort::approve(cluster, &d, &progress).await;
    }
    let paused = d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
    let (action, patch) = match kind {
        Kind::Resume if !paused => {
            let mut o = Outcome::new(
                target,
                "resume",
                Ended::Unchanged,
                format!("deployment \"{name}\" is not paused"),
            );
            o.revision.from = deployment_revision(&d);
            o.revision.to = o.revision.from;
            return Ok(o);
        }
        Kind::Resume => (
            "resume",
            json!({
                "metadata": {"annotations": {rollback::PAUSED_BY_INTERRUPT: null}},
                "spec": {"paused": null},
            }),
        ),
        Kind::Restart if paused => {
            let reason = format!(
                "deployment \"{name}\" is paused: a restart would not roll until it is resumed"
            );
            let mut o = Outcome::new(target, "restart", Ended::Refused, reason);
            o.next = Some(format!("rollout resume {name}"));
            return Ok(o);
        }
        Kind::Restart => {
            let now = jiff::Timestamp::now()
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            (
                "restart",
                json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": now}}}}}),
            )
        }
    };
    let updated: Deployment = cluster
        .patch(
            name,
            &Patch::Strategic(patch),
            false,
            &format!("{action} of deployment \"{name}\""),
        )
        .await?;
    printer.info(&format!(
        "deployment.apps/{name} {}",
        if kind == Kind::Resume {
            "resumed"
        } else {
            "restarted"
        }
    ));
    let s = Started {
        started,
        ..Started::new(action, d, updated)
    };
    follow_change(cluster, printer, &args.follow, s).await
}
