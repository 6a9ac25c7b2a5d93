//! `rollout pause`: stop the Deployment controller from rolling out template changes.
//!
//! As kubectl: GET the Deployment, then a strategic merge patch `{"spec":{"paused":true}}`
//! (field manager `rollout`), printing `deployment.apps/web paused`. Unlike kubectl an
//! already paused Deployment is not an error: `deployment "web" is already paused`, exit 0,
//! and nothing is written. `-l SELECTOR` pauses every matching Deployment, one line each.
//! With `-o json|yaml` the result is the outcome object (a list of them with `-l`).

use std::time::Instant;

use rollout_semantics::revision::revision_of_meta;

use super::targets;
use crate::cli::{ClusterArgs, TargetArgs};
use crate::cluster::{self, Cluster};
use crate::engine::rollback;
use crate::error::CliError;
use crate::exit::Exit;
use crate::outcome::{Ended, Outcome, Revisions};
use crate::output::Printer;

/// Runs `rollout pause`.
pub async fn run(
    cluster_args: &ClusterArgs,
    printer: &Printer,
    args: TargetArgs,
) -> Result<Exit, CliError> {
    let cluster = cluster::connect(cluster_args).await?;
    let names = targets::resolve(&cluster, &args).await?;
    let outcomes = futures::future::join_all(names.iter().map(|n| pause(&cluster, n))).await;
    targets::report(printer, outcomes)
}

/// Pauses `name` unless it already is.
async fn pause(cluster: &Cluster, name: &str) -> Result<Outcome, CliError> {
    let started = Instant::now();
    let target = format!("{}/{name}", cluster.namespace);
    let d = cluster.deployment(name).await?;
    let revision = revision_of_meta(&d.metadata).ok().filter(|r| *r > 0);
    let mut o = if d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false) {
        Outcome::new(
            target,
            "pause",
            Ended::Unchanged,
            format!("deployment \"{name}\" is already paused"),
        )
    } else {
        rollback::pause(cluster, name, false).await?;
        Outcome::new(
            target,
            "pause",
            Ended::Accepted,
            format!("deployment.apps/{name} paused"),
        )
    };
    o.revision = Revisions {
        from: revision,
        to: revision,
    };
    o.duration_seconds = started.elapsed().as_secs_f64();
    Ok(o)
}
