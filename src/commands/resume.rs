//! `rollout resume` and `rollout restart`: idempotent like kubectl's (already resumed says
//! so and exits 0), then followed like an update. Restart stamps
//! `kubectl.kubernetes.io/restartedAt` into the pod template, as kubectl does.

use std::time::Instant;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::Patch;
use serde_json::json;

use super::drive::{self, Started};
use super::targets;
use crate::cli::{ClusterArgs, ResumeArgs};
use crate::engine::assess::LeftOver;
use crate::engine::follow::get_deployment;
use crate::engine::rollback;
use crate::engine::snapshot::deployment_revision;
use crate::error::CliError;
use crate::exit::Exit;
use crate::outcome::{Outcome, Result as R};
use crate::output::Printer;
use crate::settings::{self, Cluster};

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
    let cluster = settings::connect(cluster_args).await?;
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
    let d = get_deployment(cluster, name).await?;
    let paused = d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
    let (action, patch) = match kind {
        Kind::Resume if !paused => {
            let mut o = Outcome::new(
                target,
                "resume",
                R::Unchanged,
                format!("deployment \"{name}\" is not paused"),
            );
            o.revision.from = deployment_revision(&d);
            o.revision.to = o.revision.from;
            return Ok(o);
        }
        Kind::Resume => ("resume", json!({"spec": {"paused": null}})),
        Kind::Restart if paused => {
            let reason = format!(
                "deployment \"{name}\" is paused: a restart would not roll until it is resumed"
            );
            let mut o = Outcome::new(target, "restart", R::Refused, reason);
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
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let patch = Patch::Strategic(patch);
    let params = rollback::params(false);
    let updated = crate::retry::transient_errors(|| api.patch(name, &params, &patch))
        .await
        .map_err(|e| {
            cluster.explain(CliError::api(
                format!("{action} of deployment \"{name}\""),
                e,
            ))
        })?;
    printer.info(&format!(
        "deployment.apps/{name} {}",
        if kind == Kind::Resume {
            "resumed"
        } else {
            "restarted"
        }
    ));
    let s = Started {
        action,
        name: name.to_string(),
        from_revision: deployment_revision(&d),
        left_over: LeftOver::of(&d, k8s_openapi::jiff::Timestamp::now()),
        generation: updated.metadata.generation.unwrap_or(0),
        started,
    };
    drive::finish(cluster, printer, &args.follow, s).await
}
